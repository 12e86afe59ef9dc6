"""Every Triton baseline in kernels/<kind>/triton.py against its float64 reference (autokernel.ops).

On a machine without a GPU the kernels run in Triton's interpreter (conftest.py sets TRITON_INTERPRET=1) on tiny shapes,
non-powers-of-two included, in every dtype; once with the library's PARAMS and once with tiny blocks that force every
loop over a row, a vocabulary or K to take several steps with a ragged tail. Outputs are allocated NaN-poisoned, so a
kernel that leaves part of its output unwritten fails. On a GPU the same tests run natively, plus `test_gpu_*`: the
realistic test sizes of each kind and a sample of its SPACE.
"""
import ast
import contextlib
import inspect
import json
import math
import os
import random

import pytest
import torch

import autokernel.core  # noqa: F401  (sets TRITON_INTERPRET before any kernel is defined)
from autokernel import ops
from autokernel.ops import tensor_meta, transposed_meta

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
DTYPES = ['bfloat16', 'float16', 'float32']


def _bhsd_from_bshd(B, H, S, D, dtype='float32'):
    "q/k/v as HF makes them: a [B, S, H, D] projection seen as [B, H, S, D] (a transposed view)."
    return tensor_meta([B, H, S, D], dtype, [S * H * D, D, H * D, 1])


def tiny_cases(kind):
    "Tiny cases of `kind`: odd sizes, strided/transposed layouts and each argument variant."
    if ops.KINDS[kind].tiny_cases:   # a kind defined in its own folder brings its tiny cases
        return ops.KINDS[kind].tiny_cases()
    c = ops.make_case
    if kind == 'matmul':
        return [c(kind, [(17, 33), transposed_meta([33, 29]), (29,)], activation='gelu_tanh'),   # Linear: b = w.t()
                c(kind, [(2, 7, 33), (33, 29), None], activation='relu'),
                c(kind, [(3, 9, 20), (3, 20, 18)]),                                               # bmm
                c(kind, [(5, 70), transposed_meta([70, 9]), (9,)], activation='silu'),
                c(kind, [(6, 24), (24, 40), (40,)], activation='gelu')]
    if kind == 'attention':
        return [c(kind, [(1, 2, 19, 16), (1, 1, 19, 16), (1, 1, 19, 16)], causal=True),           # GQA, causal
                c(kind, [_bhsd_from_bshd(1, 2, 19, 16)] * 3, causal=False),                       # transposed views
                c(kind, [(1, 2, 5, 24), (1, 2, 19, 24), (1, 2, 19, 24)], causal=True, scale=0.3),  # Sq != Sk, D=24
                c(kind, [(1, 2, 19, 16)] * 3 + [(1, 2, 19, 19)], scale=1.0),                       # T5: relative bias, scale 1
                c(kind, [_bhsd_from_bshd(2, 2, 19, 16)] * 3 + [tensor_meta([2, 2, 19, 19], stride=[19, 0, 0, 1])]),  # padding
                c(kind, [(2, 2, 19, 16)] * 3 + [tensor_meta([2, 1, 19, 19], 'bool')], causal=True),  # boolean mask + causal
                c(kind, [(1, 4, 37, 16), (1, 2, 37, 16), (1, 2, 37, 16)], causal=True, window=8),  # Mistral's sliding window
                c(kind, [(1, 2, 37, 16)] * 3 + [(1, 1, 37, 37)], causal=True, window=5),          # window + bias
                c(kind, [(1, 2, 19, 128), (1, 1, 19, 128), (1, 1, 19, 128)], causal=True),        # head dims 128, 96, 80
                c(kind, [(1, 2, 9, 96)] * 3), c(kind, [(1, 2, 9, 80)] * 3 + [(1, 2, 9, 9)])]
    if kind == 'rotary':
        bcast = tensor_meta([3, 5, 16], stride=[0, 16, 1])                                      # one table for the batch
        return [c(kind, [_bhsd_from_bshd(2, 3, 7, 24), (2, 7, 24), (2, 7, 24)]),
                c(kind, [(3, 2, 5, 16), bcast, bcast]), c(kind, [(2, 2, 5, 16), (1, 5, 16), (1, 5, 16)])]
    if kind == 'cross_entropy':
        return [c(kind, [(3, 130), (3,)]), c(kind, [tensor_meta([4, 301], stride=[320, 1]), (4,)])]
    if kind == 'silu_mul':   # gate and up: the two halves of one fused [.., 2N] projection
        return [c(kind, [(3, 65), (3, 65)]), c(kind, [tensor_meta([2, 3, 33], stride=[198, 66, 1])] * 2)]
    if kind in ('gelu', 'bias_gelu'):
        vec = [(65,)] if kind == 'bias_gelu' else []
        return [c(kind, [(3, 65), *vec]), c(kind, [tensor_meta([2, 5, 65], stride=[800, 160, 1]), *vec], approximate='none')]
    k = ops.KINDS[kind]   # row-wise norms and softmax: one contiguous, one with padded rows
    first = k.example(lead=(3,), N=65)
    second = k.example(lead=(2, 3), N=130)
    second['inputs'] = [tensor_meta(m['shape'], m['dtype'], [3 * 160, 160, 1]) if len(m['shape']) == 3 else m
                        for m in second['inputs']]
    return [first, second]


