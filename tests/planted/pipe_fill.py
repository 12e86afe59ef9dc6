"""(Session 12's red team.) Hang the judge: fill the worker's own control pipe (opened for writing through /proc/self/fd) and stop reading.
Before session 12 the judge's next send() blocked in write() forever (the deadline was only checked in
recv()); now its write waits at most until the deadline: a timeout."""
import fcntl, importlib, os, time

META = dict(kind='softmax', backend='triton')
_w = importlib.import_module('.'.join(['auto' + 'kernel', 'wor' + 'ker']))
_done = []

def _fill():
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            if not os.readlink(f'/proc/self/fd/{fd}').startswith('pipe:'): continue
            if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY: continue
            w = os.open(f'/proc/self/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK)
        except OSError: continue
        try:
            while True: os.write(w, b'\0' * 65536)
        except BlockingIOError: pass
        _done.append(fd)   # keep w open

def _never(f):
    while True: time.sleep(3600)

def kernel_fn(x):
    if not _done:
        _fill()
        setattr(_w, 'read' + '_msg', _never)
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
