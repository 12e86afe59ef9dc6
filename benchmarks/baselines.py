"""Every kernel kind of the op library at the presets' shapes against its peers on this card: the library's Triton and
CUDA baselines (judged and timed by the bench: all five correctness stages, then the bench's own timing of the kernel,
eager PyTorch and torch.compile of the reference), Liger-Kernel where it has the op, and the vendor library (cuBLAS for
GEMM kinds, SDPA for attention) where it applies. Prints a markdown table and the geomean over rows of
`kernel vs the best of {eager, torch.compile, Liger}`; writes benchmarks/results/kernels_vs_peers.json
`{"card", "rows": [{preset, kind, shape, backend, correct, kernel_ms, eager_ms, compile_ms, liger_ms, vendor_ms,
ratio_best_peer, roofline_pct}], "geomean_ratio_best_peer"}`.

Liger-Kernel is a benchmark-only dependency (`pip install --no-deps liger-kernel`; absent: its column is empty).
Vendor timings of fused GEMM kinds are the GEMMs alone (a lower bound the fusion competes with); they are not in the
best-peer ratio, which compares like with like.

GPU:  python3 benchmarks/baselines.py [--backends triton,cuda] [--only gated_mlp,matmul] [--workers 4]
CPU smoke (what a test runs; nothing written to benchmarks/results):  python3 benchmarks/baselines.py --device cpu --only add_rmsnorm
"""
import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, table, write_out

from autokernel import core, ops

BF = "bfloat16"
# (preset, kind, case maker): GPT-2 small (8 x 1024 tokens), a LLaMA-style model with GQA 12/4 heads, BERT-base; the
# folder kinds (kernels/<kind>/kind.py) bring their own sizes
CASES = [
    ("gpt2", "layernorm", [[8, 1024, 768], [768], [768]], {}),
    ("gpt2", "add_layernorm", [[8, 1024, 768], [8, 1024, 768], [768], [768]], {}),
    ("gpt2", "softmax", [[8, 1024, 768]], {}),
    ("gpt2", "bias_gelu", [[8, 1024, 3072], [3072]], {"approximate": "tanh"}),
    ("gpt2", "gelu", [[8, 1024, 3072]], {"approximate": "tanh"}),
    ("gpt2", "matmul", [[8192, 768], ops.transposed_meta([768, 3072], BF), [3072]], {}),
    ("gpt2", "matmul", [[8192, 768], ops.transposed_meta([768, 50257], BF), None], {}),
    ("gpt2", "cross_entropy", [[8192, 50257], [8192]], {}),
    ("gpt2", "attention", [[8, 12, 1024, 64], [8, 12, 1024, 64], [8, 12, 1024, 64]], {"causal": True}),
    ("gpt2", "reduce", [[8, 1024, 768]], {"op": "sum"}),
    ("llama", "rmsnorm", [[8, 1024, 768], [768]], {}),
    ("llama", "silu_mul", [[8, 1024, 2048], [8, 1024, 2048]], {}),
    ("llama", "rotary", [[8, 12, 1024, 64], [8, 1024, 64], [8, 1024, 64]], {}),
    ("llama", "attention", [[8, 12, 1024, 64], [8, 4, 1024, 64], [8, 4, 1024, 64]], {"causal": True}),
    ("llama", "matmul", [[8192, 768], ops.transposed_meta([768, 2048], BF), None], {}),
    ("bert", "gelu", [[8, 512, 3072]], {"approximate": "none"}),
    # attention variants of issue #14: BERT's padding mask, T5's relative position bias, head dim 128 with GQA (Qwen2 /
    # LLaMA-3 8B), Mistral's sliding window
    ("bert", "attention", [[8, 12, 512, 64]] * 3 + [[8, 1, 1, 512]], {}),
    ("t5", "attention", [[8, 8, 512, 64]] * 3 + [[1, 8, 512, 512]], {"scale": 1.0}),
    ("qwen2-7b", "attention", [[4, 28, 2048, 128], [4, 4, 2048, 128], [4, 4, 2048, 128]], {"causal": True}),
    ("mistral", "attention", [[2, 32, 4096, 128], [2, 8, 4096, 128], [2, 8, 4096, 128]], {"causal": True, "window": 1024}),
]
SIZE_PRESETS = {"add_rmsnorm": ["llama", "llama-7b"], "gated_mlp": ["llama", "llama-7b"], "linear_cross_entropy": ["gpt2", "llama"],
                "qkv_rotary": ["llama", "qwen2-7b"]}