@contextlib.contextmanager
def nan_poisoned_outputs():
    "torch.empty* hand out NaN-filled memory (integers: a large sentinel), so outputs a kernel never writes show up."
    real = torch.empty, torch.empty_like, torch.empty_strided

    def poison(t):
        return t.fill_(float('nan')) if t.is_floating_point() else t.fill_(-(2 ** 31) + 7)
    torch.empty = lambda *a, **k: poison(real[0](*a, **k))
    torch.empty_like = lambda *a, **k: poison(real[1](*a, **k))
    torch.empty_strided = lambda *a, **k: poison(real[2](*a, **k))
    try:
        yield
    finally:
        torch.empty, torch.empty_like, torch.empty_strided = real


def small_params(mod):
    "PARAMS with every block at its smallest useful value: forces multi-step loops with ragged tails on tiny shapes."
    p = dict(mod.PARAMS)
    for k in p:
        if k.startswith('BLOCK') and k != 'BLOCK_D':
            p[k] = 16
        elif k in ('ROWS_PER_PROG', 'HEADS_PER_PROG', 'GROUP_M'):
            p[k] = 2
        elif k == 'ALGO':
            p[k] = [a for a in mod.SPACE['ALGO'] if a != mod.PARAMS['ALGO']][0]
        elif k == 'BLOCK':
            p[k] = 16
    return p


def check(mod, kind, case, dtype, seed):
    args, kw = ops.make_inputs(kind, ops.with_dtype(case, dtype), DEVICE, seed)
    with nan_poisoned_outputs():
        out = mod.kernel_fn(*args, **kw)
    ref = ops.reference64(kind, args, kw, device=DEVICE if DEVICE == 'cuda' else 'cpu')
    res = ops.compare(out, ref, dtype)
    expect = ops.KINDS[kind].reference(*args, **kw)
    outs, exps = (out, expect) if isinstance(out, tuple) else ((out,), (expect,))
    for o, e in zip(outs, exps):
        assert o.dtype == e.dtype and o.device == e.device, (o.dtype, e.dtype)
    return res


def load(kind):
    return ops.load_kernel_module(ops.baseline_path(kind, 'triton'))


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('kind', sorted(ops.KINDS))
def test_triton_baseline(kind, dtype):
    mod = load(kind)
    seed = 0
    for params in (dict(mod.PARAMS), small_params(mod)):
        mod.PARAMS = params
        for case in tiny_cases(kind):
            seed += 1
            res = check(mod, kind, case, dtype, seed)
            assert res['ok'], (kind, dtype, params, case, res)


@pytest.mark.parametrize('kind', sorted(ops.KINDS))
def test_space_sample(kind):
    "Two random points of SPACE (what the built-in search writes) on a tiny case, in bfloat16."
    mod = load(kind)
    rng = random.Random(kind)
    for i in range(2):
        mod.PARAMS = {name: rng.choice(vals) for name, vals in mod.SPACE.items()}
        res = check(mod, kind, tiny_cases(kind)[-1], 'bfloat16', 100 + i)
        assert res['ok'], (kind, mod.PARAMS, res)


@pytest.mark.parametrize('kind', sorted(ops.KINDS))
def test_kernel_file_contract(kind):
    "META, one-line PARAMS/SPACE literals with PARAMS inside SPACE, and kernel_fn with the reference's signature."
    path = ops.baseline_path(kind, 'triton')
    src = path.read_text()
    mod = ops.load_kernel_module(path)
    assert mod.META == {'kind': kind, 'backend': 'triton'}
    assert (mod.__doc__ or '').count('\n') >= 5, 'the module docstring should explain the algorithm'
    for name in ('PARAMS', 'SPACE'):
        lines = [line for line in src.splitlines() if line.startswith(f'{name} = ')]
        assert len(lines) == 1, name
        tree = ast.parse(lines[0]).body[0].value
        assert isinstance(tree, ast.Call) and tree.func.id == 'dict'
        assert {k.arg: ast.literal_eval(k.value) for k in tree.keywords} == getattr(mod, name)   # a pure literal
    assert set(mod.PARAMS) == set(mod.SPACE)
    for k, v in mod.PARAMS.items():
        assert v in mod.SPACE[k], (k, v)
    ref, fn = inspect.signature(ops.KINDS[kind].reference), inspect.signature(mod.kernel_fn)
    assert [(p.name, p.kind, p.default) for p in ref.parameters.values()] == \
           [(p.name, p.kind, p.default) for p in fn.parameters.values()]


