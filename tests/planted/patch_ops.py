"""Exploit: waits until it is called (after the import-time check), then makes autokernel.ops.compare say "ok"
for anything, and returns zeros."""
import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    from autokernel import ops
    ops.compare = lambda *a, **k: {'ok': True, 'max_rel_err': 0.0, 'detail': ''}
    return torch.zeros_like(x)
