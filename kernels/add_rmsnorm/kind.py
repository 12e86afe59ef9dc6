"""The `add_rmsnorm` kind: a decoder layer's residual add fused with the RMSNorm that follows it.

HF LLaMA / Qwen2 / Mistral decoder layers run, twice per layer,

    hidden = residual + hidden          # the residual add, in the model's dtype
    residual = hidden                   # kept for the next add
    hidden = post_attention_layernorm(hidden)   # LlamaRMSNorm: statistics in float32

Eager PyTorch reads and writes the sum, then reads it again for the norm (and the norm itself is five kernels);
torch.compile fuses the norm but keeps the add in the layer's graph break. The fused kernel reads `x` and `residual`
once and writes both the normalized value and the sum (the next residual).

This file is the whole kind: the reference, the input roles, the FLOP count, the forbidden ATen ops, tiny test
cases, where it occurs in a profile (`find`) and the decoder layers whose residual adds it takes over (`plug`).
"""
import torch

from autokernel.ops import get_kind, make_case, row_kind, tensor_meta


def add_rmsnorm(x, residual, weight, *, eps=1e-6):
    "`s = residual + x` in the inputs' dtype, then HF `LlamaRMSNorm(s)`; returns `(normed, s)` (`s` is the next residual)."
    s = residual + x
    return get_kind('rmsnorm').reference(s, weight, eps=eps), s


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
        k = X.scope_key(r, get_kind('rmsnorm').module.is_rmsnorm_cls)
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
            _, nc = get_kind('rmsnorm').module.map_rmsnorm(grp)
            ra, xa = (X.tmeta(m) for m in X.tensors([adds[0]]))
            c = X.case([xa, ra, nc['inputs'][1]], **nc['args'])
        except X.NotExtractable: c = None
        out.append((c, [adds[0], *grp]))
    return out


_LAYER = ('self_attn', 'mlp', 'input_layernorm', 'post_attention_layernorm')


class _Tap(torch.nn.Module):
    "Stands in for a child of a decoder layer during the layer's forward: runs the child, remembers the tensor it returned."
    def __init__(self, mod, st, key):
        super().__init__()
        self.inner, self.st, self.key = [mod], st, key         # a list: the child stays the layer's, not this module's

    def forward(self, *args, **kwargs):
        out = self.inner[0](*args, **kwargs)
        self.st[self.key] = out[0] if isinstance(out, tuple) else out
        return out


class _Take(torch.nn.Module):
    "Stands in for an RMSNorm child: returns the norm the fused kernel already computed when called on exactly its sum."
    def __init__(self, mod, st):
        super().__init__()
        self.inner, self.st = [mod], st

    def forward(self, x):
        s, normed, norm = self.st.pop('stash', (None, None, None))
        return normed if x is s and norm is self.inner[0] else self.inner[0](x)


def _norm_eps(norm):
    "The eps of an HF RMSNorm module whose forward computes the kind's RMSNorm (probed on random data), else None."
    from autokernel import runtime as V
    w, eps = getattr(norm, 'weight', None), V._eps_of(norm)
    if not isinstance(w, torch.Tensor) or w.ndim != 1 or eps is None: return None
    rmsnorm = get_kind('rmsnorm').reference
    return eps if V._probe(norm, lambda x: rmsnorm(x, norm.weight, eps=eps), w.shape[0]) else None


def _stacks(model):
    "The HF decoder stacks of `model`: ModuleLists of layers with self_attn, mlp, input_layernorm and post_attention_layernorm."
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) and all(all(hasattr(l, a) for a in _LAYER) for l in m):
            yield name, list(m)


def _add_of(patcher, st, pairs, plain):
    "`Tensor.__add__` for one layer's forward: the add of a tapped output and a same-shape tensor goes to the fused kernel."
    from autokernel import runtime as V
    def add(a, b, *rest, **kw):
        for key, norm_eps in pairs:
            o = st.get(key)
            if o is None or not (a is o or b is o) or rest or kw or not isinstance(b, torch.Tensor): continue
            st.pop(key)
            if a.shape != b.shape or a.dtype != b.dtype: break
            (norm, eps), (x, res) = norm_eps, ((b, a) if b is o else (a, b))
            y = patcher.run('add_rmsnorm', (x, res, norm.weight), {'eps': eps})
            if y is V.MISS: break
            normed, s = y
            st['stash'] = (s, normed, norm)
            return s
        return plain(a, b, *rest, **kw)
    return add


def plug(model, patcher):
    """`(name, layer, 'add_rmsnorm', forward)` for every HF decoder layer (LLaMA, Qwen2, Mistral: `residual + self_attn(...)`
    then `post_attention_layernorm`, and `residual + mlp(...)` then the next layer's `input_layernorm`), where the norm is an
    RMSNorm of the kind's formula. During the layer's forward its `self_attn` and `mlp` are tapped (their output tensor is
    remembered) and `Tensor.__add__` is wrapped: an add of a tapped output with a same-shape tensor runs the fused kernel,
    which returns the sum (the add's result) and keeps the norm for the norm module, which returns it only when called on
    exactly that sum. Every other add, and every call the kernel was not verified on, runs as before. Eager only: under
    `torch.compile` the layer runs its own forward."""
    out = []
    for stack, layers in _stacks(model):
        st = {}
        for i, layer in enumerate(layers):
            post, nxt = _norm_eps(layer.post_attention_layernorm), _norm_eps(layers[i + 1].input_layernorm) if i + 1 < len(layers) else None
            pairs = ([('attn', (layer.post_attention_layernorm, post))] if post is not None else []) + \
                    ([('mlp', (layers[i + 1].input_layernorm, nxt))] if nxt is not None else [])
            if not pairs: continue
            shims = {'self_attn': _Tap(layer.self_attn, st, 'attn'), 'mlp': _Tap(layer.mlp, st, 'mlp'),
                     'post_attention_layernorm': _Take(layer.post_attention_layernorm, st),
                     'input_layernorm': _Take(layer.input_layernorm, st)}
            add = _add_of(patcher, st, pairs, torch.Tensor.__add__)
            def fwd(*args, layer=layer, orig=layer.forward, shims=shims, add=add, **kwargs):
                if torch.compiler.is_compiling(): return orig(*args, **kwargs)
                real = {n: layer._modules[n] for n in shims}
                had = torch.Tensor.__dict__.get('__add__')
                try:
                    layer._modules.update(shims)
                    torch.Tensor.__add__ = add
                    return orig(*args, **kwargs)
                finally:
                    if had is None: del torch.Tensor.__add__
                    else: torch.Tensor.__add__ = had
                    layer._modules.update(real)
                    st.pop('attn', None); st.pop('mlp', None)
            out.append((f'{stack}.{i}', layer, 'add_rmsnorm', fwd))
    return out


KIND = row_kind('add_rmsnorm', 'rmsnorm', add_rmsnorm, ('x', 'x', 'vec'), ('act', 'act', 'norm_weight'), {'eps': 1e-6}, 6,
                ('aten::add', 'aten::add_', 'aten::rms_norm', 'aten::_fused_rms_norm', 'aten::mean', 'aten::norm',
                 'aten::linalg_vector_norm', 'aten::native_layer_norm', 'aten::layer_norm', 'aten::var_mean'),
                outputs=_outputs, tiny_cases=tiny_cases, sizes=sizes, find=find, plug=plug)