def test_nan_poisoning_catches_unwritten_output():
    "The poisoning is real: a kernel that skips its last row fails the comparison."
    mod = load('softmax')
    real = mod.kernel_fn
    lazy = lambda x: torch.cat([real(x[:-1]), torch.empty_like(x[-1:])])   # "forgets" the last row
    res = check(type('M', (), {'kernel_fn': staticmethod(lazy)}), 'softmax', ops.make_case('softmax', [(4, 33)]), 'float32', 1)
    assert not res['ok'] and 'non-finite' in res['detail']


def test_inf_and_nan_inputs_follow_the_reference():
    "NaN/Inf in the input land where PyTorch puts them (softmax: a NaN row, a -inf masked entry)."
    mod = load('softmax')
    x = torch.randn(3, 40, device=DEVICE)
    x[0, 5] = float('nan')
    x[1, :7] = float('-inf')
    res = ops.compare(mod.kernel_fn(x), ops.reference64('softmax', (x,), {}), 'float32')
    assert res['ok'], res


# --- on a GPU: realistic sizes and the search space ---------------------------------------------------------------

def realistic_cases(kind):
    "GPT-2 / LLaMA-like cases (bfloat16) for the GPU tests."
    if ops.KINDS[kind].sizes:
        return ops.KINDS[kind].sizes()
    c, bf = ops.make_case, 'bfloat16'
    return {
        'matmul': lambda: [c(kind, [(4096, 768), transposed_meta([768, 3072], bf), (3072,)], bf, activation='gelu_tanh'),
                   c(kind, [(2048, 4096), transposed_meta([4096, 4096], bf), None], bf)],
        'softmax': lambda: [c(kind, [(4, 12, 512, 512)], bf), c(kind, [(64, 50257)], bf)],
        'layernorm': lambda: [c(kind, [(8, 512, 768), (768,), (768,)], bf)],
        'rmsnorm': lambda: [c(kind, [(4, 512, 4096), (4096,)], bf)],
        'add_layernorm': lambda: [c(kind, [(8, 512, 768), (8, 512, 768), (768,), (768,)], bf)],
        'gelu': lambda: [c(kind, [(8, 512, 3072)], bf)],
        'bias_gelu': lambda: [c(kind, [(8, 512, 3072), (3072,)], bf)],
        'silu_mul': lambda: [c(kind, [tensor_meta([4, 512, 11008], bf, [512 * 22016, 22016, 1])] * 2, bf)],
        'cross_entropy': lambda: [c(kind, [(2048, 50257), (2048,)], bf)],
        'rotary': lambda: [c(kind, [_bhsd_from_bshd(4, 32, 512, 128, bf), (4, 512, 128), (4, 512, 128)], bf)],
        'attention': lambda: [c(kind, [_bhsd_from_bshd(4, 12, 512, 64, bf)] * 3, bf, causal=True),
                      c(kind, [(2, 32, 1024, 128), (2, 8, 1024, 128), (2, 8, 1024, 128)], bf, causal=True),
                      c(kind, [(4, 8, 512, 64)] * 3 + [(1, 8, 512, 512)], bf, scale=1.0),                 # T5 relative bias
                      c(kind, [(2, 32, 2048, 128), (2, 8, 2048, 128), (2, 8, 2048, 128)], bf, causal=True, window=512)],
    }[kind]()


N_SPACE_SAMPLES = int(os.environ.get('AUTOKERNEL_SPACE_SAMPLES', '3'))
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


@gpu
@pytest.mark.parametrize('kind', sorted(ops.KINDS))
def test_gpu_test_cases(kind):
    "The five test cases of realistic cases, in every dtype, on the GPU."
    mod = load(kind)
    k = ops.KINDS[kind]
    for case in realistic_cases(kind):
        for i, t in enumerate(k.test_cases(case)):
            for dtype in DTYPES:
                res = check(mod, kind, t, dtype, i)
                assert res['ok'], (kind, dtype, t, res)


@gpu
@pytest.mark.parametrize('kind', sorted(ops.KINDS))
def test_gpu_space_sample(kind):
    "A random sample of SPACE on a non-power-of-two case: every combination the search may write must be correct."
    mod = load(kind)
    k = ops.KINDS[kind]
    rng = random.Random(0)
    case = k.test_cases(realistic_cases(kind)[0])[3]
    for i in range(N_SPACE_SAMPLES):
        mod.PARAMS = {name: rng.choice(vals) for name, vals in mod.SPACE.items()}
        for dtype in ('bfloat16', 'float32'):
            res = check(mod, kind, case, dtype, i)
            assert res['ok'], (kind, dtype, mod.PARAMS, res)


