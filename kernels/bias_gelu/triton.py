"""Bias add fused with GELU, in Triton: y = gelu(x + bias), bias broadcast over the rows of x[..., N].

A Linear layer without its bias (or a Conv1D whose addmm was split) followed by GELU: eager PyTorch writes x + bias,
then runs GELU's ~8 elementwise kernels on it. Fused, x is read once, the [N] bias stays in cache, y is written once;
the arithmetic is float32 with one rounding at the end.

    approximate='tanh':  gelu(u) = 0.5 * u * (1 + tanh(sqrt(2/pi) * (u + 0.044715 * u^3)))   (HF NewGELUActivation)
    approximate='none':  gelu(u) = 0.5 * u * (1 + erf(u / sqrt(2)))

tanh is written as 1 - 2 / (exp(2v) + 1), exact at both tails. Each program handles BLOCK elements of the flattened
output; the column of element i is i % N (for the bias), its address in x is row * stride_r + col * stride_n, so a
strided x needs no copy.

The one structural choice, PERSISTENT: 0 launches one program per tile; 1 launches a few programs per SM (WAVES of
them, as many as stay resident) that walk the tiles with a grid stride, which saves the block scheduler's work on
huge tensors and can lose on small ones; the search measures which.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='bias_gelu', backend='triton')
PARAMS = dict(BLOCK=1024, num_warps=4, num_stages=1, PERSISTENT=0)
SPACE = dict(BLOCK=[256, 512, 1024, 2048, 4096, 8192, 16384], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3], PERSISTENT=[0, 1])
WAVES = 4                  # persistent programs per SM


@triton.jit
def bias_gelu_tile(x_ptr, b_ptr, y_ptr, tile, numel, N, stride_xr, stride_xn,
                   APPROX_TANH: tl.constexpr, CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr):
    idx = tl.cast(tile, tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < numel
    col = idx % N
    if CONTIGUOUS:
        x_off = idx
    else:
        x_off = (idx // N) * stride_xr + col * stride_xn
    u = tl.load(x_ptr + x_off, mask=mask, other=0.0).to(tl.float32)
    u += tl.load(b_ptr + col, mask=mask, other=0.0).to(tl.float32)
    if APPROX_TANH:
        v = 0.7978845608028654 * (u + 0.044715 * u * u * u)
        t = 1.0 - 2.0 / (tl.exp(2.0 * v) + 1.0)
        y = 0.5 * u * (1.0 + t)
    else:
        y = 0.5 * u * (1.0 + tl.erf(u * 0.7071067811865476))
    tl.store(y_ptr + idx, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def bias_gelu_kernel(x_ptr, b_ptr, y_ptr, numel, N, stride_xr, stride_xn,
                     APPROX_TANH: tl.constexpr, CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr, PERSISTENT: tl.constexpr):
    if PERSISTENT:
        for tile in range(tl.program_id(0), tl.cdiv(numel, BLOCK), tl.num_programs(0)):
            bias_gelu_tile(x_ptr, b_ptr, y_ptr, tile, numel, N, stride_xr, stride_xn, APPROX_TANH, CONTIGUOUS, BLOCK)
    else:
        bias_gelu_tile(x_ptr, b_ptr, y_ptr, tl.program_id(0), numel, N, stride_xr, stride_xn, APPROX_TANH, CONTIGUOUS, BLOCK)


_SM_COUNT = {}


def programs(tiles, device, persistent):
    "The grid: one program per tile, or for PERSISTENT=1 WAVES per SM (3 in the interpreter, so each one loops)."
    if not persistent:
        return tiles
    if device.type != 'cuda':
        return max(1, min(tiles, 3))
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SM_COUNT:
        _SM_COUNT[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return max(1, min(tiles, WAVES * _SM_COUNT[idx]))


def kernel_fn(x, bias, *, approximate='tanh'):
    if approximate not in ('tanh', 'none'):
        raise ValueError(f"approximate must be 'tanh' or 'none', got {approximate!r}")
    N = x.shape[-1]
    y = torch.empty(x.shape, dtype=torch.promote_types(x.dtype, bias.dtype), device=x.device)
    numel = x.numel()
    if numel == 0:
        return y
    contiguous = x.is_contiguous()
    x2 = x.reshape(-1, N)
    b = bias.contiguous()
    p = PARAMS
    grid = (programs(triton.cdiv(numel, p['BLOCK']), x.device, p['PERSISTENT']),)
    bias_gelu_kernel[grid](x2, b, y, numel, N, x2.stride(0), x2.stride(1), APPROX_TANH=approximate == 'tanh',
                           CONTIGUOUS=contiguous, BLOCK=p['BLOCK'], PERSISTENT=bool(p['PERSISTENT']),
                           num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
