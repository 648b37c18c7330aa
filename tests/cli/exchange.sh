#!/usr/bin/env bash
# exchange.sh ULPDIFF — testing an implementation outside ulpdiff through files, end to end:
# `ulpdiff export` -> examples/python/numpy_runner.py -> `ulpdiff check` (docs/external.md).
#   - the manifest says what docs/external.md promises (schema, operator, params, seed, files,
#     dtypes, bf16/fp8 as raw uint16/uint8 bits) for every operator `ulpdiff list ops` names;
#   - the runner's float64 mode, an independent implementation of every operator's spec, passes
#     every case and leaves none out;
#   - check reports as run does: the same cases, parameters, budgets, metrics, in text, JSON,
#     JUnit and HTML; budget overrides of a case file travel through the manifest;
#   - check compares for real: an output moved by 2 ulps fails with a tolerance finding;
#   - the float32 "model code" mode is checked too (findings expected: docs/findings.md);
#   - missing, mis-shaped, mis-typed and truncated outputs, and a corrupt manifest, are errors
#     naming the file (exit 2) that leave no report behind; --skip-missing leaves out a case
#     without outputs; export refuses a non-empty directory.
# numpy and ml_dtypes come from scripts/deps.sh.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export PYTHONPYCACHEPREFIX="$T/pycache"   # no __pycache__ left in the source tree
R=examples/python/numpy_runner.py
python3 -c 'import numpy, ml_dtypes' 2> /dev/null || { echo "numpy and ml_dtypes are missing: run scripts/deps.sh"; exit 1; }
fail() { echo "exchange: $*"; exit 1; }

"$U" export examples/python/cases.ini --dir "$T/x" > "$T/export.out"
grep -q "^exported [0-9]* cases .* to $T/x" "$T/export.out"
"$U" list ops > "$T/ops"
python3 - "$T/x" "$T/ops" <<'PY'
import json, os, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
assert m["schema"] == "ulpdiff-exchange/1" and m["ulpdiff_version"] and m["git_commit"] and "export" in m["command"]
ops = {c["op"] for c in m["cases"]}
registry = set(open(sys.argv[2]).read().split())
assert ops == registry, f"examples/python/cases.ini misses {registry - ops}: every operator goes through the exchange"
stored = {"bf16": "<u2", "fp16": "<f2", "fp32": "<f4", "e4m3": "|u1", "i32": "<i4"}
for c in m["cases"]:
    assert c["id"] and c["label"].startswith(c["op"] + "(") and isinstance(c["seed"], int)
    assert c["source"]["file"].endswith("cases.ini") and c["source"]["line"] > 0
    assert c["params"] and all(isinstance(v, (int, float, str)) for v in c["params"].values())
    for t in c["inputs"]:
        assert os.path.exists(os.path.join(d, t["file"])), t
        assert stored[t["dtype"]] == t["npy_dtype"], t
    for t in c["outputs"]:
        assert not os.path.exists(os.path.join(d, t["file"])) and t["npy_dtype"] == stored[t["dtype"]]
q = next(c for c in m["cases"] if c["op"] == "fp8_quant_per_token")
assert [(t["name"], t["dtype"]) for t in q["outputs"]] == [("q", "e4m3"), ("scales", "fp32")]
PY

# float64 per the specs: every case computed, everything passes, reported as run reports
python3 "$R" "$T/x" --precision f64 -q 2> "$T/runner.err"
[ ! -s "$T/runner.err" ] || { cat "$T/runner.err"; fail "the numpy runner left cases out"; }
"$U" check --dir "$T/x" -q --json "$T/r.json" --junit "$T/r.xml" --html "$T/r.html" > "$T/f64.out" 2>&1 \
  || { cat "$T/f64.out"; fail "check: the float64 runner should pass every case"; }
grep -Eq "^[0-9]+ cases: ([0-9]+) passed, 0 failed$" "$T/f64.out"
"$U" run examples/python/cases.ini --backend cpu -q --no-shrink --json "$T/run.json" > /dev/null 2>&1 \
  || fail "run of examples/python/cases.ini on cpu failed"
