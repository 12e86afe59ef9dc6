"""Flash attention (forward), in Triton: scaled_dot_product_attention semantics, causal or not, grouped-query heads,
an additive bias (T5's relative position bias, a padding mask as SDPA's float attn_mask) and a sliding window.

    out[b, h] = softmax(q[b, h] @ k[b, g(h)]^T * scale  (+ bias[b, h])  (+ causal / window mask)) @ v[b, g(h)]
    g(h) = h // (H / Hkv)

Eager attention writes the [S, S] score matrix, its softmax, then reads it back for the product with v. Flash attention
never materializes it: a program owns BLOCK_M query rows of one (batch, head), keeps them in registers, and streams
k and v in blocks of BLOCK_N keys. For each block it computes the scores with tl.dot, and updates an *online softmax*:

    m_new = max(m, rowmax(scores));  alpha = exp(m - m_new);  p = exp(scores - m_new)
    l     = l * alpha + rowsum(p);   acc   = acc * alpha + p @ v

so that at the end out = acc / l is exactly softmax(scores) @ v, computed in one sweep over the keys. Scores stay in
natural units (q k^T * scale + bias: T5's scale of 1 and HF's finfo.min masks come close to the float32 range, where
folding log2(e) into the scale would overflow); exponentials are exp2 of (score - max) * log2(e). Statistics and acc
are float32; p is rounded to v's dtype for the second tl.dot, as tensor cores want (float32 inputs use IEEE float32
dots, not TF32, because PyTorch's float32 attention does not round to TF32 either).

Causal masking is top-left aligned, like SDPA's is_causal: query i sees keys 0..i. A causal program stops at the last
key block its rows can see, halving the work. Grouped-query attention needs no copy of k, v: query head h simply reads
kv head h // (H / Hkv). Every tensor is addressed through its own strides (q, k, v are usually transposed views of
[B, S, H, D] projections). The head dim is padded to a power of two with masks, so D = 80, 96 or 128 work.

The bias is a float tensor (or a boolean mask, True = attend, as SDPA's attn_mask) that broadcasts to [B, H, S, Sk]
(expanded, never copied: a broadcast dim gets stride 0). It is added to the scores in float32 before the softmax, HF's
finfo(dtype).min masks included, exactly as SDPA adds them; -inf entries are masked keys. A sliding window of W keys
(Mistral's, with causal=True) lets query i see keys i-W+1..i: a program starts at the first key block its rows can see
and stops at the last one, so the work is S*W, not S*S/2. A row that sees no key at all gets zeros (as SDPA). Models
often pass the window (or padding) as a mask instead (HF's SDPA path does): with SKIP_MASKED, a key block the bias
hides from every row of the program is skipped after reading the bias tile, before k and v are loaded.

Triton's CPU interpreter (3.7) multiplies bfloat16 tiles as their raw 16-bit patterns; under TRITON_INTERPRET=1 the
kernel feeds tl.dot float32 copies of bfloat16 tiles (exact: a bf16 x bf16 product fits in float32, which is what the
tensor cores accumulate in). On a GPU the tiles go to tl.dot as they are.
"""
import math
import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

META = dict(kind='attention', backend='triton')
PARAMS = dict(BLOCK_M=128, BLOCK_N=64, num_warps=8, num_stages=2, SKIP_MASKED=1)
SPACE = dict(BLOCK_M=[32, 64, 128], BLOCK_N=[16, 32, 64, 128], num_warps=[2, 4, 8], num_stages=[1, 2, 3, 4], SKIP_MASKED=[0, 1])


