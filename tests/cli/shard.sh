#!/usr/bin/env bash
# shard.sh ULPDIFF — --shard I/N: the shards of a corpus are disjoint and together cover it,
# both as selected (--dry-run) and as run (JSON reports).
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=cases/smoke/rmsnorm.ini

"$U" run "$C" --dry-run | grep -v ' cases$' > "$T/all"
n=$(wc -l < "$T/all")
[ "$n" -gt 10 ] || { echo "corpus too small: $n"; exit 1; }
: > "$T/union"
for k in 1 2 3; do
  "$U" run "$C" --dry-run --shard "$k/3" | grep -v ' cases$' > "$T/s$k"
  cat "$T/s$k" >> "$T/union"
done
# covering and disjoint: the shards' lines, concatenated, are the corpus's lines exactly once
# (each line carries file:line and the full label, so identical labels in two sections differ)
diff <(sort "$T/all") <(sort "$T/union") > /dev/null || { echo "shards do not partition the corpus"; exit 1; }
[ "$(sort "$T/union" | uniq -d | wc -l)" -eq 0 ] || { echo "a case is in two shards"; exit 1; }
# round robin keeps the shard sizes within one of each other
for k in 1 2 3; do m=$(wc -l < "$T/s$k"); [ $((m * 3 - n)) -le 3 ] && [ $((n - m * 3)) -le 3 ] || { echo "unbalanced shard $k: $m of $n"; exit 1; }; done

# The same holds for what actually runs.
for k in 1 2; do
  "$U" run "$C" --backend cpu --shard "$k/2" --jobs 2 -q --no-shrink --json "$T/r$k.json" > /dev/null
done
"$U" run "$C" --backend cpu --jobs 2 -q --no-shrink --json "$T/all.json" > /dev/null
python3 - "$T" <<'PY'
import json, sys, collections
t = sys.argv[1]
def keys(p):
    return [(c["file"], c["line"], c["label"]) for c in json.load(open(p))["cases"]]
a, b, full = keys(f"{t}/r1.json"), keys(f"{t}/r2.json"), keys(f"{t}/all.json")
assert not set(a) & set(b), "shards overlap"
assert collections.Counter(a + b) == collections.Counter(full), "shards do not cover the run"
PY
# malformed shard specs are usage errors
for bad in 0/3 4/3 x/2 3; do
  set +e; "$U" run "$C" --dry-run --shard "$bad" > /dev/null 2>&1; rc=$?; set -e
  [ "$rc" -eq 2 ] || { echo "--shard $bad: expected exit 2, got $rc"; exit 1; }
done
echo "shards: ok"
