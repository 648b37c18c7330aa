#!/usr/bin/env bash
# default_corpus.sh ULPDIFF — `ulpdiff run` with no files and no --op runs cases/smoke,
# found relative to the working directory or, from anywhere else, to the source tree the
# binary was built from; `mutants` uses the same corpus; --op alone runs the default sweep.
set -euo pipefail
U=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$U" run --dry-run > "$T/here"
grep -q "^cases/smoke/rmsnorm.ini:[0-9]*	rmsnorm(" "$T/here" || { echo "cases/smoke not used from the source dir"; head "$T/here"; exit 1; }
(cd "$T" && "$U" run --dry-run > "$T/there")
grep -q "/cases/smoke/rmsnorm.ini:[0-9]*	rmsnorm(" "$T/there" || { echo "cases/smoke not found from elsewhere"; head "$T/there"; exit 1; }
[ "$(wc -l < "$T/here")" -eq "$(wc -l < "$T/there")" ]
# --op without files: the operator's default sweep, with command-line parameters
"$U" run --op rmsnorm --dtype bf16 --tokens 2 --hidden 3,5 --dry-run > "$T/sweep"
grep -q "^4 cases$" "$T/sweep" || { cat "$T/sweep"; exit 1; }
grep -q "^-	rmsnorm(dtype=bf16, tokens=2, hidden=5," "$T/sweep"
# command-line parameters do not mix with case files
set +e; "$U" run cases/smoke --op rmsnorm --hidden 3 --dry-run > /dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ]
echo "default corpus: ok"
