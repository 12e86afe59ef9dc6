"""The `silu_mul` kind: SwiGLU's product `silu(gate) * up`, the input of a gated MLP's `down_proj`.

Everything the stages know about it is here: the reference, the input roles and the FLOP count; where it occurs in a
profile (a `silu` paired with the `mul` that consumes it) and the HF gated MLPs whose product it computes at run time;
`triton.py` and `cuda.py` beside it are its baselines.

In a profile: a `silu` whose input shape matches a `mul` of two tensors of that shape in the same module or a parent
module (HF's `LlamaMLP`: `down_proj(act_fn(gate_proj(x)) * up_proj(x))`). The `mul`'s time is counted per `silu` call.
"""
import re

import torch.nn.functional as F

from autokernel.ops import row_kind


def silu_mul(gate, up): return F.silu(gate) * up


_MLP = r'MLP|FeedForward|FFN|Mlp'


def pattern(op, scope):
    "`silu_mul` for a SiLU in an MLP; `silu_mul?` for a product in an MLP, until `settle` knows whether a SiLU runs there."
    if re.match(r'aten::silu', op) and any(re.search(_MLP, s) for s in scope): return 'silu_mul'
    if re.match(r'aten::mul_?$', op) and re.search(_MLP, scope[-1] if scope else ''): return 'silu_mul?'
    return None


def settle(ops):
    "A product in a gated MLP is `silu_mul` only if a SiLU runs in the same MLP."
    silu_scopes = {tuple(o['scope'][:-1]) for o in ops if o['pattern'] == 'silu_mul'}
    for o in ops:
        if o['pattern'] == 'silu_mul?': o['pattern'] = 'silu_mul' if tuple(o['scope']) in silu_scopes else None


def pair_silu_mul(silu, recs):
    "The `mul` record consuming `silu`'s output, from `recs`: same shapes, in `silu`'s module or a parent of it."
    from autokernel import extract as X
    sh, sc = (X.inp(silu, 0) or {}).get('shape'), list(silu.get('scope') or [])
    cands = [r for r in recs if X.short(r['op']) == 'mul' and len(X.tensors([r])) == 2 and all(m['shape'] == sh for m in X.tensors([r]))
             and list(r.get('scope') or []) == sc[:len(r.get('scope') or [])]]
    return max(cands, key=lambda r: len(r.get('scope') or []), default=None)


def map_silu_mul(silu, mul):
    from autokernel import extract as X
    # HF writes `act_fn(gate_proj(x)) * up_proj(x)`: the mul's second operand is `up`, with its strides as recorded
    return 'silu_mul', X.case([X.tmeta(X.inp(silu, 0), 'gate'), X.tmeta(X.tensors([mul])[1], 'up')])


def extract_pairs(rest, wall):
    "`(items, not extractable, ids used, leftover records)`: each `silu` with its `mul`; a `mul` with more calls keeps the rest."
    from autokernel import extract as X
    items, skipped, used, extra = [], [], set(), []
    for s in [r for r in rest if X.short(r['op']) in ('silu', 'silu_')]:
        mul = pair_silu_mul(s, [r for r in rest if id(r) not in used])
        if mul is None: continue
        used |= {id(s), id(mul)}
        scale = min((s.get('calls') or 1) / (mul.get('calls') or 1), 1)   # a mul record with more calls: only silu's share
        its, sk = X.one_item([s, mul], map_silu_mul, s, mul, wall=wall, calls=s.get('calls') or 1, time_ms=s['time_ms'] + mul['time_ms'] * scale)
        items += its; skipped += sk
        if scale < 1: extra.append({**mul, 'time_ms': mul['time_ms'] * (1 - scale), 'calls': (mul.get('calls') or 1) - (s.get('calls') or 1)})
    return items, skipped, used, extra


def is_silu(act, n=16) -> bool:
    "Is `act` a SiLU module (a `*silu*` / `*swish*` class whose forward computes `F.silu`)?"
    from autokernel import runtime as V
    return bool(re.search(r'silu|swish', type(act).__name__, re.IGNORECASE)) and V._probe(act, F.silu, n)


def plug(model, patcher):
    "`(name, mlp, 'silu_mul', forward)` for every HF gated MLP (`gate_proj`, `up_proj`, `down_proj`, a SiLU `act_fn`)."
    from autokernel import runtime as V
    out = []
    for name, m in model.named_modules():
        if all(hasattr(m, a) for a in ('gate_proj', 'up_proj', 'down_proj', 'act_fn')) and is_silu(m.act_fn):
            def fwd(x, m=m, orig=m.forward):
                g, u = m.gate_proj(x), m.up_proj(x)
                y = patcher.run('silu_mul', (g, u), {})
                return orig(x) if y is V.MISS else m.down_proj(y)
            out.append((name, m, 'silu_mul', fwd))
    return out


KIND = row_kind('silu_mul', 'elementwise', silu_mul, ('x', 'x'), ('act', 'act'), {}, 5, ('aten::silu', 'aten::sigmoid', 'aten::mul'),
                pattern=pattern, settle=settle, pair_ops=('silu', 'silu_'), extract_pairs=extract_pairs, plug=plug)
