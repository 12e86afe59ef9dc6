"""Exploit: a reply nested too deep for json.loads (RecursionError, not ValueError). The module name is built at run
time, so the judge's static scan of kernel.py cannot see it: the reply parser itself must hold."""
import importlib

META = dict(kind='softmax', backend='triton')
_w = importlib.import_module('.'.join(['auto' + 'kernel', 'wor' + 'ker']))
_send = getattr(_w, 'reply')


def _nested(f, obj):
    if isinstance(obj, dict) and 'outs' in obj:
        f.write(b'[' * 60000 + b'\n'); f.flush(); return None
    return _send(f, obj)


setattr(_w, 'reply', _nested)


def kernel_fn(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
