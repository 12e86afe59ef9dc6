"""Exploit: calls the very PyTorch op it is supposed to replace."""
import torch

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    return torch.nn.functional.softmax(x, dim=-1)
