"""GPU correctness suite of every CUDA C++ baseline in `kernels/<kind>/cuda.py` (skipped without a GPU).

For every kind: build the extension (all kinds in parallel worker processes, so the torch-header compiles overlap),
then for each dtype and each test case of a realistic case (GPT-2 / LLaMA shapes, `ops.KINDS[kind].test_cases`),
plus a few argument variants (activations, causal or not, sum or mean...), run `kernel_fn` on fresh random inputs
and judge it against the float64 reference with `ops.compare`. Two non-default PARAMS sets from SPACE (the first
and the last value of every knob: the smallest and largest blocks, vectors off and widest) run too, in bfloat16
on every case and in every dtype on the tiny case.

On a GPU machine:  python3 -m pytest tests/test_cuda_gpu.py  (one test per kind), or without pytest, from the repository
root:  PYTHONPATH=$PWD python3 tests/test_cuda_gpu.py [--kinds a,b]  (prints a table, writes `$OUT/check_cuda.json` when
OUT is set, exits 1 on any failure).
"""
import argparse
import json
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from autokernel import ops

try: import pytest
except ImportError: pytest = None          # a bare GPU image: run as a script (see above)

DTYPES = ('bfloat16', 'float16', 'float32')


def realistic_cases() -> dict:
    "kind -> list of (label, case): a realistic case (its test cases are derived from it) and argument variants."
    mc, tm = ops.make_case, ops.transposed_meta
    bf = 'bfloat16'
    return {
        'matmul': [('gpt2_fc', mc('matmul', [[8, 1024, 768], tm([768, 3072], bf), [3072]], bf, activation='gelu_tanh')),
                   ('bmm_qk', mc('matmul', [[8, 12, 256, 64], tm([8, 12, 64, 256], bf), None], bf)),
                   *[(f'act_{a}', mc('matmul', [[3, 70, 96], tm([96, 50], bf), [50]], bf, activation=a))
                     for a in ('gelu', 'relu', 'silu')]],
        'softmax': [('gpt2_scores', mc('softmax', [[8, 12, 1024, 1024]], bf))],
        'layernorm': [('gpt2_ln', mc('layernorm', [[8, 1024, 768], [768], [768]], bf, eps=1e-5)),
                      ('no_affine', mc('layernorm', [[64, 300], None, None], bf, eps=1e-5))],
        'rmsnorm': [('llama_rms', mc('rmsnorm', [[4, 1024, 4096], [4096]], bf, eps=1e-6))],
        'add_layernorm': [('gpt2_add_ln', mc('add_layernorm', [[8, 1024, 768], [8, 1024, 768], [768], [768]], bf, eps=1e-5))],
        'gelu': [('gpt2_mlp', mc('gelu', [[8, 1024, 3072]], bf, approximate='tanh')),
                 ('erf', mc('gelu', [[4, 333, 1000]], bf, approximate='none'))],
        'bias_gelu': [('gpt2_mlp', mc('bias_gelu', [[8, 1024, 3072], [3072]], bf, approximate='tanh')),
                      ('erf', mc('bias_gelu', [[4, 333, 1000], [1000]], bf, approximate='none'))],
        'silu_mul': [('llama_mlp', mc('silu_mul', [[4, 1024, 11008], [4, 1024, 11008]], bf))],
        'cross_entropy': [('gpt2_lm', mc('cross_entropy', [[8192, 50257], [8192]], bf))],
        'rotary': [('llama_rope', mc('rotary', [[4, 32, 1024, 128], [4, 1024, 128], [4, 1024, 128]], bf)),
                   ('bcast_tables', mc('rotary', [[2, 8, 300, 64], [1, 300, 64], [1, 300, 64]], bf))],
        'attention': [('gpt2_causal', mc('attention', [[8, 12, 1024, 64], [8, 12, 1024, 64], [8, 12, 1024, 64]], bf, causal=True)),
                      ('llama_gqa', mc('attention', [[2, 32, 512, 128], [2, 8, 512, 128], [2, 8, 512, 128]], bf, causal=True)),
                      ('full_cross', mc('attention', [[2, 4, 100, 64], [2, 2, 300, 64], [2, 2, 300, 64]], bf,
                                        causal=False, scale=0.2)),
                      ('d256', mc('attention', [[1, 2, 70, 256], [1, 2, 70, 256], [1, 2, 70, 256]], bf, causal=True)),
                      ('t5_bias', mc('attention', [[4, 8, 300, 64]] * 3 + [[1, 8, 300, 300]], bf, scale=1.0)),
                      ('padding_mask', mc('attention', [[2, 4, 200, 64]] * 3 + [ops.tensor_meta([2, 1, 1, 200], 'bool')], bf)),
                      ('mistral_window', mc('attention', [[2, 8, 700, 128], [2, 2, 700, 128], [2, 2, 700, 128]], bf,
                                            causal=True, window=128))],
        'reduce': [('sum', mc('reduce', [[8, 1024, 768]], bf, op='sum')), ('mean', mc('reduce', [[4, 777, 1000]], bf, op='mean'))],
    }


def params_variants(mod) -> list:
    "The kernel's PARAMS, then the first and the last value of every knob of SPACE."
    first = {k: v[0] for k, v in mod.SPACE.items()}
    last = {k: v[-1] for k, v in mod.SPACE.items()}
    out = [dict(mod.PARAMS)]
    for p in (first, last):
        if p not in out: out.append(p)
    return out


def _build(kind, params):
    "Worker process: build (or find in the cache) the extension of `kind` with `params`; returns seconds."
    t = time.time()
    mod = ops.load_kernel_module(ops.baseline_path(kind, 'cuda'))
    mod.PARAMS = dict(params)
    (mod._module)()
    return time.time() - t


