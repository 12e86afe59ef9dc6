"""Per-row cross-entropy loss, as a CUDA C++ kernel (the baseline of the `cross_entropy` kind).

`loss[r] = logsumexp(logits[r]) - logits[r, target[r]]`, in float32, exactly what
`F.cross_entropy(logits.float(), target, reduction='none')` returns. With a language model's vocabulary
(GPT-2: 50257) a row is long, so the job is a fast, numerically safe `logsumexp` over a large row.

The algorithm, one row at a time
--------------------------------
`logsumexp(x) = m + log(sum_j exp(x[j] - m))` with `m = max_j x[j]`, so no `exp` overflows. We need only one
pass over the row thanks to the *online* trick: each thread keeps a running maximum `m` and a running sum
`s = sum exp(x - m)` over the elements it has seen; when a larger value `v` arrives, `s` is rescaled by
`exp(m - v)` and `m` becomes `v`. The threads of the row then merge their `(m, s)` pairs: a max reduction gives
the row maximum `M`, and each thread's sum rescaled by `exp(m - M)` is added up (warp shuffles, then one round
through shared memory). Thread 0 then reads the target's logit and writes `M + log(S) - x[target]`.

A target equal to -100 (PyTorch's default `ignore_index`) gives a loss of 0, as PyTorch does; any other
target outside `[0, V)` gives NaN (PyTorch would raise a device-side assert).

The launch: a block of `THREADS x ROWS` threads handles `ROWS` rows, `THREADS` (a multiple of 32) per row, each
thread looping over the row in packs of `VEC` elements when the row length, row stride and pointer allow
(otherwise the widest pack that does, down to 1).
"""

META = dict(kind='cross_entropy', backend='cuda')
PARAMS = dict(THREADS=1024, ROWS=1, VEC=8)
SPACE = dict(THREADS=[128, 256, 512, 1024], ROWS=[1, 2, 4], VEC=[1, 2, 4, 8])

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

template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack { T v[VEC]; };

// Reduce over the threads of one row (threadIdx.x; blockDim.x a multiple of 32); every thread gets the result.
template <bool IS_MAX>
__device__ __forceinline__ float row_reduce(float v, float* red) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = IS_MAX ? fmaxf(v, u) : v + u;
  }
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* r = red + threadIdx.y * nw;
  __syncthreads();
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
__global__ void cross_entropy_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                     float* __restrict__ loss, int64_t rows, int64_t V, int64_t stride) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const T* xr = logits + (valid ? row : 0) * stride;
  const int64_t npack = valid ? V / VEC : 0;

  float m = -INFINITY, s = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = reinterpret_cast<const Pack<T, VEC>*>(xr)[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) online_add(m, s, to_float(a.v[j]));
  }
  const float M = row_reduce<true>(m, red);
  const float S = row_reduce<false>(m == -INFINITY ? s * 0.f : s * __expf(m - M), red);

  if (valid && threadIdx.x == 0) {
    const int64_t t = target[row];
    float l;
    if (t == -100) l = 0.f;                                   // ignore_index
    else if (t < 0 || t >= V) l = NAN;
    else l = M + logf(S) - to_float(xr[t]);
    loss[row] = l;
  }
}

int pick_vec(int want, int64_t n, int64_t stride, const void* a, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2)
    if (n % v == 0 && stride % v == 0 && (uintptr_t)a % ((uintptr_t)v * esize) == 0) break;
  return v;
}

template <typename T>
cudaError_t launch(const void* x, const int64_t* t, float* loss, int64_t rows, int64_t V, int64_t xs, int threads,
                   int rpb, int vec, cudaStream_t stream) {
  const dim3 block(threads, rpb), grid((unsigned)((rows + rpb - 1) / rpb));
  const T* xp = (const T*)x;
  switch (vec) {
    case 8: cross_entropy_kernel<T, 8><<<grid, block, 0, stream>>>(xp, t, loss, rows, V, xs); break;
    case 4: cross_entropy_kernel<T, 4><<<grid, block, 0, stream>>>(xp, t, loss, rows, V, xs); break;
    case 2: cross_entropy_kernel<T, 2><<<grid, block, 0, stream>>>(xp, t, loss, rows, V, xs); break;
    default: cross_entropy_kernel<T, 1><<<grid, block, 0, stream>>>(xp, t, loss, rows, V, xs); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. logits is [rows, V] with row stride xs; target [rows] int64;
// loss [rows] float32.
extern "C" cudaError_t ak_cross_entropy_launch(int dtype, const void* logits, const int64_t* target, float* loss,
                                               int64_t rows, int64_t V, int64_t xs, int threads, int rows_per_block,
                                               int vec, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  vec = pick_vec(vec, V, xs, logits, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(logits, target, loss, rows, V, xs, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(logits, target, loss, rows, V, xs, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(logits, target, loss, rows, V, xs, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_cross_entropy_launch(int dtype, const void* logits, const int64_t* target, float* loss,
                                               int64_t rows, int64_t V, int64_t xs, int threads, int rows_per_block,
                                               int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "cross_entropy: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor cross_entropy_fwd(torch::Tensor logits, torch::Tensor target, int64_t threads, int64_t rows_per_block,
                                int64_t vec) {
  TORCH_CHECK(logits.is_cuda() && target.device() == logits.device(), "cross_entropy: inputs must be on one CUDA device");
  TORCH_CHECK(logits.dim() >= 1, "cross_entropy: logits must have at least one dimension");
  TORCH_CHECK(target.scalar_type() == torch::kLong, "cross_entropy: target must be int64");
  const int64_t V = logits.size(-1);
  TORCH_CHECK(target.numel() * V == logits.numel(), "cross_entropy: one target per row of logits");
  const c10::cuda::CUDAGuard guard(logits.device());
  auto loss = torch::empty(logits.sizes().slice(0, logits.dim() - 1), logits.options().dtype(torch::kFloat));
  if (target.numel() == 0) return loss;
  TORCH_CHECK(V > 0, "cross_entropy: empty rows");
  auto x2 = logits.reshape({-1, V});
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  auto t = target.reshape({-1}).contiguous();
  const int64_t rows = x2.size(0);
  auto err = ak_cross_entropy_launch(dtype_code(logits), x2.data_ptr(), t.data_ptr<int64_t>(), loss.data_ptr<float>(),
                                     rows, V, rows == 1 ? V : x2.stride(0), (int)threads, (int)rows_per_block, (int)vec,
                                     at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "cross_entropy kernel failed: ", cudaGetErrorString(err));
  return loss;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_cross_entropy', CPP_SRC, CUDA_SRC, ['cross_entropy_fwd'])
    return _MODULE


def kernel_fn(logits, target):
    return _module().cross_entropy_fwd(logits, target, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
