"""The planted-candidate suite: one kernel.py per fault and per exploit (tests/planted/), each judged by the real bench
in worker processes (a BenchPool on the CPU, Triton in its interpreter) and rejected with the right reason; honest
candidates pass."""
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autokernel import bench as B
from autokernel import ops

PLANTED = Path(__file__).resolve().parent / "planted"
CASE = ops.KINDS["softmax"].example(lead=(4,), N=40)
SPEC = {"format": "autokernel.spec", "version": 1, "name": "planted", "kind": "softmax", "op_class": "softmax",
        "backend": "triton", "case": CASE, "dtypes": ["float32", "bfloat16"],
        "test_cases": ops.KINDS["softmax"].test_cases(CASE)}

sys.path.insert(0, str(PLANTED))
from expected import EXPECT, TIMED, TIMEOUT, matches, planted_source  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    "Judge every planted candidate once, two workers at a time; the pool's workers see fake secrets in our environment."
    root = tmp_path_factory.mktemp("planted")
    secrets = {"BENCH_TEST_API_KEY": "sk-planted", "OPENAI_API_KEY": "sk-planted", "HF_TOKEN": "hf-planted"}
    old = {k: os.environ.get(k) for k in secrets}
    os.environ.update(secrets)
    try:
        dirs = {}
        for name in EXPECT:
            d = root / name
            d.mkdir()
            shutil.copy(planted_source(name), d / "kernel.py")
            dirs[name] = d
        with B.BenchPool(workers=2, device="cpu", timeout=90, spare=2) as pool, ThreadPoolExecutor(2) as ex:
            futs = {n: ex.submit(pool.bench, dirs[n], SPEC, n in TIMED, TIMEOUT.get(n)) for n in EXPECT}
            return {n: f.result() for n, f in futs.items()}
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v


@pytest.mark.parametrize("name", list(EXPECT))
def test_planted(results, name):
    res = results[name]
    verdict, causes, stage = EXPECT[name]
    info = json.dumps({k: res.get(k) for k in ("verdict", "cause", "stage", "reason")}) + "\n" + res.get("stderr_tail", "")[-800:]
    assert res["verdict"] in ((verdict,) if isinstance(verdict, str) else verdict), info
    assert res["cause"] in causes, info
    if stage: assert res["stage"] == stage, info
    assert matches(res, name), info
    assert res["ok"] == (res["verdict"] == "pass")
    if res["verdict"] != "pass":
        assert res["reason"] and len(res["reason"]) > 10, info
    assert set(res["stages"]) == set(B.STAGES)
    json.dumps(res)                                      # plain JSON


def test_honest_passes_every_stage(results):
    res = results["baseline_softmax"]
    assert all(res["stages"][s]["ok"] for s in B.STAGES)
    assert res["stages"]["sweep"]["checks"] == 6 and res["stages"]["edges"]["checks"] == 4
    t = res["timing"]
    assert t["comparable"] is False and t["kernel_ms"] > 0 and t["eager_ms"] > 0
    assert t["bound"] in ("memory", "compute") and t["floor_ms"] > 0
    assert {"compile", "smoke", "correctness", "timing", "wall"} <= set(res["elapsed_s"])
    assert 0 < res["elapsed_s"]["compile"] <= res["elapsed_s"]["smoke"]


def test_crash_records_carry_stderr(results):
    assert "RuntimeError" in results["import_error"]["stderr_tail"] or "cannot be imported" in results["import_error"]["reason"]
    assert "SIGSEGV" in results["segfault"]["reason"]
    assert "SIGABRT" in results["abort"]["reason"]


def test_summary_block(results):
    text = B.summary(results["naive_overflow"])
    lines = text.splitlines()
    assert lines[0].startswith("bench ") and "FAIL" in lines[0]
    assert [ln.split()[0] for ln in lines[1:6]] == list(B.STAGES)


def test_pace(results):
    "Print where the time went (run with -s); every candidate got a record."
    for n, r in results.items():
        el = r["elapsed_s"]
        print(f"{n:<18} {r['verdict']:<8} {r['cause']!s:<16} " + " ".join(f"{k}={v:.1f}" for k, v in el.items()))
    assert len(results) == len(EXPECT)


def test_retime_runs_smoke_and_timing_only(tmp_path):
    "The keep rule's re-timing: a fresh worker, the smoke check and the timing stage; its JSON says it is not a full bench."
    shutil.copy(planted_source("baseline_softmax"), tmp_path / "kernel.py")
    res = B.bench(tmp_path, SPEC, device="cpu", timing="retime", timeout=90, verbose=False)
    assert (res["mode"], res["verdict"], res["stages"]["smoke"]["ok"]) == ("retime", "pass", True)
    assert all(res["stages"][s]["ok"] is None and "re-timing" in res["stages"][s]["detail"] for s in B.STAGES[1:])
    assert res["timing"]["kernel_ms"] > 0
    assert "re-timing" in B.summary(res).splitlines()[0]
    from autokernel.optimize import passed, retime_passed
    assert retime_passed(res) and not passed(res)                  # never mistaken for a full pass
