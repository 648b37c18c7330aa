#!/usr/bin/env bash
# bisect-step.sh — one step of `git bisect run`: build this commit, run the given cases, and
# answer good (0), bad (1) or skip (125).
#
#   cp scripts/bisect-step.sh cases/smoke/rmsnorm.ini /tmp/      # outside the tree: bisect
#   git bisect start BAD GOOD                                     # checks out old commits
#   git bisect run /tmp/bisect-step.sh --backend cpu /tmp/rmsnorm.ini
#   git bisect run /tmp/bisect-step.sh --baseline /tmp/good.json /tmp/rmsnorm.ini
#
# Without --baseline a commit is bad when the cases have findings (`ulpdiff run` exits 1);
# with --baseline OLD.json it is bad when `ulpdiff compare OLD.json NEW.json` says NEW is worse
# (a precision regression that still passes its budget counts). Skip (125) when the build
# fails or ulpdiff cannot judge the commit (bad input or internal error: exit 2 or 3, e.g. a
# case file naming an operator this commit does not have yet).
#
# Options: --source DIR (default: the git top level, else .), --build DIR (default
# SOURCE/build-bisect), --ulpdiff PATH (use this binary, do not build), --backend B (default
# auto), --jobs N, --baseline FILE, --max-slack ULP, --mean-slack FRACTION; then case files or
# directories. Every step's report is kept as BUILD/bisect-<commit>.json.
set -uo pipefail

src=""; build=""; ulpdiff=""; backend=auto; jobs=""; baseline=""; slack=()
cases=()
while [ $# -gt 0 ]; do
  case "$1" in
    --source) src=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --ulpdiff) ulpdiff=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --max-slack|--mean-slack) slack+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "bisect-step: unknown option $1" >&2; exit 128 ;;   # >127 aborts the bisect
    *) cases+=("$1"); shift ;;
  esac
done
[ ${#cases[@]} -gt 0 ] || { echo "bisect-step: name the case files to run" >&2; exit 128; }

if [ -z "$ulpdiff" ]; then
  [ -n "$src" ] || src=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
  [ -n "$build" ] || build=$src/build-bisect
  mkdir -p "$build"
  log=$build/bisect-build.log
  if ! cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$log" 2>&1 ||
     ! cmake --build "$build" -j "${jobs:-$(nproc 2>/dev/null || echo 2)}" >> "$log" 2>&1; then
    echo "bisect-step: build failed (log: $log): skip" >&2
    exit 125
  fi
  ulpdiff=$build/ulpdiff
else
  [ -n "$build" ] || build=$(dirname "$ulpdiff")
fi
[ -x "$ulpdiff" ] || { echo "bisect-step: no ulpdiff binary at $ulpdiff: skip" >&2; exit 125; }

commit=$(git -C "${src:-.}" rev-parse --short HEAD 2>/dev/null || echo unknown)
report=$build/bisect-$commit.json
args=(run --backend "$backend" --no-shrink -q --json "$report")
[ -n "$jobs" ] && args+=(--jobs "$jobs")
"$ulpdiff" "${args[@]}" "${cases[@]}"
rc=$?
case $rc in
  0|1) ;;
  *) echo "bisect-step: ulpdiff run exited $rc at $commit: skip" >&2; exit 125 ;;
esac
if [ -n "$baseline" ]; then
  "$ulpdiff" compare "${slack[@]}" "$baseline" "$report"
  rc=$?
  case $rc in
    0) echo "bisect-step: $commit is no worse than $baseline: good" >&2; exit 0 ;;
    1) echo "bisect-step: $commit is worse than $baseline: bad" >&2; exit 1 ;;
    *) echo "bisect-step: compare exited $rc: skip" >&2; exit 125 ;;
  esac
fi
[ $rc -eq 0 ] && echo "bisect-step: $commit passes: good" >&2 || echo "bisect-step: $commit has findings: bad" >&2
exit $rc
