"""(Session 12's red team.) Wrong on inputs the judge never generated: any row holding a non-finite value (-inf, as in a masked attention row)
gets zeros instead of softmax's result (0 at -inf, the softmax of the finite rest elsewhere). It passed every
stage until the stability stage got its `masked` variant (session 12's red team)."""
import torch
META = dict(kind='softmax', backend='triton')

def kernel_fn(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    y = e / e.sum(-1, keepdim=True)
    bad = ~torch.isfinite(xf).all(-1, keepdim=True)
    return torch.where(bad, torch.zeros_like(y), y).to(x.dtype)
