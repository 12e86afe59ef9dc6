"""The `matmul` kind: `a[..., M, K] @ b[..., K, N] (+ bias[N])`, then an optional activation (a GEMM's epilogue).

Everything the stages know about it is here: the reference (one `addmm` where `nn.Linear` runs one), the input roles,
the FLOP count, the test sizes, the ATen ops a candidate may not call, the records it maps from in a profile and the
torch functions it takes over at run time; `triton.py` and `cuda.py` beside it are its baselines.

Test sizes: its rows are `M` (or the batch when there is one); its hidden sizes `K`, `N` become realistic
non-powers-of-two in the edge case, and everything odd in the tiny one (17x33x29). A transposed operand (the weight of
`nn.Linear`, `W.T` as a view) stays transposed in every derived case.

In a profile: `addmm(bias, x, w)` is `x @ w + bias`; `linear(x, W, b)` is `x @ W.T + b`, so its `b` operand is the
*transposed view* of the weight, strides swapped: the kernel sees the weight exactly as stored. `mm`, `bmm` and
`matmul` have no bias; `baddbmm(input, a, b)` is a batched matmul only when `beta == 0` (GPT-2's eager attention scores).
"""
import math

import torch
import torch.nn.functional as F

from autokernel.ops import ACTIVATIONS, _double, _half, _odd, _tiny_lead, make_kind, npot_hidden, rebuild_case, tensor_meta, transposed_meta


def matmul(a, b, bias=None, *, activation=None):
    """`a @ b (+ bias)`, then the activation. A bias on a 2-D weight goes through one `addmm`, as `nn.Linear` and HF's
    `Conv1D` run it (cuBLAS adds the bias in the GEMM's epilogue): a matmul and a separate add would be a slower baseline
    than the model's own op, and flatter any kernel measured against it."""
    if bias is not None and a.ndim >= 2 and b.ndim == 2 and bias.ndim == 1 and a.dtype == b.dtype == bias.dtype:
        out = torch.addmm(bias, a.reshape(-1, a.shape[-1]), b).view(*a.shape[:-1], b.shape[-1])
    else:
        out = torch.matmul(a, b)
        if bias is not None: out = out + bias
    return ACTIVATIONS[activation](out)


def _mm_dims(case):
    a, b = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    return list(a[:-2]), a[-2], a[-1], b[-1], list(b[:-2])


def _mm_blead(blead, lead):
    if not blead: return []
    if len(blead) != len(lead): return list(blead)
    return [1 if ob == 1 else n for ob, n in zip(blead, lead)]


