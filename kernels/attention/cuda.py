"""Scaled dot-product attention, flash-style, as a CUDA C++ kernel (the baseline of the `attention` kind).

`softmax(q k^T * scale [+ bias] [+ causal / window mask]) v` for `q [B, H, S, D]`, `k, v [B, Hkv, Sk, D]`, exactly as
`F.scaled_dot_product_attention` (top-left causal mask: query `i` sees keys `j <= i`), with grouped-query
attention: query head `h` reads key/value head `h / (H / Hkv)`. The default scale is `1 / sqrt(D)`. An additive
bias (SDPA's float `attn_mask`: T5's relative position bias, a padding mask; a boolean mask is turned into 0 / -inf
first) broadcasts to `[B, H, S, Sk]` through its strides (stride 0 on broadcast dims) and is read per score; a
sliding `window` (with causal) lets query `i` see keys `i - window + 1 .. i` and skips the key tiles before it.

The algorithm: never build the `S x Sk` score matrix
----------------------------------------------------
The naive way writes all scores to memory, softmaxes them and multiplies by `v`: `O(S * Sk)` memory traffic.
Flash attention streams the keys in tiles instead and keeps, per query, a running maximum `m`, a running
normaliser `l = sum exp(s - m)` and a running output `acc = sum exp(s - m) v`. For each new tile of scores `s`:

    m_new = max(m, max(s));   alpha = exp(m - m_new)            # rescale what was accumulated so far
    p = exp(s - m_new);       l = l * alpha + sum(p);   acc = acc * alpha + p @ v_tile
    m = m_new

and at the end `out = acc / l`. Scores never leave the chip.

This kernel's layout
--------------------
A block of `WARPS` warps handles `WARPS * QPW` consecutive queries of one (batch, head): each warp owns `QPW`
queries. Keys come in tiles of 32, one per lane, staged in shared memory (as float32) by the whole block, so every
query of the block reuses each tile. For a tile, lane `j` computes the score of key `j` against each of its
warp's queries (a `D`-long dot product from shared memory; the queries are staged pre-multiplied by
`scale`, scores stay in natural units and `exp(x)` is `exp2(x * log2 e)`); a warp shuffle reduction gives the tile maximum and the sum of `p`;
then each lane accumulates its `D / 32` output dimensions over the 32 keys, reading `p_j` from lane `j` with a
shuffle. With a causal mask, key tiles past the block's last query are skipped and the rest are masked per key.
The head dimension may be anything up to 256 (each lane holds up to 8 output dimensions per query).
`QPW` sizes register arrays, so it is a compile-time constant (`-DAK_QPW=...`, part of the build's hash): each
value is its own build; `WARPS` is a launch argument.

Two algorithms, picked by `ALGO` (a run-time argument; one build holds both):
- `'simt'`: the kernel above, every dtype and head dims up to 256.
- `'mma'`: tensor cores (`mma.sync.m16n8k16`, inline PTX) for bfloat16 / float16 and head dims up to 128 (padded with
  zeros to 64 or 128), FlashAttention-2's layout: each warp owns 16 queries; a block of `WARPS` warps stages its
  `16 * WARPS` queries and, tile after tile, 32 keys and values in shared memory (16-bit, rows padded by 16 bytes).
  `S = Q K^T` is `D / 16` mma k-steps per 16x8 score tile, the A fragment (queries) and B fragment (keys, stored
  `[key][d]`, which is the `.col` operand) read with `ldmatrix.x4`. The scale, the bias, the causal / window / length
  masks and the online softmax work on the score fragment in registers (a row lives in the 4 lanes of a quad: its
  maximum is two xor-shuffles). The probabilities then become the A fragment of `P V` without leaving registers (the
  C fragment of two adjacent 16x8 score tiles is exactly the A fragment of one 16x16 step, packed to 16 bits) and
  `V` is read with `ldmatrix.x4.trans` (stored `[key][d]`, transposed on the way to the B fragment). Other dtypes,
  larger heads and float32 use the SIMT kernel.
"""

META = dict(kind='attention', backend='cuda')
PARAMS = dict(ALGO='mma', WARPS=4, QPW=2)   # mma: correct on the H200 (session 7), not yet timed
SPACE = dict(ALGO=['simt', 'mma'], WARPS=[1, 2, 4, 8], QPW=[1, 2, 4])

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

