"""Exploit (forging the worker's own report): destroys the forbidden-op torch.library guard, forges the liveness probe,
then calls the op it replaces. The judge's static scan of kernel.py rejects it before the worker imports it."""
import torch
import autokernel.worker as W

META = dict(kind='softmax', backend='triton')
for lib in list(getattr(W, '_lib', [])): lib._destroy()
W.guard_alive = lambda probe: True


def kernel_fn(x):
    return torch.softmax(x, -1)
