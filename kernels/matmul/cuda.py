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

This is a readable SIMT baseline in float32 arithmetic (no tensor cores): the next steps are `mma`/`wgmma`
tensor-core tiles, double buffering with `cp.async`/TMA, and swizzled shared memory.

Tile sizes are compile-time constants (`-DAK_BM=...` flags, part of the build's hash), so each PARAMS set is its own
build; the activation is a run-time argument.
"""

META = dict(kind='matmul', backend='cuda')
PARAMS = dict(BM=64, BN=64, BK=16, TM=4, TN=4)
SPACE = dict(BM=[32, 64, 128], BN=[32, 64, 128], BK=[8, 16, 32], TM=[4, 8], TN=[4, 8])

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

template <typename T>
cudaError_t launch(const void* a, const void* b, const void* bias, void* c, const MM& p, cudaStream_t stream) {
  const dim3 grid((unsigned)((p.M + BM - 1) / BM), (unsigned)((p.N + BN - 1) / BN),
                  (unsigned)(p.batch < 65535 ? p.batch : 65535));
  matmul_kernel<T><<<grid, NTHREADS, 0, stream>>>((const T*)a, (const T*)b, (const T*)bias, (T*)c, p);
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. a [batch, M, K] and b [batch, K, N] with strides sa/sb = {batch, row, col};
// bias [N] or null; c contiguous [batch, M, N]. act: 0 none, 1 gelu_tanh, 2 gelu, 3 relu, 4 silu.
extern "C" cudaError_t ak_matmul_launch(int dtype, const void* a, const void* b, const void* bias, void* c,
                                        int64_t batch, int64_t M, int64_t N, int64_t K, const int64_t* sa,
                                        const int64_t* sb, int act, cudaStream_t stream) {
  if (batch * M * N == 0) return cudaSuccess;
  if ((M + BM - 1) / BM > 2147483647LL || (N + BN - 1) / BN > 65535) return cudaErrorInvalidValue;
  const MM p{batch, M, N, K, sa[0], sa[1], sa[2], sb[0], sb[1], sb[2], act};
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
                                        const int64_t* sb, int act, cudaStream_t stream);

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
                         c10::optional<std::string> activation) {
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
                              c.data_ptr(), batch, M, N, K, sa, sb, act, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "matmul kernel failed: ", cudaGetErrorString(err));
  return c;
}
'''

_MODULES = {}


def _module():
    "The build for the current tile sizes (compile-time constants, so each PARAMS set is its own cached build)."
    flags = tuple(f'-DAK_{k}={PARAMS[k]}' for k in ('BM', 'BN', 'BK', 'TM', 'TN'))
    if flags not in _MODULES:
        from autokernel.core import load_cuda
        _MODULES[flags] = load_cuda('ak_matmul', CPP_SRC, CUDA_SRC, ['matmul_fwd'], extra_cuda_cflags=flags)
    return _MODULES[flags]


def kernel_fn(a, b, bias=None, *, activation=None):
    return _module().matmul_fwd(a, b, bias, activation)
