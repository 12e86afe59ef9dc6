"""The optimize loop: keep/revert decisions, the logs, the run folder, resuming after kill -9, and a real run in the interpreter.

Most tests use `fake_bench`, a stand-in for `autokernel.bench.bench` whose verdict and timing follow the candidate's PARAMS
(so every decision is predictable); `test_real_bench_*` runs the real bench on tiny softmax/layernorm cases.
"""
import itertools
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from autokernel import core, ops
from autokernel.agents import read_dict, source_hash, write_params
from autokernel.optimize import format_summary, optimize
from autokernel.rundir import candidate_dirs, incumbent, read_best
from autokernel.schedule import amdahl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def tiny_kernel(root, name, kind, shapes, fraction, **args):
    "A kernel folder: the library's Triton kernel of `kind` and a spec with tiny float32 cases."
    d = Path(root) / name
    d.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ops.baseline_path(kind, 'triton'), d / 'kernel.py')
    case = ops.make_case(kind, shapes, 'float32', **args)
    tests = ops.get_kind(kind).test_cases(case)
    spec = {'name': name, 'kind': kind, 'op_class': ops.get_kind(kind).op_class, 'backend': 'triton', 'case': case,
            'dtypes': ['float32'], 'test_cases': [tests[0], tests[-1]],
            'source': {'profile': 'test', 'model': 'test', 'fraction': fraction}}
    core.save_json(spec, d / 'spec.json', 'autokernel.spec')
    return d


def two_kernels(root):
    return [tiny_kernel(root, '01_layernorm', 'layernorm', [[4, 40], [40], [40]], 0.3, eps=1e-5),
            tiny_kernel(root, '02_softmax', 'softmax', [[4, 40]], 0.1)]


def fake_ms(p: dict) -> float:
    "A made-up cost model: the best point is BLOCK_N=2048, num_warps=8, one row per program."
    return (1.0 + 0.15 * abs(math.log2(p.get('BLOCK_N', 1024) / 2048)) + 0.1 * abs(math.log2(p.get('num_warps', 4) / 8))
            + 0.05 * (p.get('ROWS_PER_PROG', 1) - 1) + 0.02 * (p.get('num_stages', 1) - 1))


def fake_bench(kernel_dir, spec=None, device=None, timing=True, sleep=0.0):
    "Verdict and timing from PARAMS: any ALGO other than one_pass fails the edges stage; 0.3% multiplicative noise."
    src = (Path(kernel_dir) / 'kernel.py').read_text()
    p = read_dict(src, 'PARAMS') or {}
    if sleep: time.sleep(sleep)
    ok = p.get('ALGO', 'one_pass') == 'one_pass'
    stages = {s: {'ok': True, 'checks': 1, 'max_rel_err': 0.0, 'detail': ''} for s in ('smoke', 'sweep', 'stability', 'determinism')}
    stages['edges'] = {'ok': ok, 'checks': 2, 'max_rel_err': 0.0 if ok else 1.0, 'detail': '' if ok else 'wrong result on [1, 5]'}
    if timing == 'retime':                                   # a screen or re-timing: smoke check and timing only
        stages = {s: v if s == 'smoke' else {'ok': None, 'checks': 0, 'detail': 'not run (a re-timing)'} for s, v in stages.items()}
        ok = True
    ms = fake_ms(p) * (1 + random.uniform(-0.003, 0.003))
    t = {'kernel_ms': ms, 'kernel_spread_ms': [ms * 0.998, ms * 1.002], 'eager_ms': 1.2, 'compile_ms': 1.1,
         'speedup_eager': 1.2 / ms, 'speedup_compile': 1.1 / ms, 'roofline_pct': 50 / ms, 'bound': 'memory'}
    return {'format': 'autokernel.bench', 'version': 1, 'kernel_dir': str(kernel_dir), 'comparable': True,
            'mode': 'retime' if timing == 'retime' else 'full',
            'ok': ok, 'verdict': 'pass' if ok else 'fail', 'reason': None if ok else 'edges: wrong result on [1, 5]',
            'stages': stages, 'timing': t if (ok and timing) else None, 'elapsed_s': {'total': sleep}}


def rows_of(run):
    return core.read_jsonl(Path(run) / 'results.jsonl')


