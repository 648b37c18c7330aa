#!/usr/bin/env bash
# gpu-sanitize.sh OUTDIR — compute-sanitizer over the cuda backend (docs/nightly.md). For each
# tool (memcheck, racecheck, initcheck, synccheck), side by side:
#   1. the self-test: section [<tool>] of cases/faults/sanitizers.ini, a fault_probe variant with
#      the one defect that tool exists to see; the tool must report it (first: it is short, and
#      it shows the tool works at all);
#   2. a time-boxed subset of the smoke corpus: --shard I/N then --per-op N, so every operator's
#      kernels run under the tool a few times at edge shapes; the tool must report no error and
#      ulpdiff must pass.
# Isolation is off (--no-isolate): the tool watches one process, and each run is its own process.
# The logs are parsed into findings by scripts/nightly_check.py: OUTDIR/summary.json (per tool and
# run: error count, whether it finished, the first error's lines) and OUTDIR/summary.txt; the
# raw logs stay beside them (<tool>.<corpus|selftest>.log, ulpdiff's output in .txt, reports
# in .json).
#
# Environment: ULPDIFF (default build-gpu/ulpdiff), SANITIZE_TOOLS, SANITIZE_CORPUS (cases/smoke),
# SANITIZE_SHARD (1/13), SANITIZE_PER_OP (2), SANITIZE_TIMEOUT (seconds for each tool's two runs,
# 900; the self-test gets a third of it, the corpus subset what is left),
# SANITIZE_SELFTEST (0: skip the self-test), SANITIZE_PARALLEL (0: one tool at a time),
# SANITIZE_EXTRA (more compute-sanitizer options, word-split), COMPUTE_SANITIZER (the binary),
# NIGHTLY_DRY_RUN=1 (print the commands).
# Exit: 0 clean and every planted defect reported; 1 an error on the corpus or a defect missed;
# 2 bad usage; 3 a run did not finish (timeout, crash of the tool) or the tool is missing.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 3
[ $# -eq 1 ] || { echo "usage: scripts/gpu-sanitize.sh OUTDIR" >&2; exit 2; }
out=$1
U=${ULPDIFF:-build-gpu/ulpdiff}
tools=${SANITIZE_TOOLS:-memcheck racecheck initcheck synccheck}
corpus=${SANITIZE_CORPUS:-cases/smoke}
shard=${SANITIZE_SHARD:-1/13}
per_op=${SANITIZE_PER_OP:-2}
limit=${SANITIZE_TIMEOUT:-900}
dry=${NIGHTLY_DRY_RUN:-0}
ncpu=$(nproc 2> /dev/null || echo 2)
jobs=$((ncpu / 4 > 2 ? ncpu / 4 : 2))
for t in $tools; do
  case "$t" in memcheck | racecheck | initcheck | synccheck) ;; *)
    echo "gpu-sanitize: SANITIZE_TOOLS: unknown tool '$t' (memcheck racecheck initcheck synccheck)" >&2; exit 2 ;;
  esac
done
case "$limit" in '' | *[!0-9]*) echo "gpu-sanitize: SANITIZE_TIMEOUT: '$limit' is not a number of seconds" >&2; exit 2 ;; esac
cs=${COMPUTE_SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
if [ "$dry" != 1 ]; then
  [ -x "$cs" ] || { echo "gpu-sanitize: compute-sanitizer not found (set COMPUTE_SANITIZER)" >&2; exit 3; }
  [ -x "$U" ] || { echo "gpu-sanitize: no ulpdiff at $U (set ULPDIFF)" >&2; exit 3; }
  mkdir -p "$out" || exit 3
fi
# shellcheck disable=SC2206
extra=(${SANITIZE_EXTRA:-})

# one LIMIT TOOL PART CASEFILES... [ulpdiff run options]: one run under the tool, exit code in .rc
one() {
  local lim=$1 t=$2 part=$3
  shift 3
  local cmd=(timeout -k 5 "$lim" "$cs" --tool "$t" --log-file "$out/$t.$part.log" --print-limit 50 "${extra[@]}"
             "$U" run "$@" --backend cuda --no-isolate --no-shrink -q --jobs "$jobs" --json "$out/$t.$part.json")
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "${cmd[@]}"; printf '\n'; return; fi
  "${cmd[@]}" > "$out/$t.$part.txt" 2>&1
  echo $? > "$out/$t.$part.rc"
}

lane() {
  local t=$1 sec s=$SECONDS left
  if [ "${SANITIZE_SELFTEST:-1}" != 0 ]; then
    sec=$out/selftest-$t.ini
    if [ "$dry" = 1 ]; then sec="<section [$t] of cases/faults/sanitizers.ini>"
    else
      awk -v want="[$t]" '/^\[/ { on = ($0 == want) } on' cases/faults/sanitizers.ini > "$sec"
    fi
    if [ "$dry" != 1 ] && [ ! -s "$sec" ]; then
      echo "gpu-sanitize: no section [$t] in cases/faults/sanitizers.ini" | tee "$out/$t.selftest.log" >&2
      echo 2 > "$out/$t.selftest.rc"
    else
      one $((limit / 3 > 10 ? limit / 3 : 10)) "$t" selftest "$sec"
    fi
  fi
  left=$((limit - (SECONDS - s)))
  [ "$left" -lt 10 ] && left=10
  # shellcheck disable=SC2086
  one "$left" "$t" corpus $corpus --shard "$shard" --per-op "$per_op"
}

for t in $tools; do
  if [ "${SANITIZE_PARALLEL:-1}" = 1 ] && [ "$dry" != 1 ]; then lane "$t" & else lane "$t"; fi
done
wait
[ "$dry" = 1 ] && { echo "+ python3 scripts/nightly_check.py sanitize-summary $out --tools '$tools'"; exit 0; }
python3 "$top/scripts/nightly_check.py" sanitize-summary "$out" --tools "$tools"
