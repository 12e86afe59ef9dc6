"""Rotary position embedding (RoPE), as a CUDA C++ kernel (the baseline of the `rotary` kind).

Hugging Face's `apply_rotary_pos_emb` for one tensor: `x * cos + rotate_half(x) * sin`, with
`rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2])` and the `[B, S, D]` tables broadcast over the heads. Written
out for a pair of positions `d < D/2` and `d + D/2` of one (batch, head, token) row:

    out[d]       = x[d]       * cos[d]       - x[d + D/2] * sin[d]
    out[d + D/2] = x[d + D/2] * cos[d + D/2] + x[d]       * sin[d + D/2]

so each pair is independent: one thread handles `VEC` consecutive pairs, reading `VEC` elements from each half of
`x`, `cos` and `sin` (one vector load each) and writing both halves. The arithmetic is float32 with one rounding
per output, where eager PyTorch rounds after each multiply and the add.

`x` may be any `[B, H, S, D]` view with a unit last stride (e.g. a `[B, S, H, D]` projection transposed to
heads-first, which needs no copy), and the tables may be broadcast over the batch (`[1, S, D]`, or a stride-0
view). A grid-stride loop covers any size; `VEC` is lowered until it divides `D/2` and every stride and pointer is
aligned to it (down to 1).
"""

META = dict(kind='rotary', backend='cuda')
PARAMS = dict(THREADS=256, VEC=4)
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

struct Dims {
  int64_t B, H, S, D;
  int64_t xb, xh, xs;      // x strides (elements) of batch, head, token; the last stride is 1
  int64_t cb, cs;          // cos/sin strides of batch (0 when broadcast) and token
};

template <typename T, int VEC>
__global__ void rotary_kernel(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin,
                              T* __restrict__ y, Dims d) {
  const int64_t half = d.D / 2, npair = half / VEC, total = d.B * d.H * d.S * npair;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = i / npair;
    const int64_t k = (i - r * npair) * VEC;                 // first position of this pack in the first half
    const int64_t s = r % d.S; r /= d.S;
    const int64_t h = r % d.H, b = r / d.H;
    const T* xr = x + b * d.xb + h * d.xh + s * d.xs;
    const int64_t c = b * d.cb + s * d.cs;
    T* yr = y + ((b * d.H + h) * d.S + s) * d.D;
    const Pack<T, VEC> x1 = *reinterpret_cast<const Pack<T, VEC>*>(xr + k);
    const Pack<T, VEC> x2 = *reinterpret_cast<const Pack<T, VEC>*>(xr + k + half);
    const Pack<T, VEC> c1 = *reinterpret_cast<const Pack<T, VEC>*>(cos + c + k);
    const Pack<T, VEC> c2 = *reinterpret_cast<const Pack<T, VEC>*>(cos + c + k + half);
    const Pack<T, VEC> s1 = *reinterpret_cast<const Pack<T, VEC>*>(sin + c + k);
    const Pack<T, VEC> s2 = *reinterpret_cast<const Pack<T, VEC>*>(sin + c + k + half);
    Pack<T, VEC> o1, o2;
    #pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const float a = to_float(x1.v[j]), b2 = to_float(x2.v[j]);
      o1.v[j] = from_float<T>(a * to_float(c1.v[j]) - b2 * to_float(s1.v[j]));
      o2.v[j] = from_float<T>(b2 * to_float(c2.v[j]) + a * to_float(s2.v[j]));
    }
    *reinterpret_cast<Pack<T, VEC>*>(yr + k) = o1;
    *reinterpret_cast<Pack<T, VEC>*>(yr + k + half) = o2;
  }
}

int pick_vec(int want, const int64_t* ns, int nn, const void* const* ptrs, int nptr, int esize) {
  int v = 1;
  while (v * 2 <= want) v *= 2;
  for (; v > 1; v /= 2) {
    bool ok = true;
    for (int i = 0; i < nn; ++i) ok = ok && ns[i] % v == 0;
    for (int i = 0; i < nptr; ++i) ok = ok && (uintptr_t)ptrs[i] % ((uintptr_t)v * esize) == 0;
    if (ok) break;
  }
  return v;
}

