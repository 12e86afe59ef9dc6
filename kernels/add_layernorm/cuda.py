"""Residual add fused with LayerNorm, as a CUDA C++ kernel (the baseline of the `add_layernorm` kind).

`h = x + residual; return layer_norm(h), h` -- the pre-norm transformer's "add the block's output to the
residual stream, then normalise it for the next block". Unfused, PyTorch reads `x` and `residual`, writes `h`,
then reads `h` again (and again) for the norm. Fused, one block per row does it all:

1. read `x` and `residual`, write `h = x + residual` rounded to the input type (it is an output: the residual
   stream), and sum the *rounded* `h`, shifted by its first element (exact for constant rows) -> `mean`. Normalising the rounded value means the first output is exactly
   the layer norm of the second, as in eager PyTorch;
2. re-read `h` (each thread reads back only what it wrote itself, so no barrier is needed; an L2 hit) and sum
   `(h - mean)^2` -> `var` (the exact two-pass variance);
3. write `(h - mean) * rsqrt(var + eps) * weight + bias`.

All arithmetic is float32. Row sums are a warp shuffle tree plus one round through shared memory.

The launch: a block of `THREADS x ROWS` threads handles `ROWS` rows, `THREADS` (a multiple of 32) per row;
longer rows loop. `VEC` elements move per load/store when lengths, strides and pointers allow it; otherwise the
launcher picks the widest pack that does, down to 1. `weight`/`bias` may be None.
"""

