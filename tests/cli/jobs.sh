#!/usr/bin/env bash
# jobs.sh ULPDIFF — results and report order are identical for every --jobs N: the JSON
# reports of --jobs 1 and --jobs 3 differ only in timings and the recorded command line, and
# so does the text report.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=cases/smoke/rmsnorm.ini
for j in 1 3; do
  "$U" run "$C" --backend cpu --jobs "$j" --no-shrink --json "$T/j$j.json" > "$T/j$j.txt"
done
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def strip(p):
    d = json.load(open(p))
    for k in ("date", "command", "jobs", "elapsed_seconds"):
        d["meta"].pop(k)
    for c in d["cases"]:
        c.pop("seconds")
        for k in [k for k in c["phases"] if k.endswith("_seconds")]:   # phase timings
            c["phases"].pop(k)
    return d
a, b = strip(f"{t}/j1.json"), strip(f"{t}/j3.json")
assert len(a["cases"]) > 100
assert a == b, "reports differ between --jobs 1 and --jobs 3"
PY
sed -E 's/ [0-9]+\.[0-9]+s$//' "$T/j1.txt" > "$T/a"
sed -E 's/ [0-9]+\.[0-9]+s$//' "$T/j3.txt" > "$T/b"
diff "$T/a" "$T/b" > /dev/null || { echo "text reports differ between --jobs 1 and 3"; diff "$T/a" "$T/b" | head; exit 1; }
echo "jobs: ok"
