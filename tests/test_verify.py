"""verify on a tiny HF model that is not a preset (Mistral, random weights from its config), in the Triton interpreter:
module-level (RMSNorm, gated MLP) and op-level (cross-entropy) kernels swapped in, outputs match, the kernels really ran,
unverified shapes fall back to PyTorch, and a wrong kernel is caught."""
from pathlib import Path

import pytest
import torch

from autokernel import ops
from autokernel.core import load_json, save_json
from autokernel.runtime import patch
from autokernel.verify import verify

# Stand-ins, used only while the op library has no Triton kernel for a kind (kernels/<kind>/triton.py).
HEAD = "import torch, triton, triton.language as tl\n"
STANDIN = {
    "rmsnorm": HEAD + '''META = {"kind": "rmsnorm", "backend": "triton"}
@triton.jit
def _k(x, w, y, N, eps, BLOCK: tl.constexpr):
    r = tl.program_id(0); c = tl.arange(0, BLOCK); m = c < N
    v = tl.load(x + r * N + c, mask=m, other=0.).to(tl.float32)
    v = v / tl.sqrt(tl.sum(v * v, 0) / N + eps)
    tl.store(y + r * N + c, tl.load(w + c, mask=m) * v.to(y.dtype.element_ty), mask=m)
def kernel_fn(x, weight, *, eps):
    x2 = x.contiguous().view(-1, x.shape[-1]); y = torch.empty_like(x2)
    _k[(x2.shape[0],)](x2, weight, y, x2.shape[1], eps, BLOCK=triton.next_power_of_2(x2.shape[1]))
    return y.view(x.shape)
''',
    "silu_mul": HEAD + '''META = {"kind": "silu_mul", "backend": "triton"}
@triton.jit
def _k(g, u, y, n, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK); m = o < n
    a = tl.load(g + o, mask=m).to(tl.float32); b = tl.load(u + o, mask=m).to(tl.float32)
    tl.store(y + o, (a / (1 + tl.exp(-a)) * b).to(y.dtype.element_ty), mask=m)
def kernel_fn(gate, up):
    g, u = gate.contiguous(), up.contiguous(); y = torch.empty_like(g)
    _k[(triton.cdiv(g.numel(), 256),)](g, u, y, g.numel(), BLOCK=256)
    return y
''',
    "cross_entropy": HEAD + '''META = {"kind": "cross_entropy", "backend": "triton"}
@triton.jit
def _k(x, t, y, V, BLOCK: tl.constexpr):
    r = tl.program_id(0); c = tl.arange(0, BLOCK); m = c < V
    v = tl.load(x + r * V + c, mask=m, other=-float('inf')).to(tl.float32)
    mx = tl.max(v, 0); lse = mx + tl.log(tl.sum(tl.exp(v - mx), 0))
    tgt = tl.load(t + r)
    tl.store(y + r, lse - tl.sum(tl.where(c == tgt, v, 0.), 0))
def kernel_fn(logits, target):
    x = logits.contiguous(); y = torch.empty(x.shape[0], device=x.device, dtype=torch.float32)
    _k[(x.shape[0],)](x, target, y, x.shape[1], BLOCK=triton.next_power_of_2(x.shape[1]))
    return y
'''}


def kernel_dir(root, name, kind, shapes, dtype="float32", source=None, **args) -> Path:
    d = Path(root) / name
    d.mkdir(parents=True)
    lib = ops.baseline_path(kind, "triton")
    (d / "kernel.py").write_text(source or (lib.read_text() if lib.exists() else STANDIN[kind]))
    case = ops.make_case(kind, shapes, dtype, **args)
    save_json({"name": name, "kind": kind, "backend": "triton", "case": case, "test_cases": ops.KINDS[kind].test_cases(case),
               "dtypes": [dtype], "source": {"fraction": 0.1, "calls": 1}}, d / "spec.json", "autokernel.spec")
    return d


def meta(shape, stride, dtype="float32") -> dict: return {"shape": shape, "stride": stride, "dtype": dtype}


@pytest.fixture(scope="module")
def mistral():
    from transformers import MistralConfig, MistralForCausalLM
    torch.manual_seed(0)
    cfg = MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        vocab_size=128, max_position_embeddings=64, attn_implementation="sdpa")
    model = MistralForCausalLM(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 8))
    return model, {"input_ids": ids, "labels": ids.clone()}, cfg


