"""Fault: torch.empty output, only the first 32 columns written (the rest is whatever memory held)."""
import torch

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = torch.empty_like(x)
    n = min(32, x.shape[-1])
    y[..., :n] = _softmax(x)[..., :n]
    return y
