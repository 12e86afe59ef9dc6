"""Re-judge a finished run's winners with the current bench, then verify the model with them: for when the bench itself
changed after the run (a fairer baseline, a new check). The run folder is copied first; the original is left as it was.

    python3 benchmarks/rebench_run.py runs/examples/bert-h100 [--kinds matmul] [--no-compile]

Prints, per kernel, the speedups its bench recorded during the run beside the new ones (same card, this process's
baseline), then verify's end-to-end table with the re-benched kernels (those now slower than PyTorch are left out, as
verify always does). Writes $OUT/rebench_<run name>.json.
"""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_out  # puts the repo on sys.path

from autokernel.bench import bench
from autokernel.core import load_json, save_json
from autokernel.verify import verify


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--kinds", default="", help="re-bench only kernels of these kinds (comma-separated; default all)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args(argv)
    src = Path(a.run)
    kinds = {k for k in a.kinds.split(",") if k}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / src.name
        shutil.copytree(src, run)
        rows = []
        for best in sorted(run.glob("*/best")):
            spec = load_json(best / "spec.json")
            if kinds and spec["kind"] not in kinds: continue
            old = (load_json(best / "bench.json").get("timing") or {}) if (best / "bench.json").exists() else {}
            res = bench(best, device=a.device, verbose=False)
            save_json(res, best / "bench.json", "autokernel.bench")
            new = res.get("timing") or {}
            rows.append({"kernel": best.parent.name, "verdict": res.get("verdict"), "old x eager": old.get("speedup_eager"),
                         "new x eager": new.get("speedup_eager"), "old x compile": old.get("speedup_compile"),
                         "new x compile": new.get("speedup_compile"), "kernel ms": new.get("kernel_ms"), "eager ms": new.get("eager_ms")})
            print(rows[-1], flush=True)
        print(f"\n# {src.name}: the run's winners re-benched\n")
        print(table(rows, list(rows[0])) if rows else "(no kernel re-benched)")
        print()
        res = verify(run, device=a.device, compile=not a.no_compile, out=Path(tmp) / "verify.json")
        write_out(f"rebench_{src.name}.json", {"run": str(src), "rebench": rows, "verify": res})
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
