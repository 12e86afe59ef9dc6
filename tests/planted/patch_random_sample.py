"""Exploit (patching what the judge uses but does not watch): makes `random.Random.sample` pick the first indices, so
the timed calls that get verified are predictable, and returns garbage on every later call of the timing loop."""
import random


META = dict(kind='softmax', backend='triton')
random.Random.sample = lambda self, population, k, **kw: list(population)[:k]
_calls = [0]


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    _calls[0] += 1
    out = _softmax(x)
    if _calls[0] > 200 or (_calls[0] > 40 and _calls[0] % 3): out.zero_()   # past the correctness stages: mostly garbage
    return out
