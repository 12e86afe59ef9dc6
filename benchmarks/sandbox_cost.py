"""What the sandbox costs a bench worker: the time to start a Python worker that imports torch (and on a GPU, creates its
CUDA context), plain vs sandboxed at each level, interleaved, median of --n starts. Also the fixed cost with no torch
(the launcher + bwrap alone). Prints a table, names the machine, writes sandbox_cost.json to $OUT.

Run:  python3 benchmarks/sandbox_cost.py [--n 5] [--device cpu|cuda]        (CPU: about a minute; the judge's worker
starts are hidden by pre-started pools, so this is the cost per candidate only where a pool runs dry)"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from _common import table, write_out

from autokernel import sandbox

WORKERS = {'python (no torch)': 'pass',
           'import torch': 'import torch; torch.ones(8).sum()',
           'import torch + cuda': "import torch; torch.ones(8, device='cuda').sum().item()"}
REPORT = "; import time; print(time.process_time())"        # the worker's own CPU seconds: steady under load


def card(device: str) -> str:
    if device == 'cuda':
        import torch
        return torch.cuda.get_device_name()
    for line in open('/proc/cpuinfo'):
        if line.startswith('model name'): return f"CPU: {line.split(':', 1)[1].strip()} ({platform.node()})"
    return f"CPU: {platform.processor()}"


def start_plain(code: str, gpu: bool = False) -> tuple[float, float]:
    "(wall s from Popen to exit, the worker's own CPU s) for a plain worker (unsandboxed, same environment)."
    with tempfile.TemporaryDirectory() as d:                 # the same environment as inside, so only the box differs
        env = sandbox.sandbox_env(d, gpu=gpu)
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, '-c', code + REPORT], check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, float(r.stdout.split()[-1])


def start_boxed(code: str, level: str, gpu: bool) -> tuple[float, float]:
    "The same through the sandbox: the wall time includes the launcher, bwrap and stop()."
    t0 = time.perf_counter()
    r = sandbox.run_sandboxed([sys.executable, '-c', code + REPORT], timeout=300, level=level, gpu=gpu)
    if r['rc'] != 0: raise SystemExit(f"sandboxed worker failed at level {level}: {r['stderr'][-800:]}")
    return time.perf_counter() - t0, float(r['stdout'].split()[-1])


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=5)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    a = p.parse_args(argv)
    gpu = a.device == 'cuda'
    levels = ['bwrap', 'rlimits'] if sandbox.sandbox_level() == 'bwrap' else ['rlimits']
    workers = {k: v for k, v in WORKERS.items() if gpu or 'cuda' not in k}
    rows = []
    for name, code in workers.items():
        start_plain(code, gpu)                              # warm the page cache once
        times = {'plain': [], **{lv: [] for lv in levels}}
        for _ in range(a.n):                                # interleaved, so a busy machine hurts all alike
            times['plain'].append(start_plain(code, gpu))
            for lv in levels: times[lv].append(start_boxed(code, lv, gpu))
        med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        for lv in levels:
            rows.append({'worker': name, 'level': lv, 'plain_s': med['plain'], 'sandboxed_s': med[lv],
                         'overhead_s': med[lv] - med['plain'], 'overhead_pct': 100 * (med[lv] - med['plain']) / med['plain'],
                         'worker_cpu_plain_s': cpu['plain'], 'worker_cpu_sandboxed_s': cpu[lv],
                         'worker_cpu_pct': 100 * (cpu[lv] - cpu['plain']) / cpu['plain'], 'n': a.n})
    name = card(a.device)
    print(f"sandbox start cost on {name} (median of {a.n}, interleaved; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores: on a busy machine the worker's own CPU seconds are the steadier measure of what the "
          "sandbox adds inside the worker; the fixed cost is the no-torch row's overhead_s)")
    print(table(rows, ['worker', 'level', 'plain_s', 'sandboxed_s', 'overhead_s', 'overhead_pct', 'worker_cpu_plain_s',
                       'worker_cpu_sandboxed_s', 'worker_cpu_pct', 'n']))
    write_out('sandbox_cost.json', {'card': name, 'device': a.device, 'sandbox': sandbox.describe(gpu=gpu), 'rows': rows})


if __name__ == '__main__':
    main()
