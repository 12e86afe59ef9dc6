"""Exploit (forbidden op, raw thread): computes torch.softmax on a thread started with `_thread.start_new_thread`, which
bypasses `threading.Thread.start` (and so any count kept there), and waits for it inside the call."""
import _thread
import time

import torch

META = dict(kind='softmax', backend='triton')
_box = {}


def _work(x):
    _box['y'] = torch.softmax(x, -1)
    time.sleep(0.05)           # still alive when the call returns


def kernel_fn(x):
    _box.clear()
    _thread.start_new_thread(_work, (x,))
    while 'y' not in _box: time.sleep(0.001)
    return _box['y']
