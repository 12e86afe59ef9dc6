"""The optimize loop's pace and its finds: judged candidates per hour, screened vs fully judged, kept, and each kernel's
speedup over its library baseline (the kernel extraction wrote into the run) at the end of a timed run.

    python benchmarks/loop_pace.py --preset gpt2 --budget 10m                  # on the GPU machine (issue #15)
    python benchmarks/loop_pace.py --model qwen2 --budget 10m                  # an HF architecture outside the presets
    python benchmarks/loop_pace.py --preset gpt2-tiny --budget 90s --device cpu --top 3   # CPU smoke test

`--model TYPE` builds a transformers model of that `model_type` from its config (random weights, nothing downloaded),
at a GPT-2-small-like size (hidden 768, 12 layers, 8 x 1024 tokens; `--tiny`: hidden 64, 2 layers, 2 x 32 tokens).
Writes benchmarks/results/loop_pace.json on a GPU (loop_pace_cpu.json on the CPU: not GPU numbers), merging runs of
other models already there for the same card, and $OUT/loop_pace.json when $OUT is set:
`{"card", "runs": [{"model", "budget_s", "judged", "screened", "kept", "candidates_per_hour", "kernel_speedups"}]}`.
Each run also holds `time_parts` (printed as a table): where the slot time went, per class of record the benches wrote
(screens, full benches, their re-timings against the incumbent), with the exclusive GPU hold and the lock waits.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from _common import ROOT, table, write_out

from autokernel import core
from autokernel.core import AutokernelError


def hf_model(model_type: str, tiny: bool):
    "A transformers model of `model_type` built from its config at a fixed size: `(model, inputs)`."
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
    try: cfg = AutoConfig.for_model(model_type)
    except ValueError as e: raise AutokernelError(f"transformers knows no model type {model_type!r} ({str(e)[:120]})") from None
    size = (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                 vocab_size=512, max_position_embeddings=64, head_dim=16) if tiny else
            dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4, intermediate_size=2048,
                 vocab_size=32000, max_position_embeddings=2048, head_dim=64))
    for k, v in size.items():
        if hasattr(cfg, k): setattr(cfg, k, v)
    cfg.use_cache = False
    torch.manual_seed(0)
    try: model, lm = AutoModelForCausalLM.from_config(cfg, attn_implementation='sdpa'), True
    except ValueError: model, lm = AutoModel.from_config(cfg), False
    batch, seq = (2, 32) if tiny else (8, 1024)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(1))
    return model, ({'input_ids': ids, 'labels': ids.clone()} if lm else {'input_ids': ids})


def profile_model(a, dev) -> tuple[str, dict, object, object]:
    """`(model name, profile JSON, model, inputs)` of the preset or HF model asked for: the loop checks its kernels' plugs
    on that model (an HF model's name is no preset the loop could rebuild it from)."""
    from autokernel.profile import profile
    if a.preset:
        model, inputs = core.load_model(a.preset, dev)
        return a.preset, profile(model, inputs, name=a.preset, device=dev), model, inputs
    model, inputs = hf_model(a.model, a.tiny)
    model = model.to(device=dev, dtype=core.default_dtype(dev)).eval()
    inputs = core.move_inputs(inputs, dev, core.default_dtype(dev))
    name = f"hf-{a.model}" + ('-tiny' if a.tiny else '')
    return name, profile(model, inputs, name=name, device=dev), model, inputs


def pace_row(model: str, budget_s: float, s: dict, wall_s: float) -> dict:
    "One run of the results file, from `optimize.run_summary` of the run and the wall time of the optimize call."
    sp = {k['kernel']: (round(k['baseline_ms'] / k['best_ms'], 4) if k.get('baseline_ms') and k.get('best_ms') and k['ok'] else None)
          for k in s['kernels']}
    judged = s['experiments']
    return dict(model=model, budget_s=budget_s, wall_s=round(wall_s, 1), judged=judged, screened=s.get('screened'),
                fully_judged=s.get('fully_judged'), kept=sum(k['kept'] for k in s['kernels']),
                candidates_per_hour=round(judged / (wall_s / 3600), 1) if wall_s > 0 else None,
                kernel_speedups=sp, speedup_eager={k['kernel']: k['speedup_eager'] for k in s['kernels']},
                comparable=s.get('comparable'), run=s['run'])


RECORDS = {'screen.json': 'screen', 'bench.json': 'full bench', 'screen_retime': "screen's re-timing", 'retime': "full bench's re-timing"}


def _record_class(name: str) -> str | None:
    "Which part of an experiment a candidate's record is: `RECORDS`' values (re-timings count the incumbent's half too)."
    if name in RECORDS: return RECORDS[name]
    return next((v for k, v in RECORDS.items() if name.startswith(k + '_')), None)


def time_parts(run_dir: Path, wall_s: float, slots: int) -> dict:
    """Where the loop's slot time went, from every record its benches wrote (`elapsed_s`): per class of record (`RECORDS`)
    the count, the slot-seconds and the medians of its wall, correctness, exclusive GPU hold (`gpu_alone`), the timing's wait
    for that hold, and the checks' waits for the shared GPU (behind other benches' timings); and the share of the
    run's wall time that some bench held the GPU alone (near 1: the card's timing lock, not the slots, sets the pace)."""
    from autokernel import core
    parts, held = {}, 0.0
    for f in sorted(Path(run_dir).glob('*/candidates/*/*.json')):
        cls = _record_class(f.name)
        if cls is None: continue
        try: b = json.loads(f.read_text())
        except (OSError, ValueError): continue
        e = b.get('elapsed_s') or {}
        p = parts.setdefault(cls, {'records': 0, 'slot_s': 0.0, 'wall': [], 'correctness': [], 'locked': [], 'lock_wait': [],
                                   'check_lock_wait': [], 'stages': {}})
        p['records'] += 1
        p['slot_s'] += float(e.get('wall') or e.get('total') or 0.0)
        for k, src in (('wall', 'wall'), ('correctness', 'correctness'), ('locked', 'timing_locked'), ('lock_wait', 'timing_lock_wait')):
            if isinstance(e.get(src), (int, float)): p[k].append(float(e[src]))
        held += float(e.get('timing_locked') or 0.0)
        waits = []
        for st, v in (b.get('stages') or {}).items():
            if isinstance((v or {}).get('seconds'), (int, float)): p['stages'].setdefault(st, []).append(v['seconds'])
            if isinstance((v or {}).get('lock_wait_s'), (int, float)): waits.append(v['lock_wait_s'])
        if waits: p['check_lock_wait'].append(sum(waits))
    med = lambda xs: round(core.percentile(xs, .5), 3) if xs else None
    out = {cls: {'records': p['records'], 'slot_s': round(p['slot_s'], 1), 'median_wall_s': med(p['wall']),
                 'median_correctness_s': med(p['correctness']), 'median_gpu_alone_s': med(p['locked']),
                 'median_lock_wait_s': med(p['lock_wait']), 'median_check_lock_wait_s': med(p['check_lock_wait']),
                 'median_stage_s': {k: med(v) for k, v in p['stages'].items()}}
           for cls, p in parts.items()}
    return {'by_record': out, 'gpu_alone_s': round(held, 1), 'gpu_alone_share': round(held / wall_s, 3) if wall_s else None,
            'slot_s_available': round(wall_s * slots, 1)}


def inflight_of(run_dir: Path) -> int:
    "How many candidates the run's loop judged at once (its last `start` line in schedule.jsonl)."
    starts = [json.loads(x) for x in (Path(run_dir)/'schedule.jsonl').read_text().splitlines() if '"start"' in x]
    return int(next((r['inflight'] for r in reversed(starts) if r.get('decision') == 'start' and r.get('inflight')), 1))


def time_table(tp: dict) -> str:
    "`time_parts` as a markdown table."
    rows = [{'record': cls, **{k: v for k, v in p.items() if k != 'median_stage_s'},
             'median stages s': ' '.join(f"{k} {v}" for k, v in p['median_stage_s'].items() if v)}
            for cls, p in tp['by_record'].items()]
    return table(rows, ['record', 'records', 'slot_s', 'median_wall_s', 'median_correctness_s', 'median_gpu_alone_s',
                        'median_lock_wait_s', 'median_check_lock_wait_s', 'median stages s'])


def merge(path: Path, card: str, row: dict) -> dict:
    "The results file with `row` added (replacing an earlier run of the same model on the same card)."
    old = json.loads(path.read_text()) if path.exists() else {}
    runs = [r for r in old.get('runs', []) if r.get('model') != row['model']] if old.get('card') == card else []
    return {'card': card, 'runs': runs + [row]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--preset', help='a preset (gpt2, bert, llama, or NAME-tiny)')
    src.add_argument('--model', help='a transformers model_type (qwen2, mistral, phi3, ...) built from its config')
    p.add_argument('--tiny', action='store_true', help='with --model: a tiny size (CPU smoke tests)')
    p.add_argument('--budget', default='10m')
    p.add_argument('--top', type=int, default=8)
    p.add_argument('--device', default='auto')
    p.add_argument('--agent', default='search', choices=['search', 'llm'])
    p.add_argument('--max-experiments', type=int, default=None)
    p.add_argument('--inflight', type=int, default=None, help='candidates judged at once (default: settings loop_inflight)')
    p.add_argument('--run', default=None, help='run folder (default: $OUT/loop-<model> or runs/loop-<model>-<time>); fresh each time')
    p.add_argument('--out', default=None, help='results file (default: benchmarks/results/loop_pace.json, _cpu on the CPU)')
    a = p.parse_args(argv)
    try:
        budget_s = core.parse_duration(a.budget)
        dev = core.get_device(a.device)
        from autokernel.optimize import optimize
        card = core.device_name(dev)
        print(f'card: {card}  torch {core.environment(dev)["torch"]}  triton {core.environment(dev)["triton"]}', flush=True)
        t0 = time.time()
        name, prof, model, inputs = profile_model(a, dev)
        print(f'profiled {name} in {time.time() - t0:.1f} s', flush=True)
    except AutokernelError as e:
        print(f'loop_pace: {e}', file=sys.stderr); return 2
    import os
    out_dir = os.environ.get('OUT')
    run = Path(a.run) if a.run else (Path(out_dir)/f'loop-{name}' if out_dir else core.runs_dir()/f"loop-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.rmtree(run, ignore_errors=True)
    t1 = time.time()
    s = optimize(run, profile=prof, top_n=a.top, budget=a.budget, agent=a.agent, device=str(dev), max_experiments=a.max_experiments, inflight=a.inflight,
                 model=model, inputs=inputs, progress=None, say=lambda m: print(m, flush=True))
    row = pace_row(name, budget_s, s, time.time() - t1)
    row['time_parts'] = time_parts(run, row['wall_s'], inflight_of(run))
    print('\n' + table([{'kernel': k, 'x over library baseline': v, 'x eager': row['speedup_eager'][k]} for k, v in row['kernel_speedups'].items()],
                       ['kernel', 'x over library baseline', 'x eager']))
    print(f"\n{name} on {card}: {row['judged']} judged ({row['screened']} screened, {row['fully_judged']} fully judged), "
          f"{row['kept']} kept, in {row['wall_s']:.0f} s: {row['candidates_per_hour']} candidates/hour"
          + ('' if core.is_gpu(dev) else '  [CPU: a smoke test, not GPU numbers]'))
    tp = row['time_parts']
    print(f"\nwhere the time went ({tp['slot_s_available']} slot-seconds; the GPU held alone by a bench {tp['gpu_alone_s']} s, "
          f"{tp['gpu_alone_share']} of the wall time" + ('' if core.is_gpu(dev) else '; the CPU has no such lock') + "):\n" + time_table(tp))
    path = Path(a.out) if a.out else ROOT/'benchmarks'/'results'/('loop_pace.json' if core.is_gpu(dev) else 'loop_pace_cpu.json')
    res = merge(path, card, row)
    path.write_text(json.dumps(res, indent=1) + '\n')
    print(f'wrote {path}')
    write_out('loop_pace.json', res)
    return 0


if __name__ == '__main__':
    sys.exit(main())
