"""The `softmax` kind: `torch.softmax(x, dim=-1)`, attention scores' softmax in eager models.

Everything the stages know about it is here: the reference, the input roles (scores of order two), the FLOP count, the
ATen ops a candidate may not call, the `aten::_softmax` / `aten::softmax` records it maps from in a profile and the
torch functions it takes over at run time; `triton.py` and `cuda.py` beside it are its baselines.

A dimension argument must name the last dim (the library's kernels reduce over it): a softmax over another dim is listed
as not extractable, not silently turned into a last-dim softmax; so is one that casts to another dtype.
"""
import torch
import torch.nn.functional as F

from autokernel.ops import row_kind

SOFTMAX_ATEN = ('aten::_softmax', 'aten::softmax', 'aten::_safe_softmax', 'aten::log_softmax', 'aten::_log_softmax')


def softmax(x): return torch.softmax(x, dim=-1)


def map_softmax(rec):
    from autokernel import extract as X
    x = X.tmeta(X.inp(rec, 0), 'x'); X.last_dim(rec, x)
    if X.arg(rec, 'half_to_float', default=False): raise X.NotExtractable("softmax of half inputs to a float output")
    dt = X.arg(rec, 'dtype', default=None)
    if dt is not None and X.safe_dtype(dt) != x['dtype']: raise X.NotExtractable(f"softmax casting {x['dtype']} to {X.safe_dtype(dt)}")
    return 'softmax', X.case([x])


def _m_softmax(args, kwargs):
    "A softmax over the last dim, in its input's dtype (a `dtype=` that is a no-op is fine: HF eager attention passes one)."
    from autokernel.runtime import _arg
    x, dim = args[0], _arg(args, kwargs, 1, 'dim')
    if not isinstance(x, torch.Tensor) or dim not in (-1, x.ndim - 1): return None
    dts = [d for d in [kwargs.get('dtype'), *args[2:]] if isinstance(d, torch.dtype)]
    if any(d != x.dtype for d in dts): return None          # a softmax in another dtype than its input's (a `dtype=` that is a no-op is fine)
    return 'softmax', (x,), {}, None


KIND = row_kind('softmax', 'softmax', softmax, ('x',), ('scores',), {}, 5, SOFTMAX_ATEN,
                profile_classes=('softmax',), wrapper_ops=('softmax',), extract_ops={'_softmax': map_softmax, 'softmax': map_softmax},
                matchers={F.softmax: _m_softmax, torch.softmax: _m_softmax, torch.Tensor.softmax: _m_softmax})
