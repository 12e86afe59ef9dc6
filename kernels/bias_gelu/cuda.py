"""Bias add fused with GELU, as a CUDA C++ kernel (the baseline of the `bias_gelu` kind).

`gelu(x + bias)` with `bias` broadcast over the last dimension: the epilogue of a transformer MLP's first
linear layer when the matmul itself runs without bias. Unfused, PyTorch writes `x + bias` to memory and reads it
back; fused, each element is read once and written once. The sum stays in float32 between the add and the GELU.

GELU comes in two flavours (`approximate`): `'none'` is `0.5 x (1 + erf(x / sqrt 2))`; `'tanh'` is
`0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (Hugging Face's `NewGELUActivation`), evaluated as
`x / (1 + exp(-2u))` since `1 + tanh(u) = 2 / (1 + exp(-2u))`.

The kernel sees `x` as `rows x n` (`n` = the bias length) with a row stride. A grid-stride loop walks packs of `VEC`
consecutive elements of a row (one 16-byte transaction for 8 bf16), so a pack never straddles two rows and its
bias is one aligned `VEC`-wide load too. The launcher lowers `VEC` until it divides `n` and the row stride and
all pointers are aligned to it (down to 1).
"""

META = dict(kind='bias_gelu', backend='cuda')
PARAMS = dict(THREADS=256, VEC=8)
SPACE = dict(THREADS=[64, 128, 256, 512, 1024], VEC=[1, 2, 4, 8])

CUDA_SRC = r'''
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <math.h>

namespace {

// Conversions spelled out: PyTorch builds with __CUDA_NO_HALF_OPERATORS__ / __CUDA_NO_BFLOAT16_CONVERSIONS__.
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack { T v[VEC]; };

__device__ __forceinline__ float gelu_f(float x, bool tanh_approx) {
  if (tanh_approx) {
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.f + __expf(-2.f * u));
  }
  return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
}

template <typename T, int VEC>
__global__ void bias_gelu_kernel(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                                 int64_t rows, int64_t n, int64_t x_stride, bool tanh_approx) {
  const int64_t npack = n / VEC, total = rows * npack;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = i / npack, p = i - row * npack;
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(x + row * x_stride)[p];
    Pack<T, VEC> b = reinterpret_cast<const Pack<T, VEC>*>(bias)[p], o;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(gelu_f(to_float(a.v[j]) + to_float(b.v[j]), tanh_approx));
    reinterpret_cast<Pack<T, VEC>*>(y + row * n)[p] = o;
  }
}

int pick_vec(int want, int64_t n, int64_t stride, const void* const* ptrs, int nptr, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2) {
    bool ok = n % v == 0 && stride % v == 0;
    for (int i = 0; i < nptr; ++i) ok = ok && (uintptr_t)ptrs[i] % ((uintptr_t)v * esize) == 0;
    if (ok) break;
  }
  return v;
}

template <typename T>
cudaError_t launch(const void* x, const void* b, void* y, int64_t rows, int64_t n, int64_t xs, bool t, int threads,
                   int vec, cudaStream_t stream) {
  int64_t blocks = (rows * (n / vec) + threads - 1) / threads;
  if (blocks > (1 << 20)) blocks = 1 << 20;           // the grid-stride loop does the rest
  const T *xp = (const T*)x, *bp = (const T*)b;
  T* yp = (T*)y;
  switch (vec) {
    case 8: bias_gelu_kernel<T, 8><<<(unsigned)blocks, threads, 0, stream>>>(xp, bp, yp, rows, n, xs, t); break;
    case 4: bias_gelu_kernel<T, 4><<<(unsigned)blocks, threads, 0, stream>>>(xp, bp, yp, rows, n, xs, t); break;
    case 2: bias_gelu_kernel<T, 2><<<(unsigned)blocks, threads, 0, stream>>>(xp, bp, yp, rows, n, xs, t); break;
    default: bias_gelu_kernel<T, 1><<<(unsigned)blocks, threads, 0, stream>>>(xp, bp, yp, rows, n, xs, t); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x is [rows, n] with row stride xs; bias is [n]; y is contiguous.
extern "C" cudaError_t ak_bias_gelu_launch(int dtype, const void* x, const void* bias, void* y, int64_t rows,
                                           int64_t n, int64_t xs, int tanh_approx, int threads, int vec,
                                           cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads);
  const void* ptrs[3] = {x, bias, y};
  vec = pick_vec(vec, n, xs, ptrs, 3, dtype == 0 ? 4 : 2);
  const bool t = tanh_approx != 0;
  switch (dtype) {
    case 0: return launch<float>(x, bias, y, rows, n, xs, t, threads, vec, stream);
    case 1: return launch<__half>(x, bias, y, rows, n, xs, t, threads, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, bias, y, rows, n, xs, t, threads, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_bias_gelu_launch(int dtype, const void* x, const void* bias, void* y, int64_t rows,
                                           int64_t n, int64_t xs, int tanh_approx, int threads, int vec,
                                           cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "bias_gelu: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor bias_gelu_fwd(torch::Tensor x, torch::Tensor bias, std::string approximate, int64_t threads,
                            int64_t vec) {
  TORCH_CHECK(x.is_cuda() && bias.device() == x.device(), "bias_gelu: x and bias must be on one CUDA device");
  TORCH_CHECK(approximate == "tanh" || approximate == "none", "bias_gelu: approximate must be 'tanh' or 'none'");
  TORCH_CHECK(x.dim() >= 1 && bias.numel() == x.size(-1), "bias_gelu: bias must have x.size(-1) elements");
  TORCH_CHECK(bias.scalar_type() == x.scalar_type(), "bias_gelu: bias must have x's dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  if (x.numel() == 0) return y;
  const int64_t n = x.size(-1);
  auto b = bias.contiguous();
  auto x2 = x.reshape({-1, n});
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  const int64_t rows = x2.size(0);
  auto err = ak_bias_gelu_launch(dtype_code(x), x2.data_ptr(), b.data_ptr(), y.data_ptr(), rows, n,
                                 rows == 1 ? n : x2.stride(0), approximate == "tanh", (int)threads, (int)vec,
                                 at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "bias_gelu kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_bias_gelu', CPP_SRC, CUDA_SRC, ['bias_gelu_fwd'])
    return _MODULE


def kernel_fn(x, bias, *, approximate='tanh'):
    return _module().bias_gelu_fwd(x, bias, approximate, PARAMS['THREADS'], PARAMS['VEC'])
