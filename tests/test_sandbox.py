"""Attacks on the sandbox from inside: each test is a hostile candidate and asserts what it must not achieve.

Every test runs at both levels where the guarantee holds there (`bwrap`, and `rlimits`, the degraded level forced with
`level=`); where a guarantee does not hold at a level, the test is skipped with the reason. The workers are plain
`python -c` programs (no torch), so each attack costs well under a second.
"""
import json, os, signal, socket, struct, subprocess, sys, textwrap, threading, time
from pathlib import Path

import pytest

from autokernel import sandbox

PY = sys.executable
HAS_BWRAP = sandbox.sandbox_level() == 'bwrap'
LEVELS = [pytest.param('bwrap', marks=pytest.mark.skipif(not HAS_BWRAP, reason='bubblewrap cannot create namespaces here')),
          'rlimits']
# the GPU judge keeps the host's PID namespace (legacy CUDA IPC needs it): the guarantees must hold there too
SHARED_PID = pytest.param('bwrap-shared-pid', marks=pytest.mark.skipif(not HAS_BWRAP, reason='no bubblewrap here'))
ISOLATES_FS = {'bwrap-shared-pid': None, 'bwrap': None, 'rlimits': 'the rlimits level runs with the user\'s own rights: no filesystem isolation'}


def config(level: str) -> dict:
    "sandboxed_popen's arguments for a test level ('bwrap-shared-pid': bwrap without its own PID namespace)."
    return {'level': 'bwrap', 'pid_namespace': False} if level == 'bwrap-shared-pid' else {'level': level}


def attack(code: str, level: str, *args, timeout=60, **kw) -> dict:
    "Run `code` (a hostile candidate) sandboxed at `level`; its stdout's last line is JSON."
    r = sandbox.run_sandboxed([PY, '-c', textwrap.dedent(code), *map(str, args)], timeout=timeout, **config(level), **kw)
    assert r['level'] == config(level)['level']
    return r


def report(r) -> dict:
    lines = r['stdout'].strip().splitlines()
    assert lines, f"the attack printed nothing: rc={r['rc']} stderr={r['stderr'][-1500:]}"
    return json.loads(lines[-1])


def alive_with(marker: str) -> list[int]:
    "Host pids whose command line holds `marker`."
    found = []
    for p in Path('/proc').iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid(): continue
        try: cmd = (p / 'cmdline').read_bytes()
        except OSError: continue
        if marker.encode() in cmd and b'pytest' not in cmd: found.append(int(p.name))
    return found


def wait_gone(marker, seconds=5.0) -> list[int]:
    t0 = time.time()
    while alive_with(marker) and time.time() - t0 < seconds: time.sleep(0.05)
    return alive_with(marker)


WRITE_ATTACK = '''
import json, os, sys
done = {}
for target in sys.argv[1:]:
    try:
        with open(target, 'w') as f: f.write('pwned')
        done[target] = 'written'
    except OSError as e: done[target] = type(e).__name__ + ': ' + (e.strerror or '')
inside = os.path.join(os.environ['TMPDIR'], 'mine.txt')
open(inside, 'w').write('ok')
print(json.dumps({'done': done, 'inside': inside}))
'''


@pytest.mark.parametrize('level', LEVELS + [SHARED_PID])
def test_writes_outside_rw_dir_fail_and_vanish(level, tmp_path):
    if ISOLATES_FS[level]: pytest.skip(ISOLATES_FS[level])
    nonce = os.urandom(4).hex()
    root = sandbox.project_roots()[0]
    targets = [root / 'autokernel' / f'_pwned_{nonce}.py',                    # the judge's own code
               root / 'autokernel' / 'ops.py',                                # an existing judge module (opened 'w'!)
               Path(os.environ.get('AUTOKERNEL_CACHE', Path.home() / '.cache' / 'autokernel')) / f'ceilings_{nonce}.json',
               Path.home() / f'.pwned_{nonce}', Path('/tmp') / f'pwned_{nonce}', Path('/dev/shm') / f'pwned_{nonce}',
               tmp_path / f'pwned_{nonce}']                                  # a folder of the judge's, outside rw_dir
    ops_before = (root / 'autokernel' / 'ops.py').read_bytes()
    r = attack(WRITE_ATTACK, level, *targets)
    out = report(r)
    assert r['rc'] == 0, r['stderr'][-1500:]
    private = ('/tmp/', '/dev/shm/')                               # private tmpfs inside: writable, gone afterwards
    assert all(v != 'written' for k, v in out['done'].items() if not k.startswith(private)), out['done']
    assert not any(t.exists() for t in targets if 'ops.py' not in str(t)), [t for t in targets if t.exists()]
    assert (root / 'autokernel' / 'ops.py').read_bytes() == ops_before
    assert not Path(out['inside']).exists(), 'the private dir outlived the worker'


