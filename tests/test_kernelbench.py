"""KernelBench problems in: our own KernelBench-format set (tests/kernelbench/) runs end to end on the CPU, judged by both rules."""
import json
from pathlib import Path

import pytest
import torch

from autokernel import ops
from autokernel.cli import main
from autokernel.core import load_json, load_model, run_model
from autokernel.kernelbench import (KB_TOL, build_problem, find_problems, kb_check, level_of, problem_factory, run_set,
                                    scores, trial_seeds)

PROBLEMS = Path(__file__).resolve().parent / "kernelbench"


def test_the_set_is_a_checkout_of_at_least_ten_problems_in_levels():
    probs = find_problems(PROBLEMS)
    assert len(probs) >= 10
    assert {level_of(p) for p in probs} == {"level1", "level2", "level3"}
    assert find_problems(PROBLEMS / "level2") == [p for p in probs if level_of(p) == "level2"]


def test_kernelbench_spec_loads_through_core_with_kernelbench_seeding():
    path = PROBLEMS / "level2" / "1_Gemm_BiasAdd_GELU.py"
    m1, x1 = load_model(f"kernelbench:{path}", "cpu", "float32")
    m2, x2, _ = build_problem(path)
    assert torch.equal(m1.linear.weight, m2.linear.weight) and torch.equal(x1[0], x2[0])
    want = torch.nn.functional.gelu(x1[0].double() @ m1.linear.weight.double().T + m1.linear.bias.double())
    torch.testing.assert_close(run_model(m1, x1).double(), want, rtol=1e-5, atol=1e-6)


def test_a_folder_of_several_problems_is_not_one_model():
    from autokernel.core import AutokernelError
    with pytest.raises(AutokernelError, match="names 3 problems"):
        problem_factory(PROBLEMS / "level2")


def test_trial_seeds_follow_kernelbench_and_differ():
    s = trial_seeds(5)
    assert len(set(s)) == 5 and s == trial_seeds(5)


def test_passing_our_elementwise_check_implies_passing_kernelbench():
    # the property "ours is at least as strict": any output our float32 rule accepts, KernelBench's allclose accepts too
    m, _, mod = build_problem(PROBLEMS / "level1" / "3_Softmax.py")
    g = torch.Generator().manual_seed(7)
    accepted = rejected_by_ours_only = 0
    for scale in (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3):
        noise = lambda y: y + scale * torch.randn(y.shape, generator=g) * y.abs()
        x = mod.get_inputs()[0]
        ours = ops.compare(noise(torch.softmax(x, -1)), torch.softmax(x.double(), -1), torch.float32)["ok"]
        theirs = kb_check(m, lambda x: noise(torch.softmax(x, -1)), mod.get_inputs)["ok"]
        assert theirs or not ours, f"noise {scale}: ours accepts, KernelBench rejects"
        accepted += ours
        rejected_by_ours_only += theirs and not ours
    assert accepted >= 1 and rejected_by_ours_only >= 1


def test_kb_check_rejects_wrong_answers_and_wrong_shapes():
    m, _, mod = build_problem(PROBLEMS / "level1" / "1_LayerNorm.py")
    assert not kb_check(m, lambda x: m(x) + 2 * KB_TOL, mod.get_inputs)["ok"]
    r = kb_check(m, lambda x: m(x)[:, :-1], mod.get_inputs)
    assert not r["ok"] and "shape" in r["detail"]


def test_fast_p_counts_only_correct_problems_over_all_of_a_level():
    rows = [{"level": "level1", "correct": True, "speedup_eager": 2.0, "speedup_compile": 1.1},
            {"level": "level1", "correct": False, "speedup_eager": 5.0, "speedup_compile": 5.0},
            {"level": "level1", "correct": True, "speedup_eager": 0.5, "speedup_compile": None},
            {"level": "level1", "correct": False, "speedup_eager": None, "speedup_compile": None}]
    s = scores(rows)["level1"]
    assert (s["fast_0_eager"], s["fast_1_eager"], s["fast_1.2_eager"]) == (0.5, 0.25, 0.25)
    assert (s["fast_1_compile"], s["fast_1.2_compile"]) == (0.25, 0.0)


