"""Print the recorded GPU results (benchmarks/results/*.json, written by the scripts in benchmarks/) as markdown tables.

    python3 benchmarks/render_results.py > /tmp/tables.md     # the tables in BENCHMARKS.md come from this
"""
import json
from pathlib import Path

R = Path(__file__).resolve().parent / "results"
PRESETS = Path(__file__).resolve().parent.parent / "presets"


def fmt(x, nd=3):
    return "-" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def table(rows, cols):
    out = ["| " + " | ".join(h for h, _ in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(f(r) for _, f in cols) + " |" for r in rows]
    return "\n".join(out)


def baselines(name):
    d = json.loads((R / name).read_text())
    c = d["ceilings"]
    print(f"### Baselines: {name} ({d['device']}; measured copy {c['copy_gbps']:.0f} GB/s, bf16 matmul {c['matmul_tflops']['bfloat16']:.0f} TFLOP/s)\n")
    cols = [("preset", lambda r: r["preset"]), ("kind", lambda r: r["kind"]), ("shape", lambda r: r["shape"]),
            ("backend", lambda r: r["backend"]), ("correct", lambda r: r["correct"]),
            ("kernel ms", lambda r: fmt(r["kernel_ms"], 4)), ("% roof", lambda r: fmt(r["kernel_%roof"], 1)),
            ("eager ms", lambda r: fmt(r["eager_ms"], 4)), ("% roof", lambda r: fmt(r["eager_%roof"], 1)),
            ("compile ms", lambda r: fmt(r["compile_ms"], 4)), ("% roof", lambda r: fmt(r["compile_%roof"], 1)),
            ("x eager", lambda r: fmt(r["vs_eager"], 2)), ("x compile", lambda r: fmt(r["vs_compile"], 2)),
            ("bound", lambda r: r["bound"] or "-")]
    rows = sorted(d["rows"], key=lambda r: (r["preset"], r["kind"], r["backend"]))
    print(table(rows, cols) + "\n")
    bad = [r for r in rows if r["correct"] != "pass"]
    for r in bad:
        print(f"- {r['preset']} {r['kind']} {r['backend']}: {r['reason']}")
    print()


def profile_check():
    d = json.loads((PRESETS / "profile_check.json").read_text())
    rows = d["rows"] if isinstance(d, dict) and "rows" in d else d
    print(f"### Profiler against CUDA events ({d['env']['device']}, torch {d['env']['torch']}, {d['reps']} reps)\n")
    keys = ["model", "cuda_event_ms", "cuda_graph_ms", "profiler_busy_ms", "wall_ms", "gap_ms",
            "busy_vs_event_pct", "busy_vs_graph_pct", "wall_vs_event_pct"]
    print(table(rows, [(k, lambda r, k=k: fmt(r.get(k), 2)) for k in keys]) + "\n")


def pace():
    s = json.loads((R / "harness_pace_h100.json").read_text())["summary"]
    print(f"### Harness pace ({s['device']}, {s['kind']}, {s['n']} candidates, {s['workers']} workers)\n")
    keys = ["candidates_per_hour", "median_worker_start_s", "median_compile_s", "median_correctness_s", "median_timing_s",
            "median_wall_s", "pool_ready_s", "wall_s"]
    print(table([s], [(k, lambda r, k=k: fmt(r[k], 2)) for k in keys]))
    print(f"\nverdicts: {s['verdicts']}\n")


def exploits():
    d = json.loads((R / "gpu_exploits_h100.json").read_text())
    print(f"### Planted candidates on the GPU ({d['device']})\n")
    cols = [("candidate", lambda r: r["candidate"]), ("as expected", lambda r: r["as_expected"]),
            ("verdict", lambda r: r["verdict"]), ("cause", lambda r: r["cause"] or "-"), ("stage", lambda r: r["stage"] or "-"),
            ("reason", lambda r: (r["reason"] or "").replace("|", "/")[:110])]
    print(table(d["rows"], cols) + "\n")


E2E_MODES = ["eager", "patched", "intercept-only", "cudagraphs", "patched+cudagraphs", "compile", "patched+compile",
             "compile+cudagraphs", "patched+compile+cudagraphs"]


def e2e_table(runs: dict, modes, env) -> None:
    print(f"### End to end ({env['device']}, torch {env['torch']}, triton {env['triton']}, bfloat16, median ms of interleaved rounds)\n")
    rows = []
    for name, (res, src) in runs.items():
        t = res["timing"]
        eager = t["eager"]["median_ms"]
        cell = lambda m, t=t, eager=eager: (f"{t[m]['median_ms']:.2f} ({eager / t[m]['median_ms']:.2f}x)" if m in t and "median_ms" in t[m] else "-")
        host = lambda m, t=t: fmt(t.get(m, {}).get("host_ms"), 1)
        rows.append({"preset": name, "kernels": src, **{m: cell(m) for m in modes}, "outputs": "match" if res["ok"] else "MISMATCH",
                     "host ms eager / patched": f"{host('eager')} / {host('patched')}",
                     "plugged in (eager)": ", ".join(f"{k['name']} x{k['calls_per_forward']}" for k in res["kernels"] if k.get("calls_per_forward")),
                     "in compile": ", ".join(res.get("compile_kernels") or []) or "none"})
    extra = ["host ms eager / patched"] if any("host_ms" in r[0]["timing"]["eager"] for r in runs.values()) else []
    cols = ["preset", "kernels", *modes, *extra, "outputs", "plugged in (eager)", "in compile"]
    print(table(rows, [(k, lambda r, k=k: r[k]) for k in cols]) + "\n")
    for name, (res, _) in runs.items():
        a = res["amdahl"]
        g = f", {a['measured_cudagraphs']:.2f}x with CUDA graphs" if a.get("measured_cudagraphs") else ""
        print(f"- {name}: Amdahl predicted {fmt(a['predicted_eager'], 2)}x, measured {fmt(a['measured_eager'], 2)}x{g}")
    print()


def e2e():
    "End to end (session 3): each preset's own optimize run, the matmul kernels re-judged against the fair (addmm) baseline."
    ROOT = R.parent.parent
    gpt2 = json.loads((R / "rebench_gpt2_h100.json").read_text())["verify"]
    bert = json.loads((R / "rebench_bert_h100.json").read_text())["verify"]
    llama = json.loads((ROOT / "runs/examples/llama-h100/verify.json").read_text())
    runs = {"gpt2": (gpt2, "runs/examples/gpt2-h100 (15-min run), matmuls re-benched (rebench_run.py)"),
            "llama": (llama, "runs/examples/llama-h100 (3-min run)"),
            "bert": (bert, "runs/examples/bert-h100 (3-min run), re-benched with the fixed timer (rebench_run.py)")}
    e2e_table(runs, E2E_MODES, gpt2)


def e2e_session2():
    "End to end as measured in session 2 (superseded): GPT-2 from the overnight run's verify, LLaMA and BERT from library baselines."
    d = json.loads((R / "e2e_h100.json").read_text())
    runs = {"gpt2": (json.loads((R.parent.parent / "runs/examples/gpt2-h100/verify.json").read_text()), "runs/examples/gpt2-h100 (15-min optimize run)")}
    for name, res in d["presets"].items():
        runs[name] = (res, "library baselines, benched; slower than eager dropped")
    e2e_table(runs, [m for m in E2E_MODES if "cudagraphs" not in m or "compile" in m], d["env"])


def check_cuda():
    s = json.loads((R / "check_cuda_h100.json").read_text())["summary"]
    print(f"### CUDA C++ baselines, correctness ({s['device']}, torch {s['torch']}): "
          f"{s['checks']} checks, {s['failures']} failures, {s['elapsed_s']} s\n")


if __name__ == "__main__":
    profile_check()
    baselines("baselines_h100.json")
    check_cuda()
    pace()
    exploits()
    baselines("baselines_matmul_addmm_h100.json")
    baselines("baselines_contention_h100.json")
    e2e()
    e2e_session2()
