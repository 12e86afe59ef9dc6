"""End-to-end table for the GPT-2, LLaMA and BERT presets on a GPU: eager, patched, torch.compile, patched + compile.

    python3 benchmarks/e2e_presets.py                              # the op library's baseline Triton kernels
    python3 benchmarks/e2e_presets.py --run runs/20260101-000000_gpt2   # a run's winners (its preset is read from the run)

For each preset (full size, bf16, on cuda): the kernels are a run's winners when --run names a run of that preset, else the
op library's baseline kernels for the model's top ops (profile + extract into a temp folder; plugged in without their own bench
unless --bench). `autokernel.verify.verify` then checks the patched model's outputs against a float64 copy on fresh inputs and
times every mode on this card in this process (interleaved rounds, CUDA events, median). Prints a markdown table per preset
and one summary table; writes $OUT/e2e.json. About 1-3 minutes per preset on an H100 (72 s for GPT-2 with a run's kernels:
`results/e2e_gpt2_h100_s3.log`; --no-cudagraphs skips two of the four compiles and the eager CUDA-graph modes). Imports only torch, transformers (through the presets), the stdlib and autokernel: no papermill, no jupyter.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_out  # puts the repo on sys.path

import torch

from autokernel.core import environment, load_json, load_model
from autokernel.rundir import kernel_dir_entry, run_kernels
from autokernel.verify import verify

PRESETS = ("gpt2", "llama", "bert")


def baseline_kernels(preset, model, inputs, top, backend, bench, tmp, device="cuda"):
    "Profile the model, extract its top ops with the library's baseline kernels, optionally bench them: kernel entries."
    from autokernel.extract import extract
    from autokernel.profile import profile, save_profile
    prof = profile(model, inputs, name=preset, device=device)
    p = save_profile(prof, Path(tmp) / f"{preset}.profile.json")
    out = Path(tmp) / preset
    extract(str(p), top_n=top, backend=backend, out=str(out), verbose=False)
    dirs = sorted(d for d in out.iterdir() if (d / "spec.json").exists())
    if bench:
        from autokernel.bench import bench as run_bench
        from autokernel.core import save_json
        for d in dirs: save_json(run_bench(d, device=device, verbose=False), d / "bench.json", "autokernel.bench")
    entries, skipped = [kernel_dir_entry(d) for d in dirs], []
    if bench:
        for e in list(entries):
            why = None if e["verdict"] == "pass" else f"bench verdict {e['verdict']}"
            if why is None and e["comparable"] and (e["speedup_eager"] or 0) < 1: why = f"{e['speedup_eager']:.2f}x PyTorch in its bench"
            if why: entries.remove(e); skipped.append({"name": e["name"], "reason": why})
    return entries, skipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], help="a run folder whose winners to plug in (repeatable)")
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--top", type=int, default=8, help="top ops to extract when no run is given")
    ap.add_argument("--backend", default="triton")
    ap.add_argument("--bench", action="store_true", help="bench the baseline kernels first (drops those slower than PyTorch)")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-cudagraphs", action="store_true", help="skip the CUDA-graph modes (eager and compiled, captured)")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--device", default="cuda", help="cuda (cpu only to try the script out on the -tiny presets)")
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available(): print("needs a CUDA GPU"); return 2
    runs = {}
    for r in a.run:
        prof = load_json(Path(r) / "profile.json")
        runs[prof["model"]] = Path(r)
    results, summary, t0 = {"env": environment(a.device), "presets": {}}, [], time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for preset in a.presets.split(","):
            t = time.time()
            model, inputs = load_model(preset, a.device)
            if preset in runs: kernels, skipped = run_kernels(runs[preset])
            else: kernels, skipped = baseline_kernels(preset, model, inputs, a.top, a.backend, a.bench, tmp, a.device)
            source = str(runs.get(preset, "library baselines"))
            print(f"\n## {preset}: {len(kernels)} kernels from {source} ({time.time() - t:.0f}s to prepare)")
            try:
                res = verify(kernels, model, inputs, compile=not a.no_compile, cuda_graphs=not a.no_cudagraphs, reps=a.reps,
                             min_speedup=0.0 if preset not in runs else 1.0)
            except Exception as e:
                print(f"verify failed: {type(e).__name__}: {e}")
                results["presets"][preset] = {"error": f"{type(e).__name__}: {e}"}
                continue
            res["skipped"] = res.get("skipped") or skipped
            res["kernel_source"] = source
            results["presets"][preset] = res
            eager = res["timing"]["eager"].get("median_ms")
            for mode, r in res["timing"].items():
                summary.append({"preset": preset, "mode": mode, "median_ms": r.get("median_ms"), "host_ms": r.get("host_ms"),
                                "x eager": eager / r["median_ms"] if r.get("median_ms") and eager else None,
                                "outputs match": res["ok"] if "patched" in mode else "",
                                "error": r.get("error", "")[:60]})
            print(f"({time.time() - t:.0f}s for {preset}; kernel calls per forward: "
                  f"{ {k['name']: k['calls_per_forward'] for k in res['kernels']} })")
            del model
            if a.device == "cuda": torch.cuda.empty_cache()
    print(f"\n# end to end on {results['env']['device']} (torch {results['env']['torch']}, triton {results['env']['triton']})\n")
    print(table(summary, ["preset", "mode", "median_ms", "host_ms", "x eager", "outputs match", "error"]))
    print(f"\ntotal {time.time() - t0:.0f}s")
    write_out("e2e.json", results)
    return 0 if all(r.get("ok") for r in results["presets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
