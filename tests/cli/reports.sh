#!/usr/bin/env bash
# reports.sh ULPDIFF — the JSON, JUnit and HTML reports carry what docs/report-format.md
# promises; --max-cases and --budget-seconds bound a run; the progress line appears only when
# stderr is a terminal.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=cases/smoke/rmsnorm.ini
set +e
"$U" run "$C" --backend cpu --no-shrink --mutant rmsnorm_fused_add.pre_add_residual \
  --json "$T/r.json" --junit "$T/r.xml" --html "$T/r.html" > "$T/out" 2> "$T/err"; rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "expected findings (exit 1), got $rc"; cat "$T/err"; exit 1; }
[ ! -e "$T/r.json.partial" ] && [ ! -e "$T/r.json.tmp" ] || { echo "temporary report files left behind"; exit 1; }
grep -q "ETA" "$T/err" && { echo "progress line written although stderr is not a terminal"; exit 1; }
python3 - "$T" <<'PY'
import json, sys, xml.etree.ElementTree as ET
t = sys.argv[1]
d = json.load(open(f"{t}/r.json"))
assert d["schema"] == "ulpdiff-report/1"
for k in ("ulpdiff_version", "git_commit", "device", "backend", "date", "command", "jobs", "shard", "selected", "not_run", "elapsed_seconds"):
    assert k in d["meta"], k
cases = d["cases"]
assert d["summary"]["cases"] == len(cases) > 0
failed = [c for c in cases if c["status"] == "fail"]
assert failed and d["summary"]["failed"] == len(failed)
for c in cases:
    assert c["op"] == "rmsnorm_fused_add" and c["mutant"] == "pre_add_residual" and c["backend"] == "cpu"
    assert set(c["params"]) >= {"dtype", "tokens", "hidden"} and isinstance(c["seed"], int)
    assert c["file"].endswith("rmsnorm.ini") and c["line"] > 0
    assert [o["name"] for o in c["outputs"]] == ["out", "residual_out"]
    for o in c["outputs"]:
        for k in ("max_ulp", "mean_ulp", "p50", "p99", "p999", "max_scaled", "max_lattice", "n_over", "n_nan_mismatch", "n_unwritten", "budget"):
            assert k in o, k
        h = o["histogram"]
        assert h["bias"] == 24 and len(h["counts"]) == 48 and sum(h["counts"]) == o["n"]
        w = o["worst"]
        assert w is not None and w["got"].startswith(("0x", "-0x", "nan", "-nan", "inf", "-inf")) and "coords" in w
        float(w["got_decimal"]); float(w["exact_decimal"]); float.fromhex(w["exact"])
        assert "x=" in w["inputs"]
    if c["status"] == "fail":
        assert any(f["kind"] in ("tolerance", "nan-mismatch") and f["message"].startswith("residual_out") for f in c["findings"])
x = ET.parse(f"{t}/r.xml").getroot()
assert x.tag == "testsuites" and int(x.get("tests")) == len(cases) and int(x.get("failures")) == len(failed)
tcs = x.findall(".//testcase")
assert len(tcs) == len(cases)
fails = [tc for tc in tcs if tc.find("failure") is not None]
assert len(fails) == len(failed) and all(tc.find("failure").get("type") in ("tolerance", "nan-mismatch") for tc in fails)
h = open(f"{t}/r.html").read()
assert h.startswith("<!DOCTYPE html>") and "<script" not in h.lower()
assert "src=" not in h and "http://" not in h.replace('xmlns="http://www.w3.org/2000/svg"', "")
for dt in ("bf16", "fp16", "fp32"):
    assert f"rmsnorm_fused_add · {dt}</text>" in h, dt
assert h.count("<svg") == 3 and "Findings" in h and "Worst cases" in h
PY

# --max-cases keeps the first N selected cases
"$U" run "$C" --backend cpu -q --no-shrink --max-cases 5 --json "$T/m.json" > /dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert len(d['cases'])==5 and d['meta']['selected']==5" "$T/m.json"

# --budget-seconds: cases that would start after the deadline are reported as not run
start=$(date +%s)
"$U" run --backend cpu -q --no-shrink --jobs 1 --mpfr --op rmsnorm --dtype bf16 --tokens 64 --hidden 8193 --values normal --seeds 500 \
  --budget-seconds 1 --json "$T/b.json" > "$T/b.txt"
end=$(date +%s)
[ $((end - start)) -lt 60 ] || { echo "--budget-seconds 1 took $((end - start)) s"; exit 1; }
grep -q "cases not run: --budget-seconds 1 ran out" "$T/b.txt"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); m=d['meta']; assert m['not_run']>0 and len(d['cases'])+m['not_run']==m['selected']==500" "$T/b.json"

# the progress line, when stderr is a terminal (needs script(1) for a pseudo-terminal)
if command -v script > /dev/null 2>&1; then
  script -qec "$U run $C --backend cpu --jobs 1 --no-shrink --op rmsnorm -q" "$T/tty" > /dev/null 2>&1 || true
  grep -q "ETA" "$T/tty" || { echo "no progress line on a terminal"; exit 1; }
fi
echo "reports: ok"
