"""`autokernel profile` from the command line: user errors give one line and exit 2; a good preset prints the tables."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autokernel.cli import main
from autokernel.core import find_factory, load_json
from autokernel.profile import scope_args

ROOT = Path(__file__).resolve().parent.parent


def one_error_line(capsys, argv):
    rc = main(['profile', *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert len(err) == 1 and err[0].startswith('autokernel profile: error: '), err
    return err[0]


def test_unknown_preset(capsys):
    assert 'unknown preset' in one_error_line(capsys, ['--preset', 'gpt5', '--device', 'cpu'])


def test_bad_model_path(capsys, tmp_path):
    assert 'does not exist' in one_error_line(capsys, ['--model', f'{tmp_path}/nope.py:build', '--device', 'cpu'])
    f = tmp_path / 'm.py'
    f.write_text('import torch\ndef build():\n    return torch.nn.Linear(4, 4), (torch.randn(2, 4),)\n')
    assert "no function 'missing'" in one_error_line(capsys, ['--model', f'{f}:missing', '--device', 'cpu'])
    assert "can't import module" in one_error_line(capsys, ['--model', 'no_such_pkg_xyz.mod:build', '--device', 'cpu'])


def test_raising_factory(capsys, tmp_path):
    f = tmp_path / 'broken.py'
    f.write_text('def build():\n    raise RuntimeError("weights missing")\n')
    assert 'raised RuntimeError: weights missing' in one_error_line(capsys, ['--model', f'{f}:build', '--device', 'cpu'])


def test_unreadable_profile(capsys, tmp_path):
    bad = tmp_path / 'bad.profile.json'
    bad.write_text('{"format": "autokernel.profile", "ops": [')
    assert 'not valid JSON' in one_error_line(capsys, ['--profile', str(bad)])
    other = tmp_path / 'other.json'
    other.write_text(json.dumps({'format': 'autokernel.bench', 'version': 1}))
    assert 'not an autokernel.profile file' in one_error_line(capsys, ['--profile', str(other)])
    assert 'no such file' in one_error_line(capsys, ['--profile', str(tmp_path / 'missing.json')])


def test_bad_flags(capsys):
    assert '--iters' in one_error_line(capsys, ['--preset', 'gpt2-tiny', '--device', 'cpu', '--iters', '0'])


def test_user_model_file(capsys, tmp_path):
    f = tmp_path / 'mlp.py'
    f.write_text('import torch\n'
                 'def build():\n'
                 '    torch.manual_seed(0)\n'
                 '    m = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(64, 32))\n'
                 '    return m, (torch.randn(16, 32),)\n')
    out = tmp_path / 'mlp.profile.json'
    assert main(['profile', '--model', f'{f}:build', '--device', 'cpu', '--iters', '2', '--warmup', '1', '--out', str(out)]) == 0
    prof = json.loads(out.read_text())
    assert prof['format'] == 'autokernel.profile' and prof['comparable'] is False
    mm = [o for o in prof['ops'] if o['op'] == 'aten::addmm']   # two Linear layers of different shapes: two records
    assert sorted(o['inputs'][2]['shape'] for o in mm) == [[32, 64], [64, 32]], mm
    assert all(o['op_class'] == 'matmul' and o['calls'] == 1 and o['scope'] == ['Linear'] for o in mm)
    ops = {o['op']: o for o in prof['ops']}
    assert ops['aten::gelu']['args']['approximate'] == 'tanh' and ops['aten::gelu']['scope'] == ['GELU']
    assert prof['scope_args'] == {'GELU': {'approximate': 'tanh'}}
    assert 'Top ops' in capsys.readouterr().out


@pytest.mark.parametrize('preset', ['gpt2-tiny'])
def test_preset_prints_the_table(preset, tmp_path):
    "The real console path, in a fresh process: the ranking, the Amdahl table, the gap row; the saved file reads back."
    out, chart = tmp_path / 'p.json', tmp_path / 'p.png'
    r = subprocess.run([sys.executable, '-c', 'import sys; from autokernel.cli import main; sys.exit(main(sys.argv[1:]))',
                        'profile', '--preset', preset, '--device', 'cpu', '--iters', '2', '--warmup', '1', '--top', '5',
                        '--out', str(out), '--chart', str(chart)], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'Top ops' in r.stdout and 'Amdahl' in r.stdout and '\n-  ' in r.stdout and 'gap' in r.stdout, r.stdout
    assert chart.stat().st_size > 1000
    shown = subprocess.run([sys.executable, '-c', 'import sys; from autokernel.cli import main; sys.exit(main(sys.argv[1:]))',
                            'profile', '--profile', str(out), '--top', '3'], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert shown.returncode == 0 and preset in shown.stdout, shown.stderr[-2000:]


def test_scope_args_shared_only():
    "A class's hyper-parameter is recorded only when all its instances agree; ints, bools and other names are not."
    class Norm(torch.nn.Module):
        def __init__(self, eps, n=4):
            super().__init__()
            self.variance_epsilon, self.epsilon, self.hidden, self.elementwise_affine = eps, str(eps), n, True
    eps = float(torch.rand(()).item() * 1e-3 + 1e-8)
    m = torch.nn.ModuleList([Norm(eps), Norm(eps, 8), torch.nn.LayerNorm(4, eps=eps), torch.nn.GELU()])
    assert scope_args(m) == {'Norm': {'variance_epsilon': eps, 'epsilon': str(eps)}, 'LayerNorm': {'eps': eps},
                             'GELU': {'approximate': 'none'}}
    m.append(Norm(eps * 3))
    assert 'Norm' not in scope_args(m)


@pytest.mark.parametrize('name', ['gpt2', 'llama', 'bert'])
def test_preset_profiles_carry_scope_args(name):
    "The shipped profiles carry the scope_args the full-size model (built on the meta device) has."
    path = ROOT / 'presets' / f'{name}.profile.json'
    if not path.exists():
        pytest.skip(f'no {path.name}')
    with torch.device('meta'):
        model, _ = find_factory(name)()
    prof = load_json(path, 'autokernel.profile')
    assert prof['scope_args'] == json.loads(json.dumps(scope_args(model)))
    if name == 'llama':
        assert prof['scope_args']['LlamaRMSNorm'] == {'variance_epsilon': model.config.rms_norm_eps}


def test_fused_kinds_tag_their_ops():
    "mark_fusions tags the records of each fused instance: on the LLaMA preset, the residual adds and the layers' RMSNorms."
    from autokernel.profile import mark_fusions
    prof = load_json(ROOT / 'presets' / 'llama.profile.json', 'autokernel.profile')
    ops = mark_fusions([dict(o) for o in prof['ops']])
    tagged = [o for o in ops if 'add_rmsnorm' in (o.get('fusions') or ())]
    assert {o['op'] for o in tagged} >= {'aten::add', 'aten::pow', 'aten::rsqrt', 'aten::mean'}
    assert all(o['scope'][-1] == 'LlamaRMSNorm' or o['op'] == 'aten::add' for o in tagged)
    assert not any(o['scope'] == ['LlamaModel', 'LlamaRMSNorm'] for o in tagged), 'the final norm follows no residual add'