def check_run_invariants(run, n_experiments):
    "What every run folder must satisfy, however it got there."
    rows = rows_of(run)
    exps = [r for r in rows if r['decision'] != 'baseline']
    assert len(exps) == n_experiments
    assert sorted(r['n'] for r in exps) == list(range(1, n_experiments + 1))        # numbered once each
    keys = [(r['kernel'], r['candidate']) for r in rows if r['candidate']]
    assert len(keys) == len(set(keys))                                              # no candidate counted twice
    for name in {r['kernel'] for r in rows}:
        cands = candidate_dirs(run, name)
        assert {c.name for c in cands} == {c for k, c in keys if k == name}         # no orphan folder, no row without one
        judged = {r['candidate']: r['judged'] for r in rows if r['kernel'] == name and r['candidate']}
        for c in cands:
            assert (c / 'kernel.py').exists() and (c / 'meta.json').exists()
            assert (c / ('screen.json' if judged[c.name] == 'screen' else 'bench.json')).exists()   # what the row was decided on
        hashes = [source_hash((c / 'kernel.py').read_text()) for c in cands]
        assert len(hashes) == len(set(hashes))                                      # never the same kernel twice
        assert read_best(run, name) == incumbent(rows, name)                       # best.json points at the log's incumbent
        assert not (Path(run) / name / 'best').exists()                              # a pointer, never a copy
    return rows


def test_loop_keeps_only_significant_passing_candidates(tmp_path):
    run = tmp_path / 'run'
    s = optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=40, budget='1h', device='cpu',
                 bench_fn=partial(fake_bench, sleep=0.05), progress=False, say=lambda s: None)   # costs ~equal, not ms noise
    rows = check_run_invariants(run, 40)
    exps = [r for r in rows if r['decision'] != 'baseline']
    assert [r['decision'] for r in rows[:2]] == ['baseline', 'baseline']
    first_pick = next(d for d in core.read_jsonl(run / 'schedule.jsonl') if d['decision'] == 'pick')
    assert first_pick['kernel'] == '01_layernorm'                                  # 3x the weight of the softmax
    assert 0 < s['screened'] < 40 and s['screened'] + s['fully_judged'] == 40       # most stop at the screen
    for r in exps:
        assert r['proposer'] == 'search' and r['backend'] == 'triton' and r['idea']
        if r['verdict'] == 'fail':
            assert r['decision'] == 'revert' and not r['kept'] and 'edges' in r['reason'] and r['failing'] == ['edges']
        if r['kept']:
            assert r['verdict'] == 'pass' and r['gain'] > r['noise'] > 0 and r['reason'].startswith('faster')
            cdir = run / r['kernel'] / 'candidates' / r['candidate']
            assert (cdir / 'retime_1.json').exists() and (cdir / 'retime_1_incumbent.json').exists()  # timed again, both
    assert any(r['kept'] for r in exps), 'the search should find a faster point in 40 experiments'
    assert any(r['decision'] in ('revert', 'screened') for r in exps)
    ideas = [r['idea'] for r in exps]
    assert any(i.startswith('seed: structural: ALGO=') for i in ideas) and any(i.startswith('surrogate') for i in ideas)
    for name in ('01_layernorm', '02_softmax'):                                   # the incumbent only ever gets faster
        best_ms = [r['best']['best_ms'] for r in rows if r['kernel'] == name]
        assert all(b <= a for a, b in itertools.pairwise(best_ms))
    # the scheduler's log and state
    sched = core.read_jsonl(run / 'schedule.jsonl')
    picks = [d for d in sched if d['decision'] in ('pick', 'comeback')]
    assert len(picks) == 40 and all(d['reason'] and d['scores'] for d in picks)
    assert sched[-1]['decision'] == 'stop' and '40 experiments' in sched[-1]['reason']
    state = core.load_json(run / 'state.json', 'autokernel.schedule')
    assert state['experiments'] == 40
    # the summary: Amdahl over the kernels' best speedups
    ks = {k['kernel']: k for k in s['kernels']}
    assert ks['01_layernorm']['speedup_eager'] == rows[-1]['best']['speedup'] or rows[-1]['kernel'] != '01_layernorm'
    want = amdahl([(k['fraction'], max(k['speedup_eager'], 1.0)) for k in s['kernels']])
    assert abs(s['amdahl_eager'] - want) < 1e-12 and s['amdahl_eager'] >= 1.0
    assert (run / 'DONE').exists() and s['experiments'] == 40


def test_failing_baseline_is_replaced_by_first_passing_candidate(tmp_path):
    k = tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)
    text = (k / 'kernel.py').read_text()
    (k / 'kernel.py').write_text(text.replace("ALGO='one_pass')", "ALGO='online')", 1))     # fake_bench fails it
    s = optimize(tmp_path / 'run', kernels=[k], max_experiments=5, budget='1h', device='cpu', bench_fn=fake_bench,
                 progress=False, say=lambda s: None)
    rows = check_run_invariants(tmp_path / 'run', 5)
    assert rows[0]['decision'] == 'baseline' and not rows[0]['ok']
    first = next(r for r in rows[1:] if r['verdict'] == 'pass')
    assert first['kept'] and first['reason'] == 'first candidate that passes every stage'
    assert s['kernels'][0]['ok'] and s['kernels'][0]['speedup_eager'] > 0


