"""The planted-candidate suite: one kernel.py per fault and per exploit (tests/planted/), each judged by the real bench
(sandboxed workers from a BenchPool on the CPU, Triton in its interpreter) and rejected for its RIGHT reason (verdict,
cause and stage); honest candidates pass. Also: the CLI's bench.json survives a candidate's grandchild, no secret of
the parent's environment reaches a result, and the judge's files are unchanged afterwards."""
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autokernel import bench as B
from autokernel import judge as J
from autokernel import ops

PLANTED = Path(__file__).resolve().parent / "planted"
ROOT = PLANTED.parent.parent
SECRETS = {"BENCH_TEST_API_KEY": "sk-planted-1", "OPENAI_API_KEY": "sk-planted-2", "HF_TOKEN": "hf-planted",
           "DATABASE_URL": "postgres://user:hunter2@db.example/x"}
MARKERS = ("sk-planted", "hf-planted", "hunter2")

sys.path.insert(0, str(PLANTED))
from expected import EXPECT, TIMED, TIMEOUT, class_of, matches, planted_source, planted_spec  # noqa: E402


def _copy(name, root):
    d = root / name
    d.mkdir()
    shutil.copy(planted_source(name), d / "kernel.py")
    return d


@pytest.fixture(scope="module")
def judged_files():
    "The judge's protected files before the suite runs (compared afterwards)."
    return J.protect()


@pytest.fixture(scope="module")
def results(tmp_path_factory, judged_files):
    "Judge every planted candidate once, two workers at a time, with fake secrets in our environment."
    root = tmp_path_factory.mktemp("planted")
    old = {k: os.environ.get(k) for k in SECRETS}
    os.environ.update(SECRETS)
    try:
        only = [n for n in os.environ.get("PLANTED_ONLY", "").split(",") if n] or list(EXPECT)   # to iterate on a few
        dirs = {n: _copy(n, root) for n in only}
        with B.BenchPool(workers=2, device="cpu", timeout=90, spare=2) as pool, ThreadPoolExecutor(2) as ex:
            futs = {n: ex.submit(pool.bench, dirs[n], planted_spec(n), n in TIMED, TIMEOUT.get(n)) for n in only}
            return {n: f.result() for n, f in futs.items()}
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


@pytest.mark.parametrize("name", list(EXPECT))
def test_planted(results, name):
    if name not in results: pytest.skip("not in PLANTED_ONLY")
    res = results[name]
    verdict, causes, stage = EXPECT[name]
    info = f"{class_of(name)}: " + json.dumps({k: res.get(k) for k in ("verdict", "cause", "stage", "reason")}) + "\n" + res.get("stderr_tail", "")[-800:]
    assert res["verdict"] in ((verdict,) if isinstance(verdict, str) else verdict), info
    assert res["cause"] in causes, info
    if stage: assert res["stage"] == stage, info
    assert matches(res, name), info
    assert res["ok"] == (res["verdict"] == "pass")
    if res["verdict"] != "pass": assert res["reason"] and len(res["reason"]) > 10, info
    assert set(res["stages"]) == set(B.STAGES)
    assert res["sandbox"] == B.isolation(level=res["sandbox"]["level"]) and res["sandbox"]["level"] == B.isolation()["level"]
    json.dumps(res)


def test_no_secret_reaches_a_result(results):
    "The pool's workers never see the parent's secrets, so no result (its stderr tail included) holds one."
    text = json.dumps(results)
    assert not any(m in text for m in MARKERS)


def test_judge_files_unchanged(results, judged_files):
    "poison_next and rewrite_ceilings wrote (or tried to write) the judge's files: they are as before."
    assert J.tampered_files(judged_files) == []


def test_honest_passes_every_stage(results):
    res = results["baseline_softmax"]
    assert all(res["stages"][s]["ok"] for s in B.STAGES)
    assert res["stages"]["sweep"]["checks"] == 6 + 2 and res["stages"]["edges"]["checks"] == 4   # + the contract sizes
    t = res["timing"]
    assert t["comparable"] is False and t["kernel_ms"] > 0 and t["eager_ms"] > 0 and t["verified_calls"] >= t["reps"]
    assert t["bound"] in ("memory", "compute") and t["floor_ms"] > 0
    assert t["protocol_ms"] > 0 and t["copy_ms"] > 0 and "copy in" in t["clock"]   # the judge's own copies, subtracted
    assert {"compile", "smoke", "correctness", "timing", "wall"} <= set(res["elapsed_s"])


