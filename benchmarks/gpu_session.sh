#!/usr/bin/env bash
# The GPU runs behind BENCHMARKS.md, in stages that each fit one 10-minute command on the lent H200.
#   here, once a session:   bash benchmarks/gpu_session.sh prepare     (wheels -> .whl/, bubblewrap -> .gpu/; both git-ignored
#                           through .git/info/exclude; carry both: run(..., carry=[".whl", ".gpu"]))
#   on the GPU machine:     bash benchmarks/gpu_session.sh STAGE...    (STAGEs below, one after another in one call; logs and
#                           JSON under $OUT; LIMIT_<STAGE>=seconds overrides a single-step stage's time limit; ONLY=kinds
#                           for kernels_*, EXPLOITS=names for exploits, N=candidates and WORKERS=pool sizes for pace,
#                           KB_PATH=problems and KB_OUT=results file for kernelbench; loop_bg starts the loop stage in a
#                           session of its own that outlives the call, loop_wait [LIMIT_loop_wait=s] waits and fetches it)
# Stages run one program at a time: session 5 ran three at once and a planted out-of-memory candidate starved the
# others' workers, which then failed for reasons of their own. Every step has its own time limit and logs as it goes.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/new}; mkdir -p "$out"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$out/session.log"; }
step() { local name=$1 limit=$2; shift 2; el "== $name: $*"; timeout "$limit" "$@" > "$out/$name.log" 2>&1; local rc=$?
         el "   $name: exit $rc"; nvidia-smi --query-gpu=memory.used --format=csv,noheader 2>/dev/null | sed 's/^/   gpu memory used: /' >> "$out/session.log"; }
