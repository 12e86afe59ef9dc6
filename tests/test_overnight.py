"""The overnight notebook end to end on CPU: papermill runs the template on the tiny preset with a tiny budget; the report has
its sections (each with output and no error), the completion marker, verify.json and a self-contained HTML copy. A run that
breaks mid-way is reported as unfinished (non-zero exit), with its partial report."""
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import torch

import autokernel
from autokernel.cli import main
from autokernel.core import repo_root
from autokernel.report import overnight_cmd

SECTIONS = ["Profile", "Extract and optimize", "Progress", "Roofline", "Best kernels", "Verify", "Settings and card"]


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setenv("AUTOKERNEL_PROFILE_ITERS", "2")
    monkeypatch.setenv("AUTOKERNEL_PROFILE_WARMUP", "1")


def sections(nb) -> dict:
    "`{heading: [outputs of the code cells under it]}`"
    out, cur = {}, None
    for c in nb.cells:
        if c.cell_type == "markdown":
            m = re.match(r"##\s+(.+)", c.source)
            if m: cur = m.group(1).strip(); out[cur] = []
        elif cur: out[cur] += c.get("outputs", [])
    return out


def test_overnight_tiny(tmp_path, quick, capsys):
    run = tmp_path / "run"
    rc = overnight_cmd(["--model", "gpt2-tiny", "--budget", "5s", "--top", "2", "--max-experiments", "1", "--device", "cpu",
                        "--run", str(run)])
    out = capsys.readouterr().out
    assert rc == 0
    assert re.search(r"\[\d\d:\d\d\] (optimize|verify|report)", out), out          # the progress line, from the run folder
    nb = nbformat.read(run / "report.ipynb", as_version=4)
    secs = sections(nb)
    for s in SECTIONS:
        assert secs.get(s), f"section {s!r} missing or without output"
        assert not any(o.output_type == "error" for o in secs[s]), s
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o.output_type == "stream" and o.name == "stderr"], "a red stderr box in the report"
    # the first screen: the summary (with the CPU note and the GPU reports' links) and the one end-to-end chart
    first = [o for c in nb.cells[:next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## "))]
             if c.cell_type == "code" for o in c.get("outputs", [])]
    top = " ".join(o.get("data", {}).get("text/html", "") for o in first)
    assert "Summary" in top and re.search(r"\d+ experiments on 2 kernels", top) and "interpreter" in top and "gpt2-h100" in top, top
    pngs = lambda outs: [o for o in outs if "image/png" in o.get("data", {})]
    assert len(pngs(first)) == 1                                          # the end-to-end chart, once, at the top
    assert len(pngs([o for v in secs.values() for o in v])) == 2          # Amdahl, progress (no roofline on the CPU)
    assert "No roofline on the CPU" in str(secs["Roofline"])
    assert "same source" not in str(secs["Best kernels"]) and "x0.00" not in str(secs["Best kernels"])
    assert "run profile" not in str(secs["Settings and card"]) or "'dict'" not in str(secs["Settings and card"])
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert sum("parameters" in t or "injected-parameters" in t for t in tags) == 1    # one parameters cell: the values used
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in nb.cells if c.cell_type == "code")
    assert "report complete" in (run / "DONE").read_text()
    for f in ("profile.json", "results.jsonl", "verify.json", "run.json"):
        assert (run / f).exists(), f
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 3
    assert "mark_stage(" not in html and "done_token" not in html          # the code stays in the notebook
    assert not re.search(r'<script[^>]*src="https?://', html)     # readable with no network
    for s in SECTIONS: assert s in html
    assert html.index("Summary") < html.index("Profile")


