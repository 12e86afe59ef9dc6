"""The `gated_mlp` kind: the gate and up projections of a gated MLP with the activation-times-up epilogue.

HF LLaMA / Qwen2 / Mistral MLPs compute `down_proj(act_fn(gate_proj(x)) * up_proj(x))` (SwiGLU with act_fn = SiLU;
GeGLU with a GELU). Eager PyTorch writes both projections to memory, reads them back for the activation and again for
the product; torch.compile fuses the activation and the product but still writes both projections (cuBLAS GEMMs have
no such epilogue). The fused kernel computes the two projections tile by tile on the same `x` tiles and writes only
`act(x @ w_gate) * (x @ w_up)`, the input of `down_proj` (which stays a plain `matmul`).

This file is the whole kind: the reference, the input roles, FLOP and byte counts, test cases, tiny and realistic sizes,
where it occurs in a profile (`find`) and the HF modules it takes over (`plug`).
"""
import math
import re

import torch

from autokernel.ops import ACTIVATIONS, get_kind, make_case, make_kind, npot_hidden, rebuild_case, tensor_meta, transposed_meta

ACTS = ('silu', 'gelu_tanh', 'gelu')


def gated_mlp(x, w_gate, w_up, *, activation='silu'):
    "`act(x @ w_gate) * (x @ w_up)`: HF `act_fn(gate_proj(x)) * up_proj(x)` with `w = proj.weight.t()` (views `[K, N]`)."
    return ACTIVATIONS[activation](torch.matmul(x, w_gate)) * torch.matmul(x, w_up)


def _dims(case):
    x, w = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    return list(x[:-1]), x[-1], w[-1]


def outputs(case):
    lead, _, N = _dims(case)
    return [(lead + [N], case['inputs'][0]['dtype'])]


def flops(case):
    lead, K, N = _dims(case)
    return math.prod(lead) * N * (4 * K + 6)      # two GEMMs, the activation and the product


