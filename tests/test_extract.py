"""Extraction end to end: tiny presets profiled on the CPU, the hand-made mapping fixture, any full preset profiles in
presets/*.profile.json, the extracted Triton kernels against their references, and the CLI's errors."""
import contextlib
import io
import json
import math
from pathlib import Path

import pytest
import torch

from autokernel.cli import main
from autokernel.core import AutokernelError, load_json, load_model, repo_root, save_json
from autokernel.extract import NotExtractable, candidates, extract, extract_cmd, fold
from autokernel import ops
from autokernel.ops import baseline_path, check_kernel, load_kernel_module
from autokernel.profile import profile

ROOT = repo_root()
FIX = ROOT / "tests" / "fixtures" / "mappings.profile.json"
PRESET_PROFILES = sorted((ROOT / "presets").glob("*.profile.json"))
map_attention = ops.KINDS["attention"].extract_ops["scaled_dot_product_attention"]   # kernels/attention/kind.py
bias_layout = ops.KINDS["attention"].module.bias_layout


def quiet_extract(*a, **kw):
    with contextlib.redirect_stdout(io.StringIO()):
        return extract(*a, **kw)


# --- does a spec's case come from the profile? -------------------------------------------------------------------

def _views(t):
    """The ways a recorded tensor may appear in a case: as is, W.T (linear), [B,S,H,D] -> [B,H,S,D], a [b,1,S,D] table
    squeezed, an attention bias in its canonical layout (bias_layout of kernels/attention/kind.py: its broadcast dims of size 1, row-major)."""
    sh, st = list(t["shape"]), list(t["stride"])
    yield sh, st
    if len(sh) <= 4:
        yield bias_layout(sh, st, [1] * (4 - len(sh)) + sh)
    if len(sh) >= 2:
        yield sh[:-2] + [sh[-1], sh[-2]], st[:-2] + [st[-1], st[-2]]
    if len(sh) == 4:
        yield [sh[0], sh[2], sh[1], sh[3]], [st[0], st[2], st[1], st[3]]
        if sh[1] == 1:
            yield [sh[0], sh[2], sh[3]], [st[0], st[2], st[3]]
    if len(sh) == 2 and sh[0] == 1:
        yield sh[1:], st[1:]


def assert_case_from_profile(spec, prof):
    "Every input of the spec's case is a tensor of the source records (shape and strides exact, up to the documented views)."
    recs = [r for r in prof["ops"] if r["op"] in spec["source"]["ops"] and r.get("scope") in spec["source"]["scopes"]]
    assert recs, spec["source"]
    tensors = [t for r in recs for t in r.get("inputs") or [] if isinstance(t, dict) and "shape" in t and t.get("stride")]
    for m in spec["case"]["inputs"]:
        if m is None:
            continue
        hits = [t for t in tensors if [m["shape"], m["stride"]] in [list(v) for v in _views(t)]]
        assert hits, (spec["name"], m)
        assert m["dtype"] in {t["dtype"] for t in hits}, (spec["name"], m)
    assert spec["source"]["calls"] <= sum(r["calls"] for r in recs)
    assert spec["case"] == spec["test_cases"][0]


def check_extraction(idx, prof, out):
    "The folders match the index; each spec comes from the profile; the index accounts for every op."
    assert sorted(p.name for p in Path(out).iterdir() if p.is_dir()) == [k["name"] for k in idx["kernels"]]
    for i, k in enumerate(idx["kernels"]):
        assert k["name"] == f"{i + 1:02d}_{k['kind']}"
        spec = load_json(Path(out) / k["name"] / "spec.json", "autokernel.spec")
        assert (spec["kind"], spec["source"]["ops"], spec["source"]["calls"]) == (k["kind"], k["ops"], k["calls"])
        assert_case_from_profile(spec, prof)
    times = [k["time_ms"] for k in idx["kernels"]]
    assert times == sorted(times, reverse=True)
    cov, wall = idx["coverage"], prof["wall_ms"]
    assert math.isclose(cov["extracted"] + cov["below_top_n"] + cov["not_extractable"],
                        sum(r["time_ms"] for r in prof["ops"]) / wall, rel_tol=1e-9)
    assert math.isclose(cov["best_speedup"], 1 / (1 - cov["extracted"]), rel_tol=1e-9)


