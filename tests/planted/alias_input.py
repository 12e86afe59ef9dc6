"""Exploit: returns its input (output aliases an input)."""
META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    return x
