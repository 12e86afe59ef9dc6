"""Matrix multiply with an optional fused bias + activation epilogue, as a CUDA C++ kernel (the `matmul` baseline).

`act(a @ b + bias)` with `a [..., M, K]`, `b [..., K, N]` (PyTorch `matmul` broadcasting of the leading dims; `b`
is often a transposed view of a `[N, K]` weight, so any strides are accepted), `bias [N]` optional and
`act` in None / 'gelu_tanh' / 'gelu' / 'relu' / 'silu'.

The algorithm: a tiled shared-memory GEMM
-----------------------------------------
Each block computes one `BM x BN` tile of the output `C`. It walks the `K` dimension in steps of `BK`: the whole
block copies an `BM x BK` tile of `a` and a `BK x BN` tile of `b` into shared memory (converted to float32, zero-
padded at the edges so no bounds checks are needed in the inner loop), synchronises, and then each thread
multiplies what it needs out of shared memory into its own `TM x TN` micro-tile of accumulators held in registers:
for every `k` of the tile it loads `TM` values of `a` and `TN` of `b` and does `TM * TN` fused multiply-adds (an
outer product). Register blocking is what makes this fast: every shared-memory value loaded is used `TN` (or
`TM`) times. A block has `(BM / TM) * (BN / TN)` threads.

Global loads are coalesced whichever way the operands are laid out: the copy loop walks `K` fastest when the
operand is contiguous along `K` (a row-major `a`, a transposed weight `b`) and `M` / `N` fastest otherwise.

The epilogue adds the bias and applies the activation in float32 before the single rounding to the output type,
so `linear + gelu` costs no extra pass over memory. Leading (batch) dims are broadcast like `torch.matmul`; each
batch is one `z` slice of the grid (a 2-D `b` gets batch stride 0, so a weight shared by all batches is never
copied).

Two algorithms, picked by `ALGO` (a run-time argument: one build holds both):

- `'simt'`: the tiled shared-memory GEMM above, in float32 arithmetic (every dtype).
- `'mma'`: tensor cores through `mma.sync.m16n8k16` (inline PTX) for bfloat16 / float16 inputs, float32 accumulation.
  A block of `(BM / WM) * (BN / WN)` warps computes a `BM x BN` tile; each warp owns a `WM x WN` sub-tile, i.e.
  `WM / 16` x `WN / 8` mma tiles of accumulators in registers (the `m16n8` C fragment: lane `l` holds rows `l / 4`
  and `l / 4 + 8`, columns `2 (l % 4)` and `+1`). K advances in steps of `BK` (at least 16, one or two mma k-steps).
  Shared memory holds the a tile as `[BM][BK]` and the b tile as `[BN][BK]` (K contiguous for both, rows padded by 16
  bytes so that the eight rows an `ldmatrix` reads fall in different banks); `ldmatrix.x4` turns four 8x8 blocks into
  exactly the A fragment (rows `m`, cols `k`) or two B fragments (rows `n`, cols `k`, the `.col` operand of
  `mma...row.col`). Two stages: while the tensor cores work on stage `s`, `cp.async` (16-byte copies that bypass the
  registers; a short source size zero-fills the K tail and rows past M / N) fills stage `s ^ 1`
  (`cp.async.wait_group 1` + a barrier before each compute step). An operand that is not K-contiguous with 16-byte
  aligned rows (a row-major `b` of a bmm, odd strides) is copied element by element with bounds checks instead, still
  double-buffered. float32 inputs always take the SIMT kernel: PyTorch's float32 matmul does not round to TF32, and
  the bench compares with that.
  Why mma.sync and not wgmma / CUTLASS: see kernels/README.md (the CUDA section). Next steps: `ldmatrix.trans` for
  row-major `b`, more stages, swizzled layouts, wgmma + TMA.

Tile sizes are compile-time constants (`-DAK_BM=...` flags, part of the build's hash), so each PARAMS set is its own
build; the activation and the algorithm are run-time arguments.
"""

META = dict(kind='matmul', backend='cuda')
PARAMS = dict(ALGO='mma', BM=64, BN=64, BK=16, TM=4, TN=4, WM=32, WN=32)   # mma: correct on the H200 (session 7), not yet timed
SPACE = dict(ALGO=['simt', 'mma'], BM=[32, 64, 128], BN=[32, 64, 128], BK=[8, 16, 32], TM=[4, 8], TN=[4, 8], WM=[32, 64], WN=[32, 64])

