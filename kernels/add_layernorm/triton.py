"""Residual add fused with LayerNorm, in Triton.

    s = x + residual;  y = LayerNorm(s) * weight + bias;  returns (y, s)

Transformer blocks add the residual and normalize the sum right away; eager PyTorch reads x and residual, writes s,
reads s again for the norm and writes y. Fused, each row is read once from x and residual, and s and y are written
once: 2 reads + 2 writes instead of 3 reads + 2 writes, and one launch instead of two.

As in eager mode, the sum is rounded to the input dtype (that is the s the model carries on) and the statistics are
taken on that rounded value, in float32; biased variance, as torch.nn.LayerNorm.

- one_pass: the padded row fits in registers: add, store s, mean, variance of (s - mean), normalize, store y.
- chunked: the first sweep adds chunk by chunk, stores s and merges per-chunk (count, mean, M2) with Chan's
  parallel-variance formula; the second sweep reads s back (this program just wrote it) and normalizes.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='add_layernorm', backend='triton')
PARAMS = dict(BLOCK_N=4096, ROWS_PER_PROG=1, num_warps=4, num_stages=1, ALGO='one_pass')
SPACE = dict(BLOCK_N=[256, 512, 1024, 2048, 4096], ROWS_PER_PROG=[1, 2, 4, 8, 16], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3], ALGO=['one_pass', 'chunked'])

MAX_ONE_PASS = 16384  # elements of a one_pass tile (BLOCK_R x padded row)


@triton.jit
def add_layernorm_kernel(x_ptr, r_ptr, w_ptr, b_ptr, y_ptr, s_ptr, R, N, eps,
                         stride_xr, stride_xn, stride_rr, stride_rn, stride_yr,
                         HAS_W: tl.constexpr, HAS_B: tl.constexpr,
                         BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, ONE_PASS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < R
    rows64 = rows.to(tl.int64)[:, None]
    x_rows = x_ptr + rows64 * stride_xr
    r_rows = r_ptr + rows64 * stride_rr
    y_rows = y_ptr + rows64 * stride_yr
    s_rows = s_ptr + rows64 * stride_yr
    cols = tl.arange(0, BLOCK_N)
    # means are taken of s - s0 (s0: the row's first sum, rounded as stored) and s0 added back, so a constant row gets
    # a mean of exactly s0 and a variance of exactly 0 (1/sqrt(eps) would amplify a rounded mean ~300x)
    s0 = (tl.load(x_rows, mask=row_ok[:, None], other=0.0).to(tl.float32)
          + tl.load(r_rows, mask=row_ok[:, None], other=0.0).to(tl.float32)).to(s_ptr.dtype.element_ty).to(tl.float32)
    if ONE_PASS:
        mask = row_ok[:, None] & (cols[None, :] < N)
        x = tl.load(x_rows + cols[None, :] * stride_xn, mask=mask, other=0.0).to(tl.float32)
        r = tl.load(r_rows + cols[None, :] * stride_rn, mask=mask, other=0.0).to(tl.float32)
        s = (x + r).to(s_ptr.dtype.element_ty)
        tl.store(s_rows + cols[None, :], s, mask=mask)
        s = s.to(tl.float32)
        mean = tl.sum(tl.where(mask, s - s0, 0.0), axis=1) / N + tl.sum(s0, axis=1)
        sc = tl.where(mask, s - mean[:, None], 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(sc * sc, axis=1) / N + eps)
        y = sc * rstd[:, None]
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
            r = tl.load(r_rows + c[None, :] * stride_rn, mask=mask, other=0.0).to(tl.float32)
            s = (x + r).to(s_ptr.dtype.element_ty)
            tl.store(s_rows + c[None, :], s, mask=mask)
            s = s.to(tl.float32)
            n_a = start * 1.0
            n_b = tl.minimum(N - start, BLOCK_N) * 1.0
            mean_b = tl.sum(tl.where(mask, s - s0, 0.0), axis=1) / n_b       # of the shifted values
            sc = tl.where(mask, s - s0 - mean_b[:, None], 0.0)
            delta = mean_b - mean
            n = n_a + n_b
            mean = mean + delta * (n_b / n)
            m2 = m2 + tl.sum(sc * sc, axis=1) + delta * delta * (n_a * n_b / n)
        rstd = 1.0 / tl.sqrt(m2 / N + eps)
        mean = mean + tl.sum(s0, axis=1)                          # shift back
        for start in range(0, N, BLOCK_N):
            c = start + cols
            mask = row_ok[:, None] & (c[None, :] < N)
            s = tl.load(s_rows + c[None, :], mask=mask, other=0.0).to(tl.float32)
            y = (s - mean[:, None]) * rstd[:, None]
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


def kernel_fn(x, residual, weight, bias, *, eps=1e-5):
    N = x.shape[-1]
    shape = torch.broadcast_shapes(x.shape, residual.shape)
    dtype = torch.promote_types(x.dtype, residual.dtype)
    y = torch.empty(shape, dtype=dtype, device=x.device)
    s = torch.empty(shape, dtype=dtype, device=x.device)
    if y.numel() == 0:
        return y, s
    x2 = x.expand(shape).reshape(-1, N)
    r2 = residual.expand(shape).reshape(-1, N)
    R = x2.shape[0]
    w = weight.contiguous() if weight is not None else x2
    b = bias.contiguous() if bias is not None else x2
    p = effective_params(PARAMS, {'inputs': [{'shape': [R, N]}]})
    one_pass, block_n, block_r = p['ALGO'] == 'one_pass', p['BLOCK_N'], p['ROWS_PER_PROG']
    grid = (triton.cdiv(R, block_r),)
    add_layernorm_kernel[grid](x2, r2, w, b, y, s, R, N, eps, x2.stride(0), x2.stride(1), r2.stride(0), r2.stride(1), N,
                               HAS_W=weight is not None, HAS_B=bias is not None,
                               BLOCK_R=block_r, BLOCK_N=block_n, ONE_PASS=one_pass,
                               num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y, s
