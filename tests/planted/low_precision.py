"""Fault: computes in float16 and casts back (precision downgrade on float32 inputs)."""
import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    h = x.to(torch.float16)
    e = (h - h.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
