#!/usr/bin/env bash
# compare.sh ULPDIFF — a JSON report round-trips through `ulpdiff compare`: a report compared
# with itself is no worse (exit 0); a run of a known-bug variant as NEW is worse (exit 1, the
# cases listed); malformed JSON or a wrong schema is bad input (exit 2, naming the file).
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=cases/smoke/rmsnorm.ini
"$U" run "$C" --backend cpu -q --no-shrink --op rmsnorm --json "$T/old.json" > /dev/null
"$U" compare "$T/old.json" "$T/old.json" > "$T/out" || { echo "a report is worse than itself"; cat "$T/out"; exit 1; }
grep -q "0 worse" "$T/out"
set +e
"$U" run "$C" --backend cpu -q --no-shrink --mutant rmsnorm.weight_mult_fp32 --json "$T/new.json" > /dev/null; rc=$?
set -e
[ "$rc" -eq 1 ]
set +e; "$U" compare "$T/old.json" "$T/new.json" > "$T/out"; rc=$?; set -e
[ "$rc" -eq 1 ] || { echo "variant run not worse: exit $rc"; cat "$T/out"; exit 1; }
grep -q "^WORSE   rmsnorm.weight_mult_fp32(dtype=bf16, tokens=1, hidden=127.*new findings: tolerance" "$T/out" || { echo "worse case not listed"; head "$T/out"; exit 1; }
# the other direction: the variant's findings are gone, nothing is worse
"$U" compare "$T/new.json" "$T/old.json" > "$T/out" || { echo "production worse than the variant?"; exit 1; }
grep -q "findings gone: tolerance" "$T/out"
# bad input
echo '{"schema": "ulpdiff-report/1", "cases": [' > "$T/broken.json"
set +e; "$U" compare "$T/old.json" "$T/broken.json" 2> "$T/err" > /dev/null; rc=$?; set -e
[ "$rc" -eq 2 ] && grep -q "broken.json: not a JSON document" "$T/err" || { echo "malformed JSON: exit $rc"; cat "$T/err"; exit 1; }
echo '{"schema": "something-else/9", "cases": []}' > "$T/other.json"
set +e; "$U" compare "$T/other.json" "$T/old.json" 2> "$T/err" > /dev/null; rc=$?; set -e
[ "$rc" -eq 2 ] && grep -q "other.json: schema is \"something-else/9\"; this ulpdiff reads \"ulpdiff-report/1\"" "$T/err" || { echo "wrong schema: exit $rc"; cat "$T/err"; exit 1; }
set +e; "$U" compare "$T/old.json" "$T/missing.json" 2> /dev/null > /dev/null; rc=$?; set -e
[ "$rc" -eq 2 ]
echo "compare: ok"
