"""Print what the GPU machine has: versions, the card, its measured copy bandwidth and bf16 matmul rate, and how
torch.profiler reports a HF GPT-2 forward there (event attributes, kernel names). Run: python3 benchmarks/env_probe.py"""
import json
import sys
import time

import torch

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
    x = torch.randn(2**28 // 2, device="cuda", dtype=torch.bfloat16)  # 256 MiB
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(20):
        y.copy_(x)
    e.record()
    torch.cuda.synchronize()
    out["copy_gbps"] = 2 * x.numel() * 2 * 20 / (s.elapsed_time(e) / 1e3) / 1e9
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    s.record()
    for _ in range(10):
        a @ b
    e.record()
    torch.cuda.synchronize()
    out["bf16_tflops"] = 2 * 8192**3 * 10 / (s.elapsed_time(e) / 1e3) / 1e12
    del x, y, a, b
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
