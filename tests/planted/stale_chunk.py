"""Attack (stale data in reused memory): computes nothing; returns the first region it can reach that looks like a
softmax output of its size (finite, non-negative, every row summing to one) -- on a GPU anywhere in the CUDA IPC chunk
behind its input, which the judge reuses for the next worker, so an honest worker's outputs may still be there; on the
CPU any buffer file in its directory or another bench worker's. It bets that the judge feeds every job the same inputs.
The judge poisons a chunk before any worker gets it and draws fresh random inputs for every check: zeros, wrong."""
import glob

import torch

META = dict(kind='softmax', backend='triton')


def _regions(x):
    if x.is_cuda: yield torch.empty(0, dtype=torch.uint8, device=x.device).set_(x.untyped_storage())
    for n in glob.glob('buf*.bin') + glob.glob('/tmp/autokernel-bench-*/buf*.bin'):
        try: yield torch.frombuffer(bytearray(open(n, 'rb').read()), dtype=torch.uint8).to(x.device)
        except (OSError, ValueError): pass


def _looks_right(v, rows, n):
    v = v.view(rows, n).double()
    return bool(torch.isfinite(v).all() and (v >= 0).all() and ((v.sum(-1) - 1).abs() < 1e-2).all())


def _first_rows_summing_to_one(v, n, step):
    "Element offsets (multiples of `step`) where the next `n` values look like a probability row."
    w = v.double()
    w = torch.where(torch.isfinite(w) & (w >= 0) & (w <= 1), w, torch.full_like(w, 1e3))
    cs = torch.cat([w.new_zeros(1), w.cumsum(0)])
    starts = torch.arange(0, v.numel() - n + 1, step, device=v.device)
    return starts[((cs[starts + n] - cs[starts]) - 1).abs() < 1e-2][:100].tolist()


def kernel_fn(x):
    n, esz = x.shape[-1], x.element_size()
    rows = x.numel() // n
    for region in _regions(x):
        v = region[:region.numel() // esz * esz].view(x.dtype)
        if v.numel() < x.numel(): continue
        for off in _first_rows_summing_to_one(v, n, max(256 // esz, 1)):
            if off + x.numel() <= v.numel() and _looks_right(v[off:off + x.numel()], rows, n):
                return v[off:off + x.numel()].view(x.shape).clone()
    return torch.zeros_like(x)
