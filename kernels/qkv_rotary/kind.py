"""The `qkv_rotary` kind: an attention block's q, k, v projections with the rotary embedding applied on the way out.

HF LLaMA / Qwen2 / Mistral attention runs `q_proj`, `k_proj`, `v_proj` (Qwen2 with biases), views each as
`[B, S, heads, D]` transposed to `[B, heads, S, D]`, then `apply_rotary_pos_emb(q, k, cos, sin)`: q and k are written by
the GEMMs, read back, rotated (`q * cos + rotate_half(q) * sin`: a neg, a cat, two muls and an add, each a kernel in
eager) and written again. The fused kernel rotates each head's tile of the GEMM output in registers: the first and
second halves of a head are the two accumulators of one program, so `rotate_half` costs nothing, and q, k, v come out in
`[B, heads, S, D]`, ready for attention.

This file is the whole kind: reference, inputs, FLOPs, test cases, sizes and where it occurs in a profile (`find`). It has
no `plug` yet: see `NO_PLUG`.
"""
import math

import torch

from autokernel.ops import get_kind, make_kind, rebuild_case, tensor_meta, transposed_meta


def qkv_rotary(x, w_q, w_k, w_v, b_q, b_k, b_v, cos, sin):
    """`(rotary(q), rotary(k), v)` of `x[B, S, K]`: each projection `x @ w (+ b)` viewed as `[B, heads, S, D]` (D = the
    tables' last dim, `w = proj.weight.t()`), then HF's `apply_rotary_pos_emb` with `cos, sin[B, S, D]`."""
    B, S, D = x.shape[0], x.shape[1], cos.shape[-1]
    def proj(w, b):
        y = torch.matmul(x, w)
        return (y if b is None else y + b).view(B, S, -1, D).transpose(1, 2)
    rotary = get_kind('rotary').reference
    return rotary(proj(w_q, b_q), cos, sin), rotary(proj(w_k, b_k), cos, sin), proj(w_v, b_v)


def _dims(case):
    (B, S, K), D = case['inputs'][0]['shape'], case['inputs'][7]['shape'][-1]
    return B, S, K, D, case['inputs'][1]['shape'][-1] // D, case['inputs'][2]['shape'][-1] // D


def outputs(case):
    B, S, K, D, H, Hkv = _dims(case)
    dt = case['inputs'][0]['dtype']
    return [([B, H, S, D], dt), ([B, Hkv, S, D], dt), ([B, Hkv, S, D], dt)]


def flops(case):
    B, S, K, D, H, Hkv = _dims(case)
    return B * S * D * ((H + 2 * Hkv) * 2 * K + (H + Hkv) * 3)


def _shapes(B, S, K, D, H, Hkv, bias, Bc):
    w = lambda n: [K, n * D]
    return [[B, S, K], w(H), w(Hkv), w(Hkv), *([[H * D], [Hkv * D], [Hkv * D]] if bias else [None] * 3), [Bc, S, D], [Bc, S, D]]