def test_plateau_moves_on_and_exhausted_space_ends(tmp_path, monkeypatch):
    monkeypatch.setenv('AUTOKERNEL_PLATEAU', '2')
    src = tmp_path / 'src'
    k = tiny_kernel(src, '01_softmax', 'softmax', [[4, 40]], 0.2)
    text = (k / 'kernel.py').read_text()       # shrink the space to 2 x 2 points so it can be exhausted
    sp = read_dict(text, 'SPACE')
    line = next(l for l in text.splitlines() if l.startswith('SPACE ='))
    text = write_params(text.replace(line, f"SPACE = dict(BLOCK_N=[1024, 2048], num_warps=[4, 8])  # was {len(sp)} knobs"),
                        {**read_dict(text, 'PARAMS'), 'BLOCK_N': 1024, 'num_warps': 4})
    (k / 'kernel.py').write_text(text)
    s = optimize(tmp_path / 'run', kernels=[k, tiny_kernel(src, '02_layernorm', 'layernorm', [[4, 40], [40], [40]], 0.1, eps=1e-5)],
                 max_experiments=60, budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=lambda s: None)
    sched = core.read_jsonl(tmp_path / 'run' / 'schedule.jsonl')
    assert any(d['decision'] == 'exhausted' and d['kernel'] == '01_softmax' for d in sched)
    sm = [r for r in rows_of(tmp_path / 'run') if r['kernel'] == '01_softmax' and r['decision'] != 'baseline']
    assert len(sm) == 3                                      # the 3 untried points of a 4-point space, then exhausted
    reasons = ' '.join(d.get('reason') or '' for d in sched)
    assert 'parked (plateau)' in reasons or 'parked at plateau' in reasons        # moved on at a plateau of 2
    assert s['experiments'] <= 60


