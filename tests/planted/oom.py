"""Fault: allocates absurdly (4 TiB)."""
import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    scratch = torch.empty(1 << 40, dtype=torch.float32, device=x.device)
    return scratch[: x.numel()].view_as(x)