def test_cases(case):
    lead, M, K, N, blead = _mm_dims(case)
    mk = lambda lead, M, K, N: rebuild_case(case, [lead + [M, K], _mm_blead(blead, lead) + [K, N], [N]])
    batch = [s for s in lead if s > 1]
    half = mk(_half(lead), M, K, N) if batch else mk(lead, max(M // 2, 1), K, N)
    double = mk(_double(lead), M, K, N) if batch else mk(lead, M * 2, K, N)
    return [case, half, double, mk(lead, _odd(M), npot_hidden(K), npot_hidden(N)), mk(_tiny_lead(lead), 17, 33, 29)]


def outputs(case):
    lead, M, K, N, blead = _mm_dims(case)
    out_lead = list(torch.broadcast_shapes(tuple(lead), tuple(blead))) if blead else lead
    return [(out_lead + [M, N], case['inputs'][0]['dtype'])]


def flops(case):
    (shape, _), K = outputs(case)[0], case['inputs'][0]['shape'][-1]
    act = case['args'].get('activation')
    return math.prod(int(s) for s in shape) * (2 * K + (case['inputs'][2] is not None) + (8 if act else 0))


def example(M=64, K=96, N=80, dtype='float32', bias=True, activation=None, transposed_b=True, batch=()):
    b = transposed_meta([*batch, K, N], dtype) if transposed_b else tensor_meta([*batch, K, N], dtype)
    return {'inputs': [tensor_meta([*batch, M, K], dtype), b, tensor_meta([N], dtype) if bias else None],
            'args': {'activation': activation}}


def matmul_case(a, b, bias=None) -> dict:
    "A matmul case `a[...,M,K] @ b[...,K,N] + bias[N]`, checked."
    from autokernel import extract as X
    a, b = X.tmeta(a, 'a'), X.tmeta(b, 'b')
    if len(a['shape']) < 2 or len(b['shape']) < 2: raise X.NotExtractable("a matrix-vector product (a 1-D operand)")
    if a['shape'][-1] != b['shape'][-2]: raise X.NotExtractable(f"inner dims differ: {a['shape']} @ {b['shape']}")
    if len(b['shape']) > 2 and b['shape'][:-2] != a['shape'][:-2]:
        raise X.NotExtractable(f"broadcast batch dims: {a['shape']} @ {b['shape']}")
    if bias is not None:
        bias = X.tmeta(bias, 'bias')
        if math.prod(bias['shape']) != b['shape'][-1] or bias['shape'][-1] != b['shape'][-1]:
            raise X.NotExtractable(f"a bias of shape {bias['shape']}, not one per output column")
        bias = {**bias, 'shape': [bias['shape'][-1]], 'stride': [bias['stride'][-1]]}
    return X.case([a, b, bias])


def _scalar_is(rec, name, value):
    from autokernel import extract as X
    v = X.arg(rec, name, default=value)
    if v != value: raise X.NotExtractable(f"{rec['op']} with {name}={v}")


def map_addmm(rec):
    from autokernel import extract as X
    _scalar_is(rec, 'beta', 1); _scalar_is(rec, 'alpha', 1)
    return 'matmul', matmul_case(X.inp(rec, 1), X.inp(rec, 2), X.inp(rec, 0))


def map_linear(rec):
    from autokernel import extract as X
    w = X.tmeta(X.inp(rec, 1), 'weight')
    if len(w['shape']) != 2: raise X.NotExtractable(f"a linear weight of shape {w['shape']}")
    return 'matmul', matmul_case(X.inp(rec, 0), X.transposed(w), X.inp(rec, 2))


def map_mm(rec):
    from autokernel import extract as X
    return 'matmul', matmul_case(X.inp(rec, 0), X.inp(rec, 1))


def map_baddbmm(rec):
    from autokernel import extract as X
    if X.arg(rec, 'beta') != 0: raise X.NotExtractable(f"baddbmm adding a full [B,M,N] input (beta={X.arg(rec, 'beta')})")
    _scalar_is(rec, 'alpha', 1)
    return 'matmul', matmul_case(X.inp(rec, 1), X.inp(rec, 2))


def _m_linear(args, kwargs):
    from autokernel.runtime import _arg
    x, w, b = args[0], _arg(args, kwargs, 1, 'weight'), _arg(args, kwargs, 2, 'bias')
    if x.ndim < 2: return None
    lead = x.shape[:-1]
    return 'matmul', (x.reshape(-1, x.shape[-1]), w.t(), b), {'activation': None}, lambda y: y.reshape(*lead, y.shape[-1])


def _m_addmm(args, kwargs):
    from autokernel.runtime import _arg
    bias, a, b = args[0], _arg(args, kwargs, 1, 'mat1'), _arg(args, kwargs, 2, 'mat2')
    if kwargs.get('beta', 1) != 1 or kwargs.get('alpha', 1) != 1 or bias.ndim != 1 or 'out' in kwargs: return None
    return 'matmul', (a, b, bias), {'activation': None}, None


def _m_matmul(args, kwargs):
    from autokernel.runtime import _arg
    a, b = args[0], _arg(args, kwargs, 1, 'other', _arg(args, kwargs, 1, 'mat2'))
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.ndim < 2 or b.ndim < 2 or 'out' in kwargs: return None
    return 'matmul', (a, b, None), {'activation': None}, None


KIND = make_kind('matmul', 'matmul', matmul, ('act', 'weight', 'bias'), {'activation': None}, flops, test_cases,
                 ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm', 'aten::addbmm', 'aten::matmul', 'aten::linear',
                  'aten::_addmm_activation', 'aten::mv', 'aten::addmv', 'aten::dot', 'aten::vdot', 'aten::einsum', 'aten::tensordot',
                  'aten::_scaled_mm', 'aten::_int_mm'), outputs, example,
                 profile_classes=('matmul',), wrapper_ops=('linear', 'matmul'), extract_ops={'addmm': map_addmm, 'linear': map_linear, 'mm': map_mm, 'bmm': map_mm, 'matmul': map_mm,
                              'baddbmm': map_baddbmm},
                 matchers={F.linear: _m_linear, torch.addmm: _m_addmm, torch.matmul: _m_matmul, torch.mm: _m_matmul,
                           torch.bmm: _m_matmul, torch.Tensor.__matmul__: _m_matmul, torch.Tensor.matmul: _m_matmul})
