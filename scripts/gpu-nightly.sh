#!/usr/bin/env bash
# gpu-nightly.sh [OUTDIR] — the nightly GPU run (docs/nightly.md), also `make nightly`.
# On the GPU machine, from a clean tree plus the carried .bundle (scripts/bundle-deps.sh):
# unpacks the bundle (scripts/gpu-env.sh), builds for the device's architecture, runs the gpu
# tests, the nightly corpus on cuda (twice per kernel, cpu/cuda cross-check; JSON, JUnit and
# HTML reports), compares with reports/baselines/<gpu-name>.json, runs the fault self-tests,
# compute-sanitizer (scripts/gpu-sanitize.sh) and the benchmarks (bench/), prints one status
# line per stage and a summary table. Everything it writes goes under OUTDIR (default
# out/nightly): summary.txt, summary.json, env.txt, logs/, corpus/, faults/, sanitize/, bench/.
#
# Stages, run in the order listed (NIGHTLY_STAGES; default all):
#   build      configure + build ulpdiff and the gpu_* test programs for sm_<compute_cap>
#   gpu-tests  ctest -L gpu
#   corpus     ulpdiff run NIGHTLY_CORPUS --repeat N --cross-check, reports into OUTDIR/corpus
#   baseline   ulpdiff compare reports/baselines/<gpu>.json OUTDIR/corpus/report.json
#   mutants    ulpdiff mutants over cases/smoke on cuda: production passes, every known-bug
#              variant caught (the mutation score on the device)
#   cache      ulpdiff cache-check on cuda: the scenarios of every cached operator, the
#              randomized mode, and every known-bug cache variant caught by its scenario
#   faults     isolation self-test (cases/faults/isolation.ini between real cases) and the
#              determinism / cross-backend self-test (cases/faults/determinism.ini)
#   sanitize   scripts/gpu-sanitize.sh: memcheck, racecheck, initcheck, synccheck
#   bench      ulpdiff bench + bench/torch_ops.py, merged by bench/table.py
#
# Tiers (NIGHTLY_TIER; docs/nightly.md) set the knobs below to a tested whole; a knob set in the
# environment still wins:
#   quick  every stage in at most 9 minutes on one H100/H200, every operator reached: the corpus
#          at NIGHTLY_PER_OP=24 cases an operator, cache --random 50, torch eager only, bench
#          alone after the build, then the correctness stages side by side (NIGHTLY_PARALLEL=1),
#          NIGHTLY_DEADLINE_SECONDS=530
#   full   the real nightly: the whole nightly corpus at model shapes (no budget, no subset),
#          cache --random 500, torch.compile too; hours on a CI machine
#   (unset) the knobs' own defaults, as before tiers existed
# Knobs (environment):
#   NIGHTLY_TIER              quick | full (above)
#   NIGHTLY_PARALLEL          1: after the build, bench alone on the GPU, then gpu-tests,
#                             corpus+baseline, mutants, cache, faults and sanitize as concurrent
#                             chains (one GPU serves them all: these are correctness runs)
#   NIGHTLY_STAGES            stages to run, in order ("build gpu-tests corpus baseline mutants cache faults sanitize bench")
#   NIGHTLY_DEADLINE_SECONDS  wall-clock budget for the whole script: each stage's timeout is cut to
#                             what is left (15 s kept for the summary); a stage with < 20 s left is skipped
#   NIGHTLY_BUDGET_SECONDS    corpus: --budget-seconds (start no case after S s; default: whole corpus)
#   NIGHTLY_SHARD, NIGHTLY_PER_OP   corpus: --shard I/N, --per-op N (a subset that reaches every operator)
#   NIGHTLY_DEVICES           corpus: --devices LIST|all (a multi-GPU host: one worker set per GPU)
#   NIGHTLY_CORPUS            corpus files/dirs (default cases/nightly)
#   NIGHTLY_REPEAT            corpus: --repeat (default 2: every kernel twice, bitwise)
#   NIGHTLY_JOBS              ulpdiff --jobs (default: core count)
#   NIGHTLY_CASE_TIMEOUT      corpus: --case-timeout seconds (default 300)
#   NIGHTLY_SHRINK_MAX        corpus: failing cases shrunk into OUTDIR/corpus/regressions (default 3)
#   NIGHTLY_BUILD_DIR         build folder (default build-gpu); when set and it already holds a
#                             ulpdiff configured for this architecture, the build stage reuses it
#   NIGHTLY_CMAKE_ARGS        extra configure arguments (word-split)
#   NIGHTLY_CUDA_ARCH         architecture (e.g. 90) instead of nvidia-smi's compute_cap
#   NIGHTLY_GPU_NAME          device name for the baseline file instead of nvidia-smi's
#   NIGHTLY_BASELINE          baseline file (default reports/baselines/<slug of the gpu name>.json)
#   NIGHTLY_BACKEND           cuda (default); cpu runs corpus/baseline/faults on the host, for
#                             testing this script without a GPU (tests/cli/nightly.sh)
#   NIGHTLY_BUNDLE            0: do not use .bundle even when present
#   NIGHTLY_TIMEOUT_<STAGE>   per-stage timeout in seconds (BUILD 900, GPU_TESTS 900, CORPUS
#                             budget+600 or 14400, BASELINE 120, MUTANTS 1800, CACHE 600, FAULTS 600,
#                             SANITIZE 1800, BENCH 1800)
#   NIGHTLY_CACHE_RANDOM      cache: random sequences for --random (default 200)
#   NIGHTLY_GPU_TEST_TIMEOUT  ctest --timeout per gpu test program (default 600)
#   NIGHTLY_FAULT_TIMEOUT     faults: --case-timeout for the hanging probe (default 10)
#   SANITIZE_*                passed to scripts/gpu-sanitize.sh (see there)
#   NIGHTLY_BENCH_ITERS       ulpdiff bench --iters (default 50)
#   NIGHTLY_BENCH_CONFIGS     1: ulpdiff bench --configs (every launch configuration side by side)
#   NIGHTLY_BENCH_BASELINE    bench baseline (default bench/baselines/<slug of the gpu name>.json): a
#                             kernel more than 10% slower than it fails the bench stage
#   NIGHTLY_TORCH             0: skip bench/torch_ops.py;  NIGHTLY_TORCH_COMPILE=0: eager only
#   NIGHTLY_PERF_STRICT       1: a flagged benchmark row (bench/table.py) fails the run
#   NIGHTLY_DRY_RUN           1: print the commands, run nothing
#
# Exit codes: 0 every stage passed (skipped stages and "no baseline yet" included); 1 a stage
# found something: findings, worse than the baseline, a self-test not caught, a sanitizer error;
# 2 bad usage; 3 a stage could not run: build failure, no device, a timeout, a missing tool.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 3
out=${1:-out/nightly}
case "$out" in /*) ;; *) out=$top/$out ;; esac

all_stages="build gpu-tests corpus baseline mutants cache faults sanitize bench"
stages=${NIGHTLY_STAGES:-$all_stages}
for s in $stages; do
  case " $all_stages " in *" $s "*) ;; *)
    echo "gpu-nightly: NIGHTLY_STAGES: unknown stage '$s' (stages: $all_stages)" >&2
    exit 2 ;;
  esac
done
backend=${NIGHTLY_BACKEND:-cuda}
case "$backend" in cuda | cpu) ;; *) echo "gpu-nightly: NIGHTLY_BACKEND: '$backend' is not cuda or cpu" >&2; exit 2 ;; esac
num() {   # num NAME VALUE: VALUE must be a non-negative integer
  case "$2" in '' | *[!0-9]*) echo "gpu-nightly: $1: '$2' is not a non-negative integer (seconds or a count)" >&2; exit 2 ;; esac
}
dry=${NIGHTLY_DRY_RUN:-0}
tier=${NIGHTLY_TIER:-}
case "$tier" in
  quick)
    : "${NIGHTLY_PER_OP:=24}" "${NIGHTLY_CACHE_RANDOM:=50}" "${NIGHTLY_TORCH_COMPILE:=0}" "${NIGHTLY_PARALLEL:=1}"
    : "${NIGHTLY_DEADLINE_SECONDS:=530}" "${NIGHTLY_BENCH_ITERS:=50}" "${SANITIZE_PER_OP:=1}"
    export NIGHTLY_PER_OP NIGHTLY_CACHE_RANDOM NIGHTLY_TORCH_COMPILE NIGHTLY_PARALLEL NIGHTLY_DEADLINE_SECONDS \
      NIGHTLY_BENCH_ITERS SANITIZE_PER_OP ;;
  full)
    : "${NIGHTLY_CACHE_RANDOM:=500}" "${NIGHTLY_TORCH_COMPILE:=1}" "${NIGHTLY_BENCH_ITERS:=200}"
    export NIGHTLY_CACHE_RANDOM NIGHTLY_TORCH_COMPILE NIGHTLY_BENCH_ITERS ;;
  '') ;;
  *) echo "gpu-nightly: NIGHTLY_TIER: '$tier' is not quick or full" >&2; exit 2 ;;
esac
parallel=${NIGHTLY_PARALLEL:-0}
deadline=${NIGHTLY_DEADLINE_SECONDS:-}
budget=${NIGHTLY_BUDGET_SECONDS:-}
[ -z "$deadline" ] || num NIGHTLY_DEADLINE_SECONDS "$deadline"
[ -z "$budget" ] || num NIGHTLY_BUDGET_SECONDS "$budget"
corpus=${NIGHTLY_CORPUS:-cases/nightly}
repeat=${NIGHTLY_REPEAT:-2}
jobs=${NIGHTLY_JOBS:-$(nproc 2> /dev/null || echo 2)}
case_timeout=${NIGHTLY_CASE_TIMEOUT:-300}
shrink_max=${NIGHTLY_SHRINK_MAX:-3}
fault_timeout=${NIGHTLY_FAULT_TIMEOUT:-10}
bench_iters=${NIGHTLY_BENCH_ITERS:-50}
for v in repeat jobs case_timeout shrink_max fault_timeout bench_iters; do num "$v" "${!v}"; done
bd=${NIGHTLY_BUILD_DIR:-build-gpu}
case "$bd" in /*) ;; *) bd=$top/$bd ;; esac
U=$bd/ulpdiff
reserve=15
t0=$SECONDS

if [ "$dry" != 1 ]; then mkdir -p "$out/logs" || exit 3; : > "$out/logs/stages.tsv"; fi
declare -a S_NAME=() S_STATUS=() S_SECS=() S_NOTE=()
record() {   # record STAGE STATUS SECONDS NOTE
  S_NAME+=("$1"); S_STATUS+=("$2"); S_SECS+=("$3"); S_NOTE+=("$4")
  printf 'nightly: %-9s %-7s %5ss  %s\n' "$1" "$2" "$3" "$4"
  # Stages of a parallel chain run in a subshell: the main shell reads their records from here.
  [ "$dry" = 1 ] || printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4//$'\t'/ }" >> "$out/logs/stages.tsv"
}
# Seconds a step may take: WANT, cut to what the deadline leaves (0: no time left).
limit_for() {
  local want=$1 left
  if [ -n "$deadline" ]; then
    left=$((deadline - (SECONDS - t0) - reserve))
    [ "$left" -lt "$want" ] && want=$left
  fi
  [ "$want" -lt 0 ] && want=0
  echo "$want"
}
# run LIMIT LOG CMD...: CMD under `timeout`, stdout+stderr into LOG; dry run: print it.
run() {
  local limit=$1 log=$2
  shift 2
  if [ "$dry" = 1 ]; then
    printf '+ timeout %s' "$limit"; printf ' %q' "$@"; printf ' > %s\n' "${log#"$out"/}"
    return 0
  fi
  # timeout 0 would mean no limit: with no time left the step does not start.
  if [ "$limit" -lt 1 ]; then echo "gpu-nightly: no time left (NIGHTLY_DEADLINE_SECONDS)" > "$log"; return 124; fi
  timeout -k 15 "$limit" "$@" > "$log" 2>&1
}
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }
tail_log() { [ "$dry" = 1 ] || { echo "---- last lines of ${1#"$out"/}:"; tail -n "${2:-15}" "$1"; echo "----"; }; }
py() { python3 "$top/scripts/nightly_check.py" "$@"; }

# ---------------------------------------------------------------- environment
bundle_note="no bundle"
if [ "${NIGHTLY_BUNDLE:-1}" != 0 ] && [ -d "$top/.bundle/debs" ]; then
  orig_ld=${LD_LIBRARY_PATH-}; orig_cpath=${CPATH-}; orig_path=$PATH
  if [ "$dry" = 1 ]; then
    echo "+ source scripts/gpu-env.sh .bundle/debs"
  else
    # shellcheck disable=SC1091  # scripts/gpu-env.sh, checked on its own
    source "$top/scripts/gpu-env.sh" "$top/.bundle/debs"
  fi
  bundle_note=".bundle ($(find "$top/.bundle/debs" -name '*.deb' | wc -l) debs)"
else
  orig_ld=${LD_LIBRARY_PATH-}; orig_cpath=${CPATH-}; orig_path=$PATH
fi
# Python (PyTorch) runs with the machine's own libraries, not the bundle's.
torch_env=(env LD_LIBRARY_PATH="$orig_ld" CPATH="$orig_cpath" PATH="$orig_path" PYTHONUNBUFFERED=1)

# The CUDA tools where a bare PATH lacks them (nvcc for CMake, compute-sanitizer).
if ! command -v nvcc > /dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="$PATH:/usr/local/cuda/bin"; orig_path=$PATH
fi
have_smi=0
command -v nvidia-smi > /dev/null 2>&1 && have_smi=1
gpu_name=${NIGHTLY_GPU_NAME:-}
arch=${NIGHTLY_CUDA_ARCH:-}
if [ "$backend" = cuda ]; then
  if [ -z "$gpu_name" ] && [ "$have_smi" = 1 ]; then
    gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -n 1)
  fi
  if [ -z "$arch" ] && [ "$have_smi" = 1 ]; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n 1 | tr -d ' .')
  fi
else
  gpu_name=${gpu_name:-cpu}
fi
slug=$(printf '%s' "${gpu_name:-unknown-gpu}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9' '-' | tr -s '-' | sed 's/^-//; s/-$//')
baseline=${NIGHTLY_BASELINE:-reports/baselines/$slug.json}
case "$baseline" in /*) ;; *) baseline=$top/$baseline ;; esac
bench_baseline=${NIGHTLY_BENCH_BASELINE:-bench/baselines/$slug.json}
case "$bench_baseline" in /*) ;; *) bench_baseline=$top/$bench_baseline ;; esac

echo "nightly: $(date -u +%Y-%m-%dT%H:%M:%SZ) device '${gpu_name:-none}' arch '${arch:-none}' backend $backend;" \
     "tier ${tier:-custom}; stages: $stages; out: $out; $bundle_note${deadline:+; deadline ${deadline}s}"
if [ "$dry" != 1 ]; then
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$top" rev-parse HEAD 2> /dev/null || echo unknown)$([ -n "$(git -C "$top" status --porcelain 2> /dev/null)" ] && echo ' (local changes)')"
    echo "stages: $stages"
    env | grep -E '^(NIGHTLY|SANITIZE)_' | sort
    echo "bundle: $bundle_note"
    [ "$have_smi" = 1 ] && nvidia-smi 2>&1 | head -n 20
    command -v nvcc > /dev/null && nvcc --version | tail -n 2
    command -v cmake > /dev/null && cmake --version | head -n 1
    command -v compute-sanitizer > /dev/null && compute-sanitizer --version | tail -n 1
  } > "$out/env.txt" 2>&1
fi

build_failed=0
no_ulpdiff() {   # a stage that needs the binary: 0 when it is there
  [ "$dry" = 1 ] || [ -x "$U" ] && return 1
  record "$1" error 0 "no ulpdiff in ${bd#"$top"/}$([ "$build_failed" = 1 ] && echo ': the build failed' || echo ': add the build stage or set NIGHTLY_BUILD_DIR')"
  return 0
}
need_device() {   # cuda stages on a machine without a GPU
  [ "$backend" = cuda ] && [ "$have_smi" = 0 ] && [ "$dry" != 1 ] || return 1
  record "$1" error 0 "no nvidia-smi: not a GPU machine (NIGHTLY_BACKEND=cpu tests the script on the host)"
  return 0
}
# stage_limit STAGE DEFAULT: the stage's timeout (NIGHTLY_TIMEOUT_<STAGE>, cut by the
# deadline) into $lim; records a skip and fails when under 20 s are left.
stage_limit() {
  local var
  var="NIGHTLY_TIMEOUT_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  lim=${!var:-$2}
  num "$var" "$lim"
  lim=$(limit_for "$lim")
  if [ "$lim" -lt 20 ]; then record "$1" skip 0 "NIGHTLY_DEADLINE_SECONDS reached"; return 1; fi
}
join_notes() { local j; j=$(printf '%s; ' "$@"); printf '%s' "${j%; }"; }

# ---------------------------------------------------------------- build
stage_build() {
  local s=$SECONDS rc targets=(ulpdiff) cache_arch="" gen=()
  if [ "$backend" = cuda ] && [ -z "$arch" ]; then
    record build error 0 "cannot read the architecture: no nvidia-smi (set NIGHTLY_CUDA_ARCH, e.g. 90)"
    build_failed=1; return
  fi
  if [ -n "${NIGHTLY_BUILD_DIR:-}" ] && [ -x "$U" ] && [ -f "$bd/CMakeCache.txt" ]; then
    cache_arch=$(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$bd/CMakeCache.txt")
    if [ "$backend" = cpu ] || [ "$cache_arch" = "$arch" ]; then
      record build skip 0 "reusing ${bd#"$top"/} (built for ${cache_arch:+sm_}${cache_arch:-the host})"
      return
    fi
  fi
  stage_limit build 900 || { build_failed=1; return; }
  if [ "$dry" != 1 ]; then
    local m missing=()
    for m in mpfr jansson inih openblas; do pkg-config --exists "$m" 2> /dev/null || missing+=("$m"); done
    if [ ${#missing[@]} -gt 0 ]; then
      record build error 0 "pkg-config finds no ${missing[*]}: carry .bundle (scripts/bundle-deps.sh, docs/nightly.md)"
      build_failed=1; return
    fi
  fi
  command -v ninja > /dev/null 2>&1 && gen=(-G Ninja)
  [ -f "$bd/CMakeCache.txt" ] && gen=()   # an existing folder keeps its generator
  local cfg=(-S "$top" -B "$bd" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  # -lineinfo: compute-sanitizer reports name the source line.
  [ "$backend" = cuda ] && cfg+=(-DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_FLAGS=-lineinfo)
  # shellcheck disable=SC2206
  cfg+=(${NIGHTLY_CMAKE_ARGS:-})
  local f
  for f in "$top"/tests/gpu_*.c; do [ -e "$f" ] && targets+=("$(basename "$f" .c)"); done
  run "$lim" "$out/logs/configure.log" cmake "${cfg[@]}"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    run "$(limit_for $((lim - (SECONDS - s))))" "$out/logs/build.log" \
      cmake --build "$bd" -j "$(nproc 2> /dev/null || echo 2)" --target "${targets[@]}"
    rc=$?
    [ "$rc" -eq 0 ] || { echo "gpu-nightly: BUILD FAILED (exit $rc): see $out/logs/build.log" >&2; tail_log "$out/logs/build.log" 30; }
  else
    echo "gpu-nightly: CONFIGURE FAILED (exit $rc): see $out/logs/configure.log" >&2
    tail_log "$out/logs/configure.log" 30
  fi
  [ "$dry" = 1 ] && { record build dry-run 0 ""; return; }
  # Without nvcc CMake quietly builds a cpu-only ulpdiff; on a GPU machine that is a failure.
  if [ "$rc" -eq 0 ] && [ "$backend" = cuda ] && ! grep -q 'CUDA backend enabled' "$out/logs/configure.log"; then
    echo "gpu-nightly: BUILD FAILED: CMake found no nvcc, so ulpdiff has no CUDA backend (logs/configure.log)" >&2
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    build_failed=1
    record build error $((SECONDS - s)) "$(timed_out "$rc" && echo "timed out after ${lim}s" || echo "failed (exit $rc)"): logs/configure.log, logs/build.log"
    return
  fi
  record build pass $((SECONDS - s)) "${targets[*]} for ${arch:+sm_}${arch:-the host} in ${bd#"$top"/}"
}

# ---------------------------------------------------------------- gpu-tests
stage_gpu_tests() {
  local s=$SECONDS rc line
  no_ulpdiff gpu-tests && return
  need_device gpu-tests && return
  stage_limit gpu-tests 900 || return
  run "$lim" "$out/logs/gpu-tests.log" ctest --test-dir "$bd" -L gpu --output-on-failure -j 3 \
    --timeout "${NIGHTLY_GPU_TEST_TIMEOUT:-600}"
  rc=$?
  [ "$dry" = 1 ] && { record gpu-tests dry-run 0 ""; return; }
  line=$(grep -E 'tests passed|No tests were found' "$out/logs/gpu-tests.log" | tail -n 1)
  # A gpu test exits 77 (skipped) when it finds no usable device: on a GPU machine that is an
  # error, not a pass.
  local skipped
  skipped=$(grep -c '(Skipped)' "$out/logs/gpu-tests.log")
  if timed_out "$rc"; then record gpu-tests error $((SECONDS - s)) "timed out after ${lim}s; logs/gpu-tests.log"
  elif [ "$skipped" -gt 0 ] && [ "$backend" = cuda ]; then
    tail_log "$out/logs/gpu-tests.log" 12
    record gpu-tests error $((SECONDS - s)) "$skipped gpu test(s) skipped: no usable CUDA device; logs/gpu-tests.log"
  elif [ "$rc" -ne 0 ]; then tail_log "$out/logs/gpu-tests.log" 25; record gpu-tests fail $((SECONDS - s)) "${line:-ctest exit $rc}; logs/gpu-tests.log"
  else record gpu-tests pass $((SECONDS - s)) "$line"
  fi
}

# ---------------------------------------------------------------- corpus
corpus_partial=0
stage_corpus() {
  local s=$SECONDS rc d=$out/corpus
  no_ulpdiff corpus && return
  need_device corpus && return
  stage_limit corpus "$([ -n "$budget" ] && echo $((budget + 600)) || echo 14400)" || return
  [ "$dry" = 1 ] || { rm -rf "$d"; mkdir -p "$d"; }
  # shellcheck disable=SC2206
  local args=(run $corpus --backend "$backend" --repeat "$repeat" --jobs "$jobs" --case-timeout "$case_timeout"
              --shrink-max "$shrink_max" --regressions "$d/regressions" -q
              --json "$d/report.json" --junit "$d/junit.xml" --html "$d/report.html")
  [ "$backend" = cuda ] && args+=(--cross-check)
  [ -n "$budget" ] && { args+=(--budget-seconds "$budget"); corpus_partial=1; }
  [ -n "${NIGHTLY_SHARD:-}" ] && { args+=(--shard "$NIGHTLY_SHARD"); corpus_partial=1; }
  [ -n "${NIGHTLY_PER_OP:-}" ] && { args+=(--per-op "$NIGHTLY_PER_OP"); corpus_partial=1; }
  [ -n "${NIGHTLY_DEVICES:-}" ] && args+=(--devices "$NIGHTLY_DEVICES")
  [ "$corpus" = cases/nightly ] || corpus_partial=1
  run "$lim" "$d/run.txt" "$U" "${args[@]}"
  rc=$?
  [ "$dry" = 1 ] && { record corpus dry-run 0 ""; return; }
  sed -n '/^operator /,$p' "$d/run.txt" | head -n 40
  # Where the time goes: per operator, checked output elements/s of reference, kernel, comparison.
  [ -f "$d/report.json" ] && "$U" rates "$d/report.json" 2>&1 | tee "$d/rates.txt"
  local counts
  counts=$(py counts "$d/report.json" 2> /dev/null || echo "no report.json")
  if timed_out "$rc"; then
    record corpus error $((SECONDS - s)) "timed out after ${lim}s (raise NIGHTLY_TIMEOUT_CORPUS or lower NIGHTLY_BUDGET_SECONDS); finished cases in corpus/report.json.partial"
  elif [ "$rc" -eq 0 ]; then record corpus pass $((SECONDS - s)) "$counts"
  elif [ "$rc" -eq 1 ]; then record corpus fail $((SECONDS - s)) "$counts; corpus/report.html"
  else tail_log "$d/run.txt"; record corpus error $((SECONDS - s)) "ulpdiff exit $rc; $counts; corpus/run.txt"
  fi
}

# ---------------------------------------------------------------- baseline
stage_baseline() {
  local s=$SECONDS rc d=$out/corpus new=$out/corpus/report.json base cand
  no_ulpdiff baseline && return
  stage_limit baseline 120 || return
  cand=$d/baseline-candidate-$slug.json
  if [ "$dry" = 1 ]; then
    echo "+ baseline ${baseline#"$top"/}: ulpdiff compare BASELINE corpus/report.json (candidate ${cand#"$out"/})"
    record baseline dry-run 0 ""; return
  fi
  if [ ! -f "$new" ]; then record baseline skip 0 "no corpus/report.json (the corpus stage did not finish)"; return; fi
  py slim "$new" "$cand" > /dev/null || { record baseline error $((SECONDS - s)) "cannot read $new"; return; }
  if [ ! -f "$baseline" ]; then
    echo "nightly: no baseline for '$slug' (${baseline#"$top"/}); candidate written: ${cand#"$top"/} —" \
         "review it and commit it as ${baseline#"$top"/} (docs/nightly.md)"
    record baseline none $((SECONDS - s)) "no ${baseline#"$top"/}; candidate corpus/$(basename "$cand")$([ "$corpus_partial" = 1 ] && echo ' (time-boxed subset)')"
    return
  fi
  base=$baseline
  local note=""
  # A time-boxed or partial run is held to the baseline on the cases it ran; a complete run
  # also answers for baseline cases it lost (crashes, a smaller corpus).
  if [ "$corpus_partial" = 1 ] || [ "$(py counts --field not_run "$new")" != 0 ]; then
    base=$d/baseline-subset.json
    note=$(py subset "$baseline" "$new" "$base") || { record baseline error $((SECONDS - s)) "cannot read $baseline"; return; }
    note="; $note"
  fi
  run "$lim" "$d/baseline-compare.txt" "$U" compare "$base" "$new"
  rc=$?
  grep -E '^(WORSE|better)' "$d/baseline-compare.txt" | head -n 20
  local sum
  sum=$(tail -n 1 "$d/baseline-compare.txt")
  if [ "$rc" -eq 0 ]; then record baseline pass $((SECONDS - s)) "no worse than ${baseline#"$top"/}: $sum$note"
  elif [ "$rc" -eq 1 ]; then record baseline fail $((SECONDS - s)) "WORSE than ${baseline#"$top"/}: $sum$note; corpus/baseline-compare.txt"
  else tail_log "$d/baseline-compare.txt"; record baseline error $((SECONDS - s)) "ulpdiff compare exit $rc$note"
  fi
}

# ---------------------------------------------------------------- mutants
stage_mutants() {
  local s=$SECONDS rc d=$out/mutants score
  no_ulpdiff mutants && return
  need_device mutants && return
  stage_limit mutants 1800 || return
  [ "$dry" = 1 ] || { rm -rf "$d"; mkdir -p "$d"; }
  run "$lim" "$d/mutants.txt" "$U" mutants --backend "$backend" --jobs "$jobs"
  rc=$?
  [ "$dry" = 1 ] && { record mutants dry-run 0 ""; return; }
  score=$(grep '^mutation score' "$d/mutants.txt" | tail -n 1)
  if timed_out "$rc"; then record mutants error $((SECONDS - s)) "timed out after ${lim}s; mutants/mutants.txt"
  elif [ "$rc" -eq 0 ]; then record mutants pass $((SECONDS - s)) "${score:-no score line}"
  elif [ "$rc" -eq 1 ]; then
    grep -E 'SURVIVED|FAIL' "$d/mutants.txt" | head -n 20
    record mutants fail $((SECONDS - s)) "${score:-no score line}; mutants/mutants.txt"
  else tail_log "$d/mutants.txt"; record mutants error $((SECONDS - s)) "ulpdiff mutants exit $rc; mutants/mutants.txt"
  fi
}

# ---------------------------------------------------------------- cache
stage_cache() {
  local s=$SECONDS rc d=$out/cache m caught=0 missed=() notes=() status=pass
  no_ulpdiff cache && return
  need_device cache && return
  stage_limit cache 600 || return
  [ "$dry" = 1 ] || { rm -rf "$d"; mkdir -p "$d/regressions"; }
  # Production: every scenario and the randomized mode must pass (exit 0).
  run "$(limit_for $((lim / 3)))" "$d/scenarios.txt" "$U" cache-check --backend "$backend" \
    --random "${NIGHTLY_CACHE_RANDOM:-200}" --seed 1 --regressions "$d/regressions"
  rc=$?
  if [ "$dry" != 1 ]; then
    if [ "$rc" -ne 0 ]; then
      status=$([ "$rc" -eq 1 ] && echo fail || echo error)
      notes+=("production: exit $rc$(timed_out "$rc" && echo ', timed out'); cache/scenarios.txt")
      tail_log "$d/scenarios.txt" 12
    else notes+=("production passes every scenario and ${NIGHTLY_CACHE_RANDOM:-200} random sequences")
    fi
  fi
  # Each known-bug cache variant must be caught (exit 1) by the scenario named for it.
  local variants
  if [ "$dry" = 1 ]; then variants=OP.cache_VARIANT
  else variants=$("$U" list mutants | grep '\.cache_'); fi
  for m in $variants; do
    run "$(limit_for 60)" "$d/$m.txt" "$U" cache-check --backend "$backend" --mutant "$m"
    rc=$?
    [ "$dry" = 1 ] && continue
    if [ "$rc" -eq 1 ] && grep -q 'caught by its scenario' "$d/$m.txt"; then caught=$((caught + 1))
    else missed+=("$m (exit $rc)")
    fi
  done
  [ "$dry" = 1 ] && { record cache dry-run 0 ""; return; }
  notes+=("cache variants caught by their scenario: $caught/$((caught + ${#missed[@]}))")
  if [ ${#missed[@]} -gt 0 ]; then
    notes+=("missed: ${missed[*]}")
    [ "$status" = pass ] && status=fail
  fi
  record cache "$status" $((SECONDS - s)) "$(join_notes "${notes[@]}")"
}

# ---------------------------------------------------------------- faults
stage_faults() {
  local s=$SECONDS rc d=$out/faults total verdict ok=1 broken=0 notes=()
  no_ulpdiff faults && return
  need_device faults && return
  stage_limit faults 600 || return
  [ "$dry" = 1 ] || { rm -rf "$d"; mkdir -p "$d"; }
  # shellcheck disable=SC2206
  local files=(${NIGHTLY_FAULT_CASES:-cases/smoke/rmsnorm.ini cases/faults/isolation.ini cases/smoke/silu_and_mul.ini})
  # 1. isolation: each crashing probe variant is one `error` case; every other case runs and passes.
  run "$(limit_for "$lim")" "$d/isolation.txt" "$U" run "${files[@]}" --backend "$backend" --isolate \
    --case-timeout "$fault_timeout" --jobs "$jobs" --no-shrink -q --json "$d/isolation.json"
  rc=$?
  if [ "$dry" != 1 ]; then
    total=$("$U" run "${files[@]}" --dry-run | tail -n 1 | cut -d' ' -f1)
    if [ ! -f "$d/isolation.json" ]; then
      broken=1; notes+=("isolation: no report (ulpdiff exit $rc$(timed_out "$rc" && echo ', timed out'); faults/isolation.txt)")
    else
      [ "$rc" -eq 3 ] || { ok=0; notes+=("isolation: exit $rc, expected 3 (error cases)"); }
      verdict=$(py isolation "$d/isolation.json" --total "$total" 2>&1) || ok=0
      notes+=("isolation: $verdict")
    fi
  fi
  # 2. determinism and cross-backend: --repeat 2 sees the nondeterministic probe, --cross-check
  #    the probe whose cpu kernel is one bit off.
  local xc=()
  [ "$backend" = cuda ] && xc=(--cross-check)
  run "$(limit_for $((lim - (SECONDS - s))))" "$d/determinism.txt" "$U" run cases/faults/determinism.ini \
    --backend "$backend" --repeat 2 "${xc[@]}" --no-shrink --json "$d/determinism.json"
  rc=$?
  [ "$dry" = 1 ] && { record faults dry-run 0 ""; return; }
  if [ ! -f "$d/determinism.json" ]; then
    broken=1; notes+=("determinism: no report (ulpdiff exit $rc$(timed_out "$rc" && echo ', timed out'); faults/determinism.txt)")
  else
    [ "$rc" -eq 1 ] || { ok=0; notes+=("determinism: exit $rc, expected 1 (findings)"); }
    verdict=$(py determinism "$d/determinism.json" --backend "$backend" 2>&1) || ok=0
    notes+=("determinism: $verdict")
  fi
  if [ "$broken" = 1 ]; then
    tail_log "$d/isolation.txt" 5
    record faults error $((SECONDS - s)) "$(join_notes "${notes[@]}")"
  elif [ "$ok" = 1 ]; then record faults pass $((SECONDS - s)) "$(join_notes "${notes[@]}")"
  else record faults fail $((SECONDS - s)) "$(join_notes "${notes[@]}" faults/)"
  fi
}

# ---------------------------------------------------------------- sanitize
stage_sanitize() {
  local s=$SECONDS rc d=$out/sanitize per
  no_ulpdiff sanitize && return
  if [ "$backend" != cuda ]; then record sanitize skip 0 "compute-sanitizer needs the cuda backend"; return; fi
  need_device sanitize && return
  stage_limit sanitize 1800 || return
  # The tools run side by side, each its self-test then the corpus subset, within the stage.
  per=$((lim - 10))
  [ "$dry" = 1 ] || mkdir -p "$d"
  run "$lim" "$out/logs/sanitize.log" env ULPDIFF="$U" SANITIZE_TIMEOUT="${SANITIZE_TIMEOUT:-$per}" \
    "$top/scripts/gpu-sanitize.sh" "$d"
  rc=$?
  [ "$dry" = 1 ] && { record sanitize dry-run 0 ""; return; }
  local sum
  sum=$(tail -n 1 "$d/summary.txt" 2> /dev/null || echo "no sanitize/summary.txt")
  [ -f "$d/summary.txt" ] && cat "$d/summary.txt"
  if timed_out "$rc"; then record sanitize error $((SECONDS - s)) "timed out after ${lim}s; $sum"
  elif [ "$rc" -eq 0 ]; then record sanitize pass $((SECONDS - s)) "$sum"
  elif [ "$rc" -eq 1 ]; then record sanitize fail $((SECONDS - s)) "$sum; sanitize/summary.json"
  else tail_log "$out/logs/sanitize.log"; record sanitize error $((SECONDS - s)) "gpu-sanitize.sh exit $rc; $sum"
  fi
}

# ---------------------------------------------------------------- bench
stage_bench() {
  local s=$SECONDS rc d=$out/bench status=pass notes=() left
  no_ulpdiff bench && return
  if [ "$backend" != cuda ]; then record bench skip 0 "benchmarks need the cuda backend"; return; fi
  need_device bench && return
  stage_limit bench 1800 || return
  [ "$dry" = 1 ] || { rm -rf "$d"; mkdir -p "$d"; }
  local bargs=(bench --iters "$bench_iters" --json "$d/ulpdiff.json")
  [ "${NIGHTLY_BENCH_CONFIGS:-0}" = 1 ] && bargs+=(--configs)
  [ -f "$bench_baseline" ] && bargs+=(--baseline "$bench_baseline")
  run "$(limit_for $((lim * 2 / 5)))" "$d/ulpdiff.txt" "$U" "${bargs[@]}"
  rc=$?
  [ "$dry" = 1 ] || cat "$d/ulpdiff.txt"
  if [ "$dry" != 1 ]; then
    if [ "$rc" -eq 1 ]; then
      status=fail; notes+=("$(grep -c 'SLOWER' "$d/ulpdiff.txt") kernels more than 10% slower than ${bench_baseline#"$top"/}")
    elif [ "$rc" -ne 0 ]; then
      status=error; notes+=("ulpdiff bench $(timed_out "$rc" && echo 'timed out' || echo "exit $rc")")
    elif [ -f "$bench_baseline" ]; then
      notes+=("$(grep '^baseline ' "$d/ulpdiff.txt" | tail -n 1 | cut -c1-120)")
    else
      notes+=("no bench baseline ${bench_baseline#"$top"/}: commit bench/ulpdiff.json there once reviewed")
    fi
  fi
  local targs=(--json "$d/torch.json")
  if [ "${NIGHTLY_TORCH:-1}" = 0 ]; then
    notes+=("torch skipped (NIGHTLY_TORCH=0)")
  else
    left=$(limit_for $((lim - (SECONDS - s) - 15)))
    [ "${NIGHTLY_TORCH_COMPILE:-1}" = 0 ] && targs+=(--no-compile)
    # torch.compile warm-ups are the slow part: start no new one in the last 40% of the time.
    targs+=(--compile-budget $((left * 3 / 5)))
    run "$left" "$d/torch.txt" "${torch_env[@]}" python3 "$top/bench/torch_ops.py" "${targs[@]}"
    rc=$?
    [ "$dry" = 1 ] || cat "$d/torch.txt"
    if [ "$dry" != 1 ] && [ "$rc" -ne 0 ]; then
      notes+=("torch_ops.py $(timed_out "$rc" && echo 'timed out (rows so far kept)' || echo "exit $rc")")
      [ "$status" = pass ] && status=warn
    fi
  fi
  local tb=(--ulpdiff "$d/ulpdiff.json" --md "$d/table.md" --json "$d/table.json")
  [ "$dry" = 1 ] || [ -s "$d/torch.json" ] && tb+=(--torch "$d/torch.json")
  run 60 "$d/table.txt" python3 "$top/bench/table.py" "${tb[@]}"
  rc=$?
  [ "$dry" = 1 ] && { record bench dry-run 0 ""; return; }
  if [ "$rc" -ne 0 ]; then
    [ "$status" = error ] || { status=error; notes+=("table.py exit $rc"); }
    tail_log "$d/table.txt"
  else
    cat "$d/table.md"
    local flagged
    flagged=$(tail -n 1 "$d/table.txt")
    notes+=("$flagged")
    case "$flagged" in "0 of "*) ;; *)
      if [ "$status" = pass ]; then
        if [ "${NIGHTLY_PERF_STRICT:-0}" = 1 ]; then status=fail; else status=warn; fi
      fi ;;
    esac
  fi
  record bench "$status" $((SECONDS - s)) "$(join_notes "${notes[@]}" bench/table.md)"
}

run_stage() {
  # Nothing runs on a binary the failed build may have left from an earlier source tree.
  if [ "$build_failed" = 1 ]; then record "$1" skip 0 "the build failed"; return; fi
  case "$1" in
    build) stage_build ;;
    gpu-tests) stage_gpu_tests ;;
    corpus) stage_corpus ;;
    baseline) stage_baseline ;;
    mutants) stage_mutants ;;
    cache) stage_cache ;;
    faults) stage_faults ;;
    sanitize) stage_sanitize ;;
    bench) stage_bench ;;
  esac
}
has_stage() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }
if [ "$parallel" = 1 ] && [ "$dry" != 1 ]; then
  # build first; then bench, alone on the GPU so that its timings are its own (and first, so a
  # run cut short by its deadline still has them); then the correctness chains side by side,
  # each its own log, their records in logs/stages.tsv.
  has_stage build && run_stage build
  has_stage bench && run_stage bench
  chains=("gpu-tests" "corpus baseline" "mutants" "cache faults" "sanitize")
  pids=()
  for ch in "${chains[@]}"; do
    want=()
    for st in $ch; do has_stage "$st" && want+=("$st"); done
    [ ${#want[@]} -gt 0 ] || continue
    ( for st in "${want[@]}"; do run_stage "$st"; done ) > "$out/logs/chain-${want[0]}.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  # The chains' records, in the order the stages are listed (the build's is already here).
  while IFS=$'\t' read -r n st secs note; do
    [ "$n" = build ] || [ "$n" = bench ] && continue
    S_NAME+=("$n"); S_STATUS+=("$st"); S_SECS+=("$secs"); S_NOTE+=("$note")
  done < "$out/logs/stages.tsv"
  for ch in "${chains[@]}"; do
    for st in $ch; do has_stage "$st" && [ -f "$out/logs/chain-$st.log" ] && cat "$out/logs/chain-$st.log"; done
  done
else
  for st in $stages; do run_stage "$st"; done
fi

# ---------------------------------------------------------------- summary
rc=0
for st in "${S_STATUS[@]}"; do
  case "$st" in
    error) rc=3 ;;
    fail) [ "$rc" -eq 0 ] && rc=1 ;;
  esac
done
[ "$build_failed" = 1 ] && rc=3
why=("every stage passed" "a stage found something (see fail above)" "" "a stage could not run (see error above)")
summary() {
  echo
  echo "nightly summary — ${gpu_name:-no device}, backend $backend, $((SECONDS - t0)) s, out: $out"
  printf '%-10s %-8s %7s  %s\n' stage status seconds note
  local i
  for i in "${!S_NAME[@]}"; do printf '%-10s %-8s %7s  %s\n' "${S_NAME[$i]}" "${S_STATUS[$i]}" "${S_SECS[$i]}" "${S_NOTE[$i]}"; done
  [ "$build_failed" = 1 ] && echo "BUILD FAILED: see logs/configure.log and logs/build.log"
  echo "exit $rc: ${why[$rc]}"
}
jstr() { local v=${1//\\/\\\\}; v=${v//\"/\\\"}; printf '"%s"' "${v//$'\t'/ }"; }
if [ "$dry" = 1 ]; then
  summary
else
  summary | tee "$out/summary.txt"
  {
    printf '{"schema": "ulpdiff-nightly/1", "device": %s, "backend": %s, "exit": %d, "seconds": %d, "stages": [\n' \
      "$(jstr "${gpu_name:-}")" "$(jstr "$backend")" "$rc" $((SECONDS - t0))
    for i in "${!S_NAME[@]}"; do
      printf '  {"stage": %s, "status": %s, "seconds": %s, "note": %s}%s\n' "$(jstr "${S_NAME[$i]}")" \
        "$(jstr "${S_STATUS[$i]}")" "${S_SECS[$i]}" "$(jstr "${S_NOTE[$i]}")" "$([ "$i" -lt $((${#S_NAME[@]} - 1)) ] && echo ,)"
    done
    printf ']}\n'
  } > "$out/summary.json"
fi
exit "$rc"