def test_resume_after_kill_9(tmp_path):
    src, run = tmp_path / 'src', tmp_path / 'run'
    two_kernels(src)
    script = f"""
import sys; sys.path.insert(0, {str(HERE)!r})
from functools import partial
from test_optimize import fake_bench
from autokernel.optimize import optimize
optimize({str(run)!r}, kernels=[{str(src / '01_layernorm')!r}, {str(src / '02_softmax')!r}], max_experiments=10,
         budget='1h', device='cpu', bench_fn=partial(fake_bench, sleep=0.15), progress=False)
"""
    env = {**os.environ, 'AUTOKERNEL_HOME': str(ROOT)}
    p = subprocess.Popen([sys.executable, '-c', script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(rows_of(run)) < 6 and p.poll() is None: time.sleep(0.05)
    time.sleep(0.07)                                          # most likely mid-bench
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()[-2000:]
    before = rows_of(run)
    assert 6 <= len(before) < 12 and not (run / 'DONE').exists()
    optimize(run, max_experiments=10, budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=lambda s: None)
    rows = check_run_invariants(run, 10)
    assert rows[:len(before)] == before                       # the log is append-only


def test_resume_finishes_in_flight_and_unlogged_candidates(tmp_path):
    run = tmp_path / 'run'
    kw = dict(budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=lambda s: None)
    optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=4, **kw)
    rows = rows_of(run)
    last = rows[-1]
    # a kill between bench.json and the log row: the candidate is benched, not logged
    (run / 'results.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows[:-1]))
    # a kill mid-bench: a newer candidate folder without bench.json
    cdir = run / last['kernel'] / 'candidates' / last['candidate']
    flight = cdir.with_name(f'{int(cdir.name) + 1:04d}')
    shutil.copytree(cdir, flight)
    for f in ('bench.json', 'screen.json', 'retime_1.json', 'retime_1_incumbent.json'): (flight / f).unlink(missing_ok=True)
    src = (flight / 'kernel.py').read_text()
    (flight / 'kernel.py').write_text(src.replace(next(l for l in src.splitlines() if l.startswith('PARAMS =')),
                                                  "PARAMS = dict(BLOCK_N=4096, ROWS_PER_PROG=1, num_warps=16, num_stages=1, ALGO='one_pass')"))
    msgs = []
    optimize(run, max_experiments=6, **{**kw, 'say': msgs.append})
    assert any('recovering' in m and 'in flight' in m for m in msgs) and any('benched, not logged' in m for m in msgs)
    rows2 = check_run_invariants(run, 6)
    assert [r['candidate'] for r in rows2 if r['kernel'] == last['kernel']].count(flight.name) == 1


def test_real_bench_softmax_layernorm_interpreter(tmp_path):
    "The loop with the real bench (isolated workers, Triton interpreter): every decision follows the bench JSON on disk."
    run = tmp_path / 'run'
    s = optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=1, budget='10m', device='cpu', confirm=1,
                 progress=False, say=lambda s: None)
    rows = check_run_invariants(run, 1)
    base = {r['kernel']: r for r in rows if r['decision'] == 'baseline'}
    assert base['02_softmax']['verdict'] == 'pass', base['02_softmax']['reason']
    assert all(r['comparable'] is False for r in rows if r['verdict'] == 'pass')       # CPU wall clock, labelled
    for r in rows:
        cdir = run / r['kernel'] / 'candidates' / r['candidate']
        b = core.load_json(cdir / ('screen.json' if r['judged'] == 'screen' else 'bench.json'), 'autokernel.bench')
        assert b['verdict'] == r['verdict'] and set(b['stages']) == {'smoke', 'sweep', 'stability', 'determinism', 'edges'}
        assert b['mode'] == ('retime' if r['judged'] == 'screen' else 'full')
        if r['judged'] == 'screen':                                  # smoke check and timing only: never kept
            assert r['decision'] in ('screened', 'revert') and not r['kept'] and not r['ok']
            assert b['stages']['sweep']['ok'] is None and (r['decision'] == 'revert' or r['kernel_ms'] > 0)
        assert r['ok'] == (b['ok'] and b['verdict'] == 'pass' and b['mode'] == 'full')
        if r['decision'] != 'baseline':
            assert r['kept'] == (r['decision'] == 'keep')
            if r['verdict'] != 'pass': assert r['decision'] == 'revert'
            # a kept candidate either replaced a failing baseline or won against it on repeated timings
            if r['kept'] and base[r['kernel']]['ok']:
                assert (run / r['kernel'] / 'candidates' / r['candidate'] / 'retime_1.json').exists() and r['gain'] > r['noise']
    assert s['comparable'] is False
    assert 'not comparable' in format_summary(s)


def test_cli_profile_extract_optimize_resume(tmp_path, monkeypatch, capsys):
    "`autokernel optimize --preset ...` profiles, extracts, benches the baselines, runs; the same command resumes."
    import autokernel.optimize as opt
    from autokernel.cli import main
    monkeypatch.setattr(opt, 'pool_bench', lambda device, workers=1: (fake_bench, lambda: None))
    monkeypatch.setenv('AUTOKERNEL_PROFILE_ITERS', '1')
    monkeypatch.setenv('AUTOKERNEL_PROFILE_WARMUP', '0')
    run = tmp_path / 'run'
    argv = ['optimize', '--preset', 'gpt2-tiny', '--top', '2', '--max-experiments', '2', '--run', str(run), '--device', 'cpu', '--quiet']
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert 'whole model (Amdahl' in out and f'run folder: {run}' in out
    for f in ('run.json', 'profile.json', 'results.jsonl', 'schedule.jsonl', 'state.json', 'DONE'): assert (run / f).exists(), f
    names = core.load_json(run / 'run.json', 'autokernel.run')['kernels']
    assert len(names) == 2 and all((run / 'kernels' / n / 'spec.json').exists() for n in names)
    check_run_invariants(run, 2)
    assert main(argv[:6] + ['4'] + argv[7:]) == 0                                  # same run, more experiments: resumed
    assert 'resuming after' in capsys.readouterr().out
    check_run_invariants(run, 4)
    assert main(['optimize', '--run', str(tmp_path / 'nothing')]) == 2             # one clear error, exit 2
    assert 'needs --profile' in capsys.readouterr().err


def test_resume_refuses_other_settings(tmp_path):
    "An existing run folder is resumed as created: asking it for another --top or --backend is an error, not ignored."
    from autokernel.core import AutokernelError
    from autokernel.optimize import setup_run
    k = tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)
    run = setup_run(tmp_path / 'run', kernels=[k], top_n=2, backend='triton')
    assert setup_run(tmp_path / 'run', top_n=2, backend='triton') == run          # the same command resumes
    for kw, word in [({'top_n': 3}, 'top_n 3'), ({'backend': 'cuda'}, "backend 'cuda'")]:
        try:
            setup_run(tmp_path / 'run', **kw)
        except AutokernelError as e:
            assert 'existing run' in str(e) and word in str(e), e
        else:
            raise AssertionError(f'{kw} was silently ignored')


def _loop_pace(monkeypatch):
    "benchmarks/loop_pace.py as a module, its runs on the fake bench with a one-iteration profile."
    import autokernel.optimize as opt
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import loop_pace
    monkeypatch.setattr(opt, 'pool_bench', lambda device, workers=1: (fake_bench, lambda: None))
    monkeypatch.setenv('AUTOKERNEL_PROFILE_ITERS', '1')
    monkeypatch.setenv('AUTOKERNEL_PROFILE_WARMUP', '0')
    monkeypatch.delenv('OUT', raising=False)
    return loop_pace


