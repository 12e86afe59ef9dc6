"""Fault: a segmentation fault inside kernel_fn (reads an unmapped address through ctypes)."""
import ctypes

META = dict(kind='softmax', backend='triton')


def kernel_fn(x):
    return ctypes.string_at(0xdead0000, 64)      # unmapped: SIGSEGV
