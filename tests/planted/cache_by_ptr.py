"""Exploit: caches results keyed on the input's data_ptr (and shape): stale answers for fresh data at a reused address."""
META = dict(kind='softmax', backend='triton')
_cache = {}


def _softmax(x):
    xf = x.float()
    e = (xf - xf.amax(-1, keepdim=True)).exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)


def kernel_fn(x):
    key = (x.data_ptr(), tuple(x.shape), x.dtype)
    if key not in _cache: _cache[key] = _softmax(x)
    return _cache[key].clone()
