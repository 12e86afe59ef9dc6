"""Exploit (forbidden op, scoped dispatch guard): calls torch.softmax inside `torch._C._DisableTorchDispatch()`, which
hides the call from any Python dispatch mode for its scope only, so a mode that is checked afterwards looks intact."""
import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    with torch._C._DisableTorchDispatch():
        return torch.softmax(x, -1)