# --- the tiny presets, profiled on the CPU ------------------------------------------------------------------------

EXPECTED = {  # kinds each tiny preset must yield as candidates
    "gpt2-tiny": {"matmul", "layernorm", "gelu", "attention", "cross_entropy"},
    "llama-tiny": {"matmul", "attention", "rotary", "silu_mul", "cross_entropy"},
    "bert-tiny": {"matmul", "layernorm", "gelu", "attention"},
}


@pytest.fixture(scope="module")
def tiny_profiles():
    out = {}
    for name in EXPECTED:
        model, inputs = load_model(name, "cpu")
        out[name] = json.loads(json.dumps(profile(model, inputs, warmup=0, iters=1, wall_reps=1, name=name)))
    return out


@pytest.mark.parametrize("name", list(EXPECTED))
def test_tiny_preset_extraction(name, tiny_profiles, tmp_path):
    prof = tiny_profiles[name]
    items, skipped = candidates(prof)
    assert EXPECTED[name] <= {it["kind"] for it in items}, [(it["kind"], it["ops"]) for it in items]
    idx = quiet_extract(prof, top_n=50, backend="triton", out=tmp_path)
    check_extraction(idx, prof, tmp_path)
    with_baseline = [it for it in items if baseline_path(it["kind"], "triton").exists()]
    assert [k["kind"] for k in idx["kernels"]] == [it["kind"] for it in with_baseline]
    # the profile's scalar arguments reach the spec
    for it in items:
        if it["kind"] == "layernorm":
            assert it["case"]["args"]["eps"] == (1e-12 if name == "bert-tiny" else 1e-5)
        if it["kind"] == "attention":
            assert it["case"]["args"]["causal"] == (name != "bert-tiny")
        if it["kind"] == "gelu":
            assert it["case"]["args"]["approximate"] == ("none" if name == "bert-tiny" else "tanh")
    if name == "llama-tiny":   # RMSNorm: its eps is no op argument; the profile's scope_args carry it
        assert prof["scope_args"]["LlamaRMSNorm"] == {"variance_epsilon": 1e-5}
        rms = [it for it in items if it["kind"] == "rmsnorm"]
        assert [it["case"]["args"] for it in rms] == [{"eps": 1e-5}], rms
        _, sk = candidates({**prof, "scope_args": {}})
        assert any("RMSNorm" in s["op"] and "eps" in s["reason"] for s in sk)
    # on a CPU the composite ops (linear, sdpa, ...) are wrappers: their inner op is the kernel, as on a GPU
    assert not any(op in ("aten::linear", "aten::matmul", "aten::scaled_dot_product_attention")
                   for it in items for op in it["ops"])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_tiny_extracted_triton_kernels_pass(name, tiny_profiles, tmp_path):
    idx = quiet_extract(tiny_profiles[name], top_n=50, backend="triton", out=tmp_path)
    assert idx["kernels"], "no Triton baseline matched any op"
    for k in idx["kernels"]:
        spec = load_json(tmp_path / k["name"] / "spec.json", "autokernel.spec")
        fn = load_kernel_module(tmp_path / k["name"] / "kernel.py").kernel_fn
        r = check_kernel(fn, spec["kind"], spec["test_cases"][-1], "float32")
        assert r["ok"], (k["name"], r)


# --- the hand-made fixture: one record per mapping ----------------------------------------------------------------

