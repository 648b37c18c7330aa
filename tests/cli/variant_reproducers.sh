#!/usr/bin/env bash
# variant_reproducers.sh ULPDIFF — a known-bug variant run (`ulpdiff run --mutant OP.BUG`, the
# README's example) fails as it should and leaves the regression corpus alone: reproducers of a
# variant's findings are written only where --regressions DIR says, and that holds for a
# variant named in a case file too. A failing production case still gets its reproducer in
# cases/regressions (of the working directory, else of the source tree).
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/cases/regressions"
cd "$T"
fail() { echo "variant_reproducers: $*"; exit 1; }
set +e
"$U" run --mutant rmsnorm_fused_add.pre_add_residual --backend cpu > variant.out 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || { cat variant.out; fail "the variant run should fail (exit 1), got $rc"; }
[ -z "$(ls -A cases/regressions)" ] || { ls cases/regressions; fail "a variant run wrote reproducers into cases/regressions"; }
if grep -q "^shrunk" variant.out; then cat variant.out; fail "a variant run shrank without --regressions"; fi

printf '[v]\nop = rmsnorm_fused_add\nmutant = pre_add_residual\ndtype = bf16\ntokens = 7\nhidden = 127\n' > v.ini
set +e; "$U" run v.ini --backend cpu > file.out 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && [ -z "$(ls -A cases/regressions)" ] || { cat file.out; fail "a case file's variant wrote into cases/regressions (exit $rc)"; }

set +e; "$U" run v.ini --backend cpu --regressions reg > asked.out 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && ls reg/rmsnorm_fused_add-*.ini > /dev/null 2>&1 || { cat asked.out; fail "--regressions DIR got no reproducer"; }

# production held to a budget of 0 ulp fails: its reproducer goes to cases/regressions
printf '[p]\nop = rmsnorm\ndtype = bf16\ntokens = 7\nhidden = 127\nbudget.bf16 = 0\nscaled_budget = 0\n' > p.ini
set +e; "$U" run p.ini --backend cpu > prod.out 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && ls cases/regressions/rmsnorm-*.ini > /dev/null 2>&1 || { cat prod.out; fail "a failing production case got no reproducer in cases/regressions"; }
echo "variant_reproducers: ok"