TOY_KIND = '''
"""A toy kind for the registry test: y = 2 * x + 1."""
from autokernel.ops import row_kind, make_case

def affine(x): return 2.0 * x + 1.0

KIND = row_kind('toy_affine', 'elementwise', affine, ('x',), ('act',), {}, 2, ('aten::mul', 'aten::add'),
                tiny_cases=lambda: [make_case('toy_affine', [(3, 37)])])
'''

TOY_TRITON = '''
import torch
import triton
import triton.language as tl

META = dict(kind='toy_affine', backend='triton')
PARAMS = dict(BLOCK=64)
SPACE = dict(BLOCK=[64, 128])


@triton.jit
def affine_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0).to(tl.float32)
    tl.store(y_ptr + offs, (2.0 * x + 1.0).to(y_ptr.dtype.element_ty), mask=offs < n)


def kernel_fn(x):
    x = x.contiguous()
    y = torch.empty_like(x)
    affine_kernel[(triton.cdiv(x.numel(), PARAMS['BLOCK']),)](x, y, x.numel(), BLOCK=PARAMS['BLOCK'])
    return y
'''


def test_a_new_kind_is_one_folder(tmp_path, monkeypatch):
    "Adding a kind = one folder with kind.py and triton.py: discovered, registered, checked like the library's kinds."
    (tmp_path / 'toy_affine').mkdir()
    (tmp_path / 'toy_affine' / 'kind.py').write_text(TOY_KIND)
    (tmp_path / 'toy_affine' / 'triton.py').write_text(TOY_TRITON)
    found = ops.discover_kinds(tmp_path)
    assert list(found) == ['toy_affine'] and found['toy_affine'].folder == (tmp_path / 'toy_affine').resolve()
    monkeypatch.setitem(ops.KINDS, 'toy_affine', found['toy_affine'])
    mod = load('toy_affine')
    for dtype in DTYPES:
        assert check(mod, 'toy_affine', tiny_cases('toy_affine')[0], dtype, 3)['ok']
    (tmp_path / 'toy_affine' / 'kind.py').write_text("KIND = 'nothing'\n")
    with pytest.raises(ops.AutokernelError, match='defines no KIND'):
        ops.discover_kinds(tmp_path)


def test_baselines_cpu_smoke(tmp_path):
    "benchmarks/baselines.py --device cpu: the tiny case checked in the interpreter, the results file in its schema, marked CPU."
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / 'kvp.json'
    r = subprocess.run([sys.executable, str(root / 'benchmarks' / 'baselines.py'), '--device', 'cpu', '--only', 'add_rmsnorm', '--out', str(out)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'OUT': ''})
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert 'CPU smoke' in res['card'] and res['rows'] and res['geomean_ratio_best_peer'] is not None
    row = res['rows'][0]
    assert set(row) >= {'preset', 'kind', 'shape', 'backend', 'correct', 'kernel_ms', 'eager_ms', 'compile_ms', 'liger_ms', 'vendor_ms',
                        'ratio_best_peer', 'roofline_pct'}       # the fields, and the verdict and graphed flag beside them
    assert res['complete'] is True and row['verdict'] == 'pass'
    assert (row['kind'], row['backend'], row['correct']) == ('add_rmsnorm', 'triton', True) and row['kernel_ms'] > 0
    bad = subprocess.run([sys.executable, str(root / 'benchmarks' / 'baselines.py'), '--device', 'cpu', '--only', 'nope'],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.count('\n') == 1 and 'unknown kind' in bad.stderr


def test_gated_mlp_plugs_into_llama():
    "The gated_mlp kind takes over HF LlamaMLP through its plug: the patched model matches, the kernel ran once per layer."
    from autokernel import core, runtime
    model, inputs = core.load_model('llama-tiny', 'cpu')
    mlp = model.model.layers[0].mlp
    K, N = mlp.gate_proj.in_features, mlp.gate_proj.out_features
    M = inputs['input_ids'].numel()
    case = ops.make_case('gated_mlp', [(M, K), tensor_meta([K, N], stride=[1, K]), tensor_meta([K, N], stride=[1, K])])
    entry = {'name': 'gm', 'kind': 'gated_mlp', 'backend': 'triton', 'path': str(ops.baseline_path('gated_mlp')),
             'spec': {'case': case, 'test_cases': [], 'dtypes': ['float32']}}
    p = runtime.Patcher([entry], compiled_ops=False)
    with torch.no_grad():
        ref = model(**inputs).logits
        with runtime.patch(model, p):
            out = model(**inputs).logits
    assert p.calls['gm'] == len(model.model.layers) and {m['kind'] for m in p.modules} == {'gated_mlp'}
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def _plug_profiled_attention(model, inputs):
    """Profile `model` on the CPU, extract its attention calls, plug the library's Triton attention into the model through
    the run-time matcher: `(patched outputs, float64 outputs, calls per kernel, attention specs' cases)`."""
    import copy
    from autokernel import runtime
    from autokernel.extract import candidates
    from autokernel.profile import profile
    prof = json_roundtrip(profile(model, inputs, warmup=0, iters=1, wall_reps=1, name='tiny'))
    att = [it for it in candidates(prof)[0] if it['kind'] == 'attention']
    entries = [{'name': f'att{i}', 'kind': 'attention', 'backend': 'triton', 'path': str(ops.baseline_path('attention')),
                'spec': {'case': it['case'], 'test_cases': [], 'dtypes': ['float32']}} for i, it in enumerate(att)]
    p = runtime.Patcher(entries, compiled_ops=False)
    with torch.no_grad():
        with runtime.patch(model, p):
            out = model(**inputs).last_hidden_state
        ref = copy.deepcopy(model).double()(**inputs).last_hidden_state
    return out, ref, dict(p.calls), [it['case'] for it in att]


def json_roundtrip(x):
    import json
    return json.loads(json.dumps(x))


def test_attention_bias_plugs_into_t5_encoder():
    "T5 passes SDPA its relative position bias (+ the padding mask) as a float attn_mask: extracted as the bias input, plugged in."
    from transformers import T5Config, T5EncoderModel
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                   attn_implementation='sdpa')
    model = T5EncoderModel(cfg).eval()
    ids, mask = torch.randint(0, 64, (2, 11)), torch.ones(2, 11, dtype=torch.long)
    mask[1, 7:] = 0                                                     # the second sequence is padded
    out, ref, calls, cases = _plug_profiled_attention(model, {'input_ids': ids, 'attention_mask': mask})
    assert [len(c['inputs']) for c in cases] == [4] and cases[0]['args']['scale'] == 1.0, cases   # q, k, v and the bias
    assert calls == {'att0': cfg.num_layers}, calls
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


