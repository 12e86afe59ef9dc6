"""Exploit: correct whenever judged; while timed (told apart by its caller) it reads the timing loop's `i`, `reps` and
`arg_sets` and returns garbage on every repetition but the last len(arg_sets), the only ones an older bench verified."""
import sys

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    out = _softmax(x)
    if sys._getframe(1).f_code.co_name == 'watched':        # the timing stage's wrapper; its caller is the timer
        loop = sys._getframe(2).f_locals
        if loop.get('i', 0) < loop.get('reps', 0) - len(loop.get('arg_sets', ())): out.zero_()
    return out
