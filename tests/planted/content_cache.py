"""Probe for a content cache: fingerprints the full contents of every timed input and returns garbage when contents
repeat, standing in for a cache that would skip the work on a hit. It passes only if no two timed calls ever see the
same contents (an older bench copied one source into every input set of a round)."""
import hashlib
import sys

import torch

META = dict(kind='softmax', backend='triton')
_seen = set()


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    out = _softmax(x)
    if sys._getframe(1).f_code.co_name in ('watched', 'do_go', 'round_calls'):       # the timing loop
        key = hashlib.sha1(x.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
        if key in _seen: out.zero_()
        _seen.add(key)
    return out