@pytest.mark.parametrize("args, says", [
    (["nope/"], "no such file"),
    ([str(PROBLEMS), "--budget-per-problem", "soon"], "duration"),
    ([str(PROBLEMS), "--device", "tpu"], "unknown device"),
    ([str(PROBLEMS), "--tol", "-1"], "--tol"),
    ([str(PROBLEMS / "level1" / "3_Softmax.py"), "--out", __file__], "is a file"),
    ([str(Path(__file__).parent / "fixtures")], "no KernelBench problem"),
])
def test_bad_arguments_fail_in_one_line_with_exit_2_before_any_work(args, says, capsys, tmp_path):
    assert main(["kernelbench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err


@pytest.fixture(scope="module")
def whole_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("kb")
    lines = []
    res = run_set(PROBLEMS, out, budget="1s", device="cpu", say=lines.append)
    return out, res, lines


def test_whole_set_runs_end_to_end_with_a_progress_line_per_problem(whole_set):
    out, res, lines = whole_set
    probs = find_problems(PROBLEMS)
    assert [r["problem"] for r in res["problems"]] == [f"{level_of(p)}/{p.stem}" for p in probs]
    assert len(lines) == len(probs) and all(line.startswith(f"[{i}/{len(probs)}]") for i, line in enumerate(lines, 1))
    assert [r for r in res["problems"] if r["status"] == "error"] == []
    assert load_json(out / "kernelbench.json", "autokernel.kernelbench")["problems"] == json.loads(json.dumps(res["problems"]))


def test_problems_with_no_kind_are_reported_not_dropped(whole_set):
    rows = {r["problem"]: r for r in whole_set[1]["problems"]}
    conv = rows["level1/6_Conv2d_standard"]
    assert conv["status"] == "no kind" and conv["note"] == "no kind for aten::conv2d" and not conv["correct"]
    relu = rows["level2/2_Gemm_ReLU"]
    assert relu["kinds"] == ["matmul"] and "no kind for aten::relu" in relu["note"]


def test_every_problem_with_a_kind_is_correct_by_both_rules(whole_set):
    for r in whole_set[1]["problems"]:
        if not r["kinds"]: continue
        assert r["status"] == "ok" and r["kernels"], (r["problem"], r["status"], r["note"])   # the note says why
        assert r["ours_ok"] and r["kb"]["ok"] and r["kb"]["passed"] == r["kb"]["trials"] == 5, r
        assert r["correct"] and r["speedup_eager"] > 0 and r["speedup_compile"] is None   # CPU: torch.compile not timed


def test_expected_kinds_are_found(whole_set):
    kinds = {r["problem"].split("/")[1]: r["kinds"] for r in whole_set[1]["problems"]}
    assert kinds["1_LayerNorm"] == ["layernorm"] and kinds["2_RMSNorm"] == ["rmsnorm"] and kinds["3_Softmax"] == ["softmax"]
    assert kinds["4_Sum_reduction_over_a_dimension"] == ["reduce"] and kinds["5_CrossEntropyLoss"] == ["cross_entropy"]
    assert kinds["3_SiLU_Mul"] == ["silu_mul"] and set(kinds["1_Gemm_BiasAdd_GELU"]) == {"matmul", "gelu"}
    assert {"layernorm", "attention", "matmul", "gelu"} <= set(kinds["1_TinyTransformerBlock"])


def test_scores_per_level_match_the_rows(whole_set):
    res = whole_set[1]
    lv1 = [r for r in res["problems"] if r["level"] == "level1"]
    assert res["scores"]["level1"]["n"] == len(lv1) == 7
    assert res["scores"]["level1"]["fast_0_eager"] == sum(r["correct"] for r in lv1) / 7 == 6 / 7
    assert res["scores"]["all"]["fast_0_compile"] == 0.0            # nothing timed against torch.compile on the CPU


def test_a_run_folder_of_the_set_plugs_in_and_matches_float64_on_fresh_inputs(whole_set):
    # independent of the flags: rebuild the transformer block, plug in the run's kernels, compare with float64 ourselves
    from autokernel.runtime import Patcher, patch
    from autokernel.rundir import run_kernels
    out, res, _ = whole_set
    row = next(r for r in res["problems"] if r["problem"] == "level3/1_TinyTransformerBlock")
    used, _ = run_kernels(row["run"])
    assert {k["kind"] for k in used} >= {"layernorm", "matmul"}
    model, _, mod = build_problem(PROBLEMS / "level3" / "1_TinyTransformerBlock.py")
    torch.manual_seed(1234)
    x = mod.get_inputs()[0]
    ref = model.double()(x.double())
    model.float()
    p = Patcher(used)
    with torch.no_grad(), patch(model, p):
        got = model(x)
    assert sum(p.calls.values()) >= 3
    torch.testing.assert_close(got.double(), ref, rtol=1e-4, atol=1e-4)


def test_verify_cli_reads_a_kernelbench_run_folder(whole_set, capsys):
    row = next(r for r in whole_set[1]["problems"] if r["problem"] == "level1/1_LayerNorm")
    assert main(["verify", "--run", row["run"], "--device", "cpu", "--reps", "1"]) == 0
    assert "outputs match" in capsys.readouterr().out


def test_pace_benchmark_cpu_smoke_path(tmp_path):
    # the GPU script's own CPU path: one problem, baselines only; GPU numbers are not measured here
    import subprocess
    import sys
    root = PROBLEMS.parent.parent
    out = tmp_path / "pace.json"
    r = subprocess.run([sys.executable, str(root / "benchmarks" / "kernelbench_pace.py"), str(PROBLEMS / "level2" / "3_SiLU_Mul.py"),
                        "--device", "cpu", "--budget-per-problem", "1s", "--out", str(out), "--runs", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=900, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fast_1 on CPU" in r.stdout and "not comparable" in r.stdout
    res = load_json(out, "autokernel.kernelbench_pace")
    assert res["measured_on_gpu"] is False and res["comparable"] is False
    assert [s["level"] for s in res["summary"]] == ["level2", "all"] and res["summary"][0]["fast_1 vs compile"] is None
    assert res["result"]["problems"][0]["correct"] is True
    (ex,) = res["exports"]                           # the run exported and loaded with `kernels` in a fresh process
    assert ex["problem"] == "level2/3_SiLU_Mul" and ex["loaded"] and ex["ok"]
    assert [k["ok"] for k in ex["kernels"]] == [True] * len(ex["kernels"]) and ex["kernels"]
    assert "export level2/3_SiLU_Mul:" in r.stdout
    bad = subprocess.run([sys.executable, str(root / "benchmarks" / "kernelbench_pace.py"), "nope/"], capture_output=True, text=True, cwd=root)
    assert bad.returncode == 2 and "no such file" in bad.stderr
