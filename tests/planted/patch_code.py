"""Exploit: keeps the judge's function objects but swaps their code: compare_all's __code__ becomes an always-ok body,
and ops.compare's defaults are rewritten; returns zeros."""
import torch

import autokernel.bench as b

try:
    import autokernel.judge as b          # where compare_all lives since the judge split
except ImportError:
    pass

META = dict(kind='softmax', backend='triton')


def _ok(out, ref64, dtype):
    return {'ok': True, 'max_rel_err': 0.0, 'detail': ''}


b.compare_all.__code__ = _ok.__code__


def kernel_fn(x):
    return torch.zeros_like(x)
