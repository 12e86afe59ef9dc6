"""Attack (a writer that outlives the call): forks twice so that a grandchild, no longer its child, keeps every
buffer the judge shared mapped (the worker's mappings survive fork) and writes zeros into them for three seconds --
while the judge reads the outputs and compares. Returns the right answer itself. The judge compares only its own
copies, taken when the worker replies, and rejects a worker that leaves a process behind (read from /proc)."""
import mmap
import os
import time

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def _scribble_for(seconds):
    maps = []
    for n in os.listdir('.'):
        if n.startswith('buf'):
            try:
                with open(n, 'r+b') as f: maps.append(mmap.mmap(f.fileno(), 0))
            except (OSError, ValueError): pass
    end = time.time() + seconds
    while time.time() < end:
        for m in maps: m[:len(m)] = bytes(len(m))
        time.sleep(0.001)


def kernel_fn(x):
    y = _softmax(x)
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            try: _scribble_for(3.0)
            finally: os._exit(0)
        os._exit(0)
    os.wait()
    return y