def test_loop_pace_writes_the_results_file(tmp_path, monkeypatch, capsys):
    "benchmarks/loop_pace.py on a tiny preset (fake bench): the table, the pace line and the results file of issue #15."
    loop_pace = _loop_pace(monkeypatch)
    out = tmp_path / 'loop_pace.json'
    argv = ['--preset', 'gpt2-tiny', '--top', '2', '--max-experiments', '6', '--budget', '10m', '--device', 'cpu',
            '--run', str(tmp_path / 'run'), '--out', str(out)]
    assert loop_pace.main(argv) == 0
    res = json.loads(out.read_text())
    assert res['card'].startswith('CPU') and len(res['runs']) == 1
    r = res['runs'][0]
    assert (r['model'], r['budget_s'], r['judged']) == ('gpt2-tiny', 600.0, 6) and r['screened'] + r['fully_judged'] == 6
    assert r['candidates_per_hour'] > 0 and len(r['kernel_speedups']) == 2
    rows = rows_of(tmp_path / 'run')
    for name, x in r['kernel_speedups'].items():                   # baseline time over the best's, from the log
        base = next(q for q in rows if q['kernel'] == name and q['decision'] == 'baseline')
        assert abs(x - base['kernel_ms'] / [q for q in rows if q['kernel'] == name][-1]['best']['best_ms']) < 1e-3
    tp, run = r['time_parts']['by_record'], tmp_path / 'run'
    for f, cls in (('bench.json', 'full bench'), ('screen.json', 'screen')):    # every record of the run, counted once
        assert tp.get(cls, {}).get('records', 0) == len(list(run.glob(f'*/candidates/*/{f}'))), (cls, tp)
    assert sum(p['records'] for p in tp.values()) == len([f for f in run.glob('*/candidates/*/*.json') if loop_pace._record_class(f.name)])
    assert 'candidates/hour' in capsys.readouterr().out
    assert loop_pace.main(argv[:1] + ['no-such-preset'] + argv[2:]) == 2             # one clear error, exit 2


def test_loop_pace_on_an_hf_model_checks_plugs_on_that_model(tmp_path, monkeypatch):
    "`loop_pace.py --model qwen2 --tiny`: the plug check runs on the HF model built, not on a preset of its run's name."
    from autokernel.optimize import read_plug_check
    loop_pace = _loop_pace(monkeypatch)
    argv = ['--model', 'qwen2', '--tiny', '--top', '2', '--max-experiments', '2', '--device', 'cpu',
            '--run', str(tmp_path / 'run'), '--out', str(tmp_path / 'loop_pace.json')]
    assert loop_pace.main(argv) == 0
    pc = read_plug_check(tmp_path / 'run')
    assert pc['model'] == 'hf-qwen2-tiny' and pc['error'] is None, pc   # was: unknown preset 'hf-qwen2-tiny'


