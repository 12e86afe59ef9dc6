"""Does a GPU worker still get the judge's buffers (CUDA IPC, the arena) after other workers died of faults, and does a
new arena chunk hold nothing of the last worker's?

Session 5 on the H200 saw every worker after a faulting one fail with `CUDA error: mapping of buffer object failed`
(`results/gpu_exploits_h200_s5.log`). This runs honest softmax baselines around a CUDA illegal address and an abort,
and the planted attacks on the shared buffers right after an honest worker (stale data in a chunk the driver gave back,
reading past the input, writing past the buffers), one worker at a time, and prints for each job its verdict, whether it
is the expected one, the worker's last error, the seconds it took and the judge's reserved GPU memory: the first GPU
command of a session that changes the judge.

    python3 benchmarks/ipc_check.py                  # on the GPU machine: prints a table, writes $OUT/ipc_check.json
    python3 benchmarks/ipc_check.py --device cpu     # the same sequence on the CPU (shared files, no IPC)"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import table, write_out
from gpu_exploits import GPU_CANDIDATES
from expected import matches, planted_source  # noqa: E402  (gpu_exploits put tests/planted on sys.path)

import torch
from autokernel import bench as B
from autokernel import core, ops

FAULTS = {
    "illegal_address": GPU_CANDIDATES["illegal_address"][0],     # a store 1 TB past its buffer
    "abort": "import os\nMETA = dict(kind='softmax', backend='triton')\ndef kernel_fn(x):\n    os.abort()\n",
}
ATTACKS = ("stale_chunk", "peek_chunk", "scribble_chunk")      # tests/planted: judged right after an honest worker
SEQUENCE = ["honest", "stale_chunk", "honest", "peek_chunk", "illegal_address", "honest", "scribble_chunk", "honest",
            "abort", "honest"]


def right(name, r, gpu=True) -> bool:
    if name == "honest": return r["verdict"] == "pass"
    if name in ATTACKS: return matches(r, name, gpu)
    return r["verdict"] == "error" and r.get("cause") in {"illegal_address", "crash", "segfault"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--shape", default="8,1024,768")
    a = p.parse_args(argv)
    dev = core.get_device(a.device)
    gpu = core.is_gpu(dev)
    case = ops.make_case("softmax", [[int(s) for s in a.shape.split(",")]], "bfloat16" if gpu else "float32")
    spec = {"kind": "softmax", "backend": "triton", "case": case, "dtypes": ["bfloat16" if gpu else "float32"], "test_cases": ops.KINDS["softmax"].test_cases(case)}
    rows = []
    with tempfile.TemporaryDirectory() as d, B.BenchPool(workers=1, device=dev, timeout=120) as pool:
        for i, name in enumerate(SEQUENCE):
            k = Path(d) / f"{i:02d}_{name}"
            k.mkdir()
            src = FAULTS.get(name) or (Path(planted_source(name)).read_text() if name in ATTACKS else None)
            (k / "kernel.py").write_text(src or ops.baseline_path("softmax", "triton").read_text())
            t0 = time.time()
            r = pool.bench(k, spec, False)
            rows.append({"job": i, "candidate": name, "verdict": r["verdict"], "cause": r.get("cause"), "right": right(name, r, gpu),
                         "seconds": round(time.time() - t0, 2), "worker_error": B.last_error(r.get("stderr_tail") or "")[:90],
                         "judge_reserved_gb": round(torch.cuda.memory_reserved(dev) / 2**30, 2) if gpu else None})
            print(f"[{i + 1}/{len(SEQUENCE)}] {name}: {r['verdict']} {r.get('cause') or ''} ({rows[-1]['seconds']} s)", flush=True)
    print(table(rows, list(rows[0])))
    honest_after = [r for r in rows[1:] if r["candidate"] == "honest"]
    ok = all(r["right"] for r in rows)
    print(f"\n{core.device_name(dev)}: {'every job right' if ok else 'NOT every job right'}; honest workers after a fault or "
          f"an attack pass {sum(r['verdict'] == 'pass' for r in honest_after)}/{len(honest_after)}")
    write_out("ipc_check.json", {"card": core.device_name(dev), "sandbox": B.isolation(gpu)["level"], "rows": rows, "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
