"""The CUDA C++ baselines `kernels/<kind>/cuda.py`, checked without a GPU.

Every kind's `CUDA_SRC` must compile with nvcc alone for sm_90a (no torch headers), under the same macros
`load_inline` uses (`__CUDA_NO_HALF_OPERATORS__` & co., so implicit half/bfloat16 arithmetic is caught here);
each file must follow the kernel.py contract of DESIGN.md (META, one-line PARAMS / SPACE literals with matching
keys, `kernel_fn` with the reference's exact signature, a binding that declares the launchers, checks the launch and
uses the current stream). The GPU run is `tests/test_cuda_gpu.py`.
"""
import ast
import inspect
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autokernel import core, ops

KINDS = [k for k in ops.KINDS if ops.baseline_path(k, 'cuda').exists()]
HAS_NVCC = bool(shutil.which('nvcc')) or Path('/usr/local/cuda/bin/nvcc').exists()


def load(kind):
    return ops.load_kernel_module(ops.baseline_path(kind, 'cuda'))


def load_inline_prelude(defines=()) -> str:
    "What `load_inline` puts in front of a CUDA source, minus torch/types.h: PyTorch's nvcc macros and CUDA headers."
    from torch.utils.cpp_extension import COMMON_NVCC_FLAGS
    macros = [f[2:] for f in COMMON_NVCC_FLAGS if f.startswith('-D')]
    lines = [f"#define {m.replace('=', ' ', 1)}" for m in [*macros, *defines]]
    return '\n'.join(lines + ['#include <cuda.h>', '#include <cuda_runtime.h>', ''])


def extreme_matmul_defines(which):
    space = load('matmul').SPACE
    return tuple(f'AK_{k}={v[which]}' for k, v in space.items())


@pytest.fixture(scope='module')
def compiled():
    "nvcc results for every kind (and the largest matmul tiles), compiled two at a time."
    if not HAS_NVCC: pytest.skip('nvcc not installed')
    jobs = {k: load_inline_prelude() + load(k).CUDA_SRC for k in KINDS}
    jobs['matmul[largest tiles]'] = load_inline_prelude(extreme_matmul_defines(-1)) + load('matmul').CUDA_SRC
    with ThreadPoolExecutor(2) as ex:
        futs = {k: ex.submit(core.nvcc_compile_check, src) for k, src in jobs.items()}
        return {k: f.result() for k, f in futs.items()}


@pytest.mark.parametrize('kind', KINDS + ['matmul[largest tiles]'])
def test_cuda_src_compiles(compiled, kind):
    ok, log = compiled[kind]
    assert ok, f'{kind}: nvcc failed:\n{log}'


def module_literal(src, name):
    "The dict literal of the one-line top-level `NAME = dict(...)` of a kernel file."
    lines = [line for line in src.splitlines() if line.startswith(f'{name} = ')]
    assert len(lines) == 1, f'{name} must be assigned on exactly one top-level line'
    node = ast.parse(lines[0]).body[0].value
    assert isinstance(node, ast.Call) and node.func.id == 'dict' and not node.args, f'{name} must be a dict(...) literal'
    return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}


@pytest.mark.parametrize('kind', KINDS)
def test_kernel_file_contract(kind):
    path = ops.baseline_path(kind, 'cuda')
    src, mod = path.read_text(), load(kind)
    assert mod.META == {'kind': kind, 'backend': 'cuda'}
    assert len((mod.__doc__ or '').splitlines()) > 5, 'the module docstring explains the algorithm'
    params, space = module_literal(src, 'PARAMS'), module_literal(src, 'SPACE')
    assert params == mod.PARAMS and space == mod.SPACE
    assert set(params) == set(space) and params, 'PARAMS and SPACE have the same knobs'
    for k, v in params.items():
        assert v in space[k], f'PARAMS[{k!r}]={v!r} is not in SPACE'
        assert len(space[k]) > 1, f'SPACE[{k!r}] offers no choice'
        body = src.split('\nCUDA_SRC')[1]
        assert f"'{k}'" in body, f'kernel_fn never reads PARAMS[{k!r}]'
    assert inspect.signature(mod.kernel_fn) == inspect.signature(ops.get_kind(kind).reference)


