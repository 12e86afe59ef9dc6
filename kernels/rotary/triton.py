"""Rotary position embedding (HF apply_rotary_pos_emb for one tensor), in Triton.

    y = x * cos + rotate_half(x) * sin,   rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2])

with x[B, H, S, D] and tables cos, sin[B, S, D] broadcast over heads. Written per half of the head dim:

    y[..., :D/2] = x1 * cos[..., :D/2] - x2 * sin[..., :D/2]
    y[..., D/2:] = x2 * cos[..., D/2:] + x1 * sin[..., D/2:]          (x1, x2 = the two halves of x)

Eager PyTorch materializes rotate_half (a neg and a cat) and runs three more elementwise kernels; fused, x is read
once, y written once, float32 arithmetic with one rounding.

A program owns BLOCK_S positions of one batch element and HEADS_PER_PROG heads: it loads the cos/sin rows of its
positions once and reuses them for every head. q and k usually arrive as transposed views ([B, S, H, D] memory seen as
[B, H, S, D]); every tensor is addressed through its own four strides, so no copy is made. A table with batch 1 is
broadcast (batch stride 0).
"""
import torch
import triton
import triton.language as tl

META = dict(kind='rotary', backend='triton')
PARAMS = dict(BLOCK_S=16, HEADS_PER_PROG=4, num_warps=4, num_stages=1)
SPACE = dict(BLOCK_S=[1, 2, 4, 8, 16, 32, 64], HEADS_PER_PROG=[1, 2, 4, 8, 16], num_warps=[1, 2, 4, 8], num_stages=[1, 2, 3])


@triton.jit
def rotary_kernel(x_ptr, cos_ptr, sin_ptr, y_ptr, H, S, HALF,
                  sxb, sxh, sxs, sxd, scb, scs, scd, ssb, sss, ssd, syb, syh, sys, syd,
                  BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr, HEADS_PER_PROG: tl.constexpr):
    pid_s = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    pid_h = tl.program_id(2)
    s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S)
    d = tl.arange(0, BLOCK_D)
    mask = (s < S)[:, None] & (d < HALF)[None, :]
    s64 = s.to(tl.int64)[:, None]
    c_base = cos_ptr + b * scb + s64 * scs
    s_base = sin_ptr + b * ssb + s64 * sss
    cos1 = tl.load(c_base + d[None, :] * scd, mask=mask, other=0.0).to(tl.float32)
    cos2 = tl.load(c_base + (d[None, :] + HALF) * scd, mask=mask, other=0.0).to(tl.float32)
    sin1 = tl.load(s_base + d[None, :] * ssd, mask=mask, other=0.0).to(tl.float32)
    sin2 = tl.load(s_base + (d[None, :] + HALF) * ssd, mask=mask, other=0.0).to(tl.float32)
    for i in range(HEADS_PER_PROG):
        h = pid_h * HEADS_PER_PROG + i
        m = mask & (h < H)
        x_base = x_ptr + b * sxb + h.to(tl.int64) * sxh + s64 * sxs
        y_base = y_ptr + b * syb + h.to(tl.int64) * syh + s64 * sys
        x1 = tl.load(x_base + d[None, :] * sxd, mask=m, other=0.0).to(tl.float32)
        x2 = tl.load(x_base + (d[None, :] + HALF) * sxd, mask=m, other=0.0).to(tl.float32)
        tl.store(y_base + d[None, :] * syd, (x1 * cos1 - x2 * sin1).to(y_ptr.dtype.element_ty), mask=m)
        tl.store(y_base + (d[None, :] + HALF) * syd, (x2 * cos2 + x1 * sin2).to(y_ptr.dtype.element_ty), mask=m)


def effective_params(params, case):
    "`params` as kernel_fn launches them at `case` (a spec's case; x is [B, H, S, D]): blocks clamp to the sequence and heads."
    _, H, S, _ = case['inputs'][0]['shape']
    return {**params, 'BLOCK_S': min(params['BLOCK_S'], triton.next_power_of_2(max(S, 1))),
            'HEADS_PER_PROG': min(params['HEADS_PER_PROG'], H)}


def kernel_fn(x, cos, sin):
    B, H, S, D = x.shape
    if D % 2:
        raise ValueError(f'rotary needs an even head dim, got {D}')
    y = torch.empty(x.shape, dtype=torch.promote_types(x.dtype, cos.dtype), device=x.device)
    if y.numel() == 0:
        return y
    bstride = lambda t: 0 if t.shape[0] == 1 else t.stride(0)     # a batch-1 table is shared by every batch element
    p = effective_params(PARAMS, {'inputs': [{'shape': [B, H, S, D]}]})
    block_s, hpp = p['BLOCK_S'], p['HEADS_PER_PROG']
    grid = (triton.cdiv(S, block_s), B, triton.cdiv(H, hpp))
    rotary_kernel[grid](x, cos, sin, y, H, S, D // 2, *x.stride(), bstride(cos), cos.stride(1), cos.stride(2),
                        bstride(sin), sin.stride(1), sin.stride(2), *y.stride(),
                        BLOCK_S=block_s, BLOCK_D=triton.next_power_of_2(D // 2), HEADS_PER_PROG=hpp,
                        num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