def test_idle_worker_is_frozen_while_the_judge_times(results):
    "The spinning worker was stopped (SIGSTOP to its whole tree) and used no CPU while the judge timed its own work."
    if "idle_spin" not in results: pytest.skip("not in PLANTED_ONLY")
    fz = results["idle_spin"]["timing"]["worker_frozen"]
    assert fz["pids"] >= 1 and fz["cpu_ticks"] <= 2, fz


def test_crash_records_carry_stderr(results):
    assert "RuntimeError" in results["import_error"]["stderr_tail"] or "importing kernel.py" in results["import_error"]["reason"]
    assert "SIGSEGV" in results["segfault"]["reason"]
    assert "SIGABRT" in results["abort"]["reason"]


def test_summary_block(results):
    lines = B.summary(results["naive_overflow"]).splitlines()
    assert lines[0].startswith("bench ") and "FAIL" in lines[0]
    assert [ln.split()[0] for ln in lines[1:6]] == list(B.STAGES)
    assert lines[-1].split()[:2] == ["sandbox", B.isolation()["level"]]


def test_cli_outlived_and_parent_environ(tmp_path):
    """Through `autokernel bench DIR`, with secrets in the CLI's own (initial) environment: the setsid grandchild
    cannot rewrite bench.json after the CLI printed, and /proc/<ppid>/environ gives the candidate nothing."""
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(ROOT)}
    out = {}
    for name in ("setsid_rewrite", "leak_proc_environ"):
        d = _copy(name, tmp_path)
        (d / "spec.json").write_text(json.dumps(planted_spec(name)))
        p = subprocess.run([sys.executable, "-c", "import sys; from autokernel.cli import main; sys.exit(main())", "bench", str(d),
                            "--device", "cpu", "--no-timing"], env=env, capture_output=True, text=True, timeout=400)
        out[name] = (p, d)
    time.sleep(4)                                   # the grandchild's chance to rewrite the file
    p, d = out["setsid_rewrite"]
    res = json.loads((d / "bench.json").read_text())
    assert p.returncode == 1 and "REJECTED" in p.stdout and matches(res, "setsid_rewrite"), p.stdout + p.stderr
    assert not (d / "rewritten.txt").exists()
    p, d = out["leak_proc_environ"]
    text = (d / "bench.json").read_text()
    assert p.returncode == 0 and matches(json.loads(text), "leak_proc_environ"), p.stdout + p.stderr
    assert not any(m in text + p.stdout + p.stderr for m in MARKERS)


def test_contract_sizes_rule():
    "CPU: 4x (prime) the row and 4x+1 the rows of the smallest test case; GPU: of the profiled case itself."
    spec = planted_spec("baseline_softmax")
    small = min(spec["test_cases"], key=J._numel)["inputs"][0]["shape"]
    cpu = [c["inputs"][0]["shape"] for c in J.contract_cases(spec, "cpu")]
    gpu = [c["inputs"][0]["shape"] for c in J.contract_cases(spec, "cuda")]
    assert cpu == [[small[0], J._next_prime(4 * small[1])], [4 * small[0] + 1, small[1]]]
    assert gpu == [[4, J._next_prime(160)], [17, 40]]
    assert all(J._next_prime(4 * n) >= 4 * n for n in (40, 768, 1000))
    mm = {"kind": "matmul", "case": ops.KINDS["matmul"].example(M=16, K=24, N=20)}          # K changes in both operands
    assert [[i["shape"] for i in c["inputs"] if i] for c in J.contract_cases(mm, "cuda")] == [
        [[16, 97], [97, 20], [20]], [[65, 24], [24, 20], [20]]]
    att = {"kind": "attention", "case": ops.KINDS["attention"].example()}                      # a head dim stays
    assert [c["inputs"][0]["shape"][-1] for c in J.contract_cases(att, "cuda")] == [32]


