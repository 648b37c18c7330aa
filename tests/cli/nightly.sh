#!/usr/bin/env bash
# nightly.sh ULPDIFF — scripts/gpu-nightly.sh without a GPU (docs/nightly.md):
#  1. NIGHTLY_DRY_RUN=1 prints every stage's command, in the order NIGHTLY_STAGES gives, with
#     the architecture, budget and deadline applied, and writes nothing;
#  2. the baseline path on the cpu backend: no baseline -> a candidate that `ulpdiff compare`
#     reads; the candidate as baseline -> no worse; a baseline better than tonight -> exit 1;
#     a time-boxed run is held to the baseline cases it ran;
#  3. the fault self-tests on the cpu backend (crashes are signals there);
#  4. a failing build: a clear line, later stages skipped, exit 3;
#  5. the compute-sanitizer log parser on logs shaped like the tool's (scripts/nightly_check.py);
#  and `ulpdiff run --per-op`, which the time-boxed subsets use.
set -euo pipefail
U=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
N=scripts/gpu-nightly.sh
fail() { echo "nightly: $*"; exit 1; }
has() {   # has FILE PATTERN...: every pattern is in FILE
  local f=$1 p
  shift
  for p in "$@"; do grep -qE -- "$p" "$f" || { cat "$f"; fail "$f lacks /$p/"; }; done
}
expect_rc() { [ "$1" -eq "$2" ] || { echo "expected exit $2, got $1"; shift 2; cat "$@"; exit 1; }; }

# 0. --per-op: the time-boxed subsets reach every operator, N cases each
"$U" list ops > "$T/ops.txt"
for sel in "--per-op 2" "--shard 1/7 --per-op 2"; do
  # shellcheck disable=SC2086
  "$U" run cases/smoke $sel --dry-run > "$T/sel.txt"
  python3 - "$T/sel.txt" "$T/ops.txt" "$sel" << 'PY' || fail "run $sel: not 2 cases of every operator"
import collections, sys
lines = [l.split("\t", 1)[1] for l in open(sys.argv[1]).read().splitlines() if "\t" in l]
n = collections.Counter(l.split("(")[0].split(".")[0] for l in lines)
ops = open(sys.argv[2]).read().split()
assert sorted(n) == sorted(ops) and set(n.values()) == {2}, (sys.argv[3], n)
PY
done
set +e
"$U" run cases/smoke --per-op 0 --dry-run > /dev/null 2> "$T/err"; rc=$?
set -e
expect_rc "$rc" 2 "$T/err"
grep -q -- "--per-op: '0' is not an integer in 1.." "$T/err" || fail "--per-op 0 message"

# 1. dry run
env NIGHTLY_DRY_RUN=1 NIGHTLY_CUDA_ARCH=90 NIGHTLY_GPU_NAME="NVIDIA H200" NIGHTLY_BUDGET_SECONDS=45 \
  NIGHTLY_TORCH_COMPILE=0 NIGHTLY_BUILD_DIR="$T/b" NIGHTLY_DEADLINE_SECONDS=400 NIGHTLY_BUNDLE=0 \
  "$N" "$T/out" > "$T/dry.txt" 2>&1 || { cat "$T/dry.txt"; fail "dry run failed"; }
[ ! -e "$T/out" ] || fail "a dry run wrote $T/out"
while IFS= read -r pat; do
  grep -qE -- "$pat" "$T/dry.txt" || { cat "$T/dry.txt"; fail "dry run lacks /$pat/"; }
