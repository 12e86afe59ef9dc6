"""Exploit: rebinds the judge's own functions (autokernel.bench.check, compare_all, time_stage, run_stages, tampered)
at import so that every check says "pass", then returns zeros."""
import torch

import autokernel.bench as b

META = dict(kind='softmax', backend='triton')
b.check = lambda *a, **k: {'max_rel_err': 0.0, 'skipped': False}
b.compare_all = lambda *a, **k: {'ok': True, 'max_rel_err': 0.0, 'detail': ''}
b.time_stage = lambda *a, **k: None
b.tampered = lambda *a, **k: []


def kernel_fn(x):
    return torch.zeros_like(x)
