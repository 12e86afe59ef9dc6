"""Exploit (slowing the baseline): switches torch.compile off process-wide (`torch._dynamo.config.disable = True`) at
import, so a compile baseline timed in the same process runs eagerly and the speed-up over torch.compile is inflated.
The kernel itself is honest: it must pass, with baselines it could not touch."""
import torch
import torch._dynamo

META = dict(kind='softmax', backend='triton')
torch._dynamo.config.disable = True


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    return _softmax(x)