@pytest.mark.parametrize('level', ['rlimits'])
def test_degraded_level_still_deletes_its_private_dir(level):
    r = attack('import os, json; p = os.environ["HOME"] + "/x"; open(p, "w").write("1"); print(json.dumps({"p": p}))', level)
    p = Path(report(r)['p'])
    assert r['rc'] == 0 and not p.exists() and not p.parent.exists()


SECRET_ATTACK = '''
import json, os, sys
seen = {'own_env': dict(os.environ), 'proc': {}}
for pid in [sys.argv[1], str(os.getppid()), *sorted(p for p in os.listdir('/proc') if p.isdigit())]:
    for what in ('environ', 'cmdline'):
        try: seen['proc'][pid + '/' + what] = open(f'/proc/{pid}/{what}', 'rb').read().decode('latin-1')
        except OSError as e: seen['proc'][pid + '/' + what] = type(e).__name__
print(json.dumps(seen))
'''

JUDGE = '''
import json, os, sys
from autokernel import sandbox
r = sandbox.run_sandboxed([sys.executable, '-c', sys.argv[1], str(os.getpid())], timeout=60, level=sys.argv[2],
                          pid_namespace=sys.argv[3] == 'True')
print(json.dumps(r))
'''


def as_judge(level, code, extra_env):
    "Run a judge process whose own environment holds `extra_env` (so /proc/<judge>/environ holds it), launching `code`."
    env = {**os.environ, **extra_env, 'PYTHONPATH': str(sandbox.project_roots()[0])}
    cfg = config(level)
    j = subprocess.run([PY, '-c', JUDGE, textwrap.dedent(code), cfg['level'], str(cfg.get('pid_namespace', True))], env=env, capture_output=True, text=True, timeout=120)
    assert j.returncode == 0, j.stderr[-2000:]
    return json.loads(j.stdout.strip().splitlines()[-1])


def secrets():
    s = {k: f'{k.lower()}-{os.urandom(8).hex()}' for k in ('OPENAI_API_KEY', 'HF_TOKEN', 'ZZ_MY_LLM_VAR', 'DB_PASSWORD')}
    url = f'https://bob:{os.urandom(8).hex()}@llm.example/v1'
    env = {**s, 'AUTOKERNEL_LLM_API_KEY_ENV': 'ZZ_MY_LLM_VAR', 'AUTOKERNEL_LLM_BASE_URL': url,
           'TRITON_NOT_A_SECRET_NAME': s['OPENAI_API_KEY'], 'EDITOR': 'vim-' + os.urandom(4).hex()}
    needles = [*s.values(), url.split('@')[0].split(':')[-1]]
    return env, needles


@pytest.mark.parametrize('level', LEVELS)
def test_no_secret_reaches_the_worker_environment(level):
    env, needles = secrets()
    r = as_judge(level, 'import os, json; print(json.dumps(dict(os.environ)))', env)
    own = json.loads(r['stdout'].strip().splitlines()[-1])
    blob = json.dumps(own)
    assert not [n for n in needles if n in blob], 'a secret reached the worker environment'
    assert 'EDITOR' not in own and 'OPENAI_API_KEY' not in own and 'ZZ_MY_LLM_VAR' not in own
    assert own['HOME'].startswith(own['TMPDIR'].rsplit('/tmp', 1)[0])


