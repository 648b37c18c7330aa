#!/usr/bin/env bash
# refusal.sh ULPDIFF_NCCL — ulpdiff-nccl (harness/nccl/main.c) where it cannot run: with no GPU
# and with one GPU visible it refuses with exit 3 and a message that says how many GPUs it needs
# and how many it sees, before any worker starts; bad usage is exit 2 naming the option, checked
# before the GPUs are counted. Runs on any machine the program builds on (no GPU needed).
set -euo pipefail
N=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "nccl_refusal: $*"; exit 1; }

expect() {   # expect RC PATTERN ENV... -- ARGS...: exit RC and PATTERN on stderr
  local want=$1 pat=$2 rc
  shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  set +e; env "${envs[@]}" "$N" "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$T/out" "$T/err"; fail "$*: exit $rc, expected $want"; }
  grep -Eq -- "$pat" "$T/err" || { cat "$T/err"; fail "$*: no line matching: $pat"; }
}

# no GPU visible, then at most one: exit 3, the count in the message, no case run
expect 3 "needs at least 2 GPUs, and 0 are visible .*ulpdiff run --op tp_allreduce" CUDA_VISIBLE_DEVICES= -- --op tp_allreduce --ranks 2
[ ! -s "$T/out" ] || { cat "$T/out"; fail "a case ran without GPUs"; }
expect 3 "needs at least 2 GPUs, and [01] (is|are) visible" CUDA_VISIBLE_DEVICES=0 -- --op tp_allreduce_rmsnorm --ranks 2 --tokens 3
expect 3 "needs at least 1 GPU, and 0 are visible" CUDA_VISIBLE_DEVICES= -- --one-gpu --ranks 1
# NVLink multicast stays off even when the environment asks for it: the refusal comes first,
# and the workers' environment is set in the program (NCCL_NVLS_ENABLE=0), so only the message
expect 3 "needs at least 2 GPUs" CUDA_VISIBLE_DEVICES= NCCL_NVLS_ENABLE=1 -- --ranks 2

# usage: exit 2 naming what is wrong, whatever the GPUs
expect 2 "--op rmsnorm: not an all-reduce operator" CUDA_VISIBLE_DEVICES= -- --op rmsnorm
expect 2 "--collective: 'ring' is not allreduce or reduce_scatter" CUDA_VISIBLE_DEVICES= -- --collective ring
expect 2 "--rankz: tp_allreduce has no such parameter" CUDA_VISIBLE_DEVICES= -- --rankz 2
expect 2 "ranks" CUDA_VISIBLE_DEVICES= -- --ranks 65
printf '[x]\nop = rmsnorm\n' > "$T/other.ini"
expect 2 "not an all-reduce operator" CUDA_VISIBLE_DEVICES= -- "$T/other.ini"
printf '[x]\nop = tp_allreduce\nranks = 2\nmutant = double_allreduce\n' > "$T/variant.ini"
expect 2 "variant.ini:1: known-bug variants run on the simulated ranks" CUDA_VISIBLE_DEVICES= -- "$T/variant.ini"
"$N" --help > "$T/help" && grep -q "^usage: ulpdiff-nccl" "$T/help" || fail "--help"
echo "nccl_refusal: ok"