python3 - "$T" <<'PY'
import json, sys, xml.etree.ElementTree as ET
t = sys.argv[1]
d = json.load(open(f"{t}/r.json"))
run = json.load(open(f"{t}/run.json"))
m = json.load(open(f"{t}/x/manifest.json"))
assert d["schema"] == run["schema"] == "ulpdiff-report/1" and d["meta"]["backend"] == "external"
assert len(d["cases"]) == len(m["cases"]) and all(c["status"] == "pass" and c["backend"] == "external" for c in d["cases"])
for c, mc in zip(d["cases"], m["cases"]):
    assert c["op"] == mc["op"] and c["seed"] == mc["seed"] and c["params"] == mc["params"], (c["params"], mc["params"])
    assert [o["name"] for o in c["outputs"]] == [o["name"] for o in mc["outputs"]]
# the same cases as `run` of the same file, judged by the same budgets, with the same metrics
assert len(run["cases"]) == len(d["cases"])
for c, r in zip(d["cases"], run["cases"]):
    for k in ("label", "op", "params", "seed", "file", "line"):
        assert c[k] == r[k], (k, c[k], r[k])
    assert [(o["name"], o["dtype"], o["n"], o["budget"]) for o in c["outputs"]] == \
           [(o["name"], o["dtype"], o["n"], o["budget"]) for o in r["outputs"]], c["label"]
    # cache scenarios drive ulpdiff's own module with derived state: no file can stand in for it
    own = [x["name"] for x in r["metrics"] if not x["name"].startswith("cache scenarios")]
    assert [x["name"] for x in c["metrics"]] == own, c["label"]
    assert sorted(c["outputs"][0]) == sorted(r["outputs"][0])
assert any(c["metrics"] for c in d["cases"])            # operator metrics (routing flips ...) are there
x = ET.parse(f"{t}/r.xml").getroot()
assert int(x.get("tests")) == len(m["cases"]) and int(x.get("failures")) == 0
h = open(f"{t}/r.html").read()
assert h.startswith("<!DOCTYPE html>") and "<svg" in h and "external" in h
PY

# an output 2 ulps off (an rmsnorm bf16 case: correctly rounded budget) is a tolerance finding
python3 - "$T/x" <<'PY'
import json, numpy as np, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
c = next(c for c in m["cases"] if c["op"] == "rmsnorm" and c["params"]["dtype"] == "bf16" and c["params"]["hidden"] == 4096)
f = f"{d}/{c['outputs'][0]['file']}"
a = np.load(f)
np.save(f"{d}/../victim.npy", a)
a[1, 100] += 2                       # raw bf16 bits: two units in the last place
np.save(f, a)
open(f"{d}/../victim", "w").write(c["label"])
open(f"{d}/../victim_file", "w").write(f)
PY
set +e; "$U" check --dir "$T/x" -q > "$T/one.out" 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] || { cat "$T/one.out"; fail "check: expected exit 1 for one wrong element, got $rc"; }
grep -Fq "FAIL $(cat "$T/victim") [external]" "$T/one.out"
grep -q "finding tolerance: out: 1 of 12288 over budget .* worst at \[1, 100\]" "$T/one.out"
grep -Eq "^[0-9]+ cases: [0-9]+ passed, 1 failed$" "$T/one.out"
cp "$T/victim.npy" "$(cat "$T/victim_file")"

# an E4M3 NaN written as 0xFF (PyTorch's CPU conversion of -NaN) where the reference is NaN is a
# NaN, not an unwritten element: outputs read from files were all written
python3 - "$T/x" <<'PY'
import json, numpy as np, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
n = 0
for c in m["cases"]:
    if c["op"] == "fp8_quant_per_token" and c["params"]["values"] == "nan_inf":
        f = f"{d}/{c['outputs'][0]['file']}"
        q = np.load(f)
        n += int((q == 0x7F).sum())
        q[q == 0x7F] = 0xFF
        np.save(f, q)
assert n > 0, "no NaN in the fp8 nan_inf outputs: the test tests nothing"
PY
"$U" check --dir "$T/x" -q --op fp8_quant_per_token > "$T/fp8.out" 2>&1 || { cat "$T/fp8.out"; fail "0xFF NaNs were not accepted as NaN"; }

