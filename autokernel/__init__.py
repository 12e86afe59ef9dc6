__version__ = "0.1.0"

from . import core as _core  # noqa: E402,F401  (switches Triton's interpreter on without a GPU, before anything imports triton)


def optimized(model, run, mode=None):
    "`model` with a run's winning kernels in the winning mode (see `autokernel.verify.optimized`)."
    from .verify import optimized as _optimized
    return _optimized(model, run, mode)
