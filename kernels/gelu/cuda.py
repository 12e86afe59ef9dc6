"""GELU, as a CUDA C++ kernel (the baseline of the `gelu` kind).

Two flavours, as `torch.nn.functional.gelu(x, approximate=...)`:

* `'none'`: `x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`, the exact GELU;
* `'tanh'`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, Hugging Face's `NewGELUActivation` (GPT-2).
  Since `1 + tanh(u) = 2 / (1 + exp(-2u))`, we evaluate it as `x / (1 + exp(-2u))`: one `exp`, no
  cancellation near zero, and the right limits (`x` for large `x`, `-0` for very negative `x`).

The kernel is elementwise: each thread loads `VEC` elements at once (e.g. 8 bf16 = 16 bytes, one memory
transaction), converts them to float32, applies the function, rounds back and stores `VEC` elements. A grid-
stride loop covers any size. The input is seen as `rows x n` with a row stride (a contiguous tensor is one long
row), so strided views of the last dimension need no copy; `VEC` is lowered by the launcher until it divides the
row length and stride and both pointers are aligned to it (down to 1).
"""

META = dict(kind='gelu', backend='cuda')
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
__global__ void gelu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, int64_t x_stride,
                            bool tanh_approx) {
  const int64_t npack = n / VEC, total = rows * npack;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = i / npack, p = i - row * npack;
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(x + row * x_stride)[p], b;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) b.v[j] = from_float<T>(gelu_f(to_float(a.v[j]), tanh_approx));
    reinterpret_cast<Pack<T, VEC>*>(y + row * n)[p] = b;
  }
}

int pick_vec(int want, int64_t n, int64_t stride, const void* a, const void* b, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2) {
    const uintptr_t bytes = (uintptr_t)v * esize;
    if (n % v == 0 && stride % v == 0 && (uintptr_t)a % bytes == 0 && (uintptr_t)b % bytes == 0) break;
  }
  return v;
}

template <typename T>
cudaError_t launch(const void* x, void* y, int64_t rows, int64_t n, int64_t xs, bool t, int threads, int vec,
                   cudaStream_t stream) {
  const int64_t work = rows * (n / vec);
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks > (1 << 20)) blocks = 1 << 20;           // the grid-stride loop does the rest
  const T* xp = (const T*)x;
  T* yp = (T*)y;
  switch (vec) {
    case 8: gelu_kernel<T, 8><<<(unsigned)blocks, threads, 0, stream>>>(xp, yp, rows, n, xs, t); break;
    case 4: gelu_kernel<T, 4><<<(unsigned)blocks, threads, 0, stream>>>(xp, yp, rows, n, xs, t); break;
    case 2: gelu_kernel<T, 2><<<(unsigned)blocks, threads, 0, stream>>>(xp, yp, rows, n, xs, t); break;
    default: gelu_kernel<T, 1><<<(unsigned)blocks, threads, 0, stream>>>(xp, yp, rows, n, xs, t); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x is [rows, n] with row stride xs; y is contiguous.
extern "C" cudaError_t ak_gelu_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n, int64_t xs,
                                      int tanh_approx, int threads, int vec, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads);
  vec = pick_vec(vec, n, xs, x, y, dtype == 0 ? 4 : 2);
  const bool t = tanh_approx != 0;
  switch (dtype) {
    case 0: return launch<float>(x, y, rows, n, xs, t, threads, vec, stream);
    case 1: return launch<__half>(x, y, rows, n, xs, t, threads, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, y, rows, n, xs, t, threads, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_gelu_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n, int64_t xs,
                                      int tanh_approx, int threads, int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "gelu: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor gelu_fwd(torch::Tensor x, std::string approximate, int64_t threads, int64_t vec) {
  TORCH_CHECK(x.is_cuda(), "gelu: x must be a CUDA tensor");
  TORCH_CHECK(approximate == "tanh" || approximate == "none", "gelu: approximate must be 'tanh' or 'none'");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  if (x.numel() == 0) return y;
  // A contiguous tensor is one long row; otherwise rows of the last dimension, with their stride.
  torch::Tensor x2 = x.is_contiguous() || x.dim() == 0 ? x.reshape({1, x.numel()}) : x.reshape({-1, x.size(-1)});
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  const int64_t rows = x2.size(0), n = x2.size(1);
  auto err = ak_gelu_launch(dtype_code(x), x2.data_ptr(), y.data_ptr(), rows, n, rows == 1 ? n : x2.stride(0),
                            approximate == "tanh", (int)threads, (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "gelu kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_gelu', CPP_SRC, CUDA_SRC, ['gelu_fwd'])
    return _MODULE


def kernel_fn(x, *, approximate='tanh'):
    return _module().gelu_fwd(x, approximate, PARAMS['THREADS'], PARAMS['VEC'])