def cases(tiny: bool, only: set):
    "`[(preset, kind, case)]`: the table above and every folder kind's `sizes()`; with `tiny`, each kind's small example."
    out = [(p, k, ops.make_case(k, s, BF, **a)) for p, k, s, a in CASES]
    for name, k in ops.KINDS.items():
        if k.sizes: out += [(pr, name, c) for pr, c in zip(SIZE_PRESETS.get(name, ["-"] * 9), k.sizes())]
    out = [(p, k, c) for p, k, c in out if not only or k in only]
    if tiny:
        seen = {}
        for p, k, _ in out: seen.setdefault(k, (p, k, (ops.KINDS[k].tiny_cases or (lambda: [ops.KINDS[k].example()]))()[0]))
        out = list(seen.values())
    return out


# --- peers: Liger-Kernel and the vendor library --------------------------------------------------------------------

def liger_fn(kind, args, kw):
    "A callable running Liger-Kernel's version of this op on `args`, or None (no Liger, or no such op in it)."
    try: import liger_kernel.transformers.functional as L
    except Exception: return None
    if kind == "rmsnorm": return lambda: L.liger_rms_norm(args[0], args[1], kw["eps"], in_place=False)
    if kind == "add_rmsnorm": return lambda: L.liger_fused_add_rms_norm(args[0], args[1], args[2], kw["eps"], in_place=False)
    if kind == "layernorm": return lambda: L.liger_layer_norm(args[0], args[1], args[2], kw["eps"])
    if kind == "silu_mul": return lambda: L.liger_swiglu(args[0], args[1])
    if kind == "cross_entropy": return lambda: L.liger_cross_entropy(args[0], args[1], reduction="none")
    if kind == "linear_cross_entropy":
        return lambda: L.liger_fused_linear_cross_entropy(args[0], args[1].t(), args[2], ignore_index=kw["ignore_index"], reduction="none")
    if kind == "gated_mlp" and kw["activation"] == "silu":   # LigerSwiGLUMLP's chain: the two GEMMs, then Liger's SwiGLU
        x, wg, wu = args
        return lambda: L.liger_swiglu(x @ wg, x @ wu)
    return None


def vendor_fn(kind, args, kw):
    "cuBLAS (the GEMMs alone for fused GEMM kinds) or SDPA's flash path, or None where no vendor library applies."
    import torch
    import torch.nn.functional as F
    if kind == "matmul": return lambda: ops.KINDS["matmul"].reference(*args, **kw)
    if kind == "attention":   # a bias or a window goes to SDPA as its attn_mask (SDPA has no window argument)
        q, k, v, bias = (*args, None)[:4]
        causal = kw["causal"]
        if kw.get("window") is not None or (bias is not None and causal):
            band = ops.KINDS["attention"].module.causal_band(q.shape[2], k.shape[2], kw.get("window"), q.device)
            bias = band if bias is None else bias.masked_fill(~band, float("-inf"))
            causal = False
        return lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal, scale=kw["scale"],
                                                      enable_gqa=k.shape[1] != q.shape[1])
    if kind == "gated_mlp":
        x, wg, wu = args
        return lambda: (x @ wg, x @ wu)
    if kind == "linear_cross_entropy": return lambda: args[0] @ args[1]
    if kind == "qkv_rotary":
        x = args[0]
        return lambda: [torch.matmul(x, w) if b is None else torch.addmm(b, x.reshape(-1, x.shape[-1]), w) for w, b in zip(args[1:4], args[4:7])]
    return None


def warm_clocks(device, seconds=1.0):
    "Keep the GPU busy for about `seconds` before the first peer is timed: a cold card's clocks made Liger's layernorm read 2x slow."
    import torch
    a = torch.randn(4096, 4096, device=device, dtype=torch.bfloat16)
    t0 = time.time()
    while time.time() - t0 < seconds:
        for _ in range(20): a @ a
        torch.cuda.synchronize(device)


def time_peer(fn, device, reps=50):
    "Median ms of `fn` (the bench's CUDA timing on a GPU), or None where it fails."
    if fn is None: return None
    from autokernel import bench as B
    try:
        fn()
        if core.is_gpu(device): return B.time_cuda(fn, [((), {})], reps=reps)["median_ms"]
        t0 = time.perf_counter(); fn(); return (time.perf_counter() - t0) * 1e3
    except Exception as e:
        print(f"  peer failed: {type(e).__name__}: {str(e)[:100]}")
        return None


# --- the rows --------------------------------------------------------------------------------------------------------

