"""The `reduce` kind: a sum or a mean over the last dimension, `x.sum(-1)` / `x.mean(-1)`.

The first of the library's original kinds moved into its own folder: everything the stages know about it is here (the
reference, the input roles, the FLOP count, tiny and realistic test sizes, the ATen ops it maps from in a profile and
the torch functions it takes over at run time); `triton.py` and `cuda.py` beside it are its baselines.
"""
import torch

from autokernel.ops import make_case, row_kind, tensor_meta


def reduce(x, *, op='sum'):
    return x.sum(-1) if op == 'sum' else x.mean(-1)


def _outputs(case): return [(case['inputs'][0]['shape'][:-1], case['inputs'][0]['dtype'])]


def tiny_cases():
    "Odd rows, and a mean over a padded row stride."
    return [make_case('reduce', [(3, 65)]), make_case('reduce', [tensor_meta([2, 3, 130], stride=[520, 160, 1])], op='mean')]


def sizes():
    return [make_case('reduce', [(8, 1024, 768)], 'bfloat16'), make_case('reduce', [(4096, 768)], 'bfloat16', op='mean')]


def map_reduce(rec):
    "A profiled `aten::sum` / `aten::mean` over the last dim, in the input's dtype, as a `reduce` case."
    from autokernel import extract as X
    x = X.tmeta(X.inp(rec, 0), 'x'); X.last_dim(rec, x)
    dt = X.arg(rec, 'dtype', default=None)
    if dt is not None and X.safe_dtype(dt) != x['dtype']: raise X.NotExtractable(f"a reduction casting to {X.safe_dtype(dt)}")
    return 'reduce', X.case([x], op=X.short(rec['op']))


def _matcher(op):
    """The run-time matcher of `torch.sum` / `torch.mean` calls over the last dim, without a dtype; with `keepdim=True` (T5's
    and HF RMSNorms' `x.pow(2).mean(-1, keepdim=True)`) the kernel's result gets its last dim back."""
    def m(args, kwargs):
        from autokernel.runtime import _arg
        x, dim, keep = args[0], _arg(args, kwargs, 1, 'dim'), _arg(args, kwargs, 2, 'keepdim', False)
        if isinstance(dim, (list, tuple)): dim = dim[0] if len(dim) == 1 else None
        if kwargs.get('dtype') is not None or len(args) > 3 or not isinstance(x, torch.Tensor) or not isinstance(keep, bool): return None
        if dim not in (-1, x.ndim - 1) or not x.is_floating_point(): return None
        return 'reduce', (x,), {'op': op}, (lambda y: y.unsqueeze(-1)) if keep else None
    return m


KIND = row_kind('reduce', 'reduction', reduce, ('x',), ('act',), {'op': 'sum'}, 1, ('aten::sum', 'aten::mean', 'aten::nansum'),
                outputs=_outputs, tiny_cases=tiny_cases, sizes=sizes, profile_classes=('reduction',), extract_ops={'sum': map_reduce, 'mean': map_reduce},
                matchers={torch.sum: _matcher('sum'), torch.Tensor.sum: _matcher('sum'), torch.mean: _matcher('mean'),
                          torch.Tensor.mean: _matcher('mean')})
