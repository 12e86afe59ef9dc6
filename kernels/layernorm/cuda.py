"""LayerNorm over the last dimension, as a CUDA C++ kernel (the baseline of the `layernorm` kind).

The algorithm, one row at a time
--------------------------------
`y = (x - mean) / sqrt(var + eps) * weight + bias`, with the biased variance `var = mean((x - mean)^2)`,
exactly as `torch.nn.functional.layer_norm`. We compute it in three passes over the row, in float32:

1. sum the row, shifted by its first element (exact for constant rows) -> `mean`;
2. sum `(x - mean)^2` -> `var`. This *two-pass* variance is exact where the one-pass `E[x^2] - E[x]^2`
   cancels catastrophically for rows with a large mean;
3. write `(x - mean) * rstd * weight + bias`, rounded to the input type.

Passes 2 and 3 re-read the row; it was just read by the same block, so they hit the L2 cache. Each sum is a
reduction over the threads of the row: a warp shuffle tree, then one round through shared memory for the
warps' partial sums.

The launch
----------
A block of `THREADS x ROWS` threads handles `ROWS` rows, `THREADS` threads per row (a multiple of 32). Rows
longer than the block are handled by looping. Loads and stores move `VEC` elements at once when the row length,
the row stride and every pointer allow it; otherwise the launcher picks the widest pack that does, down to 1.
`weight` and `bias` may be None (no affine transform), like PyTorch's.
"""

META = dict(kind='layernorm', backend='cuda')
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
// All threads of the block must call it (it synchronises).
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
__global__ void layernorm_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                 T* __restrict__ y, int64_t rows, int64_t n, int64_t x_stride, float eps) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const Pack<T, VEC>* xr = reinterpret_cast<const Pack<T, VEC>*>(x + (valid ? row : 0) * x_stride);
  Pack<T, VEC>* yr = reinterpret_cast<Pack<T, VEC>*>(y + (valid ? row : 0) * n);
  const int64_t npack = valid ? n / VEC : 0;

  // Sum x - x[0] rather than x: a constant row then sums to exactly 0 and its mean is exactly x[0], so
  // x - mean is exactly 0 (a rounded mean would leave a residue that rstd = 1/sqrt(eps) blows up).
  const float shift = valid ? to_float(x[row * x_stride]) : 0.f;
  float s = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) s += to_float(a.v[j]) - shift;
  }
  const float mean = shift + row_sum(s, red) / (float)n;

  float q = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) { const float d = to_float(a.v[j]) - mean; q += d * d; }
  }
  const float rstd = rsqrtf(row_sum(q, red) / (float)n + eps);

  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p], out;
    Pack<T, VEC> wp, bp;
    if (w) wp = reinterpret_cast<const Pack<T, VEC>*>(w)[p];
    if (b) bp = reinterpret_cast<const Pack<T, VEC>*>(b)[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      float v = (to_float(a.v[j]) - mean) * rstd;
      if (w) v *= to_float(wp.v[j]);
      if (b) v += to_float(bp.v[j]);
      out.v[j] = from_float<T>(v);
    }
    yr[p] = out;
  }
}

// Widest pack <= want dividing n and the row stride and keeping every (non-null) pointer aligned.
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
cudaError_t launch(const void* x, const void* w, const void* b, void* y, int64_t rows, int64_t n, int64_t xs,
                   float eps, int threads, int rpb, int vec, cudaStream_t stream) {
  const dim3 block(threads, rpb), grid((unsigned)((rows + rpb - 1) / rpb));
  const T *xp = (const T*)x, *wp = (const T*)w, *bp = (const T*)b;
  T* yp = (T*)y;
  switch (vec) {
    case 8: layernorm_kernel<T, 8><<<grid, block, 0, stream>>>(xp, wp, bp, yp, rows, n, xs, eps); break;
    case 4: layernorm_kernel<T, 4><<<grid, block, 0, stream>>>(xp, wp, bp, yp, rows, n, xs, eps); break;
    case 2: layernorm_kernel<T, 2><<<grid, block, 0, stream>>>(xp, wp, bp, yp, rows, n, xs, eps); break;
    default: layernorm_kernel<T, 1><<<grid, block, 0, stream>>>(xp, wp, bp, yp, rows, n, xs, eps); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x is [rows, n] with row stride xs; y is contiguous; w, b may be null.
extern "C" cudaError_t ak_layernorm_launch(int dtype, const void* x, const void* w, const void* b, void* y,
                                           int64_t rows, int64_t n, int64_t xs, float eps, int threads,
                                           int rows_per_block, int vec, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  const void* ptrs[4] = {x, y, w ? w : x, b ? b : x};
  vec = pick_vec(vec, n, xs, ptrs, 4, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(x, w, b, y, rows, n, xs, eps, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(x, w, b, y, rows, n, xs, eps, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, w, b, y, rows, n, xs, eps, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_layernorm_launch(int dtype, const void* x, const void* w, const void* b, void* y,
                                           int64_t rows, int64_t n, int64_t xs, float eps, int threads,
                                           int rows_per_block, int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "layernorm: unsupported dtype ", t.scalar_type()); return -1;
  }
}

// An optional per-feature vector ([n], same dtype and device as x), made contiguous; null when absent.
static const void* param_ptr(const c10::optional<torch::Tensor>& p, const torch::Tensor& x, int64_t n,
                             torch::Tensor& keep, const char* name) {
  if (!p.has_value() || !p->defined()) return nullptr;
  TORCH_CHECK(p->device() == x.device(), "layernorm: ", name, " must be on x's device");
  TORCH_CHECK(p->scalar_type() == x.scalar_type(), "layernorm: ", name, " must have x's dtype");
  TORCH_CHECK(p->numel() == n, "layernorm: ", name, " must have ", n, " elements");
  keep = p->contiguous();
  return keep.data_ptr();
}

torch::Tensor layernorm_fwd(torch::Tensor x, c10::optional<torch::Tensor> weight, c10::optional<torch::Tensor> bias,
                            double eps, int64_t threads, int64_t rows_per_block, int64_t vec) {
  TORCH_CHECK(x.is_cuda(), "layernorm: x must be a CUDA tensor");
  TORCH_CHECK(x.dim() >= 1, "layernorm: x must have at least one dimension");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  const int64_t n = x.size(-1);
  if (x.numel() == 0) return y;
  torch::Tensor wk, bk;
  const void* w = param_ptr(weight, x, n, wk, "weight");
  const void* b = param_ptr(bias, x, n, bk, "bias");
  auto x2 = x.reshape({-1, n});
  if (x2.stride(1) != 1) x2 = x2.contiguous();
  const int64_t rows = x2.size(0);
  auto err = ak_layernorm_launch(dtype_code(x), x2.data_ptr(), w, b, y.data_ptr(), rows, n,
                                 rows == 1 ? n : x2.stride(0), (float)eps, (int)threads, (int)rows_per_block,
                                 (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "layernorm kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_layernorm', CPP_SRC, CUDA_SRC, ['layernorm_fwd'])
    return _MODULE


def kernel_fn(x, weight, bias, *, eps=1e-5):
    return _module().layernorm_fwd(x, weight, bias, eps, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
