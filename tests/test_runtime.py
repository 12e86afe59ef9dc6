"""The runtime on the CPU (Triton interpreter): kernels register as triton ops that dynamo traces with no graph break, an idle
kernel says why it never ran, and graphed() refuses a machine without a GPU in one line."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from autokernel import ops
from autokernel.core import AutokernelError, save_json
from autokernel.runtime import Patcher, graphed, never_ran, patch, plug_check


def kernel_dir(root, name, kind, shapes, dtype="float32", **args) -> Path:
    d = Path(root) / name
    d.mkdir(parents=True)
    (d / "kernel.py").write_text(ops.baseline_path(kind, "triton").read_text())
    case = ops.make_case(kind, shapes, dtype, **args)
    save_json({"name": name, "kind": kind, "backend": "triton", "case": case, "test_cases": [], "dtypes": [dtype]},
              d / "spec.json", "autokernel.spec")
    return d


def patched_vs_float64(model, inputs, kernels, field="logits", inside=lambda: True):
    """`(patcher, err, err_plain)`: the relative error of `model` patched with `kernels`, and of the plain float32 model,
    against a float64 copy; `inside()` must hold while the patch is on."""
    with torch.no_grad():
        ref = getattr(model.double()(**inputs), field)
        model.float()
        want = getattr(model(**inputs), field)
        with patch(model, kernels) as p:
            assert inside()
            got = getattr(model(**inputs), field)
    err = lambda a: ((a.double() - ref).norm() / ref.norm()).item()
    return p, err(got), err(want)


def assert_as_accurate(err, err_plain):
    "The patched model is as accurate as the plain one (twice its error, or within float32's relative tolerance)."
    assert err <= max(2 * err_plain, ops.tolerance("float32")["rel"]), (err, err_plain)


class Attn(torch.nn.Module):
    "Softmax attention written by hand, then SDPA with a strided (all-zero) bias: the softmax is taken over, the SDPA call is declined."
    def forward(self, q):
        a = F.softmax(q @ q.transpose(-1, -2), dim=-1) @ q
        return F.scaled_dot_product_attention(a, a, a, attn_mask=torch.zeros(q.shape[-2], 2 * q.shape[-2])[:, ::2])


def test_triton_op_traced_without_graph_break(tmp_path):
    q = torch.randn(1, 2, 8, 16)
    p = Patcher([kernel_dir(tmp_path, "01_softmax", "softmax", [[1, 2, 8, 8]])])
    assert p.kernels[0]["op_type"] == "triton_op"
    model = Attn().eval()
    with torch.no_grad():
        want = model(q)
        torch._dynamo.reset()
        with patch(model, p, compiled=True):
            ex = torch._dynamo.explain(model)(q)
            got = torch.compile(model, backend="eager", fullgraph=True)(q)
        torch._dynamo.reset()
    assert ex.graph_break_count == 0
    assert any("autokernel.k_01_softmax" in str(n.target) for g in ex.graphs for n in g.graph.nodes)
    assert torch.allclose(got, want, atol=1e-5)


def test_never_ran_says_why(tmp_path):
    q = torch.randn(1, 2, 8, 16)
    ks = [kernel_dir(tmp_path, "01_softmax", "softmax", [[1, 2, 8, 16]]),            # another shape than the model's [1, 2, 8, 8]
          kernel_dir(tmp_path, "02_attention", "attention", [[1, 2, 8, 16]] * 3, causal=False)]
    p = Patcher(ks)
    p.diagnose = True
    with torch.no_grad(), patch(Attn().eval(), p):
        Attn()(q)
    why = {r["kernel"]: r for r in never_ran(p)}
    assert why["01_softmax"]["reason"] == "mismatch" and "shape [1, 2, 8, 8] vs [1, 2, 8, 16]" in why["01_softmax"]["detail"]
    assert why["02_attention"]["reason"] == "declined" and "attn_mask=Tensor[8, 8]:float32" in why["02_attention"]["detail"]
    assert [r["kernel"] for r in plug_check(Attn().eval(), (q,), ks)] == ["01_softmax", "02_attention"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the error is for machines without a GPU")
def test_graphed_needs_a_gpu():
    with pytest.raises(AutokernelError, match="needs a CUDA GPU"):
        graphed(lambda: None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gpu: inductor schedules the Triton kernel itself")
def test_inductor_sees_the_triton_kernel(tmp_path):
    "On a GPU the triton op decomposes into its launch: inductor's generated code calls the kernel, with and without CUDA graphs."
    from torch._inductor.utils import run_and_get_code
    from autokernel.runtime import compile_with
    q = torch.randn(4, 2, 64, 64, device="cuda")
    p = Patcher([kernel_dir(tmp_path, "01_softmax", "softmax", [[4, 2, 64, 64]])])
    assert p.kernels[0]["op_type"] == "triton_op", p.kernels[0].get("op_note")
    model = Attn().cuda().eval()
    with torch.no_grad():
        want = model(q)
        for mode in (None, "reduce-overhead"):
            torch._dynamo.reset()
            for cm, fm in ((torch.compile(model, mode=mode), True), (compile_with(model, p, mode), False)):
                with patch(model, p, compiled=True, function_mode=fm):
                    got, codes = run_and_get_code(cm, q)
                    for _ in range(2): again = cm(q).clone()
                assert "softmax_kernel" in "\n".join(codes)
                assert torch.allclose(got, want, atol=1e-3) and torch.allclose(again, want, atol=1e-3)
                torch._dynamo.reset()
        torch._dynamo.reset()


def _aot(graphs):
    "AOT autograd with no inductor (the CPU has no Triton backend): records the aten graphs it traced."
    from torch._dynamo.backends.common import aot_autograd
    return aot_autograd(fw_compiler=lambda g, ex: (graphs.append(g), g)[1])


def test_compile_with_puts_the_kernel_in_the_graph(tmp_path):
    "compile_with: the kernel's op is traced into the aten graph once; at run time no function mode is on the stack."
    from autokernel.runtime import compile_with
    import uuid
    from autokernel.runtime import _custom_op
    q = torch.randn(1, 2, 8, 16)
    p = Patcher([kernel_dir(tmp_path, "01_softmax", "softmax", [[1, 2, 8, 8]])])
    # the interpreter cannot run inside an ahead-of-time trace, so the CPU uses the kernel's opaque op (fake kernel
    # registered); on a GPU the triton op decomposes into its launch (test_inductor_sees_the_triton_kernel)
    name = f"autokernel::t_softmax_{uuid.uuid4().hex[:8]}"
    p.kernels[0]["op"] = _custom_op(name, p.kernels[0]["fn"], "softmax")
    model = Attn().eval()
    seen_modes = []
    orig_sdpa = model.forward
    with torch.no_grad():
        want = model(q)
        torch._dynamo.reset()
        graphs = []
        cm = compile_with(model, p, inner=_aot(graphs))
        with patch(model, p, compiled=True, function_mode=False):
            got = cm(q)
            seen_modes.append(torch._C._len_torch_function_stack())
            again = cm(q)
        torch._dynamo.reset()
    assert seen_modes == [0] and model.forward == orig_sdpa
    ops_seen = [str(n.target) for g in graphs for n in g.graph.nodes]
    assert any(name.replace("::", ".") in t for t in ops_seen), ops_seen
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(again, want, atol=1e-5)


def test_compile_with_no_kernel_is_the_plain_graph(tmp_path):
    "intercept-only under compile_with: every call falls back at trace time, so the graph is torch.compile's own."
    from autokernel.runtime import compile_with
    q = torch.randn(1, 2, 8, 16)
    empty = Patcher([], kinds={"softmax", "attention", "matmul"})
    model = Attn().eval()
    with torch.no_grad():
        torch._dynamo.reset()
        plain, routed = [], []
        want = torch.compile(model, backend=_aot(plain))(q)
        torch._dynamo.reset()
        with patch(model, empty, compiled=True, function_mode=False):
            got = compile_with(model, empty, inner=_aot(routed))(q)
        torch._dynamo.reset()
    key = lambda gs: sorted(str(n.target) for g in gs for n in g.graph.nodes if n.op == "call_function")
    assert key(routed) == key(plain) and torch.equal(got, want)


# --- plugging kernels into a tiny HF model ---------------------------------------------------------------------------

def tiny_llama(layers=2):
    "A tiny random HF LLaMA (GQA, SDPA attention) and its inputs."
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      vocab_size=96, attn_implementation="sdpa")
    return LlamaForCausalLM(cfg).eval(), {"input_ids": torch.randint(0, 96, (1, 7))}


def gated_mlp_dir(root, M=7, K=32, N=48):
    "A gated_mlp kernel verified on the tiny LLaMA's MLP: x [M, K], gate/up weights as Linear weights seen as [K, N] (transposed)."
    t = ops.transposed_meta
    return kernel_dir(root, "01_gated_mlp", "gated_mlp", [(M, K), t([K, N], "float32"), t([K, N], "float32")])


def test_plug_check_flags_kernels_that_cannot_plug_into_hf_llama(tmp_path):
    "The gated MLP and RMSNorm plug in; an attention extracted contiguous meets a transposed q; a fused LM head + loss has no plug."
    model, inputs = tiny_llama()
    ks = [gated_mlp_dir(tmp_path), kernel_dir(tmp_path, "02_rmsnorm", "rmsnorm", [(1, 7, 32), (32,)], eps=1e-6),
          kernel_dir(tmp_path, "03_attention", "attention", [[1, 4, 7, 8], [1, 2, 7, 8], [1, 2, 7, 8]], causal=True),
          kernel_dir(tmp_path, "04_linear_cross_entropy", "linear_cross_entropy",
                     [(7, 32), ops.transposed_meta([32, 96], "float32"), ops.tensor_meta([7], "int64")])]
    why = {r["kernel"]: r for r in plug_check(model, inputs, ks)}
    assert set(why) == {"03_attention", "04_linear_cross_entropy"}
    assert why["03_attention"]["reason"] == "mismatch" and "layout" in why["03_attention"]["detail"]
    assert why["04_linear_cross_entropy"]["reason"] == "no_plug" and "logits" in why["04_linear_cross_entropy"]["detail"]


def test_gated_mlp_plug_runs_inside_hf_llama(tmp_path):
    "The fused kind's plug takes over every LlamaMLP (calls counted) and the logits match a float64 copy of the model."
    model, inputs = tiny_llama()
    inputs = {"input_ids": torch.randint(0, 96, (1, 7), generator=torch.Generator().manual_seed(3))}
    p, e, e_plain = patched_vs_float64(model, inputs, [gated_mlp_dir(tmp_path)])
    assert dict(p.calls) == {"01_gated_mlp": 2} and not p.fallbacks
    assert [m["kind"] for m in p.modules] == ["gated_mlp", "gated_mlp"]
    assert_as_accurate(e, e_plain)
    assert "forward" not in model.model.layers[0].mlp.__dict__                   # the module's own forward is back


def test_add_rmsnorm_plug_runs_inside_hf_qwen2(tmp_path):
    """The residual adds of a tiny HF Qwen2 and the RMSNorms after them run as one fused kernel: after each attention (its
    layer's post_attention_layernorm) and after each MLP but the last (the next layer's input_layernorm); the norms left (the
    first input norm, the final norm) go to the plain rmsnorm kernel. Logits match a float64 copy; everything is put back."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, vocab_size=96, attn_implementation="sdpa")).eval()
    inputs = {"input_ids": torch.randint(0, 96, (1, 7))}
    eps = model.config.rms_norm_eps
    ks = [kernel_dir(tmp_path, "01_add_rmsnorm", "add_rmsnorm", [(1, 7, 32), (1, 7, 32), (32,)], eps=eps),
          kernel_dir(tmp_path, "02_rmsnorm", "rmsnorm", [(1, 7, 32), (32,)], eps=eps)]
    assert plug_check(model, inputs, ks) == []
    p, e, e_plain = patched_vs_float64(model, inputs, ks)
    assert dict(p.calls) == {"01_add_rmsnorm": 3, "02_rmsnorm": 2} and not p.fallbacks
    assert_as_accurate(e, e_plain)
    layer = model.model.layers[0]
    assert "__add__" not in torch.Tensor.__dict__ and type(layer.self_attn).__name__ == "Qwen2Attention" and "forward" not in layer.__dict__
    x = torch.randn(3, 4)
    assert torch.equal(x + x, 2 * x)                                                   # the plain add is back


