"""The `attention` kind: `scaled_dot_product_attention` as real models call it.

`q[B, H, S, D]`, `k, v[B, Hkv, Sk, D]` (grouped-query heads: `Hkv < H`, HF's `enable_gqa` or repeat_kv), an optional
additive `bias` broadcasting to the scores `[B, H, S, Sk]` (T5's relative position bias, BERT's padding mask; a boolean
`attn_mask` is taken as SDPA takes it), a top-left `causal` mask and a causal sliding `window` (Mistral's). Everything the
stages know about it is here: the reference (and its float64 form in pieces for large cases), the inputs (a realistic
masked bias from `attn_bias`), the FLOP count over the visible (query, key) pairs, the test sizes, the canonical layout
of the bias (`bias_layout`), the SDPA entries it maps from in a profile and the SDPA calls it takes over at run time;
`triton.py` and `cuda.py` beside it are its baselines.

Test sizes: rows are the batch (or the sequence when the batch is 1); the edge case gets an odd sequence and a head dim
like 80 or 160; the tiny case is `B=1, S=19, D=16` with the same grouping of heads. The bias follows the new sizes, its
broadcast dims staying 1 (T5's relative bias is `[1, H, S, S]`, HF's padding masks `[B, 1, S, Sk]`); a window keeps its width.

In a profile: any `scaled_dot_product_attention` entry (the public op or the flash / efficient / cuDNN / CPU variants it
dispatches to), with `q[B,H,S,D]`, `k, v[B,Hkv,S,D]`. On a GPU the kernel is launched one level lower, by
`_flash_attention_forward` / `_efficient_attention_forward`, which take `[B,S,H,D]` views: dims 1 and 2 are swapped back
(shape and strides), which is exactly the view `scaled_dot_product_attention` received. cuDNN's
`_cudnn_attention_forward(q, k, v, attn_bias, cum_seq_q, cum_seq_k, max_q, max_k, ...)` takes the `[B,H,S,D]` views
themselves, grouped-query `k, v` with their own `Hkv` heads (as HF passes them to SDPA), so it maps as is. Whether the
call is causal must be recorded. A mask or bias tensor (the fourth tensor of every entry but `_flash_attention_forward`,
whose later tensors are variable-length offsets) becomes the kind's `bias` input in its canonical layout: SDPA has
already turned a boolean mask into a float one of q's dtype and expanded it over the heads by the time the inner op
runs, and the run-time matcher does the same to the model's mask. A sliding window given as an argument
(`window_size_left` of `_flash_attention_forward`, causal, `window_size_right` 0) becomes `window = left + 1`. A
variable-length batch, ALiBi slopes or dropout have no place in the signature: such calls are listed, not extracted.

The bias layout: four dims, size 1 on every broadcast dim (stride 0 or size 1), the others as in `[B, H, S, Sk]`,
row-major. Extraction writes the profiled bias in it, the run-time matcher views the model's bias in it, so the two
agree on what "the same call" is; the kernel broadcasts it back (a view), and the judge never meets a stride-0 input.
"""
import math

import torch
import torch.nn.functional as F

from autokernel.core import to_dtype
from autokernel.ops import (_gen, _odd, contiguous_stride, inputs_from_roles, make_kind, npot_hidden, rebuild_case, storage_extent,
                            same_as_x, tensor_meta)


def causal_band(S, Sk, window=None, device='cpu'):
    "`[S, Sk]` boolean: query `i` sees key `j` when `j <= i` (top-left causal) and, with a `window`, `j > i - window`."
    i, j = torch.arange(S, device=device)[:, None], torch.arange(Sk, device=device)[None, :]
    return (j <= i) & (j > i - window) if window is not None else j <= i


def attention(q, k, v, bias=None, *, causal=False, scale=None, window=None):
    """`scaled_dot_product_attention` (top-left causal mask) with an optional `bias`, SDPA's `attn_mask` (a float bias
    added to the scores, or a boolean mask, True = attend), and a sliding `window` (Mistral's: query `i` sees the keys
    `i - window + 1 .. i`, with `causal`). Grouped-query heads are shared by `H // Hkv` query heads."""
    if window is not None and (not causal or window < 1): raise ValueError(f"a sliding window ({window}) needs causal=True")
    if k.shape[1] != q.shape[1]:
        k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
    if bias is not None and causal or window is not None:   # SDPA takes a mask or is_causal, not both: one mask
        band = causal_band(q.shape[-2], k.shape[-2], window, q.device)
        bias = band if bias is None else bias & band if bias.dtype == torch.bool else bias.masked_fill(~band, float('-inf'))
        causal = False
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal, scale=scale)


