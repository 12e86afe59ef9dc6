"""q, k, v projections with the rotary embedding in the GEMM's epilogue, in Triton.

    q = rotary(x @ w_q + b_q),  k = rotary(x @ w_k + b_k),  v = x @ w_v + b_v,   each as [B, heads, S, D]
    rotary(t) = t * cos + rotate_half(t) * sin,   rotate_half(t) = cat(-t[..., D/2:], t[..., :D/2])

A program computes BLOCK_M rows (tokens) of one head. It accumulates the head's two halves as two tl.dot products
over K: `lo = x @ w[:, hD : hD + D/2]` and `hi = x @ w[:, hD + D/2 : hD + D]` (float32 accumulators). rotate_half
pairs lo with hi, so the rotation is a few multiply-adds on registers:

    out_lo = lo * cos_lo - hi * sin_lo,    out_hi = hi * cos_hi + lo * sin_hi

with cos / sin read per token (`[B, S, D]`, a batch stride of 0 when one table serves the batch). v takes the same
path without the rotation. Outputs are written contiguous `[B, heads, S, D]`: the layout attention reads, where the
eager chain leaves transposed views of `[B, S, heads, D]` buffers. One rounding per output element, at the store.

The head's half D/2 is padded to a power of two (masks), so any even D works (64, 128, 80, 96). Three launches, one per
projection (q, k, v: different weights and head counts). Weights are addressed through their strides
(`proj.weight.t()`, stride (1, K)). Under TRITON_INTERPRET=1 bfloat16 tiles are upcast to float32 before tl.dot (the
3.7 interpreter multiplies bf16 as raw integers; exact); on a GPU they go to tl.dot as they are.
"""
import os

import torch
import triton
import triton.language as tl

META = dict(kind='qkv_rotary', backend='triton')
PARAMS = dict(BLOCK_M=64, BLOCK_K=64, num_warps=4, num_stages=3)
SPACE = dict(BLOCK_M=[16, 32, 64, 128], BLOCK_K=[32, 64, 128], num_warps=[2, 4, 8], num_stages=[2, 3, 4])


