#!/usr/bin/env bash
# plugin.sh ULPDIFF — `ulpdiff run --impl LIB.so` runs a plugin's implementation
# (include/ulpdiff_plugin.h) in place of the production kernels, with ulpdiff's references,
# budgets and reports: a correct plugin passes, a plugin with the vLLM #42325 bug is caught,
# a plugin built against another ABI version is refused (exit 2), the plugin's `supports`
# leaves cases out, and cases of operators the plugin does not implement are not run.
set -euo pipefail
U=$1
P=$(dirname "$U")/plugins
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
C=cases/smoke/rmsnorm.ini
for lib in libud_plugin_rmsnorm.so libud_plugin_rmsnorm_bug.so libud_plugin_rmsnorm_abi2.so; do
  [ -f "$P/$lib" ] || { echo "missing $P/$lib (built by tests/tests.cmake)"; exit 1; }
done

# the correct plugin passes every case of its operators, and only those run
"$U" run "$C" --impl "$P/libud_plugin_rmsnorm.so" --backend cpu -q --json "$T/good.json" > "$T/good" 2> "$T/good.err" \
  || { cat "$T/good" "$T/good.err"; echo "the correct plugin did not pass"; exit 1; }
grep -q "^testing plugin 'test rmsnorm' (.*): rmsnorm \[host\], rmsnorm_fused_add \[host\]$" "$T/good"
grep -q "cases of operators the plugin does not implement left out" "$T/good.err"
grep -q "cases left out: the plugin does not support them" "$T/good.err"
python3 - "$T/good.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ops = {c["op"] for c in d["cases"]}
assert ops == {"rmsnorm", "rmsnorm_fused_add"}, ops                      # no gemma: not the plugin's
assert all(c["params"]["spec"] == "hf" for c in d["cases"] if c["op"] == "rmsnorm_fused_add")   # supports()
assert all(c["status"] == "pass" for c in d["cases"]) and len(d["cases"]) > 100
assert "plugin 'test rmsnorm'" in d["meta"]["device"]
PY

# the buggy plugin (weight product before the hf rounding) is caught by tolerance findings
set +e
"$U" run "$C" --impl "$P/libud_plugin_rmsnorm_bug.so" --backend cpu -q --op rmsnorm > "$T/bug" 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$T/bug"; echo "buggy plugin: expected exit 1, got $rc"; exit 1; }
grep -q "finding tolerance: out: .* over budget" "$T/bug"
grep -q "^FAIL rmsnorm(dtype=bf16, .*spec=hf" "$T/bug"
! grep -q "FAIL rmsnorm(dtype=.*spec=flashinfer" "$T/bug" || { echo "the bug is harmless under flashinfer's spec"; exit 1; }

# ABI version mismatch, a library that is not a plugin (the libm ulpdiff links), a missing file:
# usage errors (exit 2)
LIBM=$(ldd "$U" | awk '/libm\.so/ {print $3}')
[ -f "$LIBM" ] || { echo "cannot find the libm $U links"; exit 1; }
for bad in "$P/libud_plugin_rmsnorm_abi2.so" "$LIBM" "$T/nothing.so"; do
  set +e; "$U" run "$C" --impl "$bad" --backend cpu -q > "$T/out" 2> "$T/err"; rc=$?; set -e
  [ "$rc" -eq 2 ] || { cat "$T/out" "$T/err"; echo "--impl $bad: expected exit 2, got $rc"; exit 1; }
  grep -q -- "--impl $bad" "$T/err"
  case $bad in
    *abi2*) grep -q "plugin ABI version 2, this ulpdiff speaks version 1: rebuild the plugin against this ulpdiff's include/ulpdiff_plugin.h" "$T/err" ;;
    "$LIBM") grep -q "no function 'ulpdiff_plugin' exported" "$T/err" ;;
    *) grep -q "cannot load" "$T/err" ;;
  esac
done
# --mutant names one of ulpdiff's kernels: meaningless with a plugin
set +e; "$U" run "$C" --impl "$P/libud_plugin_rmsnorm.so" --mutant rmsnorm.eps_after_sqrt --backend cpu > /dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || { echo "--impl with --mutant: expected exit 2, got $rc"; exit 1; }
echo "plugin: ok"
