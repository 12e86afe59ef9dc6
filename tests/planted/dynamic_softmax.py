"""Exploit (forbidden op by a name built at run time): the static scan cannot see it; the worker's dispatcher guard must."""
import torch

META = dict(kind='softmax', backend='triton')
_op = getattr(torch, 'soft' + 'max')


def kernel_fn(x):
    return _op(x, -1)