setup() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /opt/aksite .whl/*.whl > /tmp/pip.log 2>&1 || { el "wheel install failed:"; tail -3 /tmp/pip.log; }
  export PYTHONPATH=/opt/aksite:$PWD PYTHONUNBUFFERED=1
  if ! command -v bwrap > /dev/null && [ -x .gpu/bwrap ]; then
    mkdir -p /opt/akbin
    if ldd .gpu/bwrap | grep -q "not found"; then printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$PWD/.gpu/lib" "$PWD/.gpu/bwrap" > /opt/akbin/bwrap
    else cp .gpu/bwrap /opt/akbin/; fi
    chmod +x /opt/akbin/bwrap; export PATH=/opt/akbin:$PATH
  fi
  el "setup: $(python3 -c 'import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())' 2>&1)"
  el "sandbox: $(python3 -c 'from autokernel import sandbox; print(sandbox.sandbox_level())' 2>&1)"
}
ready=${AK_READY:-}   # (set by loop_bg: its loop inherits this setup)
setup_once() { [ -n "$ready" ] || setup; ready=1; }
lim() { local v="LIMIT_${1}"; echo "${!v:-$2}"; }
stage() {
case "$1" in
  prepare)  bash ../shared/device/wheelhouse.sh .whl papermill ipykernel nbclient nbformat nbconvert openai nbdev kernels liger-kernel
            rm -f .whl/huggingface_hub-* .whl/hf_xet-* .whl/tqdm-*          # keep the image's own (transformers needs its hub)
            mkdir -p .gpu/lib && cp "$(command -v bwrap)" .gpu/ && for l in $(ldd "$(command -v bwrap)" | awk '/=>/ {print $3}'); do
              case $l in */libc.so*) ;; *) cp -L "$l" .gpu/lib/ ;; esac; done
            grep -qx '/.whl/' .git/info/exclude 2>/dev/null || printf '/.whl/\n/.gpu/\n' >> .git/info/exclude
            du -sh .whl .gpu ;;
  check)    setup_once
            step ipc_check 240 python3 benchmarks/ipc_check.py
            step gpu_tests 420 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_gpu.py tests/test_runtime.py tests/test_sandbox.py tests/test_judge_arena.py tests/test_graph_timing.py \
              tests/test_export.py tests/test_triton_kernels.py -k "gpu or cuda or inductor"
            step cuda_mma 300 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_kernels.py -k gpu ;;   # the tensor-core paths
  smoke)    setup_once   # one call that finds what is broken on the GPU before the long measurements
            step ipc_check 60 python3 benchmarks/ipc_check.py
            step cuda_mma 200 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_kernels.py -k gpu &
            step gpu_tests 180 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_gpu.py tests/test_runtime.py tests/test_sandbox.py tests/test_judge_arena.py tests/test_graph_timing.py \
              tests/test_export.py tests/test_triton_kernels.py -k "gpu or cuda or inductor"
            wait
            step gpu_exploits 220 python3 benchmarks/gpu_exploits.py
            step harness_pace 60 python3 benchmarks/harness_pace.py --n 30 --workers 3 ;;
  ipc)      setup_once   # the arena's IPC first; the judge's suites only if it holds, else the presets' profiles (no judge needed)
            step ipc_probe 60 python3 benchmarks/ipc_probe.py
            step ipc_check 60 python3 benchmarks/ipc_check.py
            if grep -q '"ok": true' "$out/ipc_check.json" 2>/dev/null; then
              step arena_tests 90 python3 -m pytest -q -p no:cacheprovider tests/test_judge_arena.py tests/test_graph_timing.py
              step gpu_exploits 240 python3 benchmarks/gpu_exploits.py
              step harness_pace 60 python3 benchmarks/harness_pace.py --n 30 --workers 3
            else
              step profile_presets 300 python3 benchmarks/profile_presets.py --out-dir presets
              cp presets/*.profile.json "$out"/ 2> /dev/null
            fi ;;
  e2e_short) setup_once   # the presets end to end on short optimize runs (what is left of a session's device time)
            step e2e 250 python3 benchmarks/e2e_vs_compile.py --models "${MODELS:-gpt2,llama}" --budget "${BUDGET:-15s}" --runs-dir /tmp/e2e --merge ;;
  judge)    setup_once
            step gpu_exploits 240 python3 benchmarks/gpu_exploits.py
            step harness_pace 240 python3 benchmarks/harness_pace.py --n 30 --workers 3
            step sandbox_cost 120 python3 benchmarks/sandbox_cost.py --device cuda --n 5 ;;
  e2e)      setup_once   # MODELS=gpt2,llama,bert,qwen2,t5,vit BUDGET=8m; --merge keeps the rows of models run in earlier calls
            step e2e 560 python3 benchmarks/e2e_vs_compile.py --models "${MODELS:-gpt2,qwen2}" --budget "${BUDGET:-60s}" --runs-dir /tmp/e2e --merge
            tar czf "$out/e2e_runs.tgz" -C /tmp e2e 2> /dev/null ;;
  kernels)  setup_once
            step baselines 560 python3 benchmarks/baselines.py --backends triton,cuda ;;
  loop)     setup_once
            step loop_pace "$(lim loop 600)" python3 benchmarks/loop_pace.py ${MODEL:+--model "$MODEL"} $([ -n "${MODEL:-}" ] || echo --preset gpt2) --budget "${BUDGET:-8m}" ${INFLIGHT:+--inflight "$INFLIGHT"}
            for r in "$out"/loop-*; do [ -d "$r" ] && tar czf "$r.tgz" -C "$out" "$(basename "$r")" && rm -rf "$r"; done ;;   # every candidate's record
  loop_bg)  setup_once   # a loop that outlives this call (a 10-minute budget does not fit one): its own session, from a
            bg=/root/akrun_${BG:-loop}; rm -rf "$bg" /root/akrepo_${BG:-loop}; mkdir -p "$bg"   # copy of the tree (the next
            cp -a . /root/akrepo_${BG:-loop}                                                    # call re-syncs this one)
            (cd /root/akrepo_${BG:-loop} && AK_READY=1 OUT=$bg LIMIT_loop=${LIMIT_loop:-1000} setsid nohup bash benchmarks/gpu_session.sh loop \
               > "$bg/bg.log" 2>&1 < /dev/null &)
            sleep 2; el "loop_bg: started ${MODEL:-gpt2} ${BUDGET:-8m} into $bg" ;;
  loop_wait) bg=/root/akrun_${BG:-loop}; t_end=$(( $(date +%s) + $(lim loop_wait 540) ))   # waits for loop_bg's stage, fetches its files
            while pgrep -f "gpu_session.sh loop$" > /dev/null && [ "$(date +%s)" -lt "$t_end" ]; do sleep 5; done
            if pgrep -f "gpu_session.sh loop$" > /dev/null; then el "loop_wait: still running"; else el "loop_wait: done"; fi
            mkdir -p "$out/${BG:-loop}"; find "$bg" -maxdepth 1 -type f -exec cp {} "$out/${BG:-loop}"/ \;   # (the run folder: as loop-*.tgz once done)
            tail -3 "$bg/loop_pace.log" 2> /dev/null
            dmesg 2> /dev/null | grep -i -E "killed process|out of memory" | tail -5 > "$out/${BG:-loop}/dmesg_kills.txt" ;;
  kernelbench) setup_once
            step kernelbench "$(lim kernelbench 560)" python3 benchmarks/kernelbench_pace.py ${KB_PATH:-} --device cuda --budget-per-problem "${BUDGET:-40s}" ${KB_OUT:+--out "$KB_OUT"} ;;
  multi)    setup_once   # on nvidia-h200-x4: 1, 2 and 4 pipelines (Ray: its wheel is 79 MB, over the 64 MiB carry -- check the image)
            step multi_gpu_pace 560 python3 benchmarks/multi_gpu_pace.py --preset gpt2 --budget "${BUDGET:-2m}" --no-ray ;;
  profile)  setup_once
            step profile_presets 400 python3 benchmarks/profile_presets.py --out-dir presets
            cp presets/*.profile.json "$out"/ 2> /dev/null ;;
  graph)    setup_once   # the graph-timed rounds and the IPC arena, on the GPU
            step graph_tests "$(lim graph 100)" python3 -m pytest -q -p no:cacheprovider tests/test_graph_timing.py tests/test_judge_arena.py ;;
  kernels_triton) setup_once
            step baselines_triton "$(lim kernels_triton 300)" python3 benchmarks/baselines.py --backends triton --merge ${ONLY:+--only "$ONLY"} ;;
  kernels_cuda) setup_once
            step baselines_cuda "$(lim kernels_cuda 300)" python3 benchmarks/baselines.py --backends cuda --merge ${ONLY:+--only "$ONLY"} ;;
  exploits) setup_once
            step gpu_exploits "$(lim exploits 200)" python3 benchmarks/gpu_exploits.py ${EXPLOITS:+--only "$EXPLOITS"} ;;
  overhead) setup_once
            step judge_overhead "$(lim overhead 240)" python3 benchmarks/judge_overhead.py ${ONLY:+--only "$ONLY"} ;;
  pace)     setup_once
            for w in ${WORKERS:-3}; do   # WORKERS="3 8": one pace per pool size, each kept as harness_pace_w<N>.json
              rm -f benchmarks/results/harness_pace.json   # (a run cut short must not pass on the last size's file)
              step harness_pace_w$w "$(lim pace 120)" python3 benchmarks/harness_pace.py --n "${N:-30}" --workers "$w"
              cp benchmarks/results/harness_pace.json "$out/harness_pace_w$w.json" 2> /dev/null; done ;;
  *) echo "usage: $0 STAGE... (prepare smoke ipc e2e_short check judge e2e kernels kernels_triton kernels_cuda graph exploits overhead pace loop loop_bg loop_wait kernelbench multi profile)" >&2; exit 2 ;;
esac
}
[ $# -gt 0 ] || { stage ""; }
for s in "$@"; do stage "$s"; [ "$s" = prepare ] && exit 0; done
tar czf "$out/results.tgz" benchmarks/results 2> /dev/null
el end
