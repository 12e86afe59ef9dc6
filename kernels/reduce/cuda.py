"""Sum or mean over the last dimension, as a CUDA C++ kernel (the baseline of the `reduce` kind).

`x.sum(-1)` or `x.mean(-1)`: the result has `x`'s dtype, but (as in PyTorch) the accumulation is float32 for
half and bfloat16 inputs, and the rounding happens once, on the final value.

The algorithm, one row at a time: each thread adds up its share of the row (elements `t, t + THREADS, ...`, read
in packs of `VEC`), then the threads of the row combine their partial sums: a tree of warp shuffles
(`__shfl_xor_sync`, 5 steps for 32 lanes), the warps' results through shared memory, and one more shuffle tree.
The mean divides the sum by the row length.

Short rows are common (e.g. summing over a head dimension), so a block handles `ROWS` rows side by side with
`THREADS` threads each (a multiple of 32, so a warp never spans two rows): many short rows per block keep the GPU
busy without idle threads. `VEC` is lowered by the launcher until it divides the row length and stride and the
pointer is aligned to it (down to 1).
"""

META = dict(kind='reduce', backend='cuda')
PARAMS = dict(THREADS=256, ROWS=1, VEC=8)
SPACE = dict(THREADS=[32, 64, 128, 256, 512, 1024], ROWS=[1, 2, 4, 8], VEC=[1, 2, 4, 8])

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
__global__ void reduce_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, int64_t stride,
                              bool mean) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const Pack<T, VEC>* xr = reinterpret_cast<const Pack<T, VEC>*>(x + (valid ? row : 0) * stride);
  const int64_t npack = valid ? n / VEC : 0;
  float s = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) s += to_float(a.v[j]);
  }
  s = row_sum(s, red);
  if (valid && threadIdx.x == 0) y[row] = from_float<T>(mean ? s / (float)n : s);
}

int pick_vec(int want, int64_t n, int64_t stride, const void* a, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2)
    if (n % v == 0 && stride % v == 0 && (uintptr_t)a % ((uintptr_t)v * esize) == 0) break;
  return v;
}

template <typename T>
cudaError_t launch(const void* x, void* y, int64_t rows, int64_t n, int64_t xs, bool mean, int threads, int rpb,
                   int vec, cudaStream_t stream) {
  const dim3 block(threads, rpb), grid((unsigned)((rows + rpb - 1) / rpb));
  const T* xp = (const T*)x;
  T* yp = (T*)y;
  switch (vec) {
    case 8: reduce_kernel<T, 8><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, mean); break;
    case 4: reduce_kernel<T, 4><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, mean); break;
    case 2: reduce_kernel<T, 2><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, mean); break;
    default: reduce_kernel<T, 1><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, mean); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x is [rows, n] with row stride xs; y is [rows]. op: 0 sum, 1 mean.
extern "C" cudaError_t ak_reduce_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n, int64_t xs, int op,
                                        int threads, int rows_per_block, int vec, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  vec = pick_vec(vec, n, xs, x, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(x, y, rows, n, xs, op == 1, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(x, y, rows, n, xs, op == 1, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, y, rows, n, xs, op == 1, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_reduce_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n, int64_t xs, int op,
                                        int threads, int rows_per_block, int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "reduce: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor reduce_fwd(torch::Tensor x, std::string op, int64_t threads, int64_t rows_per_block, int64_t vec) {
  TORCH_CHECK(x.is_cuda(), "reduce: x must be a CUDA tensor");
  TORCH_CHECK(x.dim() >= 1, "reduce: x must have at least one dimension");
  TORCH_CHECK(op == "sum" || op == "mean", "reduce: op must be 'sum' or 'mean'");
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t n = x.size(-1);
  auto y = torch::empty(x.sizes().slice(0, x.dim() - 1), x.options());
  if (y.numel() == 0) return y;
  if (n == 0) return op == "sum" ? y.zero_() : y.fill_(NAN);           // empty sum 0, empty mean NaN
  auto x2 = x.reshape({-1, n});
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  const int64_t rows = x2.size(0);
  auto err = ak_reduce_launch(dtype_code(x), x2.data_ptr(), y.data_ptr(), rows, n, rows == 1 ? n : x2.stride(0),
                              op == "mean", (int)threads, (int)rows_per_block, (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "reduce kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_reduce', CPP_SRC, CUDA_SRC, ['reduce_fwd'])
    return _MODULE


def kernel_fn(x, *, op='sum'):
    return _module().reduce_fwd(x, op, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