def test_no_experiments_on_kernels_that_cannot_be_plugged_in(tmp_path):
    """The plug check runs once on a tiny HF LLaMA before the first experiment: a softmax the model never calls (its SDPA
    attention has none) is `unpluggable` and gets no experiment, nor does a kernel extract marked `no_plug`; the RMSNorm gets
    them all. A resumed run reads plug.json back and keeps the marks."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from autokernel.rundir import read_plug_check, read_results
    torch = __import__('torch')
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4,
                                         num_key_value_heads=2, vocab_size=96, attn_implementation='sdpa')).eval()
    inputs = {'input_ids': torch.randint(0, 96, (1, 7))}
    src = tmp_path / 'src'
    ks = [tiny_kernel(src, '01_rmsnorm', 'rmsnorm', [[1, 7, 32], [32]], 0.1, eps=1e-6), tiny_kernel(src, '02_softmax', 'softmax', [[4, 40]], 0.4),
          tiny_kernel(src, '03_softmax', 'softmax', [[1, 7, 32]], 0.5)]
    spec = core.load_json(ks[2] / 'spec.json')
    core.save_json({**spec, 'no_plug': 'no plug for this one (as extract marks a kind the runtime cannot plug in)'}, ks[2] / 'spec.json')
    run, msgs = tmp_path / 'run', []
    kw = dict(budget='1h', device='cpu', bench_fn=fake_bench, progress=False)
    s = optimize(run, kernels=ks, max_experiments=3, model=model, inputs=inputs, say=msgs.append, **kw)
    pc = read_plug_check(run)
    assert [(r['kernel'], r['reason']) for r in pc['never_ran']] == [('02_softmax', 'not_called'), ('03_softmax', 'no_plug')]
    assert any('2 of 3 kernels cannot be plugged in' in m and '02_softmax unpluggable (not_called)' in m for m in msgs), msgs
    status = {k['kernel']: k['status'] for k in s['kernels']}
    assert status['02_softmax'] == 'unpluggable (not_called)' and status['03_softmax'] == 'unpluggable (no_plug)'
    assert abs(s['covered_fraction'] - 0.1) < 1e-9                           # Amdahl counts only what can run in the model
    exps = lambda: [r['kernel'] for r in read_results(run) if r['decision'] != 'baseline']
    assert exps() == ['01_rmsnorm'] * 3                                      # the heavier kernels got nothing
    picks = [r for r in core.read_jsonl(run / 'schedule.jsonl') if r.get('decision') == 'pick']
    assert picks and all(r['kernel'] == '01_rmsnorm' for r in picks)
    msgs.clear()
    s = optimize(run, max_experiments=5, say=msgs.append, **kw)              # resumed: no model, plug.json is read back
    assert read_plug_check(run)['time'] == pc['time'] and any('02_softmax unpluggable' in m for m in msgs)
    assert exps() == ['01_rmsnorm'] * 5
    assert {k['kernel']: k['status'] for k in s['kernels']}['02_softmax'] == 'unpluggable (not_called)'


def test_plug_check_relearns_the_attention_of_hf_llama(tmp_path):
    """An attention extracted as contiguous never runs in HF LLaMA (its q is a transposed view): the plug check re-extracts it
    for the calls the model makes, and then the real Triton kernel runs in every layer, the logits matching float64."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from autokernel.optimize import check_plugs, setup_run
    from autokernel.rundir import baseline_dirs
    from autokernel.runtime import patch
    torch = __import__('torch')
    torch.manual_seed(2)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2, vocab_size=96, attn_implementation='sdpa')).eval()
    inputs = {'input_ids': torch.randint(0, 96, (1, 7))}
    k = tiny_kernel(tmp_path / 'src', '01_attention', 'attention', [[1, 4, 7, 8], [1, 2, 7, 8], [1, 2, 7, 8]], 0.3, causal=True)
    run = tmp_path / 'run'
    setup_run(run, kernels=[k])
    msgs = []
    pc = check_plugs(run, model, inputs, 'cpu', say=msgs.append)
    assert pc['never_ran'] == [] and [r['kernel'] for r in pc['learned']] == ['01_attention'], pc
    assert 'layout' in pc['learned'][0]['differs'][0] and 're-extracted for the calls the model makes' in msgs[0]
    spec = core.load_json(baseline_dirs(run)['01_attention'] / 'spec.json')
    assert spec['case']['inputs'][0]['stride'] != [224, 56, 8, 1] and spec['source']['learned']['case']['inputs'][0]['stride'] == [224, 56, 8, 1]
    with torch.no_grad():
        ref = model.double()(**inputs).logits
        model.float()
        want = model(**inputs).logits
        with patch(model, [baseline_dirs(run)['01_attention']]) as p:
            got = model(**inputs).logits
    assert dict(p.calls) == {'01_attention': 2}
    err = lambda a: ((a.double() - ref).norm() / ref.norm()).item()
    assert err(got) <= max(2 * err(want), ops.tolerance('float32')['rel']), (err(got), err(want))


TOY = '''"""A toy kernel: only its PARAMS/SPACE lines matter to the search."""
META = dict(kind='softmax', backend='triton')
PARAMS = dict(BLOCK_N=1024, ROWS_PER_PROG=1, num_warps=4, ALGO='one_pass')
SPACE = dict(BLOCK_N=[128, 256, 512, 1024, 2048], ROWS_PER_PROG=[1, 2, 4, 8], num_warps=[1, 2, 4, 8], ALGO=['one_pass', 'two_pass', 'split'])

def kernel_fn(x):
    return x
'''


def scripted_bench(p):
    "A history row's bench fields for point `p`: two_pass is always wrong, split never compiles, one corner hangs, one point is fastest."
    if p['ALGO'] == 'two_pass': return dict(verdict='fail', ok=False, reason='smoke: wrong result on case 0: max error 0.3')
    if p['ALGO'] == 'split': return dict(verdict='error', ok=False, reason='import: compile error: CompilationError at 12:4')
    if p['BLOCK_N'] == 2048 and p['num_warps'] == 1:
        return dict(verdict='error', ok=False, reason='no result after 60 s during smoke: killed (a hang?)')
    steps = (abs([128, 256, 512, 1024, 2048].index(p['BLOCK_N']) - 1) * 0.3 + abs([1, 2, 4, 8].index(p['ROWS_PER_PROG']) - 2) * 0.4
             + abs([1, 2, 4, 8].index(p['num_warps']) - 1) * 0.2)
    judged = 'screen' if steps > 1.0 else 'full'            # the slow ones stop at the screen: a timing, not a full judgement
    return dict(verdict='pass', ok=True, kernel_ms=1.0 + steps, judged=judged, reason=None)


