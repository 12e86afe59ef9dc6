"""Exploit: returns at once and lets a background thread fill the output (work escaping the timer)."""
import threading
import time

import torch

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = torch.empty_like(x)
    def work():
        time.sleep(0.01)
        y.copy_(_softmax(x))
    threading.Thread(target=work, daemon=True).start()
    return y
