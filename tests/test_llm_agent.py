"""The LLM agent against a local OpenAI-compatible server (tests/fake_llm_server.py) answering scripted chat completions."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_llm_server import FakeLLM
from test_optimize import check_run_invariants, fake_bench, rows_of, tiny_kernel

from autokernel import core
from autokernel.agents import read_dict, write_params
from autokernel.optimize import optimize
from autokernel.rundir import best_dir


def llm_env(monkeypatch, url, **kw):
    monkeypatch.setenv('AUTOKERNEL_LLM_BASE_URL', url)
    monkeypatch.setenv('AUTOKERNEL_LLM_MODEL', 'fake-coder')
    monkeypatch.setenv('AUTOKERNEL_LLM_API_KEY_ENV', 'AK_TEST_LLM_KEY')
    monkeypatch.delenv('AK_TEST_LLM_KEY', raising=False)
    for k, v in {'timeout': 1.5, 'retries': 2, 'backoff': 0.01, **kw}.items(): monkeypatch.setenv(f'AUTOKERNEL_LLM_{k.upper()}', str(v))


BROKEN = '''"""softmax without subtracting the row maximum: overflows for large inputs."""
import torch
META = dict(kind='softmax', backend='triton')

def kernel_fn(x):
    e = x.float().exp()
    return (e / e.sum(-1, keepdim=True)).to(x.dtype)
'''


def answer(idea, code): return f"IDEA: {idea}\n\nHere is the new kernel:\n```python\n{code}```\nIt should be faster."


def test_llm_good_broken_malformed_timeout_real_bench(tmp_path, monkeypatch):
    "Scripted: a timeout, a malformed reply, a good kernel, a broken one. Real bench judges the two candidates."
    k = tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)
    base = (k / 'kernel.py').read_text()
    good = write_params(base, {**read_dict(base, 'PARAMS'), 'num_warps': 2, 'ROWS_PER_PROG': 2})
    script = [{'sleep': 4, 'content': answer('too late', good)},       # longer than the client's 1.5 s timeout
              {'content': 'You could try using more warps, that usually helps.'},   # malformed: no code block
              {'content': answer('two rows per program, 2 warps', good)},
              {'content': answer('skip the max subtraction', BROKEN)}]
    with FakeLLM(script, lifetime=90) as srv:
        llm_env(monkeypatch, srv.url)
        msgs = []
        optimize(tmp_path / 'run', kernels=[k], agent='llm', max_experiments=2, budget='10m', device='cpu', confirm=1,
                 progress=False, say=msgs.append, inflight=1,     # one at a time: the second prompt sees the first's outcome
                 screening=False)   # every candidate through the five stages: on a loaded CPU the screen's noise may stop one
        reqs = list(srv.requests)
    run = tmp_path / 'run'
    rows = check_run_invariants(run, 2)
    assert 'LLM agent: fake-coder' in msgs[0]
    exps = rows[1:]
    assert [r['proposer'] for r in exps] == ['llm', 'llm']
    assert exps[0]['idea'] == 'two rows per program, 2 warps' and exps[0]['verdict'] == 'pass'
    assert exps[0]['tokens']['prompt'] > 0 and exps[0]['tokens']['completion'] > 0
    assert exps[1]['idea'] == 'skip the max subtraction'
    assert exps[1]['verdict'] == 'fail' and exps[1]['decision'] == 'revert' and 'stability' in exps[1]['failing']
    assert (run / '01_softmax' / 'candidates' / exps[1]['candidate'] / 'kernel.py').read_text() == BROKEN
    best = (best_dir(run, '01_softmax') / 'kernel.py').read_text()
    assert best in (base, good)                               # never the broken one
    # the call log: the timeout and the malformed answer were retried, then two good answers
    log = core.read_jsonl(run / 'llm.jsonl')
    assert [r['outcome'] for r in log] == ['error', 'malformed', 'ok', 'ok']
    assert 'Timeout' in log[0]['error'] and 'no ```python code block' in log[1]['error']
    assert all(r['prompt_tokens'] for r in log[1:])
    # the prompts: the malformed answer went back with the reason; the second experiment saw the first one's outcome
    assert 'cannot be used' in reqs[2]['messages'][-1]['content']
    second = reqs[3]['messages'][1]['content']
    assert 'two rows per program, 2 warps: pass' in second and 'PARAMS = dict(' in second and '"kind": "softmax"' in second
    assert re.search(r'% of roofline|not benched', second)


def test_no_server_falls_back_to_search(tmp_path, monkeypatch):
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    llm_env(monkeypatch, f'http://127.0.0.1:{port}/v1')
    msgs = []
    optimize(tmp_path / 'run', kernels=[tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)], agent='llm',
             max_experiments=2, budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=msgs.append)
    assert 'LLM agent unavailable: no LLM server answers' in msgs[0] and 'built-in search takes over' in msgs[0]
    assert [r['proposer'] for r in rows_of(tmp_path / 'run')[1:]] == ['search', 'search']
    assert core.load_json(tmp_path / 'run' / 'run.json', 'autokernel.run')['agent'] == 'search'


def test_no_key_for_remote_server_falls_back(tmp_path, monkeypatch):
    llm_env(monkeypatch, 'https://llm.example.invalid/v1')
    msgs = []
    optimize(tmp_path / 'run', kernels=[tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)], agent='llm',
             max_experiments=1, budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=msgs.append)
    assert '$AK_TEST_LLM_KEY' in msgs[0] and 'built-in search takes over' in msgs[0]


def test_useless_answers_are_logged_then_search_takes_over(tmp_path, monkeypatch):
    script = [{'content': 'I would rather not.'}, {'status': 500}, {'content': '```python\nprint("no kernel_fn here")\n```'}]
    with FakeLLM(script, lifetime=60) as srv:
        llm_env(monkeypatch, srv.url, retries=0)
        msgs = []
        optimize(tmp_path / 'run', kernels=[tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[4, 40]], 0.2)],
                 agent='llm', max_experiments=5, budget='1h', device='cpu', bench_fn=fake_bench, progress=False, say=msgs.append)
    rows = rows_of(tmp_path / 'run')[1:]
    assert [r['decision'] for r in rows[:3]] == ['no_candidate'] * 3
    assert [r['candidate'] for r in rows[:3]] == [None] * 3 and all(r['verdict'] == 'error' for r in rows[:3])
    assert 'no ```python code block' in rows[0]['reason'] and 'InternalServerError' in rows[1]['reason']
    assert 'defines kernel_fn' in rows[2]['reason']
    assert [r['proposer'] for r in rows[3:]] == ['search', 'search']
    assert any('the built-in search takes over' in m for m in msgs)
    assert any(d['decision'] == 'fallback' for d in core.read_jsonl(tmp_path / 'run' / 'schedule.jsonl'))
    assert sorted(r['n'] for r in rows) == [1, 2, 3, 4, 5]


CHEAT = '''"""softmax by calling PyTorch's own: the op it is meant to replace."""
import torch
META = dict(kind='softmax', backend='triton')
PARAMS = dict(BLOCK_N=1024)

