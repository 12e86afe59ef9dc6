"""Profile the full-size presets on a GPU and check the profiler against CUDA events.

    PYTHONPATH=$PWD python3 benchmarks/profile_presets.py --out-dir presets

For gpt2, llama and bert (bf16, on cuda): profile with `autokernel.profile.profile`, save `<out-dir>/<name>.profile.json`,
then time the same forward with CUDA events (many reps, median) and compare:

- busy vs CUDA event: the profile's device-busy time against the event time. The event time also holds the idle gaps
  between kernels (launch overhead), so a launch-bound model fails this one: that is what the profile's gap says.
- busy vs CUDA graph: the same forward captured in a CUDA graph and replayed (no launch overhead), timed with events.
  This is the GPU time without idle gaps, so it must agree with busy; it checks the profiler's kernel accounting
  (no double counting, nothing missed). Skipped (reported) when the forward cannot be captured.
- wall vs CUDA event: busy + gap (the profile's wall) against the event time: the whole forward is accounted for.

Each check passes within --tol (10%); every number is reported as measured. Exit status 1 if busy vs graph or wall vs event
fails. Writes `<out-dir>/profile_check.json`. Imports only torch, transformers (through the presets), the stdlib and autokernel.
"""
import argparse
import faulthandler
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import time_forwards, time_graphed  # noqa: E402  (puts the repo on sys.path)

from autokernel.core import environment, load_model, run_model, save_json
from autokernel.profile import profile, save_profile, show_profile

PRESETS = ('gpt2', 'llama', 'bert')


def cuda_event_ms(model, inputs, reps: int) -> dict:
    "Median (and p20/p80) of the CUDA-event time of one forward: the package's end-to-end timer (`_common.time_forwards`)."
    return time_forwards({'eager': lambda: run_model(model, inputs)}, 'cuda', reps)['eager']


def cuda_graph_ms(model, inputs, reps: int) -> dict:
    "Median CUDA-event time of replaying the forward captured as a CUDA graph, or the reason it could not be captured."
    g = time_graphed(lambda: run_model(model, inputs), 'cuda', reps)
    if 'error' in g: torch.cuda.synchronize()
    return {'median_ms': g.get('median_ms'), 'error': g.get('error')}


