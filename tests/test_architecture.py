"""The package's architecture, checked by walking the imports of autokernel/*.py with `ast`.

Each kind of data has one owning module, and a stage reads the previous stage's files through that owner, never through
another stage's internals (DESIGN.md). So: a module imports only the modules the table below allows it (the owners, plus
the stages it drives), never a private name of another module, and the imports form no cycle; no public name is defined
in two modules (one name, one meaning); and DESIGN.md's module table names every module.
"""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "autokernel"

# The data owners, which every module may import: settings, devices and versioned JSON (core), the op library and its
# kinds (ops), the run folder and its log (rundir).
OWNERS = {"core", "ops", "rundir"}
# Beyond the owners, what each module may import, and why.
USES = {
    "core": set(),                      # the foundation imports nothing of the package
    "ops": set(),
    "rundir": set(),
    "sandbox": set(),                   # the worker's jail
    "profile": set(),                   # owns the profile JSON (load_profile, amdahl_table)
    "extract": {"profile"},             # reads the profile JSON through its owner
    "bench": {"sandbox", "judge"},      # the parent side: runs the judge's stages on workers in the sandbox
    "judge": {"worker", "sandbox"},     # the judge/worker protocol (MAX_REPLY), the sandbox's /proc walk; never candidate code
    "worker": set(),                    # the candidate side, in the sandbox: imports nothing of the package
    "schedule": set(),
    "agents": set(),
    "optimize": {"schedule", "agents", "bench", "extract", "profile", "cluster", "runtime"},   # drives the bench (one host or --gpus/--cluster), extraction, (--preset) profiling, the plug check
    "cluster": {"bench"},               # judging pipelines: a BenchPool per GPU, or in a Ray actor per GPU
    "rebench": {"bench", "verify"},     # re-benches a run's incumbents, then (--verify) verifies the run
    "runtime": set(),                   # the user-facing plug-in: patch, graphed, the matchers
    "verify": {"runtime", "bench"},     # plugs kernels in through the runtime
    "report": {"profile", "optimize", "verify"},   # the overnight notebook drives the pipeline; draws the profile's Amdahl table
    "explore": {"report", "bench"},     # the report's charts; re-benches a candidate on demand
    "kernelbench": {"profile", "extract", "optimize", "runtime", "verify"},   # drives the whole pipeline on KernelBench problems
    "cli": set(),                       # dispatches by name through importlib (COMMANDS)
    "export": set(),                    # packages a run's winners, read through rundir (and verify.json)
}
# Imports against the table that are known and owned by someone: this list may only shrink (the test fails when one of
# them is gone, so that it is struck off here).
KNOWN: set = set()
# Public names allowed in two modules, with the one meaning they share.
BENCH_KNOWN = {"e2e_vs_compile.py: verify._float64_copy"}   # deploy's benchmark; may only shrink
SAME_MEANING = {
    "main",                             # a process's entry point: the CLI's (cli) and the bench worker's (worker)
}


def modules() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PKG.glob("*.py")) if not p.name.startswith("_")}


def imports_of(src: str, pkg=frozenset()) -> list[tuple[str, str | None]]:
    """`(module, name)` for every import of the package in `src`, at any depth (lazy imports count): `from .core import x`
    gives `('core', 'x')`, `from autokernel import ops` and `import autokernel.ops` give `('ops', None)`."""
    out = []
    for n in ast.walk(ast.parse(src)):
        if isinstance(n, ast.ImportFrom):
            mod = n.module or ""
            if n.level == 0 and not (mod == "autokernel" or mod.startswith("autokernel.")): continue
            if n.level > 1: continue
            sub = mod.split(".", 1)[1] if mod.startswith("autokernel.") else ("" if mod == "autokernel" else mod)
            if n.level == 1 and n.module is None: sub = ""
            if sub: out += [(sub.split(".")[0], a.name) for a in n.names]
            else: out += [(a.name, None) for a in n.names if a.name in pkg]
        elif isinstance(n, ast.Import):
            out += [(a.name.split(".")[1], None) for a in n.names if a.name.startswith("autokernel.")]
    return out


def allowed(m: str) -> set[str]:
    "What module `m` may import: nothing for core, core for the other owners and the sandbox, else the owners and its USES."
    if m == "core": return set()
    if m in OWNERS or m == "sandbox": return {"core"}
    return OWNERS | USES.get(m, set())


def violations(mods: dict[str, str]) -> list[tuple[str, str]]:
    "Against the table: `(module, imported module)` or `(module, 'module._private')` pairs."
    bad = []
    for m, src in mods.items():
        for dep, name in imports_of(src, frozenset(mods)):
            if dep == m: continue
            if dep not in allowed(m): bad.append((m, dep))
            if name and name.startswith("_"): bad.append((m, f"{dep}.{name}"))
    return sorted(set(bad))


