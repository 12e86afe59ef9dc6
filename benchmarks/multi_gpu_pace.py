"""Candidates per hour of the optimize loop on 1, 2 and 4 GPUs of one host (`--gpus N`), and the same through Ray
(`--cluster ray`, a local Ray: one actor with num_gpus=1 per GPU), each a fresh run of the same profile and budget.

    python benchmarks/multi_gpu_pace.py --preset gpt2 --budget 5m                     # on a 4-GPU machine (issue #18)
    python benchmarks/multi_gpu_pace.py --preset gpt2 --budget 2m --no-ray            # the same in two calls: local ...
    python benchmarks/multi_gpu_pace.py --preset gpt2 --budget 2m --only-ray          # ... then Ray, merged into the file
    python benchmarks/multi_gpu_pace.py --preset gpt2 --budget 5m --gpus 1,2 --no-ray # fewer GPUs; counts above the
                                                                                      # visible GPUs are skipped, and said so
    python benchmarks/multi_gpu_pace.py --device cpu --budget 2m --max-experiments 2 --top 1 --gpus 1,2 --inflight 1 --out /tmp/p.json  # CPU smoke

On a GPU it writes benchmarks/results/multi_gpu_pace.json (keeping the runs of other labels already there for the same
card), `{"card", "gpus": {"1": candidates_per_hour, "2": ..., "4": ...}, "ray": {...}, "runs": [...]}` (each run: experiments, screened, kept, wall time, the keep decisions per kernel); on the CPU
(`--device cpu`: pipelines sharing the CPU, Ray with logical GPUs: the plumbing, not GPU numbers) only under $OUT or --out.
Candidates per hour is `optimize.run_summary`'s: experiments over the wall time during which any experiment ran.
"""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from _common import ROOT, table, write_out

from autokernel import core
from autokernel.core import AutokernelError


def counts_arg(s: str) -> list[int]:
    try: out = sorted({int(x) for x in s.split(',') if x.strip()})
    except ValueError: out = []
    if not out or min(out) < 1: raise argparse.ArgumentTypeError(f'{s!r}: a list of GPU counts, e.g. 1,2,4')
    return out


def pace(s: dict, wall_s: float, label: str, n: int, engine: str) -> dict:
    "One run of the results file, from `optimize.run_summary` of the run."
    return dict(label=label, engine=engine, gpus=n, experiments=s['experiments'], screened=s.get('screened'),
                fully_judged=s.get('fully_judged'), kept=sum(k['kept'] for k in s['kernels']), wall_s=round(wall_s, 1),
                candidates_per_hour=round(s['experiments_per_hour'], 1) if s.get('experiments_per_hour') else None,
                best_ms={k['kernel']: k['best_ms'] for k in s['kernels']}, amdahl_eager=s.get('amdahl_eager'),
                comparable=s.get('comparable'), run=s['run'])