constexpr int KT = 32;   // keys per tile: one per lane
#ifndef AK_QPW
#define AK_QPW 2         // queries per warp: a compile-time constant (it sizes the register arrays)
#endif
constexpr int QPW = AK_QPW;

struct Shape {
  int64_t B, H, Hkv, S, Sk, D;
  int64_t qb, qh, qs, kb, kh, ks, vb, vh, vs;   // strides (elements); the last stride of q, k, v is 1
  float qscale;                                // scale (scores stay in natural units: no overflow near float32's max)
  bool causal;
  int64_t window;                              // 0: none; else query i sees keys > i - window
  int64_t bb, bh, bs, bk;                      // bias strides (elements); the bias pointer may be null
};

__device__ __forceinline__ float warp_max(float v) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  #pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// DPL: output dimensions per lane (D <= 32 * DPL).
template <typename T, int DPL>
__global__ void attention_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                 const T* __restrict__ bias, T* __restrict__ o, Shape p) {
  extern __shared__ float smem[];
  const int D = (int)p.D, nwarps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int qpb = nwarps * QPW;                                  // queries per block
  float* qs = smem;                                              // [qpb][D]
  float* ks = qs + qpb * D;                                      // [KT][D + 1] (padded: no bank conflicts)
  float* vs = ks + KT * (D + 1);                                 // [KT][D]

  const int64_t b = blockIdx.z, h = blockIdx.y, hk = h / (p.H / p.Hkv);
  const int64_t q0 = (int64_t)blockIdx.x * qpb;
  const T* qg = q + b * p.qb + h * p.qh;
  const T* kg = k + b * p.kb + hk * p.kh;
  const T* vg = v + b * p.vb + hk * p.vh;
  const T* bg = bias ? bias + b * p.bb + h * p.bh : nullptr;

  for (int i = threadIdx.x; i < qpb * D; i += blockDim.x) {
    const int r = i / D, d = i - r * D;
    qs[i] = q0 + r < p.S ? to_float(qg[(q0 + r) * p.qs + d]) * p.qscale : 0.f;
  }

  float m[QPW], l[QPW], acc[QPW][DPL];
  #pragma unroll
  for (int r = 0; r < QPW; ++r) {
    m[r] = -INFINITY; l[r] = 0.f;
    #pragma unroll
    for (int t = 0; t < DPL; ++t) acc[r][t] = 0.f;
  }

  const int64_t q_last = min(q0 + qpb, p.S) - 1;
  const int64_t k_end = p.causal ? min(p.Sk, q_last + 1) : p.Sk;
  const int64_t k_begin = p.window > 0 ? max((int64_t)0, q0 - p.window + 1) / KT * KT : 0;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += KT) {
    __syncthreads();                                             // everyone is done with the previous tile
    for (int i = threadIdx.x; i < KT * D; i += blockDim.x) {
      const int j = i / D, d = i - j * D;
      const bool in = k0 + j < p.Sk;
      ks[j * (D + 1) + d] = in ? to_float(kg[(k0 + j) * p.ks + d]) : 0.f;
      vs[j * D + d] = in ? to_float(vg[(k0 + j) * p.vs + d]) : 0.f;
    }
    __syncthreads();

    #pragma unroll
    for (int r = 0; r < QPW; ++r) {
      const int qi = warp * QPW + r;
      const int64_t qpos = q0 + qi;
      // lane j: score of key k0 + j (log2 units)
      const float* qrow = qs + qi * D;
      const float* krow = ks + lane * (D + 1);
      float s = 0.f;
      for (int d = 0; d < D; ++d) s += qrow[d] * krow[d];
      const int64_t key = k0 + lane;
      if (bg && key < p.Sk && qpos < p.S) {
        const float bv = to_float(bg[qpos * p.bs + key * p.bk]);
        s += bv;                                                 // natural units: HF's finfo.min masks add as in SDPA
      }
      if (key >= p.Sk || (p.causal && key > qpos) || (p.window > 0 && key <= qpos - p.window)) s = -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(s));
      // m_new == -inf: every key so far is masked; keep everything at zero
      const float alpha = m_new == -INFINITY ? 1.f : exp2f((m[r] - m_new) * 1.4426950408889634f);
      const float pj = m_new == -INFINITY ? 0.f : exp2f((s - m_new) * 1.4426950408889634f);
      l[r] = l[r] * alpha + warp_sum(pj);
      m[r] = m_new;
      #pragma unroll
      for (int t = 0; t < DPL; ++t) acc[r][t] *= alpha;
      for (int j = 0; j < KT; ++j) {
        const float pk = __shfl_sync(0xffffffffu, pj, j);
        const float* vrow = vs + j * D;
        #pragma unroll
        for (int t = 0; t < DPL; ++t) {
          const int d = lane + 32 * t;
          if (d < D) acc[r][t] += pk * vrow[d];
        }
      }
    }
  }

  #pragma unroll
  for (int r = 0; r < QPW; ++r) {
    const int64_t qpos = q0 + warp * QPW + r;
    if (qpos >= p.S) continue;
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;             // a row with no visible key: zeros
    T* orow = o + ((b * p.H + h) * p.S + qpos) * p.D;
    #pragma unroll
    for (int t = 0; t < DPL; ++t) {
      const int d = lane + 32 * t;
      if (d < D) orow[d] = from_float<T>(acc[r][t] * inv);
    }
  }
}

