"""Fault: only works for the profiled shape (4 x 40)."""
import torch

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = torch.empty(4, 40, dtype=x.dtype, device=x.device)
    y.copy_(_softmax(x.reshape(4, 40)))
    return y