@triton.jit
def attention_kernel(q_ptr, k_ptr, v_ptr, b_ptr, o_ptr, GROUP, SQ, SK, D, WINDOW, sm_scale,
                     sqb, sqh, sqs, sqd, skb, skh, sks, skd, svb, svh, svs, svd, sbb, sbh, sbs, sbk, sob, soh, sos, sod,
                     CAUSAL: tl.constexpr, HAS_BIAS: tl.constexpr, BOOL_BIAS: tl.constexpr, HAS_WINDOW: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
                     SKIP_MASKED: tl.constexpr):
    pid_m = tl.program_id(0)
    h = tl.program_id(1).to(tl.int64)
    b = tl.program_id(2).to(tl.int64)
    kvh = h // GROUP
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < D
    q_base = q_ptr + b * sqb + h * sqh
    k_base = k_ptr + b * skb + kvh * skh
    v_base = v_ptr + b * svb + kvh * svh
    b_base = b_ptr + b * sbb + h * sbh
    row_ok = offs_m < SQ

    q = tl.load(q_base + offs_m[:, None] * sqs + offs_d[None, :] * sqd, mask=(offs_m < SQ)[:, None] & d_ok[None, :], other=0.0)
    if UPCAST:
        q = q.to(tl.float32)
    m_i = tl.full([BLOCK_M], -float('inf'), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)

    lo = 0
    hi = SK
    if CAUSAL:
        hi = tl.minimum(SK, (pid_m + 1) * BLOCK_M)                # keys past the last row of this block are all masked
    if HAS_WINDOW:
        lo = tl.maximum(pid_m * BLOCK_M - WINDOW + 1, 0) // BLOCK_N * BLOCK_N   # keys before the window of row 0
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        col_ok = cols < SK
        keep = col_ok[None, :] & row_ok[:, None]
        if CAUSAL:
            keep = keep & (cols[None, :] <= offs_m[:, None])
        if HAS_WINDOW:
            keep = keep & (cols[None, :] > offs_m[:, None] - WINDOW)
        bias = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        if HAS_BIAS:
            braw = tl.load(b_base + offs_m[:, None] * sbs + cols[None, :] * sbk, mask=keep, other=0)
            if BOOL_BIAS:
                keep = keep & (braw != 0)
            else:
                braw = braw.to(tl.float32)
                keep = keep & (braw != -float('inf'))
                bias = braw
        visible = 1
        if SKIP_MASKED:
            visible = tl.max(tl.max(keep.to(tl.int32), axis=1), axis=0)   # 0: the bias hides this block from every row
        if visible != 0:
            k_t = tl.load(k_base + cols[None, :] * sks + offs_d[:, None] * skd, mask=col_ok[None, :] & d_ok[:, None], other=0.0)
            v = tl.load(v_base + cols[:, None] * svs + offs_d[None, :] * svd, mask=col_ok[:, None] & d_ok[None, :], other=0.0)
            if UPCAST:
                k_t = k_t.to(tl.float32)
                v = v.to(tl.float32)
            s = tl.dot(q, k_t, input_precision=DOT_PRECISION) * sm_scale + bias     # natural units
            s = tl.where(keep, s, -float('inf'))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            m_use = tl.where(m_new == -float('inf'), 0.0, m_new)     # no visible key yet: p and alpha stay finite
            alpha = tl.exp2((m_i - m_use) * 1.4426950408889634)     # exp(x) = exp2(x * log2(e))
            p = tl.exp2((s - m_use[:, None]) * 1.4426950408889634)
            l_i = l_i * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
            m_i = m_new

    out = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]          # a row with no visible key: zeros
    o_base = o_ptr + b * sob + h * soh
    tl.store(o_base + offs_m[:, None] * sos + offs_d[None, :] * sod, out.to(o_ptr.dtype.element_ty),
             mask=row_ok[:, None] & d_ok[None, :])


def _launch(kernel, grid, args, meta, num_warps, num_stages):
    "Launch; if the tiles do not fit in shared memory (large head dims, float32), retry with fewer stages, then smaller tiles."
    while True:
        try:
            return kernel[grid(meta)](*args, **meta, num_warps=num_warps, num_stages=num_stages)
        except OutOfResources:
            if num_stages > 1:
                num_stages -= 1
            elif meta['BLOCK_N'] > 16:
                meta = {**meta, 'BLOCK_N': meta['BLOCK_N'] // 2}
            elif meta['BLOCK_M'] > 16:
                meta = {**meta, 'BLOCK_M': meta['BLOCK_M'] // 2}
            else:
                raise


def kernel_fn(q, k, v, bias=None, *, causal=False, scale=None, window=None):
    B, H, SQ, D = q.shape
    Hkv, SK = k.shape[1], k.shape[2]
    if H % Hkv:
        raise ValueError(f'{H} query heads cannot share {Hkv} kv heads')
    if window is not None and (not causal or window < 1):
        raise ValueError(f'a sliding window ({window}) needs causal=True and at least one key')
    b = bias.expand(B, H, SQ, SK) if bias is not None else None   # a view: broadcast dims get stride 0
    if b is not None and b.dtype == torch.bool:
        b = b.view(torch.uint8)                                   # SDPA's boolean mask: True = attend
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if out.numel() == 0:
        return out
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    p = PARAMS
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    meta = dict(CAUSAL=bool(causal), HAS_BIAS=b is not None, BOOL_BIAS=bias is not None and bias.dtype == torch.bool,
                HAS_WINDOW=window is not None, SKIP_MASKED=bool(p.get('SKIP_MASKED', 1)) and b is not None,
                BLOCK_M=min(p['BLOCK_M'], max(16, triton.next_power_of_2(SQ))),
                BLOCK_N=min(p['BLOCK_N'], max(16, triton.next_power_of_2(SK))), BLOCK_D=max(16, triton.next_power_of_2(D)),
                DOT_PRECISION='ieee' if q.dtype == torch.float32 else 'tf32',
                UPCAST=interpret and q.dtype == torch.bfloat16)
    grid = lambda m: (triton.cdiv(SQ, m['BLOCK_M']), H, B)
    args = (q, k, v, q if b is None else b, out, H // Hkv, SQ, SK, D, window or 0, scale, *q.stride(), *k.stride(),
            *v.stride(), *(b.stride() if b is not None else (0, 0, 0, 0)), *out.stride())
    _launch(attention_kernel, grid, args, meta, p['num_warps'], p['num_stages'])
    return out