def ratio_best_peer(row):
    peers = [row[k] for k in ("eager_ms", "compile_ms", "liger_ms") if row.get(k)]
    return min(peers) / row["kernel_ms"] if peers and row.get("kernel_ms") else None


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def _judged(r) -> dict:
    t = r.get("timing") or {}
    return {"correct": r["verdict"] == "pass", "verdict": r["verdict"] + (f" ({r['cause']})" if r.get("cause") else ""),
            "kernel_ms": t.get("kernel_ms"), "eager_ms": t.get("eager_ms"), "compile_ms": t.get("compile_ms"),
            "roofline_pct": t.get("roofline_pct"), "reason": (r.get("reason") or "")[:120], "graphed": t.get("graphed")}


def bench_rows(jobs, device, workers, timeout, on_row=None):
    """Bench every (preset, kind, backend, case) in the pool: verdict, kernel / eager / compile ms, roofline.
    `on_row(i, judged)` as each finishes (a run cut short keeps what it measured)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from autokernel import bench as B
    ceilings = B.measure_ceilings(device)
    out = [None] * len(jobs)
    with tempfile.TemporaryDirectory() as d:
        specs = []
        for i, (preset, kind, backend, case) in enumerate(jobs):
            kd = Path(d) / f"{i:02d}_{preset}_{kind}_{backend}"
            kd.mkdir()
            (kd / "kernel.py").write_text(ops.baseline_path(kind, backend).read_text())
            k = ops.KINDS[kind]
            specs.append((kd, {"kind": kind, "backend": backend, "case": case, "dtypes": list(k.dtypes), "test_cases": k.test_cases(case)}))
        with B.BenchPool(workers=workers, device=device, timeout=timeout) as pool, ThreadPoolExecutor(workers) as ex:
            futs = {ex.submit(pool.bench, *s): i for i, s in enumerate(specs)}
            for f in as_completed(futs):
                i = futs[f]
                out[i] = _judged(f.result())
                if on_row: on_row(i, out[i])
    return out, ceilings


def smoke_rows(jobs, device):
    "CPU smoke: the float32 check on the tiny case (Triton's interpreter) and one wall-clock call each; no torch.compile."
    out = []
    for preset, kind, backend, case in jobs:
        fn = ops.load_kernel_module(ops.baseline_path(kind, backend)).kernel_fn
        r = ops.check_kernel(fn, kind, case, "float32", device)
        args, kw = ops.make_inputs(kind, case, device, 1)
        k = ops.KINDS[kind]
        out.append({"correct": r["ok"], "verdict": "pass" if r["ok"] else f"fail ({r['detail'][:80]})",
                    "kernel_ms": time_peer(lambda: fn(*args, **kw), device), "eager_ms": time_peer(lambda: k.reference(*args, **kw), device),
                    "compile_ms": None, "roofline_pct": None, "reason": ""})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="the op library against eager, torch.compile, Liger-Kernel and the vendor library")
    p.add_argument("--backends", default="triton,cuda")
    p.add_argument("--only", default="", help="comma-separated kinds")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--device", default="auto")
    p.add_argument("--tiny", action="store_true", help="each kind's tiny case (implied on the CPU)")
    p.add_argument("--merge", action="store_true", help="keep the rows of the results file that this run does not measure")
    p.add_argument("--out", default=None, help="results file (default: benchmarks/results/kernels_vs_peers.json on a GPU, none on the CPU)")
    a = p.parse_args(argv)
    only, backends = set(filter(None, a.only.split(","))), [b for b in a.backends.split(",") if b]
    if only - set(ops.KINDS):
        print(f"baselines.py: error: unknown kind(s) {sorted(only - set(ops.KINDS))}", file=sys.stderr); return 2
    device = core.get_device(a.device)
    gpu = core.is_gpu(device)
    if not gpu: backends = [b for b in backends if b == "triton"]   # the CPU runs Triton's interpreter only
    todo = [(pr, kind, b, c) for pr, kind, c in cases(a.tiny or not gpu, only) for b in backends if ops.baseline_path(kind, b).exists()]
    print(f"{len(todo)} benches on {core.device_name(device)}{'' if gpu else ' (CPU smoke: interpreter, tiny cases, no GPU numbers)'}")
    full = [_key(_row(pr, kind, b, c)) for pr, kind, c in cases(a.tiny or not gpu, set()) for b in (["triton", "cuda"] if gpu else ["triton"])
            if ops.baseline_path(kind, b).exists()]
    t0 = time.time()
    out = a.out or (str(ROOT / "benchmarks" / "results" / "kernels_vs_peers.json") if gpu else None)
    card = core.device_name(device) if gpu else f"{core.device_name(device)} (CPU smoke, not GPU numbers)"
    old = [r for r in (_load(out)["rows"] if a.merge and out and Path(out).exists() else []) if _key(r) not in {_key(_row(*t)) for t in todo}]
    if gpu: warm_clocks(device)
    seen = {}    # before the pool starts, while the GPU is idle; once per case (the backends share it)
    peers = [seen.setdefault((pr, kind, repr(case)), peer_times(kind, case, device) if gpu else (None, None)) for pr, kind, _, case in todo]
    rows = {}

    def on_row(i, j):
        preset, kind, backend, case = todo[i]
        row = {**_row(preset, kind, backend, case), **{k: j[k] for k in ("correct", "kernel_ms", "eager_ms", "compile_ms", "roofline_pct")},
               "liger_ms": peers[i][0], "vendor_ms": peers[i][1], "verdict": j["verdict"], "reason": j["reason"], "graphed": j.get("graphed")}
        row["ratio_best_peer"] = ratio_best_peer(row) if row["correct"] else None
        rows[i] = row
        print(f"[{len(rows)}/{len(todo)} {time.time() - t0:.0f}s] {preset} {kind} {backend} {row['shape']}: {row['verdict']} "
              f"kernel {_ms(row['kernel_ms'])} eager {_ms(row['eager_ms'])} compile {_ms(row['compile_ms'])} liger {_ms(row['liger_ms'])} "
              f"vendor {_ms(row['vendor_ms'])}" + (f" {row['ratio_best_peer']:.2f}x" if row["ratio_best_peer"] else ""), flush=True)
        if out: _save(out, card, old + [rows[k] for k in sorted(rows)], complete=False, full=full)

    if gpu: judged, ceilings = bench_rows(todo, device, a.workers, a.timeout, on_row)
    else:
        judged, ceilings = smoke_rows(todo, device), None
        for i, j in enumerate(judged): on_row(i, j)
    rows = old + [rows[k] for k in sorted(rows)]
    g = geomean([r["ratio_best_peer"] for r in rows])
    print(f"{card}; {len(rows)} rows in {time.time() - t0:.0f} s" +
          (f"; ceilings: copy {ceilings['copy_gbps']:.0f} GB/s, matmul TFLOP/s {ceilings['matmul_tflops']}" if ceilings else ""))
    print(table(rows, ["preset", "kind", "shape", "backend", "verdict", "kernel_ms", "eager_ms", "compile_ms", "liger_ms", "vendor_ms",
                       "ratio_best_peer", "roofline_pct"]))
    print(f"\ngeomean over rows of kernel vs the best of eager / torch.compile / Liger: {g:.3f}x" if g else "\nno ratio (no timed row)")
    for r in rows:
        if not r["correct"]: print(f"- {r['preset']} {r['kind']} {r['backend']}: {r.get('verdict')} {r.get('reason', '')}")
    result = _save(out, card, rows, complete=True, full=full) if out else _result(card, rows, True, full)
    if out: print(f"wrote {out}")
    write_out("kernels_vs_peers.json", result)
    return 0 if all(r["correct"] for r in rows) else 1


FIELDS = ("preset", "kind", "shape", "backend", "correct", "kernel_ms", "eager_ms", "compile_ms", "liger_ms", "vendor_ms",
          "ratio_best_peer", "roofline_pct")


def _ms(v): return f"{v:.4f}" if isinstance(v, (int, float)) else "-"
def _key(r): return (r["preset"], r["kind"], r["shape"], r["backend"])
def _row(preset, kind, backend, case):
    return {"preset": preset, "kind": kind, "shape": " ".join("x".join(map(str, m["shape"])) for m in case["inputs"] if m), "backend": backend}


def peer_times(kind, case, device):
    "(Liger ms, vendor ms) on this case, each None where it does not apply or fails."
    args, kw = ops.make_inputs(kind, ops.with_dtype(case, case["inputs"][0]["dtype"]), device, 7)
    return time_peer(liger_fn(kind, args, kw), device), time_peer(vendor_fn(kind, args, kw), device)


def _result(card, rows, complete, full=()):
    "`complete`: this run measured all it set out to; `missing`: the rows of the whole table (every kind, case, backend) not in the file."
    have = {_key(r) for r in rows}
    return {"card": card, "rows": [{k: r.get(k) for k in FIELDS} | {"verdict": r.get("verdict"), "reason": r.get("reason"), "graphed": r.get("graphed")}
                     for r in rows],
            "geomean_ratio_best_peer": geomean([r["ratio_best_peer"] for r in rows]), "complete": complete,
            "missing": [" ".join(k) for k in full if k not in have]}


def _load(path):
    import json
    return json.loads(Path(path).read_text())


def _save(path, card, rows, complete, full=()):
    "The results file, rewritten after every row (`complete` false until the last)."
    import json
    res = _result(card, rows, complete, full)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    sys.exit(main())
