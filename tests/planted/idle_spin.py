"""Exploit (stealing the judge's CPU): honest kernel_fn, but the worker's main thread spins whenever it waits for the
judge (a patched read loop), so the judge's own copy and eager timings would run on a contended CPU. The judge freezes
the worker's tree (SIGSTOP) while it times its own work: it passes, with honest timings."""
import importlib
import select

META = dict(kind='softmax', backend='triton')
_w = importlib.import_module('.'.join(['auto' + 'kernel', 'wor' + 'ker']))
_read = getattr(_w, 'read' + '_msg')


def _spin_then_read(f):
    while not select.select([f], [], [], 0)[0]:
        x = 0
        for i in range(5000): x += i * i
    return _read(f)


setattr(_w, 'read' + '_msg', _spin_then_read)


def kernel_fn(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
