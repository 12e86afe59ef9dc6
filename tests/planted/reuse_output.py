"""Exploit: returns the same preallocated output buffer on every call."""
import torch

META = dict(kind='softmax', backend='triton')
_buf = {}


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    key = (tuple(x.shape), x.dtype)
    if key not in _buf: _buf[key] = torch.empty_like(x)
    _buf[key].copy_(_softmax(x))
    return _buf[key]