def search_trace(name, n=30):
    "`n` proposals of the built-in search on TOY against `scripted_bench`, as the loop's history rows."
    from autokernel.agents import body_hash, search_propose
    p0 = read_dict(TOY, 'PARAMS')
    hist = [dict(params=p0, hash=source_hash(TOY), body=body_hash(TOY), **scripted_bench(p0))]
    for _ in range(n):
        c = search_propose({'name': name, 'source': TOY, 'history': hist, 'bench': {'comparable': True, 'timing': {'roofline_pct': 30.0}}})
        if c is None: break
        hist.append(dict(params=c['params'], hash=source_hash(c['source']), body=body_hash(c['source']), idea=c['idea'], **scripted_bench(c['params'])))
    return hist[1:]


def test_search_counts_failures_as_evidence():
    """Failed points are evidence: an always-wrong ALGO and a never-compiling one are proposed once each (their seeds), not again,
    and the fastest point (1.0 ms, unique among 240) is found quickly. Before failures were counted, the same trace proposed
    the failing values ~12 times each in 40 proposals and needed 26 proposals on average (39 at worst) to reach 1.0 ms."""
    firsts = []
    for name in ('k0', 'k1', 'k2', 'k3', 'k4', 'k5'):
        trace = search_trace(name)
        for algo in ('two_pass', 'split'):
            assert sum(h['params']['ALGO'] == algo for h in trace) <= 2, (name, algo)
        assert sum('hang' in str(h['reason']) for h in trace) <= 1, name       # the neighbours of a hang are avoided
        assert len({json.dumps(h['params'], sort_keys=True) for h in trace}) == len(trace)
        firsts.append(next((i for i, h in enumerate(trace, 1) if h.get('kernel_ms') == 1.0), None))
    assert all(f is not None and f <= 20 for f in firsts), firsts
    assert sum(firsts) / len(firsts) <= 16, firsts
    assert search_trace('k0', 5) == search_trace('k0')[:5]                   # deterministic: a resumed run proposes the same


def test_scheduler_headroom_is_the_benchs_roofline(tmp_path):
    "The scheduler's gain estimate reads the headroom the bench measured: state.json carries each incumbent's roofline_pct."
    from autokernel.schedule import expected_gain, headroom
    run = tmp_path / 'run'
    optimize(run, kernels=two_kernels(tmp_path / 'src'), max_experiments=4, budget='1h', device='cpu',
             bench_fn=fake_bench, progress=False, say=lambda s: None)
    state, rows = core.load_json(run / 'state.json', 'autokernel.schedule'), rows_of(run)
    ents = list(state['kernels'].values())
    for name, e in state['kernels'].items():
        best = read_best(run, name)
        roof = core.load_json(run / name / 'candidates' / best / 'bench.json')['timing']['roofline_pct']
        assert e['roofline_pct'] == roof == rows[-1 - [r['kernel'] for r in rows[::-1]].index(name)]['best']['roofline_pct']
        assert abs(headroom(e) - (1 - roof / 100)) < 1e-12
        assert expected_gain(dict(e, roofline_pct=99.9), ents) < expected_gain(e, ents)   # less headroom, less to expect


def _search_until_exhausted(src, spec, limit=1000):
    "Play the built-in search on `src` at `spec`'s case (every point passes, timed by fake_ms) until it says exhausted."
    from autokernel.agents import body_hash, search_propose
    p0 = read_dict(src, 'PARAMS')
    hist = [{'params': p0, 'hash': source_hash(src), 'body': body_hash(src), 'ok': True, 'kernel_ms': fake_ms(p0), 'verdict': 'pass'}]
    props = []
    for _ in range(limit):
        c = search_propose({'name': spec['name'], 'source': src, 'spec': spec, 'backend': 'triton', 'history': hist,
                            'bench': {'comparable': True, 'timing': {'roofline_pct': 30.0}}})
        if c is None:
            return props
        props.append(c)
        hist.append({'params': c['params'], 'hash': source_hash(c['source']), 'body': body_hash(c['source']), 'ok': True,
                     'kernel_ms': fake_ms(c['params']), 'verdict': 'pass'})
    raise AssertionError(f'no exhaustion after {limit} proposals')


def test_search_never_proposes_the_same_kernel_twice(tmp_path):
    "softmax at one row of 40 (the padded row 64 is every BLOCK_N's clamp): each proposal is a different kernel, then exhaustion."
    k = tiny_kernel(tmp_path, '01_softmax', 'softmax', [[1, 40]], 0.1)
    src, spec = (k / 'kernel.py').read_text(), core.load_json(k / 'spec.json')
    mod = ops.load_kernel_module(ops.baseline_path('softmax', 'triton'))
    space = mod.SPACE
    eff = lambda p: json.dumps(mod.effective_params(p, spec['case']), sort_keys=True)
    distinct = {eff(dict(zip(space, c))) for c in itertools.product(*space.values())}
    assert len(distinct) < math.prod(len(v) for v in space.values()) / 10      # the clamping really merges points
    props = _search_until_exhausted(src, spec)
    keys = [eff(c['params']) for c in props]
    assert len(keys) == len(set(keys))                                            # never the same kernel twice
    assert set(keys) | {eff(read_dict(src, 'PARAMS'))} == distinct                # every distinct kernel, then exhausted
    assert all(c['effective_params'] == mod.effective_params(c['params'], spec['case']) for c in props)


