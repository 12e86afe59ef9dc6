"""Timing rounds as CUDA graphs (setting `bench_graphs`): the worker captures its round of calls and replays it on the
judge's fresh inputs; the judge captures the baselines' rounds the same way. Off the GPU every round runs call by call."""
import shutil
import sys
from pathlib import Path

import pytest
import torch

from autokernel import bench as B
from autokernel import judge as J
from autokernel import ops
from autokernel import worker as W

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
sys.path.insert(0, str(Path(__file__).parent / "planted"))


def test_graph_round_is_none_off_the_gpu():
    ran = []
    assert J.graph_round(lambda: ran.append(1), torch.device("cpu")) is None and not ran


def test_round_calls_copies_each_output_and_counts_aliases(tmp_path):
    st = W._State(torch.device("cpu"), str(tmp_path))
    xs = [torch.randn(3, 5) for _ in range(2)]
    slots = [[torch.full((15,), float("nan"))] for _ in xs]
    st.timing, st.fn = ([(x,) for x in xs], slots, {}), lambda x: x * 2 + 1
    assert W.round_calls(st) == 0
    assert all(torch.equal(s.view(3, 5), x * 2 + 1) for x, (s,) in zip(xs, slots))
    st.fn = lambda x: x                                                   # returns its input: one alias per call
    assert W.round_calls(st) == 2


@gpu
def test_gpu_a_captured_round_recomputes_on_fresh_inputs():
    st = W._State(torch.device("cuda", torch.cuda.current_device()), "")
    xs = [torch.randn(64, 130, device="cuda") for _ in range(3)]
    slots = [[torch.full((64 * 130,), float("nan"), device="cuda")] for _ in xs]
    st.timing, st.fn = ([(x,) for x in xs], slots, {}), lambda x: torch.softmax(x, -1)
    g, alias = W.capture_round(st)
    for x in xs: x.copy_(torch.randn_like(x))                           # the judge refills the same buffers
    g.replay()
    torch.cuda.synchronize()
    assert alias == 0 and all(torch.allclose(s.view(64, 130), torch.softmax(x, -1)) for x, (s,) in zip(xs, slots))


@gpu
def test_gpu_bench_times_the_baseline_and_its_peers_as_graphs(tmp_path):
    from expected import planted_spec
    shutil.copy(ops.baseline_path("softmax", "triton"), tmp_path / "kernel.py")
    res = B.bench(tmp_path, planted_spec("baseline_softmax"), device="cuda", timeout=300, verbose=False)
    assert res["verdict"] == "pass", res.get("reason")
    t = res["timing"]
    assert t["graphed"] is True and t["graph_error"] is None and t["protocol_ms"] >= t["copy_ms"] > 0
    assert t["baseline_graphed"] == {"eager": True, "compile": True} and t["timing_note"] is None
    # the judge's own share measured as graphs too, and only once the worker was gone (none of its GPU work left)
    assert t["judge_copies_graphed"] is True and t["worker_stopped_first"] is True and t["worker_frozen"]["pids"] == 0
    assert t["lock_wait_s"] >= 0 and t["locked_s"] > 0


def _copies(device):
    "A `Copies` over plain tensors standing in for the arena's shared views (two sets: an input and a non-tensor; one output)."
    sets = [(torch.randn(4, 9, device=device), 3) for _ in range(2)]
    shared = [[(None, J.Shared(a, view=torch.empty_like(a))), (n, None)] for a, n in sets]
    slots = [[(None, J.Shared(torch.empty(36, device=device), view=torch.full((36,), float("nan"), device=device)))] for _ in sets]
    return J.Copies(shared, slots, [list(s) for s in sets], device), shared, slots


def test_copies_off_the_gpu_are_loops():
    c, _, _ = _copies(torch.device("cpu"))
    assert not c.graphed


@gpu
def test_gpu_sync_debug_mode_stops_a_host_sync_before_a_capture():
    "The worker's first run of a round to be captured raises at a host sync instead of starting a broken capture."
    x = torch.randn(8, device="cuda")
    with pytest.raises(RuntimeError):
        W.capture(lambda: x.sum().item(), x.device, no_syncs=True)
    assert torch.cuda.get_sync_debug_mode() == 0 and W.capture(lambda: x.mul_(1), x.device, no_syncs=True) is not None


