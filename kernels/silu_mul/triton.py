"""SiLU-and-multiply (the SwiGLU MLP of LLaMA), in Triton: y = silu(gate) * up, silu(g) = g / (1 + exp(-g)).

Eager PyTorch writes silu(gate) to memory and reads it back for the product: 3 reads + 2 writes of the
intermediate size. Fused: read gate and up once, write y once, float32 arithmetic and one rounding.

gate and up are often two halves of one fused gate_up projection, i.e. strided views of the same buffer. Each program
handles BLOCK elements of the flattened output and computes each input's address from its own row stride
(row = i // N, col = i % N), so such views need no copy; when both inputs are contiguous the division is skipped.

The one structural choice, PERSISTENT: 0 launches one program per tile; 1 launches a few programs per SM (WAVES of
them, as many as stay resident) that walk the tiles with a grid stride, which saves the block scheduler's work on
huge tensors and can lose on small ones; the search measures which.
"""
import torch
import triton
import triton.language as tl

META = dict(kind='silu_mul', backend='triton')
PARAMS = dict(BLOCK=1024, num_warps=4, num_stages=1, PERSISTENT=0)
SPACE = dict(BLOCK=[256, 512, 1024, 2048, 4096, 8192, 16384], num_warps=[1, 2, 4, 8, 16], num_stages=[1, 2, 3], PERSISTENT=[0, 1])
WAVES = 4                  # persistent programs per SM


@triton.jit
def silu_mul_tile(g_ptr, u_ptr, y_ptr, tile, numel, N, stride_gr, stride_gn, stride_ur, stride_un,
                  CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr):
    idx = tl.cast(tile, tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < numel
    if CONTIGUOUS:
        g_off = idx
        u_off = idx
    else:
        row = idx // N
        col = idx % N
        g_off = row * stride_gr + col * stride_gn
        u_off = row * stride_ur + col * stride_un
    g = tl.load(g_ptr + g_off, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(u_ptr + u_off, mask=mask, other=0.0).to(tl.float32)
    y = g / (1.0 + tl.exp(-g)) * u
    tl.store(y_ptr + idx, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def silu_mul_kernel(g_ptr, u_ptr, y_ptr, numel, N, stride_gr, stride_gn, stride_ur, stride_un,
                    CONTIGUOUS: tl.constexpr, BLOCK: tl.constexpr, PERSISTENT: tl.constexpr):
    if PERSISTENT:
        for tile in range(tl.program_id(0), tl.cdiv(numel, BLOCK), tl.num_programs(0)):
            silu_mul_tile(g_ptr, u_ptr, y_ptr, tile, numel, N, stride_gr, stride_gn, stride_ur, stride_un, CONTIGUOUS, BLOCK)
    else:
        silu_mul_tile(g_ptr, u_ptr, y_ptr, tl.program_id(0), numel, N, stride_gr, stride_gn, stride_ur, stride_un,
                      CONTIGUOUS, BLOCK)


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


def kernel_fn(gate, up):
    shape = torch.broadcast_shapes(gate.shape, up.shape)
    y = torch.empty(shape, dtype=torch.promote_types(gate.dtype, up.dtype), device=gate.device)
    numel = y.numel()
    if numel == 0:
        return y
    N = shape[-1] if len(shape) else 1
    g2 = gate.expand(shape).reshape(-1, N)
    u2 = up.expand(shape).reshape(-1, N)
    contiguous = gate.shape == shape and up.shape == shape and gate.is_contiguous() and up.is_contiguous()
    p = PARAMS
    grid = (programs(triton.cdiv(numel, p['BLOCK']), y.device, p['PERSISTENT']),)
    silu_mul_kernel[grid](g2, u2, y, numel, N, g2.stride(0), g2.stride(1), u2.stride(0), u2.stride(1), CONTIGUOUS=contiguous,
                          BLOCK=p['BLOCK'], PERSISTENT=bool(p['PERSISTENT']), num_warps=p['num_warps'], num_stages=p['num_stages'])
    return y
