"""fast_1 on our KernelBench-format problems (tests/kernelbench/, or any problem file / level / checkout), against eager
PyTorch and against torch.compile, on the card it runs on: each problem is its own optimize run (--budget-per-problem),
then verify, then KernelBench's correctness rule (allclose atol=rtol=1e-2 on 5 trials) beside our five stages.
Prints the per-problem table and fast_0 / fast_1 / fast_1.2 per level with the card's name, and writes
benchmarks/results/kernelbench_pace.json (and $OUT/kernelbench_pace.json when $OUT is set).

Run on the GPU machine:  python3 benchmarks/kernelbench_pace.py --device cuda [--budget-per-problem 2m]   (~25 min for 11)
CPU smoke (what the tests run; its timings are the Triton interpreter, not comparable):
                         python3 benchmarks/kernelbench_pace.py tests/kernelbench/level1/3_Softmax.py --device cpu \\
                             --budget-per-problem 1s --out /tmp/kb.json"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, table, write_out

from autokernel import core
from autokernel.kernelbench import KB_TOL, KB_TRIALS, find_problems, results_table, run_set


def summary(res: dict) -> list[dict]:
    "One row per level: n, fast_1 against eager and against torch.compile (None: not timed)."
    return [{"level": lv, "n": s["n"], "fast_1 vs eager": s["fast_1_eager"],
             "fast_1 vs compile": s["fast_1_compile"] if res["env"]["comparable"] else None}
            for lv, s in res["scores"].items()]


def export_checks(res: dict, pkgs: Path, device: str, n: int, say=print) -> list[dict]:
    """Export the runs of the first `n` problems whose kernels ran and were correct, then load each package with `kernels`
    (in a fresh process) and check its kernels against float64 PyTorch (`autokernel.export.check_export`)."""
    from autokernel.export import check_export, export
    out = []
    for r in [r for r in res["problems"] if r.get("correct")][:n]:
        pkg, rows, err = pkgs / Path(r["run"]).name, [], ""
        try: rows = check_export(export(r["run"], pkg, force=True), r["run"], device)
        except Exception as e: err = f"{type(e).__name__}: {e}"[-300:]   # a package that does not export or load is a result
        out.append({"problem": r["problem"], "package": str(pkg), "loaded": bool(rows), "error": err,
                    "kernels": rows, "ok": bool(rows) and all(k["ok"] for k in rows)})
        say(f"export {r['problem']}: " + (", ".join(f"{k['function']} {k['dtype']} {'ok' if k['ok'] else 'FAIL'}" for k in rows)
                                         or f"did not load: {err}"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="fast_1 on KernelBench-format problems, vs eager and vs torch.compile")
    p.add_argument("path", nargs="?", default=str(ROOT / "tests" / "kernelbench"))
    p.add_argument("--budget-per-problem", default="2m")
    p.add_argument("--max-experiments", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "kernelbench_pace.json"))
    p.add_argument("--runs", default=None, help="where the problems' run folders go (default: a temporary folder)")
    p.add_argument("--export", type=int, default=2, metavar="N",
                   help="export the runs of the first N correct problems and check them loaded with `kernels` (default 2; 0: none)")
    a = p.parse_args(argv)
    try:
        probs, dev, budget = find_problems(a.path), core.get_device(a.device), core.parse_duration(a.budget_per_problem)
    except core.AutokernelError as e:
        print(f"kernelbench_pace: error: {e}", file=sys.stderr); return 2
    card = core.device_name(dev)
    print(f"kernelbench_pace: {len(probs)} problem(s) from {a.path} on {card}, {budget:.0f}s each", flush=True)
    runs = Path(a.runs) if a.runs else Path(tempfile.mkdtemp(prefix="kernelbench_pace_"))
    t0 = time.time()
    def progress(line):                     # the partial results reach --out after each problem: a cut-short call keeps them
        print(line, flush=True)
        part = json.loads((runs / "kernelbench.json").read_text())
        core.save_json({"card": card, "partial": True, "result": part, "measured_on_gpu": core.is_gpu(dev)}, a.out,
                       "autokernel.kernelbench_pace")
    res = run_set(a.path, runs, a.budget_per_problem, a.max_experiments, dev, trials=KB_TRIALS, tol=KB_TOL, say=progress)
    print("\n" + results_table(res) + "\n")
    rows = summary(res)
    print(f"fast_1 on {card}" + ("" if res["env"]["comparable"] else " (CPU: timings not comparable; torch.compile not timed)"))
    print(table(rows, ["level", "n", "fast_1 vs eager", "fast_1 vs compile"]))
    exports = export_checks(res, runs / "exports", str(dev), a.export) if a.export else []
    out = {"card": card, "comparable": res["env"]["comparable"], "wall_s": time.time() - t0, "summary": rows, "result": res,
           "exports": exports, "measured_on_gpu": core.is_gpu(dev)}
    core.save_json(out, a.out, "autokernel.kernelbench_pace")
    print(f"wrote {a.out}")
    write_out("kernelbench_pace.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
