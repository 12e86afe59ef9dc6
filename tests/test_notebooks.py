"""Run every notebook in nbs/ the way `nbdev-test` does, one pytest test per notebook, so CI reads a summary line."""
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook_tests

NBS = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(NBS)
    ok, secs = run_notebook_tests(nb, skip_flags=["gpu", "slow"], basepath=NBS.parent, do_print=False)
    assert ok, f"{nb.name} failed (run `nbdev-test --fname {nb}` for the traceback)"
