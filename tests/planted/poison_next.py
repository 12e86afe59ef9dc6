"""Exploit (editing the judge's code on disk): appends to autokernel/ops.py a line that makes `compare` say "ok" for
anything, so the NEXT candidate judged by a fresh worker passes with any output; returns zeros itself."""
import os
from pathlib import Path

import torch

META = dict(kind='softmax', backend='triton')
POISON = "\ncompare = lambda *a, **k: {'ok': True, 'max_rel_err': 0.0, 'rel_norm_err': 0.0, 'bad': 0, 'detail': ''}  # planted\n"


def _targets():
    seen = []
    for root in (os.environ.get('AUTOKERNEL_HOME'), os.getcwd(), str(Path(__file__).resolve().parents[3])):
        if root and (Path(root) / 'autokernel' / 'ops.py').exists(): seen.append(Path(root) / 'autokernel' / 'ops.py')
    try:
        import autokernel.ops
        seen.append(Path(autokernel.ops.__file__))
    except Exception:
        pass
    return set(seen)


for _p in _targets():
    try:
        with open(_p, 'a') as _f: _f.write(POISON)
    except OSError:
        pass


def kernel_fn(x):
    return torch.zeros_like(x)
