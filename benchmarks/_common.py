"""What every benchmark script shares: the repo on sys.path, JSON to $OUT, markdown tables, and the package's own timing
(`time_forwards`, `time_graphed`), so that no script carries timing code of its own."""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
os.environ.setdefault("AUTOKERNEL_HOME", str(ROOT))


def write_out(name: str, obj) -> None:
    "Write `obj` as JSON to $OUT/name when $OUT is set."
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / name).write_text(json.dumps(obj, indent=1, default=str))
        print(f"wrote {Path(out) / name}")


def table(rows: list[dict], cols: list[str]) -> str:
    "A markdown table of `rows` (dicts) with columns `cols`."
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def time_forwards(modes: dict, device, reps: int = 30, warmup: int = 3) -> dict:
    """Each callable's time per call by the package's own end-to-end timer (`verify.time_modes`: interleaved rounds, CUDA
    events on a GPU, `core.percentile`): `{mode: {'median_ms', 'p20_ms', 'p80_ms', 'host_ms', 'reps'}}`, or `{'error'}`."""
    import torch
    from autokernel.verify import time_modes
    with torch.no_grad(): return time_modes(modes, device, reps, warmup)


def time_graphed(fn, device="cuda", reps: int = 30) -> dict:
    "`fn` captured once as a CUDA graph (`runtime.graphed`) and replayed, timed by `time_forwards`; `{'error'}` if it cannot be."
    from autokernel.runtime import graphed
    g = graphed(fn)
    try: return time_forwards({"graph": g}, device, reps)["graph"]
    finally: g.release()
