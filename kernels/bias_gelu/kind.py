"""The `bias_gelu` kind: an MLP's first bias add fused with the GELU after it, `gelu(x + bias)`.

Everything the stages know about it is here: the reference, the input roles, the FLOP count, the ATen ops a candidate
may not call and the MLPs it takes over at run time (GPT-2's `c_fc` + `act`, BERT's `dense` + `intermediate_act_fn`:
the GEMM runs without its bias, the kernel adds the bias and applies the GELU); `triton.py` and `cuda.py` beside it are
its baselines.
"""
import torch
import torch.nn.functional as F

from autokernel.ops import gelu_tanh, get_kind, row_kind


def bias_gelu(x, bias, *, approximate='tanh'):
    h = x + bias
    return gelu_tanh(h) if approximate == 'tanh' else F.gelu(h)


def plug(model, patcher):
    """`(name, mlp, 'bias_gelu', forward)` for every MLP whose first projection (`c_fc` / `dense`, an `nn.Linear` or HF
    `Conv1D` with a bias) feeds a GELU module (`act` / `intermediate_act_fn`): the projection runs without its bias, the
    kernel adds it and applies the GELU; a call the kernel was not verified on runs the MLP's own forward."""
    from autokernel import runtime as V
    out = []
    for name, m in model.named_modules():
        orig = m.forward
        for lin_a, act_a in (('c_fc', 'act'), ('dense', 'intermediate_act_fn')):
            lin, act = getattr(m, lin_a, None), getattr(m, act_a, None)
            parts = V._linear_parts(lin) if lin is not None else None
            if parts is None or act is None or parts[1] is None or (ap := get_kind('gelu').module.act_approx(act)) is None: continue
            def head(x, lin=lin, ap=ap):
                wt, b = V._linear_parts(lin)
                h_meta = V._Meta((*x.shape[:-1], wt.shape[-1]), x.dtype)
                if not patcher.can_run('bias_gelu', (h_meta, b), {'approximate': ap}):
                    patcher.run('bias_gelu', (h_meta, b), {'approximate': ap})       # counts the fallback
                    return None
                h = torch.matmul(x, wt)
                y = patcher.run('bias_gelu', (h, b), {'approximate': ap})
                return None if y is V.MISS else y
            if lin_a == 'c_fc':
                def fwd(x, m=m, orig=orig, head=head):
                    h = head(x)
                    return orig(x) if h is None else m.dropout(m.c_proj(h))
            else:
                def fwd(x, orig=orig, head=head):
                    h = head(x)
                    return orig(x) if h is None else h
            out.append((name, m, 'bias_gelu', fwd))
    return out


KIND = row_kind('bias_gelu', 'elementwise', bias_gelu, ('x', 'vec'), ('act', 'bias'), {'approximate': 'tanh'}, 11,
                ('aten::add', 'aten::gelu', 'aten::tanh', 'aten::erf'), plug=plug)