def test_cases(case):
    "The case, half and double the rows, odd rows with non-power-of-two K and N, tiny."
    lead, K, N = _dims(case)
    M = math.prod(lead)
    mk = lambda M, K, N: rebuild_case(case, [[M, K], [K, N], [K, N]])
    return [case, mk(max(M // 2, 1), K, N), mk(2 * M, K, N), mk((M + M // 8 + 1) | 1, npot_hidden(K), npot_hidden(N)), mk(17, 33, 29)]


def example(M=64, K=96, N=80, dtype='float32', activation='silu'):
    return make_case('gated_mlp', [(M, K), transposed_meta([K, N], dtype), transposed_meta([K, N], dtype)], dtype, activation=activation)


def tiny_cases():
    "Odd sizes, every activation, a 3-D x, Linear weights (transposed views) and gate/up as halves of one [K, 2N] buffer."
    fused = [tensor_meta([33, 29], stride=[1, 33]), tensor_meta([33, 29], stride=[1, 33])]
    return [example(17, 33, 29), example(5, 70, 9, activation='gelu_tanh'),
            make_case('gated_mlp', [(2, 7, 33), *fused], activation='gelu'),
            make_case('gated_mlp', [(6, 24), tensor_meta([24, 40], stride=[80, 1]), tensor_meta([24, 40], stride=[80, 1])])]


def sizes():
    "The LLaMA preset's MLP (8 x 1024 tokens, 768 -> 2048) and a LLaMA-7B-like one (4 x 512 tokens, 4096 -> 11008)."
    bf = 'bfloat16'
    return [make_case('gated_mlp', [(8192, 768), transposed_meta([768, 2048], bf), transposed_meta([768, 2048], bf)], bf),
            make_case('gated_mlp', [(2048, 4096), transposed_meta([4096, 11008], bf), transposed_meta([4096, 11008], bf)], bf)]


_MLP = re.compile(r'MLP|FeedForward|FFN|Mlp')
_MM = ('mm', 'matmul', 'addmm', 'linear')


def _activation(recs):
    "'silu', 'gelu_tanh' or 'gelu' from the activation's records, or None."
    from autokernel import extract as X
    ops = {X.short(r['op']) for r in recs}
    if ops & {'silu', 'silu_'}: return 'silu'
    for r in recs:
        if X.short(r['op']) in ('gelu', 'gelu_'):
            return 'gelu_tanh' if X.arg(r, 'approximate', default='none') == 'tanh' else 'gelu'
    approx = get_kind('gelu').module.scope_gelu(recs[0].get('scope')) if recs else None
    return {'tanh': 'gelu_tanh', 'none': 'gelu'}.get(approx)


def find(recs):
    """`[(case, records)]`: per MLP module (its class matches MLP/FeedForward/FFN), a product of two `[.., N]` tensors in
    the module, the activation run inside it and the projections to width N in its Linear children (gate and up: one
    record when they share shapes). The case is `None` when the projections have a bias (not this kind)."""
    from autokernel import extract as X
    out = []
    for mul in [r for r in recs if X.short(r['op']) == 'mul' and _MLP.search((r.get('scope') or [''])[-1])]:
        ts, S = X.tensors([mul]), X._sc(mul)
        if len(ts) != 2 or ts[0]['shape'] != ts[1]['shape']: continue
        N, M = ts[0]['shape'][-1], math.prod(ts[0]['shape'][:-1])
        inner = [r for r in recs if X._sc(r)[:len(S)] == S and len(X._sc(r)) == len(S) + 1]
        act = [r for r in inner if X.short(r['op']) not in _MM and r is not mul]
        act += [r for r in recs if X._sc(r) == S and X.short(r['op']) in ('silu', 'silu_', 'gelu', 'gelu_')]
        mms = [r for r in inner if X.short(r['op']) in _MM and X.inp(r, 0) is not None
               and X.tensors([r])[-1]['shape'][-1] == N and math.prod(X.inp(r, 0)['shape'][:-1]) == M]
        activation = _activation(act) if act else None
        if not mms or activation is None: continue
        calls = {r.get('calls') or 1 for r in [mul, *act]}
        if sum(r.get('calls') or 1 for r in mms) < 2 * min(calls): continue      # gate and up both seen
        c = None
        if not any(X.short(r['op']) in ('addmm', 'linear') and len(X.tensors([r])) == 3 for r in mms):
            try:
                mm = mms[0]
                a, b = (X.tmeta(m) for m in X.tensors([mm])[:2])
                if X.short(mm['op']) == 'linear': b = X.transposed(b)
                c = X.case([{**a, 'shape': [M, a['shape'][-1]], 'stride': a['stride'][-2:]} if len(a['shape']) > 2 else a, b, dict(b)],
                           activation=activation)
            except X.NotExtractable: c = None
        out.append((c, [*mms, *act, mul]))
    return out


def _act_of(act):
    "The kind's activation that the module `act` computes (probed): 'silu' (SwiGLU), 'gelu_tanh' or 'gelu' (GeGLU), else None."
    if not isinstance(act, torch.nn.Module): return None
    if get_kind('silu_mul').module.is_silu(act): return 'silu'
    return {'tanh': 'gelu_tanh', 'none': 'gelu'}.get(get_kind('gelu').module.act_approx(act))


def plug(model, patcher):
    """`(name, module, 'gated_mlp', forward)` for every HF gated MLP (`gate_proj`, `up_proj`, `down_proj` Linears without bias,
    an `act_fn` that computes SiLU or a GELU: LLaMA, Qwen2, Mistral, Gemma): `down_proj(kernel(x))`, or the module's own
    forward when the kernel was not verified on the call."""
    from autokernel import runtime as V
    out = []
    for name, m in model.named_modules():
        if not all(isinstance(getattr(m, a, None), torch.nn.Linear) for a in ('gate_proj', 'up_proj', 'down_proj')): continue
        if m.gate_proj.bias is not None or m.up_proj.bias is not None or (act := _act_of(getattr(m, 'act_fn', None))) is None: continue
        def fwd(x, m=m, orig=m.forward, act=act):
            y = patcher.run('gated_mlp', (x.reshape(-1, x.shape[-1]), m.gate_proj.weight.t(), m.up_proj.weight.t()), {'activation': act})
            return orig(x) if y is V.MISS else m.down_proj(y.view(*x.shape[:-1], y.shape[-1]))
        out.append((name, m, 'gated_mlp', fwd))
    return out


KIND = make_kind('gated_mlp', 'matmul', gated_mlp, ('act', 'weight', 'weight'), {'activation': 'silu'}, flops, test_cases,
                 ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::matmul', 'aten::linear', 'aten::silu', 'aten::gelu',
                  'aten::sigmoid', 'aten::mul', 'aten::einsum', 'aten::_addmm_activation'),
                 outputs, example, tiny_cases=tiny_cases, sizes=sizes, find=find, plug=plug)
