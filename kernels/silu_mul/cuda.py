"""SiLU-gated product `silu(gate) * up`, as a CUDA C++ kernel (the baseline of the `silu_mul` kind).

The gate of a LLaMA-style MLP: `down(silu(gate(x)) * up(x))`. `silu(g) = g * sigmoid(g) = g / (1 + exp(-g))`.
Unfused, PyTorch writes `silu(gate)` to memory and reads it back for the product; fused, each input element is
read once and each output element written once, with the arithmetic in float32 and one rounding at the end.

`gate` and `up` are often the two halves of one projection (`gate, up = proj(x).chunk(2, -1)`), i.e. views whose
rows are strided. So the kernel sees each tensor as `rows x n` with its own row stride (a pair of contiguous
tensors is one long row) and needs no copy. A grid-stride loop walks packs of `VEC` consecutive elements of a row
(one 16-byte transaction for 8 bf16); the launcher lowers `VEC` until it divides `n` and both row strides and all
pointers are aligned to it (down to 1).
"""

META = dict(kind='silu_mul', backend='cuda')
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

template <typename T, int VEC>
__global__ void silu_mul_kernel(const T* __restrict__ g, const T* __restrict__ u, T* __restrict__ y, int64_t rows,
                                int64_t n, int64_t g_stride, int64_t u_stride) {
  const int64_t npack = n / VEC, total = rows * npack;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t row = i / npack, p = i - row * npack;
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(g + row * g_stride)[p];
    Pack<T, VEC> b = reinterpret_cast<const Pack<T, VEC>*>(u + row * u_stride)[p], o;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const float gv = to_float(a.v[j]);
      o.v[j] = from_float<T>(gv / (1.f + __expf(-gv)) * to_float(b.v[j]));
    }
    reinterpret_cast<Pack<T, VEC>*>(y + row * n)[p] = o;
  }
}

int pick_vec(int want, int64_t n, const int64_t* strides, int nstride, const void* const* ptrs, int nptr, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2) {
    bool ok = n % v == 0;
    for (int i = 0; i < nstride; ++i) ok = ok && strides[i] % v == 0;
    for (int i = 0; i < nptr; ++i) ok = ok && (uintptr_t)ptrs[i] % ((uintptr_t)v * esize) == 0;
    if (ok) break;
  }
  return v;
}

template <typename T>
cudaError_t launch(const void* g, const void* u, void* y, int64_t rows, int64_t n, int64_t gs, int64_t us,
                   int threads, int vec, cudaStream_t stream) {
  int64_t blocks = (rows * (n / vec) + threads - 1) / threads;
  if (blocks > (1 << 20)) blocks = 1 << 20;           // the grid-stride loop does the rest
  const T *gp = (const T*)g, *up = (const T*)u;
  T* yp = (T*)y;
  switch (vec) {
    case 8: silu_mul_kernel<T, 8><<<(unsigned)blocks, threads, 0, stream>>>(gp, up, yp, rows, n, gs, us); break;
    case 4: silu_mul_kernel<T, 4><<<(unsigned)blocks, threads, 0, stream>>>(gp, up, yp, rows, n, gs, us); break;
    case 2: silu_mul_kernel<T, 2><<<(unsigned)blocks, threads, 0, stream>>>(gp, up, yp, rows, n, gs, us); break;
    default: silu_mul_kernel<T, 1><<<(unsigned)blocks, threads, 0, stream>>>(gp, up, yp, rows, n, gs, us); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. gate, up are [rows, n] with row strides gs, us; y is contiguous.
extern "C" cudaError_t ak_silu_mul_launch(int dtype, const void* gate, const void* up, void* y, int64_t rows,
                                          int64_t n, int64_t gs, int64_t us, int threads, int vec,
                                          cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads);
  const void* ptrs[3] = {gate, up, y};
  const int64_t strides[2] = {gs, us};
  vec = pick_vec(vec, n, strides, 2, ptrs, 3, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(gate, up, y, rows, n, gs, us, threads, vec, stream);
    case 1: return launch<__half>(gate, up, y, rows, n, gs, us, threads, vec, stream);
    case 2: return launch<__nv_bfloat16>(gate, up, y, rows, n, gs, us, threads, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_silu_mul_launch(int dtype, const void* gate, const void* up, void* y, int64_t rows,
                                          int64_t n, int64_t gs, int64_t us, int threads, int vec,
                                          cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "silu_mul: unsupported dtype ", t.scalar_type()); return -1;
  }
}

// [rows, n] view with unit column stride: one long row when contiguous, else rows of the last dimension.
static torch::Tensor rows_view(const torch::Tensor& t, bool flat) {
  auto t2 = flat ? t.reshape({1, t.numel()}) : t.reshape({-1, t.size(-1)});
  return t2.stride(1) == 1 ? t2 : t2.contiguous();
}

torch::Tensor silu_mul_fwd(torch::Tensor gate, torch::Tensor up, int64_t threads, int64_t vec) {
  TORCH_CHECK(gate.is_cuda() && up.device() == gate.device(), "silu_mul: gate and up must be on one CUDA device");
  TORCH_CHECK(gate.sizes() == up.sizes(), "silu_mul: gate and up must have one shape");
  TORCH_CHECK(gate.scalar_type() == up.scalar_type(), "silu_mul: gate and up must have one dtype");
  const c10::cuda::CUDAGuard guard(gate.device());
  auto y = torch::empty(gate.sizes(), gate.options());
  if (gate.numel() == 0) return y;
  const bool flat = gate.dim() == 0 || (gate.is_contiguous() && up.is_contiguous());
  auto g2 = rows_view(gate, flat), u2 = rows_view(up, flat);
  const int64_t rows = g2.size(0), n = g2.size(1);
  auto err = ak_silu_mul_launch(dtype_code(gate), g2.data_ptr(), u2.data_ptr(), y.data_ptr(), rows, n,
                                rows == 1 ? n : g2.stride(0), rows == 1 ? n : u2.stride(0), (int)threads, (int)vec,
                                at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "silu_mul kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_silu_mul', CPP_SRC, CUDA_SRC, ['silu_mul_fwd'])
    return _MODULE


def kernel_fn(gate, up):
    return _module().silu_mul_fwd(gate, up, PARAMS['THREADS'], PARAMS['VEC'])
