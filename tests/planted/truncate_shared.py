"""Attack (killing the judge through shared memory): truncates the files that hold its inputs (the ones not
NaN-filled, which is how the judge fills an output slot) and returns zeros. A judge that reads shared files through
its own memory map dies of SIGBUS on the next read -- the whole optimize loop with it. The judge copies buffers in and
out through its own file descriptor instead, so it sees a short read: rejected as out_of_bounds."""
import os

import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    for n in os.listdir('.'):
        if not n.startswith('buf'): continue
        with open(n, 'r+b') as f:
            b = f.read()
            v = torch.frombuffer(bytearray(b[:len(b) // x.element_size() * x.element_size()]), dtype=torch.uint8).view(x.dtype)
            if v.numel() and not v.isnan().all(): f.truncate(0)
    return torch.zeros_like(x)
