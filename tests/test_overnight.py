"""The overnight notebook end to end on CPU: papermill runs the template on the tiny preset with a tiny budget; the report has
its sections (each with output and no error), the completion marker, verify.json and a self-contained HTML copy. A run that
breaks mid-way is reported as unfinished (non-zero exit), with its partial report."""
import re

import nbformat
import pytest

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


def test_overnight_tiny(tmp_path, quick):
    run = tmp_path / "run"
    rc = overnight_cmd(["--preset", "gpt2-tiny", "--budget", "5s", "--top", "2", "--max-experiments", "1", "--device", "cpu",
                        "--run", str(run)])
    assert rc == 0
    nb = nbformat.read(run / "report.ipynb", as_version=4)
    secs = sections(nb)
    for s in SECTIONS:
        assert secs.get(s), f"section {s!r} missing or without output"
        assert not any(o.output_type == "error" for o in secs[s]), s
    pngs = [o for outs in secs.values() for o in outs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 4                                  # Amdahl, progress, roofline, end to end
    assert "report complete" in (run / "DONE").read_text()
    for f in ("profile.json", "results.jsonl", "verify.json", "run.json"):
        assert (run / f).exists(), f
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 4
    assert not re.search(r'<script[^>]*src="https?://', html)     # readable with no network
    for s in SECTIONS: assert s in html


def test_unfinished_run_is_reported(tmp_path, quick, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("def make():\n    raise RuntimeError('weights missing')\n")
    run = tmp_path / "run"
    rc = overnight_cmd(["--model", f"{bad}:make", "--budget", "5s", "--device", "cpu", "--run", str(run)])
    assert rc == 1
    assert "UNFINISHED" in capsys.readouterr().out
    assert not (run / "DONE").exists() or "report complete" not in (run / "DONE").read_text()
    assert (run / "report.ipynb").exists() and (run / "report.html").exists()
