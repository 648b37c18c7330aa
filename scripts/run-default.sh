#!/usr/bin/env bash
# run-default.sh BUILD — the main job (`make run`): runs the default corpus (cases/smoke, and
# the default sweep of any operator without smoke cases) on the cuda backend when a GPU is
# present, else cpu, and leaves the reports in BUILD/reports/: run.txt (text), report.json
# (docs/report-format.md), junit.xml, report.html, and regressions/ (shrunk reproducers of
# any failure).
set -uo pipefail
build=${1:-build}
out=$build/reports
mkdir -p "$out"
run=("$build/ulpdiff" run --backend auto --json "$out/report.json" --junit "$out/junit.xml" --html "$out/report.html"
     --regressions "$out/regressions")
if [ -t 2 ]; then
  # A terminal keeps stderr: the live progress line is drawn there, not copied into run.txt.
  "${run[@]}" | tee "$out/run.txt"
else
  "${run[@]}" 2>&1 | tee "$out/run.txt"
fi
rc=${PIPESTATUS[0]}
echo "reports: $out/run.txt $out/report.json $out/junit.xml $out/report.html"
exit "$rc"