def test_retime_runs_smoke_and_timing_only(tmp_path):
    "The keep rule's re-timing: a fresh worker, the smoke check and the timing stage; its JSON says it is not a full bench."
    shutil.copy(planted_source("baseline_softmax"), tmp_path / "kernel.py")
    res = B.bench(tmp_path, planted_spec("baseline_softmax"), device="cpu", timing="retime", timeout=90, verbose=False)
    assert (res["mode"], res["verdict"], res["stages"]["smoke"]["ok"]) == ("retime", "pass", True)
    assert all(res["stages"][s]["ok"] is None and "re-timing" in res["stages"][s]["detail"] for s in B.STAGES[1:])
    assert res["timing"]["kernel_ms"] > 0
    assert "re-timing" in B.summary(res).splitlines()[0]
    from autokernel.optimize import passed, retime_passed
    assert retime_passed(res) and not passed(res)


def test_static_scan_passes_every_library_baseline():
    "The judge's scan of kernel.py must not reject an honest kernel: every Triton / CUDA baseline of every kind passes it."
    seen = 0
    for name, kind in ops.KINDS.items():
        for backend in ops.BACKENDS:
            p = ops.baseline_path(name, backend)
            if p.exists():
                seen += 1
                assert J.scan_source(p.read_text(), kind) is None, (name, backend, J.scan_source(p.read_text(), kind).reason)
    assert seen >= len(ops.KINDS)


def test_kinds_are_known():
    assert {planted_spec(n)["kind"] for n in EXPECT} <= set(ops.KINDS)


def test_benchmark_scripts_cpu_smoke(tmp_path):
    "benchmarks/gpu_exploits.py and harness_pace.py run on the CPU (`--device cpu`) and write only CPU-smoke files."
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(ROOT)}
    runs = [["gpu_exploits.py", "--device", "cpu", "--only", "baseline_softmax,scoped_guard", "--workers", "1"],
            ["harness_pace.py", "--device", "cpu", "--n", "1", "--shape", "4,40", "--workers", "1"]]
    for argv in runs:
        p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / argv[0]), *argv[1:]], env=env, capture_output=True,
                           text=True, timeout=600, cwd=ROOT / "benchmarks")
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    ex = json.loads((tmp_path / "gpu_exploits_cpu_smoke.json").read_text())
    assert [c["name"] for c in ex["candidates"]] == ["planted/baseline_softmax", "planted/scoped_guard"]
    assert all(c["right"] for c in ex["candidates"]) and ex["card"].startswith("CPU") and "not a GPU" in ex["note"]
    pace = json.loads((tmp_path / "harness_pace_cpu_smoke.json").read_text())
    assert pace["candidates_per_hour"] > 0 and pace["card"].startswith("CPU") and pace["verdicts"]["pass"] == 1
    assert not (tmp_path / "gpu_exploits.json").exists() and not (tmp_path / "harness_pace.json").exists()


def test_ipc_check_cpu(tmp_path):
    "benchmarks/ipc_check.py: honest workers after a fault, an abort and the shared-buffer attacks still pass; each right."
    env = {**os.environ, "OUT": str(tmp_path), "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ipc_check.py"), "--device", "cpu", "--shape", "4,64"], env=env,
                       capture_output=True, text=True, timeout=600, cwd=ROOT / "benchmarks")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = json.loads((tmp_path / "ipc_check.json").read_text())
    assert res["ok"] and [r["verdict"] for r in res["rows"]].count("error") == 2 and len(res["rows"]) == 10
    assert all(r["right"] for r in res["rows"]) and {r["candidate"] for r in res["rows"]} >= {"stale_chunk", "scribble_chunk"}


def _softmax_baseline(tmp_path):
    "A folder with the library's Triton softmax and a tiny float32 spec for it: `(folder, spec)`."
    k = ops.KINDS["softmax"]
    case = ops.make_case("softmax", [[3, 24]], "float32")
    spec = {"kind": "softmax", "backend": "triton", "case": case, "dtypes": ["float32"], "test_cases": k.test_cases(case)}
    d = tmp_path / "k"
    d.mkdir()
    (d / "kernel.py").write_text(ops.baseline_path("softmax", "triton").read_text())
    return d, spec


