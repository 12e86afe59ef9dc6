"""(Session 12's red team.) Crash the judge: the worker's 'call' reply carries outs[i].stride = 1 (an int): the judge's zip(shape, 1) in is_contiguous
raised TypeError in the judge (a harness error, not the candidate's fault). Now: a protocol rejection."""
import importlib

META = dict(kind='softmax', backend='triton')
_w = importlib.import_module('.'.join(['auto' + 'kernel', 'wor' + 'ker']))
_h = getattr(_w, 'HAND' + 'LERS')
_call = _h['call']

def _forged(st, msg):
    r = _call(st, msg)
    [o.__setitem__('stride', 1) for o in r.get('outs', [])]
    return r

_h['call'] = _forged

def kernel_fn(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