def test_fixture_mappings(tmp_path):
    prof = load_json(FIX, "autokernel.profile")
    items, skipped = candidates(prof)
    kinds = {}
    for it in items:
        kinds.setdefault(it["kind"], []).append(it)
    assert set(kinds) == {"matmul", "softmax", "layernorm", "rmsnorm", "gelu", "silu_mul", "attention", "cross_entropy",
                          "rotary", "reduce"}
    mm = {tuple(it["ops"]): it["case"] for it in kinds["matmul"]}
    assert mm[("aten::linear",)]["inputs"][1]["stride"] == [1, 64]            # W.T view of a [128, 64] weight
    assert mm[("aten::addmm",)]["inputs"][2]["shape"] == [256]
    assert mm[("aten::baddbmm", "aten::bmm")]["inputs"][0]["shape"] == [8, 32, 16]
    assert kinds["silu_mul"][0]["case"]["inputs"][1]["stride"] == [8192, 256, 1]   # `up` as recorded
    assert kinds["rmsnorm"][0]["calls"] == 5 and kinds["rmsnorm"][0]["case"]["args"] == {"eps": 1e-5}
    assert kinds["cross_entropy"][0]["case"]["inputs"][1]["dtype"] == "int64"
    masked = sorted((it["ops"][0], it["case"]["inputs"][3]["stride"]) for it in kinds["attention"] if len(it["case"]["inputs"]) == 4)
    assert masked == [("aten::_cudnn_attention_forward", [4096, 1024, 32, 1]),             # T5's relative position bias
                      ("aten::_scaled_dot_product_efficient_attention", [1024, 1024, 32, 1])]  # BERT's padding mask
    reasons = " | ".join(s["reason"] for s in skipped)
    for why in ("beta=1", "not the last", "'eps'", "no library kernel for embedding", "cos/sin"):
        assert why in reasons, why
    idx = quiet_extract(FIX, top_n=50, backend="cuda", out=tmp_path)
    check_extraction(idx, prof, tmp_path)
    for k in idx["kernels"]:
        assert load_json(tmp_path / k["name"] / "spec.json", "autokernel.spec")["backend"] == "cuda"
        assert (tmp_path / k["name"] / "kernel.py").read_text().endswith(baseline_path(k["kind"], "cuda").read_text())


def test_gpu_level_attention_records():
    "On a GPU the kernel is launched by _flash_attention_forward / _efficient_attention_forward, on [B,S,H,D] views."
    q = {"shape": [2, 64, 8, 32], "stride": [16384, 256, 32, 1], "dtype": "bfloat16"}   # [B,S,H,D] view of [B,H,S,D]
    kv = {"shape": [2, 64, 2, 32], "stride": [4096, 64, 32, 1], "dtype": "bfloat16"}
    flash = {"op": "aten::_flash_attention_forward", "inputs": [q, kv, kv, None, None, None, None],
             "args": {"dropout_p": 0.0, "is_causal": True, "return_debug_mask": False, "scale": 0.125}}
    kind, c = map_attention(flash)
    assert kind == "attention" and c["args"] == {"causal": True, "scale": 0.125}
    assert c["inputs"][0] == {"shape": [2, 8, 64, 32], "stride": [16384, 32, 256, 1], "dtype": "bfloat16"}
    eff = {"op": "aten::_efficient_attention_forward", "inputs": [q, kv, kv, None, None, None],
           "args": {"dropout_p": 0.0, "custom_mask_type": 0, "compute_log_sumexp": False, "scale": None}}
    assert map_attention(eff)[1]["args"] == {"causal": False, "scale": None}
    # Mistral's sliding window as flash attention takes it: keys i - left .. i
    win = dict(flash, args={**flash["args"], "window_size_left": 15, "window_size_right": 0})
    assert map_attention(win)[1]["args"] == {"causal": True, "scale": 0.125, "window": 16}
    for bad in ({"window_size_left": 15, "window_size_right": 15}, {"window_size_left": 15, "is_causal": False}):
        with pytest.raises(NotExtractable, match="window"):
            map_attention(dict(flash, args={**flash["args"], **bad}))