@pytest.mark.parametrize('kind', KINDS)
def test_sources_split_cleanly(kind):
    mod = load(kind)
    cuda, cpp = mod.CUDA_SRC, mod.CPP_SRC
    assert not re.search(r'#include\s*<(torch|ATen|c10)/', cuda), 'CUDA_SRC must not need torch headers'
    assert '__global__' in cuda and 'template <typename T' in cuda, 'kernels are templated on the element type'
    for t in ('__half', '__nv_bfloat16'): assert t in cuda
    launchers = re.findall(r'extern "C" cudaError_t (\w+)\(', cuda)
    assert launchers, 'CUDA_SRC defines extern "C" launchers'
    for name in launchers: assert f'extern "C" cudaError_t {name}(' in cpp, f'CPP_SRC must declare {name}'
    assert 'at::cuda::getCurrentCUDAStream()' in cpp and 'cudaGetErrorString(err)' in cpp
    assert 'CUDAGuard' in cpp and 'is_cuda()' in cpp
    bound = re.search(r"load_cuda\('(\w+)', CPP_SRC, CUDA_SRC, \['(\w+)'\]", inspect.getsource(mod))
    assert bound and re.search(rf'\b{bound.group(2)}\(', cpp), 'the bound function is defined in CPP_SRC'
    assert bound.group(1) == f'ak_{kind}'


