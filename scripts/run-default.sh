#!/usr/bin/env bash
# run-default.sh BUILD — the main job: runs the default corpus on the cuda backend when a GPU
# is present (else cpu) and leaves the report in BUILD/reports/.
set -uo pipefail
build=${1:-build}
mkdir -p "$build/reports"
"$build/ulpdiff" run --backend auto 2>&1 | tee "$build/reports/run.txt"
rc=${PIPESTATUS[0]}
echo "report: $build/reports/run.txt"
exit "$rc"