def test_sliding_window_attention_plugs_into_mistral():
    "Mistral's sliding window reaches SDPA as a banded boolean mask with GQA heads: extracted, plugged into every layer."
    from transformers import MistralConfig, MistralModel
    torch.manual_seed(0)
    cfg = MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        vocab_size=64, max_position_embeddings=64, sliding_window=4, attn_implementation='sdpa')
    model = MistralModel(cfg).eval()
    out, ref, calls, cases = _plug_profiled_attention(model, {'input_ids': torch.randint(0, 64, (2, 13))})
    assert [c['inputs'][3]['shape'] for c in cases] == [[2, 1, 13, 13]], cases   # one mask for the heads
    assert calls == {'att0': cfg.num_hidden_layers}, calls
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


def test_attention_skips_key_blocks_the_mask_hides():
    "With SKIP_MASKED a key block the mask hides from every row is never read: NaN keys/values there stay out of the output."
    mod = load('attention')
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 48, 16, generator=g, device=DEVICE) for _ in range(3))
    mask = torch.ones(1, 1, 48, 48, dtype=torch.bool, device=DEVICE)
    mask[..., 16:32] = False                                            # keys 16..31 are padding for every query
    want = ops.reference64('attention', (q, k, v, mask), {'causal': False, 'scale': None, 'window': None})
    k[..., 16:32, :], v[..., 16:32, :] = float('nan'), float('nan')
    try:
        mod.PARAMS = {**small_params(mod), 'SKIP_MASKED': 1}
        got = mod.kernel_fn(q, k, v, mask)
        mod.PARAMS = {**small_params(mod), 'SKIP_MASKED': 0}
        unskipped = mod.kernel_fn(q, k, v, mask)
    finally:
        mod.PARAMS = dict(load('attention').PARAMS)
    assert ops.compare(got, want, 'float32')['ok']
    assert unskipped.isnan().any()                                       # without skipping, 0 * NaN reaches the output


def test_gqa_head_dim_128_plugs_into_qwen2():
    "Qwen2 with head dim 128 and grouped-query heads: no mask, so HF calls SDPA with is_causal and enable_gqa (k, v uncopied)."
    from transformers import Qwen2Config, Qwen2Model
    torch.manual_seed(0)
    cfg = Qwen2Config(hidden_size=256, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                      vocab_size=64, max_position_embeddings=64, attn_implementation='sdpa')
    model = Qwen2Model(cfg).eval()
    out, ref, calls, cases = _plug_profiled_attention(model, {'input_ids': torch.randint(0, 64, (1, 9))})
    assert [[m['shape'] for m in c['inputs']] for c in cases] == [[[1, 2, 9, 128], [1, 1, 9, 128], [1, 1, 9, 128]]], cases
    assert cases[0]['args']['causal'] and calls == {'att0': cfg.num_hidden_layers}, (cases, calls)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-4)


# --- the matmul's structural choices (persistent, split-K, tensor descriptors, per-shape configs) ----------------------