# budget overrides of a case file (budget.<dtype>, scaled_budget) travel through the manifest:
# 2 ulps off passes a 3-ulp budget, and the report shows the case file's budget
cat > "$T/budget.ini" <<'INI'
[loose]
op     = rmsnorm
dtype  = bf16
tokens = 2
hidden = 64
budget.bf16 = 3
scaled_budget = 0
INI
"$U" export "$T/budget.ini" --dir "$T/b" -q > /dev/null
python3 "$R" "$T/b" --precision f64 -q
python3 - "$T/b" <<'PY'
import json, numpy as np, sys
d = sys.argv[1]
m = json.load(open(f"{d}/manifest.json"))
assert all(c["budget"] == {"ulp": {"bf16": 3.0}, "scaled": 0.0} for c in m["cases"]), m["cases"][0].get("budget")
f = f"{d}/{m['cases'][0]['outputs'][0]['file']}"
a = np.load(f)
a[0, 5] += 2
np.save(f, a)
PY
"$U" check --dir "$T/b" -q --json "$T/b.json" > "$T/b.out" 2>&1 || { cat "$T/b.out"; fail "the case file's budget was not applied"; }
python3 -c "import json,sys; o=json.load(open(sys.argv[1]))['cases'][0]['outputs'][0]; assert o['budget']['ulp'] == 3 and o['budget']['scaled'] == 0 and o['max_ulp'] > 1.5, o" "$T/b.json"

# Bad outputs and a bad manifest: one error line naming the file, exit 2, nothing checked and no
# report written. expect_bad NAME PATTERN: runs check with every report requested.
expect_bad() {
  local name=$1 pattern=$2 rc
  rm -f "$T/bad.json" "$T/bad.xml" "$T/bad.html"
  set +e; "$U" check --dir "$T/x" --json "$T/bad.json" --junit "$T/bad.xml" --html "$T/bad.html" > "$T/$name" 2>&1; rc=$?; set -e
  [ "$rc" -eq 2 ] || { cat "$T/$name"; fail "$name: expected exit 2, got $rc"; }
  grep -Eq -- "$pattern" "$T/$name" || { cat "$T/$name"; fail "$name: no line matching: $pattern"; }
  grep -q "nothing was checked\|^$T/x/manifest.json" "$T/$name" || { cat "$T/$name"; fail "$name: no summary line"; }
  for f in bad.json bad.xml bad.html; do [ ! -e "$T/$f" ] || fail "$name: a report ($f) was left behind"; done
}
out=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); c=m['cases'][0]; print(c['outputs'][0]['file'])" "$T/x/manifest.json")
O="$T/x/$out"
cp "$O" "$T/saved.npy"
mv "$O" "$T/moved.npy"
expect_bad missing "^$O: missing: the implementation wrote no output 'out' of rmsnorm\("
set +e; "$U" check --dir "$T/x" --skip-missing -q > "$T/e2" 2>&1; rc=$?; set -e
[ "$rc" -eq 0 ] && grep -q "^1 case without output files left out (--skip-missing)$" "$T/e2" || { cat "$T/e2"; fail "--skip-missing: exit $rc"; }
python3 -c "import numpy as np, sys; a=np.load(sys.argv[1]); np.save(sys.argv[2], np.zeros((a.shape[0], a.shape[1] + 1), a.dtype))" "$T/saved.npy" "$O"
expect_bad shape "^$O: shape \(3, 2\), expected \(3, 1\) for output 'out' of rmsnorm\("
python3 -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1]).astype(np.float32))" "$T/saved.npy" "$O"
expect_bad dtype "^$O: dtype '<f4', expected '<u2' for bf16, output 'out' of rmsnorm\(.*a.view\(np.uint16\)"
head -c $(( $(stat -c %s "$T/saved.npy") - 1 )) "$T/saved.npy" > "$O"       # the last data byte missing
expect_bad truncated "^$O: truncated: [0-9]+ bytes, the header promises [0-9]+ \(output 'out' of rmsnorm\("
head -c 9 "$T/saved.npy" > "$O"                                               # inside the header
expect_bad truncated_header "^$O: truncated header \(output 'out' of rmsnorm\("
printf 'not numpy' > "$O"
expect_bad not_npy "^$O: not a .npy file"
cp "$T/saved.npy" "$O"
"$U" check --dir "$T/x" -q > /dev/null || fail "restored outputs do not pass"

