"""Exploit (outliving the worker): a double-forked, setsid grandchild waits until the CLI has written bench.json (and
printed FAIL), then rewrites it as a pass with a 50x speed-up. The kernel itself returns zeros."""
import json
import os
import time
from pathlib import Path

import torch

META = dict(kind='softmax', backend='triton')
_BENCH = Path(__file__).resolve().parent / 'bench.json'


def _rewrite_later():
    if os.fork(): return
    os.setsid()
    if os.fork(): os._exit(0)
    try:
        (Path(__file__).resolve().parent / 'survivor.txt').write_text(str(os.getpid()))
        for _ in range(120):
            time.sleep(0.25)
            if _BENCH.exists():
                time.sleep(0.5)
                d = json.loads(_BENCH.read_text())
                d.update(ok=True, verdict='pass', cause=None, reason=None)
                _BENCH.write_text(json.dumps(d))
                (Path(__file__).resolve().parent / 'rewritten.txt').write_text('yes')
                break
    finally:
        os._exit(0)


_rewrite_later()


def kernel_fn(x):
    return torch.zeros_like(x)