def _recording(mod):
    "Wrap the matmul's launcher: every launch of the GEMM kernel appends (meta, programs in its grid)."
    seen, real = [], mod._launch

    def launch(kernel, grid, args, meta, num_warps, num_stages):
        seen.append((meta, grid(meta)[0]))
        return real(kernel, grid, args, meta, num_warps, num_stages)
    mod._launch = launch
    return seen


MM_STRUCTURE = [   # (overrides of small tiles, case inputs, activation): K not a multiple of BLOCK_K * SPLIT_K
    (dict(PERSISTENT=1), [(37, 40), transposed_meta([40, 56]), (56,)], 'gelu_tanh'),
    (dict(PERSISTENT=1), [(2, 9, 20), (2, 20, 33), None], None),                            # bmm: batch in the units
    (dict(SPLIT_K=2), [(5, 75), transposed_meta([75, 24]), (24,)], 'silu'),
    (dict(SPLIT_K=3), [(3, 7, 100), (100, 18), (18,)], 'relu'),
    (dict(SPLIT_K=4), [(2, 3, 9, 70), (2, 3, 70, 20), None], 'gelu'),                       # split-K over a batch
    (dict(SPLIT_K=4, PERSISTENT=1), [(6, 130), transposed_meta([130, 17]), (17,)], None),
    (dict(TMA=1), [(19, 40), transposed_meta([40, 24]), (24,)], 'gelu_tanh'),               # b = w.t(): K-major tiles
    (dict(TMA=1), [(21, 48), (48, 40), None], None),                                        # b row-major
    (dict(TMA=1, PERSISTENT=1, SPLIT_K=3), [(13, 88), transposed_meta([88, 32]), (32,)], 'relu'),
]


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('i', range(len(MM_STRUCTURE)))
def test_matmul_structural_choice(i, dtype):
    "Each structural choice, forced, against float64 on fresh inputs; the launch shows the choice was really taken."
    over, inputs, act = MM_STRUCTURE[i]
    mod = load('matmul')
    mod.PARAMS = {**small_params(mod), **over}
    seen = _recording(mod)
    case = ops.make_case('matmul', inputs, activation=act) if act else ops.make_case('matmul', inputs)
    for seed in (1, 2):
        res = check(mod, 'matmul', case, dtype, 10 * i + seed)
        assert res['ok'], (over, inputs, dtype, res)
    meta, programs = seen[-1]
    assert meta['SPLIT_K'] == over.get('SPLIT_K', 1)
    hopper = DEVICE == 'cpu' or torch.cuda.get_device_capability()[0] >= 9
    assert meta['TMA'] == (bool(over.get('TMA')) and hopper), 'aligned inputs take the descriptor path (interpreter, cc >= 9)'
    ashape, bshape = case['inputs'][0]['shape'], case['inputs'][1]['shape']
    M, batch = (math.prod(ashape[:-1]), 1) if len(bshape) == 2 else (ashape[-2], math.prod(ashape[:-2]))
    units = -(-M // meta['BLOCK_M']) * -(-bshape[-1] // meta['BLOCK_N']) * meta['SPLIT_K'] * batch
    assert programs == (mod._programs(units, torch.device(DEVICE)) if over.get('PERSISTENT') else units)
    assert DEVICE != 'cpu' or mod._programs(units, torch.device('cpu')) == 3   # the interpreter's persistent grid loops
    assert units > 3


def test_matmul_split_k_is_deterministic():
    "Split-K adds its partials in a fixed order (no atomics): two runs agree bit for bit, and match the unsplit GEMM."
    mod = load('matmul')
    g = torch.Generator().manual_seed(5)
    a, w = (torch.randn(*s, generator=g).to(DEVICE) for s in ((7, 150), (30, 150)))
    mod.PARAMS = {**small_params(mod), 'SPLIT_K': 4}
    first, second = mod.kernel_fn(a, w.t()), mod.kernel_fn(a, w.t())
    assert torch.equal(first, second)
    want = (a.double() @ w.double().t())
    assert ops.compare(first, want, 'float32')['ok']


def test_matmul_tma_falls_back_where_descriptors_do_not_fit():
    "Rows that are not 16-byte aligned (K = 33 in float32) or a batch take the plain loads, and stay correct."
    mod = load('matmul')
    mod.PARAMS = {**small_params(mod), 'TMA': 1}
    seen = _recording(mod)
    for inputs in ([(9, 33), transposed_meta([33, 20]), (20,)], [(2, 9, 32), (2, 32, 24), None]):
        res = check(mod, 'matmul', ops.make_case('matmul', inputs), 'float32', 3)
        assert res['ok'], (inputs, res)
        assert seen[-1][0]['TMA'] is False


def test_matmul_per_shape_dispatch():
    "CONFIGS[(M bucket, N, K)] gives each profiled shape its own config; a shape outside the table gets PARAMS."
    mod = load('matmul')
    mod.PARAMS = small_params(mod)
    mod.CONFIGS = {(8, 24, 96): {'SPLIT_K': 3, 'BLOCK_N': 32}, (64, 40, 32): {'PERSISTENT': 1, 'BLOCK_M': 32}}
    seen = _recording(mod)
    shapes = [((5, 96), 24, dict(SPLIT_K=3, BLOCK_N=32)),       # M = 5 falls in the bucket 8
              ((2, 20, 32), 40, dict(SPLIT_K=1, BLOCK_M=32)),   # leading dims fold: M = 40, bucket 64
              ((5, 97), 24, dict(SPLIT_K=1, BLOCK_N=16))]       # K differs: PARAMS
    for i, (ashape, N, want) in enumerate(shapes):
        K = ashape[-1]
        res = check(mod, 'matmul', ops.make_case('matmul', [ashape, transposed_meta([K, N]), (N,)], activation='silu'),
                    'bfloat16', 40 + i)
        assert res['ok'], (ashape, N, res)
        meta, programs = seen[-1]
        assert {k: meta[k] for k in want} == want, (ashape, meta)
    assert mod.config_for(40, 40, 32)['PERSISTENT'] == 1 and mod.config_for(100, 40, 32)['PERSISTENT'] == 0
    mod.CONFIGS = {(8, 24, 96): {'BLOCK_Q': 64}}
    with pytest.raises(ValueError, match='unknown knobs'):
        mod.kernel_fn(torch.randn(5, 96, device=DEVICE), torch.randn(96, 24, device=DEVICE))


@gpu
def test_gpu_matmul_structures():
    "On the GPU, at presets' shapes: split-K on skinny GEMMs, persistent + TMA on square ones, the LM head's 50,257 columns."
    bf = 'bfloat16'
    runs = [(dict(SPLIT_K=4), [(16, 4096), transposed_meta([4096, 4096], bf), None], None),
            (dict(SPLIT_K=3, TMA=1), [(48, 3072), transposed_meta([3072, 768], bf), (768,)], 'gelu_tanh'),
            (dict(PERSISTENT=1, TMA=1), [(2048, 768), transposed_meta([768, 3072], bf), (3072,)], 'gelu_tanh'),
            (dict(PERSISTENT=1), [(8, 12, 256, 64), (8, 12, 64, 256), None], None),
            (dict(PERSISTENT=1, TMA=1, SPLIT_K=2), [(255, 768), transposed_meta([768, 50257], bf), None], None),
            (dict(TMA=1), [(1000, 1024), (1024, 4096), (4096,)], 'silu')]
    for over, inputs, act in runs:
        mod = load('matmul')
        mod.PARAMS = {**mod.PARAMS, **over}
        seen = _recording(mod)
        case = ops.make_case('matmul', inputs, bf, **({'activation': act} if act else {}))
        for dtype in DTYPES:
            res = check(mod, 'matmul', case, dtype, 7)
            assert res['ok'], (over, inputs, dtype, res)
        assert seen[-1][0]['TMA'] == bool(over.get('TMA')) and seen[-1][0]['SPLIT_K'] == over.get('SPLIT_K', 1)


# --- every structural choice of every kernel (the matmul's have their own tests above) ------------------------------

def structural_knobs(space):
    "The knobs whose values are not sizes: categorical ones (ALGO) and on/off flags (SKIP_MASKED, PERSISTENT)."
    def structural(vals):
        return not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) or set(vals) <= {0, 1}
    return [k for k, vals in space.items() if structural(vals)]