template <typename T, int DPL>
cudaError_t launch2(const void* q, const void* k, const void* v, const void* bias, void* o, const Shape& p, int warps,
                    cudaStream_t st) {
  const int qpb = warps * QPW;
  const size_t smem = sizeof(float) * ((size_t)qpb * p.D + (size_t)KT * (p.D + 1) + (size_t)KT * p.D);
  auto kern = attention_kernel<T, DPL>;
  if (smem > 48 * 1024) {
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
  }
  const dim3 grid((unsigned)((p.S + qpb - 1) / qpb), (unsigned)p.H, (unsigned)p.B);
  kern<<<grid, warps * 32, smem, st>>>((const T*)q, (const T*)k, (const T*)v, (const T*)bias, (T*)o, p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch(const void* q, const void* k, const void* v, const void* bias, void* o, const Shape& p, int warps,
                   cudaStream_t st) {
  if (p.D <= 64) return launch2<T, 2>(q, k, v, bias, o, p, warps, st);
  if (p.D <= 128) return launch2<T, 4>(q, k, v, bias, o, p, warps, st);
  return launch2<T, 8>(q, k, v, bias, o, p, warps, st);
}

// ---- tensor cores: FlashAttention-2 on mma.sync m16n8k16 (bf16 / fp16, fp32 accumulation), head dims <= 128 ----

constexpr int TKV = 32;                 // keys per tile
constexpr int TC_NS = TKV / 8;          // 16x8 score tiles per warp and key tile

template <typename T> struct Mma16816;
template <> struct Mma16816<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);           // .x (the lower 16 bits) = lo
    return *reinterpret_cast<uint32_t*>(&v);
  }
};
template <> struct Mma16816<__half> {
  static __device__ __forceinline__ void run(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
};

__device__ __forceinline__ void ldsm_x4(uint32_t* r, const void* p) {
  const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t* r, const void* p) {
  const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}

// DP: the head dim padded to 64 or 128 (zeros past D). Shared: Q [16 * warps][DP + 8], K and V [TKV][DP + 8].
template <typename T, int DP>
__global__ void attention_mma_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                     const T* __restrict__ bias, T* __restrict__ o, Shape p) {
  constexpr int RS = DP + 8;                                     // row pitch (elements): 16-byte aligned, fewer conflicts
  constexpr int NO = DP / 8;                                     // 16x8 output tiles per warp
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* Qs = reinterpret_cast<T*>(tc_smem);
  const int nwarps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int bq = 16 * nwarps;
  T* Ks = Qs + bq * RS;
  T* Vs = Ks + TKV * RS;
  const int D = (int)p.D;
  const int64_t b = blockIdx.z, h = blockIdx.y, hk = h / (p.H / p.Hkv);
  const int64_t q0 = (int64_t)blockIdx.x * bq;
  const T* qg = q + b * p.qb + h * p.qh;
  const T* kg = k + b * p.kb + hk * p.kh;
  const T* vg = v + b * p.vb + hk * p.vh;
  const T* bg = bias ? bias + b * p.bb + h * p.bh : nullptr;
  const T zero = from_float<T>(0.f);

  for (int i = threadIdx.x; i < bq * DP; i += blockDim.x) {      // the block's queries, unscaled (scale on the scores)
    const int r = i / DP, d = i % DP;
    Qs[r * RS + d] = (q0 + r < p.S && d < D) ? qg[(q0 + r) * p.qs + d] : zero;
  }

  // this thread's two rows: qrow[0] = lane / 4, qrow[1] = lane / 4 + 8 of the warp's 16
  const int64_t qpos[2] = {q0 + warp * 16 + lane / 4, q0 + warp * 16 + lane / 4 + 8};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  float acc[NO][4];
  #pragma unroll
  for (int j = 0; j < NO; ++j)
    #pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.f;

  const int64_t q_last = min(q0 + bq, p.S) - 1;
  const int64_t k_end = p.causal ? min(p.Sk, q_last + 1) : p.Sk;
  const int64_t k_begin = p.window > 0 ? max((int64_t)0, q0 - p.window + 1) / TKV * TKV : 0;
  constexpr float LOG2E = 1.4426950408889634f;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += TKV) {
    __syncthreads();                                             // everyone is done with the previous K / V tile
    for (int i = threadIdx.x; i < TKV * DP; i += blockDim.x) {
      const int j = i / DP, d = i % DP;
      const bool in = k0 + j < p.Sk && d < D;
      Ks[j * RS + d] = in ? kg[(k0 + j) * p.ks + d] : zero;
      Vs[j * RS + d] = in ? vg[(k0 + j) * p.vs + d] : zero;
    }
    __syncthreads();

    float s[TC_NS][4];                                           // scores: tile n, (row lane/4 | +8) x (col 2 (lane%4) | +1)
    #pragma unroll
    for (int n = 0; n < TC_NS; ++n)
      #pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = 0.f;
    #pragma unroll
    for (int kk = 0; kk < DP; kk += 16) {
      uint32_t a[4];
      ldsm_x4(a, &Qs[(warp * 16 + lane % 16) * RS + kk + (lane / 16) * 8]);
      #pragma unroll
      for (int n = 0; n < TC_NS; n += 2) {                       // two 8-key tiles per ldmatrix.x4
        uint32_t r[4];
        ldsm_x4(r, &Ks[(n * 8 + lane % 8 + (lane / 16) * 8) * RS + kk + ((lane / 8) % 2) * 8]);
        Mma16816<T>::run(s[n], a, r[0], r[1]);
        Mma16816<T>::run(s[n + 1], a, r[2], r[3]);
      }
    }

    float tmax[2] = {-INFINITY, -INFINITY};
    #pragma unroll
    for (int n = 0; n < TC_NS; ++n)
      #pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e / 2;
        const int64_t key = k0 + n * 8 + (lane % 4) * 2 + e % 2, qp = qpos[rr];
        float x = s[n][e] * p.qscale;
        if (bg && key < p.Sk && qp < p.S) x += to_float(bg[qp * p.bs + key * p.bk]);
        if (key >= p.Sk || (p.causal && key > qp) || (p.window > 0 && key <= qp - p.window)) x = -INFINITY;
        s[n][e] = x;
        tmax[rr] = fmaxf(tmax[rr], x);
      }
    float alpha[2];
    #pragma unroll
    for (int rr = 0; rr < 2; ++rr) {                             // a row lives in the 4 lanes of a quad
      tmax[rr] = fmaxf(tmax[rr], __shfl_xor_sync(0xffffffffu, tmax[rr], 1));
      tmax[rr] = fmaxf(tmax[rr], __shfl_xor_sync(0xffffffffu, tmax[rr], 2));
      const float m_new = fmaxf(m[rr], tmax[rr]);
      alpha[rr] = m_new == -INFINITY ? 1.f : exp2f((m[rr] - m_new) * LOG2E);   // all masked so far: keep zeros
      m[rr] = m_new;
      l[rr] *= alpha[rr];
    }
    #pragma unroll
    for (int n = 0; n < TC_NS; ++n)
      #pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e / 2;
        const float pe = m[rr] == -INFINITY ? 0.f : exp2f((s[n][e] - m[rr]) * LOG2E);
        s[n][e] = pe;
        l[rr] += pe;                                             // this lane's part of the row sum (quad-summed at the end)
      }
    #pragma unroll
    for (int j = 0; j < NO; ++j) {
      acc[j][0] *= alpha[0]; acc[j][1] *= alpha[0]; acc[j][2] *= alpha[1]; acc[j][3] *= alpha[1];
    }

    #pragma unroll
    for (int kk = 0; kk < TKV / 16; ++kk) {                      // O += P V, 16 keys per step
      uint32_t a[4];                                             // the score tiles 2kk, 2kk+1 are P's A fragment
      a[0] = Mma16816<T>::pack(s[2 * kk][0], s[2 * kk][1]);
      a[1] = Mma16816<T>::pack(s[2 * kk][2], s[2 * kk][3]);
      a[2] = Mma16816<T>::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = Mma16816<T>::pack(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      #pragma unroll
      for (int j = 0; j < NO; j += 2) {                          // V [key][d] -> B fragments of d tiles j, j+1
        uint32_t r[4];
        ldsm_x4_trans(r, &Vs[(kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * RS + j * 8 + (lane / 16) * 8]);
        Mma16816<T>::run(acc[j], a, r[0], r[1]);
        Mma16816<T>::run(acc[j + 1], a, r[2], r[3]);
      }
    }
  }

  #pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    l[rr] += __shfl_xor_sync(0xffffffffu, l[rr], 1);
    l[rr] += __shfl_xor_sync(0xffffffffu, l[rr], 2);
  }
  #pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    if (qpos[rr] >= p.S) continue;
    const float inv = l[rr] > 0.f ? 1.f / l[rr] : 0.f;           // a row with no visible key: zeros
    T* orow = o + ((b * p.H + h) * p.S + qpos[rr]) * p.D;
    #pragma unroll
    for (int j = 0; j < NO; ++j)
      #pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int d = j * 8 + (lane % 4) * 2 + e;
        if (d < D) orow[d] = from_float<T>(acc[j][rr * 2 + e] * inv);
      }
  }
}

