#!/usr/bin/env bash
# readable_runs.sh ULPDIFF — what a person reads after a run (docs/report-format.md, "Text"):
#   - passing cases are not listed unless --verbose; failing cases are, in full;
#   - the summary shows what decides pass or fail, the worst element's error as a fraction of
#     its budget, with the ulp figure beside it, labelled: a passing fp32 LayerNorm case with
#     cancellation has a huge max ulp and a worst/budget <= 1;
#   - failures are grouped by parameter value, in the text and in the HTML report: a
#     skip-expert-0 variant fails on every `ids` pattern that routes to expert 0 and on none
#     that does not.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "readable_runs: $*"; exit 1; }

set +e
"$U" run cases/smoke/post_reorder_sum.ini --backend cpu --no-shrink --mutant post_reorder_sum.skip_expert0 \
    --html "$T/r.html" > "$T/m.txt" 2> "$T/m.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$T/m.txt" "$T/m.err"; fail "expected exit 1 (findings), got $rc"; }
grep -q "^PASS" "$T/m.txt" && fail "passing cases listed without --verbose"
grep -q "^FAIL post_reorder_sum.skip_expert0(" "$T/m.txt" || fail "failing cases not listed"
grep -q "finding tolerance:" "$T/m.txt" || fail "a failing case is not printed in full"
grep -q "^failures by parameter value" "$T/m.txt" || { cat "$T/m.txt"; fail "no failures by parameter value"; }
line=$(grep -E "^    ids " "$T/m.txt") || { cat "$T/m.txt"; fail "no ids line in the failures by parameter value"; }
# highest rate first: the patterns that route tokens to expert 0 fail always, the others seldom
python3 - "$line" <<'PY' || fail "ids line: $line"
import re, sys
vals = re.findall(r"(\w+) (\d+)% \((\d+)/(\d+)\)", sys.argv[1])
rate = {v: int(p) for v, p, _, _ in vals}
assert [v for v, *_ in vals[:2]] in (["with_zero", "all_zero"], ["all_zero", "with_zero"]), vals
assert rate["with_zero"] == rate["all_zero"] == 100 and rate["uniform"] < 50 and rate["padded"] < 50, rate
assert [int(p) for _, p, _, _ in vals] == sorted((int(p) for _, p, _, _ in vals), reverse=True), vals
PY
grep -q "Failures by parameter value" "$T/r.html" || fail "the HTML report has no failures by parameter value"
grep -q "with_zero<b>100%</b>" "$T/r.html" || fail "the HTML report lacks ids = with_zero 100%"

# --verbose lists every case
"$U" run cases/smoke/rmsnorm.ini --op rmsnorm --backend cpu --no-shrink --max-cases 3 -v > "$T/v.txt" 2>&1
[ "$(grep -c '^PASS' "$T/v.txt")" -eq 3 ] || { cat "$T/v.txt"; fail "--verbose does not list every case"; }

# worst/budget decides; max ulp is beside it
"$U" run cases/smoke/layernorm.ini --op layernorm --backend cpu --no-shrink -q > "$T/l.txt" 2>&1 ||
    { cat "$T/l.txt"; fail "layernorm's smoke cases fail"; }
grep -q "worst/budget *max ulp" "$T/l.txt" || { cat "$T/l.txt"; fail "no worst/budget column beside max ulp"; }
python3 - "$T/l.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("layernorm ")]
fp32 = [r for r in rows if r[1] == "fp32"]
assert fp32, rows
frac, ulp = float(fp32[0][5]), float(fp32[0][6])
assert frac <= 1.0 and ulp > 1e3, ("expected a passing fp32 row with a large max ulp", fp32[0])
PY
echo "readable_runs: ok"
