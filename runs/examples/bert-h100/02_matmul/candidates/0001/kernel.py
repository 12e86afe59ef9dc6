# autokernel extract: 02_matmul (matmul, triton) from /tmp/bert-h100/profile.json
# model bert on NVIDIA H100 80GB HBM3: aten::addmm, 12 calls/forward, 0.3852 ms/forward (6.5% of the forward)
# profiled case: [4096,768] [768,3072].T [3072] bfloat16 (all test cases in spec.json)
# baseline: kernels/matmul/triton.py. This is the file an optimizer edits; keep kernel_fn's signature.

"""Matrix multiply with a fused bias + activation epilogue, in Triton.

    out[..., M, N] = act(a[..., M, K] @ b[..., K, N] + bias[N]),   act in None, 'gelu_tanh', 'gelu', 'relu', 'silu'

The classic tiled GEMM: a program computes one BLOCK_M x BLOCK_N tile of the output. It walks K in steps of BLOCK_K,
loading a BLOCK_M x BLOCK_K tile of a and a BLOCK_K x BLOCK_N tile of b and accumulating their tl.dot in float32
(tensor cores for bf16/fp16; IEEE float32 for float32 inputs, because PyTorch's float32 matmul does not round to TF32
by default). num_stages software-pipelines those loads: the next tiles are in flight while the current ones multiply.

Epilogue: the bias is added and the activation applied on the float32 accumulator, then the tile is rounded once to
the output dtype and stored. Eager PyTorch writes the matmul output, reads it back for the bias (unless addmm) and again
for the activation; here those are free.

Tile order (GROUP_M): programs are numbered so that GROUP_M consecutive programs cover a column of tiles sharing the
same b tiles, which then stay in L2 across those programs ("grouped ordering"; GROUP_M=1 is plain row-major order).

Layouts: every operand is addressed through its strides, so b may be the transposed view of a Linear weight
(w.t(), stride (1, K)) with no copy. Leading dims of a are folded into M when b is 2-D; a batched b (bmm) runs one
grid slice per batch element, with stride 0 for a broadcast operand. Masks make any M, N, K correct.

Triton's CPU interpreter (3.7) multiplies bfloat16 tiles as their raw 16-bit patterns; under TRITON_INTERPRET=1 the
kernel feeds tl.dot float32 copies of bfloat16 tiles (exact: a bf16 x bf16 product fits in float32, which is what the
tensor cores accumulate in). On a GPU the tiles go to tl.dot as they are.
"""
import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

META = dict(kind='matmul', backend='triton')
PARAMS = dict(BLOCK_M=128, BLOCK_N=64, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=5)
SPACE = dict(BLOCK_M=[32, 64, 128, 256], BLOCK_N=[32, 64, 128, 256], BLOCK_K=[32, 64, 128], GROUP_M=[1, 4, 8, 16], num_warps=[2, 4, 8], num_stages=[2, 3, 4, 5])

ACTIVATIONS = {None: 0, 'gelu_tanh': 1, 'gelu': 2, 'relu': 3, 'silu': 4}


@triton.jit
def matmul_kernel(a_ptr, b_ptr, bias_ptr, c_ptr, M, N, K,
                  sa_b, sa_m, sa_k, sb_b, sb_k, sb_n, sc_b, sc_m, sc_n,
                  HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    # which output tile: grouped ordering over the (M tiles) x (N tiles) grid
    pid = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
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
    a_ptrs = a_ptr + batch * sa_b + offs_m.to(tl.int64)[:, None] * sa_m + offs_k[None, :] * sa_k
    b_ptrs = b_ptr + batch * sb_b + offs_k[:, None] * sb_k + offs_n.to(tl.int64)[None, :] * sb_n

    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + offs_k) < K
        a = tl.load(a_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        b = tl.load(b_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
        a_ptrs += BLOCK_K * sa_k
        b_ptrs += BLOCK_K * sb_k

    # epilogue, on the float32 accumulator
    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    if ACTIVATION == 1:    # gelu, tanh approximation (HF NewGELU); tanh(u) = 1 - 2 / (exp(2u) + 1)
        u = 0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)
        acc = 0.5 * acc * (2.0 - 2.0 / (tl.exp(2.0 * u) + 1.0))
    elif ACTIVATION == 2:  # exact gelu
        acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))
    elif ACTIVATION == 3:  # relu (NaN stays NaN)
        acc = tl.where(acc < 0.0, 0.0, acc)
    elif ACTIVATION == 4:  # silu
        acc = acc / (1.0 + tl.exp(-acc))
    c_ptrs = c_ptr + batch * sc_b + offs_m.to(tl.int64)[:, None] * sc_m + offs_n[None, :] * sc_n
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