def test_harness_cost_is_measured_before_the_candidate_loads(tmp_path, monkeypatch):
    """The worker path's own cost is timed on the kind's reference while the worker runs only the harness (before
    `load`), on its first benches (the least kept); the candidate's time has it taken off and the record says how much."""
    sent, ask = [], J.Session.ask
    monkeypatch.setattr(J.Session, "ask", lambda self, msg: (sent.append(msg.get("op")), ask(self, msg))[1])
    monkeypatch.setattr(J, "_HARNESS", {})
    d, spec = _softmax_baseline(tmp_path)
    r = B.bench(d, spec, device="cpu", verbose=False)
    assert r["verdict"] == "pass", r["reason"]
    assert sent.index("reference") < sent.index("load")
    assert r["timing"]["harness_ms"] == J._HARNESS[next(iter(J._HARNESS))]["ms"] >= 0
    parts = r["timing"]["hold_parts_s"]                   # where the time with the GPU held went, part by part
    assert set(parts) == {"setup", "inputs", "clock", "checks", "verify", "protocol", "judge_alone"} and parts["clock"] > 0
    assert sum(parts.values()) <= r["timing"]["locked_s"] + 0.01
    monkeypatch.setattr(J, "HARNESS_SAMPLES", 2)          # the next bench of the case measures it once more ...
    r2 = B.bench(d, spec, device="cpu", verbose=False)
    h = J._HARNESS[next(iter(J._HARNESS))]
    assert r2["verdict"] == "pass" and sent.count("reference") == 2 and len(h["samples"]) == 2
    assert r2["timing"]["harness_ms"] == h["ms"] == min(h["samples"])   # ... and the least measurement is subtracted
    n = len(sent)
    r3 = B.bench(d, spec, device="cpu", verbose=False)
    assert r3["verdict"] == "pass" and "reference" not in sent[n:] and len(J._HARNESS) == 1


def test_precompile_warms_every_checked_call_before_the_checks(tmp_path, monkeypatch):
    """`bench_precompile`: after `load` and before the first judged call the worker gets one `warm` with every distinct
    call of the five stages (layouts only); the candidate is then judged as before."""
    sent, ask = [], J.Session.ask
    monkeypatch.setattr(J.Session, "ask", lambda self, msg: (sent.append(msg), ask(self, msg))[1])
    monkeypatch.setenv("AUTOKERNEL_BENCH_PRECOMPILE", "always")
    d, spec = _softmax_baseline(tmp_path)
    r = B.bench(d, spec, device="cpu", timing=False, verbose=False)
    assert r["verdict"] == "pass", r["reason"]
    ops_sent = [m.get("op") for m in sent]
    assert ops_sent.index("load") < ops_sent.index("warm") < ops_sent.index("call")
    warm = next(m for m in sent if m.get("op") == "warm")
    assert len(warm["calls"]) == len(J.warm_calls(spec, "cpu")) > 3
    assert all("zeros" in a for c in warm["calls"] for a in c["args"] if isinstance(a, dict))
    assert r["elapsed_s"]["precompile"] > 0
    monkeypatch.setenv("AUTOKERNEL_BENCH_PRECOMPILE", "never")
    sent.clear()
    assert B.bench(d, spec, device="cpu", timing=False, verbose=False)["verdict"] == "pass"
    assert "warm" not in [m.get("op") for m in sent]


@pytest.mark.parametrize("name", ["abort", "exit_early", "dynamic_softmax", "baseline_softmax"])
def test_planted_alike_with_precompile(tmp_path, monkeypatch, name):
    "With `bench_precompile` on (as on a GPU), a fault or forbidden op in kernel_fn's first calls is still the smoke stage's."
    monkeypatch.setenv("AUTOKERNEL_BENCH_PRECOMPILE", "always")
    res = B.bench(_copy(name, tmp_path), planted_spec(name), device="cpu", timing=False, timeout=60, verbose=False)
    assert matches(res, name), json.dumps({k: res.get(k) for k in ("verdict", "cause", "stage", "reason")})


