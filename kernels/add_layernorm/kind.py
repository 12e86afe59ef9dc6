"""The `add_layernorm` kind: a residual add and the layer norm of the sum, returning both (`(normed, sum)`).

Its reference, input roles, FLOP count and forbidden ATen ops are here; `triton.py` and `cuda.py` beside it are its
baselines. No profile pattern or run-time plug takes a model's calls to it yet (`runtime.plug_gap` says so).
"""
import torch.nn.functional as F

from autokernel.ops import row_kind, same_as_x


def add_layernorm(x, residual, weight, bias, *, eps=1e-5):
    s = x + residual
    return F.layer_norm(s, (s.shape[-1],), weight, bias, eps), s


KIND = row_kind('add_layernorm', 'layernorm', add_layernorm, ('x', 'x', 'vec', 'vec'), ('act', 'act', 'norm_weight', 'bias'),
                {'eps': 1e-5}, 9, ('aten::add', 'aten::native_layer_norm', 'aten::layer_norm', 'aten::var_mean', 'aten::var',
                                   'aten::std', 'aten::std_mean'), outputs=same_as_x(2))