def test_cudnn_attention_records():
    "SDPA on an H100 may run cuDNN: _cudnn_attention_forward takes the [B,H,S,D] views, GQA k/v with their own heads."
    q = {"shape": [2, 8, 64, 32], "stride": [49152, 32, 768, 1], "dtype": "bfloat16"}
    kv = {"shape": [2, 2, 64, 32], "stride": [12288, 32, 192, 1], "dtype": "bfloat16"}
    rec = {"op": "aten::_cudnn_attention_forward", "inputs": [q, kv, kv, None, None, None],
           "args": {"max_q": 64, "max_k": 64, "compute_log_sumexp": False, "dropout_p": 0.0, "is_causal": True,
                    "return_debug_mask": False, "scale": 0.125}}
    kind, c = map_attention(rec)
    assert (kind, c["inputs"], c["args"]) == ("attention", [q, kv, kv], {"causal": True, "scale": 0.125})
    bias = {"shape": [2, 1, 64, 64], "stride": [4096, 4096, 64, 1], "dtype": "bfloat16"}           # a padding mask
    assert map_attention(dict(rec, inputs=[q, kv, kv, bias, None, None]))[1]["inputs"][3] == bias
    expanded = {**bias, "shape": [2, 8, 64, 64], "stride": [4096, 0, 64, 1]}                          # as SDPA expands it
    assert map_attention(dict(rec, inputs=[q, kv, kv, expanded, None, None]))[1]["inputs"][3] == bias
    for bad, why in ((dict(rec, inputs=[q, kv, kv, q | {"shape": [2, 8, 64, 63]}, None, None]), "bias"),
                     (dict(rec, inputs=[q, kv, kv, None, {"shape": [3], "stride": [1], "dtype": "int32"}, None]), "varlen"),
                     (dict(rec, args={**rec["args"], "dropout_p": 0.1}), "dropout"),
                     (dict(rec, args={k: v for k, v in rec["args"].items() if k != "is_causal"}), "is_causal")):
        with pytest.raises(NotExtractable, match=why):
            map_attention(bad)
    # the wrapper around it is dispatch time, not a second attention
    wrapper = {"op": "aten::_scaled_dot_product_cudnn_attention", "inputs": [q, kv, kv, None], "args": rec["args"],
               "scope": ["Attn"], "parents": [], "calls": 1, "time_ms": 0.01}
    items, skipped = candidates({"model": "m", "wall_ms": 1.0, "ops": [
        {**rec, "scope": ["Attn"], "parents": [wrapper["op"]], "calls": 1, "time_ms": 0.5}, wrapper]})
    assert [(it["kind"], it["ops"]) for it in items] == [("attention", ["aten::_cudnn_attention_forward"])]
    assert [s["op"] for s in skipped] == [wrapper["op"]] and "dispatch" in skipped[0]["reason"]


@pytest.mark.parametrize("name", ["gpt2", "llama", "bert"])
def test_h100_presets_cover_cudnn_attention_and_rmsnorm(name):
    "The shipped H100 profiles: cuDNN attention extracts (GQA k/v with 4 heads for LLaMA); LLaMA's RMSNorm gets its eps."
    path = ROOT / "presets" / f"{name}.profile.json"
    if not path.exists():
        pytest.skip(f"no {path.name}")
    prof = load_json(path, "autokernel.profile")
    items, skipped = candidates(prof)
    recs = [r for r in prof["ops"] if r["op"] == "aten::_cudnn_attention_forward"]
    att = [it for it in items if it["kind"] == "attention"]
    assert not any(s["op"] == "aten::_cudnn_attention_forward" for s in skipped)
    assert sum(it["calls"] for it in att) == sum(r["calls"] for r in recs)
    for it in att:
        assert it["case"]["inputs"] in [r["inputs"][:3] for r in recs]
        assert it["case"]["args"]["causal"] == (name != "bert")
    if name == "llama":
        assert [m["shape"][1] for m in att[0]["case"]["inputs"]] == [12, 4, 4]
        rms = [it for it in items if it["kind"] == "rmsnorm"]
        assert [it["case"]["args"] for it in rms] == [{"eps": prof["scope_args"]["LlamaRMSNorm"]["variance_epsilon"]}]
        assert not any("RMSNorm" in s["op"] for s in skipped)


