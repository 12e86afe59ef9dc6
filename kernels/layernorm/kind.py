"""The `layernorm` kind: `F.layer_norm` over the last dim, with weight and bias (GPT-2, BERT).

Everything the stages know about it is here: the reference, the input roles, the FLOP count, the ATen ops a candidate
may not call, the `native_layer_norm` records it maps from in a profile and the torch functions it takes over at run
time; `triton.py` and `cuda.py` beside it are its baselines.

A layer norm's `eps` must be recorded (the profiler records it as an argument of `native_layer_norm`): the module class
cannot stand in for it, since `nn.LayerNorm` is configured per model (GPT-2 uses 1e-5, BERT 1e-12), so a record without
it is not extractable.
"""
import torch
import torch.nn.functional as F

from autokernel.ops import row_kind

NORM_ATEN = ('aten::native_layer_norm', 'aten::layer_norm', 'aten::var_mean', 'aten::var', 'aten::std', 'aten::std_mean')


def layernorm(x, weight, bias, *, eps=1e-5): return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)


def map_layernorm(rec):
    from autokernel import extract as X
    x, w, b = X.tmeta(X.inp(rec, 0), 'x'), X.inp(rec, 1), X.inp(rec, 2)   # the profile lists tensor arguments only
    if w is None or b is None: raise X.NotExtractable("a layer norm without weight or bias")
    w, b = X.tmeta(w, 'weight'), X.tmeta(b, 'bias')
    if w['shape'] != x['shape'][-1:] or b['shape'] != x['shape'][-1:]:
        raise X.NotExtractable(f"a layer norm over more than the last dim (weight {w['shape']})")
    eps = X.arg(rec, 'eps', default=None)
    if eps is None: eps = X.module_arg(rec, 'eps')
    if eps is None: raise X.NotExtractable(f"the profile did not record 'eps' of {rec['op']}")
    return 'layernorm', X.case([x, w, b], eps=float(eps))


def _m_layer_norm(args, kwargs):
    from autokernel.runtime import _arg
    x, shape = args[0], _arg(args, kwargs, 1, 'normalized_shape')
    w, b, eps = _arg(args, kwargs, 2, 'weight'), _arg(args, kwargs, 3, 'bias'), _arg(args, kwargs, 4, 'eps', 1e-5)
    if w is None or b is None or len(shape) != 1: return None
    return 'layernorm', (x, w, b), {'eps': float(eps)}, None


KIND = row_kind('layernorm', 'layernorm', layernorm, ('x', 'vec', 'vec'), ('act', 'norm_weight', 'bias'), {'eps': 1e-5}, 8, NORM_ATEN,
                profile_classes=('layernorm',), wrapper_ops=('layer_norm',), extract_ops={'native_layer_norm': map_layernorm, 'layer_norm': map_layernorm},
                matchers={F.layer_norm: _m_layer_norm, torch.layer_norm: _m_layer_norm})
