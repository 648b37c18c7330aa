#!/usr/bin/env bash
# hardening.sh ULPDIFF — what a careless or hostile input does to the parsers and the run:
#   - selecting nothing is an error (exit 2) unless --allow-empty asks for it: a missing file,
#     an empty directory, a directory without case files;
#   - case counts cannot wrap (11 parameters x 64 values = 2^66 cases) and are bounded across
#     sections too, before anything is expanded;
#   - a list longer than any buffer keeps every value;
#   - long comment lines (a shrunk reproducer's header) load; the line limit the message names
#     is the real one;
#   - a run whose largest case cannot fit in this machine's memory is refused up front;
#   - FIFOs are refused, not waited on (validate, compare, cache-check --replay, check);
#     symlink loops read each file once; compare is not quadratic in duplicate case keys;
#     --json into a directory is refused before anything runs; a negative budget in an export
#     manifest is refused as in a case file; replay files: error lines count blank lines, seeds
#     do not wrap, text past the size limit is refused; ranges print as integers; an unknown
#     flag is called unknown; a UTF-8 byte order mark is ignored.
# Every command runs under `timeout`: a hang fails the test instead of stalling ctest.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Every check runs; each failure is listed, and the test fails at the end if any did.
FAILS=0
fail() { echo "hardening: FAILED: $*"; FAILS=$((FAILS + 1)); }
# expect RC CMD...: runs CMD (output in $T/out), fails unless it exits RC.
expect() {
    local want=$1; shift
    set +e; timeout 60 "$@" > "$T/out" 2>&1; local rc=$?; set -e
    [ "$rc" -eq "$want" ] || { head -c 2000 "$T/out"; fail "expected exit $want, got $rc: $*"; }
}
has() { grep -q -- "$1" "$T/out" || { head -c 2000 "$T/out"; fail "output lacks '$1'"; }; }

# ---- 3. nothing selected
mkdir -p "$T/empty" "$T/noini"
echo "not a case file" > "$T/noini/readme.txt"
expect 2 "$U" validate "$T/nonexistent.ini";   has "nonexistent.ini: No such file"
expect 2 "$U" validate "$T/empty";             has "no case files"
expect 2 "$U" validate "$T/noini";             has "no case files"
expect 2 "$U" run "$T/empty" --backend cpu;     has "no case files"
expect 0 "$U" validate --allow-empty "$T/empty"; has "0 files, 0 cases"
expect 0 "$U" run --allow-empty "$T/empty" --backend cpu --no-shrink
expect 2 "$U" run cases/smoke/rmsnorm.ini --shard 100000/100000 --backend cpu --no-shrink; has "no case selected"

# ---- 4. case counts: no wrap-around, a bound across sections
python3 - "$T/wrap.ini" <<'PY'
import sys
names = ["tokens", "q_heads", "kv_heads", "head_dim", "factor", "base", "max_position", "scale", "dtype", "style", "values"]
vals = {"tokens": [str(i) for i in range(1, 65)], "q_heads": [str(i) for i in range(1, 65)],
        "kv_heads": ["1"] * 64, "head_dim": [str(2 * i) for i in range(1, 65)],
        "factor": ["%g" % (i / 64) for i in range(1, 65)], "base": [str(1000 + i) for i in range(64)],
        "max_position": [str(100 + i) for i in range(64)], "scale": ["%g" % (1 + i / 64) for i in range(64)],
        "dtype": ["bf16", "fp16", "fp32"] * 21 + ["bf16"], "style": ["neox", "gptj"] * 32,
        "values": ["normal"] * 64}
with open(sys.argv[1], "w") as f:
    f.write("[huge]\nop = rope\n")
    for n in names:
        v = vals[n][:64]
        f.write("%s = %s\n" % (n, ",\n    ".join(", ".join(v[i:i + 8]) for i in range(0, 64, 8))))
PY
expect 2 "$U" validate "$T/wrap.ini"; has "more than 1000000 cases"
python3 - "$T/many.ini" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for s in range(10):
        f.write("[s%d]\nop = rmsnorm\ndtype = fp32\nvalues = normal\nspec = hf\n" % s)
        f.write("tokens = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\nhidden = 8\nseeds = 100000\n")   # 1e6 each
PY
expect 2 "$U" validate "$T/many.ini"; has "10000000 cases in all, more than 1000000"
expect 2 "$U" run "$T/many.ini" --dry-run; has "10000000 cases in all, more than 1000000"

# ---- 5. long lists keep every value
python3 - "$T/long.ini" <<'PY'
import sys
vals = ["1.%020d" % i for i in range(1, 61)]   # 22 characters each, about 1400 in all
with open(sys.argv[1], "w") as f:
    f.write("[long]\nop = rmsnorm\ndtype = fp32\ntokens = 1\nhidden = 8\nvalues = normal\nspec = hf\nscale = ")
    for i in range(0, 60, 6):
        f.write((",\n    " if i else "") + ", ".join(vals[i:i + 6]))
    f.write("\n")
PY
expect 0 "$U" validate "$T/long.ini"; has "60 cases"

# ---- 6. long comment lines load; the limit the message names is the limit
python3 - "$T" <<'PY'
import sys
d = sys.argv[1]
head = "[c]\nop = rmsnorm\ndtype = fp32\ntokens = 1\nhidden = 8\nvalues = normal\n"
open(d + "/comment.ini", "w").write("# " + "x" * 400 + "\n; " + "y" * 300 + "\n" + head)
for n in (198, 199):   # `scale = 1` padded with spaces before a trailing comment to n characters
    line = "scale = 1 ; " + "z" * (n - 12)
    assert len(line) == n
    open("%s/line%d.ini" % (d, n), "w").write(head + line + "\n")