template <typename T>
cudaError_t launch(const void* x, const void* c, const void* s, void* y, Dims d, int threads, int vec,
                   cudaStream_t stream) {
  int64_t blocks = (d.B * d.H * d.S * (d.D / 2 / vec) + threads - 1) / threads;
  if (blocks > (1 << 20)) blocks = 1 << 20;           // the grid-stride loop does the rest
  const T *xp = (const T*)x, *cp = (const T*)c, *sp = (const T*)s;
  T* yp = (T*)y;
  switch (vec) {
    case 8: rotary_kernel<T, 8><<<(unsigned)blocks, threads, 0, stream>>>(xp, cp, sp, yp, d); break;
    case 4: rotary_kernel<T, 4><<<(unsigned)blocks, threads, 0, stream>>>(xp, cp, sp, yp, d); break;
    case 2: rotary_kernel<T, 2><<<(unsigned)blocks, threads, 0, stream>>>(xp, cp, sp, yp, d); break;
    default: rotary_kernel<T, 1><<<(unsigned)blocks, threads, 0, stream>>>(xp, cp, sp, yp, d); break;
  }
  return cudaGetLastError();
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. x [B, H, S, D] with strides (xb, xh, xs, 1); cos, sin [B, S, D] with
// strides (cb, cs, 1), cb = 0 when broadcast over the batch; y contiguous [B, H, S, D]. D must be even.
extern "C" cudaError_t ak_rotary_launch(int dtype, const void* x, const void* cos, const void* sin, void* y,
                                        int64_t B, int64_t H, int64_t S, int64_t D, int64_t xb, int64_t xh, int64_t xs,
                                        int64_t cb, int64_t cs, int threads, int vec, cudaStream_t stream) {
  if (B * H * S * D == 0) return cudaSuccess;
  if (D % 2) return cudaErrorInvalidValue;
  threads = threads < 32 ? 32 : (threads > 1024 ? 1024 : threads);
  const Dims d{B, H, S, D, xb, xh, xs, cb, cs};
  const int64_t ns[6] = {D / 2, xb, xh, xs, cb, cs};
  const void* ptrs[4] = {x, cos, sin, y};
  vec = pick_vec(vec, ns, 6, ptrs, 4, dtype == 0 ? 4 : 2);
  switch (dtype) {
    case 0: return launch<float>(x, cos, sin, y, d, threads, vec, stream);
    case 1: return launch<__half>(x, cos, sin, y, d, threads, vec, stream);
    case 2: return launch<__nv_bfloat16>(x, cos, sin, y, d, threads, vec, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

extern "C" cudaError_t ak_rotary_launch(int dtype, const void* x, const void* cos, const void* sin, void* y,
                                        int64_t B, int64_t H, int64_t S, int64_t D, int64_t xb, int64_t xh, int64_t xs,
                                        int64_t cb, int64_t cs, int threads, int vec, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "rotary: unsupported dtype ", t.scalar_type()); return -1;
  }
}

// A table broadcast to [B, S, D] (a view), with a unit last stride and matching strides for cos and sin.
static torch::Tensor table(const torch::Tensor& t, int64_t B, int64_t S, int64_t D) {
  TORCH_CHECK(t.dim() == 3 && (t.size(0) == B || t.size(0) == 1) && t.size(1) == S && t.size(2) == D,
              "rotary: cos and sin must be [B, S, D] or [1, S, D]");
  auto e = t.expand({B, S, D});
  return e.stride(2) == 1 ? e : e.contiguous();
}

torch::Tensor rotary_fwd(torch::Tensor x, torch::Tensor cos, torch::Tensor sin, int64_t threads, int64_t vec) {
  TORCH_CHECK(x.is_cuda() && cos.device() == x.device() && sin.device() == x.device(),
              "rotary: inputs must be on one CUDA device");
  TORCH_CHECK(x.dim() == 4, "rotary: x must be [B, H, S, D]");
  TORCH_CHECK(cos.scalar_type() == x.scalar_type() && sin.scalar_type() == x.scalar_type(),
              "rotary: cos and sin must have x's dtype");
  const int64_t B = x.size(0), H = x.size(1), S = x.size(2), D = x.size(3);
  TORCH_CHECK(D % 2 == 0, "rotary: the head dimension must be even");
  const c10::cuda::CUDAGuard guard(x.device());
  auto y = torch::empty(x.sizes(), x.options());
  if (x.numel() == 0) return y;
  auto xv = x.stride(3) == 1 ? x : x.contiguous();
  auto c = table(cos, B, S, D), s = table(sin, B, S, D);
  if (c.strides() != s.strides()) { c = c.contiguous(); s = s.contiguous(); }
  auto err = ak_rotary_launch(dtype_code(x), xv.data_ptr(), c.data_ptr(), s.data_ptr(), y.data_ptr(), B, H, S, D,
                              xv.stride(0), xv.stride(1), xv.stride(2), c.stride(0), c.stride(1), (int)threads,
                              (int)vec, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "rotary kernel failed: ", cudaGetErrorString(err));
  return y;
}
'''

_MODULE = None


def _module():
    global _MODULE
    if _MODULE is None:
        from autokernel.core import load_cuda
        _MODULE = load_cuda('ak_rotary', CPP_SRC, CUDA_SRC, ['rotary_fwd'])
    return _MODULE


def kernel_fn(x, cos, sin):
    return _module().rotary_fwd(x, cos, sin, PARAMS['THREADS'], PARAMS['VEC'])