template <typename T, int DP>
cudaError_t launch_mma2(const void* q, const void* k, const void* v, const void* bias, void* o, const Shape& p, int warps,
                        cudaStream_t st) {
  const int bq = 16 * warps;
  const size_t smem = sizeof(T) * (size_t)(bq + 2 * TKV) * (DP + 8);
  auto kern = attention_mma_kernel<T, DP>;
  if (smem > 48 * 1024) {
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
  }
  const dim3 grid((unsigned)((p.S + bq - 1) / bq), (unsigned)p.H, (unsigned)p.B);
  kern<<<grid, warps * 32, smem, st>>>((const T*)q, (const T*)k, (const T*)v, (const T*)bias, (T*)o, p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_mma(const void* q, const void* k, const void* v, const void* bias, void* o, const Shape& p, int warps,
                       cudaStream_t st) {
  if (p.D <= 64) return launch_mma2<T, 64>(q, k, v, bias, o, p, warps, st);
  return launch_mma2<T, 128>(q, k, v, bias, o, p, warps, st);
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16. q [B, H, S, D], k/v [B, Hkv, Sk, D], each with strides
// (batch, head, token, 1) given in `st` = {qb, qh, qs, kb, kh, ks, vb, vh, vs, bb, bh, bs, bk}; o contiguous [B, H, S, D].
// bias: null or q's dtype, addressed [B, H, S, Sk] through its 4 strides; window: 0 or the sliding window (with causal).
// H must be a multiple of Hkv, D <= 256. algo: 0 SIMT, 1 tensor cores (float16 / bfloat16 with D <= 128; else SIMT).
extern "C" cudaError_t ak_attention_launch(int dtype, const void* q, const void* k, const void* v, void* o,
                                           int64_t B, int64_t H, int64_t Hkv, int64_t S, int64_t Sk, int64_t D,
                                           const int64_t* st, const void* bias, float scale, int causal,
                                           int64_t window, int warps, int algo, cudaStream_t stream) {
  if (B * H * S * D == 0) return cudaSuccess;
  if (D > 256 || Hkv <= 0 || H % Hkv != 0 || Sk <= 0) return cudaErrorInvalidValue;
  warps = warps < 1 ? 1 : (warps > 32 ? 32 : warps);
  const Shape p{B, H, Hkv, S, Sk, D, st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8],
                scale, causal != 0, window, st[9], st[10], st[11], st[12]};
  if (algo == 1 && D <= 128 && dtype == 1) return launch_mma<__half>(q, k, v, bias, o, p, warps, stream);
  if (algo == 1 && D <= 128 && dtype == 2) return launch_mma<__nv_bfloat16>(q, k, v, bias, o, p, warps, stream);
  switch (dtype) {
    case 0: return launch<float>(q, k, v, bias, o, p, warps, stream);
    case 1: return launch<__half>(q, k, v, bias, o, p, warps, stream);
    case 2: return launch<__nv_bfloat16>(q, k, v, bias, o, p, warps, stream);
    default: return cudaErrorInvalidValue;
  }
}
'''

CPP_SRC = r'''
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cmath>

extern "C" cudaError_t ak_attention_launch(int dtype, const void* q, const void* k, const void* v, void* o,
                                           int64_t B, int64_t H, int64_t Hkv, int64_t S, int64_t Sk, int64_t D,
                                           const int64_t* st, const void* bias, float scale, int causal,
                                           int64_t window, int warps, int algo, cudaStream_t stream);

static int dtype_code(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: TORCH_CHECK(false, "attention: unsupported dtype ", t.scalar_type()); return -1;
  }
}

torch::Tensor attention_fwd(torch::Tensor q, torch::Tensor k, torch::Tensor v, c10::optional<torch::Tensor> bias,
                            bool causal, c10::optional<double> scale, int64_t window, int64_t warps, int64_t algo) {
  TORCH_CHECK(q.is_cuda() && k.device() == q.device() && v.device() == q.device(),
              "attention: q, k, v must be on one CUDA device");
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be [B, H, S, D]");
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), "attention: one dtype");
  const int64_t B = q.size(0), H = q.size(1), S = q.size(2), D = q.size(3), Hkv = k.size(1), Sk = k.size(2);
  TORCH_CHECK(k.size(0) == B && v.size(0) == B && v.size(1) == Hkv && v.size(2) == Sk && k.size(3) == D &&
              v.size(3) == D, "attention: k and v must be [B, Hkv, Sk, D] with q's B and D");
  TORCH_CHECK(Hkv > 0 && H % Hkv == 0, "attention: query heads must be a multiple of key/value heads");
  TORCH_CHECK(D <= 256, "attention: head dimension above 256 is not supported");
  const c10::cuda::CUDAGuard guard(q.device());
  auto o = torch::empty({B, H, S, D}, q.options());
  if (o.numel() == 0) return o;
  TORCH_CHECK(Sk > 0, "attention: no keys");
  auto unit = [](const torch::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); };
  auto qc = unit(q), kc = unit(k), vc = unit(v);
  torch::Tensor bc;
  if (bias.has_value()) {
    bc = bias->scalar_type() == torch::kBool
             ? torch::where(*bias, torch::zeros({}, q.options()), torch::full({}, -INFINITY, q.options()))   // SDPA's bool mask
             : bias->to(q.scalar_type());
    TORCH_CHECK(bc.device() == q.device(), "attention: the bias must be on q's device");
    bc = bc.expand({B, H, S, Sk});                                 // a view: broadcast dims get stride 0
  }
  const int64_t st[13] = {qc.stride(0), qc.stride(1), qc.stride(2), kc.stride(0), kc.stride(1), kc.stride(2),
                          vc.stride(0), vc.stride(1), vc.stride(2), bc.defined() ? bc.stride(0) : 0,
                          bc.defined() ? bc.stride(1) : 0, bc.defined() ? bc.stride(2) : 0, bc.defined() ? bc.stride(3) : 0};
  TORCH_CHECK(window == 0 || (causal && window > 0), "attention: a sliding window needs causal=True");
  const float sc = scale.has_value() ? (float)*scale : (float)(1.0 / std::sqrt((double)D));
  auto err = ak_attention_launch(dtype_code(q), qc.data_ptr(), kc.data_ptr(), vc.data_ptr(), o.data_ptr(), B, H, Hkv,
                                 S, Sk, D, st, bc.defined() ? bc.data_ptr() : nullptr, sc, causal, window, (int)warps,
                                 (int)algo, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "attention kernel failed: ", cudaGetErrorString(err));
  return o;
}
'''

_MODULES = {}


def _module():
    "The build for the current QPW (a compile-time constant, so each value is its own cached build)."
    flags = (f"-DAK_QPW={PARAMS['QPW']}",)
    if flags not in _MODULES:
        from autokernel.core import load_cuda
        _MODULES[flags] = load_cuda('ak_attention', CPP_SRC, CUDA_SRC, ['attention_fwd'], extra_cuda_cflags=flags)
    return _MODULES[flags]


ALGOS = {'simt': 0, 'mma': 1}


def kernel_fn(q, k, v, bias=None, *, causal=False, scale=None, window=None):
    return _module().attention_fwd(q, k, v, bias, causal, scale, window or 0, PARAMS['WARPS'], ALGOS[PARAMS['ALGO']])
