"""How many candidates per hour the bench judges for a memory-bound kernel: the Triton softmax baseline at GPT-2's
shape (8 x 1024 x 768, bfloat16 first), N candidates with different PARAMS drawn from its SPACE, through a BenchPool
of pre-started sandboxed workers. Prints the breakdown (worker start, hidden by pre-starting; compile = the first
call; the correctness stages; timing) and writes `{"card", "sandbox", "candidates_per_hour", ...}`.

On the GPU machine:  python3 benchmarks/harness_pace.py [--n 60] [--workers 2]   -> benchmarks/results/harness_pace.json
CPU smoke (tests it runs; never a GPU number):  python3 benchmarks/harness_pace.py --device cpu --n 2 --shape 4,40
                                                -> $OUT/harness_pace_cpu_smoke.json only"""
import argparse
import json
import random
import re
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
import time
from pathlib import Path

import torch

from _common import ROOT, table, write_out

from autokernel import bench as B
from autokernel import core, ops


def variants(src: str, n: int, seed=0) -> list[str]:
    "n kernel.py sources with the PARAMS line replaced by random choices from SPACE (the first one unchanged)."
    space = eval(re.search(r"^SPACE = (dict\(.*\))$", src, re.MULTILINE).group(1), {"dict": dict})   # our own library file
    rng = random.Random(seed)
    out, seen = [src], {re.search(r"^PARAMS = .*$", src, re.MULTILINE).group(0)}
    while len(out) < n:
        line = "PARAMS = dict(" + ", ".join(f"{k}={rng.choice(v)!r}" for k, v in space.items()) + ")"
        if line in seen: continue
        seen.add(line)
        out.append(re.sub(r"^PARAMS = .*$", lambda m: line, src, count=1, flags=re.MULTILINE))
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--kind", default="softmax")
    p.add_argument("--device", default="auto")
    p.add_argument("--shape", default="8,1024,768", help="the row kind's input shape")
    a = p.parse_args(argv)
    device = core.get_device(a.device)
    gpu = core.is_gpu(device)
    kind = ops.KINDS[a.kind]
    case = ops.make_case(a.kind, [[int(s) for s in a.shape.split(",")]], "bfloat16" if gpu else "float32")
    dtypes = list(kind.dtypes) if gpu else ["float32"]
    spec = {"kind": a.kind, "backend": "triton", "case": case, "dtypes": dtypes, "test_cases": kind.test_cases(case)}
    srcs = variants(ops.baseline_path(a.kind, "triton").read_text(), a.n)
    B.measure_ceilings(device)                                           # once per card, cached: not part of the pace
    with tempfile.TemporaryDirectory() as d:
        dirs = []
        for i, s in enumerate(srcs):
            (Path(d) / f"{i:04d}").mkdir()
            (Path(d) / f"{i:04d}" / "kernel.py").write_text(s)
            dirs.append(Path(d) / f"{i:04d}")
        t_pool = time.time()
        with B.BenchPool(workers=a.workers, device=device) as pool:
            for w in pool.idle: w.wait_ready()
            ready = time.time() - t_pool
            t0 = time.time()
            results = [None] * len(dirs)
            with ThreadPoolExecutor(pool.n) as ex:   # one line per judged candidate: a run cut short still shows its pace
                futs = {ex.submit(pool.bench, dd, spec): i for i, dd in enumerate(dirs)}
                for k, f in enumerate(as_completed(futs)):
                    results[futs[f]] = r = f.result()
                    e = r.get("elapsed_s") or {}
                    print(f"[{k + 1}/{len(dirs)} {time.time() - t0:.0f}s, {(k + 1) / (time.time() - t0) * 3600:.0f}/h] "
                          f"{r['verdict']} {r.get('cause') or ''} " + " ".join(f"{n} {v:.1f}s" for n, v in e.items() if isinstance(v, (int, float))),
                          flush=True)
                    if gpu:   # a run cut short keeps what it measured, with each candidate's breakdown
                        write_out("harness_pace_partial.json", {"card": core.device_name(device), "done": k + 1, "n": len(dirs),
                                                                "wall_s": time.time() - t0, "elapsed_s": [x.get("elapsed_s") for x in results if x]})
            wall = time.time() - t0
    rows = []
    for i, r in enumerate(results):
        e = r["elapsed_s"]
        t = r.get("timing") or {}
        rows.append({"cand": i, "verdict": r["verdict"], "cause": r.get("cause"), "kernel_ms": t.get("kernel_ms"),
                     "speedup_eager": t.get("speedup_eager"), "roofline_pct": t.get("roofline_pct"),
                     "precompile_s": e.get("precompile"), "compile_s": e.get("compile"), "correct_s": e.get("correctness"),
                     "timing_s": e.get("timing"), "lock_wait_s": e.get("timing_lock_wait"), "stop_s": e.get("timing_stop"), "wall_s": e.get("wall")})
    def hold_parts(rs):   # where a timing's exclusive hold of the GPU went, part by part (median seconds)
        ps = [(x.get("timing") or {}).get("hold_parts_s") or {} for x in rs]
        return {k: statistics.median(p[k] for p in ps if k in p) for k in sorted({k for p in ps for k in p})}
    med = lambda k: statistics.median([r[k] for r in rows if isinstance(r.get(k), (int, float))] or [float("nan")])
    summary = {"card": core.device_name(device), "device_type": device.type, "sandbox": B.isolation(gpu)["level"],
               "kind": a.kind, "case": case, "n": len(rows), "workers": pool.n,
               "pool_ready_s": ready, "wall_s": wall, "candidates_per_hour": len(rows) / wall * 3600,
               "median_worker_start_s": statistics.median(r["elapsed_s"].get("worker_start", 0) for r in results),
               "median_precompile_s": med("precompile_s"), "median_compile_s": med("compile_s"), "median_correctness_s": med("correct_s"), "median_timing_s": med("timing_s"), "median_lock_wait_s": med("lock_wait_s"), "median_stop_s": med("stop_s"),
               "median_wall_s": med("wall_s"), "median_hold_parts_s": hold_parts(results), "verdicts": {v: sum(r["verdict"] == v for r in rows) for v in ("pass", "fail", "rejected", "error")},
               "best_ms": min((r["kernel_ms"] for r in rows if r["kernel_ms"]), default=None),
               **({"judge_gpu_reserved_gb": torch.cuda.memory_reserved(device) / 2**30,
                   "judge_gpu_peak_reserved_gb": torch.cuda.max_memory_reserved(device) / 2**30} if gpu else {})}
    print(table(rows, list(rows[0])))
    print()
    print(table([{"what": k, "value": v} for k, v in summary.items() if k != "case"], ["what", "value"]))
    out = {**summary, "rows": rows, "results": results}
    if gpu:
        res = ROOT / "benchmarks" / "results" / "harness_pace.json"
        res.write_text(json.dumps(out, indent=1, default=str))
        print(f"wrote {res}")
        write_out("harness_pace.json", out)
    else:
        write_out("harness_pace_cpu_smoke.json", {**out, "note": "CPU smoke run: not a GPU number"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