def test_a_kernelbench_module_that_is_the_op_gets_its_kernel(tmp_path):
    "KernelBench's SiLU_Mul problem computes `F.silu(gate) * up` as its whole Model: the silu_mul kernel takes the module over."
    from autokernel.core import load_model, repo_root
    model, inputs = load_model(f"kernelbench:{repo_root() / 'tests/kernelbench/level2/3_SiLU_Mul.py'}", "cpu")
    d = kernel_dir(tmp_path, "01_silu_mul", "silu_mul", [list(inputs[0].shape), list(inputs[1].shape)])
    assert plug_check(model, inputs, [d]) == []
    gate, up = (torch.randn(x.shape, generator=torch.Generator().manual_seed(i)) for i, x in enumerate(inputs))
    with torch.no_grad(), patch(model, [d]) as p:
        got = model(gate, up)
    ref = torch.nn.functional.silu(gate.double()) * up.double()
    assert dict(p.calls) == {"01_silu_mul": 1} and [m["kind"] for m in p.modules] == ["silu_mul"]
    assert ((got.double() - ref).norm() / ref.norm()).item() <= ops.tolerance("float32")["rel"]


def test_gated_mlp_plug_takes_gemmas_geglu(tmp_path):
    "Gemma's MLP gates with a tanh GELU (GeGLU): the plug probes the activation and runs the kernel with activation='gelu_tanh'."
    from transformers import GemmaConfig, GemmaForCausalLM
    torch.manual_seed(4)
    model = GemmaForCausalLM(GemmaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4,
                                         num_key_value_heads=2, head_dim=8, vocab_size=96, attn_implementation="sdpa")).eval()
    inputs = {"input_ids": torch.randint(0, 96, (1, 7))}
    t = ops.transposed_meta
    d = kernel_dir(tmp_path, "01_gated_mlp", "gated_mlp", [(7, 32), t([32, 48], "float32"), t([32, 48], "float32")], activation="gelu_tanh")
    silu = kernel_dir(tmp_path, "02_gated_mlp", "gated_mlp", [(7, 32), t([32, 48], "float32"), t([32, 48], "float32")])
    why = {r["kernel"]: r for r in plug_check(model, inputs, [d, silu])}
    assert list(why) == ["02_gated_mlp"] and "activation='gelu_tanh' vs 'silu'" in why["02_gated_mlp"]["detail"]
    p, e, e_plain = patched_vs_float64(model, inputs, [d])
    assert dict(p.calls) == {"01_gated_mlp": 1}
    assert_as_accurate(e, e_plain)


