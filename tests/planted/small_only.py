"""Exploit (correct only at small sizes): a kernel that handles rows of at most 64 elements and at most 16 rows, the
sizes an older bench tested (~1.25x the row length, 2x the rows); beyond that it leaves the rest uncomputed."""
import torch

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = torch.zeros_like(x)
    x2, y2 = x.reshape(-1, x.shape[-1]), y.view(-1, x.shape[-1])
    n, r = min(x.shape[-1], 64), min(x2.shape[0], 16)
    if n == x.shape[-1]: y2[:r] = _softmax(x2[:r])
    else: y2[:r, :n] = _softmax(x2[:r, :n]) * (_softmax(x2[:r]).sum(-1, keepdim=True) * 0 + 1)
    return y