def graph_check(name: str, reps: int, timeout: int) -> dict:
    "The CUDA-graph timing in a child process, so a capture that hangs or breaks the CUDA context cannot stall this run."
    cmd = [sys.executable, __file__, '--graph-only', name, '--reps', str(reps)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {'median_ms': None, 'error': f'capture/replay did not finish in {timeout} s'}
    last = (r.stdout.strip().splitlines() or [''])[-1]
    try:
        return json.loads(last)
    except json.JSONDecodeError:
        return {'median_ms': None, 'error': f'child exited {r.returncode}: {r.stderr.strip()[-300:]}'}


def pct(a, b):
    return None if a is None or b is None else 100 * (a - b) / b


def check_preset(name: str, out_dir: Path, warmup: int, iters: int, reps: int, tol: float, graph_timeout: int) -> dict:
    t0 = time.time()
    step = lambda what: print(f'[{time.time() - t0:6.1f} s] {name}: {what}', flush=True)
    model, inputs = load_model(name, 'cuda', 'bfloat16')
    step('built; profiling')
    prof = profile(model, inputs, warmup=warmup, iters=iters, name=name, wall_reps=reps)
    path = save_profile(prof, out_dir / f'{name}.profile.json')
    step(f'saved {path}; CUDA-event timing')
    ev = cuda_event_ms(model, inputs, reps)
    del model, inputs
    torch.cuda.empty_cache()
    step('CUDA-graph timing (child process)')
    graph = graph_check(name, reps, graph_timeout) if graph_timeout > 0 else {'median_ms': None, 'error': 'skipped (--graph-timeout 0)'}
    step('done')
    busy, event, wall, g = prof['busy_ms'], ev['median_ms'], prof['wall_ms'], graph['median_ms']
    ok = lambda d: None if d is None else abs(d) <= 100 * tol
    row = {'model': name, 'cuda_event_ms': event, 'cuda_event_p20_p80_ms': [ev['p20_ms'], ev['p80_ms']],
           'cuda_graph_ms': g, 'cuda_graph_error': graph['error'],
           'profiler_busy_ms': busy, 'op_time_ms': prof['op_time_ms'], 'wall_ms': wall,
           'wall_ms_unprofiled': prof['wall_ms_unprofiled'], 'gap_ms': prof['gap_ms'],
           'busy_vs_event_pct': pct(busy, event), 'busy_vs_event_ok': ok(pct(busy, event)),
           'busy_vs_graph_pct': pct(busy, g), 'busy_vs_graph_ok': ok(pct(busy, g)),
           'kernels_per_forward': prof.get('kernels_per_forward'),
           'graph_minus_busy_us_per_kernel': None if g is None or not prof.get('kernels_per_forward')
           else 1e3 * (g - busy) / prof['kernels_per_forward'],
           'wall_vs_event_pct': pct(wall, event), 'wall_vs_event_ok': ok(pct(wall, event)),
           'top_op': prof['ops'][0]['op'] if prof['ops'] else None, 'profile': str(path), 'elapsed_s': time.time() - t0}
    show_profile(prof, 10)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out-dir', default='presets')
    ap.add_argument('--presets', nargs='*', default=list(PRESETS))
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--reps', type=int, default=50)
    ap.add_argument('--tol', type=float, default=0.10, help='allowed relative difference of each check')
    ap.add_argument('--graph-timeout', type=int, default=120, help='seconds for the CUDA-graph child (0: skip that check)')
    ap.add_argument('--hang-timeout', type=int, default=300, help='seconds per preset before dumping tracebacks and exiting')
    ap.add_argument('--graph-only', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print('profile_presets: no CUDA GPU visible', file=sys.stderr)
        return 2
    if a.graph_only:
        model, inputs = load_model(a.graph_only, 'cuda', 'bfloat16')
        print(json.dumps(cuda_graph_ms(model, inputs, a.reps)))
        return 0
    out = Path(a.out_dir)
    rows = []
    for name in a.presets:
        print(f'\n=== {name} ===', flush=True)
        faulthandler.dump_traceback_later(a.hang_timeout, exit=True)   # a hang prints where it is stuck
        rows.append(check_preset(name, out, a.warmup, a.iters, a.reps, a.tol, a.graph_timeout))
        faulthandler.cancel_dump_traceback_later()
    cols = ('model', 'cuda_event_ms', 'cuda_graph_ms', 'profiler_busy_ms', 'wall_ms', 'gap_ms',
            'busy_vs_event_pct', 'busy_vs_graph_pct', 'wall_vs_event_pct', 'kernels_per_forward', 'graph_minus_busy_us_per_kernel')
    print(f'\nprofiler vs CUDA events (median of {a.reps} reps; differences in % of the CUDA-event/graph time, tolerance '
          f'{100 * a.tol:.0f}%)')
    print('  '.join(f'{c:>17}' for c in cols))
    fmt = lambda v: f'{v:>17.3f}' if isinstance(v, float) else f'{v!s:>17}'   # noqa: E731
    for r in rows:
        print('  '.join(fmt(r[c]) for c in cols))
    for r in rows:
        if r['cuda_graph_error']:
            print(f"{r['model']}: no CUDA-graph check ({r['cuda_graph_error']})")
        if r['busy_vs_event_ok'] is False:
            print(f"{r['model']}: busy differs from the CUDA-event time by {r['busy_vs_event_pct']:.1f}% "
                  f"(gap {r['gap_ms']:.3f} ms: the GPU idles between kernels, launch overhead)")
        if r['busy_vs_graph_ok'] is False and r['graph_minus_busy_us_per_kernel'] is not None:
            print(f"{r['model']}: busy is {-r['busy_vs_graph_pct']:.1f}% under the CUDA-graph time: "
                  f"{r['graph_minus_busy_us_per_kernel']:.2f} us per kernel ({r['kernels_per_forward']:.0f} kernels) of "
                  'idle time between kernels even inside a graph' + ('' if r['profiler_busy_ms'] <= r['cuda_graph_ms']
                                                                     else '; busy ABOVE the graph time: double counting?'))
    bad = [f"{r['model']} ({c})" for r in rows for c in ('busy_vs_graph_ok', 'wall_vs_event_ok') if r[c] is False]
    if bad:
        print(f'\nFAILED: {", ".join(bad)}')
    save_json({'env': environment('cuda'), 'tolerance': a.tol, 'reps': a.reps, 'rows': rows, 'failed': bad},
              out / 'profile_check.json', 'autokernel.profile_check')
    print(f'\nwrote {out / "profile_check.json"}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
