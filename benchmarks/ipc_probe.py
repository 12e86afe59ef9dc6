"""Which CUDA IPC sharing survives a second consumer on this card? Two plain (unsandboxed) processes, one after the
other, open the same shared memory: (a) a torch tensor from a private MemPool pickled by torch (session 5's arena),
(b) an `ipc_alloc` chunk opened by its handle (the arena now), (c) a fresh `ipc_alloc` chunk for each process.
Prints one row per way and consumer; a diagnosis, not a timing.    python3 benchmarks/ipc_probe.py"""
import sys

import torch
import torch.multiprocessing as mp
from _common import table, write_out

from autokernel import core
from autokernel import judge as J
from autokernel import worker as W


def _torch_child(t, q):
    try: q.put(("ok", float(t[:4].float().sum())))
    except Exception as e: q.put(("error", f"{type(e).__name__}: {e}"[:120]))   # noqa: BLE001


def _handle_child(desc, q):
    try: q.put(("ok", float(W.open_buffer(desc, "")[:4].float().sum())))
    except Exception as e: q.put(("error", f"{type(e).__name__}: {e}"[:120]))   # noqa: BLE001


def consume(target, arg):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(arg, q))
    p.start()
    try: got = q.get(timeout=120)
    except Exception: got = ("error", "no answer")   # noqa: BLE001
    p.join(60)
    return got


def main():
    rows = []
    pool = torch.cuda.MemPool()
    with torch.cuda.use_mem_pool(pool):
        pooled = torch.ones(1 << 20, device="cuda")
    torch.cuda.synchronize()
    for i in range(2): rows.append({"way": "torch pickling, MemPool tensor", "consumer": i + 1, **dict(zip(("got", "detail"), consume(_torch_child, pooled)))})
    a = J.Arena("cuda")
    t = a.take((1 << 20,), (1,), torch.float32).fill_(1.0)
    torch.cuda.synchronize()
    for i in range(2): rows.append({"way": "ipc_alloc chunk, same for both", "consumer": i + 1, **dict(zip(("got", "detail"), consume(_handle_child, a.describe(t))))})
    for i in range(2):
        b = J.Arena("cuda")
        u = b.take((1 << 20,), (1,), torch.float32).fill_(1.0)
        torch.cuda.synchronize()
        rows.append({"way": "ipc_alloc chunk, fresh each", "consumer": i + 1, **dict(zip(("got", "detail"), consume(_handle_child, b.describe(u))))})
        b.free()
    print(f"{core.device_name(torch.device('cuda'))}\n" + table(rows, ["way", "consumer", "got", "detail"]))
    write_out("ipc_probe.json", {"card": core.device_name(torch.device("cuda")), "rows": rows})
    return 0 if all(r["got"] == "ok" for r in rows[2:]) else 1


if __name__ == "__main__":
    sys.exit(main())
