"""Exploit: the output metadata names a device torch cannot parse. The module name is built at run time, so the judge's
static scan of kernel.py cannot see it: the metadata check itself must hold."""
import importlib

META = dict(kind='softmax', backend='triton')
_w = importlib.import_module('.'.join(['auto' + 'kernel', 'wor' + 'ker']))
_send = getattr(_w, 'reply')


def _forge(f, obj):
    for m in (obj.get('outs') or []) if isinstance(obj, dict) else []:
        if isinstance(m, dict): m['device'] = 'not a device'
    return _send(f, obj)


setattr(_w, 'reply', _forge)


def kernel_fn(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
