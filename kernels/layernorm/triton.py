"""LayerNorm over the last dimension, in Triton.

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias        (biased variance, as torch.nn.LayerNorm)

The tensor is seen as R rows of N elements. Each program normalizes BLOCK_R rows (a [BLOCK_R, BLOCK_N] tile);
statistics are computed in float32 and the output is rounded once, to the input dtype.

- one_pass: the padded row fits in registers. Load it once, take the mean, then the variance as the mean of
  (x - mean)^2 (numerically safe, no E[x^2] - E[x]^2 cancellation), normalize and store. One read, one write.
- chunked: longer rows are walked in chunks of BLOCK_N. The first sweep merges per-chunk (count, mean, M2) into the
  running statistics with Chan's parallel-variance formula, which is as stable as the two-pass formula while reading
  x only once; the second sweep normalizes. Two reads, one write.

weight and bias may be None (LayerNorm(elementwise_affine=False)).
"""
import torch
import triton
import triton.language as tl

META = dict(kind='layernorm', backend='triton')
PARAMS = dict(BLOCK_N=4096, ROWS_PER_PROG=1, num_warps=4, num_stages=1, ALGO='one_pass')
SPACE = dict(BLOCK_N=[256, 512, 1024, 2048, 4096], ROWS_PER_PROG=[1, 2, 4, 8, 16], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3], ALGO=['one_pass', 'chunked'])

MAX_ONE_PASS = 16384  # elements of a one_pass tile (BLOCK_R x padded row)


@triton.jit
def layernorm_kernel(x_ptr, w_ptr, b_ptr, y_ptr, R, N, eps, stride_xr, stride_xn, stride_yr,
                     HAS_W: tl.constexpr, HAS_B: tl.constexpr,
                     BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, ONE_PASS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < R
    x_rows = x_ptr + rows.to(tl.int64)[:, None] * stride_xr
    y_rows = y_ptr + rows.to(tl.int64)[:, None] * stride_yr
    cols = tl.arange(0, BLOCK_N)
    # every mean is taken of x - x0 (x0: the row's first element) and x0 added back: a constant row then has a mean of
    # exactly x0 and a variance of exactly 0 (a plain sum / N rounds, and 1/sqrt(eps) amplifies that rounding ~300x)
    x0 = tl.load(x_rows, mask=row_ok[:, None], other=0.0).to(tl.float32)            # [BLOCK_R, 1]
    if ONE_PASS:
        mask = row_ok[:, None] & (cols[None, :] < N)
        x = tl.load(x_rows + cols[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
        mean = tl.sum(tl.where(mask, x - x0, 0.0), axis=1) / N + tl.sum(x0, axis=1)
        xc = tl.where(mask, x - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=1) / N + eps)
        y = xc * rstd[:, None]
        if HAS_W:
            y = y * tl.load(w_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)[None, :]
        if HAS_B:
            y = y + tl.load(b_ptr + cols, mask=cols < N, other=0.0).to(tl.float32)[None, :]
        tl.store(y_rows + cols[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)
    else:
        mean = tl.zeros([BLOCK_R], tl.float32)
        m2 = tl.zeros([BLOCK_R], tl.float32)
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(x_rows + c[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
            n_a = start * 1.0                                   # elements seen so far
            n_b = tl.minimum(N - start, BLOCK_N) * 1.0           # elements in this chunk
            mean_b = tl.sum(tl.where(mask, x - x0, 0.0), axis=1) / n_b     # of the shifted values
            xc = tl.where(mask, x - x0 - mean_b[:, None], 0.0)
            m2_b = tl.sum(xc * xc, axis=1)
            delta = mean_b - mean
            n = n_a + n_b
            mean = mean + delta * (n_b / n)
            m2 = m2 + m2_b + delta * delta * (n_a * n_b / n)
        rstd = 1.0 / tl.sqrt(m2 / N + eps)
        mean = mean + tl.sum(x0, axis=1)                          # shift back
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            x = tl.load(x_rows + c[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
            y = (x - mean[:, None]) * rstd[:, None]
            if HAS_W:
                y = y * tl.load(w_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
            if HAS_B:
                y = y + tl.load(b_ptr + c, mask=c < N, other=0.0).to(tl.float32)[None, :]
            tl.store(y_rows + c[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


def effective_params(params, case):
    """`params` as kernel_fn launches them at `case` (a spec's case; the first input's shape gives rows x N): a one_pass
    tile is the padded row (BLOCK_N unused), a row too long for it runs the chunked algorithm, blocks clamp to the case."""
    shape = case['inputs'][0]['shape']
    N, R = shape[-1], 1
    for d in shape[:-1]:
        R *= d
    padded = triton.next_power_of_2(max(N, 1))
    p = dict(params)
    if p['ALGO'] == 'one_pass' and padded <= MAX_ONE_PASS:
        p['BLOCK_N'], p['ROWS_PER_PROG'] = padded, min(p['ROWS_PER_PROG'], max(1, MAX_ONE_PASS // padded))
    else:
        p['ALGO'], p['BLOCK_N'] = 'chunked', min(p['BLOCK_N'], padded)
    p['ROWS_PER_PROG'] = min(p['ROWS_PER_PROG'], triton.next_power_of_2(max(R, 1)))
    return p


def kernel_fn(x, weight, bias, *, eps=1e-5):
    N = x.shape[-1]
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    if x.numel() == 0:
        return y
    x2 = x.reshape(-1, N)
    R = x2.shape[0]
    w = weight.contiguous() if weight is not None else x2      # [N] vectors: a copy only if strided
    b = bias.contiguous() if bias is not None else x2
    p = effective_params(PARAMS, {'inputs': [{'shape': [R, N]}]})
    one_pass, block_n, block_r = p['ALGO'] == 'one_pass', p['BLOCK_N'], p['ROWS_PER_PROG']
    grid = (triton.cdiv(R, block_r),)
    layernorm_kernel[grid](x2, w, b, y, R, N, eps, x2.stride(0), x2.stride(1), N,
                           HAS_W=weight is not None, HAS_B=bias is not None,
                           BLOCK_R=block_r, BLOCK_N=block_n, ONE_PASS=one_pass,
                           num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