META = dict(kind='add_layernorm', backend='cuda')
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
__global__ void add_layernorm_kernel(const T* __restrict__ x, const T* __restrict__ r, const T* __restrict__ w,
                                     const T* __restrict__ b, T* __restrict__ y, T* __restrict__ h,
                                     int64_t rows, int64_t n, int64_t x_stride, int64_t r_stride, float eps) {
  __shared__ float red[32];
  const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
  const bool valid = row < rows;
  const int64_t rr = valid ? row : 0;
  const Pack<T, VEC>* xr = reinterpret_cast<const Pack<T, VEC>*>(x + rr * x_stride);
  const Pack<T, VEC>* rsr = reinterpret_cast<const Pack<T, VEC>*>(r + rr * r_stride);
  Pack<T, VEC>* hr = reinterpret_cast<Pack<T, VEC>*>(h + rr * n);
  Pack<T, VEC>* yr = reinterpret_cast<Pack<T, VEC>*>(y + rr * n);
  const int64_t npack = valid ? n / VEC : 0;

  // Sum h - h[0] rather than h: a constant row then has mean exactly h[0] and h - mean exactly 0.
  const float shift = valid ? to_float(from_float<T>(to_float(x[rr * x_stride]) + to_float(r[rr * r_stride]))) : 0.f;
  float s = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = xr[p], c = rsr[p], out;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      out.v[j] = from_float<T>(to_float(a.v[j]) + to_float(c.v[j]));
      s += to_float(out.v[j]) - shift;
    }
    hr[p] = out;
  }
  const float mean = shift + row_sum(s, red) / (float)n;

  float q = 0.f;
  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = hr[p];
    #pragma unroll
    for (int j = 0; j < VEC; ++j) { const float d = to_float(a.v[j]) - mean; q += d * d; }
  }
  const float rstd = rsqrtf(row_sum(q, red) / (float)n + eps);

  for (int64_t p = threadIdx.x; p < npack; p += blockDim.x) {
    Pack<T, VEC> a = hr[p], out, wp, bp;
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
cudaError_t launch(const void* x, const void* r, const void* w, const void* b, void* y, void* h, int64_t rows,
                   int64_t n, int64_t xs, int64_t rs, float eps, int threads, int rpb, int vec, cudaStream_t stream) {
  const dim3 block(threads, rpb), grid((unsigned)((rows + rpb - 1) / rpb));
  const T *xp = (const T*)x, *rp = (const T*)r, *wp = (const T*)w, *bp = (const T*)b;
  T *yp = (T*)y, *hp = (T*)h;
  switch (vec) {
    case 8: add_layernorm_kernel<T, 8><<<grid, block, 0, stream>>>(xp, rp, wp, bp, yp, hp, rows, n, xs, rs, eps); break;
    case 4: add_layernorm_kernel<T, 4><<<grid, block, 0, stream>>>(xp, rp, wp, bp, yp, hp, rows, n, xs, rs, eps); break;
    case 2: add_layernorm_kernel<T, 2><<<grid, block, 0, stream>>>(xp, rp, wp, bp, yp, hp, rows, n, xs, rs, eps); break;
    default: add_layernorm_kernel<T, 1><<<grid, block, 0, stream>>>(xp, rp, wp, bp, yp, hp, rows, n, xs, rs, eps); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x, r are [rows, n] with row strides xs, rs; y, h contiguous;
// w, b may be null.
extern "C" cudaError_t ak_add_layernorm_launch(int dtype, const void* x, const void* r, const void* w, const void* b,
                                               void* y, void* h, int64_t rows, int64_t n, int64_t xs, int64_t rs,
                                               float eps, int threads, int rows_per_block, int vec,
                                               cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads / 32 * 32);
  rows_per_block = rows_per_block < 1 ? 1 : rows_per_block;
  while (threads * rows_per_block > 1024) rows_per_block /= 2;
  const void* ptrs[6] = {x, r, y, h, w ? w : x, b ? b : x};
  const int64_t strides[2] = {xs, rs};
  vec = pick_vec(vec, n, strides, 2, ptrs, 6, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(x, r, w, b, y, h, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    case 1: return launch<__half>(x, r, w, b, y, h, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, r, w, b, y, h, rows, n, xs, rs, eps, threads, rows_per_block, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_add_layernorm_launch(int dtype, const void* x, const void* r, const void* w, const void* b,
                                               void* y, void* h, int64_t rows, int64_t n, int64_t xs, int64_t rs,
                                               float eps, int threads, int rows_per_block, int vec,
                                               cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "add_layernorm: unsupported dtype ", t.scalar_type()); return -1;
  }
}

static const void* param_ptr(const c10::optional<torch::Tensor>& p, const torch::Tensor& x, int64_t n,
                             torch::Tensor& keep, const char* name) {
  if (!p.has_value() || !p->defined()) return nullptr;
  TORCH_CHECK(p->device() == x.device(), "add_layernorm: ", name, " must be on x's device");
  TORCH_CHECK(p->scalar_type() == x.scalar_type(), "add_layernorm: ", name, " must have x's dtype");
  TORCH_CHECK(p->numel() == n, "add_layernorm: ", name, " must have ", n, " elements");
  keep = p->contiguous();
  return keep.data_ptr();
}

static torch::Tensor rows_view(const torch::Tensor& t, int64_t n) {
  auto t2 = t.reshape({-1, n});
  return t2.stride(1) == 1 ? t2 : t2.contiguous();
}

std::vector<torch::Tensor> add_layernorm_fwd(torch::Tensor x, torch::Tensor residual,
                                             c10::optional<torch::Tensor> weight, c10::optional<torch::Tensor> bias,
                                             double eps, int64_t threads, int64_t rows_per_block, int64_t vec) {
  TORCH_CHECK(x.is_cuda() && residual.device() == x.device(), "add_layernorm: x and residual must be on one CUDA device");
  TORCH_CHECK(x.dim() >= 1, "add_layernorm: x must have at least one dimension");
  TORCH_CHECK(residual.sizes() == x.sizes(), "add_layernorm: residual must have x's shape");
  TORCH_CHECK(residual.scalar_type() == x.scalar_type(), "add_layernorm: residual must have x's dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  auto h = torch::empty(x.sizes(), x.options());
  const int64_t n = x.size(-1);
  if (x.numel() == 0) return {y, h};
  torch::Tensor wk, bk;
  const void* w = param_ptr(weight, x, n, wk, "weight");
  const void* b = param_ptr(bias, x, n, bk, "bias");
  auto x2 = rows_view(x, n), r2 = rows_view(residual, n);
  const int64_t rows = x2.size(0);
  auto err = ak_add_layernorm_launch(dtype_code(x), x2.data_ptr(), r2.data_ptr(), w, b, y.data_ptr(), h.data_ptr(),
                                     rows, n, rows == 1 ? n : x2.stride(0), rows == 1 ? n : r2.stride(0), (float)eps,
                                     (int)threads, (int)rows_per_block, (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "add_layernorm kernel failed: ", cudaGetErrorString(err));
  return {y, h};
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_add_layernorm', CPP_SRC, CUDA_SRC, ['add_layernorm_fwd'])
    return _MODULE


def kernel_fn(x, residual, weight, bias, *, eps=1e-5):
    y, h = _module().add_layernorm_fwd(x, residual, weight, bias, eps, PARAMS['THREADS'], PARAMS['ROWS'], PARAMS['VEC'])
    return y, h