CUDA_SRC = r'''
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <math.h>

#ifndef AK_BM
#define AK_BM 64
#endif
#ifndef AK_BN
#define AK_BN 64
#endif
#ifndef AK_BK
#define AK_BK 16
#endif
#ifndef AK_TM
#define AK_TM 4
#endif
#ifndef AK_TN
#define AK_TN 4
#endif
#ifndef AK_WM
#define AK_WM 32
#endif
#ifndef AK_WN
#define AK_WN 32
#endif

namespace {

constexpr int BM = AK_BM, BN = AK_BN, BK = AK_BK, TM = AK_TM, TN = AK_TN;
constexpr int NTHREADS = (BM / TM) * (BN / TN);
static_assert(BM % TM == 0 && BN % TN == 0, "tile sizes must be multiples of the micro-tile");
static_assert(NTHREADS >= 1 && NTHREADS <= 1024, "a block has at most 1024 threads");

// Conversions spelled out: PyTorch builds with __CUDA_NO_HALF_OPERATORS__ / __CUDA_NO_BFLOAT16_CONVERSIONS__.
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

struct MM {
  int64_t batch, M, N, K;
  int64_t sab, sam, sak;     // a strides: batch, row, column (elements)
  int64_t sbb, sbk, sbn;     // b strides (batch stride 0 when b is shared by all batches)
  int act;                   // 0 none, 1 gelu_tanh, 2 gelu (erf), 3 relu, 4 silu
};

__device__ __forceinline__ float activate(float x, int act) {
  switch (act) {
    case 1: { const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x); return x / (1.f + __expf(-2.f * u)); }
    case 2: return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
    case 3: return x > 0.f ? x : (x == x ? 0.f : x);          // relu keeps NaN
    case 4: return x / (1.f + __expf(-x));
    default: return x;
  }
}

template <typename T>
__global__ void __launch_bounds__(NTHREADS)
matmul_kernel(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ bias, T* __restrict__ c, MM p) {
  __shared__ float As[BK][BM + 1];     // As[k][m]: a thread's TM rows are read along m
  __shared__ float Bs[BK][BN + 1];     // Bs[k][n]
  const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t m0 = (int64_t)blockIdx.x * BM, n0 = (int64_t)blockIdx.y * BN;
  const bool a_k_fast = p.sak == 1, b_n_fast = p.sbn == 1;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const T* ap = a + z * p.sab;
    const T* bp = b + z * p.sbb;
    float acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; ++i)
      #pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    for (int64_t k0 = 0; k0 < p.K; k0 += BK) {
      for (int i = tid; i < BM * BK; i += NTHREADS) {
        const int mm = a_k_fast ? i / BK : i % BM, kk = a_k_fast ? i % BK : i / BM;
        const int64_t gm = m0 + mm, gk = k0 + kk;
        As[kk][mm] = (gm < p.M && gk < p.K) ? to_float(ap[gm * p.sam + gk * p.sak]) : 0.f;
      }
      for (int i = tid; i < BK * BN; i += NTHREADS) {
        const int nn = b_n_fast ? i % BN : i / BK, kk = b_n_fast ? i / BN : i % BK;
        const int64_t gn = n0 + nn, gk = k0 + kk;
        Bs[kk][nn] = (gn < p.N && gk < p.K) ? to_float(bp[gk * p.sbk + gn * p.sbn]) : 0.f;
      }
      __syncthreads();
      #pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        float af[TM], bf[TN];
        #pragma unroll
        for (int i = 0; i < TM; ++i) af[i] = As[kk][ty * TM + i];
        #pragma unroll
        for (int j = 0; j < TN; ++j) bf[j] = Bs[kk][tx * TN + j];
        #pragma unroll
        for (int i = 0; i < TM; ++i)
          #pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
      }
      __syncthreads();
    }

    T* cp = c + z * p.M * p.N;
    #pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int64_t m = m0 + ty * TM + i;
      if (m >= p.M) continue;
      #pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int64_t n = n0 + tx * TN + j;
        if (n >= p.N) continue;
        float v = acc[i][j];
        if (bias) v += to_float(bias[n]);
        cp[m * p.N + n] = from_float<T>(activate(v, p.act));
      }
    }
  }
}

// ---- tensor cores: mma.sync m16n8k16 (bf16 / fp16 in, fp32 accumulate), ldmatrix, cp.async double buffering ----

constexpr int MBK = AK_BK < 16 ? 16 : AK_BK;                 // the mma path's K tile: whole k16 steps
constexpr int MWM = AK_WM < BM ? AK_WM : BM, MWN = AK_WN < BN ? AK_WN : BN;   // a warp's sub-tile
constexpr int WARPS_M = BM / MWM, WARPS_N = BN / MWN, MMA_THREADS = WARPS_M * WARPS_N * 32;
constexpr int MT = MWM / 16, NT = MWN / 8;                   // mma tiles per warp
constexpr int SROW = MBK + 8;                                // shared row pitch (halves): +16 bytes against bank conflicts
constexpr int KCH = MBK / 8;                                 // 16-byte chunks per shared row
static_assert(MBK % 16 == 0 && MWM % 16 == 0 && MWN % 16 == 0, "mma tiles are 16 deep, 16 rows, two 8-column tiles");
static_assert(BM % MWM == 0 && BN % MWN == 0 && MMA_THREADS <= 1024, "warp tiles divide the block tile");
static_assert(2 * (BM + BN) * SROW * 2 <= 48 * 1024, "two stages fit in 48 KiB of static shared memory");

template <typename T> struct MmaOp;
template <> struct MmaOp<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float* d, const uint32_t* a, const uint32_t* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};
template <> struct MmaOp<__half> {
  static __device__ __forceinline__ void run(float* d, const uint32_t* a, const uint32_t* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

// 16 bytes global -> shared; only the first `bytes` (0..16) are read, the rest of the 16 is zero-filled.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait1() { asm volatile("cp.async.wait_group 1;\n" ::); }

// One operand tile into shared memory as [ROWS][SROW] with K contiguous: rows r0.. (m of a, or n of b), columns k0..
// `sr`/`sk`: the operand's strides along the row and K. async: K-contiguous, 16-byte aligned rows (cp.async chunks
// of 8 elements); otherwise element by element, the row index fastest across threads (coalesced for row-contiguous
// operands such as a bmm's row-major b).
template <typename T, int ROWS>
__device__ __forceinline__ void load_tile(T* s, const T* g, int64_t r0, int64_t nrows, int64_t k0, int64_t K,
                                          int64_t sr, int64_t sk, bool async, int tid) {
  if (async) {                                   // the same for the whole block: no divergence
    for (int c = tid; c < ROWS * KCH; c += MMA_THREADS) {
      const int row = c / KCH, kc = (c % KCH) * 8;
      const int64_t gr = r0 + row, gk = k0 + kc;
      int64_t left = (K - gk) * (int64_t)sizeof(T);
      const int bytes = gr < nrows ? (left >= 16 ? 16 : (left > 0 ? (int)left : 0)) : 0;
      cp_async16(s + row * SROW + kc, bytes ? (const void*)(g + gr * sr + gk) : (const void*)g, bytes);
    }
  } else {
    for (int c = tid; c < ROWS * MBK; c += MMA_THREADS) {
      const int row = c % ROWS, kk = c / ROWS;
      const int64_t gr = r0 + row, gk = k0 + kk;
      s[row * SROW + kk] = (gr < nrows && gk < K) ? g[gr * sr + gk * sk] : from_float<T>(0.f);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(MMA_THREADS)
matmul_mma_kernel(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ bias, T* __restrict__ c, MM p,
                  bool async_a, bool async_b) {
  __shared__ __align__(16) T As[2][BM * SROW];     // As[stage][m * SROW + k]
  __shared__ __align__(16) T Bs[2][BN * SROW];     // Bs[stage][n * SROW + k]: b's tile transposed, K contiguous
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = (warp / WARPS_N) * MWM, wn = (warp % WARPS_N) * MWN;
  const int64_t m0 = (int64_t)blockIdx.x * BM, n0 = (int64_t)blockIdx.y * BN;
  const int64_t ktiles = (p.K + MBK - 1) / MBK;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    const T* ap = a + z * p.sab;
    const T* bp = b + z * p.sbb;
    float acc[MT][NT][4];
    #pragma unroll
    for (int i = 0; i < MT; ++i)
      #pragma unroll
      for (int j = 0; j < NT; ++j)
        #pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.f;

    if (ktiles > 0) {
      load_tile<T, BM>(As[0], ap, m0, p.M, 0, p.K, p.sam, p.sak, async_a, tid);
      load_tile<T, BN>(Bs[0], bp, n0, p.N, 0, p.K, p.sbn, p.sbk, async_b, tid);
    }
    cp_async_commit();
    for (int64_t kt = 0; kt < ktiles; ++kt) {
      const int s = (int)(kt & 1);
      if (kt + 1 < ktiles) {                     // the next stage is in flight while this one multiplies
        load_tile<T, BM>(As[s ^ 1], ap, m0, p.M, (kt + 1) * MBK, p.K, p.sam, p.sak, async_a, tid);
        load_tile<T, BN>(Bs[s ^ 1], bp, n0, p.N, (kt + 1) * MBK, p.K, p.sbn, p.sbk, async_b, tid);
      }
      cp_async_commit();
      cp_async_wait1();                          // everything but the newest group has landed: stage s is complete
      __syncthreads();
      #pragma unroll
      for (int kk = 0; kk < MBK; kk += 16) {
        uint32_t af[MT][4], bf[NT][2];
        #pragma unroll
        for (int i = 0; i < MT; ++i)             // lanes 0-15: rows 0-15 at k, lanes 16-31: rows 0-15 at k + 8
          ldmatrix_x4(af[i], &As[s][(wm + i * 16 + lane % 16) * SROW + kk + (lane / 16) * 8]);
        #pragma unroll
        for (int j = 0; j < NT; j += 2) {        // two n8 tiles: lanes 0-7 / 8-15 the first at k / k + 8, 16-31 the second
          uint32_t r[4];
          ldmatrix_x4(r, &Bs[s][(wn + j * 8 + lane % 8 + (lane / 16) * 8) * SROW + kk + ((lane / 8) % 2) * 8]);
          bf[j][0] = r[0]; bf[j][1] = r[1]; bf[j + 1][0] = r[2]; bf[j + 1][1] = r[3];
        }
        #pragma unroll
        for (int i = 0; i < MT; ++i)
          #pragma unroll
          for (int j = 0; j < NT; ++j) MmaOp<T>::run(acc[i][j], af[i], bf[j]);
      }
      __syncthreads();                           // stage s is free for the load of iteration kt + 1
    }

    T* cp = c + z * p.M * p.N;
    #pragma unroll
    for (int i = 0; i < MT; ++i)
      #pragma unroll
      for (int j = 0; j < NT; ++j)
        #pragma unroll
        for (int r = 0; r < 4; ++r) {           // the C fragment: rows lane / 4 (+ 8 for r >= 2), cols 2 (lane % 4) + r % 2
          const int64_t m = m0 + wm + i * 16 + lane / 4 + (r / 2) * 8, n = n0 + wn + j * 8 + (lane % 4) * 2 + r % 2;
          if (m >= p.M || n >= p.N) continue;
          float v = acc[i][j][r];
          if (bias) v += to_float(bias[n]);
          cp[m * p.N + n] = from_float<T>(activate(v, p.act));
        }
  }
}

template <typename T>
cudaError_t launch(const void* a, const void* b, const void* bias, void* c, const MM& p, cudaStream_t stream) {
  const dim3 grid((unsigned)((p.M + BM - 1) / BM), (unsigned)((p.N + BN - 1) / BN),
                  (unsigned)(p.batch < 65535 ? p.batch : 65535));
  matmul_kernel<T><<<grid, NTHREADS, 0, stream>>>((const T*)a, (const T*)b, (const T*)bias, (T*)c, p);
  return cudaGetLastError();
}

// cp.async needs K-contiguous rows, row and batch strides that keep 16-byte alignment, and a 16-byte aligned base.
static bool async_ok(const void* base, int64_t s_batch, int64_t s_row, int64_t s_k) {
  return s_k == 1 && s_row % 8 == 0 && s_batch % 8 == 0 && ((uintptr_t)base % 16) == 0;
}

template <typename T>
cudaError_t launch_mma(const void* a, const void* b, const void* bias, void* c, const MM& p, cudaStream_t stream) {
  const dim3 grid((unsigned)((p.M + BM - 1) / BM), (unsigned)((p.N + BN - 1) / BN),
                  (unsigned)(p.batch < 65535 ? p.batch : 65535));
  matmul_mma_kernel<T><<<grid, MMA_THREADS, 0, stream>>>((const T*)a, (const T*)b, (const T*)bias, (T*)c, p,
                                                        async_ok(a, p.sab, p.sam, p.sak), async_ok(b, p.sbb, p.sbn, p.sbk));
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. a [batch, M, K] and b [batch, K, N] with strides sa/sb = {batch, row, col};
// bias [N] or null; c contiguous [batch, M, N]. act: 0 none, 1 gelu_tanh, 2 gelu, 3 relu, 4 silu.
// algo: 0 SIMT, 1 tensor cores (mma.sync) for float16 / bfloat16 (float32 stays on the SIMT kernel).
extern "C" cudaError_t ak_matmul_launch(int dtype, const void* a, const void* b, const void* bias, void* c,
                                        int64_t batch, int64_t M, int64_t N, int64_t K, const int64_t* sa,
                                        const int64_t* sb, int act, int algo, cudaStream_t stream) {
  if (batch * M * N == 0) return cudaSuccess;
  if ((M + BM - 1) / BM > 2147483647LL || (N + BN - 1) / BN > 65535) return cudaErrorInvalidValue;
  const MM p{batch, M, N, K, sa[0], sa[1], sa[2], sb[0], sb[1], sb[2], act};
  if (algo == 1 && dtype == 1) return launch_mma<__half>(a, b, bias, c, p, stream);
  if (algo == 1 && dtype == 2) return launch_mma<__nv_bfloat16>(a, b, bias, c, p, stream);
  switch (dtype) {
    case 0: return launch<float>(a, b, bias, c, p, stream);
    case 1: return launch<__half>(a, b, bias, c, p, stream);
    case 2: return launch<__nv_bfloat16>(a, b, bias, c, p, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ExpandUtils.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_matmul_launch(int dtype, const void* a, const void* b, const void* bias, void* c,
                                        int64_t batch, int64_t M, int64_t N, int64_t K, const int64_t* sa,
                                        const int64_t* sb, int act, int algo, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "matmul: unsupported dtype ", t.scalar_type()); return -1;
  }
}

static int act_code(const c10::optional<std::string>& act) {
  if (!act.has_value()) return 0;
  if (*act == "gelu_tanh") return 1;
  if (*act == "gelu") return 2;
  if (*act == "relu") return 3;
  if (*act == "silu") return 4;
  TORCH_CHECK(false, "matmul: unknown activation '", *act, "'");
  return -1;
}

torch::Tensor matmul_fwd(torch::Tensor a, torch::Tensor b, c10::optional<torch::Tensor> bias,
                         c10::optional<std::string> activation, int64_t algo) {
  TORCH_CHECK(a.is_cuda() && b.device() == a.device(), "matmul: a and b must be on one CUDA device");
  TORCH_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: a and b must have at least two dimensions");
  TORCH_CHECK(b.scalar_type() == a.scalar_type(), "matmul: a and b must have one dtype");
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  TORCH_CHECK(b.size(-2) == K, "matmul: a is [..., M, ", K, "] but b is [..., ", b.size(-2), ", N]");
  const int act = act_code(activation);
  const c10::cuda::CUDAGuard guard(a.device());
  torch::Tensor bias_c;
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->numel() == N && bias->device() == a.device() && bias->scalar_type() == a.scalar_type(),
                "matmul: bias must be [N] with a's dtype and device");
    bias_c = bias->reshape({N}).contiguous();
  }
  // Broadcast the leading dims like torch.matmul; a 2-D operand becomes batch stride 0 (a view, no copy).
  auto lead = at::infer_size(a.sizes().slice(0, a.dim() - 2), b.sizes().slice(0, b.dim() - 2));
  std::vector<int64_t> a_shape(lead.begin(), lead.end()), b_shape(lead.begin(), lead.end()), c_shape(lead.begin(), lead.end());
  a_shape.insert(a_shape.end(), {M, K});
  b_shape.insert(b_shape.end(), {K, N});
  c_shape.insert(c_shape.end(), {M, N});
  auto c = torch::empty(c_shape, a.options());
  if (c.numel() == 0) return c;
  int64_t batch = 1;
  for (auto s : lead) batch *= s;
  auto a3 = a.expand(a_shape).reshape({batch, M, K});          // K == 0 is fine: the epilogue sees zero sums
  auto b3 = b.expand(b_shape).reshape({batch, K, N});
  const int64_t sa[3] = {batch == 1 ? 0 : a3.stride(0), a3.stride(1), a3.stride(2)};
  const int64_t sb[3] = {batch == 1 ? 0 : b3.stride(0), b3.stride(1), b3.stride(2)};
  auto err = ak_matmul_launch(dtype_code(a), a3.data_ptr(), b3.data_ptr(), bias_c.defined() ? bias_c.data_ptr() : nullptr,
                              c.data_ptr(), batch, M, N, K, sa, sb, act, (int)algo, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "matmul kernel failed: ", cudaGetErrorString(err));
  return c;
}
'''

_MODULES = {}


def _module():
    "The build for the current tile sizes (compile-time constants, so each PARAMS set is its own cached build)."
    flags = tuple(f'-DAK_{k}={PARAMS[k]}' for k in ('BM', 'BN', 'BK', 'TM', 'TN', 'WM', 'WN'))
    if flags not in _MODULES:
        from autokernel.core import load_cuda
        _MODULES[flags] = load_cuda('ak_matmul', CPP_SRC, CUDA_SRC, ['matmul_fwd'], extra_cuda_cflags=flags)
    return _MODULES[flags]


ALGOS = {'simt': 0, 'mma': 1}


def kernel_fn(a, b, bias=None, *, activation=None):
    return _module().matmul_fwd(a, b, bias, activation, ALGOS[PARAMS['ALGO']])