def test_search_without_effective_params_keeps_every_point(tmp_path):
    "A library kernel without effective_params (gelu), or an incumbent whose body a candidate rewrote: plain params, the old search."
    from autokernel.agents import effective_fn
    gelu = tiny_kernel(tmp_path, '01_gelu', 'gelu', [[3, 40]], 0.1, approximate='tanh')
    src, spec = (gelu / 'kernel.py').read_text(), core.load_json(gelu / 'spec.json')
    assert not hasattr(ops.load_kernel_module(ops.baseline_path('gelu', 'triton')), 'effective_params')
    p = {**read_dict(src, 'PARAMS'), 'BLOCK': 16384}
    assert effective_fn({'source': src, 'spec': spec, 'backend': 'triton'})(p) == p
    sm = tiny_kernel(tmp_path, '02_softmax', 'softmax', [[1, 40]], 0.1)
    lib, spec = (sm / 'kernel.py').read_text(), core.load_json(sm / 'spec.json')
    rewritten = lib.replace('def effective_params(params, case):\n', 'def effective_params(params, case):\n    return {}\n', 1)
    q = {**read_dict(lib, 'PARAMS'), 'BLOCK_N': 256}
    assert effective_fn({'source': lib, 'spec': spec})(q)['BLOCK_N'] == 64                   # the trusted library's function
    assert effective_fn({'source': rewritten, 'spec': spec})(q) == q                          # never the candidate's own code
    space_line = next(line for line in lib.splitlines() if line.startswith('SPACE ='))
    text = write_params(lib.replace(space_line, 'SPACE = dict(BLOCK_N=[256, 512, 1024], num_warps=[4, 8])'),
                        {**read_dict(lib, 'PARAMS'), 'BLOCK_N': 256, 'num_warps': 4})
    props = _search_until_exhausted(text, spec)                                      # an edited body: all 6 - 1 points
    assert sorted((c['params']['BLOCK_N'], c['params']['num_warps']) for c in props) == [(256, 8), (512, 4), (512, 8), (1024, 4), (1024, 8)]
    assert all(c['effective_params'] == c['params'] for c in props)


def test_results_rows_carry_effective_params(tmp_path):
    run = tmp_path / 'run'
    optimize(run, kernels=[tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[1, 40]], 0.1)], max_experiments=4,
             budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=lambda s: None)
    exps = [r for r in rows_of(run) if r['decision'] != 'baseline']
    assert len(exps) == 4 and all(r['effective_params']['BLOCK_N'] == 64 for r in exps)
    keys = [json.dumps(r['effective_params'], sort_keys=True) for r in exps]
    assert len(set(keys)) == 4


def test_search_skips_the_kernels_in_flight(tmp_path):
    "Two points left (by effective params), many spellings of each: with the first in flight, the next proposal is the other."
    from autokernel.agents import body_hash, search_propose
    k = tiny_kernel(tmp_path, '01_softmax', 'softmax', [[1, 40]], 0.1)
    src, spec = (k / 'kernel.py').read_text(), core.load_json(k / 'spec.json')
    mod = ops.load_kernel_module(ops.baseline_path('softmax', 'triton'))
    eff = lambda p: json.dumps(mod.effective_params(p, spec['case']), sort_keys=True)
    points = [dict(zip(mod.SPACE, c)) for c in itertools.product(*mod.SPACE.values())]
    left = [p for p in points if p['ALGO'] == 'online' and p['num_stages'] == 1 and p['num_warps'] in (1, 2)]
    assert len({eff(p) for p in left}) == 2 and len(left) > 2                     # 2 kernels, many spellings
    hist = [{'params': p, 'hash': source_hash(write_params(src, p)), 'body': body_hash(src), 'ok': True,
             'kernel_ms': fake_ms(p), 'verdict': 'pass'} for p in {eff(p): p for p in points if p not in left}.values()]
    ctx = lambda pending: {'name': 'x', 'source': src, 'spec': spec, 'backend': 'triton', 'history': hist, 'pending': pending}
    first = search_propose(ctx(set()))
    second = search_propose(ctx({source_hash(first['source'])}))
    assert eff(first['params']) != eff(second['params'])
    assert search_propose(ctx({source_hash(first['source']), source_hash(second['source'])})) is None
