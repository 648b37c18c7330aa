#!/usr/bin/env bash
# shrink.sh ULPDIFF — a failing case is shrunk and written as a reproducer case file; running
# that file reproduces the finding (the file carries the known-bug variant through `mutant =`),
# and without the variant the same case passes.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat > "$T/c.ini" <<'INI'
[fused]
op = rmsnorm_fused_add
dtype = bf16
tokens = 7
hidden = 127, 4096
INI
set +e
"$U" run "$T/c.ini" --backend cpu --mutant rmsnorm_fused_add.pre_add_residual --regressions "$T/reg" > "$T/out" 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "the variant run should fail (exit 1), got $rc"; cat "$T/out"; exit 1; }
files=("$T"/reg/rmsnorm_fused_add-*.ini)
[ "${#files[@]}" -eq 1 ] && [ -f "${files[0]}" ] || { echo "expected one reproducer, got: ${files[*]}"; cat "$T/out"; exit 1; }
r=${files[0]}
grep -q "^mutant = pre_add_residual$" "$r" || { echo "reproducer lacks the variant"; cat "$r"; exit 1; }
grep -q "^tokens = 1$" "$r" && grep -q "^hidden = 1$" "$r" || { echo "not shrunk to 1 x 1"; cat "$r"; exit 1; }
grep -q "^# It reproduces a tolerance finding" "$r" || { echo "reproducer does not say what it reproduces"; cat "$r"; exit 1; }
# running the reproducer reproduces the finding
set +e
"$U" run "$r" --backend cpu --no-shrink > "$T/rep" 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "finding tolerance: residual_out" "$T/rep" || { echo "reproducer does not reproduce"; cat "$T/rep"; exit 1; }
# the production kernel passes the same case
grep -v '^mutant' "$r" > "$T/prod.ini"
"$U" run "$T/prod.ini" --backend cpu --no-shrink > /dev/null || { echo "production fails the shrunk case"; exit 1; }
# --no-shrink writes nothing
set +e; "$U" run "$T/c.ini" --backend cpu --mutant rmsnorm_fused_add.pre_add_residual --no-shrink --regressions "$T/none" > /dev/null 2>&1; set -e
[ ! -e "$T/none" ] || { echo "--no-shrink wrote a reproducer"; exit 1; }
echo "shrink: ok"
