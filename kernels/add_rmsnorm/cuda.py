"""Residual add + RMSNorm over the last dimension, as a CUDA C++ kernel (the baseline of the `add_rmsnorm` kind).

The numerics are a Hugging Face LLaMA decoder layer's, step for step:

    s = (residual + x).to(x.dtype)                       # the residual add, rounded as eager rounds it
    h = s.float() * rsqrt(mean(s.float()^2) + eps)       # LlamaRMSNorm, in float32
    y = weight * h.to(x.dtype)

and both `y` and `s` (the next residual) are written. The unfused chain writes `s`, reads it back for the norm and
runs the norm's five kernels; here `x` and `residual` are read once.

The algorithm, one row at a time
--------------------------------
1. each thread adds its share of the two rows, rounds the sum, stores it and sums its squares (float32); the threads of
   the row add their partial sums (a warp shuffle tree, then one round through shared memory);
2. each thread re-reads its share of `s` (an L2 hit: it wrote it) and writes `weight * round(s * rstd)`.

The launch
----------
A block of `THREADS x ROWS` threads handles `ROWS` rows; longer rows loop. Loads and stores move `VEC` elements at once
when the row length, the row strides and every pointer allow it; otherwise the launcher picks the widest pack that
does, down to 1.
"""

META = dict(kind='add_rmsnorm', backend='cuda')
PARAMS = dict(THREADS=256, ROWS=1, VEC=8)
SPACE = dict(THREADS=[32, 64, 128, 256, 512, 1024], ROWS=[1, 2, 4], VEC=[1, 2, 4, 8])

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