def test_tensor_methods_are_taken_in_eager_mode_t5(tmp_path):
    """T5's layer norm computes `x.pow(2).mean(-1, keepdim=True)`, a tensor method: in eager mode the patch takes it (set on
    torch.Tensor over TensorBase's, deleted on exit), the reduce kernel runs at every norm and the output matches float64."""
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(5)
    model = T5EncoderModel(T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, vocab_size=128)).eval()
    inputs = {"input_ids": torch.randint(0, 128, (1, 8))}
    d = kernel_dir(tmp_path, "01_reduce", "reduce", [(1, 8, 32)], op="mean")
    assert plug_check(model, inputs, [d]) == []
    p, e, e_plain = patched_vs_float64(model, inputs, [d], "last_hidden_state", inside=lambda: "mean" in torch.Tensor.__dict__)
    assert "mean" not in torch.Tensor.__dict__ and torch.Tensor.mean is torch._C.TensorBase.mean
    assert dict(p.calls) == {"01_reduce": 5}                                      # 2 norms per layer, then the final one
    assert_as_accurate(e, e_plain)


def test_softmax_of_hf_eager_attention_is_taken(tmp_path):
    "HF eager attention calls softmax(..., dtype=torch.float32): on a float32 model that is a no-op dtype, and the kernel runs."
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(6)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, vocab_size=96, attn_implementation="eager")).eval()
    inputs = {"input_ids": torch.randint(0, 96, (1, 7))}
    d = kernel_dir(tmp_path, "01_softmax", "softmax", [(1, 4, 7, 7)])
    assert plug_check(model, inputs, [d]) == []
    p, e, e_plain = patched_vs_float64(model, inputs, [d])
    assert dict(p.calls) == {"01_softmax": 2}
    assert_as_accurate(e, e_plain)
