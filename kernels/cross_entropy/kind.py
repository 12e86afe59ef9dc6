"""The `cross_entropy` kind: per-row cross-entropy of logits (upcast to float32, as HF's loss does) against int64 targets.

Everything the stages know about it is here: the reference, the input roles (logits, targets), the FLOP count, the
ATen ops a candidate may not call; where it occurs in a profile (`cross_entropy_loss`, or `log_softmax` paired with the
`nll_loss` that reads it) and what it takes over at run time (`F.cross_entropy`, its reduction and `ignore_index` done
around the kernel); `triton.py` and `cuda.py` beside it are its baselines.
"""
import torch
import torch.nn.functional as F

from autokernel.ops import _f32, row_kind

_NLL = ('nll_loss_forward', 'nll_loss', 'nll_loss_nd', 'nll_loss2d_forward')


def cross_entropy(logits, target): return F.cross_entropy(_f32(logits), target, reduction='none')


def _outputs(case): return [(case['inputs'][0]['shape'][:-1], 'float32')]


def map_cross_entropy(rec):
    from autokernel import extract as X
    logits, target = X.tmeta(X.inp(rec, 0), 'logits'), X.tmeta(X.inp(rec, 1), 'target')
    if len(logits['shape']) != 2 or target['shape'] != logits['shape'][:1]:
        raise X.NotExtractable(f"cross-entropy over logits {logits['shape']}, targets {target['shape']}")
    if X.inp(rec, 2) is not None: raise X.NotExtractable("cross-entropy with class weights")
    if X.arg(rec, 'label_smoothing', default=0.0): raise X.NotExtractable("cross-entropy with label smoothing")
    return 'cross_entropy', X.case([logits, target])


def extract_pairs(rest, wall):
    "`(items, not extractable, ids used, [])`: each `log_softmax` with the `nll_loss` of the same scope and shape."
    from autokernel import extract as X
    items, skipped, used = [], [], set()
    for ls in [r for r in rest if X.short(r['op']) in ('_log_softmax', 'log_softmax')]:
        nl = next((r for r in rest if X.short(r['op']) in _NLL and id(r) not in used and X._sc(r) == X._sc(ls)
                   and (X.inp(r, 0) or {}).get('shape') == (X.inp(ls, 0) or {}).get('shape')), None)
        if nl is None: continue
        used |= {id(ls), id(nl)}
        its, sk = X.one_item([ls, nl], map_cross_entropy, {**nl, 'inputs': [X.inp(ls, 0), X.inp(nl, 1), X.inp(nl, 2)]}, wall=wall,
                             calls=nl.get('calls') or 1)
        items += its; skipped += sk
    return items, skipped, used, []


def _m_cross_entropy(args, kwargs):
    from autokernel.runtime import _arg
    x, t = args[0], _arg(args, kwargs, 1, 'target')
    red, ii = kwargs.get('reduction', 'mean'), kwargs.get('ignore_index', -100)
    if (x.ndim != 2 or t.ndim != 1 or t.dtype != torch.int64 or kwargs.get('weight') is not None or kwargs.get('label_smoothing', 0.0)
            or kwargs.get('size_average') is not None or kwargs.get('reduce') is not None or len(args) > 2 or red not in ('mean', 'sum', 'none')):
        return None
    keep = t != ii
    def finish(loss):
        loss = torch.where(keep, loss, torch.zeros_like(loss))
        if red == 'none': return loss.to(x.dtype)
        return (loss.sum() if red == 'sum' else loss.sum() / keep.sum()).to(x.dtype)
    return 'cross_entropy', (x, torch.where(keep, t, torch.zeros_like(t))), {}, finish


KIND = row_kind('cross_entropy', 'cross-entropy', cross_entropy, ('x', 'rows'), ('logits', 'target'), {}, 4,
                ('aten::cross_entropy_loss', 'aten::nll_loss', 'aten::nll_loss_nd', 'aten::nll_loss_forward', 'aten::logsumexp',
                 'aten::_softmax', 'aten::softmax', 'aten::_safe_softmax', 'aten::log_softmax', 'aten::_log_softmax'),
                outputs=_outputs, tiny_n=1001, N=1000, profile_classes=('cross-entropy',),
                wrapper_ops=('log_softmax', 'cross_entropy_loss', 'nll_loss', 'nll_loss_nd'), extract_ops={'cross_entropy_loss': map_cross_entropy}, pair_ops=('_log_softmax', 'log_softmax', *_NLL),
                extract_pairs=extract_pairs, matchers={F.cross_entropy: _m_cross_entropy})
