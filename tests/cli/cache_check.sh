#!/usr/bin/env bash
# cache_check.sh ULPDIFF — `ulpdiff cache-check` (docs/cache-checks.md): production passes every
# scenario of every operator with derived state (exit 0); each known-bug cache variant is
# caught by the scenario named for it (exit 1); the randomized mode shrinks a failure to three
# steps and writes a reproducer that --replay reproduces (exit 1) and that production passes;
# usage errors exit 2; --backend cuda without a GPU exits 3 with one clear line.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "cache_check: $*"; exit 1; }

"$U" cache-check --backend cpu > "$T/prod" 2>&1 || { cat "$T/prod"; fail "production has findings"; }
for op in gate_proj fp32_layernorm rope; do
    grep -q "^cache-check $op(" "$T/prod" || { cat "$T/prod"; fail "$op was not checked"; }
done
grep -q "CACHE-STALE\|NOT-REUSED\|SAVED\|ERROR" "$T/prod" && { cat "$T/prod"; fail "a finding in production"; }
grep -q "configuration 2 (factor=" "$T/prod" || { cat "$T/prod"; fail "rope's config_change does not change rotary_dim"; }

# every cache variant in the registry (expected finding cache-stale): caught by its scenario
n=0
while read -r full; do
    set +e; "$U" cache-check --backend cpu --mutant "$full" > "$T/v" 2>&1; rc=$?; set -e
    [ "$rc" -eq 1 ] && grep -q "^  variant ${full#*.}: caught by its scenario" "$T/v" ||
        { cat "$T/v"; fail "$full not caught by its scenario (exit $rc)"; }
    n=$((n + 1))
done < <("$U" list | grep -o '[a-z0-9_]*\.[a-z0-9_]* — .*(caught by: cache-stale)' | cut -d' ' -f1)
[ "$n" -ge 11 ] || fail "only $n cache variants listed"

# random mode: shrink, reproducer, replay
set +e
"$U" cache-check --backend cpu --mutant rope.cache_misses_rotary_dim --random 50 --seed 3 --regressions "$T/reg" > "$T/r" 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$T/r"; fail "random mode should find the variant (exit $rc)"; }
grep -q "shrunk from [0-9]* to 3 steps" "$T/r" || { cat "$T/r"; fail "not shrunk to 3 steps"; }
files=("$T"/reg/rope-cache-*.steps)
[ "${#files[@]}" -eq 1 ] && [ -f "${files[0]}" ] || { cat "$T/r"; fail "expected one reproducer"; }
r=${files[0]}
grep -q "^variant = cache_misses_rotary_dim$" "$r" && grep -q "^config 2 *# factor=" "$r" || { cat "$r"; fail "reproducer content"; }
set +e; "$U" cache-check --replay "$r" --backend cpu > "$T/rep" 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q "CACHE-STALE at step 3" "$T/rep" || { cat "$T/rep"; fail "replay does not reproduce (exit $rc)"; }
sed 's/^variant = .*/variant = production/' "$r" > "$T/prod.steps"
"$U" cache-check --replay "$T/prod.steps" --backend cpu > "$T/rp" 2>&1 || { cat "$T/rp"; fail "production fails the reproducer"; }
"$U" cache-check --backend cpu --op fp32_layernorm --random 20 --steps 16 > "$T/rr" 2>&1 || { cat "$T/rr"; fail "production fails random sequences"; }

# usage errors: exit 2 with the flag named
set +e
"$U" cache-check --op rmsnorm > "$T/u1" 2>&1; r1=$?
"$U" cache-check --mutant rope.style_swapped > "$T/u2" 2>&1; r2=$?
"$U" cache-check --backend tpu > "$T/u3" 2>&1; r3=$?
printf 'op = rope\nsteps:\nconfig x\n' > "$T/bad.steps"
"$U" cache-check --replay "$T/bad.steps" --backend cpu > "$T/u4" 2>&1; r4=$?
set -e
[ "$r1" -eq 2 ] && grep -q "rmsnorm keeps no derived state" "$T/u1" || { cat "$T/u1"; fail "--op rmsnorm: exit $r1"; }
[ "$r2" -eq 2 ] && grep -q "kernel variant, not a cache variant" "$T/u2" || { cat "$T/u2"; fail "--mutant kernel variant: exit $r2"; }
[ "$r3" -eq 2 ] && grep -q -- "--backend: 'tpu'" "$T/u3" || { cat "$T/u3"; fail "--backend tpu: exit $r3"; }
[ "$r4" -eq 2 ] && grep -q "bad.steps:3: 'x' is not a configuration index" "$T/u4" || { cat "$T/u4"; fail "bad reproducer: exit $r4"; }

# --backend cuda: on a machine without a GPU, exit 3 and one line saying why
# (with a GPU: every scenario on cuda:0, the host devices and the other GPUs, and no finding)
set +e; "$U" cache-check --backend cuda > "$T/c" 2> "$T/ce"; rc=$?; set -e
if [ "$rc" -eq 3 ]; then
    grep -q "^ulpdiff cache-check: --backend cuda: " "$T/ce" && [ "$(wc -l < "$T/ce")" -eq 1 ] && [ ! -s "$T/c" ] ||
        { cat "$T/c" "$T/ce"; fail "--backend cuda without a device: not one clear line"; }
elif [ "$rc" -ne 0 ]; then
    cat "$T/c" "$T/ce"; fail "--backend cuda: exit $rc"
fi
echo "cache_check: ok"