@pytest.mark.parametrize('level', LEVELS + [SHARED_PID])
def test_parent_proc_is_not_readable(level):
    if ISOLATES_FS[level]: pytest.skip("the rlimits level shares the uid and the PID namespace: /proc/<judge>/environ is readable")
    env, needles = secrets()
    r = as_judge(level, SECRET_ATTACK, env)
    seen = report(r)
    blob = json.dumps(seen)
    assert not [n for n in needles if n in blob], 'a secret of the judge was readable from inside'
    judge_pid = [k for k in seen['proc'] if k.endswith('/environ')][0]
    # own PID namespace: the judge's pid is not in this /proc; shared one: the user namespace forbids reading it
    assert seen['proc'][judge_pid] == ('PermissionError' if level == 'bwrap-shared-pid' else 'FileNotFoundError'), seen['proc'][judge_pid]


@pytest.mark.parametrize('level', LEVELS)
def test_no_network_not_even_host_loopback(level):
    if level == 'rlimits': pytest.skip('the rlimits level cannot take the network away (no network namespace)')
    srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(4); srv.settimeout(0.2)
    port, hits, stop = srv.getsockname()[1], [], threading.Event()
    def serve():
        while not stop.is_set():
            try: hits.append(srv.accept())
            except OSError: pass
    t = threading.Thread(target=serve, daemon=True); t.start()
    code = '''
    import json, socket, sys
    res = {}
    for host in ('127.0.0.1', '10.0.0.1', '1.1.1.1'):
        try: socket.create_connection((host, int(sys.argv[1])), timeout=2).close(); res[host] = 'connected'
        except OSError as e: res[host] = type(e).__name__
    try: socket.getaddrinfo('example.com', 443); res['dns'] = 'resolved'
    except OSError as e: res['dns'] = type(e).__name__
    print(json.dumps(res))
    '''
    try: out = report(attack(code, level, port))
    finally: stop.set(); t.join(2); srv.close()
    assert hits == [] and 'connected' not in out.values() and out['dns'] != 'resolved', out


DOUBLE_FORK = '''
import os, sys, time, json
marker = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', marker])
    os._exit(0)
def running():   # the grandchild, seen from inside: its exec done (a loaded CI machine may take over 0.5 s to get there)
    for q in os.listdir('/proc'):
        try: cmd = open(f'/proc/{q}/cmdline', 'rb').read() if q.isdigit() and int(q) != os.getpid() else b''
        except OSError: continue
        if marker.encode() in cmd and b'time.sleep(60)' in cmd: return True
    return False
t0 = time.time()
while not running() and time.time() - t0 < 20: time.sleep(0.05)
print(json.dumps({'forked': running()}), flush=True)
time.sleep(1)    # alive a moment longer: the test sees the grandchild from outside before this worker exits
'''


@pytest.mark.parametrize('cgroup', [True, False], ids=['cgroup', 'no-cgroup'])
@pytest.mark.parametrize('level', LEVELS + [SHARED_PID])
def test_setsid_double_fork_grandchild_dies_with_the_worker(level, cgroup, monkeypatch):
    if not cgroup: monkeypatch.setattr(sandbox, '_pids_cgroup_root', lambda: None)   # the subreaper alone must do it
    marker = f'sbx-grandchild-{os.urandom(4).hex()}'
    p = sandbox.sandboxed_popen([PY, '-c', DOUBLE_FORK, marker], **config(level), stdout=subprocess.PIPE, text=True)
    try:
        out = json.loads(p.stdout.readline())
        assert out['forked'] and alive_with(marker), 'the attack did not get its grandchild running'
        p.wait(30)                                    # the worker exits by itself, nobody calls stop() yet
        assert wait_gone(marker) == [], 'a setsid grandchild outlived the worker'
    finally: sandbox.stop(p)
    assert alive_with(marker) == []