@gpu
def test_gpu_judge_copies_are_graphs_that_move_fresh_data():
    c, shared, slots = _copies(torch.device("cuda", torch.cuda.current_device()))
    assert c.graphed
    for _ in range(2):                                                    # new contents each round, the same buffers
        fresh = [(torch.randn(4, 9, device="cuda"), 3) for _ in range(2)]
        c.load(iter(fresh))
        mine = c.refill()
        torch.cuda.synchronize()
        for (a, _), m, sh in zip(fresh, mine, shared):
            assert torch.equal(m[0], a) and torch.equal(sh[0][1].view, a) and sh[0][1].intact()
        for (_, t), (a, _) in zip([sl[0] for sl in slots], fresh): t.view.copy_(a.flatten() * 2)
        seen = c.read()
        torch.cuda.synchronize()
        assert all(torch.equal(s[0], a.flatten() * 2) for s, (a, _) in zip(seen, fresh))


def test_no_host_syncs_refuses_the_syncs_that_sync_debug_mode_misses(monkeypatch):
    "Inside `no_host_syncs`, torch.cuda.synchronize and events' and streams' waits raise; after it, all is restored."
    modes = []
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    before = (torch.cuda.synchronize, torch.cuda.Event.query, torch.cuda.Stream.synchronize)
    with pytest.raises(ValueError, match="inside"):
        with W.no_host_syncs():
            for f in (torch.cuda.synchronize, torch.cuda.Event.synchronize, torch.cuda.Event.query, torch.cuda.Stream.query):
                with pytest.raises(RuntimeError, match="host synchronisation"):
                    f(None) if f is not torch.cuda.synchronize else f()
            raise ValueError("inside")                                     # a failing body still restores everything
    assert modes == ["error", 0]
    assert (torch.cuda.synchronize, torch.cuda.Event.query, torch.cuda.Stream.synchronize) == before


@gpu
def test_gpu_first_changed_agrees_with_torch_equal():
    "The timed rounds' one-pass check (`first_changed`) on CUDA buffers: the same answer as a `torch.equal` per pair."
    g = torch.Generator("cuda").manual_seed(0)
    for trial in range(20):
        groups = []
        for _ in range(8):
            a = torch.randn(37, 5, device="cuda", generator=g).to([torch.float32, torch.bfloat16, torch.float16][trial % 3])
            b = a.clone()
            if torch.rand((), generator=g, device="cuda") < 0.2: b.view(-1)[int(torch.randint(0, b.numel(), (), generator=g, device="cuda"))] += 1
            if torch.rand((), generator=g, device="cuda") < 0.1: a.view(-1)[0], b.view(-1)[0] = 0.0, -0.0   # bitwise unequal
            groups.append([(a, b)])
        want = next((i for i, gr in enumerate(groups) if not all(J.same_bits(x, y) for x, y in gr)), None)
        assert J.first_changed(groups) == want, trial


@gpu
def test_gpu_pool_reuses_the_judges_own_copies_timed_alone(tmp_path):
    "After HARNESS_SAMPLES benches of a case, a screen no faster than the incumbent reuses the copies' least times; others measure."
    from expected import planted_spec
    shutil.copy(ops.baseline_path("softmax", "triton"), tmp_path / "kernel.py")
    J._ALONE.clear()
    spec = planted_spec("baseline_softmax")
    with B.BenchPool(workers=1, device="cuda", timeout=300) as pool:
        runs = [pool.bench(tmp_path, spec) for _ in range(J.HARNESS_SAMPLES)]
        S = runs[0]["timing"]["input_sets"]
        slow = pool.bench(tmp_path, {**spec, "incumbent_wall_ms": 1e-9, "incumbent_sets": S}, timing="retime")   # raw-slower
        fast = pool.bench(tmp_path, {**spec, "incumbent_wall_ms": 1e9, "incumbent_sets": S}, timing="retime")    # a new best
    assert all(r["verdict"] == "pass" for r in runs + [slow, fast]), [r.get("reason") for r in runs + [slow, fast]]
    assert not any(r["timing"]["protocol_cached"] for r in runs + [fast]) and slow["timing"]["protocol_cached"] is True
    t = slow["timing"]
    assert t["protocol_ms"] >= t["copy_ms"] > 0 and t["hold_parts_s"]["judge_alone"] == 0.0
    h = next(iter(J._ALONE.values()))
    assert abs(t["copy_ms"] - h["copy"]) < 1e-9 and h["n"] == J.HARNESS_SAMPLES + 1


@gpu
def test_gpu_check_slice_holds_the_shared_lock_across_a_stage(tmp_path, monkeypatch):
    "With `check_slice_s`, a full bench's stages still pass and record their checks' lock waits."
    from expected import planted_spec
    monkeypatch.setenv("AUTOKERNEL_CHECK_SLICE_S", "0.25")
    shutil.copy(ops.baseline_path("softmax", "triton"), tmp_path / "kernel.py")
    res = B.bench(tmp_path, planted_spec("baseline_softmax"), device="cuda", timeout=300, verbose=False)
    assert res["verdict"] == "pass", res.get("reason")
    assert all(st["lock_wait_s"] >= 0 for st in res["stages"].values() if st.get("ok"))
