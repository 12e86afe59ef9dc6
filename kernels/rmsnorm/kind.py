"""The `rmsnorm` kind: HF `LlamaRMSNorm`, statistics in float32, the normalized value cast back before the weight.

Everything the stages know about it is here: the reference, the input roles, the FLOP count, the ATen ops a candidate
may not call; where it occurs in a profile (the records under an RMSNorm module, a group of several ATen ops) and what
it takes over at run time (`F.rms_norm`, and the RMSNorm modules whose forward computes it); `triton.py` and `cuda.py`
beside it are its baselines.

In a profile: HF's RMSNorm is `to, pow, mean, add, rsqrt, mul, to, mul` under the module's scope. The hidden states are
the group's largest input, the weight the 1-D input of size `N` of a `mul`, and `eps` the float added to the variance
(or an `eps` argument). PyTorch's profiler does not record the value of a Python float added to a tensor, so a profile
may also carry the modules' hyper-parameters: `profile['scope_args']` maps a module class to the values all its
instances share (`{"LlamaRMSNorm": {"variance_epsilon": 1e-05}}`). HF's `LlamaRMSNorm` has no fixed eps (configs use
1e-5 or 1e-6), so an eps the profile did not record makes the group not extractable.
"""
import re

import torch
import torch.nn.functional as F

from autokernel.ops import _f32, row_kind


def rmsnorm(x, weight, *, eps=1e-6):
    "HF `LlamaRMSNorm`: statistics in float32, normalized value cast back before the weight."
    h = _f32(x)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def is_rmsnorm_cls(c): return 'rmsnorm' in c.lower()


def find_eps(recs):
    "`eps` of a norm group: an `eps` argument or module hyper-parameter, else the scalar of the `add` to the [..., 1] variance."
    from autokernel import extract as X
    for r in recs:
        if isinstance(r.get('args'), dict) and isinstance(r['args'].get('eps'), (int, float)): return float(r['args']['eps'])
        if X.module_arg(r, 'eps', 'variance_epsilon') is not None: return float(X.module_arg(r, 'eps', 'variance_epsilon'))
    for r in recs:
        v = X.inp(r, 0)
        if X.short(r['op']) in ('add', 'add_') and v is not None and v['shape'][-1:] == [1]:
            vals = [a for k, a in (r.get('args') or {}).items() if k != 'alpha' and isinstance(a, (int, float)) and not isinstance(a, bool)]
            if vals: return float(vals[0])
    raise X.NotExtractable("the profile did not record the RMSNorm's eps")


def _fused(recs):
    "`(record, x, weight)` of an `aten::rms_norm` / `_fused_rms_norm` call with a weight (on a GPU it has no child ops), or None."
    from autokernel import extract as X
    for r in recs:
        ts = [m for m in (r.get('inputs') or []) if X.is_tensor(m)]
        if X.short(r['op']) in ('rms_norm', '_fused_rms_norm') and len(ts) >= 2 and ts[1]['shape'] == ts[0]['shape'][-1:]:
            return r, ts[0], ts[1]
    return None


def map_rmsnorm(recs):
    "The records under one RMSNorm module as an `rmsnorm` case: from its `rms_norm` call, else from the ops it is made of."
    from autokernel import extract as X
    if (f := _fused(recs)) is not None:
        r, x, w = f
        return 'rmsnorm', X.case([X.tmeta(x, 'x'), X.tmeta(w, 'weight')], eps=find_eps([r] + [q for q in recs if q is not r]))
    x = X.group_x(recs, ('to', '_to_copy', 'pow'))
    n = x['shape'][-1]
    ws = [m for r in recs if X.short(r['op']) == 'mul' for m in (r.get('inputs') or []) if X.is_tensor(m) and m['shape'] == [n]]
    if not ws: raise X.NotExtractable("an RMSNorm without a weight")
    return 'rmsnorm', X.case([x, X.tmeta(ws[0], 'weight')], eps=find_eps(recs))


def extract_group(recs, cls, wall):
    from autokernel import extract as X
    return X.one_item(recs, map_rmsnorm, recs, wall=wall, group=cls)


def _m_rms_norm(args, kwargs):
    from autokernel.runtime import _arg
    x, shape, w, eps = args[0], _arg(args, kwargs, 1, 'normalized_shape'), _arg(args, kwargs, 2, 'weight'), _arg(args, kwargs, 3, 'eps')
    if w is None or eps is None or len(shape) != 1: return None
    return 'rmsnorm', (x, w), {'eps': float(eps)}, None


def plug(model, patcher):
    """`(name, module, 'rmsnorm', forward)` for every RMSNorm module (a `*RMSNorm*` class without children, a 1-D weight
    and an eps) whose forward computes the kind's formula (probed on random data before any swap)."""
    from autokernel import runtime as V
    out = []
    for name, m in model.named_modules():
        w, eps = getattr(m, 'weight', None), V._eps_of(m)
        if (re.search(r'rms_?norm', type(m).__name__, re.IGNORECASE) and isinstance(w, torch.Tensor) and w.ndim == 1
                and eps is not None and not any(True for _ in m.children())):
            if V._probe(m, lambda x, m=m, e=eps: rmsnorm(x, m.weight, eps=e), w.shape[0]):
                def fwd(x, m=m, e=eps, orig=m.forward):
                    y = patcher.run('rmsnorm', (x, m.weight), {'eps': e})
                    return orig(x) if y is V.MISS else y
                out.append((name, m, 'rmsnorm', fwd))
    return out


KIND = row_kind('rmsnorm', 'rmsnorm', rmsnorm, ('x', 'vec'), ('act', 'norm_weight'), {'eps': 1e-6}, 5,
                ('aten::rms_norm', 'aten::_fused_rms_norm', 'aten::mean', 'aten::norm', 'aten::linalg_vector_norm',
                 'aten::native_layer_norm', 'aten::layer_norm', 'aten::var_mean', 'aten::var', 'aten::std', 'aten::std_mean'),
                profile_classes=('rmsnorm',), scope=(is_rmsnorm_cls, 'rmsnorm'), extract_group=extract_group,
                matchers={F.rms_norm: _m_rms_norm} if hasattr(F, 'rms_norm') else {}, plug=plug)
