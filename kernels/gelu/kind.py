"""The `gelu` kind: GELU, the tanh approximation (GPT-2's `NewGELUActivation`, step by step) or the exact erf form.

Everything the stages know about it is here: the reference, the input roles and the FLOP count; where it occurs in a
profile (an `aten::gelu` record, or the elementwise chain HF's GELU modules write out, found by the module's class) and
the GELU activation modules it takes over at run time; `triton.py` and `cuda.py` beside it are its baselines.

GELU's `approximate` comes from the record's arguments or, for the chains Hugging Face writes out elementwise, from the
activation module's class: `NewGELUActivation`, `GELUTanh` and `FastGELUActivation` compute the tanh approximation,
`GELUActivation` the exact erf form. Other "GELUs" (`QuickGELUActivation` is `x*sigmoid(1.702x)`, `ClippedGELUActivation`
clamps) are different functions and stay not extractable. `torch.nn.GELU` is configurable, so its class proves nothing.
"""
import re

import torch.nn.functional as F

from autokernel.ops import gelu_tanh, row_kind


def gelu(x, *, approximate='tanh'):
    return gelu_tanh(x) if approximate == 'tanh' else F.gelu(x)


GELU_SCOPES = {'NewGELUActivation': 'tanh', 'GELUTanh': 'tanh', 'PytorchGELUTanh': 'tanh', 'FastGELUActivation': 'tanh',
               'AccurateGELUActivation': 'tanh', 'GELUActivation': 'none', 'GeLU': 'none'}
OTHER_GELUS = ('QuickGELUActivation', 'ClippedGELUActivation')


def scope_gelu(scope) -> str | None:
    "The `approximate` a GELU module class in `scope` proves, if any."
    for cls in reversed(scope or []):
        if cls in GELU_SCOPES: return GELU_SCOPES[cls]
    return None


def is_gelu_cls(c): return c in GELU_SCOPES or c in OTHER_GELUS


def pattern(op, scope):
    "`gelu` for a profiled `aten::gelu`, or any op inside a GELU activation module (the chain HF writes out)."
    return 'gelu' if op.startswith('aten::gelu') or re.search(r'GELU|Gelu', scope[-1] if scope else '') else None


def map_gelu(rec):
    "A profiled `aten::gelu` as a `gelu` case; `approximate` from its arguments, its module's hyper-parameters or class."
    from autokernel import extract as X
    x = X.tmeta(X.inp(rec, 0), 'x')
    approx = X.arg(rec, 'approximate', default=None) or X.module_arg(rec, 'approximate') or scope_gelu(rec.get('scope'))
    if approx not in ('none', 'tanh'): raise X.NotExtractable("the profile did not record gelu's 'approximate'")
    return 'gelu', X.case([x], approximate=approx)


def map_gelu_chain(recs):
    "The records under one GELU module: its `aten::gelu` if there is one, else the chain, the `approximate` its class proves."
    from autokernel import extract as X
    cls = next(c for c in reversed(recs[0].get('scope') or []) if is_gelu_cls(c))
    if cls in OTHER_GELUS: raise X.NotExtractable(f"{cls} is not the GELU the library computes")
    gelu = [r for r in recs if X.short(r['op']) == 'gelu']
    if gelu: return map_gelu(max(gelu, key=lambda r: r['time_ms']))
    return 'gelu', X.case([X.group_x(recs, ('pow', 'mul'))], approximate=GELU_SCOPES[cls])


def extract_group(recs, cls, wall):
    from autokernel import extract as X
    return X.one_item(recs, map_gelu_chain, recs, wall=wall, group=cls)


def act_approx(act, n=16):
    "'tanh' or 'none' if `act` is a GELU module (a `*gelu*` class without children whose forward computes that form), else None."
    from autokernel import runtime as V
    if not re.search(r'gelu', type(act).__name__, re.IGNORECASE) or any(True for _ in act.children()): return None
    for ap in ('tanh', 'none'):
        if V._probe(act, lambda x, ap=ap: gelu(x, approximate=ap), n): return ap
    return None


def _m_gelu(args, kwargs):
    from autokernel.runtime import _arg
    return 'gelu', (args[0],), {'approximate': _arg(args, kwargs, 1, 'approximate', 'none')}, None


def plug(model, patcher):
    "`(name, module, 'gelu', forward)` for every GELU activation module (a `*GELU*` class that computes one of the two forms)."
    from autokernel import runtime as V
    out = []
    for name, m in model.named_modules():
        if (ap := act_approx(m)) is not None:
            def fwd(x, ap=ap, orig=m.forward):
                y = patcher.run('gelu', (x,), {'approximate': ap})
                return orig(x) if y is V.MISS else y
            out.append((name, m, 'gelu', fwd))
    return out


KIND = row_kind('gelu', 'elementwise', gelu, ('x',), ('act',), {'approximate': 'tanh'}, 10, ('aten::gelu', 'aten::tanh', 'aten::erf'),
                pattern=pattern, extract_ops={'gelu': map_gelu}, scope=(is_gelu_cls, None), extract_group=extract_group,
                matchers={F.gelu: _m_gelu}, plug=plug)
