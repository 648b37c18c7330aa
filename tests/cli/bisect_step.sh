#!/usr/bin/env bash
# bisect_step.sh ULPDIFF — scripts/bisect-step.sh answers git bisect: 0 when the cases pass,
# 1 when they have findings or are worse than a baseline, 125 (skip) when the build fails or
# the case files cannot be judged at that commit.
set -euo pipefail
U=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
S=scripts/bisect-step.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf '[good]\nop = rmsnorm\ndtype = bf16\ntokens = 2\nhidden = 127\n' > "$T/good.ini"
printf '[bad]\nop = rmsnorm\nmutant = weight_mult_fp32\ndtype = bf16\ntokens = 2\nhidden = 127\n' > "$T/bad.ini"
printf '[future]\nop = not_an_operator_yet\n' > "$T/future.ini"
step() { set +e; bash "$S" "$@" > /dev/null 2>&1; echo $?; set -e; }
[ "$(step --ulpdiff "$U" --build "$T" --backend cpu "$T/good.ini")" -eq 0 ] || { echo "good case not good"; exit 1; }
[ "$(step --ulpdiff "$U" --build "$T" --backend cpu "$T/bad.ini")" -eq 1 ] || { echo "bad case not bad"; exit 1; }
[ "$(step --ulpdiff "$U" --build "$T" --backend cpu "$T/future.ini")" -eq 125 ] || { echo "unjudgeable case not skipped"; exit 1; }
# with a baseline: the same cases compared against a report
"$U" run "$T/good.ini" --backend cpu -q --json "$T/base.json" > /dev/null
[ "$(step --ulpdiff "$U" --build "$T" --backend cpu --baseline "$T/base.json" "$T/good.ini")" -eq 0 ] || { echo "baseline: not good"; exit 1; }
# a baseline that was better than today (pretend OLD had a smaller max error) makes it bad
python3 - "$T/base.json" "$T/better.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    for o in c["outputs"]:
        o["max_ulp"] = 0.0
json.dump(d, open(sys.argv[2], "w"))
PY
[ "$(step --ulpdiff "$U" --build "$T" --backend cpu --baseline "$T/better.json" "$T/good.ini")" -eq 1 ] || { echo "regression against baseline not bad"; exit 1; }
# a build that fails is skipped
mkdir -p "$T/src"
echo 'this is not cmake(' > "$T/src/CMakeLists.txt"
[ "$(step --source "$T/src" --build "$T/b" "$T/good.ini")" -eq 125 ] || { echo "failed build not skipped"; exit 1; }
echo "bisect step: ok"
