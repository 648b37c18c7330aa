#!/usr/bin/env bash
# casefile_errors.sh ULPDIFF — bad case files are rejected with file:line and a suggestion,
# exit 2, and nothing runs (not even the cases of a good file named alongside).
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat > "$T/good.ini" <<'INI'
[fine]
op = rmsnorm
dtype = bf16
tokens = 1
hidden = 8
INI
cat > "$T/bad.ini" <<'INI'
# line 1
[typo_in_key]
op = rmsnorm
hiden = 4096

[typo_in_op]
op = rmsnrom
INI

set +e
"$U" validate "$T/good.ini" "$T/bad.ini" > "$T/out" 2> "$T/err"; rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "validate: expected exit 2, got $rc"; cat "$T/err"; exit 1; }
grep -q "bad.ini:4: unknown key 'hiden' for operator rmsnorm; did you mean 'hidden'?" "$T/err" || { echo "missing line-4 error"; cat "$T/err"; exit 1; }
grep -q "bad.ini:7: unknown operator 'rmsnrom'; did you mean 'rmsnorm'?" "$T/err" || { echo "missing line-7 error"; cat "$T/err"; exit 1; }

# run: same errors, exit 2, and no case ran
set +e
"$U" run --backend cpu "$T/good.ini" "$T/bad.ini" > "$T/out" 2> "$T/err"; rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "run: expected exit 2, got $rc"; exit 1; }
grep -q "bad.ini:4:" "$T/err" || { echo "run did not report the line"; cat "$T/err"; exit 1; }
if grep -q "PASS\|FAIL" "$T/out"; then echo "a case ran although a case file was bad"; cat "$T/out"; exit 1; fi

# a bad value names the line of the value
printf '[v]\nop = rmsnorm\n\ndtype = bf16, fp61\n' > "$T/val.ini"
set +e
"$U" validate "$T/val.ini" 2> "$T/err"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "val.ini:4: 'fp61' is not a valid dtype" "$T/err" || { echo "bad value"; cat "$T/err"; exit 1; }

# an impossible shape (more than the tool allocates) is rejected before anything runs
printf '[huge]\nop = rmsnorm\ntokens = 1000000\nhidden = 262144\n' > "$T/huge.ini"
set +e
"$U" run --backend cpu "$T/huge.ini" > "$T/out" 2> "$T/err"; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "huge.ini:1:" "$T/err" || { echo "oversized shape accepted"; cat "$T/err"; exit 1; }

# the good file alone validates
"$U" validate "$T/good.ini" > "$T/ok"   # into a file: grep -q on a pipe would SIGPIPE ulpdiff under pipefail
grep -q "good.ini: ok, 1 section, 2 cases" "$T/ok" || { echo "good file not validated"; cat "$T/ok"; exit 1; }
# and the checked-in corpus validates
"$U" validate > /dev/null
echo "casefile errors: ok"