def build_all(kinds, workers):
    "Build every kind (and every PARAMS variant that changes the source or flags) in parallel processes."
    jobs, seen = [], set()
    for kind in kinds:
        mod = ops.load_kernel_module(ops.baseline_path(kind, 'cuda'))
        for p in params_variants(mod):
            compile_time = hasattr(mod, '_MODULES')      # knobs baked into the build: one build per PARAMS set
            key = (kind, json.dumps(p, sort_keys=True)) if compile_time else (kind, '')
            if key not in seen: seen.add(key); jobs.append((kind, p))
    secs, errors = {}, {}
    import multiprocessing as mp
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context('spawn')) as ex:
        futs = {ex.submit(_build, k, p): (k, p) for k, p in jobs}
        for f in as_completed(futs):
            k, p = futs[f]
            try: secs[k] = secs.get(k, 0.0) + f.result()
            except Exception as e:  # noqa: BLE001 - a failed build is a result to report
                errors[k] = f'build failed: {type(e).__name__}: {str(e)[-3000:]}'
    return secs, errors


def run_case(kind, mod, case, dtype, seed):
    "Judge `kernel_fn` on one case and dtype against the float64 reference (speed is the bench's job, not this suite's)."
    k = ops.get_kind(kind)
    c = ops.with_dtype(case, dtype)
    args, kw = k.make_inputs(c, 'cuda', seed)
    out = mod.kernel_fn(*args, **kw)
    torch.cuda.synchronize()
    return ops.compare(out, ops.reference64(k, args, kw, device='cuda'), dtype)


def shape_str(case):
    return ' '.join('-' if m is None else 'x'.join(map(str, m['shape'])) for m in case['inputs'])


def check_kind(kind, labelled, build_s):
    rows = []
    mod = ops.load_kernel_module(ops.baseline_path(kind, 'cuda'))
    variants = params_variants(mod)
    tcs = ops.get_kind(kind).test_cases
    for vi, params in enumerate(variants):
        mod.PARAMS = dict(params)
        for label, base in labelled:
            cases = tcs(base) if label == labelled[0][0] else [base]
            for ci, case in enumerate(cases):
                tiny = ci == len(cases) - 1
                dtypes = DTYPES if vi == 0 or tiny else ('bfloat16',)
                for dtype in dtypes:
                    row = {'kind': kind, 'params': params, 'default_params': vi == 0, 'dtype': dtype,
                           'case': f'{label}[{ci}]' if len(cases) > 1 else label, 'shapes': shape_str(case),
                           'args': case.get('args', {}), 'build_s': round(build_s, 1)}
                    t = time.time()
                    try:
                        row.update(run_case(kind, mod, case, dtype, seed=1 + ci))
                    except Exception as e:  # noqa: BLE001 - any error is a failed check
                        row.update(ok=False, max_rel_err=float('inf'), detail=f'{type(e).__name__}: {e}'[-2000:],
                                   trace=traceback.format_exc()[-3000:])
                    row['run_s'] = round(time.time() - t, 2)
                    rows.append(row)
                    torch.cuda.empty_cache()
                    print_row(row)
    return rows


def print_row(r):
    p = '' if r['default_params'] else ' ' + ','.join(f'{k}={v}' for k, v in r['params'].items())
    err = r.get('max_rel_err', float('inf'))
    print(f"{r['kind']:14s} {r['dtype']:9s} {r['case'] + p:48s} {'ok  ' if r['ok'] else 'FAIL'} {err:9.3g} "
          f"{r['build_s']:6.1f}s  [{r['shapes']}] {'' if r['ok'] else r.get('detail', '')}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--kinds', default='', help='comma-separated kinds (default: all)')
    ap.add_argument('--workers', type=int, default=max(1, min(12, (os.cpu_count() or 2) - 2)))
    a = ap.parse_args(argv)
    if not torch.cuda.is_available(): print('test_cuda_gpu: no GPU'); return 2
    cases = realistic_cases()
    kinds = [k for k in a.kinds.split(',') if k] or list(cases)
    t0 = time.time()
    secs, errors = build_all(kinds, a.workers)
    print(f'built {len(kinds)} kinds in {time.time() - t0:.0f}s on {torch.cuda.get_device_name()}', flush=True)
    print(f"{'kind':14s} {'dtype':9s} {'case':48s} ok   max_rel_err build", flush=True)
    rows = []
    for kind in kinds:
        if kind in errors:
            rows.append({'kind': kind, 'ok': False, 'detail': errors[kind]}); print(kind, errors[kind]); continue
        rows += check_kind(kind, cases[kind], secs.get(kind, 0.0))
    bad = [r for r in rows if not r['ok']]
    summary = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'elapsed_s': round(time.time() - t0, 1),
               'checks': len(rows), 'failures': len(bad), 'ok': not bad}
    print(json.dumps(summary))
    if os.environ.get('OUT'):
        with open(os.path.join(os.environ['OUT'], 'check_cuda.json'), 'w') as f:
            json.dump({'summary': summary, 'rows': rows}, f, indent=1, default=str)
    return 0 if not bad else 1


if pytest is not None:
    @pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
    @pytest.mark.parametrize('kind', sorted(realistic_cases()))
    def test_cuda_baseline_at_realistic_shapes(kind):
        secs, errors = build_all([kind], 1)
        assert kind not in errors, errors[kind]
        rows = check_kind(kind, realistic_cases()[kind], secs.get(kind, 0.0))
        bad = [f"{r['dtype']} {r['case']} {r['params']}: {r.get('detail', '')}" for r in rows if not r['ok']]
        assert rows and not bad, bad


if __name__ == '__main__':
    sys.exit(main())
