"""Fault: softmax without subtracting the row max: exp overflows on large inputs (stability stage)."""
META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    e = x.float().exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
