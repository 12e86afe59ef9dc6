"""`autokernel export`: a run's winners as a Hugging Face `kernels` package that loads with `kernels` and matches PyTorch."""
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import torch

from autokernel.cli import main
from autokernel.core import nvcc_compile_check, repo_root
from autokernel.export import export
from autokernel.rundir import resolve_kernels

kernels = pytest.importorskip("kernels")   # pinned in requirements.txt; the skip only spares a venv made before the pin

RUN = repo_root() / "runs" / "examples" / "gpt2-h100"
PROBLEMS = Path(__file__).resolve().parent / "kernelbench"


@pytest.fixture(scope="module")
def gpu_run_package(tmp_path_factory):
    return export(RUN, tmp_path_factory.mktemp("export") / "pkg")


def test_the_layout_is_what_kernels_resolves_from_a_local_folder(gpu_run_package):
    uni = gpu_run_package / "build" / "torch-universal"
    meta = json.loads((uni / "metadata.json").read_text())
    assert meta["name"] == "autokernel-gpt2-h100" and (uni / "autokernel_gpt2_h100" / "__init__.py").exists()
    parsed = kernels.Metadata.read_from_file(uni / "metadata.json")      # the library's own parser accepts it
    assert parsed.id == meta["id"] and parsed.name.python_name == "autokernel_gpt2_h100"
    src = "\n".join(p.read_text() for p in (uni / "autokernel_gpt2_h100").glob("*.py"))
    assert not re.search(r"^\s*(from|import)\s+autokernel\b", src, re.M)   # the package stands alone


def test_exported_kernels_are_the_ones_verify_plugs_in_with_their_bench_figures(gpu_run_package):
    used, skipped = resolve_kernels(RUN)
    pkg = kernels.get_local_kernel(gpu_run_package)
    facts = {f["kernel"]: f for f in pkg.KERNELS.values()}
    assert set(facts) == {k["name"] for k in used} and not set(facts) & {s["name"] for s in skipped}
    readme = (gpu_run_package / "README.md").read_text()
    card = json.loads((RUN / "verify.json").read_text())["device"]
    for k in used:
        f = facts[k["name"]]
        assert (f["speedup_eager"], f["speedup_compile"], f["card"]) == (k["speedup_eager"], k["speedup_compile"], card)
        assert f"| `{f['function']}` | {k['kind']} | triton | pass |" in readme and f"{k['speedup_eager']:.2f}x" in readme


def test_a_kernel_loaded_with_kernels_matches_pytorch_in_float64(gpu_run_package):
    pkg = kernels.get_local_kernel(gpu_run_package)
    g = torch.Generator().manual_seed(torch.seed() % 2**31)            # fresh inputs each run
    x = torch.randn(3, 5, 64, generator=g) * 3
    w, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    eps = pkg.KERNELS["layernorm"]["args"]["eps"]
    y = pkg.layernorm(x, w, b, eps=eps)
    ref = torch.nn.functional.layer_norm(x.double(), (64,), w.double(), b.double(), eps)
    torch.testing.assert_close(y.double(), ref, rtol=1e-4, atol=1e-5)
    a = pkg.KERNELS["gelu"]["args"]["approximate"]
    torch.testing.assert_close(pkg.gelu(x, approximate=a).double(), torch.nn.functional.gelu(x.double(), approximate=a),
                               rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def cuda_package(tmp_path_factory):
    from autokernel.extract import extract
    from autokernel.kernelbench import build_problem
    from autokernel.profile import profile
    d = tmp_path_factory.mktemp("cuda")
    m, x, _ = build_problem(PROBLEMS / "level1" / "3_Softmax.py")
    extract(profile(m, x, name="softmax", device="cpu", iters=1, warmup=1), backend="cuda", out=d / "k", verbose=False)
    return export([d / "k" / "01_softmax"], d / "pkg", name="autokernel-softmax-cuda")


def test_a_cuda_kernel_gets_a_kernel_builder_project_whose_source_compiles(cuda_package):
    build = tomllib.loads((cuda_package / "build.toml").read_text())
    assert build["general"]["name"] == "autokernel-softmax-cuda" and build["general"]["backends"] == ["cuda"]
    k = build["kernel"]["softmax"]
    assert k["backend"] == "cuda" and all((cuda_package / s).exists() for s in k["src"] + build["torch"]["src"])
    binding = (cuda_package / "torch-ext" / "torch_binding.cpp").read_text()
    assert 'ops.def("softmax_fwd(Tensor x, int threads, int rows_per_block, int vec) -> Tensor")' in binding
    if not shutil.which("nvcc") and not Path("/usr/local/cuda/bin/nvcc").exists(): pytest.skip("no nvcc")
    ok, log = nvcc_compile_check((cuda_package / k["src"][0]).read_text())
    assert ok, log


def test_a_cuda_package_loads_on_the_cpu_and_says_it_was_not_benched(cuda_package):
    pkg = kernels.get_local_kernel(cuda_package)
    assert pkg.KERNELS["softmax"]["backend"] == "cuda" and pkg.KERNELS["softmax"]["verdict"] is None
    assert "from ._jit import load_cuda" in (cuda_package / "build" / "torch-universal" / "autokernel_softmax_cuda" / "k01_softmax.py").read_text()
    assert "| `softmax` | softmax | cuda | not benched |" in (cuda_package / "README.md").read_text()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_the_cuda_package_compiles_on_first_use_and_matches(cuda_package):
    pkg = kernels.get_local_kernel(cuda_package)
    x = torch.randn(8, 96, device="cuda")
    torch.testing.assert_close(pkg.softmax(x).double(), torch.softmax(x.double(), -1), rtol=1e-4, atol=1e-6)


def test_cli_export_and_its_errors(tmp_path, capsys):
    assert main(["export", "--run", str(RUN), "--out", str(tmp_path / "p")]) == 0
    assert "get_local_kernel" in capsys.readouterr().out
    assert main(["export", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "q")]) == 2
    (tmp_path / "busy").mkdir(); (tmp_path / "busy" / "mine.txt").write_text("keep")
    assert main(["export", "--run", str(RUN), "--out", str(tmp_path / "busy")]) == 2
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep"
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no run folder" in err[0] and "not an earlier export" in err[1]


def test_cli_export_check_loads_the_package_and_fails_on_a_wrong_kernel(tmp_path):
    import subprocess
    import sys
    cli = [sys.executable, "-c", "import sys; from autokernel.cli import main; sys.exit(main(sys.argv[1:]))"]
    run = shutil.copytree(RUN, tmp_path / "run", ignore=shutil.ignore_patterns("report.*"))
    ok = subprocess.run(cli + ["export", "--run", str(run), "--out", str(tmp_path / "p"), "--check", "--device", "cpu"],
                        capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr[-1500:]
    used, _ = resolve_kernels(run)
    assert f"check: {len(used)} of {len(used)} pass against float64 PyTorch" in ok.stdout
    gelu = Path(next(k["path"] for k in used if k["kind"] == "gelu"))   # the run's winning GELU, made wrong
    gelu.write_text(gelu.read_text().replace("0.7978845608028654", "0.7"))
    bad = subprocess.run(cli + ["export", "--run", str(run), "--out", str(tmp_path / "p"), "--check", "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and re.search(r"gelu\s+bfloat16\s+\S+\s+FAIL", bad.stdout), bad.stdout[-1500:]
