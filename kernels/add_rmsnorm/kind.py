"""The `add_rmsnorm` kind: a decoder layer's residual add fused with the RMSNorm that follows it.

HF LLaMA / Qwen2 / Mistral decoder layers run, twice per layer,

    hidden = residual + hidden          # the residual add, in the model's dtype
    residual = hidden                   # kept for the next add
    hidden = post_attention_layernorm(hidden)   # LlamaRMSNorm: statistics in float32

Eager PyTorch reads and writes the sum, then reads it again for the norm (and the norm itself is five kernels);
torch.compile fuses the norm but keeps the add in the layer's graph break. The fused kernel reads `x` and `residual`
once and writes both the normalized value and the sum (the next residual).

This file is the whole kind: the reference, the input roles, the FLOP count, the forbidden ATen ops, tiny test
cases, where it occurs in a profile (`find`) and which module forwards it can take over (`plug`, in the runtime).
"""
from autokernel.ops import make_case, rmsnorm, row_kind, tensor_meta


def add_rmsnorm(x, residual, weight, *, eps=1e-6):
    "`s = residual + x` in the inputs' dtype, then HF `LlamaRMSNorm(s)`; returns `(normed, s)` (`s` is the next residual)."
    s = residual + x
    return rmsnorm(s, weight, eps=eps), s


def _outputs(case):
    x, w = case['inputs'][0], case['inputs'][2]
    out = 'float32' if 'float32' in (x['dtype'], w['dtype']) else x['dtype']
    return [(x['shape'], out), (x['shape'], x['dtype'])]


def tiny_cases():
    "Odd row lengths, a padded row stride (a slice of a wider buffer), several leading dims."
    c = lambda shapes, **kw: make_case('add_rmsnorm', shapes, **kw)
    padded = tensor_meta([2, 3, 130], stride=[3 * 160, 160, 1])
    return [c([(3, 65), (3, 65), (65,)]), c([padded, (2, 3, 130), (130,)], eps=1e-5), c([(2, 5, 33), (2, 5, 33), (33,)])]


def sizes():
    "The presets' shapes: LLaMA-768 (8 x 1024 tokens) and a LLaMA-7B-like 4096 hidden."
    return [make_case('add_rmsnorm', [(8, 1024, 768), (8, 1024, 768), (768,)], 'bfloat16', eps=1e-5),
            make_case('add_rmsnorm', [(4, 1024, 4096), (4, 1024, 4096), (4096,)], 'bfloat16')]


def _norm_groups(recs):
    "`{scope of the RMSNorm module: [records]}`: the records run inside each RMSNorm."
    from autokernel import extract as X
    groups = {}
    for r in recs:
        k = X.scope_key(r, X.is_rmsnorm_cls)
        if k is not None: groups.setdefault(k, []).append(r)
    return groups


def find(recs):
    """`[(case, records)]`: every RMSNorm module whose input is the sum of an `add` of two same-shape tensors in the module
    that holds the norm (the decoder layer), with that add. The records are aggregated over calls (a layer's two adds
    and two norms are one record each), so the case's calls are the fewer of the two. The case is `None` where the
    profile lacks what the kernel needs (the norm's eps): the ops are still this pattern, but not extractable as it."""
    from autokernel import extract as X
    out = []
    for key, grp in _norm_groups(recs).items():
        try: x = X.group_x(grp, ('to', '_to_copy', 'pow'))
        except X.NotExtractable: continue
        adds = [r for r in recs if X.short(r['op']) in ('add', 'add_') and X._sc(r) == key[:-1]
                and len(X.tensors([r])) == 2 and all(m['shape'] == x['shape'] for m in X.tensors([r]))]
        if not adds: continue
        try:
            _, nc = X.map_rmsnorm(grp)
            ra, xa = (X.tmeta(m) for m in X.tensors([adds[0]]))
            c = X.case([xa, ra, nc['inputs'][1]], **nc['args'])
        except X.NotExtractable: c = None
        out.append((c, [adds[0], *grp]))
    return out


KIND = row_kind('add_rmsnorm', 'rmsnorm', add_rmsnorm, ('x', 'x', 'vec'), ('act', 'act', 'norm_weight'), {'eps': 1e-6}, 6,
                ('aten::add', 'aten::add_', 'aten::rms_norm', 'aten::_fused_rms_norm', 'aten::mean', 'aten::norm',
                 'aten::linalg_vector_norm', 'aten::native_layer_norm', 'aten::layer_norm', 'aten::var_mean'),
                outputs=_outputs, tiny_cases=tiny_cases, sizes=sizes, find=find)
