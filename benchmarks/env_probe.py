"""Print what the GPU machine has: versions, the card, its ceilings as the bench measures them (`bench.measure_ceilings`:
copy and read bandwidth, matmul rates), and how torch.profiler reports a HF GPT-2 forward there (event attributes, kernel
names). Run: python3 benchmarks/env_probe.py"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: F401,E402  (puts the repo on sys.path)
import torch  # noqa: E402

out = {"python": sys.version.split()[0], "torch": torch.__version__}
try:
    import triton
    out["triton"] = triton.__version__
except Exception as e:
    out["triton"] = repr(e)
try:
    import transformers
    out["transformers"] = transformers.__version__
except Exception as e:
    out["transformers"] = repr(e)
out["cuda"] = torch.cuda.is_available()
if out["cuda"]:
    p = torch.cuda.get_device_properties(0)
    out.update(gpu=p.name, sms=p.multi_processor_count, l2_mb=getattr(p, "L2_cache_size", 0) / 2**20, mem_gb=p.total_memory / 2**30,
               capability=torch.cuda.get_device_capability())
    from autokernel.judge import measure_ceilings
    c = measure_ceilings("cuda", refresh=True)
    out.update(copy_gbps=c["copy_gbps"], read_gbps=c["read_gbps"], bf16_tflops=c["matmul_tflops"].get("bfloat16"),
               matmul_tflops=c["matmul_tflops"])
print(json.dumps(out, indent=1))

if out["cuda"]:
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=2)
    cfg._attn_implementation = "sdpa"
    m = GPT2LMHeadModel(cfg).cuda().to(torch.bfloat16).eval()
    ids = torch.randint(0, cfg.vocab_size, (8, 1024), device="cuda")
    print("gelu module:", type(m.transformer.h[0].mlp.act).__name__)
    with torch.no_grad():
        for _ in range(2):
            m(input_ids=ids, labels=ids)
        torch.cuda.synchronize()
        from torch.profiler import ProfilerActivity, profile
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
            m(input_ids=ids, labels=ids)
            torch.cuda.synchronize()
        print("profiled forward wall s", time.perf_counter() - t0)
    evs = prof.events()
    print("n events", len(evs))
    shown = 0
    for ev in evs:
        kern = getattr(ev, "kernels", [])
        if kern and shown < 12:
            shown += 1
            print(ev.name, "| shapes", ev.input_shapes, "| concrete", getattr(ev, "concrete_inputs", None),
                  "| self_dev_us", getattr(ev, "self_device_time_total", None), "| dev_type", getattr(ev, "device_type", None),
                  "| parent", ev.cpu_parent.name if ev.cpu_parent else None,
                  "| kernels", [k.name[:60] for k in kern][:3])
    names = sorted({k.name[:50] for ev in evs for k in getattr(ev, "kernels", [])})
    print("kernel names:", names[:60])
    attrs = [a for a in dir(evs[0]) if not a.startswith("_")]
    print("FunctionEvent attrs:", attrs)
    ke = prof.profiler.kineto_results.events()
    print("kineto event attrs:", [a for a in dir(ke[0]) if not a.startswith("_")])
    for k in ke[:400]:
        if k.name() == "aten::addmm":
            print("kineto addmm shapes", k.shapes(), "dtypes", k.dtypes(), "strides", getattr(k, "strides", lambda: None)())
            break
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=25))
