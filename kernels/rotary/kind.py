"""The `rotary` kind: HF `apply_rotary_pos_emb` for one tensor, `x * cos + rotate_half(x) * sin`.

`x[B, H, S, D]` with tables `cos, sin[Bc, S, D]` (`Bc` is `B` or 1) broadcast over the heads. Everything the stages know
about it is here: the reference, the input roles (`cos` / `sin` tables as HF's rotary embedding computes them), the
FLOP count, the test sizes (they scale like attention's; the head dim stays even), where it occurs in a profile and the
function it takes over at run time; `triton.py` and `cuda.py` beside it are its baselines.

In a profile: the records under a rotary scope (or classed `rotary` by the profiler). Each distinct `x[B,H,S,D]`
multiplied by a `cos[b,1,S,D]` table is one case (q and k differ under grouped-query attention); records whose input
has `x`'s leading dims belong to it. Records that compute the cos/sin tables (no such `x`) are not the rotation and
stay not extractable.

At run time: rotary embeddings are a module-level *function* in HF models (`apply_rotary_pos_emb(q, k, cos, sin,
unsqueeze_dim=1)` in each model's `modeling_*.py`), called by the attention's forward through the module's globals. The
patch swaps that global for its duration, after a probe: the model's own function must compute this reference.
"""
import sys

import torch

from autokernel.ops import _odd, contiguous_stride, make_kind, npot_hidden, per_elem, rebuild_case, same_as_x, tensor_meta


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotary(x, cos, sin):
    "HF `apply_rotary_pos_emb` for one tensor: tables `[B, S, D]` broadcast over heads."
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin


def test_cases(case):
    "The case, half and double the batch (or half the sequence), an odd sequence with a non-power-of-two head dim, tiny."
    (B, H, S, D), Bc = case['inputs'][0]['shape'], case['inputs'][1]['shape'][0]
    def mk(B, S, D=D, H=H): return rebuild_case(case, [[B, H, S, D], [B if Bc == B else 1, S, D], [B if Bc == B else 1, S, D]])
    half = mk(B // 2, S, D) if B >= 2 else mk(B, max(S // 2, 1), D)
    return [case, half, mk(B * 2, S, D), mk(B, _odd(S), npot_hidden(D)), mk(1, 7, 24, H=2)]


def example(B=2, H=4, S=32, D=32, dtype='float32'):
    return {'inputs': [tensor_meta([B, H, S, D], dtype), tensor_meta([B, S, D], dtype), tensor_meta([B, S, D], dtype)], 'args': {}}


def is_rotary_cls(c): return 'rotary' in c.lower()


def rotary_cases(recs) -> list[tuple[dict, list]]:
    "`[(case, records)]` for the rotations in a rotary group."
    from autokernel import extract as X
    xs = {}
    for r in recs:
        a, b = X.inp(r, 0), X.inp(r, 1)
        if X.short(r['op']) == 'mul' and a and b and len(a['shape']) == 4 and len(b['shape']) == 4 and b['shape'][1] == 1 \
           and b['shape'][2:] == a['shape'][2:] and b['shape'][0] in (1, a['shape'][0]):
            # x * cos and rotate_half(x) * sin look alike; rotate_half's output is a fresh contiguous tensor, so a strided
            # x (the usual transposed view of q or k) is the input
            prev = xs.get(tuple(a['shape']))
            if prev is None or (prev[0].get('stride') == contiguous_stride(a['shape']) and a.get('stride') != prev[0].get('stride')):
                xs[tuple(a['shape'])] = (a, b)
    out = []
    for shape, (x, c) in xs.items():
        t = X.tmeta(c, 'cos')
        cs = {'shape': [t['shape'][0], *t['shape'][2:]], 'stride': [t['stride'][0], *t['stride'][2:]], 'dtype': t['dtype']}
        mine = [r for r in recs if X.inp(r, 0) and X.inp(r, 0)['shape'][:3] == list(shape[:3])]
        out.append((X.case([X.tmeta(x, 'x'), cs, dict(cs)]), mine))
    return out


def extract_group(recs, cls, wall):
    "Items of the rotations in one rotary group; the table ops (`cat`, `unsqueeze` of cos/sin) are shared by time."
    from autokernel import extract as X
    rots = rotary_cases(recs)
    if not rots: return [], X._skip(recs, "rotary ops that rotate no [B,H,S,D] tensor (the cos/sin tables)", wall, (X._sc(recs[0]) or (None,))[-1])
    claimed = {id(r) for _, mine in rots for r in mine}
    extra = sum(r['time_ms'] for r in recs if id(r) not in claimed)      # cat, unsqueeze of the tables: shared by time
    total = sum(r['time_ms'] for _, mine in rots for r in mine)
    items = []
    skipped = []
    for c, mine in rots:
        share = sum(r['time_ms'] for r in mine)
        t = share + extra * (share / total if total else 1 / len(rots))
        try: items.append(X._item('rotary', c, mine, time_ms=t, wall=wall))
        except X.NotExtractable as e: skipped += [{**row, 'time_ms': t, 'fraction': X._fraction(t, wall, mine)} for row in X._skip(mine, str(e), wall, 'rotary')]
    return items, skipped


def patch_functions(model, patcher) -> list[tuple]:
    "`(python module, 'apply_rotary_pos_emb', new function)` for each HF modeling module of `model` whose rotation is this one."
    from autokernel import runtime as V
    out, seen = [], set()
    for m in model.modules():
        mod = sys.modules.get(type(m).__module__)
        orig = getattr(mod, 'apply_rotary_pos_emb', None)
        if mod is None or id(mod) in seen or not callable(orig): continue
        seen.add(id(mod))
        try:
            g = torch.Generator().manual_seed(0)
            q, k, cos, sin = (torch.randn(s, generator=g) for s in ([2, 4, 5, 8], [2, 2, 5, 8], [2, 5, 8], [2, 5, 8]))
            qo, ko = orig(q, k, cos, sin)
            if not (torch.allclose(qo, rotary(q, cos, sin), atol=1e-5) and torch.allclose(ko, rotary(k, cos, sin), atol=1e-5)): continue
        except Exception: continue
        def rope(q, k, cos, sin, *rest, unsqueeze_dim=1, orig=orig, **kw):
            if rest or kw or unsqueeze_dim != 1 or cos.shape[-1] != q.shape[-1]: return orig(q, k, cos, sin, *rest, unsqueeze_dim=unsqueeze_dim, **kw)
            qe, ke = patcher.run('rotary', (q, cos, sin), {}), patcher.run('rotary', (k, cos, sin), {})
            if qe is V.MISS or ke is V.MISS:
                qo, ko = orig(q, k, cos, sin)
                qe, ke = qo if qe is V.MISS else qe, ko if ke is V.MISS else ke
            return qe, ke
        out.append((mod, 'apply_rotary_pos_emb', rope))
    return out


KIND = make_kind('rotary', 'rotary', rotary, ('act', 'cos', 'sin'), {}, per_elem(3), test_cases,
                 ('aten::mul', 'aten::add', 'aten::cat', 'aten::neg'), same_as_x(), example,
                 profile_classes=('rotary',), scope=(is_rotary_cls, 'rotary'), extract_group=extract_group, patch_functions=patch_functions)
