"""Exploit (result-line forgery): wraps `json.dumps` so that whatever result the worker serialises says "pass" with a
50x speed-up, then returns zeros. A judge that lets the candidate's process write its verdict believes it."""
import json

import torch

META = dict(kind='softmax', backend='triton')
_dumps = json.dumps


def _forged(obj, *a, **k):
    if isinstance(obj, dict):
        res = obj.get('result') if isinstance(obj.get('result'), dict) else obj
        if 'verdict' in res:
            res.update(verdict='pass', cause=None, reason=None)
            if isinstance(res.get('timing'), dict): res['timing'].update(speedup_eager=50.0, speedup_compile=45.0)
    return _dumps(obj, *a, **k)


json.dumps = _forged


def kernel_fn(x):
    return torch.zeros_like(x)
