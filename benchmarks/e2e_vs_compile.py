"""End to end against torch.compile: for each model, an optimize run, then verify's choice (the delivered configuration)
timed interleaved with every plain mode (eager, eager captured as a CUDA graph, torch.compile, torch.compile with CUDA
graphs) in one process per model, outputs checked against float64. Prints the table and writes
benchmarks/results/e2e_vs_compile.json {"card", "models": [{"model", "preset", "best_compile_mode", "best_compile_ms",
"delivered_mode", "delivered_ms", "ratio", "outputs_match"}]} (ratio = best_compile_ms / delivered_ms).

    python benchmarks/e2e_vs_compile.py                                  # GPU: presets + Qwen2 (GQA), T5 encoder, ViT
    python benchmarks/e2e_vs_compile.py --models qwen2,vit --budget 8m
    python benchmarks/e2e_vs_compile.py --device cpu --tiny --models vit --top 1 --max-experiments 1 --out /tmp/e2e.json

`--device cpu --tiny` is a smoke path (tiny configs, Triton's interpreter, no compile modes): its numbers are not GPU
numbers and it never writes the results file unless --out names it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, table, write_out  # puts the repo on sys.path

PRESETS = ("gpt2", "llama", "bert")
HF = ("qwen2", "t5", "vit")
TINY = os.environ.get("E2E_TINY") == "1"


# ---- the HF architectures outside the presets: factories (no arguments, return (model, inputs)), random weights
def qwen2():
    "A Qwen2-style decoder with grouped-query attention (14 heads, 2 KV heads)."
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    c = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, vocab_size=128)
         if TINY else dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=8, num_attention_heads=14, num_key_value_heads=2,
                           vocab_size=32000))
    m = Qwen2ForCausalLM(Qwen2Config(**c, max_position_embeddings=1024, attn_implementation="sdpa"))
    ids = torch.randint(0, c["vocab_size"], (1, 8) if TINY else (4, 512))
    return m, {"input_ids": ids}


def t5():
    "A T5 encoder (relative position bias, RMS-style T5LayerNorm, ReLU FFN)."
    import torch
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    c = (dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=1, vocab_size=128) if TINY
         else dict(d_model=768, d_kv=64, num_heads=12, d_ff=3072, num_layers=6, vocab_size=32128))
    m = T5EncoderModel(T5Config(**c))
    ids = torch.randint(0, c["vocab_size"], (1, 8) if TINY else (8, 256))
    return m, {"input_ids": ids}


def vit():
    "A ViT image classifier (patch embedding, pre-LN encoder, GELU MLP)."
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    torch.manual_seed(0)
    c = (dict(image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64) if TINY
         else dict(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072))
    m = ViTForImageClassification(ViTConfig(**c, num_labels=10, attn_implementation="sdpa"))
    return m, {"pixel_values": torch.randn(1 if TINY else 16, 3, c["image_size"], c["image_size"])}


def spec_of(name: str) -> str:
    "What `load_model` and `autokernel optimize --model` take: a preset name, or this file's factory."
    if name in PRESETS: return f"{name}-tiny" if TINY else name
    if name in HF: return f"{Path(__file__).resolve()}:{name}"
    raise SystemExit(f"e2e_vs_compile: unknown model {name!r}: one of {', '.join(PRESETS + HF)}")


# ---- one model, in its own process
def one(a) -> dict:
    import torch
    from autokernel.core import device_name, get_device, load_model, run_model
    from autokernel.optimize import optimize_cmd
    from autokernel.verify import (MODES, Optimized, _float64_copy, compare_outputs, fresh_inputs, run_kernels, time_modes,
                                   verify, mode_forward)
    dev = get_device(a.device)
    gpu = dev.type == "cuda"
    run = Path(a.run)
    if not (a.reuse and (run / "verify.json").exists()):
        argv = ["--model", spec_of(a.one), "--run", str(run), "--budget", a.budget, "--device", str(dev), "--quiet"]
        argv += ["--top", str(a.top)] if a.top else []
        argv += ["--max-experiments", str(a.max_experiments)] if a.max_experiments is not None else []
        optimize_cmd(argv)
    model, inputs = load_model(spec_of(a.one), dev)
    t0 = time.time()
    res = verify(run, model, inputs, reps=a.reps, log=lambda *x: print(f"  [{a.one} verify {time.time() - t0:.0f}s]", *x, flush=True))
    d = res["selection"]["delivered"]
    by = {k["name"]: k for k in run_kernels(run, min_speedup=0.0)[0]}
    x = fresh_inputs(inputs, seed=7)
    delivered = Optimized(model, [by[n] for n in d["kernels"]], d["mode"])
    modes = {m: mode_forward(model, x, m) for m in MODES if gpu or m == "eager"}
    modes["delivered"] = lambda: run_model(delivered, x)
    with torch.no_grad():
        orig = run_model(model, x)
        f64 = _float64_copy(model, x)
        ref = run_model(*f64) if f64 is not None else None
        del f64
        check = compare_outputs(orig, modes["delivered"](), ref, next(model.parameters()).dtype)
        timing = time_modes(modes, dev, reps=a.reps or (30 if gpu else 3), warmup=3)
    for f in modes.values(): getattr(f, "release", lambda: None)()
    plain = {m: timing[m]["median_ms"] for m in ("compile", "compile+cudagraphs") if "median_ms" in timing.get(m, {})}
    best_c = min(plain, key=plain.get) if plain else None
    dms = timing["delivered"].get("median_ms")
    return {"model": a.one, "preset": a.one in PRESETS, "best_compile_mode": best_c, "best_compile_ms": plain.get(best_c),
            "delivered_mode": d["config"], "delivered_kernels": d["kernels"], "delivered_ms": dms,
            "ratio": plain[best_c] / dms if best_c and dms else None, "outputs_match": bool(check["ok"]),
            "why": d["why"], "timing": {m: t.get("median_ms", t.get("error")) for m, t in timing.items()},
            "never_ran": res.get("never_ran"), "card": device_name(dev), "run": str(run)}


def save(path, rows, tiny) -> dict:
    "The results object for `rows`; written to `path` when one is given."
    out = {"card": next((r["card"] for r in rows if r.get("card")), None), "tiny": tiny, "models": rows}
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(out, indent=1, default=str))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(PRESETS + HF), help="comma-separated: " + ", ".join(PRESETS + HF))
    ap.add_argument("--budget", default="8m", help="optimize budget per model")
    ap.add_argument("--top", type=int, default=None, help="kernels to extract per model (default: settings top_n)")
    ap.add_argument("--max-experiments", type=int, default=None)
    ap.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny configs (the CPU smoke path)")
    ap.add_argument("--reps", type=int, default=None, help="timing rounds (default 30 on a GPU, 3 on the CPU)")
    ap.add_argument("--runs-dir", default=str(ROOT / "runs" / "e2e_vs_compile"), help="where the optimize runs go")
    ap.add_argument("--reuse", action="store_true", help="reuse a model's run folder when it already has a verify.json")
    ap.add_argument("--out", default=None, help="results file (default on a GPU: benchmarks/results/e2e_vs_compile.json)")
    ap.add_argument("--merge", action="store_true", help="keep the results file's rows of models not run now (split a session)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        Path(a.json).write_text(json.dumps(one(a), default=str))
        return 0
    names = [m.strip() for m in a.models.split(",") if m.strip()]
    for n in names: spec_of(n)                                           # a bad name fails before any work
    import torch
    gpu = (a.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    env = dict(os.environ, **({"E2E_TINY": "1"} if a.tiny else {}))
    path = a.out or (str(ROOT / "benchmarks" / "results" / "e2e_vs_compile.json") if gpu and not a.tiny else None)
    kept = [r for r in json.loads(Path(path).read_text())["models"] if r["model"] not in names] if a.merge and path and Path(path).exists() else []
    rows, t0 = [], time.time()
    for i, n in enumerate(names):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            run = Path(a.runs_dir) / (f"{n}-tiny" if a.tiny else n)
            cmd = [sys.executable, __file__, "--one", n, "--run", str(run), "--json", f.name, "--budget", a.budget,
                   "--device", "cuda" if gpu else "cpu"] + [s for k, v in (("--top", a.top), ("--max-experiments", a.max_experiments),
                                                                          ("--reps", a.reps)) if v is not None for s in (k, str(v))]
            cmd += ["--reuse"] if a.reuse else []
            print(f"== [{i + 1}/{len(names)}] {n}: optimize ({a.budget}), verify, time every mode ({time.time() - t0:.0f}s so far)", flush=True)
            p = subprocess.run(cmd, env=env)
            if p.returncode or not Path(f.name).read_text():
                rows.append({"model": n, "preset": n in PRESETS, "error": f"exit {p.returncode}"})
            else: rows.append(json.loads(Path(f.name).read_text()))
        save(path, rows + kept, a.tiny)                                  # after every model: a killed session keeps what it measured
        write_out("e2e_vs_compile.json", save(None, rows + kept, a.tiny))
    rows += kept
    card = next((r["card"] for r in rows if r.get("card")), None)
    print(f"\nend to end on {card}: the delivered configuration vs the best torch.compile mode ({time.time() - t0:.0f}s)\n")
    print(table(rows, ["model", "preset", "best_compile_mode", "best_compile_ms", "delivered_mode", "delivered_ms", "ratio", "outputs_match"]))
    ratios = [r["ratio"] for r in rows if r.get("ratio")]
    if ratios:
        import math
        print(f"\ngeomean ratio {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f} over {len(ratios)} models")
    if path: print(f"wrote {path}")
    write_out("e2e_vs_compile.json", save(None, rows, a.tiny))
    return 0 if rows and all("error" not in r and r["outputs_match"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
