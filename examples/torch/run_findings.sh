#!/usr/bin/env bash
# run_findings.sh [ULPDIFF] [OUT] [DEVICE] — what docs/findings.md reports, in one command:
#   ulpdiff export (examples/python/cases.ini: value edges; examples/torch/cases.ini: model shapes)
#   -> examples/torch/torch_runner.py --device DEVICE -> ulpdiff check --json/--html/--junit
#   -> examples/torch/summarize.py (the Markdown table for docs/findings.md), then the rope
#   attribution (examples/torch/diagnose_rope.py, checked into rope_fp32_rotation.json).
# Defaults: ULPDIFF=build/ulpdiff, OUT=torch-findings, DEVICE=cuda. Needs python3 with torch,
# numpy and ml_dtypes. Every step has a timeout. The exported inputs (~450 MB) are deleted at
# the end; OUT keeps manifest.json, torch_runner.json (torch version, device, settings), the
# reports, summary.md and the logs. Exit: 0 when it ran (findings are the expected result,
# they are what is being measured), 2 on bad usage, 3 when a step failed or timed out.
set -euo pipefail
U=${1:-build/ulpdiff}
OUT=${2:-torch-findings}
DEV=${3:-cuda}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[ -x "$U" ] || { echo "run_findings: $U is not an executable ulpdiff (first argument)" >&2; exit 2; }
case $DEV in cuda|cpu) ;; *) echo "run_findings: device must be cuda or cpu, not '$DEV'" >&2; exit 2 ;; esac
rm -rf "$OUT/export"
mkdir -p "$OUT"
trap 'rm -rf "$OUT/export"' EXIT   # the inputs are large and can be exported again
ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }   # milliseconds -> seconds, 1 decimal
t0=$(ms)
step() {   # step NAME SECONDS CMD...: runs CMD with a timeout, its output in OUT/NAME.log
  local name=$1 secs=$2
  shift 2
  local s rc=0
  s=$(ms)
  timeout "$secs" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  printf '%-8s %6s s  exit %d\n' "$name" "$(secs $(( $(ms) - s )))" "$rc" | tee -a "$OUT/timing.txt"
  return $rc
}
: > "$OUT/timing.txt"
step export 60 "$U" export "$ROOT/examples/python/cases.ini" "$ROOT/examples/torch/cases.ini" --dir "$OUT/export" \
  || { tail -5 "$OUT/export.log"; exit 3; }
step runner 120 python3 "$HERE/torch_runner.py" "$OUT/export" --device "$DEV" || { tail -20 "$OUT/runner.log"; exit 3; }
rc=0
step check 120 "$U" check --dir "$OUT/export" -q --json "$OUT/report.json" --html "$OUT/report.html" \
  --junit "$OUT/report.xml" || rc=$?
[ "$rc" -le 1 ] || { tail -20 "$OUT/check.log"; exit 3; }   # 1: findings, the measurement itself
cp "$OUT/export/manifest.json" "$OUT/export/torch_runner.json" "$OUT/"
python3 "$HERE/summarize.py" "$OUT/report.json" --runner "$OUT/torch_runner.json" > "$OUT/summary.md"
# attribution of the rope findings (diagnose_rope.py: HF's cos/sin, rotation in fp32)
# (a failure here loses only the attribution: the main results are already written)
rc=0
step diagnose 60 python3 "$HERE/diagnose_rope.py" "$OUT/export" --device "$DEV" -q || rc=$?
[ "$rc" -ne 0 ] || step check_rope 60 "$U" check --dir "$OUT/export" --op rope -q --json "$OUT/rope_fp32_rotation.json" || rc=$?
if [ -f "$OUT/rope_fp32_rotation.json" ] && [ "$rc" -le 1 ]; then
  { echo; echo "## rope with HF's cos/sin and the rotation in fp32 (diagnose_rope.py)"; echo
    python3 "$HERE/summarize.py" "$OUT/rope_fp32_rotation.json" | grep '^| '; } >> "$OUT/summary.md"
else
  echo "run_findings: the rope attribution failed (exit $rc): see $OUT/diagnose.log, $OUT/check_rope.log" | tee -a "$OUT/summary.md"
fi
printf 'total    %6s s\n' "$(secs $(( $(ms) - t0 )))" | tee -a "$OUT/timing.txt"
tail -1 "$OUT/check.log"
echo "run_findings: reports and summary.md in $OUT"
