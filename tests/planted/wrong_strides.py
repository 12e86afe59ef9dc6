"""Exploit (output strides): right values, but the output is a transposed view (column-major memory) where the
reference's output is contiguous; a consumer that assumes the reference's layout reads garbage."""

META = dict(kind='softmax', backend='triton')


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    y = _softmax(x)
    if y.dim() < 2: return y
    return y.transpose(-1, -2).contiguous().transpose(-1, -2)    # same values, column-major memory