M="$T/x/manifest.json"
cp "$M" "$T/manifest.saved"
head -c 2000 "$T/manifest.saved" > "$M"                                      # cut short: bad JSON
expect_bad manifest_json "^$M:[0-9]+: "
python3 - "$T/manifest.saved" "$M" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["cases"][2]["op"] = "rmsnrom"
json.dump(m, open(sys.argv[2], "w"))
PY
expect_bad manifest_op "^$M: case 3 \([0-9]+_rmsnorm\): unknown operator 'rmsnrom'"
python3 - "$T/manifest.saved" "$M" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["cases"][0]["params"]["hidden"] = 5          # the file holds hidden = 1: the shapes disagree
del m["cases"][1]["params"]["eps"]
json.dump(m, open(sys.argv[2], "w"))
PY
expect_bad manifest_params "^$M: case 2 \([0-9]+_rmsnorm\): parameter 'eps' of rmsnorm is missing"
grep -q "^$T/x/[0-9]*_rmsnorm/x.npy: shape (3, 1), expected (3, 5) for input 'x' of rmsnorm(" "$T/manifest_params" \
  || { cat "$T/manifest_params"; fail "manifest parameters that disagree with the files: no shape error"; }
python3 -c "import json,sys; m=json.load(open(sys.argv[1])); m['schema']='ulpdiff-exchange/0'; json.dump(m, open(sys.argv[2],'w'))" "$T/manifest.saved" "$M"
expect_bad manifest_schema "^$M: schema 'ulpdiff-exchange/0', expected 'ulpdiff-exchange/1'"
cp "$T/manifest.saved" "$M"

# float32 as model code computes: it runs and is reported; some operators fail honestly
python3 "$R" "$T/x" --precision model -q
set +e; "$U" check --dir "$T/x" -q --json "$T/model.json" > "$T/model.out" 2>&1; rc=$?; set -e
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || { cat "$T/model.out"; fail "check (model): exit $rc"; }
python3 - "$T/model.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert all(c["status"] in ("pass", "fail") for c in d["cases"])          # findings, never errors
fails = lambda op, **p: [c for c in d["cases"] if c["op"] == op and c["status"] == "fail"
                         and all(c["params"][k] == v for k, v in p.items())]
# HF's rotary embedding in bf16 arithmetic rounds every product: far outside 0.5 ulp + 3 u_w s
assert fails("rope", dtype="bf16"), "rope in bf16 arithmetic passed?"
# float32 exp(-g) overflows for g < -88.7: silu(g) becomes -0 where the exact value is a normal number
assert fails("silu_and_mul", values="large"), "silu with large gates passed?"
PY

# examples/torch needs PyTorch, which make check does not: its files must at least compile, and
# its report summary (plain JSON) must cover every operator of a check report
python3 -m py_compile examples/torch/torch_runner.py examples/torch/diagnose_rope.py examples/torch/summarize.py
python3 examples/torch/summarize.py "$T/model.json" > "$T/summary.md"
for op in $(cat "$T/ops"); do grep -q "^| $op | " "$T/summary.md" || { cat "$T/summary.md"; fail "summarize.py: no row for $op"; }; done
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$T/x/manifest.json")
grep -q "^$n cases: [0-9]* passed, [1-9][0-9]* failed or in error$" "$T/summary.md" || { head -3 "$T/summary.md"; fail "summarize.py: counts"; }

# usage: export needs an empty directory and --dir; check needs an export
set +e
"$U" export examples/python/cases.ini --dir "$T/x" > /dev/null 2> "$T/e5"; r1=$?
"$U" export examples/python/cases.ini > /dev/null 2>&1; r2=$?
"$U" check --dir "$T" > /dev/null 2> "$T/e6"; r3=$?
set -e
[ "$r1" -eq 2 ] && grep -q "is not empty" "$T/e5" && [ "$r2" -eq 2 ] && [ "$r3" -eq 2 ] && grep -q "manifest.json: missing" "$T/e6" \
  || { cat "$T/e5" "$T/e6"; fail "usage errors: $r1 $r2 $r3"; }
echo "exchange: ok"