def test_cpu_helpers_fold_into_their_op():
    "A CPU profile's helper ops (the bias copy inside addmm) count as the op's time; composite wrappers are set apart."
    t = {"shape": [4, 8], "stride": [8, 1], "dtype": "float32"}
    ops = [{"op": "aten::addmm", "inputs": [{"shape": [8], "stride": [1], "dtype": "float32"}, t, t | {"shape": [8, 8]}],
            "args": {"beta": 1, "alpha": 1}, "scope": ["Linear"], "parents": ["aten::linear"], "calls": 1, "time_ms": 1.0},
           {"op": "aten::copy_", "inputs": [t, t], "args": {}, "scope": ["Linear"], "parents": ["aten::linear", "aten::addmm"],
            "calls": 1, "time_ms": 0.25},
           {"op": "aten::linear", "inputs": [t, t, None], "args": {}, "scope": ["Linear"], "parents": [], "calls": 1, "time_ms": 0.1}]
    recs, wrappers = fold(ops)
    assert [(r["op"], r["time_ms"]) for r in recs] == [("aten::addmm", 1.25)]
    assert [w["op"] for w in wrappers] == ["aten::linear"]
    items, skipped = candidates({"model": "m", "wall_ms": 2.0, "ops": ops})
    assert [(it["kind"], it["time_ms"]) for it in items] == [("matmul", 1.25)]
    assert [s["op"] for s in skipped] == ["aten::linear"] and "dispatch" in skipped[0]["reason"]


# --- full preset profiles (the lead adds presets/*.profile.json from the H100) --------------------------------------

@pytest.mark.parametrize("path", PRESET_PROFILES or [None], ids=[p.name for p in PRESET_PROFILES] or ["none-yet"])
def test_preset_profiles_extract(path, tmp_path):
    if path is None:
        pytest.skip("no presets/*.profile.json yet")
    prof = load_json(path, "autokernel.profile")
    for backend in ("triton", "cuda"):
        idx = quiet_extract(path, top_n=8, backend=backend, out=tmp_path / backend)
        check_extraction(idx, prof, tmp_path / backend)
        assert len(idx["kernels"]) <= 8


# --- the CLI ------------------------------------------------------------------------------------------------------

def run_cli(*argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["extract", *argv])
    return rc, out.getvalue(), err.getvalue().strip()


def test_cli(tmp_path):
    rc, out, err = run_cli("--profile", str(FIX), "--top", "2", "--out", str(tmp_path / "k"))
    assert rc == 0 and "extracted 2 kernels" in out and "not extractable" in out and "Amdahl" in out, (out, err)
    assert len(load_json(tmp_path / "k" / "extract.json", "autokernel.extract")["kernels"]) == 2
    save_json({"x": 1}, tmp_path / "bench.json", "autokernel.bench")
    (tmp_path / "torn.json").write_text('{"format": "autokernel.profile", "ops": [')
    for argv, msg in [(["--profile", str(FIX), "--backend", "rocm"], "unknown backend 'rocm'"),
                      (["--profile", str(FIX), "--top", "0"], "--top must be at least 1"),
                      (["--profile", str(tmp_path / "none.json")], "no such file"),
                      (["--profile", str(tmp_path / "bench.json")], "not an autokernel.profile file"),
                      (["--profile", str(tmp_path / "torn.json")], "not valid JSON"),
                      ([], "--profile is required")]:
        rc, out, err = run_cli(*argv, "--out", str(tmp_path / "e"))
        assert rc == 2 and msg in err and len(err.splitlines()) == 1, (argv, err)


