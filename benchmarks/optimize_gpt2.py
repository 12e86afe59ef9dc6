"""A timed optimize run on the GPT-2 preset profile with the built-in search (GPU).

    python benchmarks/optimize_gpt2.py --budget 8m            # from the repository root, on the GPU machine

    python benchmarks/optimize_gpt2.py --summary runs/examples/gpt2-h100   # the same printout for an existing run (any machine)

Needs only torch, triton and the standard library (no openai, no tqdm needed). Writes the run folder to
$OUT/gpt2-search (or runs/gpt2-search-<time> without $OUT); re-running with the same --run resumes it.
Prints experiments per hour, per-kernel speedups against eager and torch.compile, % of roofline, and the
scheduler's decisions.
"""
import argparse
import collections
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CWD = Path.cwd()                     # where relative --summary / --run paths are meant from
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--profile', default='presets/gpt2.profile.json')
    ap.add_argument('--budget', default='8m', help='wall-time budget of the experiments (a command may run 10 min in all)')
    ap.add_argument('--top', type=int, default=8)
    ap.add_argument('--backend', default='triton', choices=['triton', 'cuda'])
    ap.add_argument('--max-experiments', type=int, default=None)
    ap.add_argument('--run', default=None)
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--fresh', action='store_true', help='delete the run folder first instead of resuming it')
    ap.add_argument('--summary', metavar='RUN', default=None, help='only print the summary of an existing run folder')
    a = ap.parse_args(argv)

    from autokernel import core
    from autokernel.optimize import optimize, run_summary
    if a.summary:
        run = CWD / a.summary
        if not (run / 'results.jsonl').exists(): raise SystemExit(f"{run}: no results.jsonl there (not a run folder)")
        report(run, run_summary(run, show=False))
        return 0
    if not Path(a.profile).exists():
        raise SystemExit(f"{a.profile} not found: profile GPT-2 first, e.g. "
                         f"`python -c \"from autokernel.cli import main; main(['profile', '--preset', 'gpt2', '--out', '{a.profile}'])\"`")
    out = os.environ.get('OUT')
    run = CWD / a.run if a.run else (Path(out) / f'gpt2-search-{a.backend}' if out else
                                     core.runs_dir() / f"gpt2-search-{a.backend}-{time.strftime('%Y%m%d-%H%M%S')}")
    if a.fresh and run.exists(): shutil.rmtree(run)
    print(f'device: {core.device_name(core.get_device(a.device))}  torch {core.environment(a.device)["torch"]}  '
          f'triton {core.environment(a.device)["triton"]}  run: {run}', flush=True)
    t0 = time.time()
    s = optimize(run, profile=a.profile, top_n=a.top, budget=a.budget, agent='search', backend=a.backend,
                 max_experiments=a.max_experiments, device=a.device, progress=False, say=lambda m: print(m, flush=True))
    report(run, s, time.time() - t0)
    return 0


def report(run, s, wall=None):
    "Print the scheduler's decisions, the per-kernel results and the pace of the run in folder `run`."
    from autokernel import core
    from autokernel.optimize import format_summary
    print('\n=== scheduler decisions ===')
    sched = core.read_jsonl(run / 'schedule.jsonl')
    picks = collections.Counter(d['kernel'] for d in sched if d['decision'] in ('pick', 'comeback'))
    prev = None
    for d in sched:
        if d['decision'] in ('pick', 'comeback') and d['kernel'] == prev: continue
        if d['decision'] in ('pick', 'comeback', 'exhausted', 'fallback', 'stop'):
            print(f"  {d['decision']:<9} {d.get('kernel') or '':<16} {d.get('reason') or ''}"[:260])
        if d['decision'] in ('pick', 'comeback'): prev = d['kernel']
    print('  experiments per kernel: ' + ', '.join(f'{k} {n}' for k, n in sorted(picks.items())))

    print('\n=== results ===')
    print(format_summary(s))
    rows = core.read_jsonl(run / 'results.jsonl')
    exps = [r for r in rows if r['decision'] != 'baseline']
    verdicts = collections.Counter(r.get('verdict') for r in exps)
    print(f"verdicts: {dict(verdicts)}; kept {sum(r['kept'] for r in exps)} of {len(exps)}")
    if s['experiments_per_hour']:
        print(f"experiments per hour: {s['experiments_per_hour']:.0f} (experiment time)" + (
              f", {len(exps) / (wall / 3600):.0f} (wall time of this command, {wall:.0f} s incl. extraction and baselines)" if wall else ''))
    print(f'run folder: {run}')


if __name__ == '__main__':
    sys.exit(main())