done << 'EOF'
^\+ timeout 3[0-9][0-9] cmake -S .* -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_FLAGS=-lineinfo
cmake --build .* --target ulpdiff gpu_backends
ctest --test-dir .* -L gpu
ulpdiff run cases/nightly --backend cuda --repeat 2 .*--json .*/corpus/report.json --junit .*--html .*--cross-check --budget-seconds 45
^\+ baseline reports/baselines/nvidia-h200.json
ulpdiff run cases/smoke/rmsnorm.ini cases/faults/isolation.ini .*--backend cuda --isolate --case-timeout 10
ulpdiff run cases/faults/determinism.ini --backend cuda --repeat 2 --cross-check
gpu-sanitize.sh .*/sanitize
ulpdiff bench --iters 50 --json
torch_ops.py --json .*/bench/torch.json --no-compile
bench/table.py --ulpdiff
^exit 0
EOF
# every timeout is cut to the deadline less the 15 s kept for the summary
! grep -oE '^\+ timeout [0-9]+' "$T/dry.txt" | awk '$3 > 385' | grep -q . || fail "a timeout beyond the deadline"
# stages run in the order given
env NIGHTLY_DRY_RUN=1 NIGHTLY_CUDA_ARCH=90 NIGHTLY_STAGES="bench corpus" NIGHTLY_BUNDLE=0 "$N" "$T/out" > "$T/order.txt" 2>&1
[ "$(grep -oE '^nightly: (bench|corpus|build) ' "$T/order.txt" | tr -d '\n')" = "nightly: bench nightly: corpus " ] \
  || { cat "$T/order.txt"; fail "stages not in the order asked"; }
set +e
NIGHTLY_STAGES="build corpsu" "$N" "$T/out" > /dev/null 2> "$T/err"; rc=$?
set -e
expect_rc "$rc" 2 "$T/err"
grep -q "unknown stage 'corpsu'" "$T/err" || fail "bad stage name not named"
# a deadline too short for a stage skips it instead of starting it
env NIGHTLY_DRY_RUN=1 NIGHTLY_CUDA_ARCH=90 NIGHTLY_STAGES=corpus NIGHTLY_DEADLINE_SECONDS=30 NIGHTLY_BUNDLE=0 \
  "$N" "$T/out" > "$T/late.txt" 2>&1
grep -q "^nightly: corpus    skip .*NIGHTLY_DEADLINE_SECONDS reached" "$T/late.txt" || { cat "$T/late.txt"; fail "no deadline skip"; }

# 2. baseline path on the cpu backend (NIGHTLY_BUILD_DIR reuses the build under test)
cpu=(env NIGHTLY_BACKEND=cpu NIGHTLY_BUILD_DIR="$(dirname "$U")" NIGHTLY_JOBS=2 NIGHTLY_BUNDLE=0
     NIGHTLY_CORPUS=cases/smoke/silu_and_mul.ini NIGHTLY_BASELINE="$T/base.json" NIGHTLY_STAGES="build corpus baseline")
set +e
"${cpu[@]}" "$N" "$T/o1" > "$T/o1.txt" 2>&1; rc=$?
set -e
expect_rc "$rc" 0 "$T/o1.txt"
grep -q "^nightly: build     skip .*reusing" "$T/o1.txt" || fail "build dir not reused"
grep -q "^nightly: baseline  none " "$T/o1.txt" || { cat "$T/o1.txt"; fail "missing baseline not reported"; }
cand=$T/o1/corpus/baseline-candidate-cpu.json
[ -s "$cand" ] || fail "no candidate baseline"
grep -q "^silu_and_mul .* [0-9.e+]* *$" "$T/o1/corpus/rates.txt" && grep -q "elements per second" "$T/o1.txt" \
  || { cat "$T/o1/corpus/rates.txt"; fail "no per-operator rates table in the corpus stage"; }
