"""Where the end-to-end time of a patched model goes, on a GPU: host vs device time per forward, the kernels the device ran,
allocator churn, and (where the model can be captured) the same forwards replayed as CUDA graphs, which take the host out.

    python3 benchmarks/e2e_diagnose.py --run runs/examples/gpt2-h100           # a run's winners on its preset
    python3 benchmarks/e2e_diagnose.py --preset llama --top 5                  # library baselines for the top ops

Modes: eager, intercept-only (verify's interception with no kernel: every call falls back) and patched. For each:
`host ms` is the time until the forward returns (the host has queued all its work; the device may still run),
`event ms` the time until the device is done (CUDA events around the forward), both from the package's own timer
(`verify.time_modes`, through `_common.time_forwards`), `device ms` the sum of the device kernels in one profiled forward,
`graph ms` one replay of the forward captured as a CUDA graph (no host work at all). A forward is host-bound when host ms
is close to event ms. Prints markdown tables; writes $OUT/e2e_diagnose_<preset>.json.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, time_forwards, time_graphed, write_out  # puts the repo on sys.path

import torch

from autokernel.core import environment, load_model, run_model
from autokernel.runtime import Patcher, patch
from autokernel.rundir import run_kernels
from autokernel.verify import model_from_run


def device_kernels(fn, top=10):
    "Total device ms of one forward, its kernel count, and its `top` kernels by device time."
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof: fn(); torch.cuda.synchronize()
    evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    total = sum(e.device_time for e in evs) / 1e3
    by = {}
    for e in evs: by[e.name] = by.get(e.name, 0) + e.device_time / 1e3
    tops = sorted(by.items(), key=lambda kv: -kv[1])[:top]
    return total, len(evs), [{"kernel": k[:90], "ms": v} for k, v in tops]


def us_per_call(fn, n=3000):
    for _ in range(50): fn()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n): fn()
    us = (time.perf_counter() - t) / n * 1e6
    torch.cuda.synchronize()
    return us


def call_costs(patcher):
    "Host microseconds per call: a PyTorch op plain, under verify's interception (falling back), and a kernel of the run."
    import torch.nn.functional as F
    x, w, b = (torch.randn(s, device="cuda", dtype=torch.bfloat16) for s in ((64, 96), (80, 96), (80,)))
    empty = Patcher([], kinds=patcher.kinds() | {"matmul", "gelu"})
    rows = [{"call": "F.linear", "plain": us_per_call(lambda: F.linear(x, w, b))}]
    with patch(torch.nn.Identity(), empty): rows[0]["intercepted (falls back)"] = us_per_call(lambda: F.linear(x, w, b))
    rows.append({"call": "F.gelu", "plain": us_per_call(lambda: F.gelu(x, approximate="tanh"))})
    with patch(torch.nn.Identity(), empty): rows[1]["intercepted (falls back)"] = us_per_call(lambda: F.gelu(x, approximate="tanh"))
    for k in patcher.kernels:
        if k["kind"] == "gelu":
            rows.append({"call": f"{k['name']} kernel_fn", "plain": us_per_call(lambda: k["fn"](x, approximate="tanh"))})
    return rows


def kernels_for(a, preset, model, inputs, tmp):
    if a.run: return run_kernels(a.run, use_baselines=a.baselines)[0]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from e2e_presets import baseline_kernels
    return baseline_kernels(preset, model, inputs, a.top, "triton", True, tmp)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a run folder whose winners to plug in (its preset is read from it)")
    ap.add_argument("--preset", help="without --run: a preset whose top ops get the library's baselines")
    ap.add_argument("--baselines", action="store_true", help="with --run: kernels that never beat their baseline count too")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args(argv)
    if a.run: model, inputs, preset = model_from_run(a.run, "cuda")
    else: preset = a.preset; model, inputs = load_model(preset, "cuda")
    model.eval()
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        kernels = kernels_for(a, preset, model, inputs, tmp)
        patcher = Patcher(kernels)
        empty = Patcher([], kinds=patcher.kinds())
        def with_patch(p):
            def f():
                with patch(model, p): return run_model(model, inputs)
            return f
        patcher.calls.clear(); with_patch(patcher)(); calls = dict(patcher.calls)
        modes = {"eager": lambda: run_model(model, inputs), "intercept-only": with_patch(empty), "patched": with_patch(patcher)}
        st0 = torch.cuda.memory_stats()
        timed = time_forwards(modes, "cuda", a.reps)      # interleaved rounds: host drift hits every mode alike
        st1 = torch.cuda.memory_stats()
        rows, tops = [], {}
        for name, fn in modes.items():               # profiling and graph capture come after every host timing
            dev, n, tops[name] = device_kernels(fn)
            t = timed[name]
            rows.append({"mode": name, "host ms": t.get("host_ms"), "event ms": t.get("median_ms"), "device ms": dev, "kernels": n})
        for r, fn in zip(rows, modes.values()):
            g = time_graphed(fn, "cuda", a.reps)
            r["graph ms"] = g.get("median_ms", g.get("error"))
        print(f"cudaMalloc during the timed rounds: {st1.get('num_device_alloc', 0) - st0.get('num_device_alloc', 0)}, "
              f"alloc retries: {st1.get('num_alloc_retries', 0) - st0.get('num_alloc_retries', 0)}")
        per_call = call_costs(patcher)
        print("\n## host cost of one call (us, small cuda tensors, no sync)\n")
        print(table(per_call, list(per_call[0])))
        env = environment("cuda")
        print(f"\n# {preset}: where a forward's time goes on {env['device']} (torch {env['torch']}, triton {env['triton']})\n")
        print(f"kernel calls per forward: {calls}\n")
        print(table(rows, list(rows[0])))
        for name, t in tops.items():
            print(f"\n## top device kernels, {name}\n")
            print(table(t, ["kernel", "ms"]))
        write_out(f"e2e_diagnose_{preset}.json", {"env": env, "preset": preset, "run": a.run, "rows": rows, "top_kernels": tops,
                                                  "calls_per_forward": calls, "per_call_us": per_call})
    return 0


if __name__ == "__main__":
    sys.exit(main())
