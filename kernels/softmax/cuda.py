"""Softmax over the last dimension, as a CUDA C++ kernel (the baseline of the `softmax` kind).

The algorithm, one row at a time
--------------------------------
`softmax(x)[i] = exp(x[i] - m) / sum_j exp(x[j] - m)` with `m = max_j x[j]`: subtracting the row maximum keeps
every `exp` in [0, 1], so nothing overflows. The classic way reads the row three times (max, sum, write).
We read it twice, using the *online* softmax trick: while scanning, each thread keeps a running maximum `m`
and a running sum `s` of `exp(x - m)`; when a larger value `v` arrives, the sum so far is rescaled by
`exp(m - v)` before `v` becomes the new maximum. Two partial results `(m1, s1)`, `(m2, s2)` merge the same way:
`M = max(m1, m2)`, `S = s1 exp(m1 - M) + s2 exp(m2 - M)`. So:

1. pass one: each thread folds its share of the row into its own `(m, s)`; the threads of the row then merge
   them (a max reduction, then a sum of the rescaled `s`, each a warp shuffle reduction plus one round
   through shared memory for the warps' partials);
2. pass two: each thread writes `exp(x - M) / S` for its share of the row.

Everything is computed in float32, whatever the input type (float, half or bfloat16); only the output is
rounded back to the input type. A fully masked row (all `-inf`) gives NaN, as PyTorch does.

The launch
----------
A block of `THREADS x ROWS` threads handles `ROWS` rows, `THREADS` threads per row (a multiple of 32, so a
warp never spans two rows). Rows longer than the block are handled by looping: thread `t` visits elements
`t, t + THREADS, ...` (in packs of `VEC` elements). Loads and stores use `VEC`-wide packs (e.g. 8 bf16 = one
16-byte transaction) when the row length, the row stride and both pointers allow it; otherwise the launcher
picks the widest pack that does, down to 1. Knobs that make no sense for a shape are clamped, never wrong.
"""

META = dict(kind='softmax', backend='cuda')
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

// VEC elements moved as one aligned load/store.
template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack { T v[VEC]; };

// Reduce over the threads of one row (threadIdx.x; blockDim.x a multiple of 32). Every thread gets the result.
// `red` holds one float per warp of the block. All threads of the block must call it (it synchronises).
template <bool IS_MAX>
__device__ __forceinline__ float row_reduce(float v, float* red) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = IS_MAX ? fmaxf(v, u) : v + u;
  }
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* r = red + threadIdx.y * nw;
  __syncthreads();                       // the previous reduction's readers are done with `red`
  if (lane == 0) r[w] = v;
  __syncthreads();
  v = lane < nw ? r[lane] : (IS_MAX ? -INFINITY : 0.f);
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = IS_MAX ? fmaxf(v, u) : v + u;
  }
  return v;
}

// Fold one value into a running (max, sum of exp(x - max)). -inf adds nothing; NaN poisons the sum.
__device__ __forceinline__ void online_add(float& m, float& s, float v) {
  if (v > m) { s = s * __expf(m - v) + 1.f; m = v; }
  else if (v != -INFINITY) { s += __expf(v - m); }
}

template <typename T, int VEC>
__global__ void softmax_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n,
                               int64_t x_stride, int64_t y_stride) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;          // invalid rows still take part in the block's barriers
  const T* xr = x + (valid ? row : 0) * x_stride;
  T* yr = y + (valid ? row : 0) * y_stride;
  const int64_t npack = valid ? n / VEC : 0;

  float m = -INFINITY, s = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(xr)[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) online_add(m, s, to_float(a.v[j]));
  }
  const float M = row_reduce<true>(m, red);
  const float S = row_reduce<false>(m == -INFINITY ? s * 0.f : s * __expf(m - M), red);
  const float inv = 1.f / S;

  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(xr)[p], b;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) b.v[j] = from_float<T>(__expf(to_float(a.v[j]) - M) * inv);
    reinterpret_cast<Pack<T, VEC>*>(yr)[p] = b;
  }
}

// Widest pack <= want that divides the row length and stride and keeps both pointers aligned.
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
cudaError_t launch(const void* x, void* y, int64_t rows, int64_t n, int64_t xs, int64_t ys,
                   int threads, int rows_per_block, int vec, cudaStream_t stream) {
  const dim3 block(threads, rows_per_block);
  const dim3 grid((unsigned)((rows + rows_per_block - 1) / rows_per_block));
  const T* xp = static_cast<const T*>(x);
  T* yp = static_cast<T*>(y);
  switch (vec) {
    case 8: softmax_kernel<T, 8><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, ys); break;
    case 4: softmax_kernel<T, 4><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, ys); break;
    case 2: softmax_kernel<T, 2><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, ys); break;
    default: softmax_kernel<T, 1><<<grid, block, 0, stream>>>(xp, yp, rows, n, xs, ys); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x is [rows, n] with row stride xs (elements), unit column stride.
extern "C" cudaError_t ak_softmax_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n,
                                         int64_t xs, int64_t ys, int threads, int rows_per_block, int vec,
                                         cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  const int esize = dtype == 0 ? 4 : 2;
  vec = pick_vec(vec, n, xs, x, y, esize);
  vec = pick_vec(vec, n, ys, x, y, esize);
  switch (dtype) {
    case 0: return launch<float>(x, y, rows, n, xs, ys, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(x, y, rows, n, xs, ys, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, y, rows, n, xs, ys, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_softmax_launch(int dtype, const void* x, void* y, int64_t rows, int64_t n,
                                         int64_t xs, int64_t ys, int threads, int rows_per_block, int vec,
                                         cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "softmax: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor softmax_fwd(torch::Tensor x, int64_t threads, int64_t rows_per_block, int64_t vec) {
  TORCH_CHECK(x.is_cuda(), "softmax: x must be a CUDA tensor");
  TORCH_CHECK(x.dim() >= 1, "softmax: x must have at least one dimension");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  const int64_t n = x.size(-1);
  if (x.numel() == 0) return y;
  auto x2 = x.reshape({-1, n});                      // a view when the leading dims collapse
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  const int64_t rows = x2.size(0);
  auto err = ak_softmax_launch(dtype_code(x), x2.data_ptr(), y.data_ptr(), rows, n, rows == 1 ? n : x2.stride(0), n,
                               (int)threads, (int)rows_per_block, (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "softmax kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_softmax', CPP_SRC, CUDA_SRC, ['softmax_fwd'])
    return _MODULE


def kernel_fn(x):
    return _module().softmax_fwd(x, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
