"""Every kernel kind of the op library at the presets' shapes, judged and timed by the bench on this card: the
Triton baseline (kernels/<kind>/triton.py) and the CUDA baseline (kernels/<kind>/cuda.py), each against eager
PyTorch and torch.compile of the reference in the same run: time, % of the measured roofline, pass/fail.
Prints a markdown table last; writes baselines.json to $OUT.

Run on the GPU machine:  python3 benchmarks/baselines.py [--backends triton,cuda] [--only softmax,matmul] [--workers 4]
(about 3-5 minutes with a cold CUDA build cache; --backends triton alone is faster)"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import table, write_out

from autokernel import bench as B
from autokernel import core, ops

BF = "bfloat16"
# (preset, kind, shapes, args): GPT-2 small (8 x 1024 tokens), a LLaMA-style model with GQA 12/4 heads, BERT-base
CASES = [
    ("gpt2", "layernorm", [[8, 1024, 768], [768], [768]], {}),
    ("gpt2", "add_layernorm", [[8, 1024, 768], [8, 1024, 768], [768], [768]], {}),
    ("gpt2", "softmax", [[8, 1024, 768]], {}),
    ("gpt2", "bias_gelu", [[8, 1024, 3072], [3072]], {"approximate": "tanh"}),
    ("gpt2", "gelu", [[8, 1024, 3072]], {"approximate": "tanh"}),
    ("gpt2", "matmul", [[8192, 768], [768, 3072], [3072]], {}),
    ("gpt2", "cross_entropy", [[8192, 50257], [8192]], {}),
    ("gpt2", "attention", [[8, 12, 1024, 64], [8, 12, 1024, 64], [8, 12, 1024, 64]], {"causal": True}),
    ("gpt2", "reduce", [[8, 1024, 768]], {"op": "sum"}),
    ("llama", "rmsnorm", [[8, 1024, 768], [768]], {}),
    ("llama", "silu_mul", [[8, 1024, 2048], [8, 1024, 2048]], {}),
    ("llama", "rotary", [[8, 12, 1024, 64], [8, 1024, 64], [8, 1024, 64]], {}),
    ("llama", "attention", [[8, 12, 1024, 64], [8, 4, 1024, 64], [8, 4, 1024, 64]], {"causal": True}),
    ("bert", "gelu", [[8, 512, 3072]], {"approximate": "none"}),
]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--backends", default="triton,cuda")
    p.add_argument("--only", default="", help="comma-separated kinds")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--device", default="auto")
    p.add_argument("--tiny", action="store_true", help="each kind's small example case instead (a dry run, e.g. on the CPU)")
    a = p.parse_args(argv)
    device = core.get_device(a.device)
    ceilings = B.measure_ceilings(device)
    only = set(filter(None, a.only.split(",")))
    jobs = []
    with tempfile.TemporaryDirectory() as d:
        for preset, kind, shapes, args in CASES:
            if only and kind not in only: continue
            k = ops.KINDS[kind]
            case = k.example() if a.tiny else ops.make_case(kind, shapes, BF, **args)
            dtypes = list(k.dtypes) if core.is_gpu(device) else ["float32"]
            spec = {"kind": kind, "backend": None, "case": case, "dtypes": dtypes, "test_cases": k.test_cases(case)}
            for backend in a.backends.split(","):
                src = ops.baseline_path(kind, backend)
                if not src.exists(): continue
                kd = Path(d) / f"{preset}_{kind}_{backend}"
                kd.mkdir()
                (kd / "kernel.py").write_text(src.read_text())
                jobs.append((preset, kind, backend, kd, {**spec, "backend": backend}))
        t0 = time.time()
        with B.BenchPool(workers=a.workers, device=device, timeout=a.timeout) as pool:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(a.workers) as ex:
                results = list(ex.map(lambda j: pool.bench(j[3], j[4]), jobs))
        wall = time.time() - t0
    rows = []
    for (preset, kind, backend, _, spec), r in zip(jobs, results):
        t = r.get("timing") or {}
        case = spec["case"]
        pct = lambda ms, kind=kind, case=case: B.roofline(kind, case, ms, ceilings)["roofline_pct"] if ms else None
        rows.append({"preset": preset, "kind": kind, "shape": "x".join(str(s) for s in case["inputs"][0]["shape"]),
                     "backend": backend, "correct": r["verdict"] + (f" ({r['cause']})" if r.get("cause") else ""),
                     "kernel_ms": t.get("kernel_ms"), "kernel_%roof": t.get("roofline_pct"),
                     "eager_ms": t.get("eager_ms"), "eager_%roof": pct(t.get("eager_ms")),
                     "compile_ms": t.get("compile_ms"), "compile_%roof": pct(t.get("compile_ms")),
                     "vs_eager": t.get("speedup_eager"), "vs_compile": t.get("speedup_compile"), "bound": t.get("bound"),
                     "reason": (r.get("reason") or "")[:120]})
    print(f"device: {core.device_name(device)}; ceilings: copy {ceilings['copy_gbps']:.0f} GB/s, read {ceilings['read_gbps']:.0f} GB/s, "
          f"matmul TFLOP/s {', '.join(f'{k} {v:.0f}' for k, v in ceilings['matmul_tflops'].items())}; {len(rows)} benches in {wall:.0f} s")
    write_out("baselines.json", {"device": core.device_name(device), "ceilings": ceilings, "rows": rows, "results": results})
    print()
    print(table(rows, ["preset", "kind", "shape", "backend", "correct", "kernel_ms", "kernel_%roof", "eager_ms", "eager_%roof",
                       "compile_ms", "compile_%roof", "vs_eager", "vs_compile", "bound"]))
    failed = [r for r in rows if not r["correct"].startswith("pass")]
    for r in failed: print(f"- {r['preset']} {r['kind']} {r['backend']}: {r['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