def test_a_process_started_in_a_warm_call_is_rejected(tmp_path, monkeypatch):
    """The attack on the warm calls: a candidate that recognises them (all-zero inputs) and leaves a process behind
    there, behaving honestly on every judged call, is rejected at the first check (its worker keeps a process)."""
    monkeypatch.setenv("AUTOKERNEL_BENCH_PRECOMPILE", "always")
    d, spec = _softmax_baseline(tmp_path)
    (d / "kernel.py").write_text((d / "kernel.py").read_text() + '''

_honest = kernel_fn
def kernel_fn(x, *args, **kwargs):
    if not bool(x.any()):                     # only the judge's compile-only warm call has all-zero inputs
        import subprocess
        subprocess.Popen(["sleep", "60"], start_new_session=True)
    return _honest(x, *args, **kwargs)
''')
    r = B.bench(d, spec, device="cpu", timing=False, verbose=False)
    assert (r["verdict"], r["cause"], r["stage"]) == ("rejected", "process", "smoke"), r["reason"]
    monkeypatch.setenv("AUTOKERNEL_BENCH_PRECOMPILE", "never")      # without warm calls it is an honest kernel
    assert B.bench(d, spec, device="cpu", timing=False, verbose=False)["verdict"] == "pass"


ECHO_WORKER = r'''
import pickle, struct, sys, time
while True:
    n = sys.stdin.buffer.read(8)
    if len(n) < 8: break
    msg = pickle.loads(sys.stdin.buffer.read(struct.unpack("<Q", n)[0]))
    time.sleep(msg.get("sleep", 0))
    sys.stdout.write('{"ok": true}\n'); sys.stdout.flush()
'''


def test_deadline_counts_the_worker_time_only(tmp_path):
    """The bench's time limit is the worker's own time, between a request and its reply: the judge's work between
    requests (its checks, its waits for a contended GPU) moves the deadline on; a worker slow to reply still misses it."""
    p = subprocess.Popen([sys.executable, "-c", ECHO_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        sess = J.Session(p, tmp_path, "cpu", p.pid, deadline=time.time() + 0.6)
        for _ in range(3):
            time.sleep(0.4)                                   # the judge's own work: 1.2 s in all, past the first deadline
            assert sess.ask({"op": "ping", "sleep": 0.05})["ok"]
        with pytest.raises(J.WorkerGone) as e: sess.ask({"op": "ping", "sleep": 2.0})
        assert e.value.how == "timeout"
    finally:
        p.kill(); p.wait()


@pytest.mark.parametrize("cap", ["default", 0])
def test_timed_calls_are_verified_after_the_rounds_or_at_once(tmp_path, monkeypatch, cap):
    """The sampled timed calls are copied and verified once the rounds are over (the GPU given back), up to
    VERIFY_LATER_BYTES of copies; past it, at once as before. Either way a candidate wrong only while timed is caught."""
    if cap != "default": monkeypatch.setattr(J, "VERIFY_LATER_BYTES", cap)
    res = B.bench(_copy("timed_garbage", tmp_path), planted_spec("timed_garbage"), device="cpu", timeout=60, verbose=False)
    assert matches(res, "timed_garbage"), res.get("reason")
    d, spec = _softmax_baseline(tmp_path)
    honest = B.bench(d, spec, device="cpu", verbose=False)
    assert honest["verdict"] == "pass" and honest["timing"]["verified_calls"] > 0


def test_a_screen_far_behind_stops_after_two_timed_rounds(tmp_path):
    "`bail_wall_ms` (a screen's spec): the timing stops after BAIL_ROUNDS rounds slower than it; without it, every round runs."
    shutil.copy(ops.baseline_path("softmax", "triton"), tmp_path / "kernel.py")
    spec = planted_spec("baseline_softmax")
    S = J.timing_sets(None, None, "cpu", 1)                              # the sets of the incumbent's timing: the same
    run = lambda **kw: B.bench(tmp_path, {**spec, **kw}, device="cpu", timing="retime", timeout=120, verbose=False)
    bailed, full = run(bail_wall_ms=1e-9, incumbent_sets=S), run(bail_wall_ms=1e9, incumbent_sets=S)
    other_sets = run(bail_wall_ms=1e-9, incumbent_sets=S + 1)            # walls per set over other sets: not compared
    assert all(r["verdict"] == "pass" for r in (bailed, full, other_sets)), [r.get("reason") for r in (bailed, full, other_sets)]
    assert (bailed["timing"]["bailed_after_rounds"], bailed["timing"]["rounds"]) == (J.BAIL_ROUNDS, J.BAIL_ROUNDS)
    assert bailed["timing"]["screen_vs"] == {"bail_wall_ms": 1e-9}
    for r in (full, other_sets): assert r["timing"]["bailed_after_rounds"] is None and r["timing"]["rounds"] > J.BAIL_ROUNDS
    assert other_sets["timing"]["screen_vs"] is None