// Sum over the threads of one row (threadIdx.x; blockDim.x a multiple of 32); every thread gets the result.
__device__ __forceinline__ float row_sum(float v, float* red) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* r = red + threadIdx.y * nw;
  __syncthreads();
  if (lane == 0) r[w] = v;
  __syncthreads();
  v = lane < nw ? r[lane] : 0.f;
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T, int VEC>
__global__ void add_rmsnorm_kernel(const T* __restrict__ x, const T* __restrict__ r, const T* __restrict__ w,
                                   T* __restrict__ y, T* __restrict__ s, int64_t rows, int64_t n, int64_t x_stride,
                                   int64_t r_stride, float eps) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const Pack<T, VEC>* xr = reinterpret_cast<const Pack<T, VEC>*>(x + (valid ? row : 0) * x_stride);
  const Pack<T, VEC>* rr = reinterpret_cast<const Pack<T, VEC>*>(r + (valid ? row : 0) * r_stride);
  Pack<T, VEC>* yr = reinterpret_cast<Pack<T, VEC>*>(y + (valid ? row : 0) * n);
  Pack<T, VEC>* sr = reinterpret_cast<Pack<T, VEC>*>(s + (valid ? row : 0) * n);
  const Pack<T, VEC>* wr = reinterpret_cast<const Pack<T, VEC>*>(w);
  const int64_t npack = valid ? n / VEC : 0;

  float q = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p], b = rr[p], sum;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      sum.v[j] = from_float<T>(to_float(a.v[j]) + to_float(b.v[j]));   // rounded as eager's add rounds
      const float v = to_float(sum.v[j]);
      q += v * v;
    }
    sr[p] = sum;
  }
  const float rstd = rsqrtf(row_sum(q, red) / (float)n + eps);   // row_sum's barriers also order the stores of s

  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = sr[p], wp = wr[p], out;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const float h = to_float(from_float<T>(to_float(a.v[j]) * rstd));   // HF: .to(input_dtype) first
      out.v[j] = from_float<T>(to_float(wp.v[j]) * h);
    }
    yr[p] = out;
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
cudaError_t launch(const void* x, const void* r, const void* w, void* y, void* s, int64_t rows, int64_t n, int64_t xs,
                   int64_t rs, float eps, int threads, int rpb, int vec, cudaStream_t stream) {
  const dim3 block(threads, rpb), grid((unsigned)((rows + rpb - 1) / rpb));
  const T *xp = (const T*)x, *rp = (const T*)r, *wp = (const T*)w;
  T *yp = (T*)y, *sp = (T*)s;
  switch (vec) {
    case 8: add_rmsnorm_kernel<T, 8><<<grid, block, 0, stream>>>(xp, rp, wp, yp, sp, rows, n, xs, rs, eps); break;
    case 4: add_rmsnorm_kernel<T, 4><<<grid, block, 0, stream>>>(xp, rp, wp, yp, sp, rows, n, xs, rs, eps); break;
    case 2: add_rmsnorm_kernel<T, 2><<<grid, block, 0, stream>>>(xp, rp, wp, yp, sp, rows, n, xs, rs, eps); break;
    default: add_rmsnorm_kernel<T, 1><<<grid, block, 0, stream>>>(xp, rp, wp, yp, sp, rows, n, xs, rs, eps); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x, r are [rows, n] with row strides xs, rs; w is [n]; y and s are contiguous.
extern "C" cudaError_t ak_add_rmsnorm_launch(int dtype, const void* x, const void* r, const void* w, void* y, void* s,
                                             int64_t rows, int64_t n, int64_t xs, int64_t rs, float eps, int threads,
                                             int rows_per_block, int vec, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  const void* ptrs[5] = {x, r, y, s, w};
  vec = pick_vec(vec, n, xs, ptrs, 5, dtype == 0 ? 4 : 2);
  while (vec > 1 && rs % vec) vec /= 2;
  switch (dtype) {
    case 0: return launch<float>(x, r, w, y, s, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(x, r, w, y, s, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, r, w, y, s, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_add_rmsnorm_launch(int dtype, const void* x, const void* r, const void* w, void* y, void* s,
                                             int64_t rows, int64_t n, int64_t xs, int64_t rs, float eps, int threads,
                                             int rows_per_block, int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "add_rmsnorm: unsupported dtype ", t.scalar_type()); return -1;
  }
}

static torch::Tensor rows_of(const torch::Tensor& t, int64_t n) {
  auto t2 = t.reshape({-1, n});
  return t2.stride(1) == 1 ? t2 : t2.contiguous();
}

std::vector<torch::Tensor> add_rmsnorm_fwd(torch::Tensor x, torch::Tensor residual, torch::Tensor weight, double eps,
                                           int64_t threads, int64_t rows_per_block, int64_t vec) {
  TORCH_CHECK(x.is_cuda() && residual.device() == x.device() && weight.device() == x.device(),
              "add_rmsnorm: x, residual and weight must be on one CUDA device");
  TORCH_CHECK(x.dim() >= 1 && residual.sizes() == x.sizes(), "add_rmsnorm: residual must have x's shape");
  TORCH_CHECK(residual.scalar_type() == x.scalar_type() && weight.scalar_type() == x.scalar_type(),
              "add_rmsnorm: residual and weight must have x's dtype");
  const int64_t n = x.size(-1);
  TORCH_CHECK(weight.numel() == n, "add_rmsnorm: weight must have ", n, " elements");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  auto s = torch::empty(x.sizes(), x.options());
  if (x.numel() == 0) return {y, s};
  auto w = weight.contiguous();
  auto x2 = rows_of(x, n), r2 = rows_of(residual, n);
  const int64_t rows = x2.size(0);
  auto err = ak_add_rmsnorm_launch(dtype_code(x), x2.data_ptr(), r2.data_ptr(), w.data_ptr(), y.data_ptr(), s.data_ptr(),
                                   rows, n, rows == 1 ? n : x2.stride(0), rows == 1 ? n : r2.stride(0), (float)eps,
                                   (int)threads, (int)rows_per_block, (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "add_rmsnorm kernel failed: ", cudaGetErrorString(err));
  return {y, s};
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_add_rmsnorm', CPP_SRC, CUDA_SRC, ['add_rmsnorm_fwd'])
    return _MODULE


def kernel_fn(x, residual, weight, *, eps=1e-6):
    y, s = _module().add_rmsnorm_fwd(x, residual, weight, eps, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
    return y, s
