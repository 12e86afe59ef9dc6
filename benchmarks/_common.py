"""Shared by the bench GPU scripts: put the repo on sys.path, write JSON to $OUT, print markdown tables."""
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