@pytest.mark.parametrize('level', LEVELS + [SHARED_PID])
def test_everything_dies_when_the_judge_is_killed(level):
    marker = f'sbx-orphan-{os.urandom(4).hex()}'
    judge = f'''
import sys, time, subprocess
from autokernel import sandbox
p = sandbox.sandboxed_popen([sys.executable, '-c', {DOUBLE_FORK!r}, {marker!r}], **{config(level)!r}, stdout=subprocess.PIPE)
p.stdout.readline(); print('up', flush=True); time.sleep(60)
'''
    env = {**os.environ, 'PYTHONPATH': str(sandbox.project_roots()[0])}
    j = subprocess.Popen([PY, '-c', judge], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert j.stdout.readline().strip() == 'up' and alive_with(marker)
        j.kill(); j.wait()
        assert wait_gone(marker) == [], 'the worker tree outlived a killed judge'
    finally:
        if j.poll() is None: j.kill()
        for pid in alive_with(marker): os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize('level', LEVELS)
def test_fork_bomb_is_limited(level):
    if sandbox.describe(level)['fork_limit'] is None:
        pytest.skip('no writable pids cgroup and running as root: RLIMIT_NPROC is not enforced for root')
    code = '''
    import os, json, time
    kids = 0
    for _ in range(400):
        try: pid = os.fork()
        except OSError as e: err = type(e).__name__; break
        if pid == 0: time.sleep(20); os._exit(0)
        kids += 1
    else: err = None
    print(json.dumps({'kids': kids, 'err': err}))
    '''
    out = report(attack(code, level, limits=sandbox.Limits(procs=32)))
    assert out['err'] == 'BlockingIOError' and 0 < out['kids'] < 32, out


@pytest.mark.parametrize('level', LEVELS)
def test_memory_hog_is_limited(level):
    code = '''
    import json
    try: x = bytearray(2 << 30); print(json.dumps({'got': len(x)}))
    except MemoryError: print(json.dumps({'got': 'MemoryError'}))
    '''
    out = report(attack(code, level, limits=sandbox.Limits(mem_bytes=512 << 20)))
    assert out == {'got': 'MemoryError'}


@pytest.mark.parametrize('level', LEVELS)
def test_hang_is_killed_at_the_timeout(level):
    marker = f'sbx-hang-{os.urandom(4).hex()}'
    r = attack('import os, sys, time\nif os.fork() == 0: os.setsid()\ntime.sleep(120)', level, marker, timeout=2)
    assert r['timed_out'] and r['seconds'] < 15 and r['rc'] != 0
    assert wait_gone(marker, 2) == []


@pytest.mark.parametrize('level', LEVELS)
def test_cpu_spin_is_killed_by_its_cpu_limit(level):
    r = attack('while True: pass', level, limits=sandbox.Limits(cpu_s=1), timeout=60)
    assert not r['timed_out'] and r['rc'] == 128 + signal.SIGXCPU, (r['rc'], r['stderr'][-500:])


@pytest.mark.parametrize('level', LEVELS)
def test_caches_and_toolchain_work_inside(level):
    "Honest use: every cache folder is writable, inside the private dir, and a C compiler runs (Triton's launcher needs it)."
    code = '''
    import json, os, subprocess
    names = ('HOME', 'TMPDIR', 'TRITON_CACHE_DIR', 'TORCHINDUCTOR_CACHE_DIR', 'AUTOKERNEL_CACHE', 'CUDA_CACHE_PATH')
    ok = {}
    for n in names:
        p = os.path.join(os.environ[n], 'probe'); open(p, 'w').write('1'); ok[n] = os.path.exists(p)
    src = os.path.join(os.environ['TMPDIR'], 'a.c'); open(src, 'w').write('int main(void){return 7;}')
    exe = src[:-2]
    cc = subprocess.run(['cc', src, '-o', exe], capture_output=True, text=True)
    print(json.dumps({'ok': ok, 'cc': cc.returncode, 'ran': subprocess.run([exe]).returncode if cc.returncode == 0 else cc.stderr,
                      'rw': os.getcwd()}))
    '''
    out = report(attack(code, level))
    assert all(out['ok'].values()) and out['cc'] == 0 and out['ran'] == 7, out


@pytest.mark.parametrize('level', LEVELS)
def test_pass_fds_and_rw_dir_cross_over(level, tmp_path):
    r_fd, w_fd = os.pipe()
    rw = tmp_path / 'rw'; rw.mkdir()
    code = 'import os, sys; os.write(int(sys.argv[1]), b"via-fd"); open(sys.argv[2] + "/result.json", "w").write("{}")'
    try:
        r = attack(code, level, w_fd, rw, pass_fds=(w_fd,), rw_dir=rw)
        os.close(w_fd); w_fd = None
        assert r['rc'] == 0 and os.read(r_fd, 100) == b'via-fd'
        assert (rw / 'result.json').read_text() == '{}'            # a caller-owned rw_dir is left for the caller to read
    finally:
        os.close(r_fd)
        if w_fd is not None: os.close(w_fd)


def test_forced_level_and_describe():
    assert sandbox.sandbox_level('rlimits') == 'rlimits'
    d = sandbox.describe('rlimits')
    assert d['network'] and not d['readonly_project'] and d['env_allowlist'] and not d['seccomp']
    if HAS_BWRAP:
        b = sandbox.describe('bwrap')
        assert not b['network'] and b['pid_namespace'] and b['readonly_project'] and b['parent_proc_hidden']
    with pytest.raises(ValueError): sandbox.sandbox_level('none')


GPU_WORKER = '''
import json, os, torch, triton, triton.language as tl
@triton.jit
def add1(x_ptr, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    tl.store(x_ptr + o, tl.load(x_ptr + o, mask=o < n) + 1, mask=o < n)
x = torch.randn(100, device='cuda')
y = x.clone(); add1[(1,)](y, 100, BLOCK=128); torch.cuda.synchronize()
print(json.dumps({'ok': bool(torch.equal(y, x + 1)), 'dev': torch.cuda.get_device_name(),
                  'cache': os.listdir(os.environ['TRITON_CACHE_DIR']) != []}))
'''


@pytest.mark.skipif(not __import__('torch').cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('level', LEVELS + [SHARED_PID])
def test_gpu_worker_runs_cuda_and_triton_inside(level):
    "Honest use on a GPU: CUDA context, a Triton compile (gcc, libcuda, a cold cache in rw_dir) under the GPU limits."
    out = report(attack(GPU_WORKER, level, gpu=True, timeout=300))
    assert out['ok'] and out['cache'], out


@pytest.mark.parametrize('level', LEVELS)
def test_seeded_cache_is_a_private_copy(level, tmp_path):
    "A judge-owned warm cache is copied in: the candidate can use and overwrite its copy, never the original."
    warm = tmp_path / 'warm'; (warm / 'k').mkdir(parents=True)
    (warm / 'k' / 'kernel.bin').write_bytes(b'judge')
    code = '''
    import json, os
    p = os.path.join(os.environ['TRITON_CACHE_DIR'], 'k', 'kernel.bin')
    seen = open(p, 'rb').read().decode(); open(p, 'wb').write(b'poison')
    print(json.dumps({'seen': seen}))
    '''
    out = report(attack(code, level, seed={'triton': warm}))
    assert out == {'seen': 'judge'} and (warm / 'k' / 'kernel.bin').read_bytes() == b'judge'


@pytest.mark.parametrize('level', [pytest.param('bwrap', marks=pytest.mark.skipif(not HAS_BWRAP, reason='no bubblewrap')),
                                   'rlimits'])
def test_shared_dev_shm_is_swept_but_the_judges_refcounters_stay(level):
    "With the host's /dev/shm (host_shm=True, what torch's CUDA IPC needs), what the candidate leaves there is deleted."
    nonce = os.urandom(4).hex()
    judges = Path('/dev/shm') / f'torch_{os.getpid()}_{nonce}'            # a ref-counter file of the judge's, made meanwhile
    code = f'''
    import json, os, sys, time
    open('/dev/shm/evil-{nonce}', 'w').write('x'); os.mkdir('/dev/shm/evildir-{nonce}')
    sys.stdin.readline()
    print(json.dumps({{'seen_judges': os.path.exists({str(judges)!r})}}))
    '''
    p = sandbox.sandboxed_popen([PY, '-c', textwrap.dedent(code)], level=level, host_shm=True, pid_namespace=False,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not Path(f'/dev/shm/evildir-{nonce}').exists() and time.time() - t0 < 30: time.sleep(0.05)
        judges.write_text('refcount')
        p.stdin.write('go\n'); p.stdin.flush()
        out = json.loads(p.stdout.readline())
        sandbox.stop(p)
        assert out['seen_judges'] and judges.exists()
        assert not Path(f'/dev/shm/evil-{nonce}').exists() and not Path(f'/dev/shm/evildir-{nonce}').exists()
    finally:
        sandbox.stop(p)
        if judges.exists(): judges.unlink()


IPC_WORKER = '''
import pickle, struct, sys, torch
import torch.multiprocessing  # noqa: F401  (the CUDA rebuild functions)
n = struct.unpack('<Q', sys.stdin.buffer.read(8))[0]
t = pickle.loads(sys.stdin.buffer.read(n))
t.add_(1); torch.cuda.synchronize()
print('done', flush=True)
sys.stdin.readline()
'''


@pytest.mark.skipif(not __import__('torch').cuda.is_available() or not HAS_BWRAP, reason='needs a CUDA GPU and bubblewrap')
def test_gpu_cuda_ipc_tensor_crosses_into_the_sandbox():
    "The judge's GPU channel: a CUDA tensor pickled by torch.multiprocessing (legacy IPC handle + /dev/shm ref counter)."
    import torch
    from multiprocessing.reduction import ForkingPickler
    import torch.multiprocessing  # noqa: F401
    x = torch.randn(1000, device='cuda'); want = x + 1
    p = sandbox.sandboxed_popen([PY, '-c', IPC_WORKER], **config('bwrap-shared-pid'), gpu=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        b = bytes(ForkingPickler.dumps(x))
        p.stdin.write(struct.pack('<Q', len(b)) + b); p.stdin.flush()
        line = p.stdout.readline()
        assert line.strip() == b'done', p.stderr.read(4000) if p.poll() is not None else line
        torch.cuda.synchronize()
        assert torch.equal(x, want)
    finally: sandbox.stop(p)


@pytest.mark.parametrize('level', LEVELS)
def test_judge_side_buffers_are_not_redirected_by_planted_links(level, tmp_path):
    "A candidate plants symlinks in rw_dir for the judge's next buffers; create_in refuses them, maps stay the judge's."
    import torch
    rw = tmp_path / 'rw'; rw.mkdir()
    victim = tmp_path / 'judge_file.py'; victim.write_text('precious')
    code = 'import os, sys\nfor i in range(1, 6): os.symlink(sys.argv[1], os.path.join(sys.argv[2], f"buf{i}.bin"))'
    assert attack(code, level, victim, rw, rw_dir=rw)['rc'] == 0
    with pytest.raises(FileExistsError): sandbox.create_in(rw, 'buf3.bin', 64)
    fd = sandbox.create_in(rw, 'buf9.bin', 64)
    try:
        t = torch.from_file(f'/proc/self/fd/{fd}', shared=True, size=64, dtype=torch.uint8)
        t.fill_(65)
    finally: os.close(fd)
    assert victim.read_text() == 'precious' and (rw / 'buf9.bin').read_bytes() == b'A' * 64


@pytest.mark.skipif(not HAS_BWRAP, reason='no bubblewrap here')
def test_a_readonly_folder_under_tmp_stays_visible_and_readonly():
    "A CI clone (and its .venv) may live under /tmp: the private /tmp must not hide it, and it stays read-only."
    import tempfile
    from autokernel.sandbox import run_sandboxed
    with tempfile.TemporaryDirectory(dir='/tmp') as d:
        marker = os.urandom(8).hex()
        Path(d, 'project.txt').write_text(marker)
        code = (f"import pathlib; p = pathlib.Path({d!r}, 'project.txt'); print(p.read_text())\n"
                "try: p.write_text('x'); print('WROTE')\nexcept OSError: print('READONLY')")
        r = run_sandboxed([sys.executable, '-I', '-S', '-c', code], ro=(d,), level='bwrap', timeout=60)
        assert r['stdout'].split() == [marker, 'READONLY'], r
        assert Path(d, 'project.txt').read_text() == marker
