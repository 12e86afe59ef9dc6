"""Exploit: returns a torch.Tensor subclass (could be lazy / lie about its values)."""
import torch

META = dict(kind='softmax', backend='triton')


class Lazy(torch.Tensor):
    pass


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    return _softmax(x).as_subclass(Lazy)
