"""Fused LM head + cross-entropy in Triton: the loss of every row without the logits in memory.

    loss[m] = logsumexp_v(x[m, :] @ w[:, v]) - x[m, :] @ w[:, target[m]]     (0 where target[m] == ignore_index)

A program owns BLOCK_M rows. It sweeps the vocabulary in tiles of BLOCK_V columns; for each tile it computes the
BLOCK_M x BLOCK_V logits with a K loop of tl.dot (float32 accumulation: the float32 upcast HF applies to the logits
happens in registers, before any rounding), then folds the tile into an online logsumexp per row (a running max and
a running sum of exp(logit - max), rescaled when the max grows) and picks the target's logit where the tile holds it.
Nothing of size vocab is ever written: the row's loss is stored at the end.

The logits cost what the LM head's GEMM costs; what is saved is every byte of the [tokens, vocab] logits, which the
eager chain writes in the model's dtype, copies to float32, and reads twice more for log_softmax and nll_loss.

Layouts: x and the weight are addressed through their strides (the weight is `lm_head.weight.t()`, stride (1, K)).
Triton's CPU interpreter (3.7) multiplies bfloat16 tiles as raw 16-bit integers; under TRITON_INTERPRET=1 bf16 tiles are
upcast to float32 before tl.dot (exact). On a GPU the tiles go to tl.dot as they are.
"""
import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

META = dict(kind='linear_cross_entropy', backend='triton')
PARAMS = dict(BLOCK_M=64, BLOCK_V=128, BLOCK_K=64, num_warps=8, num_stages=3)
SPACE = dict(BLOCK_M=[16, 32, 64, 128], BLOCK_V=[32, 64, 128, 256], BLOCK_K=[32, 64, 128], num_warps=[2, 4, 8], num_stages=[2, 3, 4])


@triton.jit
def linear_ce_kernel(x_ptr, w_ptr, t_ptr, loss_ptr, M, V, K, sx_m, sx_k, sw_k, sw_v, ignore_index,
                     BLOCK_M: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_K: tl.constexpr,
                     DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = offs_m < M
    tgt = tl.load(t_ptr + offs_m, mask=m_ok, other=ignore_index)
    offs_k = tl.arange(0, BLOCK_K)
    x_rows = x_ptr + offs_m.to(tl.int64)[:, None] * sx_m
    run_max = tl.full([BLOCK_M], float('-inf'), tl.float32)
    run_sum = tl.zeros([BLOCK_M], tl.float32)
    t_logit = tl.zeros([BLOCK_M], tl.float32)
    for v0 in range(0, V, BLOCK_V):
        offs_v = v0 + tl.arange(0, BLOCK_V)
        v_ok = offs_v < V
        w_cols = w_ptr + offs_v.to(tl.int64)[None, :] * sw_v
        acc = tl.zeros([BLOCK_M, BLOCK_V], tl.float32)
        for k0 in range(0, K, BLOCK_K):
            k = k0 + offs_k
            k_ok = k < K
            x = tl.load(x_rows + k[None, :] * sx_k, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
            w = tl.load(w_cols + k.to(tl.int64)[:, None] * sw_k, mask=k_ok[:, None] & v_ok[None, :], other=0.0)
            if UPCAST:
                x = x.to(tl.float32)
                w = w.to(tl.float32)
            acc = tl.dot(x, w, acc, input_precision=DOT_PRECISION)
        acc = tl.where(v_ok[None, :], acc, float('-inf'))
        new_max = tl.maximum(run_max, tl.max(acc, axis=1))
        run_sum = run_sum * tl.exp(run_max - new_max) + tl.sum(tl.exp(acc - new_max[:, None]), axis=1)
        run_max = new_max
        t_logit += tl.sum(tl.where(offs_v[None, :] == tgt[:, None], acc, 0.0), axis=1)
    loss = tl.log(run_sum) + run_max - t_logit
    loss = tl.where(tgt == ignore_index, 0.0, loss)
    tl.store(loss_ptr + offs_m, loss, mask=m_ok)


def kernel_fn(x, weight, target, *, ignore_index=-100):
    K, V = weight.shape
    if x.shape[-1] != K or tuple(target.shape) != tuple(x.shape[:-1]):
        raise ValueError(f'linear_cross_entropy: x {tuple(x.shape)}, weight {tuple(weight.shape)}, target {tuple(target.shape)} do not fit')
    x2, t = x.reshape(-1, K), target.reshape(-1).contiguous()
    M = x2.shape[0]
    loss = torch.empty(x.shape[:-1], dtype=torch.float32, device=x.device)
    if M == 0:
        return loss
    p = PARAMS
    interpret = os.environ.get('TRITON_INTERPRET', '0') == '1'
    meta = dict(BLOCK_M=min(p['BLOCK_M'], max(16, triton.next_power_of_2(M))), BLOCK_V=min(p['BLOCK_V'], max(16, triton.next_power_of_2(V))),
                BLOCK_K=min(p['BLOCK_K'], max(16, triton.next_power_of_2(K))),
                DOT_PRECISION='ieee' if x.dtype == torch.float32 else 'tf32', UPCAST=interpret and x.dtype == torch.bfloat16)
    args = (x2, weight, t, loss, M, V, K, x2.stride(0), x2.stride(1), weight.stride(0), weight.stride(1), ignore_index)
    num_stages = p['num_stages']
    while True:   # tiles too large for shared memory: fewer stages, then smaller tiles
        try:
            linear_ce_kernel[(triton.cdiv(M, meta['BLOCK_M']),)](*args, **meta, num_warps=p['num_warps'], num_stages=num_stages)
            return loss
        except OutOfResources:
            if num_stages > 1:
                num_stages -= 1
            elif max(meta['BLOCK_V'], meta['BLOCK_K'], meta['BLOCK_M']) > 16:
                big = max(('BLOCK_K', 'BLOCK_V', 'BLOCK_M'), key=lambda k: meta[k])
                meta = {**meta, big: meta[big] // 2}
            else:
                raise
