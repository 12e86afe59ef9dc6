"""GELU, in Triton: an elementwise kernel.

    approximate='tanh':  y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   (HF GPT-2's NewGELUActivation)
    approximate='none':  y = 0.5 * x * (1 + erf(x / sqrt(2)))                           (torch's exact GELU)

Eager PyTorch runs NewGELU as ~8 separate kernels (pow, mul, add, tanh, ...), each reading and writing the whole
tensor; here it is one read and one write, with the arithmetic in float32 and a single rounding at the end.
tanh is written as 1 - 2 / (exp(2u) + 1), which is exact at both tails (exp overflowing to inf gives 1, underflowing
to 0 gives -1) and uses only portable tl ops.

Each program handles BLOCK contiguous elements of the flattened tensor. A non-contiguous input is walked as rows of N
elements with a row stride (so a slice of a bigger buffer needs no copy); the output is always contiguous.

The one structural choice, PERSISTENT: 0 launches one program per tile; 1 launches a few programs per SM (WAVES of
them, as many as stay resident) that walk the tiles with a grid stride, which saves the block scheduler's work on
huge tensors and can lose on small ones; the search measures which.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='gelu', backend='triton')
PARAMS = dict(BLOCK=1024, num_warps=4, num_stages=1, PERSISTENT=0)
SPACE = dict(BLOCK=[256, 512, 1024, 2048, 4096, 8192, 16384], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3], PERSISTENT=[0, 1])
WAVES = 4                  # persistent programs per SM


@triton.jit
def gelu_tile(x_ptr, y_ptr, tile, numel, N, stride_xr, stride_xn,
              APPROX_TANH: tl.constexpr, CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr):
    idx = tl.cast(tile, tl.int64) * BLOCK + tl.arange(0, BLOCK)
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


@triton.jit
def gelu_kernel(x_ptr, y_ptr, numel, N, stride_xr, stride_xn,
                APPROX_TANH: tl.constexpr, CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr, PERSISTENT: tl.constexpr):
    if PERSISTENT:
        for tile in range(tl.program_id(0), tl.cdiv(numel, BLOCK), tl.num_programs(0)):
            gelu_tile(x_ptr, y_ptr, tile, numel, N, stride_xr, stride_xn, APPROX_TANH, CONTIGUOUS, BLOCK)
    else:
        gelu_tile(x_ptr, y_ptr, tl.program_id(0), numel, N, stride_xr, stride_xn, APPROX_TANH, CONTIGUOUS, BLOCK)


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
    grid = (programs(triton.cdiv(numel, p['BLOCK']), x.device, p['PERSISTENT']),)
    gelu_kernel[grid](x2, y, numel, N, sr, sn, APPROX_TANH=approximate == 'tanh', CONTIGUOUS=contiguous, BLOCK=p['BLOCK'],
                      PERSISTENT=bool(p['PERSISTENT']), num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
