#!/usr/bin/env bash
# ci_recipe.sh ULPDIFF — the CI recipe (.github/workflows/nightly-gpu.yml) and `ulpdiff merge`:
#   1. the workflow parses, its shard matrix agrees with the N of --shard I/N, each shard uploads
#      its reports, and the merge job downloads them where its merge step reads them, merges
#      them, and publishes the merged JUnit;
#   2. its merge step's commands, run on cpu shard reports of a small corpus, give the report of
#      the unsharded run case for case (labels, statuses, every statistic, in order), the same
#      summary and the same JUnit, and exit as the unsharded run does (1: the corpus has a
#      known-bug variant's findings; 0 for the production cases alone);
#   3. shards of another commit, another shard count, another corpus, a shard twice or a shard
#      missing, and a case holding a field this ulpdiff would not write back, are refused with
#      exit 2 and a message naming the file and the field.
set -euo pipefail
U=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
W=.github/workflows/nightly-gpu.yml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

python3 -c 'import yaml' 2> /dev/null || { echo "PyYAML is missing (scripts/deps.sh installs python3-yaml)"; exit 1; }

# ---- 1. the workflow's shape; writes the merge step's script and env for part 2
python3 - "$W" "$T" <<'PY'
import re, sys, yaml
path, t = sys.argv[1], sys.argv[2]
wf = yaml.safe_load(open(path))
def fail(msg):
    sys.exit(f"{path}: {msg}")
jobs = wf.get("jobs") or fail("no jobs")
# the shard job: the one with a matrix of shard numbers
shard_jobs = [(k, j) for k, j in jobs.items() if "shard" in ((j.get("strategy") or {}).get("matrix") or {})]
len(shard_jobs) == 1 or fail("expected one job with a shard matrix")
sname, sj = shard_jobs[0]
shards = sj["strategy"]["matrix"]["shard"]
n = len(shards)
shards == list(range(1, n + 1)) or fail(f"matrix shard {shards} is not 1..{n}")
n >= 2 or fail("a shard matrix of one shard")
sj["strategy"].get("fail-fast") is False or fail("fail-fast must be off: the merge needs every shard")
runs_on = sj["runs-on"] if isinstance(sj["runs-on"], list) else [sj["runs-on"]]
{"self-hosted", "gpu"} <= set(runs_on) or fail(f"{sname} runs on {runs_on}, not [self-hosted, gpu]")
want = "${{ matrix.shard }}/%d" % n
steps = sj["steps"]
sharded = [s for s in steps if (s.get("env") or {}).get("NIGHTLY_SHARD") == want or want in str(s.get("run", ""))]
sharded or fail(f"no step of {sname} runs shard {want} (NIGHTLY_SHARD or --shard)")
for s in sharded:
    env = s.get("env") or {}
    if env.get("NIGHTLY_SHARD") == want:
        "corpus" in env.get("NIGHTLY_STAGES", "corpus") or fail("the shard step does not run the corpus stage")
up = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
up or fail(f"{sname} uploads no artifact")
art = up[0]["with"]["name"]
"${{ matrix.shard }}" in art or fail(f"artifact name {art!r} does not name the shard")
"report.json" in up[0]["with"]["path"] and "junit.xml" in up[0]["with"]["path"] or fail("the shard artifact lacks report.json or junit.xml")
up[0].get("if") == "always()" or fail("a failing shard (findings) must still upload its reports: if: always()")
# the merge job
mj = [(k, j) for k, j in jobs.items() if any(s.get("id") == "merge" for s in j.get("steps", []))]
len(mj) == 1 or fail("expected one job with a step of id 'merge'")
mname, mj = mj[0]
needs = mj.get("needs")
needs = needs if isinstance(needs, list) else [needs]
sname in needs or fail(f"{mname} does not need {sname}")
mj.get("if") == "always()" or fail(f"{mname} must run when shards have findings: if: always()")
msteps = mj["steps"]
dl = [s for s in msteps if str(s.get("uses", "")).startswith("actions/download-artifact")]
dl or fail(f"{mname} downloads no artifact")
pattern, where = dl[0]["with"]["pattern"], dl[0]["with"]["path"]
re.fullmatch(re.escape(art).replace(re.escape("${{ matrix.shard }}"), ".*"), pattern.replace("*", "1")) \
    or fail(f"download pattern {pattern!r} does not match the artifacts {art!r}")