PY
expect 0 "$U" validate "$T/comment.ini"
expect 0 "$U" validate "$T/line198.ini"
expect 2 "$U" validate "$T/line199.ini"; has "longer than 198 characters"

# ---- 7. memory: refused up front, naming the case and the figures
expect 2 "$U" run --op rmsnorm --dtype bf16 --tokens 32768 --hidden 45000 --seeds 64 --jobs 64 --backend cpu --no-isolate
has "memory"; has "rmsnorm(dtype=bf16, tokens=32768, hidden=45000"

# ---- 8. FIFOs, symlink loops, duplicate keys, --json DIR, manifests, replay files, messages
mkfifo "$T/fifo.ini" "$T/fifo.json" "$T/fifo.steps"
expect 2 "$U" validate "$T/fifo.ini"; has "not a regular file"
printf '[a]\nop = rmsnorm\ntokens = 3\nhidden = 8\ndtype = fp32\nvalues = normal\n' > "$T/one.ini"
"$U" run "$T/one.ini" --backend cpu --json "$T/one.json" -q --no-shrink > /dev/null
expect 2 "$U" compare "$T/fifo.json" "$T/one.json"; has "not a regular file"
expect 2 "$U" cache-check --replay "$T/fifo.steps" --backend cpu; has "not a regular file"

mkdir -p "$T/loop/sub"
printf '[a]\nop = rmsnorm\ntokens = 1\nhidden = 8\ndtype = fp32\nvalues = normal\n' > "$T/loop/sub/a.ini"
ln -s .. "$T/loop/sub/up"
ln -s . "$T/loop/self"
expect 0 "$U" validate "$T/loop"; has "^1 file, 1 case: valid"

python3 - "$T/one.json" "$T/dup.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["cases"][0]
keep = ("label", "op", "backend", "status", "params", "seed", "findings")
small = {k: c[k] for k in keep}
small["outputs"] = [{k: o[k] for k in ("name", "max_ulp", "mean_ulp")} for o in c["outputs"]]
d["cases"] = [small] * 40000   # 40000 cases with one key: two sections with the same parameters
json.dump(d, open(sys.argv[2], "w"))
PY
TIMEFORMAT=%U
secs=$( { time "$U" compare "$T/dup.json" "$T/dup.json" > "$T/out" 2>&1; } 2>&1 )
grep -q "40000 unchanged" "$T/out" || { cat "$T/out"; fail "compare of duplicate keys"; }
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 10)" "$secs" || fail "compare of 40000 duplicate keys took $secs s of CPU"

mkdir "$T/jsondir"
expect 2 "$U" run "$T/one.ini" --backend cpu --json "$T/jsondir" --no-shrink; has "is a directory"
[ ! -e "$T/jsondir.partial" ] || fail "--json DIR left DIR.partial"
! grep -q "^PASS\|^FAIL" "$T/out" || fail "--json DIR ran cases before refusing"
expect 2 "$U" run "$T/one.ini" --backend cpu --html "$T/nodir/r.html" --no-shrink; has "nodir"

"$U" export "$T/one.ini" --dir "$T/x" > /dev/null
python3 - "$T/x/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["cases"][0]["budget"] = {"ulp": {"fp32": -1}}
json.dump(m, open(sys.argv[1], "w"))
PY
expect 2 "$U" check --dir "$T/x" --backend cpu; has "negative"

steps() { printf 'op = rope\nvariant = production\n%b\nseed = %s\nsteps:\ncall\n' "$1" "$2"; }
steps 'case = dtype=bf16 tokens=3\n\n\nbogus' 1 > "$T/blank.steps"
expect 2 "$U" cache-check --replay "$T/blank.steps" --backend cpu; has "blank.steps:6:"
# an invalid case (rotary_dim = int(64 * 0.3) = 19 is odd): refused, and nothing leaks (the
# sanitizer build turns a leak into a failing exit code)
steps 'case = dtype=bf16 tokens=3 q_heads=2 kv_heads=1 head_dim=64 factor=0.3 style=neox base=10000 max_position=64 positions=edges table=model angles=fp32 values=normal scale=1' 1 > "$T/invalid.steps"
expect 2 "$U" cache-check --replay "$T/invalid.steps" --backend cpu; has "invalid.steps:3: case:"
steps 'case = dtype=bf16 tokens=3' 18446744073709551616 > "$T/wrap.steps"
expect 2 "$U" cache-check --replay "$T/wrap.steps" --backend cpu; has "seed"
{ steps 'case = dtype=bf16 tokens=3' 1; python3 -c 'print("#" * 70000)'; } > "$T/big.steps"
expect 2 "$U" cache-check --replay "$T/big.steps" --backend cpu; has "larger than"

expect 2 "$U" run --op rmsnorm --tokens 1..2000000 --dry-run; has "0..1048576"
expect 2 "$U" run --bogus;             has "unknown option '--bogus'"
expect 2 "$U" run --op rmsnorm --hiden 3 --dry-run; has "did you mean --hidden"
printf '\xef\xbb\xbf[a]\nop = rmsnorm\n' > "$T/bom.ini"
expect 0 "$U" validate "$T/bom.ini"

[ "$FAILS" -eq 0 ] || { echo "hardening: $FAILS checks failed"; exit 1; }
echo "hardening: ok"
