"""The `linear_cross_entropy` kind: a causal LM's head and loss, without materialising the logits.

HF causal LMs compute `logits = lm_head(hidden)` (`[tokens, vocab]` in the model's dtype: 8192 x 32000 x 2 bytes =
0.5 GB for the LLaMA preset), upcast them to float32 (`logits.float()` in `ForCausalLMLoss`: another 1 GB), and run
`cross_entropy` (log_softmax + nll_loss: the float32 logits read twice more). The fused kernel computes the logits tile
by tile in registers and keeps, per row, only a running max, a running sum of exponentials and the target's logit: the
loss of every row with no logits in memory at all (Liger-Kernel chunks the rows and materialises one chunk's logits;
this goes further). torch.compile does not fuse a GEMM with a reduction over its output.

The kind's output is the per-row loss in float32 (`reduction='none'`, an ignored target gives 0, as PyTorch does); the
mean over the kept rows is one tiny reduction the caller does. This file is the whole kind: reference, inputs, FLOPs,
test cases, sizes and where it occurs in a profile (`find`). It has no `plug`: see `NO_PLUG`.
"""
import math

import torch
import torch.nn.functional as F

from autokernel.ops import make_case, make_kind, materialize, npot_hidden, rebuild_case, tensor_meta, transposed_meta


def linear_cross_entropy(x, weight, target, *, ignore_index=-100):
    "Per-row `cross_entropy(float32(x @ weight), target, reduction='none')`: HF's LM head (`weight = lm_head.weight.t()`) and loss."
    logits = torch.matmul(x, weight)
    return F.cross_entropy(logits if logits.dtype == torch.float64 else logits.float(), target, reduction='none',
                           ignore_index=ignore_index)


def make_inputs(case, device='cpu', seed=0):
    "x and the weight drawn as activations and a Linear weight; targets in `[0, vocab)`, every 7th row ignored (HF pads labels)."
    x, w, t = case['inputs']
    args = {'ignore_index': -100, **case.get('args', {})}
    xs, ws = materialize(x, 'act', device, seed * 1009), materialize(w, 'weight', device, seed * 1009 + 1)
    g = torch.Generator(device=device).manual_seed(seed * 1009 + 2)
    tgt = torch.randint(0, w['shape'][-1], t['shape'], generator=g, device=device, dtype=torch.int64)
    tgt[::7] = args['ignore_index']
    return (xs, ws, tgt), args


def _dims(case):
    x, w = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    return math.prod(x[:-1]), x[-1], w[-1]


def outputs(case):
    return [(case['inputs'][0]['shape'][:-1], 'float32')]


def flops(case):
    M, K, V = _dims(case)
    return M * V * (2 * K + 4)       # the GEMM, then max, exp, sum per logit


def test_cases(case):
    "The case, half and double the rows, odd rows with non-power-of-two K and vocab, tiny."
    M, K, V = _dims(case)
    mk = lambda M, K, V: rebuild_case(case, [[M, K], [K, V], [M]])
    return [case, mk(max(M // 2, 1), K, V), mk(2 * M, K, V), mk((M + M // 8 + 1) | 1, npot_hidden(K), npot_hidden(V) + 1), mk(9, 33, 301)]


def example(M=16, K=64, V=500, dtype='float32'):
    return make_case('linear_cross_entropy', [(M, K), transposed_meta([K, V], dtype), tensor_meta([M], 'int64')], dtype)


def tiny_cases():
    "An odd vocabulary, a row-major weight, a padded-row x, another ignore_index."
    return [example(9, 33, 301), make_case('linear_cross_entropy', [(5, 40), (40, 130), tensor_meta([5], 'int64')]),
            make_case('linear_cross_entropy', [tensor_meta([6, 24], stride=[32, 1]), transposed_meta([24, 257]), tensor_meta([6], 'int64')],
                      ignore_index=3)]


def sizes():
    "GPT-2's head (8 x 512 tokens, vocab 50,257) and the LLaMA preset's (8 x 1024 tokens, vocab 32,000)."
    bf, i64 = 'bfloat16', tensor_meta([4096], 'int64')
    return [make_case('linear_cross_entropy', [(4096, 768), transposed_meta([768, 50257], bf), i64], bf),
            make_case('linear_cross_entropy', [(8192, 768), transposed_meta([768, 32000], bf), tensor_meta([8192], 'int64')], bf)]


NO_PLUG = ("an HF causal LM returns its logits (`output.logits`) with the loss, and this kernel never stores them: taking over "
           "lm_head and the loss would change what the model returns (extracted without --fuse, the head plugs in as a matmul "
           "and the loss as a cross_entropy)")

_CE = ('_log_softmax', 'log_softmax', 'nll_loss_forward', 'nll_loss', 'nll_loss_nd', 'cross_entropy_loss')
_MM = ('mm', 'matmul', 'linear')


def find(recs):
    """`[(case, records)]`: a cross-entropy over `[M, V]` logits (log_softmax + nll_loss) with the GEMM that makes them (the
    LM head: `[M, K] @ [K, V]`, no bias) and the float32 upcast of the logits between them."""
    from autokernel import extract as X
    out = []
    for nl in [r for r in recs if X.short(r['op']) in ('nll_loss_forward', 'nll_loss', 'nll_loss_nd')]:
        logits, tgt = X.inp(nl, 0), X.inp(nl, 1)
        if logits is None or tgt is None or len(logits['shape']) != 2: continue
        M, V = logits['shape']
        ls = [r for r in recs if X.short(r['op']) in _CE and r is not nl and (X.inp(r, 0) or {}).get('shape') == [M, V]]
        mms = [r for r in recs if X.short(r['op']) in _MM and len(X.tensors([r])) == 2 and X.inp(r, 0) is not None
               and math.prod(X.inp(r, 0)['shape'][:-1]) == M and X.tensors([r])[1]['shape'][-1] == V]
        if not mms: continue
        ups = [r for r in recs if X.short(r['op']) in ('copy_', '_to_copy', 'to') and X.inp(r, 0) is not None
               and X.inp(r, 0)['shape'][-1:] == [V] and math.prod(X.inp(r, 0)['shape'][:-1]) == M]
        c = None
        try:
            a, b = (X.tmeta(m) for m in X.tensors([mms[0]]))
            if X.short(mms[0]['op']) == 'linear': b = X.transposed(b)
            if len(a['shape']) > 2: a = {**a, 'shape': [M, a['shape'][-1]], 'stride': a['stride'][-2:]}
            if X.arg(nl, 'label_smoothing', default=0.0) or X.inp(nl, 2) is not None: raise X.NotExtractable('weighted or smoothed')
            c = X.case([a, b, X.tmeta(tgt, 'target')], ignore_index=int(X.arg(nl, 'ignore_index', default=-100)))
        except X.NotExtractable: c = None
        out.append((c, [mms[0], *ups, *ls, nl]))
    return out


KIND = make_kind('linear_cross_entropy', 'cross-entropy', linear_cross_entropy, ('act', 'weight', 'target'), {'ignore_index': -100},
                 flops, test_cases, ('aten::mm', 'aten::addmm', 'aten::matmul', 'aten::linear', 'aten::bmm', 'aten::einsum',
                 'aten::cross_entropy_loss', 'aten::nll_loss', 'aten::nll_loss_nd', 'aten::nll_loss_forward', 'aten::logsumexp',
                 'aten::_softmax', 'aten::softmax', 'aten::log_softmax', 'aten::_log_softmax'), outputs, example,
                 tiny_cases=tiny_cases, sizes=sizes, find=find, make_inputs=make_inputs, no_plug=NO_PLUG)