def test_cases(case):
    "The case, half and double the batch, an odd sequence with a non-power-of-two hidden size, tiny (heads and D kept)."
    B, S, K, D, H, Hkv = _dims(case)
    bias, Bc = case['inputs'][4] is not None, case['inputs'][7]['shape'][0]
    mk = lambda B, S, K: rebuild_case(case, _shapes(B, S, K, D, H, Hkv, bias, B if Bc > 1 else 1))
    return [case, mk(max(B // 2, 1), S if B > 1 else max(S // 2, 1), K), mk(2 * B, S, K), mk(B, (S + S // 8 + 1) | 1, K + K // 4 + 8), mk(1, 7, 40)]


def example(B=2, S=16, K=64, H=4, Hkv=2, D=16, dtype='float32', bias=False, Bc=1):
    metas = [tensor_meta([B, S, K], dtype), transposed_meta([K, H * D], dtype), transposed_meta([K, Hkv * D], dtype),
             transposed_meta([K, Hkv * D], dtype)]
    metas += [tensor_meta([n * D], dtype) for n in (H, Hkv, Hkv)] if bias else [None] * 3
    return {'inputs': metas + [tensor_meta([Bc, S, D], dtype)] * 2, 'args': {}}


def tiny_cases():
    "GQA without biases (LLaMA), with biases and tables per batch (Qwen2), MHA with a head size whose half is no power of two."
    return [example(1, 7, 40, 4, 2, 16), example(2, 5, 33, 2, 1, 16, bias=True, Bc=2), example(1, 6, 24, 2, 2, 24)]


def sizes():
    "The LLaMA preset's attention (8 x 1024 tokens, 12 heads, 4 KV heads, D 64) and a Qwen2-7B-like one (28/4 heads, D 128, biases)."
    return [example(8, 1024, 768, 12, 4, 64, 'bfloat16'), example(2, 1024, 3584, 28, 4, 128, 'bfloat16', bias=True)]


NO_PLUG = ("no plug yet: the attention's forward calls q_proj, k_proj and v_proj, views each as [B, S, heads, D] and only then "
           "rotates q and k with the `position_embeddings` it was given; the kernel's rotated [B, heads, S, D] outputs cannot stand "
           "in for the projections' [B, S, heads * D] outputs (extracted without --fuse, the projections plug in as matmul "
           "and the rotation as rotary)")

_MM = ('mm', 'addmm', 'matmul', 'linear')


def _claim(r, want):
    "`r`, or the share of it that `want` calls take (a record shared with another projection of the same shapes, o_proj)."
    have = r.get('calls') or 1
    if want >= have: return r
    return {**r, 'calls': want, 'time_ms': r['time_ms'] * want / have, 'part_of': r}


def find(recs):
    """`[(case, records)]`: per attention module holding an `apply_rotary_pos_emb` (or a rotary module), the rotations of
    q and k with the projections in the module's Linear children whose widths are the q and k/v head counts times D. A
    record shared with another projection of the same shapes (q_proj and o_proj at hidden size) is claimed in part."""
    from autokernel import extract as X
    groups, out = {}, []
    for r in recs:
        k = X.scope_key(r, get_kind('rotary').module.is_rotary_cls)
        if k is not None and len(k) >= 2 and 'attention' in k[-2].lower(): groups.setdefault(k, []).append(r)
    for key, grp in groups.items():
        rots = get_kind('rotary').module.rotary_cases(grp)
        if not rots: continue
        xs = sorted((c['inputs'][0] for c, _ in rots), key=lambda m: -m['shape'][1])
        (B, H, S, D), Hkv = xs[0]['shape'], xs[-1]['shape'][1]
        L = min(r.get('calls') or 1 for r in grp)
        lin = [r for r in recs if X._sc(r)[:len(key) - 1] == key[:-1] and len(X._sc(r)) == len(key) and X.short(r['op']) in _MM
               and X.inp(r, 0) is not None and math.prod(X.inp(r, 0)['shape'][:-1]) == B * S]
        by_w = {}
        for r in lin: by_w.setdefault(X.tensors([r])[-1]['shape'][-1], []).append(r)
        need = {H * D: L, Hkv * D: 2 * L} if H != Hkv else {H * D: 3 * L}
        if any(len(by_w.get(w, [])) != 1 or (by_w[w][0].get('calls') or 1) < n for w, n in need.items()): continue
        claimed = [_claim(by_w[w][0], n) for w, n in need.items()]
        c = None
        try:
            q, kv = by_w[H * D][0], by_w[Hkv * D][0]
            meta = lambda r: [X.tmeta(m) for m in X.tensors([r])]
            qm, kvm = meta(q), meta(kv)
            a = qm[-2]
            if X.short(q['op']) == 'linear': raise X.NotExtractable('a linear record (its inner mm is the kernel op)')
            x = {**a, 'shape': [B, S, a['shape'][-1]], 'stride': [S * a['stride'][-2], *a['stride'][-2:]]}
            biases = [qm[0], kvm[0], dict(kvm[0])] if len(qm) == 3 and len(kvm) == 3 else [None] * 3
            if (len(qm) == 3) != (len(kvm) == 3): raise X.NotExtractable('biases on some projections only')
            cs = rots[0][0]['inputs'][1]
            c = X.case([x, qm[-1], kvm[-1], dict(kvm[-1]), *biases, cs, dict(cs)])
        except X.NotExtractable: c = None
        out.append((c, [*claimed, *grp]))
    return out


KIND = make_kind('qkv_rotary', 'rotary', qkv_rotary, ('act', 'weight', 'weight', 'weight', 'bias', 'bias', 'bias', 'cos', 'sin'), {},
                 flops, test_cases, ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::matmul', 'aten::linear', 'aten::einsum',
                 'aten::mul', 'aten::add', 'aten::cat', 'aten::neg'), outputs, example, tiny_cases=tiny_cases, sizes=sizes, find=find, no_plug=NO_PLUG)