def kernel_fn(x):
    return torch.softmax(x, -1)
'''


def test_llm_faster_kernel_is_kept_and_cheat_rejected(tmp_path, monkeypatch):
    """End to end with the real bench in the interpreter: the fake LLM first proposes a kernel that calls torch.softmax
    (rejected), then one that is genuinely faster here (16 rows per program: 2 programs instead of 32, and the interpreter
    runs each program in Python). The loop must keep the second, after all five stages and the re-timings."""
    monkeypatch.setenv('AUTOKERNEL_LLM_PRICE_PROMPT', '1.0')
    monkeypatch.setenv('AUTOKERNEL_LLM_PRICE_COMPLETION', '4.0')
    k = tiny_kernel(tmp_path / 'src', '01_softmax', 'softmax', [[32, 40]], 0.2)
    base = (k / 'kernel.py').read_text()
    assert read_dict(base, 'PARAMS')['ROWS_PER_PROG'] == 1
    fast = write_params(base, {**read_dict(base, 'PARAMS'), 'ROWS_PER_PROG': 16})
    script = [{'content': answer('call the library softmax', CHEAT)}, {'content': answer('16 rows per program', fast)}]
    with FakeLLM(script, lifetime=300) as srv:
        llm_env(monkeypatch, srv.url)
        s = optimize(tmp_path / 'run', kernels=[k], agent='llm', max_experiments=2, budget='20m', device='cpu', confirm=1,
                     progress=False, say=lambda m: None, inflight=1)
        reqs = list(srv.requests)
    run = tmp_path / 'run'
    rows = check_run_invariants(run, 2)
    cheat, win = rows[1], rows[2]
    assert cheat['verdict'] == 'rejected' and cheat['decision'] == 'revert' and not cheat['kept']
    assert 'softmax' in cheat['reason'] and cheat['judged'] == 'screen'            # caught by the screen's smoke check
    assert win['idea'] == '16 rows per program' and win['judged'] == 'full' and win['kept'], win['reason']
    assert win['reason'].startswith('faster') and win['gain'] > win['noise']
    cdir = run / '01_softmax' / 'candidates' / win['candidate']
    assert (cdir / 'retime_1.json').exists() and core.load_json(cdir / 'bench.json')['ok']
    assert (best_dir(run, '01_softmax') / 'kernel.py').read_text() == fast
    assert s['kernels'][0]['kept'] == 1 and s['kernels'][0]['best_ms'] < rows[0]['kernel_ms']
    # what the agent saw and what it cost
    second = reqs[1]['messages'][1]['content']
    assert 'call the library softmax: rejected' in second and 'Profile: test' in second and 'ms KEPT: baseline' in second
    conv = core.load_json(cdir / 'llm.json')
    assert conv['response'] == script[1]['content'] and conv['messages'] == reqs[1]['messages']
    t = win['tokens']
    assert t['prompt'] > 0 and abs(t['cost_usd'] - (t['prompt'] * 1.0 + t['completion'] * 4.0) / 1e6) < 1e-6
    log = core.read_jsonl(run / 'llm.jsonl')
    assert [r['outcome'] for r in log] == ['ok', 'ok'] and log[1]['response'] == script[1]['content'] and log[1]['cost_usd'] > 0
