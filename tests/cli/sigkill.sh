#!/usr/bin/env bash
# sigkill.sh ULPDIFF — a SIGKILL during a run leaves no partial JSON report: FILE is either
# absent or the previous complete report, while FILE.partial keeps the finished cases.
set -euo pipefail
U=$1
T=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
# A run long enough to be killed: MPFR reference on large rows, many seeds.
long=(run --backend cpu --jobs 1 --no-shrink --mpfr --op rmsnorm --dtype bf16 --tokens 64 --hidden 8193 --seeds 500)

kill_after_two_cases() {   # $1: report path
  "$U" "${long[@]}" --json "$1" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    [ -f "$1.partial" ] && [ "$(wc -l < "$1.partial")" -ge 3 ] && break
    sleep 0.1
  done
  [ "$(wc -l < "$1.partial")" -ge 3 ] || { echo "the run wrote no cases to $1.partial"; exit 1; }
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

# 1. no previous report: nothing at FILE afterwards
kill_after_two_cases "$T/r.json"
[ ! -e "$T/r.json" ] || { echo "a killed run left $T/r.json"; exit 1; }
# the partial file holds the header and complete case lines, each valid JSON
python3 - "$T/r.json.partial" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
head = json.loads(lines[0])
assert head["schema"] == "ulpdiff-report/1" and head["partial"] is True
for l in lines[1:]:
    if l: assert json.loads(l)["op"] == "rmsnorm"
PY

# 2. a previous complete report survives untouched
"$U" run cases/smoke/rmsnorm.ini --backend cpu -q --no-shrink --op rmsnorm_gemma --json "$T/prev.json" > /dev/null
cp "$T/prev.json" "$T/keep.json"
kill_after_two_cases "$T/prev.json"
cmp -s "$T/prev.json" "$T/keep.json" || { echo "the previous report was damaged"; exit 1; }
"$U" compare "$T/prev.json" "$T/prev.json" > /dev/null
echo "sigkill: ok"
