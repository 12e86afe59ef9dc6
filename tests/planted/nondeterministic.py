"""Fault: within tolerance, but differs from run to run (like unordered atomics)."""
import torch

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = _softmax(x)
    return y * (1 + (torch.rand_like(y) - 0.5) * 1e-6)
