#!/usr/bin/env bash
# The GPU runs behind BENCHMARKS.md, in stages that each fit one 10-minute command on the lent H100.
#   bash benchmarks/gpu_session.sh STAGE      (STAGE: profile | kernels | bench | optimize | e2e)
# Writes logs and JSON under $OUT (or benchmarks/results/new/ when OUT is unset). Needs only the GPU image's
# python3 (torch, triton, transformers); autokernel is imported from the working tree.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
out=${OUT:-benchmarks/results/new}; mkdir -p "$out"
run() { local name=$1; shift; echo "== $name: $*"; timeout "${LIMIT:-560}" "$@" 2>&1 | tee "$out/$name.log"; }
case "${1:-}" in
  profile)  run profile_presets python3 benchmarks/profile_presets.py --out-dir presets
            cp presets/*.profile.json presets/profile_check.json "$out"/ ;;
  kernels)  LIMIT=150 run check_cuda python3 tests/test_cuda_gpu.py
            LIMIT=400 run baselines python3 benchmarks/baselines.py --workers 6 ;;
  bench)    LIMIT=200 run gpu_exploits python3 benchmarks/gpu_exploits.py
            LIMIT=300 run harness_pace python3 benchmarks/harness_pace.py --n 60 --workers 3 ;;
  optimize) run optimize_gpt2 python3 benchmarks/optimize_gpt2.py --budget 8m --run /tmp/ak-gpt2 --fresh
            tar czf "$out/optimize_gpt2_run.tgz" -C /tmp ak-gpt2 ;;
  e2e)      run e2e python3 benchmarks/e2e_presets.py ${E2E_ARGS:-} ;;
  *) echo "usage: $0 profile|kernels|bench|optimize|e2e"; exit 2 ;;
esac