def merged(path, card: str, runs: list[dict]) -> list[dict]:
    "`runs` with the earlier runs of the results file at `path` (same card, other labels), each with its scaling filled in."
    old = json.loads(path.read_text()) if path and path.exists() else {}
    labels = {r['label'] for r in runs}
    runs = [r for r in old.get('runs', []) if r['label'] not in labels] + runs if old.get('card') == card else runs
    one = {r['engine']: r['candidates_per_hour'] for r in runs if r['gpus'] == 1}
    local = {r['gpus']: r['candidates_per_hour'] for r in runs if r['engine'] == 'local'}
    for r in runs:
        r['x_one'] = round(r['candidates_per_hour'] / one[r['engine']], 2) if r['candidates_per_hour'] and one.get(r['engine']) else None
        r['ray_vs_local'] = (round(r['candidates_per_hour'] / local[r['gpus']], 2)
                             if r['engine'] == 'ray' and r['candidates_per_hour'] and local.get(r['gpus']) else None)
    return sorted(runs, key=lambda r: (r['engine'] != 'local', r['gpus']))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--preset', default=None, help='the model (default: gpt2 on a GPU, gpt2-tiny on the CPU)')
    p.add_argument('--budget', default='5m', help='wall-time budget of each run')
    p.add_argument('--max-experiments', type=int, default=None)
    p.add_argument('--top', type=int, default=8)
    p.add_argument('--gpus', type=counts_arg, default=[1, 2, 4], help='GPU counts to run, e.g. 1,2,4')
    p.add_argument('--no-ray', action='store_true', help='skip the runs through Ray')
    p.add_argument('--only-ray', action='store_true', help='only the runs through Ray (merged into the results file of an earlier call)')
    p.add_argument('--device', default='auto')
    p.add_argument('--inflight', type=int, default=None, help='experiments in flight per pipeline (default: settings loop_inflight)')
    p.add_argument('--out', default=None, help='results file (default on a GPU: benchmarks/results/multi_gpu_pace.json)')
    a = p.parse_args(argv)
    try:
        dev = core.get_device(a.device)
        gpu = core.is_gpu(dev)
        core.parse_duration(a.budget)
        from autokernel.optimize import optimize
        from autokernel.profile import profile
        card = core.device_name(dev)
        import torch
        visible = torch.cuda.device_count() if gpu else max(a.gpus)
        env = core.environment(dev)
        print(f"card: {card}  ({visible} visible{'' if gpu else ' CPU pipelines'})  torch {env['torch']}  triton {env['triton']}", flush=True)
        preset = a.preset or ('gpt2' if gpu else 'gpt2-tiny')
        model, inputs = core.load_model(preset, dev)
        prof = profile(model, inputs, name=preset, device=dev)
        del model, inputs
    except AutokernelError as e:
        print(f'multi_gpu_pace: {e}', file=sys.stderr); return 2
    out_dir = os.environ.get('OUT')
    if not gpu and not (a.out or out_dir):
        print('multi_gpu_pace: on the CPU it writes only under $OUT or --out (a smoke test, not GPU numbers)', file=sys.stderr); return 2
    base = Path(out_dir) if out_dir else core.runs_dir()
    stamp = time.strftime('%Y%m%d-%H%M%S')
    engines = ([] if a.only_ray else [('local', None)]) + ([] if a.no_ray else [('ray', 'ray')])
    runs, skipped = [], []
    for engine, cluster in engines:
        for n in a.gpus:
            if n > visible:
                skipped.append(f'{engine} x{n}: {visible} GPU(s) visible'); continue
            label = f'{engine}-{n}'
            run = base / f'multi-gpu-{preset}-{label}-{stamp}'
            shutil.rmtree(run, ignore_errors=True)
            print(f'\n== {label}: {n} pipeline(s){" through Ray" if cluster else ""}, budget {a.budget}', flush=True)
            t0 = time.time()
            try:
                s = optimize(run, profile=prof, top_n=a.top, budget=a.budget, max_experiments=a.max_experiments,
                             device='cuda' if gpu else 'cpu', gpus=n, cluster=cluster, inflight=a.inflight, progress=False,
                             say=lambda m: print(m, flush=True))
            except AutokernelError as e:
                skipped.append(f'{label}: {e}'); print(f'skipped: {e}', flush=True); continue
            runs.append(pace(s, time.time() - t0, label, n, engine))
    path = Path(a.out) if a.out else (ROOT/'benchmarks'/'results'/'multi_gpu_pace.json' if gpu else None)
    runs = merged(path, card, runs)
    print('\n' + table(runs, ['label', 'gpus', 'experiments', 'screened', 'kept', 'wall_s', 'candidates_per_hour', 'x_one', 'ray_vs_local']))
    for sk in skipped: print(f'skipped {sk}')
    print(f"\n{preset} on {card}, budget {a.budget} per run" + ('' if gpu else '  [CPU pipelines: a smoke test, not GPU numbers]'))
    res = {'card': card, 'preset': preset, 'budget': a.budget, 'comparable': gpu,
           'gpus': {str(r['gpus']): r['candidates_per_hour'] for r in runs if r['engine'] == 'local'},
           'ray': {str(r['gpus']): r['candidates_per_hour'] for r in runs if r['engine'] == 'ray'},
           'runs': runs, 'skipped': skipped}
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1) + '\n')
        print(f'wrote {path}')
    write_out('multi_gpu_pace.json', res)
    return 0


if __name__ == '__main__':
    sys.exit(main())