def test_verify_mistral(mistral, tmp_path):
    model, inputs, cfg = mistral
    ks = [kernel_dir(tmp_path, "01_rmsnorm", "rmsnorm", [[2, 8, 32], [32]], eps=cfg.rms_norm_eps),
          kernel_dir(tmp_path, "02_silu_mul", "silu_mul", [[2, 8, 64], [2, 8, 64]]),
          kernel_dir(tmp_path, "03_cross_entropy", "cross_entropy", [[16, 128], [16]]),
          # rotary as the model calls it: q/k are [B,S,H,D] views transposed to [B,H,S,D]; the cos/sin tables have batch 1
          kernel_dir(tmp_path, "04_rotary", "rotary", [meta([2, 4, 8, 8], [256, 8, 32, 1]), [1, 8, 8], [1, 8, 8]]),
          kernel_dir(tmp_path, "05_rotary", "rotary", [meta([2, 2, 8, 8], [128, 8, 16, 1]), [1, 8, 8], [1, 8, 8]])]
    res = verify(ks, model, inputs, reps=2, out=tmp_path / "verify.json", select=False, log=lambda *a: None)
    assert res["ok"], res["outputs"]
    calls = {k["name"]: k["calls_per_forward"] for k in res["kernels"]}
    assert calls == {"01_rmsnorm": 2 * 2 + 1, "02_silu_mul": 2, "03_cross_entropy": 1, "04_rotary": 2, "05_rotary": 2}
    assert {m["class"] for m in res["modules"]} == {"MistralRMSNorm", "MistralMLP", "function"}
    names = [t["name"] for t in res["outputs"]["tensors"]]
    assert "out.loss" in names and "out.logits" in names and res["outputs"]["reference"] == "float64"
    assert load_json(tmp_path / "verify.json", "autokernel.verify")["ok"]
    assert "forward" not in model.model.norm.__dict__ and "forward" not in model.model.layers[0].mlp.__dict__
    import transformers.models.mistral.modeling_mistral as mm
    assert mm.apply_rotary_pos_emb.__module__ == mm.__name__              # the model's own function is back


def test_fallback_for_unverified_shapes(mistral, tmp_path):
    model, inputs, cfg = mistral
    ks = [kernel_dir(tmp_path, "01_rmsnorm", "rmsnorm", [[4, 16, 32], [32]], eps=cfg.rms_norm_eps)]   # not the model's shape
    with torch.no_grad():
        want = model(**inputs).logits
        with patch(model, ks) as p:
            got = model(**inputs).logits
    assert torch.allclose(got, want, atol=1e-6)
    assert sum(p.calls.values()) == 0 and sum(p.fallbacks.values()) == 5


def test_wrong_kernel_is_caught(mistral, tmp_path):
    model, inputs, _ = mistral
    src = STANDIN["silu_mul"].replace("return y\n", "return y * 1.02\n")
    ks = [kernel_dir(tmp_path, "01_silu_mul", "silu_mul", [[2, 8, 64], [2, 8, 64]], source=src)]
    res = verify(ks, model, inputs, reps=1, select=False, log=lambda *a: None)
    assert not res["ok"] and res["kernels"][0]["calls_per_forward"] == 2


def test_bias_gelu_pattern_bert(tmp_path):
    "A BERT encoder from its own small config: the intermediate (Linear + GELU) becomes matmul + bias_gelu, LayerNorm goes op-level."
    from transformers import BertConfig, BertModel
    torch.manual_seed(1)
    cfg = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48, vocab_size=100,
                     max_position_embeddings=32, attn_implementation="sdpa")
    model = BertModel(cfg).eval()
    ids = torch.randint(0, 100, (2, 6))
    ks = [kernel_dir(tmp_path, "01_bias_gelu", "bias_gelu", [[2, 6, 48], [48]], approximate="none"),
          kernel_dir(tmp_path, "02_layernorm", "layernorm", [[2, 6, 32], [32], [32]], eps=cfg.layer_norm_eps)]
    res = verify(ks, model, {"input_ids": ids}, reps=1, select=False, log=lambda *a: None)
    assert res["ok"], res["outputs"]
    calls = {k["name"]: k["calls_per_forward"] for k in res["kernels"]}
    assert calls == {"01_bias_gelu": 1, "02_layernorm": 3}          # embeddings + 2 per layer
    assert [m["class"] for m in res["modules"]] == ["BertIntermediate"]