@triton.jit
def proj_rotary_kernel(x_ptr, w_ptr, b_ptr, cos_ptr, sin_ptr, out_ptr, M, S, K, HEADS, D,
                       sx_m, sx_k, sw_k, sw_n, sc_b, sc_s, sc_d, ss_b, ss_s, ss_d,
                       HAS_BIAS: tl.constexpr, ROTATE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_H: tl.constexpr,
                       BLOCK_K: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    pid_m, head = tl.program_id(0), tl.program_id(1)
    half = D // 2
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_h = tl.arange(0, BLOCK_H)
    offs_k = tl.arange(0, BLOCK_K)
    m_ok, h_ok = offs_m < M, offs_h < half
    col_lo = head * D + offs_h                      # columns of the head's first half; the second half is + D/2
    x_ptrs = x_ptr + offs_m.to(tl.int64)[:, None] * sx_m + offs_k[None, :] * sx_k
    w_lo = w_ptr + offs_k[:, None] * sw_k + col_lo.to(tl.int64)[None, :] * sw_n
    w_hi = w_lo + half * sw_n
    lo = tl.zeros([BLOCK_M, BLOCK_H], tl.float32)
    hi = tl.zeros([BLOCK_M, BLOCK_H], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + offs_k) < K
        x = tl.load(x_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        a = tl.load(w_lo, mask=k_ok[:, None] & h_ok[None, :], other=0.0)
        b = tl.load(w_hi, mask=k_ok[:, None] & h_ok[None, :], other=0.0)
        if UPCAST:
            x = x.to(tl.float32)
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        lo = tl.dot(x, a, lo, input_precision=DOT_PRECISION)
        hi = tl.dot(x, b, hi, input_precision=DOT_PRECISION)
        x_ptrs += BLOCK_K * sx_k
        w_lo += BLOCK_K * sw_k
        w_hi += BLOCK_K * sw_k
    if HAS_BIAS:
        lo += tl.load(b_ptr + col_lo, mask=h_ok, other=0.0).to(tl.float32)[None, :]
        hi += tl.load(b_ptr + col_lo + half, mask=h_ok, other=0.0).to(tl.float32)[None, :]
    bi, si = (offs_m // S).to(tl.int64), (offs_m % S).to(tl.int64)
    mask = m_ok[:, None] & h_ok[None, :]
    if ROTATE:
        c_row = cos_ptr + bi[:, None] * sc_b + si[:, None] * sc_s
        s_row = sin_ptr + bi[:, None] * ss_b + si[:, None] * ss_s
        cos_lo = tl.load(c_row + offs_h[None, :] * sc_d, mask=mask, other=0.0).to(tl.float32)
        cos_hi = tl.load(c_row + (offs_h + half)[None, :] * sc_d, mask=mask, other=0.0).to(tl.float32)
        sin_lo = tl.load(s_row + offs_h[None, :] * ss_d, mask=mask, other=0.0).to(tl.float32)
        sin_hi = tl.load(s_row + (offs_h + half)[None, :] * ss_d, mask=mask, other=0.0).to(tl.float32)
        lo, hi = lo * cos_lo - hi * sin_lo, hi * cos_hi + lo * sin_hi
    # out[b, head, s, :] in a contiguous [B, HEADS, S, D]
    o_row = out_ptr + ((bi * HEADS + head) * S + si)[:, None] * D
    tl.store(o_row + offs_h[None, :], lo.to(out_ptr.dtype.element_ty), mask=mask)
    tl.store(o_row + (offs_h + half)[None, :], hi.to(out_ptr.dtype.element_ty), mask=mask)


def _project(x2, w, b, cos, sin, B, S, D, rotate):
    M, K = x2.shape
    heads = w.shape[-1] // D
    out = torch.empty((B, heads, S, D), dtype=torch.promote_types(x2.dtype, w.dtype), device=x2.device)
    if out.numel() == 0:
        return out
    p = PARAMS
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    cb, sb = (0 if cos.shape[0] == 1 else cos.stride(0)), (0 if sin.shape[0] == 1 else sin.stride(0))
    block_m = min(p['BLOCK_M'], max(16, triton.next_power_of_2(M)))
    proj_rotary_kernel[(triton.cdiv(M, block_m), heads)](
        x2, w, b if b is not None else w, cos, sin, out, M, S, K, heads, D, x2.stride(0), x2.stride(1), w.stride(0), w.stride(1),
        cb, cos.stride(1), cos.stride(2), sb, sin.stride(1), sin.stride(2),
        HAS_BIAS=b is not None, ROTATE=rotate, BLOCK_M=block_m, BLOCK_H=max(16, triton.next_power_of_2(D // 2)),
        BLOCK_K=min(p['BLOCK_K'], max(16, triton.next_power_of_2(K))), DOT_PRECISION='ieee' if x2.dtype == torch.float32 else 'tf32',
        UPCAST=interpret and x2.dtype == torch.bfloat16, num_warps=p['num_warps'], num_stages=p['num_stages'])
    return out


def kernel_fn(x, w_q, w_k, w_v, b_q, b_k, b_v, cos, sin):
    B, S, K = x.shape
    D = cos.shape[-1]
    if D % 2 or w_q.shape[-1] % D or w_k.shape[-1] % D or w_v.shape[-1] != w_k.shape[-1]:
        raise ValueError(f'qkv_rotary: head size {D} does not divide the projections {w_q.shape[-1]}, {w_k.shape[-1]}, {w_v.shape[-1]}')
    x2 = x.reshape(B * S, K)
    return (_project(x2, w_q, b_q, cos, sin, B, S, D, True), _project(x2, w_k, b_k, cos, sin, B, S, D, True),
            _project(x2, w_v, b_v, cos, sin, B, S, D, False))
