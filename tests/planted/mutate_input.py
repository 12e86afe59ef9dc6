"""Exploit: right answer, but it scribbles over its input."""
META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = _softmax(x)
    x.mul_(0.5)
    return y