def test_select_and_deploy_gpt2_tiny(tmp_path):
    "The gpt2-tiny preset, profiled and extracted (top 2), each baseline passed as best/: every extracted kernel runs in the model,"
    " verify chooses the set by timing the model itself, and optimized() deploys exactly that choice."
    from autokernel import optimized
    from autokernel.core import load_model
    from autokernel.optimize import setup_run
    from autokernel.profile import profile
    from autokernel.rundir import append_result, candidate_dir, write_best
    torch.manual_seed(0)
    model, inputs = load_model("gpt2-tiny", "cpu", torch.float32)
    inputs = {k: v[:1, :8] for k, v in inputs.items()}              # one short sequence: the interpreter runs every program in Python
    run = tmp_path / "run"
    setup_run(run, profile(model, inputs, warmup=0, iters=1, name="gpt2-tiny", device="cpu"), top_n=2, backend="triton")
    for kd in sorted(p for p in (run / "kernels").iterdir() if (p / "spec.json").exists()):   # each baseline, passed, as the first row
        cd = candidate_dir(run, kd.name, "0000")
        cd.mkdir(parents=True)
        (cd / "kernel.py").write_text((kd / "kernel.py").read_text())
        save_json({"verdict": "pass", "comparable": False, "device": "cpu", "timing": {"speedup_eager": 1.2}}, cd / "bench.json", "autokernel.bench")
        append_result(run, {"kernel": kd.name, "candidate": "0000", "decision": "baseline", "kept": False, "verdict": "pass", "ok": True})
        write_best(run, kd.name, "0000")
    res = verify(run, model, inputs, reps=1, log=lambda *a: None)
    assert res["ok"] and res["never_ran"] == [] and all(k["calls_per_forward"] > 0 for k in res["kernels"]), res["never_ran"]
    steps = res["selection"]["modes"]["eager"]["steps"]
    assert sorted(s["kernel"] for s in steps if s["step"] == "add") == sorted(k["name"] for k in res["kernels"])
    assert all(s["current_ms"] > 0 and s["candidate_ms"] > 0 and s["why"] for s in steps)
    d = load_json(run / "verify.json", "autokernel.verify")["selection"]["delivered"]
    assert d["mode"] == "eager" and set(d["kernels"]) <= {k["name"] for k in res["kernels"]}
    fast = optimized(model, run)
    assert (fast.mode, fast.kernels) == (d["mode"], d["kernels"])
    with torch.no_grad():
        assert torch.allclose(fast(**inputs).logits, model(**inputs).logits, atol=1e-4)


def test_e2e_vs_compile_smoke(tmp_path):
    "benchmarks/e2e_vs_compile.py on the CPU: a tiny ViT (not a preset) optimized, verified, its delivered configuration timed"
    " beside eager in its own process, outputs checked; the results file has the issue's fields (not GPU numbers)."
    import subprocess
    import sys
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "e2e.json"
    p = subprocess.run([sys.executable, str(root / "benchmarks" / "e2e_vs_compile.py"), "--device", "cpu", "--tiny", "--models", "vit",
                        "--top", "1", "--max-experiments", "1", "--budget", "5s", "--reps", "1", "--runs-dir", str(tmp_path / "runs"),
                        "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = load_json(out)
    (m,) = res["models"]
    assert res["card"] and m["model"] == "vit" and m["preset"] is False and m["outputs_match"] is True
    assert set(m) >= {"best_compile_mode", "best_compile_ms", "delivered_mode", "delivered_ms", "ratio"} and m["delivered_ms"] > 0
    assert m["delivered_mode"] == load_json(tmp_path / "runs" / "vit-tiny" / "verify.json")["selection"]["delivered"]["config"]


def test_optimized_compile_mode_runs_a_model_without_len():
    "Optimized in a compile mode calls the compiled module (GPT-2, like nn.Linear, has no len(): truth tests must not be used)."
    from autokernel.verify import Optimized
    torch.manual_seed(0)
    m = torch.nn.Linear(8, 8).eval()
    x = torch.randn(3, 8)
    o = Optimized(m, [], "compile")
    with pytest.raises(TypeError): bool(o._compiled)              # what the old `self._compiled or self.model` did
    with torch.no_grad(): torch.testing.assert_close(o(x).double(), m.double()(x.double()), rtol=1e-5, atol=1e-5)
