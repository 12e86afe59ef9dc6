"""Where a judged kernel's time goes: the library's own baselines timed three ways on this card, side by side.

- `direct_ms`: in the judge's process, with the judge's own baseline clock (`judge.time_local`: graphed rounds of S
  calls, each output copied into a slot, less one copy) -- exactly how the bench times eager and torch.compile;
- `judged_ms`: the full bench (sandboxed worker, shared buffers, the judge's copies in and out subtracted);
- `bare_ms`: `triton.testing.do_bench_cudagraph` of one call, no copies (a third clock, outside the package).

The same for torch.compile of the reference. A judged time well above the direct one is the bench's own overhead,
charged to candidates and not to baselines: this script is how it is found. Also printed: the worker's own device time
of its replay (`worker_says_ms`, untrusted, never scored) and the judge's protocol share.

GPU:  python3 benchmarks/judge_overhead.py [--only layernorm,gelu]
"""
import argparse
import sys
import tempfile
from pathlib import Path

from _common import table, write_out

from autokernel import core, ops

import baselines as BL

PICK = [("gpt2", "layernorm"), ("gpt2", "gelu"), ("gpt2", "reduce"), ("llama", "rmsnorm"), ("gpt2", "matmul"), ("llama", "silu_mul")]


def bare(fn):
    import triton.testing
    import torch
    with torch.cuda.stream(torch.cuda.Stream()):
        return triton.testing.do_bench_cudagraph(fn, rep=50)


def main(argv=None):
    p = argparse.ArgumentParser(description="a judged kernel's time against the same kernel timed in the judge's process")
    p.add_argument("--only", default="")
    a = p.parse_args(argv)
    import torch
    from autokernel import bench as B, judge as J
    device = core.get_device("auto")
    if not core.is_gpu(device): print("judge_overhead.py: error: needs a GPU", file=sys.stderr); return 2
    only = set(filter(None, a.only.split(",")))
    seen, picks = set(), []
    for pr, kind, c in BL.cases(False, only):
        if (pr, kind) in PICK and (pr, kind) not in seen: seen.add((pr, kind)); picks.append((pr, kind, c))
    BL.warm_clocks(device)
    rows = []
    with tempfile.TemporaryDirectory() as d, B.BenchPool(workers=1, device=device) as pool:
        for pr, kind, case in picks:
            k = ops.KINDS[kind]
            spec = {"kind": kind, "backend": "triton", "case": case, "dtypes": list(k.dtypes), "test_cases": k.test_cases(case)}
            c, _, args, kw, out_like, S, _ = J.timing_setup(J.Context(None, kind, device), spec)    # as the bench times it
            fn = ops.load_kernel_module(ops.baseline_path(kind, "triton")).kernel_fn
            cp = J.copy_ms(out_like, device, S)
            comp = torch.compile(k.reference, dynamic=False)
            row = {"preset": pr, "kind": kind, "S": S, "copy_ms": cp}
            row["direct_ms"] = J.time_local(fn, k, c, device, S, 5, kw, out_like)["per_call_ms"] - cp
            row["compile_direct_ms"] = J.time_local(comp, k, c, device, S, 5, kw, out_like)["per_call_ms"] - cp
            row["bare_ms"], row["compile_bare_ms"] = bare(lambda: fn(*args, **kw)), bare(lambda: comp(*args, **kw))
            kd = Path(d) / f"{pr}_{kind}"
            kd.mkdir()
            (kd / "kernel.py").write_text(ops.baseline_path(kind, "triton").read_text())
            r = pool.bench(kd, spec)
            t = r.get("timing") or {}
            row.update(verdict=r["verdict"], judged_ms=t.get("kernel_ms"), compile_judged_ms=t.get("compile_ms"),
                       protocol_ms=t.get("protocol_ms"), per_set_wall_ms=t.get("per_set_wall_ms"), worker_says_ms=t.get("worker_says_ms"),
                       judged_S=t.get("input_sets"), graphed=t.get("graphed"))
            print(row, flush=True)
            rows.append(row)
    cols = ["preset", "kind", "verdict", "S", "bare_ms", "direct_ms", "judged_ms", "compile_bare_ms", "compile_direct_ms", "compile_judged_ms",
            "copy_ms", "protocol_ms", "per_set_wall_ms", "worker_says_ms"]
    print(f"\n{core.device_name(device)}\n" + table(rows, cols))
    write_out("judge_overhead.json", {"card": core.device_name(device), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
