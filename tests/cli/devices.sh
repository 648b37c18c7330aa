#!/usr/bin/env bash
# devices.sh ULPDIFF — `ulpdiff run --devices LIST|all` (harness/exec/devices.h) without a GPU:
#   1. malformed lists, --backend cpu and --no-isolate are usage errors (exit 2);
#   2. no GPU visible, and a listed GPU that does not exist, are device errors (exit 3);
#   3. through the test hook (UD_TEST_FAKE_GPUS=N: N pretend GPUs served by cpu workers;
#      UD_TEST_WORKER: a wrapper started as each worker, recording the environment it got):
#      every worker sees exactly its one GPU in CUDA_VISIBLE_DEVICES — the listed ones, mapped
#      through a CUDA_VISIBLE_DEVICES already set — and the report equals a one-device
#      isolated run's case for case, in order, crashing cases included.
set -euo pipefail
U=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=$T/corpus.ini
cat > "$C" <<'EOF'
[rms]
op     = rmsnorm
dtype  = bf16, fp32
tokens = 1, 7
hidden = 127, 1030
values = normal, nan_inf

[silu_bug]
op     = silu_and_mul
mutant = exp_overflow
dtype  = fp32
tokens = 2
inter  = 64
values = large
seeds  = 3
EOF
unset UD_TEST_FAKE_GPUS UD_TEST_WORKER
expect() {   # expect RC 'MESSAGE PART' ARGS...: ulpdiff run $C ARGS exits RC saying MESSAGE PART
  local want=$1 msg=$2 rc
  shift 2
  set +e; "$U" run "$C" -q --no-shrink "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e
  [ "$rc" -eq "$want" ] || { echo "run $*: exit $rc, expected $want"; cat "$T/err"; exit 1; }
  grep -q -- "$msg" "$T/err" || { echo "run $*: message lacks '$msg':"; cat "$T/err"; exit 1; }
}

# 1. usage
for bad in x 1, ,1 -1 0,-1 '' '0 1' 1.5; do expect 2 "--devices" --devices "$bad"; done
expect 2 "listed twice" --devices 0,0
expect 2 "--backend cpu" --devices 0 --backend cpu
expect 2 "--no-isolate" --devices all --no-isolate

# 2. devices that are not there
UD_TEST_FAKE_GPUS=0 expect 3 "no GPU visible" --devices all
UD_TEST_FAKE_GPUS=2 expect 3 "GPU 2 does not exist: 2 GPUs visible" --devices 0,2
if ! command -v nvidia-smi > /dev/null 2>&1; then   # a host without GPUs, for real
  expect 3 "no GPU visible" --devices all
  expect 3 "no GPU visible" --devices 0
fi

# 3. one worker set per GPU, each seeing its GPU alone; the report of a one-device run
cat > "$T/worker.sh" <<EOF
#!/bin/sh
echo "\${CUDA_VISIBLE_DEVICES-unset}" >> "$T/env.log"
exec "$U" "\$@"
EOF
chmod +x "$T/worker.sh"
set +e
"$U" run "$C" --backend cpu --isolate --jobs 2 -q --no-shrink --json "$T/one.json" > /dev/null; one_rc=$?
UD_TEST_FAKE_GPUS=3 UD_TEST_WORKER=$T/worker.sh "$U" run "$C" --devices all --jobs 2 -q --no-shrink \
  --json "$T/three.json" > "$T/three.txt" 2> "$T/three.err"; rc=$?
set -e
[ "$rc" -eq "$one_rc" ] || { echo "--devices all: exit $rc, one device: $one_rc"; cat "$T/three.err"; exit 1; }
[ "$(sort -u "$T/env.log" | tr '\n' ' ')" = "0 1 2 " ] || { echo "workers saw CUDA_VISIBLE_DEVICES:"; cat "$T/env.log"; exit 1; }
same() {   # same A.json B.json: the same cases in the same order, timings aside
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def strip(c):
    c = dict(c); c.pop("seconds")
    c["phases"] = {k: v for k, v in c["phases"].items() if not k.endswith("_seconds")}
    return c
ca, cb = [strip(c) for c in a["cases"]], [strip(c) for c in b["cases"]]
assert len(ca) == len(cb), f"{len(ca)} vs {len(cb)} cases"
for x, y in zip(ca, cb):
    assert x == y, f"{x['label']} / {y['label']}: " + ", ".join(k for k in x if x[k] != y.get(k))
assert a["summary"] == b["summary"], "summaries differ"
PY
}
same "$T/one.json" "$T/three.json"
grep -q '"device":"3 x ' "$T/three.json" || { echo "meta.device does not name the three GPUs"; exit 1; }

# a CUDA_VISIBLE_DEVICES already set: GPU k is its k-th entry
: > "$T/env.log"
CUDA_VISIBLE_DEVICES=5,7,9 UD_TEST_FAKE_GPUS=3 UD_TEST_WORKER=$T/worker.sh "$U" run "$C" --devices 2,0 -q --no-shrink \
  > /dev/null 2>&1 || true
[ "$(sort -u "$T/env.log" | tr '\n' ' ')" = "5 9 " ] || { echo "--devices 2,0 of 5,7,9: workers saw:"; cat "$T/env.log"; exit 1; }

# a runner that dies: its GPU's cases become `error` cases, the other GPU's run as before
cat > "$T/killer.sh" <<EOF
#!/bin/sh
[ "\$CUDA_VISIBLE_DEVICES" = 1 ] && kill -9 "\$PPID"   # the runner of GPU 1 started this worker
exec "$U" "\$@"
EOF
chmod +x "$T/killer.sh"
set +e
UD_TEST_FAKE_GPUS=2 UD_TEST_WORKER=$T/killer.sh "$U" run "$C" --devices all -q --no-shrink --json "$T/killed.json" \
  > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 3 ] || { echo "a runner killed: exit $rc, expected 3"; exit 1; }
python3 - "$T/one.json" "$T/killed.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["cases"] for p in sys.argv[1:3])
assert [c["label"] for c in a] == [c["label"] for c in b], "cases lost or out of order"
for i, (x, y) in enumerate(zip(a, b)):
    if i % 2 == 0:
        assert x["status"] == y["status"] and x["outputs"] == y["outputs"], x["label"]
    else:
        msg = y["findings"][0]["message"] if y["findings"] else ""
        assert y["status"] == "error" and "runner of GPU 1" in msg and "signal 9" in msg, (y["label"], msg)
PY

# crashing and hanging cases cost one case on their GPU, as on one device
F=(cases/faults/isolation.ini)
set +e
"$U" run "${F[@]}" --backend cpu --isolate --jobs 2 --case-timeout 2 -q --no-shrink --json "$T/f1.json" > /dev/null 2>&1
UD_TEST_FAKE_GPUS=2 "$U" run "${F[@]}" --devices all --jobs 2 --case-timeout 2 -q --no-shrink --json "$T/f2.json" > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 3 ] || { echo "faults on two GPUs: exit $rc, expected 3"; exit 1; }
same "$T/f1.json" "$T/f2.json"
echo "devices: ok"
