#!/usr/bin/env bash
# rope_positions.sh ULPDIFF — a RoPE position outside the cos/sin table is a clear error, never
# a read outside the table: the run names the position, its token and the table's range, the
# case fails with an `error` finding (in the text and the JSON report), and the same case with
# positions inside the table passes. (tests/test_rope.c checks that the other tokens are
# written and the bad ones are not; the ASan build checks that nothing is read out of bounds.)
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ARGS=(run --op rope --backend cpu --dtype bf16 --tokens 6 --q_heads 2 --kv_heads 1 --head_dim 64 --factor 0.5
      --style neox --base 1e4 --table fp32 --max_position 100 --no-shrink)

set +e
"$U" "${ARGS[@]}" --positions out_of_table --json "$T/bad.json" > "$T/out" 2> "$T/err"; rc=$?
set -e
# out_of_table puts max_position at token tokens/2 and -1 at the last token
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || { echo "out-of-table run: expected a non-zero exit without a crash, got $rc"; cat "$T/out" "$T/err"; exit 1; }
grep -q "position 100 of token 3 is outside the cos/sin table \[0, 100) (2 such tokens; their outputs are not written)" "$T/err" \
    || { echo "the error does not name the position, token and table range"; cat "$T/err"; exit 1; }
grep -q "finding error" "$T/out" || { echo "no error finding in the text report"; cat "$T/out"; exit 1; }
python3 - "$T/bad.json" <<'PY' || { echo "the JSON report lacks the error finding"; exit 1; }
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
assert len(cases) == 1 and any(f["kind"] == "error" for f in cases[0]["findings"]), cases
PY

"$U" "${ARGS[@]}" --positions edges > "$T/good" 2>&1 || { echo "in-table positions must pass"; cat "$T/good"; exit 1; }
echo "rope_positions: ok"
