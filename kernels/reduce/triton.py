"""Sum or mean over the last dimension, in Triton: y[r] = sum(x[r, :])  (or / N for the mean).

The tensor is seen as R rows of N elements (leading dims merged). Each program owns BLOCK_R rows and walks them in
[BLOCK_R, BLOCK_N] tiles, accumulating in float32 whatever the input dtype (as PyTorch's CUDA reductions do), then
writes one value per row in the input dtype. Many short rows: raise BLOCK_R; few long rows: raise BLOCK_N.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='reduce', backend='triton')
PARAMS = dict(BLOCK_N=1024, ROWS_PER_PROG=1, num_warps=4, num_stages=1)
SPACE = dict(BLOCK_N=[128, 256, 512, 1024, 2048, 4096], ROWS_PER_PROG=[1, 2, 4, 8, 16], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3])


@triton.jit
def reduce_kernel(x_ptr, y_ptr, R, N, stride_xr, stride_xn,
                  MEAN: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < R
    x_rows = x_ptr + rows.to(tl.int64)[:, None] * stride_xr
    cols = tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_R, BLOCK_N], tl.float32)
    for start in range(0, N, BLOCK_N):
        c = start + cols
        acc += tl.load(x_rows + c[None, :] * stride_xn, mask=row_ok[:, None] & (c[None, :] < N), other=0.0).to(tl.float32)
    total = tl.sum(acc, axis=1)
    if MEAN:
        total = total / N
    tl.store(y_ptr + rows, total.to(y_ptr.dtype.element_ty), mask=row_ok)


def kernel_fn(x, *, op='sum'):
    if op not in ('sum', 'mean'):
        raise ValueError(f"op must be 'sum' or 'mean', got {op!r}")
    N = x.shape[-1]
    y = torch.empty(x.shape[:-1], dtype=x.dtype, device=x.device)
    if y.numel() == 0:
        return y
    x2 = x.reshape(-1, N)
    R = x2.shape[0]
    p = PARAMS
    block_n = max(1, min(p['BLOCK_N'], triton.next_power_of_2(N)))
    block_r = min(p['ROWS_PER_PROG'], triton.next_power_of_2(R))
    grid = (triton.cdiv(R, block_r),)
    reduce_kernel[grid](x2, y, R, N, x2.stride(0), x2.stride(1), MEAN=op == 'mean', BLOCK_R=block_r, BLOCK_N=block_n,
                        num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
