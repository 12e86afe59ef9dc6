"""Exploit: correct whenever judged; while timed (told apart by its caller: the worker's timing loop) it returns
garbage on every call but the last of the loop, the only ones a bench that verifies only final buffers would see."""
import sys

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    out = _softmax(x)
    caller = sys._getframe(1)
    if caller.f_code.co_name in ('watched', 'do_go', 'round_calls'):
        sets = caller.f_locals.get('sets') or ()
        if not sets or x is not sets[-1][0]: out.zero_()
    return out