def cycles(graph: dict[str, set]) -> list[list[str]]:
    "The import cycles of `graph` (each once, as a path that ends where it starts)."
    found, seen = [], set()
    def walk(m, path):
        for d in sorted(graph.get(m, ())):
            if d in path:
                c = path[path.index(d):] + [d]
                key = frozenset(c)
                if key not in seen: seen.add(key); found.append(c)
            else: walk(d, path + [d])
    for m in sorted(graph): walk(m, [m])
    return found


def public_defs(src: str) -> set[str]:
    "Top-level public definitions (functions, classes, assigned names) of a module."
    out = set()
    for n in ast.parse(src).body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out.add(n.name)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(e, ast.Name): out.add(e.id)
    return {x for x in out if not x.startswith("_")}


@pytest.fixture(scope="module")
def sources():
    return {m: p.read_text() for m, p in modules().items()}


def test_every_module_has_a_place_in_the_table(sources):
    missing = sorted(set(sources) - set(USES))
    assert not missing, f"add these modules to USES in tests/test_architecture.py (what they may import, and why): {missing}"


def test_no_stage_imports_another_stage_internals(sources):
    bad = set(violations(sources))
    new, gone = sorted(bad - KNOWN), sorted(KNOWN - bad)
    assert not new, f"imports against the table (a stage reads data through its owner, never another stage): {new}"
    assert not gone, f"fixed: strike these off KNOWN in tests/test_architecture.py: {gone}"


def test_no_import_cycle(sources):
    graph = defaultdict(set)
    for m, src in sources.items():
        graph[m] |= {d for d, _ in imports_of(src, frozenset(sources)) if d != m}
    known = {frozenset(k[:2]) for k in KNOWN}
    left = [c for c in cycles(graph) if not any(frozenset(c[i:i + 2]) in known for i in range(len(c) - 1))]
    assert not left, f"import cycles: {left}"


def test_one_meaning_per_public_name(sources):
    where = defaultdict(list)
    for m, src in sources.items():
        for name in public_defs(src): where[name].append(m)
    twice = {n: ms for n, ms in where.items() if len(ms) > 1 and n not in SAME_MEANING}
    assert not twice, f"defined in more than one module (rename one, or make one definition serve): {twice}"


def test_design_names_every_module(sources):
    design = (ROOT / "DESIGN.md").read_text()
    missing = sorted(m for m in sources if f"`{m}.py`" not in design)
    assert not missing, f"DESIGN.md's module table does not name: {missing}"


def test_benchmarks_use_only_public_names():
    bad = []
    for p in sorted((ROOT / "benchmarks").glob("*.py")):
        bad += [f"{p.name}: {d}.{n}" for d, n in imports_of(p.read_text(), frozenset(modules())) if n and n.startswith("_")]
    new, gone = sorted(set(bad) - BENCH_KNOWN), sorted(BENCH_KNOWN - set(bad))
    assert not new, f"benchmarks import private names of the package: {new}"
    assert not gone, f"fixed: strike these off BENCH_KNOWN in tests/test_architecture.py: {gone}"


# --- the checks themselves, on made-up modules ---------------------------------------------------------------------

def test_the_walker_sees_every_form_of_import():
    src = ("from .core import load_json\nfrom . import ops\nimport autokernel.bench\n"
           "def f():\n    from autokernel.optimize import _ms\n    from autokernel import rundir\nimport json\n")
    got = imports_of(src, frozenset({"core", "ops", "bench", "optimize", "rundir"}))
    assert sorted(got, key=str) == sorted([("core", "load_json"), ("ops", None), ("bench", None), ("optimize", "_ms"),
                                           ("rundir", None)], key=str)


def test_a_stage_reaching_into_another_is_caught():
    mods = {"report": "from autokernel.verify import run_kernels\n", "verify": "from .optimize import incumbent\n",
            "optimize": "from .rundir import incumbent\nfrom .bench import _pct\n", "rundir": "from .core import x\n",
            "bench": "", "core": ""}
    assert violations(mods) == [("optimize", "bench._pct"), ("verify", "optimize")]
    assert ("report", "verify") not in violations(mods)          # the overnight report drives verify: allowed


def test_a_cycle_is_caught():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_name_defined_twice_is_caught():
    assert public_defs("def amdahl(x): pass\nclass K: pass\nA, _b = 1, 2\n_c = 3\nimport os\n") == {"amdahl", "K", "A"}