def test_default_folder(tmp_path, monkeypatch):
    "Defaults from settings: top_n, backend, and the folder kernels/<model>/ (the library's kernels/<kind>/ stay where they are)."
    import autokernel.extract as ex
    monkeypatch.setattr(ex, "kernels_dir", lambda: tmp_path)
    monkeypatch.setenv("AUTOKERNEL_TOP_N", "3")
    with contextlib.redirect_stdout(io.StringIO()):
        assert extract_cmd(["--profile", str(FIX)]) == 0
    idx = load_json(tmp_path / "mappings" / "extract.json", "autokernel.extract")
    assert idx["top_n"] == 3 and idx["backend"] == "triton" and len(idx["kernels"]) == 3


def test_edited_kernel_is_not_overwritten(tmp_path):
    quiet_extract(FIX, top_n=1, out=tmp_path)
    kp = next(tmp_path.glob("01_*/kernel.py"))
    kp.write_text(kp.read_text() + "# tuned by hand\n")
    with pytest.raises(AutokernelError, match="edited since it was extracted"):
        quiet_extract(FIX, top_n=1, out=tmp_path)
    quiet_extract(FIX, top_n=1, out=tmp_path, force=True)
    assert "tuned by hand" not in kp.read_text()


# --- fused kinds (kernels/<kind>/kind.py with a `find`) -----------------------------------------------------------

FUSED_EXPECTED = {"llama-tiny": {"add_rmsnorm", "gated_mlp"}, "gpt2-tiny": set()}
UNPLUGGABLE = {"linear_cross_entropy", "qkv_rotary"}   # found and tagged in profiles, never extracted: no plug


@pytest.mark.parametrize("name", list(FUSED_EXPECTED))
def test_fused_extraction(name, tiny_profiles, tmp_path):
    """With fuse, the pluggable fused kinds claim their ops (no op in two items), the unpluggable ones claim nothing, the
    rest extracts as before, and the kernels pass."""
    prof = tiny_profiles[name]
    plain, _ = candidates(prof)
    items, skipped = candidates(prof, fuse=True)
    assert FUSED_EXPECTED[name] <= {it["kind"] for it in items} and not UNPLUGGABLE & {it["kind"] for it in items}
    assert not FUSED_EXPECTED[name] & {it["kind"] for it in plain}, "fusion is opt-in"
    total = sum(r["time_ms"] for r in prof["ops"])
    assert math.isclose(sum(it["time_ms"] for it in items) + sum(s["time_ms"] for s in skipped), total, rel_tol=1e-9)
    assert math.isclose(sum(it["time_ms"] for it in plain) + sum(s["time_ms"] for s in candidates(prof)[1]), total, rel_tol=1e-9)
    fused = {o["op"] for o in prof["ops"] if set(o.get("fusions") or ()) & (FUSED_EXPECTED[name] | UNPLUGGABLE)}
    assert {"aten::nll_loss_forward", *(["aten::add", "aten::silu"] if name == "llama-tiny" else [])} <= fused, \
        "the profile tags the ops of each fused instance"
    idx = quiet_extract(prof, top_n=50, backend="triton", out=tmp_path, fuse=True)
    assert idx["fuse"] and FUSED_EXPECTED[name] <= {k["kind"] for k in idx["kernels"]}
    for k in idx["kernels"]:
        if k["kind"] not in FUSED_EXPECTED[name]: continue
        spec = load_json(tmp_path / k["name"] / "spec.json", "autokernel.spec")
        fn = load_kernel_module(tmp_path / k["name"] / "kernel.py").kernel_fn
        for dtype in ("float32", "bfloat16"):
            r = check_kernel(fn, spec["kind"], spec["test_cases"][-1], dtype)
            assert r["ok"], (k["name"], dtype, r)


