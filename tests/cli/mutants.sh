#!/usr/bin/env bash
# mutants.sh ULPDIFF — the mutation score is part of `make check`: on the smoke corpus every
# known-bug variant of every operator is caught by its expected finding and every production
# kernel passes. Also: a corpus too weak to catch a variant makes `mutants` fail.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$U" mutants --backend cpu > "$T/out" 2>&1 || { cat "$T/out"; echo "mutants: a variant survived or production failed"; exit 1; }
cat "$T/out"
total=$("$U" list mutants | wc -l)
grep -q "^mutation score: $total/$total caught; production kernels pass$" "$T/out" || { echo "score line missing or not $total/$total"; exit 1; }
# hidden = 1 makes n = +-1 exactly: rounding n before the weight changes nothing, so this
# corpus cannot see rmsnorm.weight_mult_fp32 — mutants must say SURVIVED and exit 1.
printf '[weak]\nop = rmsnorm\ndtype = bf16\ntokens = 1\nhidden = 1\nvalues = normal\n' > "$T/weak.ini"
set +e; "$U" mutants "$T/weak.ini" --backend cpu --op rmsnorm > "$T/weak" 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "rmsnorm.weight_mult_fp32 .*SURVIVED" "$T/weak" || { echo "a surviving variant went unnoticed (exit $rc)"; cat "$T/weak"; exit 1; }
echo "mutants: ok"
