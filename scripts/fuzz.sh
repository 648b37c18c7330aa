#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS — runs every libFuzzer target of BUILD (fuzz_*, built by `make fuzz`)
# for SECONDS each, from its committed seed corpus fuzz/corpus/<target>; new inputs go to
# BUILD/corpus/<target>, a crashing input to BUILD/crash-<target>-*. Prints one line a target:
# executions, executions per second, the corpus it ended with, and the verdict; exit 1 when a
# target found a crash, a leak, a hang (> 10 s on one input) or an out-of-memory (> 2 GB).
set -euo pipefail
B=${1:?usage: fuzz.sh BUILD SECONDS}
S=${2:-60}
cd "$(dirname "$0")/.."
shopt -s nullglob
bins=("$B"/fuzz_*)
[ ${#bins[@]} -gt 0 ] || { echo "fuzz: no fuzz_* targets in $B (make fuzz builds them)"; exit 2; }
bad=0
printf '%-16s %12s %10s %8s  %s\n' target executions exec/s corpus result
for bin in "${bins[@]}"; do
    t=${bin##*/fuzz_}
    mkdir -p "$B/corpus/$t"
    log="$B/fuzz-$t.log"
    set +e
    "$bin" -max_total_time="$S" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/crash-$t-" "$B/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    corpus=$(ls "$B/corpus/$t" | wc -l)
    result=ok
    if [ "$rc" -ne 0 ]; then result="FAILED (exit $rc; $log)"; bad=1; fi
    printf '%-16s %12s %10s %8s  %s\n' "$t" "$execs" "$rate" "$corpus" "$result"
done
exit $bad
