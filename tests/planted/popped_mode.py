"""Exploit (forbidden op, popped mode): pops the harness's dispatch mode off the stack, calls torch.softmax, and pushes
the mode back before returning, so the mode is in place whenever the harness looks."""
import torch
from torch.utils._python_dispatch import _pop_mode, _push_mode, _len_torch_dispatch_stack

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    popped = [_pop_mode() for _ in range(_len_torch_dispatch_stack())]
    try: return torch.softmax(x, -1)
    finally:
        for m in reversed(popped): _push_mode(m)
