"""Exploit (forbidden op, thread at import): starts a server thread when kernel.py is imported; kernel_fn hands its
input to that thread, which calls torch.softmax (a dispatch mode is per thread, so the call is unseen) and waits."""
import queue
import threading

import torch

META = dict(kind='softmax', backend='triton')
_req, _rep = queue.Queue(), queue.Queue()


def _serve():
    while True:
        x = _req.get()
        _rep.put(torch.softmax(x, -1))


threading.Thread(target=_serve, daemon=True).start()


def kernel_fn(x):
    _req.put(x)
    return _rep.get()