mi = [i for i, s in enumerate(msteps) if s.get("id") == "merge"][0]
ms = msteps[mi]
run = ms["run"]
"${{" not in run or fail("the merge step's script must not depend on workflow expressions (the test runs it)")
re.search(r'"?\$ULPDIFF"? merge ', run) or fail("the merge step does not run $ULPDIFF merge")
m = re.search(r"--junit (\S+)", run) or fail("the merge step writes no JUnit")
junit = m.group(1)
for s in msteps[mi + 1:]:
    s.get("if") == "always()" or fail(f"step {s.get('name')!r} after the merge must run when it fails: if: always()")
pub = [s for s in msteps[mi + 1:] if re.search(r"junit|test-report", str(s.get("uses", "")), re.I)]
pub or fail("no step publishes the merged JUnit")
paths = str(pub[0]["with"].get("report_paths") or pub[0]["with"].get("path") or pub[0]["with"].get("files"))
junit in paths or fail(f"the published report {paths!r} is not the merged {junit!r}")
open(f"{t}/merge_step.sh", "w").write(run)
with open(f"{t}/recipe.env", "w") as f:
    f.write(f"N={n}\nART='{art}'\nWHERE='{where}'\nJUNIT='{junit}'\n")
    for k, v in (ms.get("env") or {}).items():
        k != "ULPDIFF" and f.write(f"export {k}='{v}'\n")
PY
# shellcheck disable=SC1091
. "$T/recipe.env"

# ---- 2. the merge step on cpu shard reports
C=$T/corpus.ini
cat > "$C" <<'EOF'
[rms]
op     = rmsnorm
dtype  = bf16, fp32
tokens = 1, 7
hidden = 127, 1030
values = normal, nan_inf

[silu]
op     = silu_and_mul
dtype  = bf16, fp16
tokens = 3
inter  = 9, 100
values = normal, large

[silu_bug]
op     = silu_and_mul
mutant = exp_overflow
dtype  = fp32
tokens = 2
inter  = 64
values = large
seeds  = 2

[prs]
op     = post_reorder_sum
dtype  = bf16
tokens = 7
hidden = 127
ids    = uniform, with_zero, padded
EOF
run() { "$U" run "$C" --backend cpu --jobs 2 -q --no-shrink "$@"; }
set +e
run --json "$T/all.json" --junit "$T/all.xml" > "$T/all.txt"; all_rc=$?
set -e
[ "$all_rc" -eq 1 ] || { echo "the unsharded run: expected exit 1 (a known-bug variant's findings), got $all_rc"; exit 1; }
ncases=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$T/all.json")
[ "$ncases" -ge 24 ] && [ "$ncases" -le 120 ] || { echo "test corpus of $ncases cases: keep it a few dozen"; exit 1; }

# shard K's reports where the merge job's download step puts artifact K
shard_dir() { echo "$1/$WHERE/${ART//'${{ matrix.shard }}'/$2}"; }
mkdir -p "$T/job"
for k in $(seq 1 "$N"); do
  d=$(shard_dir "$T/job" "$k")
  mkdir -p "$d"
  set +e; run --shard "$k/$N" --json "$d/report.json" --junit "$d/junit.xml" > /dev/null; set -e
done
merge_step() {   # merge_step DIR: the workflow's merge step, run in DIR; prints its exit code
  (cd "$1" && ULPDIFF=$U bash --noprofile --norc -eo pipefail "$T/merge_step.sh" > merge.out 2> merge.err; echo $? > merge.rc) || true
  cat "$1/merge.rc"
}
rc=$(merge_step "$T/job")
[ "$rc" -eq "$all_rc" ] || { echo "merge step: exit $rc, the unsharded run exited $all_rc"; cat "$T/job/merge.err"; exit 1; }
merged_json=$(sed -n 's/.*--json \([^ ]*\).*/\1/p' "$T/merge_step.sh" | head -n 1)
python3 - "$T/all.json" "$T/job/$merged_json" "$T/all.xml" "$T/job/$JUNIT" <<'PY'
import json, sys, xml.etree.ElementTree as ET
a, m = (json.load(open(p)) for p in sys.argv[1:3])
def strip(c):   # timings are the one thing that differs between two runs
    c = dict(c); c.pop("seconds")
    c["phases"] = {k: v for k, v in c["phases"].items() if not k.endswith("_seconds")}
    return c
ca, cm = [strip(c) for c in a["cases"]], [strip(c) for c in m["cases"]]
assert len(ca) == len(cm), f"{len(ca)} cases unsharded, {len(cm)} merged"
for i, (x, y) in enumerate(zip(ca, cm)):
    assert x == y, f"case {i} differs: {x['label']} / {y['label']}: " + ", ".join(k for k in x if x[k] != y.get(k))
