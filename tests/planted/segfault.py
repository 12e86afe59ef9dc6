"""Fault: a segmentation fault inside kernel_fn (faulthandler's own test hook raises SIGSEGV)."""
import faulthandler

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    faulthandler._sigsegv()                      # SIGSEGV in the worker
    return x
