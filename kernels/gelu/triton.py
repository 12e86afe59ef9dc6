"""GELU, in Triton: an elementwise kernel.

    approximate='tanh':  y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (HF GPT-2's NewGELUActivation)
    approximate='none':  y = 0.5 * x * (1 + erf(x / sqrt(2)))                           (torch's exact GELU)

Eager PyTorch runs NewGELU as ~8 separate kernels (pow, mul, add, tanh, ...), each reading and writing the whole
tensor; here it is one read and one write, with the arithmetic in float32 and a single rounding at the end.
tanh is written as 1 - 2 / (exp(2u) + 1), which is exact at both tails (exp overflowing to inf gives 1, underflowing
to 0 gives -1) and uses only portable tl ops.

Each program handles BLOCK contiguous elements of the flattened tensor. A non-contiguous input is walked as rows of N
elements with a row stride (so a slice of a bigger buffer needs no copy); the output is always contiguous.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='gelu', backend='triton')
PARAMS = dict(BLOCK=1024, num_warps=4, num_stages=1)
SPACE = dict(BLOCK=[256, 512, 1024, 2048, 4096, 8192, 16384], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3])


@triton.jit
def gelu_kernel(x_ptr, y_ptr, numel, N, stride_xr, stride_xn,
                APPROX_TANH: tl.constexpr, CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr):
    idx = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < numel
    if CONTIGUOUS:
        x_off = idx
    else:
        x_off = (idx // N) * stride_xr + (idx % N) * stride_xn
    x = tl.load(x_ptr + x_off, mask=mask, other=0.0).to(tl.float32)
    if APPROX_TANH:
        u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        t = 1.0 - 2.0 / (tl.exp(2.0 * u) + 1.0)
        y = 0.5 * x * (1.0 + t)
    else:
        y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    tl.store(y_ptr + idx, y.to(y_ptr.dtype.element_ty), mask=mask)


def kernel_fn(x, *, approximate='tanh'):
    if approximate not in ('tanh', 'none'):
        raise ValueError(f"approximate must be 'tanh' or 'none', got {approximate!r}")
    y = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    numel = x.numel()
    if numel == 0:
        return y
    contiguous = x.is_contiguous()
    x2 = x if contiguous else x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1)
    N = x.shape[-1] if x.dim() else 1
    sr, sn = (N, 1) if contiguous else (x2.stride(0), x2.stride(1))
    p = PARAMS
    grid = (triton.cdiv(numel, p['BLOCK']),)
    gelu_kernel[grid](x2, y, numel, N, sr, sn, APPROX_TANH=approximate == 'tanh', CONTIGUOUS=contiguous, BLOCK=p['BLOCK'],
                      num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
