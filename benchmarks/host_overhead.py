"""Host cost of verify's op-level interception, with no kernel plugged in (every intercepted call falls back to PyTorch):
eager vs the attribute patches verify uses in eager mode vs a TorchFunctionMode (what it used before, and still uses under
torch.compile, where dynamo traces it away). Every op-level kind is intercepted, as when a run brings kernels of all kinds.

    python3 benchmarks/host_overhead.py [--presets gpt2-tiny,llama-tiny,bert-tiny] [--device cpu] [--reps 40] [--compile]

`--compile` adds the same under torch.compile: plain, with the function mode around the compiled forward, and compiled
by `compile_with` (the calls routed in the graph at trace time: what verify and `optimized` use).

On the CPU with the -tiny presets the forward is mostly host work, so the differences are host time per forward; on a GPU
it shows how much of the interception the GPU hides. Prints a markdown table; writes host_overhead.json to $OUT.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, time_forwards, write_out  # puts the repo on sys.path


import torch
from autokernel.core import environment, load_model, run_model
from autokernel.runtime import KIND_MATCHERS, Patcher, compile_with, patch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="gpt2-tiny,llama-tiny,bert-tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--compile", action="store_true", help="also time the compiled variants")
    a = ap.parse_args(argv)
    kinds = set(KIND_MATCHERS)
    rows = []
    for preset in a.presets.split(","):
        model, inputs = load_model(preset, a.device)
        model.eval()
        empty = Patcher([], kinds=kinds)
        def eager(): return run_model(model, inputs)
        def attributes():
            with patch(model, empty): return run_model(model, inputs)
        def function_mode():
            with patch(model, empty, compiled=True): return run_model(model, inputs)
        modes = {"eager": eager, "attribute patches": attributes, "function mode": function_mode}
        if a.compile:
            cm, routed = torch.compile(model), compile_with(model, empty)
            def compiled(): return run_model(cm, inputs)
            def compiled_mode():
                with patch(model, empty, compiled=True): return run_model(cm, inputs)
            def compiled_routed():
                with patch(model, empty, compiled=True, function_mode=False): return run_model(routed, inputs)
            modes |= {"compile": compiled, "compile + function mode": compiled_mode, "compile_with": compiled_routed}
        t = time_forwards(modes, a.device, a.reps, warmup=2)   # interleaved rounds: drift hits every mode alike
        med = {k: v["median_ms"] for k, v in t.items()}
        row = {"preset": preset, "eager_ms": med["eager"]}
        for k in ("attribute patches", "function mode"):
            row[f"{k} ms"] = med[k]
            row[f"{k} extra ms"] = med[k] - med["eager"]
        if a.compile:
            row["compile ms"] = med["compile"]
            for k in ("compile + function mode", "compile_with"): row[f"{k} extra ms"] = med[k] - med["compile"]
        row["fallbacks per forward"] = sum(empty.fallbacks.values()) // (2 * (a.reps + 2))   # the two eager modes count
        rows.append(row)
    env = environment(a.device)
    print(f"# interception host cost on {env['device']} (torch {env['torch']}), median of {a.reps} interleaved rounds\n")
    print(table(rows, list(rows[0])))
    write_out("host_overhead.json", {"env": env, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