def test_unfinished_run_is_reported(tmp_path, quick, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def make():\n    raise RuntimeError('weights missing')\n")
    run = tmp_path / "run"
    rc = overnight_cmd(["--model", f"{bad}:make", "--budget", "5s", "--device", "cpu", "--run", str(run)])
    assert rc == 1
    assert "UNFINISHED" in capsys.readouterr().out
    assert not (run / "DONE").exists() or "report complete" not in (run / "DONE").read_text()
    assert (run / "report.ipynb").exists() and (run / "report.html").exists()


# --- bad input is refused at once (issue 16, item 4), one CLI grammar (item 6), the install stamp (item 7) -----------------

BAD = [["--budget", "banana"], ["--budget", "0s"], ["--max-experiments", "-3"], ["--model", "gpt5"], ["--top", "0"],
       ["--model", "nowhere/model.py:build"], ["--cell-timeout", "soon"]]
if not torch.cuda.is_available(): BAD.append(["--device", "cuda"])


@pytest.mark.parametrize("cmd", ["overnight", "run", "optimize"])
def test_bad_input_refused_before_any_work(cmd, tmp_path, monkeypatch, capsys):
    "Each bad argument: one line on stderr, exit 2, no run folder, nothing profiled or executed."
    import autokernel.optimize as opt
    import autokernel.report as rep
    monkeypatch.setenv("AUTOKERNEL_RUNS_DIR", str(tmp_path / "runs"))
    def no_work(*a, **k): raise AssertionError("work started before the arguments were checked")
    monkeypatch.setattr(rep, "execute_report", no_work)
    monkeypatch.setattr(opt, "optimize", no_work)
    monkeypatch.setattr("autokernel.core.load_model", no_work)
    for argv in BAD:
        if cmd == "optimize" and argv[0] == "--cell-timeout": continue
        rc = main([cmd, *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, (argv, rc)
        assert len(err) == 1 and err[0].startswith(f"autokernel {cmd}: error: "), (argv, err)
        assert not (tmp_path / "runs").exists(), argv


def test_version_and_help(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"autokernel {autokernel.__version__}"
    assert main(["--help"]) == 0 and "--version" in capsys.readouterr().out


def parser_of(cmd, monkeypatch):
    "The argparse parser a command builds, caught as it parses `-h`."
    import argparse
    seen = []
    def catch(self, *a, **k):
        seen.append(self); raise SystemExit(0)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    main([cmd, "-h"])
    monkeypatch.undo()
    return seen[0]


def test_every_option_has_help(monkeypatch):
    from autokernel.cli import COMMANDS
    for cmd in COMMANDS:
        p = parser_of(cmd, monkeypatch)
        missing = [a.option_strings or a.dest for a in p._actions if not a.help]
        assert not missing, f"autokernel {cmd}: options without help: {missing}"


def test_model_flag_everywhere(monkeypatch):
    "--model names a preset, a file or a module for every command that loads a model; --preset stays as its alias."
    for cmd in ("profile", "optimize", "overnight", "run"):
        p = parser_of(cmd, monkeypatch)
        flags = {s for a in p._actions for s in a.option_strings}
        assert {"--model", "--preset"} <= flags, cmd
        for flag in ("--model", "--preset"):
            a = p.parse_args([flag, "gpt2-tiny"])
            assert "gpt2-tiny" in (getattr(a, "model", None), getattr(a, "preset", None)), (cmd, flag)


def test_one_run_folder_naming(tmp_path, monkeypatch):
    "optimize and overnight name a new run folder the same way: runs/<date>-<time>_<model>."
    import autokernel.optimize as opt
    import autokernel.report as rep
    monkeypatch.setenv("AUTOKERNEL_RUNS_DIR", str(tmp_path / "runs"))
    seen = []
    monkeypatch.setattr(rep, "execute_report", lambda run_dir, *a, **k: seen.append(Path(run_dir)) or
                        {"finished": True, "error": None, "report": Path(run_dir) / "report.ipynb", "html": None})
    def fake_optimize(run, **k):
        seen.append(Path(run)); return {"run": str(run), "kernels": [{"ok": True}]}
    monkeypatch.setattr(opt, "optimize", fake_optimize)
    assert main(["overnight", "--model", "gpt2-tiny", "--budget", "1m"]) == 0
    assert main(["optimize", "--profile", str(repo_root() / "presets" / "gpt2.profile.json"), "--budget", "1m"]) == 0
    assert [p.parent for p in seen] == [tmp_path / "runs"] * 2
    assert re.fullmatch(r"\d{8}-\d{6}_gpt2-tiny", seen[0].name) and re.fullmatch(r"\d{8}-\d{6}_gpt2", seen[1].name), seen


def make_stamp(tmp_path, py):
    "Run the Makefile's install target in a copy of its inputs, with `PY` standing in for python (no real install)."
    return subprocess.run(["make", "-s", "-f", str(repo_root() / "Makefile"), ".venv/bin/.installed", f"PY={py}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_install_stamp_survives_export(tmp_path):
    "`nbdev-export` rewrites pyproject.toml (newer, same content): the next `make run` refreshes the stamp, it does not reinstall."
    import os
    for f in ("requirements.txt", "pyproject.toml"): shutil.copy(repo_root() / f, tmp_path / f)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stamp = tmp_path / ".venv" / "bin" / ".installed"
    subprocess.run("sha256sum requirements.txt pyproject.toml > .venv/bin/.installed", shell=True, cwd=tmp_path, check=True)
    os.utime(stamp, (1, 1))                                              # older than both inputs, as after an export
    r = make_stamp(tmp_path, "false")                                    # `false`: any attempt to reinstall fails
    assert r.returncode == 0, r.stdout + r.stderr
    assert stamp.stat().st_mtime > (tmp_path / "pyproject.toml").stat().st_mtime
    (tmp_path / "requirements.txt").write_text((tmp_path / "requirements.txt").read_text() + "\nnew-package==1.0\n")
    assert make_stamp(tmp_path, "false").returncode != 0                 # a real change does reinstall
