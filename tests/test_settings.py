"""settings.ini is user-facing: every key must be documented in the README, and every key the code reads must exist."""
import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ini_keys():
    cp = configparser.ConfigParser()
    cp.read(ROOT / "settings.ini")
    return set(cp["autokernel"])


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([a-z0-9_]+)`", readme))
    documented |= {f"{p}_{d}" for p in ("tol", "rtol", "atol") for d in ("float32", "float16", "bfloat16")
                   if f"`{p}_<dtype>`" in readme}   # one row documents a key per dtype
    missing = sorted(k for k in ini_keys() if k not in documented)
    assert not missing, f"settings.ini keys missing from the README's settings table: {missing}"


def test_every_setting_the_code_reads_exists():
    used = set()
    for py in (ROOT / "autokernel").glob("*.py"):
        used |= set(re.findall(r"setting\('([a-z0-9_]+)'", py.read_text()))
    assert used, "no setting(...) calls found: the pattern is stale"
    missing = sorted(used - ini_keys())
    assert not missing, f"the code reads settings that settings.ini lacks: {missing}"
