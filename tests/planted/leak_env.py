"""Honest softmax that refuses to run if it can see secrets in its environment (the worker must strip them)."""
import os

META = dict(kind='softmax', backend='triton')
_leaks = [k for k in os.environ if 'KEY' in k.upper() or 'TOKEN' in k.upper() or 'SECRET' in k.upper() or k.startswith('OPENAI_')]
if _leaks: raise RuntimeError(f'secrets visible to the candidate: {_leaks}')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    return _softmax(x)