"$U" compare "$cand" "$T/o1/corpus/report.json" > "$T/cmp.txt" || { cat "$T/cmp.txt"; fail "candidate unreadable by compare"; }
[ -s "$T/o1/summary.txt" ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['exit']==0 and d['stages'][2]['status']=='none', d" "$T/o1/summary.json"
cp "$cand" "$T/base.json"
"${cpu[@]}" "$N" "$T/o2" > "$T/o2.txt" 2>&1 || { cat "$T/o2.txt"; fail "run no worse than its own baseline failed"; }
grep -q "^nightly: baseline  pass .*no worse" "$T/o2.txt" || { cat "$T/o2.txt"; fail "baseline pass line"; }
# a baseline that promised exact results: tonight is worse
python3 - "$T/base.json" "$T/better.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = next(c for c in d["cases"] if c["outputs"][0]["max_ulp"])
c["outputs"][0]["max_ulp"] = 0.0
json.dump(d, open(sys.argv[2], "w"))
PY
set +e
"${cpu[@]}" NIGHTLY_BASELINE="$T/better.json" NIGHTLY_STAGES="corpus baseline" "$N" "$T/o3" > "$T/o3.txt" 2>&1; rc=$?
set -e
expect_rc "$rc" 1 "$T/o3.txt"
has "$T/o3.txt" "^WORSE " "^nightly: baseline  fail .*WORSE than"
# a time-boxed run (--per-op) is compared on the cases it ran, not charged for the rest
"${cpu[@]}" NIGHTLY_PER_OP=5 "$N" "$T/o4" > "$T/o4.txt" 2>&1 || { cat "$T/o4.txt"; fail "time-boxed run"; }
grep -q "^nightly: baseline  pass .*compared on the 5 of 234 baseline cases" "$T/o4.txt" || { cat "$T/o4.txt"; fail "subset note"; }

# 3. fault self-tests on the host: crashes are signals, the hang is ended by --case-timeout
env NIGHTLY_BACKEND=cpu NIGHTLY_BUILD_DIR="$(dirname "$U")" NIGHTLY_JOBS=2 NIGHTLY_BUNDLE=0 NIGHTLY_STAGES=faults \
  NIGHTLY_FAULT_TIMEOUT=2 NIGHTLY_FAULT_CASES="cases/smoke/silu_and_mul.ini cases/faults/isolation.ini" \
  "$N" "$T/o5" > "$T/o5.txt" 2>&1 || { cat "$T/o5.txt"; fail "fault self-tests failed on cpu"; }
grep -q "^nightly: faults    pass .*4 crashing variants -> 1 error each" "$T/o5.txt" || { cat "$T/o5.txt"; fail "faults line"; }
# the isolation check fails when a crash is not an error case
python3 - "$T/o5/faults/isolation.json" "$T/iso-bad.json" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = next(c for c in d["cases"] if c["mutant"] == "hang")
c["status"], c["findings"] = "pass", []
json.dump(d, open(sys.argv[2], "w"))
PY
total=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$T/iso-bad.json")
! python3 scripts/nightly_check.py isolation "$T/iso-bad.json" --total "$total" > "$T/iso-bad.txt" || fail "a lost crash passed"
grep -q "expected \['device_assert', 'hang'" "$T/iso-bad.txt" || { cat "$T/iso-bad.txt"; fail "isolation check message"; }

# 4. a build that fails: one clear line, nothing else runs, exit 3
set +e
env NIGHTLY_BACKEND=cpu NIGHTLY_BUILD_DIR="$T/broken" NIGHTLY_BUNDLE=0 NIGHTLY_STAGES="build corpus" \
  NIGHTLY_CMAKE_ARGS="-DCMAKE_C_COMPILER=$T/no-such-cc" "$N" "$T/o6" > "$T/o6.txt" 2>&1; rc=$?
set -e
expect_rc "$rc" 3 "$T/o6.txt"
has "$T/o6.txt" "CONFIGURE FAILED" "^BUILD FAILED" "^nightly: corpus    skip .*the build failed"

# 5. sanitizer logs -> findings
S=$T/san
mkdir -p "$S"
clean() { printf '========= COMPUTE-SANITIZER\n========= ERROR SUMMARY: 0 errors\n' > "$S/$1.corpus.log"; echo 0 > "$S/$1.corpus.rc"; }
for t in memcheck initcheck synccheck; do clean $t; done
printf '========= COMPUTE-SANITIZER\n========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)\n' > "$S/racecheck.corpus.log"
echo 0 > "$S/racecheck.corpus.rc"
cat > "$S/memcheck.selftest.log" << 'EOF'
========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 4 bytes
=========     at void fault_probe_kernel<(int)5>(const float *, float *, long, const float *, volatile int *)+0x1b0 in fault_probe.cu:33
=========     by thread (0,0,0) in block (0,0,0)
=========     Address 0x7f2a4e000318 is out of bounds
=========     Saved host backtrace up to driver entry point at kernel launch time
=========         Host Frame: cuLaunchKernel [0x3b1f5f] in libcuda.so.1
=========
========= ERROR SUMMARY: 1 error
EOF
cat > "$S/racecheck.selftest.log" << 'EOF'
========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at void fault_probe_kernel<(int)6>(const float *, float *, long, const float *, volatile int *)+0x90 in fault_probe.cu:38
=========     and Read access at void fault_probe_kernel<(int)6>(const float *, float *, long, const float *, volatile int *)+0xa0 in fault_probe.cu:39 [384 hazards]
=========
========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)
EOF
cat > "$S/initcheck.selftest.log" << 'EOF'
========= COMPUTE-SANITIZER
========= Uninitialized __global__ memory read of size 4 bytes
=========     at void fault_probe_kernel<(int)7>(const float *, float *, long, const float *, volatile int *)+0x120 in fault_probe.cu:35
=========     by thread (0,0,0) in block (0,0,0)
=========
========= ERROR SUMMARY: 1 error
EOF
cat > "$S/synccheck.selftest.log" << 'EOF'
========= COMPUTE-SANITIZER
========= Barrier error detected. Divergent thread(s) in warp.
=========     at void fault_probe_kernel<(int)8>(const float *, float *, long, const float *, volatile int *)+0x2f0 in fault_probe.cu:44
=========     by thread (0,0,0) in block (0,0,0)
=========
========= ERROR SUMMARY: 16 errors
EOF
for t in memcheck racecheck initcheck synccheck; do echo 3 > "$S/$t.selftest.rc"; done
tools="memcheck racecheck initcheck synccheck"
py() { python3 scripts/nightly_check.py sanitize-summary "$S" --tools "$tools" > "$T/san.txt"; }
py || { cat "$T/san.txt"; fail "clean corpus and caught defects did not pass"; }
grep -q "^sanitizers: 0 errors on the corpus subset; self-test 4/4 planted defects reported$" "$T/san.txt" || { cat "$T/san.txt"; fail "summary line"; }
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['tools']['racecheck']['selftest']['caught'] and d['exit']==0, d" "$S/summary.json"
# a tool that misses its planted defect
sed -i 's/ERROR SUMMARY: 16 errors/ERROR SUMMARY: 0 errors/; /Barrier error/d' "$S/synccheck.selftest.log"
set +e; py; rc=$?; set -e
expect_rc "$rc" 1 "$T/san.txt"
grep -q "^synccheck  selftest  planted defect NOT reported" "$T/san.txt" || { cat "$T/san.txt"; fail "miss not reported"; }
# an error on the corpus: counted, and its first lines shown
cp "$S/initcheck.selftest.log" "$S/initcheck.corpus.log"
set +e; py; rc=$?; set -e
expect_rc "$rc" 1 "$T/san.txt"
has "$T/san.txt" "^initcheck  corpus    1 errors" "^    Uninitialized __global__ memory read of size 4 bytes"
# a run cut off by its timeout has no summary line: it did not finish (exit 3)
printf '========= COMPUTE-SANITIZER\n' > "$S/memcheck.corpus.log"; echo 124 > "$S/memcheck.corpus.rc"
set +e; py; rc=$?; set -e
expect_rc "$rc" 3 "$T/san.txt"
grep -q "^memcheck   corpus    did not finish (timeout)" "$T/san.txt" || { cat "$T/san.txt"; fail "timeout not reported"; }
echo "nightly: ok"
