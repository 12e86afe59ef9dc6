"""Several judging pipelines (`--gpus N`) and Ray actors (`--cluster ray`) feeding one optimize loop and one results log.

No GPU here: pipelines share the CPU (`--device cpu`), and the local Ray cluster declares logical GPUs (`ray.init(num_gpus=..)`)
that actors with `num_gpus=1` ask for, then judge on the CPU with the same bench and sandbox as on one host.
"""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from autokernel import core
from autokernel.cli import main
from autokernel.cluster import Pipelines
from autokernel.optimize import optimize
from test_optimize import check_run_invariants, fake_bench, two_kernels

QUIET = dict(progress=False, say=lambda s: None)


class FakePool:
    "A pool for `Pipelines` over `fake_bench`: remembers which candidate folders it judged, from which thread, and how."
    def __init__(self, sleep=0.02):
        self.calls, self.sleep = [], sleep

    def bench(self, kernel_dir, spec=None, timing=True):
        self.calls.append((threading.get_ident(), Path(kernel_dir), timing))
        return fake_bench(kernel_dir, spec, timing=timing, sleep=self.sleep)

    def close(self): pass


def judged_by(run, rows):
    "Per logged candidate, the pipelines named in every bench JSON of its folder (screen, bench, re-timings)."
    out = {}
    for r in rows:
        d = Path(run) / r['kernel'] / 'candidates' / r['candidate']
        out[(r['kernel'], r['candidate'])] = {core.load_json(f).get('pipeline') for f in d.glob('*.json')
                                              if f.name.startswith(('screen', 'bench', 'retime'))}
    return out


def test_pipelines_judge_disjoint_candidates_into_one_log(tmp_path):
    "Two pipelines, four experiments in flight: each experiment on one pipeline, both used, one consistent log; resumable."
    run, pools = tmp_path / 'run', [FakePool(), FakePool()]
    bench_fn = Pipelines(pools, names=['gpu0', 'gpu1'])
    optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=14, budget='1h', device='cpu', bench_fn=bench_fn,
             inflight=4, **QUIET)
    rows = check_run_invariants(run, 14)
    where = judged_by(run, rows)
    assert all(len(p) == 1 for p in where.values()), where                     # one experiment, one pipeline
    assert {r['pipeline'] for r in rows} == {'gpu0', 'gpu1'}                    # both judged, and the rows say which
    assert all({r['pipeline']} == where[(r['kernel'], r['candidate'])] for r in rows)
    first = [{(d.parent.parent.name, d.name) for _, d, t in p.calls if t is True} for p in pools]   # full benches
    assert not first[0] & first[1]                                             # no candidate fully judged twice
    assert bench_fn.busy == [0, 0]
    picks = [r for r in core.read_jsonl(run / 'schedule.jsonl') if r.get('decision') == 'pick']
    assert any('in flight on other pipelines' in r['reason'] for r in picks)     # spread across kernels first
    optimize(run, max_experiments=18, budget='1h', device='cpu', bench_fn=Pipelines([FakePool(), FakePool()], ['gpu0', 'gpu1']),
             inflight=4, **QUIET)                                             # resumed: the same log, numbered on
    check_run_invariants(run, 18)


def test_gpus_refused_before_any_work(tmp_path, monkeypatch, capsys):
    "More GPUs than the machine has (none here): one line, exit 2, no run folder, nothing profiled."
    import autokernel.optimize as opt
    monkeypatch.setenv('AUTOKERNEL_RUNS_DIR', str(tmp_path / 'runs'))
    monkeypatch.setenv('AUTOKERNEL_DEVICE', 'auto')
    def no_work(*a, **k): raise AssertionError('work started before the arguments were checked')
    monkeypatch.setattr(opt, 'optimize', no_work)
    monkeypatch.setattr('autokernel.core.load_model', no_work)
    import torch
    many = str(torch.cuda.device_count() + 1)
    for argv in (['--gpus', many], ['--gpus', '0'], ['--gpus', 'two'], ['--cluster', 'slurm://head'], ['--cluster', 'ray:/x']):
        rc = main(['optimize', '--model', 'gpt2-tiny', *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith('autokernel optimize: error: '), (argv, rc, err)
        assert not (tmp_path / 'runs').exists(), argv


def test_gpus_on_the_cpu_real_bench(tmp_path):
    "`--gpus 2 --device cpu`: two real pipelines (sandboxed workers, Triton interpreter) judge into one log."
    src = two_kernels(tmp_path / 'src')
    run = tmp_path / 'run'
    optimize(run, kernels=src, max_experiments=2, budget='10m', device='cpu', gpus=2, inflight=1, confirm=1, **QUIET)
    rows = check_run_invariants(run, 2)
    assert {r['pipeline'] for r in rows} == {'cpu#0', 'cpu#1'}, [r['pipeline'] for r in rows]
    assert all(len(p) == 1 for p in judged_by(run, rows).values())
    base = {r['kernel']: r for r in rows if r['decision'] == 'baseline'}
    assert base['02_softmax']['verdict'] == 'pass', base['02_softmax']['reason']
    b = core.load_json(run / '02_softmax' / 'candidates' / base['02_softmax']['candidate'] / 'bench.json')
    assert b['sandbox']['level'] in ('bwrap', 'rlimits') and b['comparable'] is False


ray = pytest.importorskip('ray')   # pinned in requirements.txt; optional at import time for the package itself


def test_ray_actor_killed_mid_run_loses_no_row(tmp_path, monkeypatch):
    """A local Ray with 2 logical GPUs, one actor on each; one actor's process is SIGKILLed mid-run: Ray starts it again and
    sends its calls again, the run finishes, every candidate is logged once and the restarted pipeline judges on."""
    from autokernel import cluster
    run, kills, made = tmp_path / 'run', [], []
    def kill_once(row):                                   # on the first experiment row: kill the busiest actor's process
        if kills or row['decision'] == 'baseline': return
        P = made[0]
        i = max(range(len(P.pools)), key=lambda k: P.busy[k])
        pid = P.pools[i].where()['pid']
        os.kill(pid, signal.SIGKILL)
        kills.append((P.names[i], pid, time.time()))
    real = cluster.ray_pipelines
    monkeypatch.setattr(cluster, 'ray_pipelines', lambda *a, **k: made.append(real(*a, **k)) or made[0])
    optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=4, budget='10m', device='cpu', gpus=2,
             cluster='ray', inflight=1, confirm=1, on_row=kill_once, **QUIET)
    rows = check_run_invariants(run, 4)
    assert kills, 'no actor was killed'
    name, pid, when = kills[0]
    assert {r['pipeline'] for r in rows} == {'ray#0', 'ray#1'}
    assert any(r['pipeline'] == name and r['t'] > when for r in rows), 'the killed pipeline judged nothing afterwards'
    assert all(len(p) == 1 for p in judged_by(run, rows).values())
    for g in (0, 1):                                      # each actor's own timing lock and ceilings, by its GPU's id
        assert (core.cache_dir() / f'ray-gpu{g}' / 'judge' / 'ceilings.json').exists()
    assert not ray.is_initialized()                       # the loop started Ray, and shut it down
