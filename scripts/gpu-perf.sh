#!/usr/bin/env bash
# gpu-perf.sh OUTDIR — the kernel performance run (docs/performance.md), on a GPU machine, in one
# go: every operator's production kernel and every launch configuration it offers, side by side
# (`ulpdiff bench --configs`, each configuration checked bit for bit against production), at
# bench and decode shapes; PyTorch eager and torch.compile on the same shapes
# (bench/torch_ops.py); the merged table (bench/table.py); and Nsight Compute on the production
# kernels that miss the bar (or on PERF_NCU_OPS), so the reason comes with the number.
#
#   PERF_ULPDIFF    the ulpdiff binary (default build-gpu/ulpdiff), built with
#                   -DUD_KERNEL_CONFIGS=ON so that every launch configuration is there to time
#                   (NIGHTLY_CMAKE_ARGS=-DUD_KERNEL_CONFIGS=ON for scripts/gpu-nightly.sh's build)
#   PERF_OPS        operators to time (comma-separated; default all)
#   PERF_ITERS      ulpdiff bench --iters (default 100)
#   PERF_TORCH      0: no PyTorch timings;  PERF_COMPILE_BUDGET: seconds for torch.compile (240)
#   PERF_NCU        0: no Nsight Compute;   PERF_NCU_OPS: operators to profile (default: the
#                   production rows under 85% of copy, at most 3)
#   PERF_BASELINE   a bench baseline (bench/baselines/<gpu>.json) to compare with
# Writes OUTDIR/bench.json, torch.json, table.md, table.txt, ncu-<op>.txt and perf.log; prints the
# table last. Exit 0; 1 when the baseline comparison flags a kernel or a configuration computes
# other bits than production; 3 when a step cannot run.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: gpu-perf.sh OUTDIR}
mkdir -p "$out" || exit 3
U=${PERF_ULPDIFF:-$top/build-gpu/ulpdiff}
[ -x "$U" ] || { echo "gpu-perf: no ulpdiff at $U (PERF_ULPDIFF)" >&2; exit 3; }
iters=${PERF_ITERS:-100}
ops_arg=()
[ -n "${PERF_OPS:-}" ] && ops_arg=(--op "$PERF_OPS")
rc=0
log() { echo "[gpu-perf $(date -u +%H:%M:%S)] $*" | tee -a "$out/perf.log"; }

log "ulpdiff bench --configs ($U)"
base_arg=()
[ -n "${PERF_BASELINE:-}" ] && base_arg=(--baseline "$PERF_BASELINE")
"$U" bench --configs --iters "$iters" "${ops_arg[@]}" "${base_arg[@]}" --json "$out/bench.json" 2>&1 | tee "$out/bench.txt"
brc=${PIPESTATUS[0]}
[ "$brc" -ne 0 ] && { log "ulpdiff bench exit $brc"; rc=$([ "$brc" -eq 1 ] && echo 1 || echo 3); }

if [ "${PERF_TORCH:-1}" != 0 ]; then
  log "bench/torch_ops.py (eager, torch.compile)"
  targs=(--json "$out/torch.json" --compile-budget "${PERF_COMPILE_BUDGET:-240}")
  [ -n "${PERF_OPS:-}" ] && targs+=(--only "$PERF_OPS")
  PYTHONUNBUFFERED=1 python3 "$top/bench/torch_ops.py" "${targs[@]}" > "$out/torch.txt" 2>&1 || log "torch_ops.py exit $?"
fi

tb=(--ulpdiff "$out/bench.json" --md "$out/table.md")
[ -f "$out/torch.json" ] && tb+=(--torch "$out/torch.json")
python3 "$top/bench/table.py" "${tb[@]}" > "$out/table.txt" 2>&1 || log "table.py exit $?"

if [ "${PERF_NCU:-1}" != 0 ] && command -v ncu > /dev/null 2>&1; then
  ncu_ops=${PERF_NCU_OPS:-$(python3 - "$out/bench.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = [k for k in d["kernels"] if k.get("config") == "production" and k.get("shape", "bench") == "bench"
        and k["op"] != "gate_proj" and k["fraction_of_copy"] < 0.85]
rows.sort(key=lambda k: k["fraction_of_copy"])
print(",".join(dict.fromkeys(k["op"] for k in rows[:3])))
PY
)}
  IFS=, read -r -a nops <<< "$ncu_ops"
  for op in "${nops[@]}"; do
    [ -n "$op" ] || continue
    log "ncu on $op"
    # The timed calls come after the warm-up; profile a few of them with the clocks left alone.
    timeout 240 ncu --clock-control none --launch-skip 20 --launch-count 2 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      --section WarpStateStats --section SchedulerStats \
      "$U" bench --op "$op" --shapes bench --iters 4 --warmup-ms 0 > "$out/ncu-$op.txt" 2>&1 || log "ncu on $op exit $?"
  done
fi
cat "$out/table.txt"
exit "$rc"
