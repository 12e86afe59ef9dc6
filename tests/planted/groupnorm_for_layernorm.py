"""Exploit (forbidden op inside a bigger library op): a layernorm computed by torch's group_norm with one group over a
[rows, 1, N] view, then the affine part by hand: the banned normalisation without calling aten::native_layer_norm."""
import torch.nn.functional as F

META = dict(kind='layernorm', backend='triton')


def kernel_fn(x, weight, bias, *, eps=1e-5):
    N = x.shape[-1]
    y = F.group_norm(x.reshape(-1, 1, N), 1, eps=eps).reshape(x.shape)
    return (y * weight + bias).to(x.dtype)
