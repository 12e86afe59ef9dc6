"""The judge's shared buffers by construction: a worker can reach nothing of the judge's beyond them, its writes outside
them are seen, and the judge never reads them in place (CPU: files through the judge's descriptor; GPU: the arena).
The planted attacks on them (tests/planted/{peek,scribble,stale}_chunk.py, late_grandchild.py, truncate_shared.py) run
through the real bench in tests/test_bench.py; here are the mechanisms, on fresh random data."""
import mmap
import os

import pytest
import torch

from autokernel import judge as J

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _file_buffer(tmp_path, t):
    fd = os.open(tmp_path / f"buf{os.urandom(4).hex()}.bin", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    sh = J.Shared(t, fd=fd)
    sh.write(t)
    return sh


def _worker_map(sh):
    "What a worker maps of the file (all of it: a worker may map more than it was told)."
    return mmap.mmap(sh.fd, 0)


def test_cpu_buffer_copies_in_and_out(tmp_path):
    x = torch.randn(5, 7, dtype=torch.float64)
    sh = _file_buffer(tmp_path, x)
    assert os.fstat(sh.fd).st_size == x.numel() * 8 + J.GUARD
    got = sh.read()
    assert torch.equal(got, x) and got.data_ptr() != x.data_ptr() and sh.intact()
    m = _worker_map(sh)
    m[8:16] = torch.tensor([3.5], dtype=torch.float64).numpy().tobytes()      # the worker writes element 1
    assert not sh.intact() and sh.read()[0, 1].item() == 3.5
    assert got[0, 1].item() == x[0, 1].item()                                   # the judge's copy did not move


def test_cpu_write_past_the_end_is_out_of_bounds(tmp_path):
    sh = _file_buffer(tmp_path, torch.randn(3, 4))
    _worker_map(sh)[48 + 5] = 0                                                 # one byte into the guard
    with pytest.raises(J.Judged) as e: sh.read()
    assert e.value.cause == "out_of_bounds" and e.value.verdict == "rejected"


def test_cpu_truncated_buffer_is_a_rejection_not_sigbus(tmp_path):
    sh = _file_buffer(tmp_path, torch.randn(64, 64))
    os.ftruncate(sh.fd, 0)                                                      # what truncate_shared does
    for f in (sh.read, sh.intact):
        with pytest.raises(J.Judged) as e: f()
        assert e.value.cause == "out_of_bounds"


def test_cpu_strided_input_holes_are_checked(tmp_path):
    x = torch.randn(4, 6)[:, ::2]                                               # strides (6, 2): holes between elements
    sh = _file_buffer(tmp_path, x)
    assert torch.equal(sh.read(), x) and sh.intact()
    _worker_map(sh)[4:8] = bytes(4)                                             # element (0, 1) of the base: a hole
    assert not sh.intact()


def test_arena_poison_scrub_reset_on_cpu_chunks():
    a = J.Arena("cpu", alloc=lambda n, d: torch.empty(n, dtype=torch.uint8), chunk=1 << 14)
    x = a.take((7, 9), (9, 1), torch.float32)
    assert x.isnan().all()                                                      # POISON reads as NaN
    x.copy_(torch.randn(7, 9))
    y = a.take((5,), (1,), torch.int64)
    assert (y == -1).all()
    y.copy_(torch.randint(0, 100, (5,)))
    assert a.scrub() and (a.chunks[0] == J.POISON).all()                        # buffers poisoned again, nothing else
    z = a.take((7, 9), (9, 1), torch.float32)
    assert z.data_ptr() == x.data_ptr()
    a.chunks[0][-3] = 0                                                         # a write far past every buffer
    assert not a.scrub() and (a.chunks[0] == J.POISON).all()
    a.take((3,), (1,), torch.float16).fill_(1.0)
    a.reset()
    assert all((c == J.POISON).all() for c in a.chunks) and not a.mapped and not a.live


def test_poison_is_nan_and_minus_one_in_every_width():
    for dt in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert J.poison_(torch.zeros(3, dtype=dt)).isnan().all()
    for dt in (torch.int8, torch.int16, torch.int32, torch.int64):
        assert (J.poison_(torch.zeros(3, dtype=dt)) == -1).all()


@gpu
def test_gpu_arena_chunks_are_private_and_poisoned():
    a = J.acquire_arena("cuda")
    x = a.take((1000, 333), (333, 1), torch.bfloat16)
    assert x.isnan().all() and a.owns(x)
    assert x.untyped_storage().nbytes() >= J.ARENA_CHUNK                       # IPC would hand over the whole chunk
    other = torch.randn(1000, device="cuda")                                    # the judge's own memory: never a chunk
    assert not a.owns(other) and other.untyped_storage().data_ptr() not in {c.data_ptr() for c in a.chunks}
    x.copy_(torch.randn(1000, 333, device="cuda"))
    assert a.scrub()
    whole = torch.empty(0, dtype=torch.uint8, device="cuda").set_(a.take((8,), (1,), torch.float32).untyped_storage())
    whole[-(1 << 20):].zero_()                                                  # what scribble_chunk does from a worker
    assert not a.scrub()
    n = len(J._IPC)
    J.return_arena(a)                                                           # the worker is dead: freed, never reused
    assert not a.chunks and len(J._IPC) < n


def _child_writes_past(desc, q):
    from autokernel import worker as W
    t = W.open_buffer(desc, "")
    whole = torch.empty(0, dtype=torch.uint8, device=t.device).set_(t.untyped_storage())
    whole[-4096:].fill_(7)
    torch.cuda.synchronize()
    q.put(whole.numel())


@gpu
def test_gpu_ipc_worker_reaches_the_chunk_and_the_scrub_sees_it():
    "Processes handed an arena buffer's description open its chunk by CUDA IPC, one after another; the scrub sees writes."
    import torch.multiprocessing as mp
    a = J.Arena("cuda")
    t = a.take((256,), (1,), torch.float32)
    t.copy_(torch.randn(256, device="cuda"))
    torch.cuda.synchronize()
    ctx = mp.get_context("spawn")
    for _ in range(2):                                                          # a second process opens it too
        q = ctx.Queue()
        p = ctx.Process(target=_child_writes_past, args=(a.describe(t), q))
        p.start()
        n = q.get(timeout=120)
        p.join(60)
        assert p.exitcode == 0 and n == a.chunks[0].numel()
        assert not a.scrub()
        t = a.take((256,), (1,), torch.float32)
    a.free()


def test_session_arena_branch_on_cpu_chunks(monkeypatch, tmp_path):
    "The GPU branch of `Session` (arena views, the scrub at release), run on CPU chunks with `is_gpu` forced."
    arena = J.Arena("cpu", alloc=lambda n, d: torch.empty(n, dtype=torch.uint8), chunk=1 << 16)
    monkeypatch.setattr(J.core, "is_gpu", lambda d: True)
    monkeypatch.setattr(J, "acquire_arena", lambda d: arena)
    s = J.Session(None, tmp_path, "cpu", os.getpid())
    x = torch.randn(6, 10)
    view = lambda d: arena.chunks[0].view(getattr(torch, d["dtype"])).as_strided(d["shape"], d["stride"], d["offset"])
    desc, sh = s.share(x)
    assert desc["ipc"] is None and arena.owns(view(desc)) and torch.equal(sh.read(), x) and sh.intact()
    dslot, slot = s.slot(60, torch.float32)
    assert slot.read().isnan().all()
    want = torch.softmax(x, -1)
    view(dslot).copy_(want.flatten())                                          # the worker's write_out
    out = slot.read()
    s.release()                                                                 # nothing else touched: clean
    assert (arena.chunks[0] == J.POISON).all() and torch.equal(out.view(6, 10), want)
    desc, sh = s.share(x)
    view(desc)[2, 3] = 0.0                                                    # an input changed: a mutation
    assert not sh.intact()
    torch.empty(0, dtype=torch.uint8).set_(view(desc).untyped_storage())[-1] = 0   # scribble_chunk's write
    with pytest.raises(J.Judged) as e: s.release()
    assert e.value.cause == "out_of_bounds" and (arena.chunks[0] == J.POISON).all()