def test_matmul_space_is_valid_everywhere():
    "Every tile combination the search may try fits a block (<= 1024 threads) and the micro-tile divides the tile."
    import itertools
    space = load('matmul').SPACE
    for bm, bn, bk, tm, tn in itertools.product(*(space[k] for k in ('BM', 'BN', 'BK', 'TM', 'TN'))):
        assert bm % tm == 0 and bn % tn == 0
        assert 1 <= (bm // tm) * (bn // tn) <= 1024
        assert 4 * bk * (bm + bn + 2) <= 48 * 1024, 'static shared memory stays under 48 KiB'


def test_kernel_fn_needs_no_gpu_to_import():
    "Importing a kernel file builds nothing: the extension is compiled lazily, on the first call."
    for kind in KINDS:
        mod = load(kind)
        assert getattr(mod, '_MODULE', None) is None and not getattr(mod, '_MODULES', None)


def test_matmul_mma_space_is_valid_everywhere():
    "Every tile the tensor-core path may get: whole k16 steps, warp tiles of whole mma tiles, <= 32 warps, two stages in 48 KiB."
    import itertools
    space = load('matmul').SPACE
    assert set(space['ALGO']) == {'simt', 'mma'}
    for bm, bn, bk, wm, wn in itertools.product(*(space[k] for k in ('BM', 'BN', 'BK', 'WM', 'WN'))):
        mbk, mwm, mwn = max(bk, 16), min(wm, bm), min(wn, bn)
        assert mbk % 16 == 0 and mwm % 16 == 0 and mwn % 16 == 0 and bm % mwm == 0 and bn % mwn == 0
        assert 1 <= (bm // mwm) * (bn // mwn) <= 32
        assert 2 * (bm + bn) * (mbk + 8) * 2 <= 48 * 1024


def _mma_cases(dt):
    "Odd shapes for the tensor-core path in dtype `dt`: (label, a, b, bias, activation), fresh random data on the GPU."
    import torch
    g = torch.Generator(device='cuda').manual_seed(0)
    r = lambda *s: torch.randn(*s, device='cuda', generator=g).to(dt)      # layouts are made after the cast
    return [('K % 8 != 0: element copies', r(37, 100), r(100, 29), r(29), 'gelu_tanh'),
            ('w.t(), aligned: cp.async both', r(129, 264), r(200, 264).t(), r(200), None),
            ('K tail inside a chunk', r(77, 104)[:, :100], r(51, 104)[:, :100].t(), None, 'relu'),
            ('bmm, row-major b', r(3, 45, 72), r(3, 72, 130), None, 'silu'),
            ('broadcast weight', r(2, 5, 33, 48), r(48, 65), r(65), 'gelu'),
            ('one row, long K', r(1, 3000), r(70, 3000).t(), r(70), None),
            ('large', r(1000, 1024), r(3000, 1024).t(), r(3000), 'gelu_tanh')]


@pytest.mark.skipif(not __import__('torch').cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('tiles', [dict(), dict(BM=128, BN=128, BK=32, WM=64, WN=64), dict(BM=32, BN=128, BK=8, WM=64, WN=32)])
def test_gpu_matmul_mma_odd_shapes(tiles):
    "The tensor-core matmul (ALGO='mma') against float64 at odd shapes and layouts, bf16 and fp16 (fp32: the SIMT kernel)."
    import torch
    mod = load('matmul')
    mod.PARAMS = {**mod.PARAMS, **tiles, 'ALGO': 'mma'}
    for dtype in ('bfloat16', 'float16', 'float32'):
        for label, a, b, bias, act in _mma_cases(getattr(torch, dtype)):
            out = mod.kernel_fn(a, b, bias, activation=act)
            ref = ops.reference64('matmul', (a, b, bias), {'activation': act}, device='cuda')
            res = ops.compare(out, ref, dtype)
            if not res['ok'] and dtype == 'float32':   # fp32 at K=1024: elements near zero miss a per-element atol of 1e-5
                torch.backends.cuda.matmul.allow_tf32 = False   # for any summation order; then as accurate as PyTorch's own
                ours = float((out.double() - ref).abs().max())
                theirs = float((ops.get_kind('matmul').reference(a, b, bias, activation=act).double() - ref).abs().max())
                res = {**res, 'ok': ours <= 4 * theirs + 1e-5, 'ours': ours, 'pytorch': theirs}
            assert res['ok'] and out.dtype == a.dtype and out.shape == ref.shape, (label, dtype, tiles, res)


def _attention_mma_cases(dt):
    "Attention shapes for the tensor-core path: (label, q, k, v, bias, kwargs), fresh random data on the GPU."
    import torch
    g = torch.Generator(device='cuda').manual_seed(1)
    r = lambda *s: torch.randn(*s, device='cuda', generator=g).to(dt)
    bshd = lambda B, H, S, D: r(B, S, H, D).transpose(1, 2)             # HF's projections seen as [B, H, S, D]
    pad = torch.ones(2, 1, 1, 77, dtype=torch.bool, device='cuda')
    pad[1, ..., 50:] = False
    causal = dict(causal=True, scale=None, window=None)
    return [('causal GQA D=64, S not a tile multiple', r(2, 4, 100, 64), r(2, 2, 100, 64), r(2, 2, 100, 64), None, causal),
            ('cross, D=128, scale 0.2', r(1, 2, 37, 128), r(1, 2, 300, 128), r(1, 2, 300, 128), None,
             dict(causal=False, scale=0.2, window=None)),
            ('D=80 padded, relative bias', r(1, 3, 70, 80), r(1, 3, 70, 80), r(1, 3, 70, 80), r(1, 3, 70, 70),
             dict(causal=False, scale=1.0, window=None)),
            ('padding mask, HF layout', bshd(2, 2, 77, 64), bshd(2, 2, 77, 64), bshd(2, 2, 77, 64), pad,
             dict(causal=False, scale=None, window=None)),
            ('sliding window 40, GQA, D=128', r(1, 4, 333, 128), r(1, 1, 333, 128), r(1, 1, 333, 128), None,
             dict(causal=True, scale=None, window=40)),
            ('D=256: the SIMT kernel', r(1, 2, 40, 256), r(1, 2, 40, 256), r(1, 2, 40, 256), None, causal)]


@pytest.mark.skipif(not __import__('torch').cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('warps', [1, 4, 8])
def test_gpu_attention_mma(warps):
    "The tensor-core attention (ALGO='mma') against float64: GQA, cross, bias, padding mask, window, head dims 64-128."
    import torch
    mod = load('attention')
    mod.PARAMS = {**mod.PARAMS, 'ALGO': 'mma', 'WARPS': warps}
    for dtype in ('bfloat16', 'float16', 'float32'):
        for label, q, k, v, bias, kw in _attention_mma_cases(getattr(torch, dtype)):
            out = mod.kernel_fn(q, k, v, bias, **kw)
            ref = ops.reference64('attention', (q, k, v, bias), kw, device='cuda')
            res = ops.compare(out, ref, dtype)
            assert res['ok'] and out.dtype == q.dtype and out.shape == ref.shape, (label, dtype, warps, res)
