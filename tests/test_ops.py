"""Every kind is defined in ONE place, its folder `kernels/<kind>/kind.py`: ops, extract and runtime hold generic machinery only."""
import ast
import inspect
from pathlib import Path

import pytest
import torch

from autokernel import extract, ops, profile, runtime
from autokernel.core import kernels_dir, repo_root

KIND_FILES = sorted(p.parent.name for p in kernels_dir().glob('*/kind.py'))
HOOKS = ('reference', 'make_inputs', 'flops', 'test_cases', 'outputs', 'example', 'tiny_cases', 'sizes', 'find', 'plug',
         'extract_group', 'extract_pairs', 'patch_functions', 'reference64', 'key_args', 'pattern', 'settle')


def _defined_in(fn) -> Path | None:
    "The file that defines `fn` (through closures: `row_kind`'s test cases are ops's, the kind's own functions its folder's)."
    try: return Path(inspect.getsourcefile(inspect.unwrap(fn))).resolve()
    except TypeError: return None


def test_every_kind_is_a_folder():
    "The kinds are exactly the folders with a kind.py, each registered from its own folder and module."
    assert sorted(ops.KINDS) == KIND_FILES
    assert {'matmul', 'softmax', 'layernorm', 'rmsnorm', 'add_layernorm', 'gelu', 'bias_gelu', 'silu_mul', 'cross_entropy',
            'rotary', 'attention', 'reduce'} <= set(KIND_FILES)
    for name, k in ops.KINDS.items():
        assert k.folder == (kernels_dir() / name).resolve(), name
        assert Path(k.module.__file__).resolve() == k.folder / 'kind.py' and k.module.KIND is k, name


@pytest.mark.parametrize('kind', KIND_FILES)
def test_a_kinds_own_code_lives_in_its_folder(kind):
    "The reference and every hook that is not ops's generic machinery is defined in the kind's folder (or a kind it builds on)."
    k, lib = ops.KINDS[kind], kernels_dir().resolve()
    assert _defined_in(k.reference) == k.folder / 'kind.py'
    fns = [getattr(k, h) for h in HOOKS if getattr(k, h) is not None]
    fns += list((k.extract_ops or {}).values()) + list((k.matchers or {}).values())
    for fn in fns:
        src = _defined_in(fn)
        assert src is not None and (src.parent.parent == lib or src == Path(ops.__file__).resolve()), (kind, fn, src)
        if src.parent.parent == lib: assert src == k.folder / 'kind.py', (kind, fn, src)


def _top_level_names(module) -> set:
    return {n.name for n in ast.parse(Path(module.__file__).read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | \
           {t.id for n in ast.parse(Path(module.__file__).read_text()).body if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Name)}


def test_no_kind_left_in_the_stages():
    "No reference or table row in ops, no `map_*` mapper in extract, no `_m_*` matcher or kind pattern in runtime."
    names = {m: _top_level_names(m) for m in (ops, extract, runtime)}
    assert not set(ops.KINDS) & names[ops], set(ops.KINDS) & names[ops]          # no `softmax`, `matmul`, ... references
    assert not [n for n in names[extract] if n.startswith('map_')], names[extract]
    assert not [n for n in names[runtime] if n.startswith('_m_')] and 'PATTERN_KINDS' not in names[runtime]
    top = ast.parse(Path(ops.__file__).read_text()).body                         # no kind built at ops's top level
    built = [n.func.id for st in top if not isinstance(st, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(st)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ('Kind', '_kind', '_row_kind', 'make_kind', 'row_kind')]
    assert not built, built
    for f, kind in runtime.MATCHER_KIND.items():                                 # every run-time matcher is its kind's
        assert _defined_in(runtime.MATCHERS[f]) == ops.KINDS[kind].folder / 'kind.py', (f, kind)


def test_the_stages_name_no_kind():
    """ops.py, extract.py and runtime.py never spell a kind's name (ops's one `'gelu'` is an activation of `ACTIVATIONS`, the
    epilogues GEMM kinds share): whatever they know of a kind, they read from `ops.KINDS`."""
    for m in (ops, extract, runtime):
        strings = {n.value for n in ast.walk(ast.parse(Path(m.__file__).read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        named = strings & set(ops.KINDS) - (set(ops.ACTIVATIONS) if m is ops else set())
        assert not named, (m.__name__, named)


def test_the_profile_tags_ops_through_the_kinds():
    "profile's op patterns come from the kinds (`profile_classes`, `pattern`, `settle`), not from a table of kind names."
    for fn in (profile.op_pattern, profile.settle_patterns):
        strings = {n.value for n in ast.walk(ast.parse(inspect.getsource(fn))) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not strings & set(ops.KINDS), (fn.__name__, strings & set(ops.KINDS))
    ops_ = [{'op': 'aten::mul', 'scope': ['LlamaMLP'], 'pattern': profile.op_pattern('aten::mul', 'elementwise', ('LlamaMLP',))},
            {'op': 'aten::silu', 'scope': ['LlamaMLP', 'SiLU'], 'pattern': profile.op_pattern('aten::silu', 'elementwise', ('LlamaMLP', 'SiLU'))},
            {'op': 'aten::mul', 'scope': ['GPT2MLP'], 'pattern': profile.op_pattern('aten::mul', 'elementwise', ('GPT2MLP',))}]
    profile.settle_patterns(ops_)
    assert [o['pattern'] for o in ops_] == ['silu_mul', 'silu_mul', None]      # a product is SwiGLU's only beside a SiLU
    assert profile.op_pattern('aten::sum', 'reduction') == 'reduce' and profile.op_pattern('aten::add', 'elementwise') is None


def test_a_kind_can_build_on_another():
    "add_rmsnorm's reference is rmsnorm's, read through the registry at call time (no import-order coupling)."
    x, r = torch.randn(2, 3, 16, dtype=torch.float64)
    w = torch.rand(16, dtype=torch.float64) + 0.5
    normed, s = ops.KINDS['add_rmsnorm'].reference(x, r, w, eps=1e-6)
    torch.testing.assert_close(s, x + r)
    torch.testing.assert_close(normed, w * (x + r) / ((x + r).pow(2).mean(-1, keepdim=True) + 1e-6).sqrt())


def test_docs_say_where_kinds_live():
    readme = (repo_root() / 'kernels' / 'README.md').read_text()
    assert 'still has its extraction mapper' not in readme and 'Every kind is defined in its own folder' in readme
