#!/usr/bin/env bash
# isolation.sh ULPDIFF — process isolation (docs/nightly.md): a kernel that crashes, aborts or
# hangs costs exactly one `error` case; every other case still runs, in a fresh worker, and
# passes; the report is whole; and isolation does not change any result. On the cpu backend
# the fault probe raises the signals its GPU faults map to (scripts/gpu-nightly.sh runs the
# same file on cuda).
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
files=(cases/smoke/rmsnorm.ini cases/faults/isolation.ini)

# 1. Crashes and a hang in the middle of a corpus, two threads per worker.
set +e
"$U" run "${files[@]}" --backend cpu --no-shrink -q --isolate --jobs 2 --case-timeout 2 --json "$T/iso.json" \
  > "$T/iso.txt" 2> "$T/iso.err"
rc=$?
set -e
[ "$rc" -eq 3 ] || { echo "expected exit 3 (device/internal errors), got $rc"; cat "$T/iso.txt" "$T/iso.err"; exit 1; }
total=$("$U" run "${files[@]}" --dry-run | tail -1 | cut -d' ' -f1)
python3 - "$T/iso.json" "$total" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); total = int(sys.argv[2])
cases = d["cases"]
assert len(cases) == total == d["summary"]["cases"], (len(cases), total)
assert d["meta"]["not_run"] == 0
errors = {c["mutant"]: c for c in cases if c["status"] == "error"}
assert sorted(errors) == ["device_assert", "hang", "illegal_address", "misaligned"], sorted(errors)
for m, c in errors.items():
    assert [f["kind"] for f in c["findings"]] == ["error"], c["findings"]
msg = {m: c["findings"][0]["message"] for m, c in errors.items()}
assert "signal 11" in msg["illegal_address"] and "signal 7" in msg["misaligned"], msg
assert "signal 6" in msg["device_assert"] and "case-timeout" in msg["hang"], msg
others = [c for c in cases if c["status"] != "error"]
assert others and all(c["status"] == "pass" for c in others), [c["label"] for c in others if c["status"] != "pass"]
PY
grep -q "4 failed" "$T/iso.txt" || { echo "summary line missing"; cat "$T/iso.txt"; exit 1; }

# 2. Isolation changes no result: the same cases in-process give the same statuses and errors.
"$U" run cases/smoke/rmsnorm.ini --backend cpu --no-shrink -q --no-isolate --jobs 2 --json "$T/plain.json" > /dev/null
"$U" run cases/smoke/rmsnorm.ini --backend cpu --no-shrink -q --isolate --jobs 2 --json "$T/isolated.json" > /dev/null
python3 - "$T/plain.json" "$T/isolated.json" <<'PY'
import json, sys
def key(path):
    return [(c["label"], c["status"], [(o["name"], o["max_ulp"], o["mean_ulp"], o["histogram"]["counts"]) for o in c["outputs"]])
            for c in json.load(open(path))["cases"]]
a, b = key(sys.argv[1]), key(sys.argv[2])
assert a == b, next((x, y) for x, y in zip(a, b) if x != y)
PY

echo "isolation: ok"