def attention_in_pieces(q, k, v, bias=None, *, max_bytes=2**30, **kw):
    "The attention reference one (batch, kv head) at a time when the float64 score matrices would not fit in `max_bytes`."
    B, H, S, _ = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    if B * H * S * Sk * 8 * 3 <= max_bytes: return attention(q, k, v, bias, **kw)
    g, bb = H // Hkv, None if bias is None else bias.expand(B, H, S, Sk)
    piece = lambda b, j: attention(q[b:b+1, j*g:(j+1)*g], k[b:b+1, j:j+1], v[b:b+1, j:j+1],
                                   None if bb is None else bb[b:b+1, j*g:(j+1)*g], **kw)
    return torch.cat([torch.cat([piece(b, j) for j in range(Hkv)], 1) for b in range(B)], 0)


def _bias_shape(case, B, H, S, Sk):
    "The bias input's shape for new sizes: its broadcast (size-1) dims stay 1."
    bm = case['inputs'][3] if len(case['inputs']) > 3 else None
    if bm is None: return None
    full = [B, H, S, Sk][4 - len(bm['shape']):]
    return [1 if o == 1 else n for o, n in zip(bm['shape'], full)]


def test_cases(case):
    q, k = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    B, H, S, D = q; Hkv, Sk = k[1], k[2]
    def mk(B, S, Sk, D=D, H=H, Hkv=Hkv):
        return rebuild_case(case, [[B, H, S, D], [B, Hkv, Sk, D], [B, Hkv, Sk, D], _bias_shape(case, B, H, S, Sk)])
    half = mk(B // 2, S, Sk) if B >= 2 else mk(B, max(S // 2, 1), max(Sk // 2, 1) if Sk == S else Sk)
    hkv = 1 if Hkv < H else 2
    return [case, half, mk(B * 2, S, Sk), mk(B, _odd(S), _odd(S) if Sk == S else _odd(Sk), npot_hidden(D)),
            mk(1, 19, 19 if Sk == S else 23, 16, H=hkv * (H // Hkv), Hkv=hkv)]


def flops(case):
    "Two GEMMs over the visible (query, key) pairs: all, about half under a causal mask, `S * window` with a window."
    (B, H, S, D), Sk = case['inputs'][0]['shape'], case['inputs'][1]['shape'][2]
    w = case['args'].get('window')
    if w is not None: return 4 * B * H * D * sum(min(i + 1, Sk, w) for i in range(S))
    f = 4 * B * H * S * Sk * D
    return f / 2 if case['args'].get('causal') else f


def example(B=1, H=4, Hkv=2, S=64, Sk=None, D=32, dtype='float32', causal=True, scale=None, window=None, bias=None):
    "An attention case; `bias` is the bias's shape (broadcast dims 1), a `tensor_meta` (a boolean mask) or None."
    Sk = Sk or S
    b = bias if bias is None or isinstance(bias, dict) else tensor_meta(bias, dtype)
    return {'inputs': [tensor_meta([B, H, S, D], dtype), tensor_meta([B, Hkv, Sk, D], dtype), tensor_meta([B, Hkv, Sk, D], dtype), b],
            'args': {'causal': causal, 'scale': scale, 'window': window}}


def attn_bias(meta, device='cpu', seed=0) -> torch.Tensor:
    """An attention bias as models pass it: T5-like relative position values where a random 30% of the keys are masked
    with `finfo(dtype).min` (HF's padding masks), or for a boolean `meta` the mask itself (True = attend). Key 0 and the
    diagonal stay visible, so no row is fully masked; broadcast dims (stride 0) stay broadcast."""
    shape, dtype = list(meta['shape']), to_dtype(meta['dtype'])
    stride = list(meta.get('stride') or contiguous_stride(shape))
    small = [1 if st == 0 and s > 1 else s for s, st in zip(shape, stride)]
    g = _gen(device, seed)
    vals = torch.randn(small, generator=g, device=device)
    keep = torch.rand(small, generator=g, device=device) > 0.3
    keep[..., 0] = True
    idx = torch.arange(min(small[-2:]), device=device)
    keep[..., idx, idx] = True
    vals = keep if dtype == torch.bool else vals.masked_fill(~keep, torch.finfo(dtype).min)
    view = torch.zeros(storage_extent(small, stride), dtype=dtype, device=device).as_strided(small, stride)
    view.copy_(vals)
    return view.expand(*shape) if small != shape else view


_DEFAULTS = {'causal': False, 'scale': None, 'window': None}
_qkv = inputs_from_roles(('act', 'act', 'act'), _DEFAULTS)


def make_inputs(case, device='cpu', seed=0):
    "q, k, v as activations, then the bias from `attn_bias` when the case has one."
    args, kw = _qkv(case, device, seed)
    bm = case['inputs'][3] if len(case['inputs']) > 3 else None
    return (args[:3] if bm is None else (*args[:3], attn_bias(bm, device, seed * 1009 + 3))), kw


def bias_layout(shape, stride, full) -> tuple[list, list]:
    "`(shape, stride)` of an attention bias for the scores `full = [B, H, S, Sk]`: size 1 on broadcast dims, row-major."
    n = len(full) - len(shape)
    shape, stride = [1] * n + [int(s) for s in shape], [0] * n + [int(s) for s in stride]
    if n < 0 or any(s not in (1, f) for s, f in zip(shape, full)):
        raise ValueError(f"an attention bias of shape {shape[max(n, 0):]} does not broadcast to the scores {list(full)}")
    out = [1 if st == 0 else s for s, st in zip(shape, stride)]
    return out, contiguous_stride(out)


def key_args(args, shapes):
    "A call's arguments as its call key reads them: `scale=None` is SDPA's default `1 / sqrt(D)`, so both are one key."
    if args.get('scale') is None and shapes and shapes[0]: args = {**args, 'scale': 1 / math.sqrt(shapes[0][-1])}
    return args


def _bshd_to_bhsd(m):
    from autokernel import extract as X
    m = X.tmeta(m)
    sh, st = m['shape'], m['stride']
    return {**m, 'shape': [sh[0], sh[2], sh[1], *sh[3:]], 'stride': [st[0], st[2], st[1], *st[3:]]}


def _attn_bias(rec, q, k):
    "The bias / mask tensor of an attention record in its canonical `[B, H, S, Sk]` layout, or None."
    from autokernel import extract as X
    m = X.inp(rec, 3)
    if m is None: return None
    m = X.tmeta(m, 'attention bias')
    if m['dtype'] not in ('float32', 'float16', 'bfloat16', 'bool'): raise X.NotExtractable(f"an attention bias of {m['dtype']}")
    try: shape, stride = bias_layout(m['shape'], m['stride'], [*q['shape'][:3], k['shape'][2]])
    except ValueError as e: raise X.NotExtractable(str(e)) from None
    return {**m, 'shape': shape, 'stride': stride}


def map_attention(rec):
    "A profiled SDPA entry (public, flash, efficient, cuDNN, CPU) as an `attention` case."
    from autokernel import extract as X
    s = X.short(rec['op'])
    first_extra = 3 if s == '_flash_attention_forward' else 4      # the tensors after q, k, v (and the bias)
    if any(X.is_tensor(m) for m in (rec.get('inputs') or [])[first_extra:]):
        raise X.NotExtractable("attention with a varlen batch (cu_seqlens) or ALiBi tensor")
    low = s in ('_flash_attention_forward', '_efficient_attention_forward')
    q, k, v = ((_bshd_to_bhsd if low else X.tmeta)(X.inp(rec, i)) for i in range(3))
    if any(len(m['shape']) != 4 for m in (q, k, v)): raise X.NotExtractable("attention on tensors that are not [B,H,S,D]")
    if q['shape'][1] % k['shape'][1] or k['shape'] != v['shape'] or q['shape'][0] != k['shape'][0]:
        raise X.NotExtractable(f"attention shapes q{q['shape']} k{k['shape']} v{v['shape']}")
    if X.arg(rec, 'dropout_p', default=0.0): raise X.NotExtractable("attention with dropout")
    left, right = X.arg(rec, 'window_size_left', default=None), X.arg(rec, 'window_size_right', default=None)
    if X.arg(rec, 'window_size', default=None) not in (None, -1) or right not in (None, -1, 0):
        raise X.NotExtractable("attention with a window other than a causal sliding window (window_size_left)")
    if s == '_efficient_attention_forward':
        mt = X.arg(rec, 'custom_mask_type')
        if mt not in (0, 1) and not (mt == 2 and q['shape'][2] == k['shape'][2]): raise X.NotExtractable(f"attention mask type {mt}")
        causal = mt != 0
    else: causal = bool(X.arg(rec, 'is_causal', 'causal'))
    window = None if left in (None, -1) else int(left) + 1
    if window is not None and not causal: raise X.NotExtractable("a sliding window on non-causal attention")
    args = {'causal': causal, 'scale': None, **({'window': window} if window else {})}
    if X.arg(rec, 'scale', default=None) is not None: args['scale'] = float(X.arg(rec, 'scale'))
    bias = _attn_bias(rec, q, k)
    return 'attention', X.case([q, k, v] + ([bias] if bias else []), **args)


# every SDPA entry maps here: the public op, the kernels it dispatches to, and any `_scaled_dot_product_*` variant
EXTRACT_OPS = {'scaled_dot_product_attention': map_attention, '_flash_attention_forward': map_attention,
               '_efficient_attention_forward': map_attention, '_cudnn_attention_forward': map_attention,
               '_scaled_dot_product_*': map_attention}


def sdpa_bias(mask, q, k):
    """SDPA's `attn_mask` as the attention kind takes it: a float bias of q's dtype (a boolean mask becomes 0 / -inf, as
    SDPA itself turns it before its kernels run) viewed in the canonical layout (`bias_layout`: four dims, size 1 on
    broadcast dims) that extraction writes; None when it does not broadcast to the scores or is not row-major."""
    full = [*q.shape[:3], k.shape[2]]
    if mask.dtype == torch.bool: mask = torch.where(mask, torch.zeros((), dtype=q.dtype, device=q.device), float('-inf'))
    if mask.dtype != q.dtype or mask.ndim > 4: return None
    try: shape, want = bias_layout(mask.shape, mask.stride(), full)
    except ValueError: return None
    b = mask.reshape([1] * (4 - mask.ndim) + list(mask.shape)) if mask.ndim < 4 else mask
    for i, n in enumerate(shape):
        if n == 1: b = b.narrow(i, 0, 1)                  # a broadcast (stride 0) dim: its one stored slice
    return b if all(s == w or n == 1 for s, w, n in zip(b.stride(), want, shape)) else None


def _m_sdpa(args, kwargs):
    from autokernel.runtime import _arg
    q, k, v = args[:3]
    mask, p = _arg(args, kwargs, 3, 'attn_mask'), _arg(args, kwargs, 4, 'dropout_p', 0.0)
    causal, scale = _arg(args, kwargs, 5, 'is_causal', False), kwargs.get('scale')
    if p != 0.0 or q.ndim != 4 or k.ndim != 4 or (mask is not None and causal): return None   # SDPA refuses a mask with is_causal
    if k.shape[1] != q.shape[1] and not kwargs.get('enable_gqa', False): return None
    bias = None if mask is None else sdpa_bias(mask, q, k)
    if mask is not None and bias is None: return None
    return 'attention', (q, k, v) if bias is None else (q, k, v, bias), {'causal': bool(causal), 'scale': scale}, None


KIND = make_kind('attention', 'attention', attention, ('act', 'act', 'act', 'attn_bias'), _DEFAULTS, flops, test_cases,
                 ('aten::scaled_dot_product_attention', 'aten::_scaled_dot_product_flash_attention',
                  'aten::_scaled_dot_product_efficient_attention', 'aten::_scaled_dot_product_cudnn_attention',
                  'aten::_scaled_dot_product_attention_math', 'aten::_flash_attention_forward', 'aten::_efficient_attention_forward',
                  'aten::_cudnn_attention_forward', 'aten::_scaled_dot_product_flash_attention_for_cpu',
                  'aten::_scaled_dot_product_fused_attention_overrideable', 'aten::_scaled_dot_product_attention_math_for_mps',
                  'aten::bmm', 'aten::baddbmm', 'aten::matmul', 'aten::mm',
                  'aten::_softmax', 'aten::softmax', 'aten::_safe_softmax', 'aten::log_softmax', 'aten::_log_softmax'),
                 same_as_x(), example, make_inputs=make_inputs, reference64=attention_in_pieces, key_args=key_args,
                 profile_classes=('attention',), wrapper_ops=('scaled_dot_product_attention', '_scaled_dot_product_flash_attention',
                              '_scaled_dot_product_efficient_attention', '_scaled_dot_product_cudnn_attention'),
                 extract_ops=EXTRACT_OPS, matchers={F.scaled_dot_product_attention: _m_sdpa})