def test_fused_kinds_on_the_h100_llama_profile():
    "On the full LLaMA preset (GPU records), 24 residual adds + RMSNorms fuse; the final norm stays a plain rmsnorm."
    prof = load_json(ROOT / "presets" / "llama.profile.json", "autokernel.profile")
    items, _ = candidates(prof, fuse=True)
    by = {it["kind"]: it for it in items}
    assert by["add_rmsnorm"]["calls"] == 24 and by["add_rmsnorm"]["case"]["args"] == {"eps": 1e-5}
    assert by["add_rmsnorm"]["case"]["inputs"][0]["shape"] == [8, 1024, 768]
    assert [it["calls"] for it in items if it["kind"] == "rmsnorm"] == [1]
    g = by["gated_mlp"]   # gate + up of 12 MLPs (one record of 24 mm calls), the SiLU and the product
    assert (g["calls"], g["case"]["args"], g["case"]["inputs"][1]["shape"]) == (12, {"activation": "silu"}, [768, 2048])
    assert g["case"]["inputs"][1]["stride"] == [1, 768], "the weights stay transposed views"
    mm_n = {it["case"]["inputs"][1]["shape"][-1] for it in items if it["kind"] == "matmul"}
    assert mm_n == {768, 256, 32000}, "down_proj, q/o_proj, k/v_proj and the LM head stay matmuls"
    assert "silu_mul" not in by and not UNPLUGGABLE & set(by), "no plug: the LM head + loss and q/k/v + RoPE stay apart"
    assert by["cross_entropy"]["case"]["inputs"][0]["shape"] == [8192, 32000] and by["rotary"]["calls"] == 12
    qo_proj = [it for it in items if it["kind"] == "matmul" and it["case"]["inputs"][1]["shape"] == [768, 768]]
    assert [it["calls"] for it in qo_proj] == [24], "q_proj and o_proj: one record, unclaimed"
    plain, plain_skipped = candidates(prof)
    assert math.isclose(sum(it["time_ms"] for it in items) + sum(s["time_ms"] for s in _),
                        sum(it["time_ms"] for it in plain) + sum(s["time_ms"] for s in plain_skipped), rel_tol=1e-9)


def test_fused_lm_head_on_the_h100_gpt2_profile():
    """GPT-2's LM head and loss (vocab 50,257) are nearly half its forward; the profile tags them as one
    linear_cross_entropy, but that kind has no plug, so with fuse the LM head stays a matmul the model can run."""
    prof = load_json(ROOT / "presets" / "gpt2.profile.json", "autokernel.profile")
    from autokernel.ops import KINDS
    [(case, recs)] = KINDS["linear_cross_entropy"].find(prof["ops"])
    assert case is not None and sum(r["time_ms"] for r in recs) / sum(o["time_ms"] for o in prof["ops"]) > 0.4
    items, _ = candidates(prof, fuse=True)
    head = [it for it in items if it["kind"] == "matmul" and it["case"]["inputs"][1]["shape"] == [768, 50257]]
    assert len(head) == 1 and head[0]["fraction"] > 0.3 and "linear_cross_entropy" not in {it["kind"] for it in items}


def test_an_rmsnorm_module_extracts_from_its_fused_call_as_on_a_gpu():
    """On a GPU `nn.RMSNorm` records `aten::rms_norm` over one fused `_fused_rms_norm` kernel (no pow/mean/mul children):
    the case comes from that call's x, weight and eps, the same case the CPU's decomposed ops give."""
    m = torch.nn.Sequential(torch.nn.RMSNorm(96, eps=1e-5))
    prof = profile(m, (torch.randn(6, 96),), name="rms", device="cpu", iters=1, warmup=1)
    rec = next(r for r in prof["ops"] if r["op"] == "aten::rms_norm")
    gpu_like = dict(prof, ops=[{**rec, "op": "aten::_fused_rms_norm", "parents": ["aten::rms_norm"]}, {**rec, "time_ms": 0.001}])
    want = {"inputs": [{"shape": [6, 96], "stride": [96, 1], "dtype": "float32"}, {"shape": [96], "stride": [1], "dtype": "float32"}],
            "args": {"eps": 1e-5}}
    for p in (prof, gpu_like):
        items, skipped = candidates(p)
        assert [(it["kind"], it["case"]) for it in items] == [("rmsnorm", want)], skipped