assert [c["index"] for c in ca] == list(range(len(ca))), "unsharded indices are not 0..n-1"
assert a["summary"] == m["summary"], "summaries differ"
for k in ("git_commit", "backend", "selected", "not_run", "corpus"):
    assert a["meta"][k] == m["meta"][k], f"meta.{k}: {a['meta'][k]} vs {m['meta'][k]}"
assert m["meta"]["shard"] == "1/1"
def cases(p):
    return [(s.get("name"), c.get("name"), [f.tag for f in c]) for s in ET.parse(p).getroot() for c in s.iter("testcase")]
assert cases(sys.argv[3]) == cases(sys.argv[4]), "JUnit suites or cases differ"
PY
grep -q 'elements' "$T/job/merge.out" || { echo "merge --rates printed no rates table"; exit 1; }
html=$(sed -n 's/.*--html \([^ ]*\).*/\1/p' "$T/merge_step.sh" | head -n 1)
[ -z "$html" ] || grep -q '</html>' "$T/job/$html" || { echo "no merged HTML report"; exit 1; }

# production cases only: the merged run passes, exit 0
mkdir -p "$T/pass"
for k in $(seq 1 "$N"); do
  d=$(shard_dir "$T/pass" "$k"); mkdir -p "$d"
  run --op rmsnorm --shard "$k/$N" --json "$d/report.json" > /dev/null
done
rc=$(merge_step "$T/pass")
[ "$rc" -eq 0 ] || { echo "merge step on passing shards: exit $rc, expected 0"; cat "$T/pass/merge.err"; exit 1; }

# ---- 3. shards that are not one run's
refused() {   # refused NAME 'EXPECTED MESSAGE PART': the merge step in $T/NAME exits 2 saying it
  local rc
  rc=$(merge_step "$T/$1")
  [ "$rc" -eq 2 ] || { echo "$1: merge step exit $rc, expected 2"; cat "$T/$1/merge.err"; exit 1; }
  grep -q -- "$2" "$T/$1/merge.err" || { echo "$1: message lacks '$2':"; cat "$T/$1/merge.err"; exit 1; }
}
copy_job() { rm -rf "$T/$1"; cp -r "$T/job" "$T/$1"; rm -f "$T/$1"/merge.*; }
s2=$(shard_dir "$T/x" 2); s2=${s2#"$T/x/"}
s1=$(shard_dir "$T/x" 1); s1=${s1#"$T/x/"}

copy_job commit
python3 - "$T/commit/$s2/report.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["meta"]["git_commit"] = "0123456789abcdef0123456789abcdef01234567"
json.dump(d, open(sys.argv[1], "w"))
PY
refused commit "$s2/report.json: meta.git_commit"

copy_job count
run --shard "2/$((N + 1))" --json "$T/count/$s2/report.json" > /dev/null || true
refused count "meta.shard is 2/$((N + 1))"

copy_job twice
cp "$T/twice/$s1/report.json" "$T/twice/$s2/report.json"
refused twice "a shard given twice"

copy_job missing
rm -r "$T/missing/$s2"
refused missing "shard 2 of $N missing"

copy_job corpus
sed 's/tokens = 3$/tokens = 4/' "$C" > "$T/other.ini"
"$U" run "$T/other.ini" --backend cpu --jobs 2 -q --no-shrink --shard "2/$N" --json "$T/corpus/$s2/report.json" > /dev/null || true
refused corpus "$s2/report.json: meta.corpus.fingerprint"
# a corpus whose labels are the same (they print reals with %g) but one value is not
copy_job precision
sed 's/^values = normal, nan_inf$/&\neps    = 1.0000001e-6/' "$C" > "$T/eps.ini"
grep -q '^eps' "$T/eps.ini" || { echo "test bug: no eps line"; exit 1; }
"$U" run "$T/eps.ini" --backend cpu --jobs 2 -q --no-shrink --shard "2/$N" --json "$T/precision/$s2/report.json" > /dev/null || true
python3 - "$T/job/$s2/report.json" "$T/precision/$s2/report.json" <<'PY'
import json, sys
a, b = ([c["label"] for c in json.load(open(p))["cases"]] for p in sys.argv[1:3])
assert a == b, "test bug: the labels should not tell the two corpora apart"
PY
refused precision "$s2/report.json: meta.corpus.fingerprint"

# a report holding what this ulpdiff does not read (a newer writer's field): refused, not dropped
copy_job newer
python3 - "$T/newer/$s2/report.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["cases"][1]["outputs"][0]["future_stat"] = 1.5
json.dump(d, open(sys.argv[1], "w"))
PY
refused newer "$s2/report.json: cases\[1\].outputs: this ulpdiff would write it differently"

echo "ci recipe: ok ($N shards, $ncases cases)"