def _launch(kernel, grid, args, meta, num_warps, num_stages):
    "Launch; if the tiles do not fit in shared memory (large tiles in float32), retry with fewer stages, then smaller tiles."
    while True:
        try:
            return kernel[grid(meta)](*args, **meta, num_warps=num_warps, num_stages=num_stages)
        except OutOfResources:
            if num_stages > 1:
                num_stages -= 1
            elif max(meta['BLOCK_N'], meta['BLOCK_M'], meta['BLOCK_K']) > 16:
                big = max(('BLOCK_K', 'BLOCK_N', 'BLOCK_M'), key=lambda k: meta[k])
                meta = {**meta, big: meta[big] // 2}
            else:
                raise


def _as_batched(a, b):
    "a, b as [batch, M, K], [batch, K, N] (views where the strides allow; stride 0 for a broadcast operand)."
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.dim() == 2:                                   # a Linear: fold a's leading dims into M
        a2 = a.reshape(-1, K)
        return a2.unsqueeze(0), b.unsqueeze(0), a.shape[:-1] + (N,)
    lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = a.expand(*lead, M, K).reshape(-1, M, K)
    b3 = b.expand(*lead, K, N).reshape(-1, K, N)
    return a3, b3, tuple(lead) + (M, N)


def kernel_fn(a, b, bias=None, *, activation=None):
    if activation not in ACTIVATIONS:
        raise ValueError(f'unknown activation {activation!r}: use one of {list(ACTIVATIONS)}')
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f'cannot multiply {tuple(a.shape)} by {tuple(b.shape)}')
    a3, b3, out_shape = _as_batched(a, b)
    batch, M, K = a3.shape
    N = b3.shape[-1]
    out = torch.empty(out_shape, dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    if out.numel() == 0:
        return out
    c3 = out.view(batch, M, N)
    bstride = lambda t: 0 if t.shape[0] == 1 else t.stride(0)
    p = PARAMS
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    meta = dict(HAS_BIAS=bias is not None, ACTIVATION=ACTIVATIONS[activation],
                BLOCK_M=min(p['BLOCK_M'], max(16, triton.next_power_of_2(M))),
                BLOCK_N=min(p['BLOCK_N'], max(16, triton.next_power_of_2(N))),
                BLOCK_K=min(p['BLOCK_K'], max(16, triton.next_power_of_2(K))), GROUP_M=p['GROUP_M'],
                DOT_PRECISION='ieee' if a.dtype == torch.float32 else 'tf32',
                UPCAST=interpret and a.dtype == torch.bfloat16)
    grid = lambda m: (triton.cdiv(M, m['BLOCK_M']) * triton.cdiv(N, m['BLOCK_N']), batch)
    bias_t = bias.contiguous() if bias is not None else out
    args = (a3, b3, bias_t, c3, M, N, K, bstride(a3), a3.stride(1), a3.stride(2), bstride(b3), b3.stride(1), b3.stride(2),
            c3.stride(0), c3.stride(1), c3.stride(2))
    _launch(matmul_kernel, grid, args, meta, p['num_warps'], p['num_stages'])
    return out
