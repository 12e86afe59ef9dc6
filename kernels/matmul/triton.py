"""Matrix multiply with a fused bias + activation epilogue, in Triton, with Hopper's structural choices as knobs.

    out[..., M, N] = act(a[..., M, K] @ b[..., K, N] + bias[N]),   act in None, 'gelu_tanh', 'gelu', 'relu', 'silu'

The tiled GEMM: a work unit computes one BLOCK_M x BLOCK_N tile of the output. It walks K in steps of BLOCK_K,
loading a BLOCK_M x BLOCK_K tile of a and a BLOCK_K x BLOCK_N tile of b and accumulating their tl.dot in float32
(tensor cores for bf16/fp16; IEEE float32 for float32 inputs, because PyTorch's float32 matmul does not round to TF32
by default). num_stages software-pipelines those loads: the next tiles are in flight while the current ones multiply.

Structural knobs (PARAMS / SPACE, so the search picks them, not only tile sizes):
- PERSISTENT=1: a grid of one program per SM (instead of one per tile) that loops over the work units, so the launch
  and the prologue are paid once per SM and the next tile's loads overlap the previous tile's epilogue.
- SPLIT_K=s > 1: for skinny shapes (few output tiles, long K) each tile's K range is cut in s slices; every slice is a
  work unit that writes a float32 partial tile to a workspace, and a second small kernel adds the s partials in a
  fixed order (deterministic: no atomics), then applies the bias and activation and rounds once.
- TMA=1: a and b are read through tensor descriptors (`tl.make_tensor_descriptor`, Hopper's TMA engine: one
  instruction moves a whole tile into shared memory, out-of-bounds reads give zeros). Taken only where it is valid:
  a CUDA device of compute capability >= 9 (or Triton's interpreter, which implements descriptors), a Triton that has
  them, one batch (a Linear or a single GEMM), a contiguous last dim and 16-byte aligned rows and base pointers.
  A weight seen transposed (b = w.t(), stride (1, K)) is read through a descriptor over w ([N, K]) and its tile
  transposed in registers. Anywhere else the kernel falls back to plain masked pointer loads.

Per-shape dispatch: `CONFIGS` maps (M bucket, N, K), the M bucket being the next power of two of the rows after the
leading dims are folded, to PARAMS overrides; so one kernel.py serves the different profiled shapes of a model (a
skinny LM head with split-K, a square projection with large persistent tiles) with a config each. Shapes that are not
in the table use PARAMS. The table of the library's baseline is empty: the search tunes PARAMS for the profiled case,
and the winners for other shapes go in the table.

Epilogue: the bias is added and the activation applied on the float32 accumulator, then the tile is rounded once to
the output dtype and stored. Eager PyTorch writes the matmul output, reads it back for the bias (unless addmm) and again
for the activation; here those are free.

Tile order (GROUP_M): work units are numbered so that GROUP_M consecutive units cover a column of tiles sharing the
same b tiles, which then stay in L2 across those programs ("grouped ordering"; GROUP_M=1 is plain row-major order).

Layouts: every operand is addressed through its strides, so b may be the transposed view of a Linear weight
(w.t(), stride (1, K)) with no copy. Leading dims of a are folded into M when b is 2-D; a batched b (bmm) makes the
batch part of the work-unit index, with stride 0 for a broadcast operand. Masks make any M, N, K correct.

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
PARAMS = dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64, GROUP_M=8, num_warps=8, num_stages=3, PERSISTENT=0, SPLIT_K=1, TMA=0)
SPACE = dict(BLOCK_M=[32, 64, 128, 256], BLOCK_N=[32, 64, 128, 256], BLOCK_K=[32, 64, 128], GROUP_M=[1, 4, 8, 16], num_warps=[2, 4, 8], num_stages=[2, 3, 4, 5], PERSISTENT=[0, 1], SPLIT_K=[1, 2, 3, 4, 8], TMA=[0, 1])
CONFIGS = {}

ACTIVATIONS = {None: 0, 'gelu_tanh': 1, 'gelu': 2, 'relu': 3, 'silu': 4}


@triton.jit
def _activate(acc, ACTIVATION: tl.constexpr):
    if ACTIVATION == 1:    # gelu, tanh approximation (HF NewGELU); tanh(u) = 1 - 2 / (exp(2u) + 1)
        u = 0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)
        acc = 0.5 * acc * (2.0 - 2.0 / (tl.exp(2.0 * u) + 1.0))
    elif ACTIVATION == 2:  # exact gelu
        acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))
    elif ACTIVATION == 3:  # relu (NaN stays NaN)
        acc = tl.where(acc < 0.0, 0.0, acc)
    elif ACTIVATION == 4:  # silu
        acc = acc / (1.0 + tl.exp(-acc))
    return acc


@triton.jit
def matmul_kernel(a_ptr, b_ptr, bias_ptr, c_ptr, ws_ptr, M, N, K, batch,
                  sa_b, sa_m, sa_k, sb_b, sb_k, sb_n, sc_b, sc_m, sc_n,
                  HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  SPLIT_K: tl.constexpr, TMA: tl.constexpr, B_KMAJOR: tl.constexpr,
                  DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    # work units: (batch, K slice, output tile); program p takes units p, p + #programs, ... (one each unless persistent)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    tiles = tiles_m * tiles_n
    units = tiles * SPLIT_K * batch
    k_steps = tl.cdiv(tl.cdiv(K, BLOCK_K), SPLIT_K)      # BLOCK_K steps per K slice
    if TMA:   # descriptors once per program (one batch only: the host takes this path for a single GEMM)
        a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[sa_m, 1], block_shape=[BLOCK_M, BLOCK_K])
        if B_KMAJOR:   # b = w.t(): w is [N, K] with contiguous rows
            b_desc = tl.make_tensor_descriptor(b_ptr, shape=[N, K], strides=[sb_n, 1], block_shape=[BLOCK_N, BLOCK_K])
        else:
            b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[sb_k, 1], block_shape=[BLOCK_K, BLOCK_N])
    for unit in range(tl.program_id(0), units, tl.num_programs(0)):
        tile = unit % tiles
        split = (unit // tiles) % SPLIT_K
        z = (unit // (tiles * SPLIT_K)).to(tl.int64)
        # grouped ordering over the (M tiles) x (N tiles) grid
        per_group = GROUP_M * tiles_n
        first_m = (tile // per_group) * GROUP_M
        group_m = tl.minimum(tiles_m - first_m, GROUP_M)
        pid_m = first_m + (tile % per_group) % group_m
        pid_n = (tile % per_group) // group_m

        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        offs_k = tl.arange(0, BLOCK_K)
        m_ok = offs_m < M
        n_ok = offs_n < N
        k_lo = split * k_steps * BLOCK_K
        k_hi = tl.minimum(K, k_lo + k_steps * BLOCK_K)
        acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        if TMA:
            for k0 in range(k_lo, k_hi, BLOCK_K):     # a K slice ends on a BLOCK_K boundary or at K: zeros past K
                a = a_desc.load([pid_m * BLOCK_M, k0])
                if B_KMAJOR:
                    b = b_desc.load([pid_n * BLOCK_N, k0]).T
                else:
                    b = b_desc.load([k0, pid_n * BLOCK_N])
                if UPCAST:
                    a = a.to(tl.float32)
                    b = b.to(tl.float32)
                acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
        else:
            a_ptrs = a_ptr + z * sa_b + offs_m.to(tl.int64)[:, None] * sa_m + (k_lo + offs_k)[None, :] * sa_k
            b_ptrs = b_ptr + z * sb_b + (k_lo + offs_k)[:, None] * sb_k + offs_n.to(tl.int64)[None, :] * sb_n
            for k0 in range(k_lo, k_hi, BLOCK_K):
                k_ok = (k0 + offs_k) < k_hi
                a = tl.load(a_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
                b = tl.load(b_ptrs, mask=k_ok[:, None] & n_ok[None, :], other=0.0)
                if UPCAST:
                    a = a.to(tl.float32)
                    b = b.to(tl.float32)
                acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
                a_ptrs += BLOCK_K * sa_k
                b_ptrs += BLOCK_K * sb_k

        mask = m_ok[:, None] & n_ok[None, :]
        if SPLIT_K == 1:   # epilogue, on the float32 accumulator; one rounding at the store
            if HAS_BIAS:
                acc += tl.load(bias_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
            acc = _activate(acc, ACTIVATION)
            c_ptrs = c_ptr + z * sc_b + offs_m.to(tl.int64)[:, None] * sc_m + offs_n[None, :] * sc_n
            tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)
        else:              # a float32 partial tile: workspace [batch, SPLIT_K, M, N], contiguous
            w_ptrs = ws_ptr + ((z * SPLIT_K + split) * M + offs_m.to(tl.int64)[:, None]) * N + offs_n[None, :]
            tl.store(w_ptrs, acc, mask=mask)


@triton.jit
def splitk_reduce_kernel(ws_ptr, bias_ptr, c_ptr, M, N, sc_b, sc_m, sc_n,
                         HAS_BIAS: tl.constexpr, ACTIVATION: tl.constexpr, SPLIT_K: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    "Sum the SPLIT_K float32 partials of one tile in a fixed order, then bias, activation and the single rounding."
    z = tl.program_id(2).to(tl.int64)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    mask = m_ok[:, None] & n_ok[None, :]
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for s in range(SPLIT_K):
        w_ptrs = ws_ptr + ((z * SPLIT_K + s) * M + offs_m.to(tl.int64)[:, None]) * N + offs_n[None, :]
        acc += tl.load(w_ptrs, mask=mask, other=0.0)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    acc = _activate(acc, ACTIVATION)
    c_ptrs = c_ptr + z * sc_b + offs_m.to(tl.int64)[:, None] * sc_m + offs_n[None, :] * sc_n
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)


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


def m_bucket(M):
    "The M bucket of the per-shape table: the next power of two (decode steps of 5 and 7 rows share the bucket 8)."
    return triton.next_power_of_2(max(1, M))


def config_for(M, N, K, params=None):
    "`params` (PARAMS by default) with the overrides of CONFIGS[(m_bucket(M), N, K)] where the table has this shape."
    params = PARAMS if params is None else params
    over = CONFIGS.get((m_bucket(M), N, K), {})
    unknown = set(over) - set(params)
    if unknown:
        raise ValueError(f'CONFIGS[{(m_bucket(M), N, K)}] sets unknown knobs {sorted(unknown)}: use {list(params)}')
    return {**params, **over}


def effective_params(params, case):
    """`params` as kernel_fn launches them at `case` (a spec's case; a [.., M, K] @ b [.., K, N]): the per-shape table's
    overrides applied, blocks clamped to the (padded) sizes, GROUP_M to the M tiles (more groups than tiles order them
    alike), SPLIT_K to K's 16-wide steps. What depends on the device (TMA, PERSISTENT's grid) is kept as given."""
    a_shape, b_shape = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    M, K, N = a_shape[-2] if len(a_shape) > 1 else 1, a_shape[-1], b_shape[-1]
    if len(b_shape) == 2:                              # a Linear: a's leading dims fold into M
        M = 1
        for d in a_shape[:-1]:
            M *= d
    p = config_for(M, N, K, params)
    bm, bn, bk = (min(p[k], max(16, triton.next_power_of_2(max(n, 1)))) for k, n in (('BLOCK_M', M), ('BLOCK_N', N), ('BLOCK_K', K)))
    return {**p, 'BLOCK_M': bm, 'BLOCK_N': bn, 'BLOCK_K': bk, 'GROUP_M': max(1, min(p['GROUP_M'], triton.cdiv(M, bm))),
            'SPLIT_K': max(1, min(p['SPLIT_K'], triton.cdiv(K, 16)))}


_SM_COUNT = {}


def _programs(units, device):
    "The persistent grid: one program per SM (a few in the interpreter, so each one loops over several units)."
    if device.type != 'cuda':
        return max(1, min(units, 3))
    idx = device.index if device.index is not None else torch.cuda.current_device()
    if idx not in _SM_COUNT:
        _SM_COUNT[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return max(1, min(units, _SM_COUNT[idx]))


def _tma_alloc(size, alignment, stream):
    "Global scratch for descriptors made on the device (Triton asks for it through triton.set_allocator)."
    return torch.empty(size, dtype=torch.int8, device='cuda')


def _tma_ok(a3, b3, interpret):
    """Whether the descriptor path is valid here: (cc >= 9 CUDA or the interpreter) and a Triton with descriptors, one
    batch, a contiguous last dim of a and of b or of b's transpose, 16-byte aligned rows and bases. Returns
    (ok, b_kmajor)."""
    if not hasattr(tl, 'make_tensor_descriptor') or a3.shape[0] != 1:
        return False, False
    if not interpret and not (a3.is_cuda and torch.cuda.get_device_capability(a3.device)[0] >= 9):
        return False, False
    es = a3.element_size()
    b_kmajor = b3.stride(1) == 1 and b3.stride(2) != 1
    b_row = b3.stride(2) if b_kmajor else b3.stride(1)
    aligned = lambda t: t.data_ptr() % 16 == 0
    ok = (a3.stride(2) == 1 and (a3.stride(1) * es) % 16 == 0 and (b3.stride(1) == 1 if b_kmajor else b3.stride(2) == 1)
          and (b_row * es) % 16 == 0 and aligned(a3) and aligned(b3))
    return ok, b_kmajor


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
    p = effective_params(PARAMS, {'inputs': [{'shape': [M, K]}, {'shape': [K, N]}]})   # blocks clamped, SPLIT_K to K/16
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    split = p['SPLIT_K']
    tma, b_kmajor = _tma_ok(a3, b3, interpret) if p['TMA'] else (False, False)
    if tma and not interpret and hasattr(triton, 'set_allocator'):
        triton.set_allocator(_tma_alloc)
    meta = dict(HAS_BIAS=bias is not None, ACTIVATION=ACTIVATIONS[activation],
                BLOCK_M=p['BLOCK_M'], BLOCK_N=p['BLOCK_N'], BLOCK_K=p['BLOCK_K'], GROUP_M=p['GROUP_M'],
                SPLIT_K=split, TMA=tma, B_KMAJOR=b_kmajor,
                DOT_PRECISION='ieee' if a.dtype == torch.float32 else 'tf32',
                UPCAST=interpret and a.dtype == torch.bfloat16)

    def grid(m):
        units = triton.cdiv(M, m['BLOCK_M']) * triton.cdiv(N, m['BLOCK_N']) * m['SPLIT_K'] * batch
        return (_programs(units, a.device) if p['PERSISTENT'] else units,)
    bias_t = bias.contiguous() if bias is not None else out
    ws = torch.empty((batch, split, M, N), dtype=torch.float32, device=a.device) if split > 1 else out
    args = (a3, b3, bias_t, c3, ws, M, N, K, batch, bstride(a3), a3.stride(1), a3.stride(2), bstride(b3), b3.stride(1),
            b3.stride(2), c3.stride(0), c3.stride(1), c3.stride(2))
    _launch(matmul_kernel, grid, args, meta, p['num_warps'], p['num_stages'])
    if split > 1:
        RB = 32 if interpret else 64
        splitk_reduce_kernel[(triton.cdiv(M, RB), triton.cdiv(N, RB), batch)](
            ws, bias_t, c3, M, N, c3.stride(0), c3.stride(1), c3.stride(2), HAS_BIAS=bias is not None,
            ACTIVATION=ACTIVATIONS[activation], SPLIT_K=split, BLOCK_M=RB, BLOCK_N=RB, num_warps=4)
    return out