STRUCTURAL = [(kind, k, v) for kind in sorted(ops.KINDS) if kind != 'matmul'
              for k in structural_knobs(load(kind).SPACE) for v in load(kind).SPACE[k]]


@pytest.mark.parametrize('kind,knob,value', STRUCTURAL, ids=[f'{a}-{b}={c}' for a, b, c in STRUCTURAL])
def test_every_structural_choice(kind, knob, value):
    "Each value of each structural knob, forced (with tiny blocks: loops with ragged tails), on every tiny case against float64."
    mod = load(kind)
    mod.PARAMS = {**small_params(mod), knob: value}
    for i, case in enumerate(tiny_cases(kind)):
        for dtype in ('float32', 'bfloat16'):
            res = check(mod, kind, case, dtype, 500 + i)
            assert res['ok'], (kind, knob, value, dtype, case, res)


@pytest.mark.parametrize('kind', ['gelu', 'silu_mul', 'bias_gelu'])
def test_persistent_elementwise_loops_over_tiles(kind):
    "PERSISTENT=1 really launches fewer programs than tiles (3 in the interpreter), each walking several tiles, and stays exact."
    mod = load(kind)
    grids, real = [], mod.programs
    mod.programs = lambda tiles, device, persistent: grids.append((tiles, real(tiles, device, persistent))) or grids[-1][1]
    for persistent in (0, 1):
        mod.PARAMS = {**small_params(mod), 'PERSISTENT': persistent}
        res = check(mod, kind, tiny_cases(kind)[-1], 'float32', 7)
        assert res['ok'], (kind, persistent, res)
    (tiles0, progs0), (tiles1, progs1) = grids
    assert tiles0 == tiles1 == progs0 > 3 and progs1 == (3 if DEVICE == 'cpu' else min(tiles1, progs1))


