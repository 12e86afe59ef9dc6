"""Gated MLP (SwiGLU / GeGLU) up-projection in Triton: both projections and the epilogue in one GEMM.

    y[M, N] = act(x[M, K] @ w_gate[K, N]) * (x[M, K] @ w_up[K, N]),   act in 'silu', 'gelu_tanh', 'gelu'

A program computes one BLOCK_M x BLOCK_N tile of y. It walks K in steps of BLOCK_K; each step loads one tile of x and
the matching tiles of w_gate and w_up and accumulates two tl.dot products in float32 (tensor cores for bf16/fp16;
IEEE float32 for float32 inputs, as PyTorch's float32 matmul). The x tile is loaded once for both products: half the
x traffic of two GEMMs, and neither projection is ever written to memory.

Epilogue: the activation and the product are computed on the float32 accumulators and rounded once to the output
dtype. Eager rounds four times (each projection, the activation, the product); one rounding is closer to the float64
reference the bench judges by (in bfloat16 eager's four roundings can add up to more than the tolerance on their own).

Tile order (GROUP_M): GROUP_M consecutive programs walk down a column of tiles, so the weight tiles they share stay in
L2 ("grouped ordering"). Operands are addressed through their strides: the weights are the transposed views
`proj.weight.t()` (stride (1, K)) with no copy, and gate / up may be the two halves of one fused projection.

Triton's CPU interpreter (3.7) multiplies bfloat16 tiles as raw 16-bit integers; under TRITON_INTERPRET=1 bf16 tiles
are upcast to float32 before tl.dot (exact). On a GPU the tiles go to tl.dot as they are.
"""
import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

META = dict(kind='gated_mlp', backend='triton')
PARAMS = dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=64, GROUP_M=8, num_warps=8, num_stages=3)
SPACE = dict(BLOCK_M=[32, 64, 128, 256], BLOCK_N=[32, 64, 128, 256], BLOCK_K=[32, 64, 128], GROUP_M=[1, 4, 8, 16], num_warps=[2, 4, 8], num_stages=[2, 3, 4, 5])

ACTIVATIONS = {'gelu_tanh': 1, 'gelu': 2, 'silu': 4}


@triton.jit
def gated_mlp_kernel(x_ptr, g_ptr, u_ptr, y_ptr, M, N, K, sx_m, sx_k, sg_k, sg_n, su_k, su_n, sy_m,
                     ACTIVATION: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                     GROUP_M: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    group_m = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % group_m
    pid_n = (pid % per_group) // group_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    m_ok = offs_m < M
    n_ok = offs_n < N
    x_ptrs = x_ptr + offs_m.to(tl.int64)[:, None] * sx_m + offs_k[None, :] * sx_k
    g_ptrs = g_ptr + offs_k[:, None] * sg_k + offs_n.to(tl.int64)[None, :] * sg_n
    u_ptrs = u_ptr + offs_k[:, None] * su_k + offs_n.to(tl.int64)[None, :] * su_n

    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + offs_k) < K
        x = tl.load(x_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        g = tl.load(g_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        u = tl.load(u_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if UPCAST:
            x = x.to(tl.float32)
            g = g.to(tl.float32)
            u = u.to(tl.float32)
        acc_g = tl.dot(x, g, acc_g, input_precision=DOT_PRECISION)
        acc_u = tl.dot(x, u, acc_u, input_precision=DOT_PRECISION)
        x_ptrs += BLOCK_K * sx_k
        g_ptrs += BLOCK_K * sg_k
        u_ptrs += BLOCK_K * su_k

    # epilogue on the float32 accumulators, one rounding at the store
    h = acc_g
    if ACTIVATION == 1:    # gelu, tanh approximation (HF NewGELU); tanh(v) = 1 - 2 / (exp(2v) + 1)
        v = 0.7978845608028654 * (h + 0.044715 * h * h * h)
        a = 0.5 * h * (2.0 - 2.0 / (tl.exp(2.0 * v) + 1.0))
    elif ACTIVATION == 2:  # exact gelu
        a = 0.5 * h * (1.0 + tl.erf(h * 0.7071067811865476))
    else:                  # silu
        a = h / (1.0 + tl.exp(-h))
    y = a * acc_u
    y_ptrs = y_ptr + offs_m.to(tl.int64)[:, None] * sy_m + offs_n[None, :]
    tl.store(y_ptrs, y.to(y_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


def _launch(grid, args, meta, num_warps, num_stages):
    "Launch; if the tiles do not fit in shared memory, retry with fewer stages, then smaller tiles."
    while True:
        try:
            return gated_mlp_kernel[grid(meta)](*args, **meta, num_warps=num_warps, num_stages=num_stages)
        except OutOfResources:
            if num_stages > 1:
                num_stages -= 1
            elif max(meta['BLOCK_N'], meta['BLOCK_M'], meta['BLOCK_K']) > 16:
                big = max(('BLOCK_K', 'BLOCK_N', 'BLOCK_M'), key=lambda k: meta[k])
                meta = {**meta, big: meta[big] // 2}
            else:
                raise


def kernel_fn(x, w_gate, w_up, *, activation='silu'):
    if activation not in ACTIVATIONS:
        raise ValueError(f'unknown activation {activation!r}: use one of {list(ACTIVATIONS)}')
    K, N = w_gate.shape
    if x.shape[-1] != K or tuple(w_up.shape) != (K, N):
        raise ValueError(f'gated_mlp: x {tuple(x.shape)}, w_gate {tuple(w_gate.shape)}, w_up {tuple(w_up.shape)} do not fit')
    x2 = x.reshape(-1, K)
    M = x2.shape[0]
    out = torch.empty((*x.shape[:-1], N), dtype=torch.promote_types(x.dtype, w_gate.dtype), device=x.device)
    if out.numel() == 0:
        return out
    y2 = out.view(M, N)
    p = PARAMS
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    meta = dict(ACTIVATION=ACTIVATIONS[activation],
                BLOCK_M=min(p['BLOCK_M'], max(16, triton.next_power_of_2(M))),
                BLOCK_N=min(p['BLOCK_N'], max(16, triton.next_power_of_2(N))),
                BLOCK_K=min(p['BLOCK_K'], max(16, triton.next_power_of_2(K))), GROUP_M=p['GROUP_M'],
                DOT_PRECISION='ieee' if x.dtype == torch.float32 else 'tf32',
                UPCAST=interpret and x.dtype == torch.bfloat16)
    grid = lambda m: (triton.cdiv(M, m['BLOCK_M']) * triton.cdiv(N, m['BLOCK_N']),)
    args = (x2, w_gate, w_up, y2, M, N, K, x2.stride(0), x2.stride(1), w_gate.stride(0), w_gate.stride(1),
            w_up.stride(0), w_up.stride(1), y2.stride(0))
    _launch(grid, args, meta, p['num_warps'], p['num_stages'])
    return out
