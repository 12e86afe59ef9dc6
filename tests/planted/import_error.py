"""Fault: raises when imported."""
META = dict(kind='softmax', backend='triton')
raise RuntimeError('this kernel cannot be imported')