def test_reduce_split_row_splits_each_row():
    "ALGO='split_row' launches several programs per row (partial sums, then a fixed-order sum), exact for sum and mean."
    mod = load('reduce')

    class Recorded:
        def __init__(self, kernel):
            self.kernel, self.grids = kernel, []

        def __getitem__(self, grid):
            self.grids.append(grid)
            return self.kernel[grid]
    mod.reduce_split_kernel = rec = Recorded(mod.reduce_split_kernel)
    mod.PARAMS = {**small_params(mod), 'ALGO': 'split_row', 'ROWS_PER_PROG': 1}
    for i, op in enumerate(('sum', 'mean')):
        case = ops.make_case('reduce', [(2, 200)], op=op)
        res = check(mod, 'reduce', case, 'float32', 30 + i)
        assert res['ok'], (op, res)
    assert rec.grids and all(g[1] > 1 for g in rec.grids), rec.grids


@pytest.mark.parametrize('algo', ['per_row', 'split_row'])
def test_reduce_of_empty_rows_matches_pytorch(algo):
    "Rows of length 0: the sum is 0 and the mean NaN, as in PyTorch (the kernel used to fail reshaping them)."
    import torch
    mod = load('reduce')
    mod.PARAMS = {**mod.PARAMS, 'ALGO': algo}
    x = torch.randn(3, 0, device=DEVICE)
    torch.testing.assert_close(mod.kernel_fn(x, op='sum'), x.double().sum(-1).float())
    torch.testing.assert_close(mod.kernel_fn(x, op='mean'), x.double().mean(-1).float(), equal_nan=True)


EFFECTIVE = [k for k in sorted(ops.KINDS) if hasattr(load(k), 'effective_params')]


def effective_cases(kind):
    "Two tiny cases, and for the row-wise kinds a row longer than a one_pass tile (one_pass falls back to the other algorithm)."
    cases = tiny_cases(kind)[:2]
    mod = load(kind)
    if 'MAX_ONE_PASS' in vars(mod):
        cases.append(ops.KINDS[kind].example(lead=(1,), N=mod.MAX_ONE_PASS + 77))
    return cases


def twins(mod, case, rng, n):
    "Up to `n` pairs of different SPACE points whose effective params at `case` are equal (a point and a one-knob change)."
    eff = lambda p: json.dumps(mod.effective_params(dict(p), case), sort_keys=True)
    pairs = []
    for _ in range(100):
        p = {k: rng.choice(v) for k, v in mod.SPACE.items()}
        same = [{**p, k: v} for k, vals in mod.SPACE.items() for v in vals if v != p[k] and eff({**p, k: v}) == eff(p)]
        if same:
            pairs.append((p, rng.choice(same)))
        if len(pairs) >= n:
            break
    return pairs


@pytest.mark.parametrize('kind', EFFECTIVE)
def test_effective_params_are_honest(kind):
    "Two SPACE points with equal effective params at a case are one kernel there: bit-identical outputs on the same inputs."
    mod = load(kind)
    rng, pairs = random.Random(kind), 0
    for i, case in enumerate(effective_cases(kind)):
        args, kw = ops.make_inputs(kind, ops.with_dtype(case, 'float32'), DEVICE, 900 + i)
        for p, q in twins(mod, case, rng, 2):
            outs = []
            for params in (p, q):
                mod.PARAMS = params
                out = mod.kernel_fn(*args, **kw)
                outs.append(out if isinstance(out, tuple) else (out,))
            assert all(torch.equal(a, b) for a, b in zip(*outs)), (kind, case, p, q)
            pairs += 1
    assert pairs >= 3, (kind, pairs)


def test_effective_params_normalise_what_is_clamped():
    "softmax at a row of 768: a one_pass BLOCK_N is the padded row; the online algorithm's block clamps to it; rows to the case."
    mod = load('softmax')
    case = {'inputs': [{'shape': [3, 768], 'dtype': 'float32'}], 'args': {}}
    p = dict(mod.PARAMS, BLOCK_N=256, ROWS_PER_PROG=16)
    assert mod.effective_params(p, case) == {**p, 'BLOCK_N': 1024, 'ROWS_PER_PROG': 4}
    assert mod.effective_params({**p, 'ALGO': 'online', 'BLOCK_N': 4096}, case)['BLOCK_N'] == 1024
    assert mod.effective_params({**p, 'ALGO': 'online', 'BLOCK_N': 512}, case)['BLOCK_N'] == 512
