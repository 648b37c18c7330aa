#!/usr/bin/env bash
# bench_table.sh ULPDIFF — the benchmark table without a GPU (docs/performance.md):
#  1. bench/torch_ops.py times the operators and shapes `ulpdiff bench` times (its SHAPES,
#     read without importing torch, against `ulpdiff bench --dry-run`);
#  2. bench/table.py merges JSON shaped as harness/bench/bench.c and bench/torch_ops.py write it, and
#     flags exactly the rows that miss the bar (memory-bound under 80% of copy, slower than
#     eager or torch.compile, not the same bytes);
#  3. bad input is exit 2 naming the file and what is wrong.
set -euo pipefail
U=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "bench_table: $*"; exit 1; }

# 1. same operators, same shapes
"$U" bench --dry-run > "$T/cases.tsv"
python3 - "$T/cases.tsv" bench/torch_ops.py << 'PY'
import ast, sys
cases = {}
for line in open(sys.argv[1]):
    op, label = line.rstrip("\n").split("\t")
    inner = label[label.index("(") + 1:-1]
    cases[op] = dict(p.split("=", 1) for p in inner.split(", "))
tree = ast.parse(open(sys.argv[2]).read())
shapes = next(ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "SHAPES" for t in n.targets))
# An operator without a PyTorch formulation is allowed (table.py notes "no torch row"); one that
# torch_ops.py times must be an ulpdiff operator, at the same shape.
assert set(shapes) <= set(cases), f"torch_ops.py times operators ulpdiff does not bench: {sorted(set(shapes) - set(cases))}"
for op, want in shapes.items():
    for k, v in want.items():
        assert k in cases[op], f"{op}: torch_ops.py sets {k}, which `ulpdiff bench` does not have"
        assert str(v) == cases[op][k], f"{op}: {k} = {v} in torch_ops.py, {cases[op][k]} in ulpdiff bench"
    for k in ("tokens", "hidden", "inter", "dtype"):
        assert k not in cases[op] or k in want, f"{op}: torch_ops.py does not pin {k} (ulpdiff: {cases[op][k]})"
PY

# 2. synthetic outputs, shaped as the writers write them
cat > "$T/u.json" << 'EOF'
{
  "schema": "ulpdiff-bench/1",
  "device": "NVIDIA H200",
  "date": "2026-01-01T00:00:00Z",
  "copy_gbps": 4000.0,
  "l2_bytes": 52428800,
  "kernels": [
    {"op": "rmsnorm", "case": "rmsnorm(dtype=bf16, tokens=4096, hidden=7168, eps=1e-06, spec=hf, values=normal, scale=1, seed=1)",
     "median_us": 40.0, "bytes": 117456896, "gbps": 2936.4, "fraction_of_copy": 0.85},
    {"op": "layernorm", "case": "layernorm(dtype=bf16, tokens=4096, hidden=7168, eps=1e-05, affine=weight_bias, values=normal, scale=1, seed=1)",
     "median_us": 50.0, "bytes": 117469184, "gbps": 2349.4, "fraction_of_copy": 0.70},
    {"op": "gate_proj", "case": "gate_proj(mode=fp32, dtype=bf16, weight=auto, tokens=4096, hidden=7168, experts=256, topk=8, scoring=softmax, values=router, seed=1)",
     "median_us": 400.0, "bytes": 70910976, "gbps": 177.3, "fraction_of_copy": 0.044},
    {"op": "rope", "case": "rope(dtype=bf16, tokens=4096, q_heads=32, kv_heads=8, head_dim=128, factor=0.5, style=neox, base=10000, max_position=8192, positions=uniform, table=model, angles=fp32, values=normal, scale=1, seed=1)",
     "median_us": 30.0, "bytes": 85000000, "gbps": 2833.3, "fraction_of_copy": 0.87},
    {"op": "silu_and_mul", "case": "silu_and_mul(dtype=bf16, tokens=4096, inter=7168, spec=flashinfer, values=normal, scale=1, seed=1)",
     "median_us": 60.0, "bytes": 176160768, "gbps": 2936.0, "fraction_of_copy": 0.86},
    {"op": "rmsnorm", "shape": "decode1", "config": "production", "case": "rmsnorm(dtype=bf16, tokens=1, hidden=7168, eps=1e-06, spec=hf, values=normal, scale=1, seed=1)",
     "median_us": 3.0, "min_us": 2.9, "bytes": 43008, "gbps": 14.3, "fraction_of_copy": 0.004},
    {"op": "rmsnorm", "shape": "bench", "config": "block_nc8", "case": "rmsnorm(dtype=bf16, tokens=4096, hidden=7168, eps=1e-06, spec=hf, values=normal, scale=1, seed=1)",
     "median_us": 50.0, "bytes": 117456896, "gbps": 2349.1, "fraction_of_copy": 0.68, "same_bits": true},
    {"op": "rmsnorm", "shape": "bench", "config": "warp_nc8_r4", "case": "rmsnorm(dtype=bf16, tokens=4096, hidden=7168, eps=1e-06, spec=hf, values=normal, scale=1, seed=1)",
     "median_us": 45.0, "bytes": 117456896, "gbps": 2610.0, "fraction_of_copy": 0.75, "same_bits": false}
  ]
}
EOF
cat > "$T/t.json" << 'EOF'
{
  "schema": "ulpdiff-torch-bench/1",
  "device": "NVIDIA H200",
  "torch": "2.11.0+cu130",
  "date": "2026-01-01T00:01:00Z",
  "copy_gbps": 4010.0,
  "complete": true,
  "kernels": [
    {"op": "rmsnorm", "shape": {"dtype": "bf16", "tokens": 4096, "hidden": 7168}, "bytes": 117456896,
     "eager_us": 200.0, "eager_fraction_of_copy": 0.15, "compile_us": 45.0, "compile_fraction_of_copy": 0.65,
     "compile_seconds": 9.5, "compile_note": null},
    {"op": "layernorm", "shape": {}, "bytes": 117469184, "eager_us": 45.0, "eager_fraction_of_copy": 0.65,
     "compile_us": 55.0, "compile_fraction_of_copy": 0.53, "compile_seconds": 8.0, "compile_note": null},
    {"op": "gate_proj", "shape": {}, "bytes": 70909952, "eager_us": 900.0, "eager_fraction_of_copy": 0.02,
     "compile_us": 350.0, "compile_fraction_of_copy": 0.05, "compile_seconds": 12.0, "compile_note": null},
    {"op": "rope", "shape": {}, "bytes": 83000000, "eager_us": 300.0, "eager_fraction_of_copy": 0.07,
     "compile_us": null, "compile_fraction_of_copy": null, "compile_seconds": null,
     "compile_note": "not run (--compile-budget 60 s spent)"}
  ]
}
EOF
python3 bench/table.py --ulpdiff "$T/u.json" --torch "$T/t.json" --md "$T/table.md" --json "$T/table.json" > "$T/out.txt" \
  || { cat "$T/out.txt"; fail "table.py failed on good input"; }
[ "$(tail -n 1 "$T/out.txt")" = "4 of 7 rows flagged" ] || { cat "$T/out.txt" "$T/table.md"; fail "flag count"; }
grep -q "^| rmsnorm | dtype=bf16 tokens=1 hidden=7168 | 3.00 | 2.90 |$" "$T/table.md" || { cat "$T/table.md"; fail "decode row"; }
grep -q "^| rmsnorm | .* | warp_nc8_r4 | 45.00 | 75.0 | NO: differs from production |$" "$T/table.md" || { cat "$T/table.md"; fail "configuration row"; }
python3 - "$T/table.json" << 'PY'
import json, sys
rows = {r["op"]: r for r in json.load(open(sys.argv[1]))["rows"]}
want = {"rmsnorm": [], "layernorm": ["under 85% of copy", "slower than eager"],
        "gate_proj": ["slower than compile"], "rope": ["bytes differ (85.0 vs 83.0 MB)"], "silu_and_mul": []}
for op, flags in want.items():
    assert rows[op]["flags"] == flags, (op, rows[op]["flags"], flags)
assert rows["silu_and_mul"]["notes"] == ["no torch row"], rows["silu_and_mul"]
assert rows["rope"]["notes"] == ["no compile timing: not run (--compile-budget 60 s spent)"], rows["rope"]["notes"]
assert abs(rows["rmsnorm"]["speedup_eager"] - 5.0) < 1e-9 and abs(rows["rmsnorm"]["speedup_compile"] - 1.125) < 1e-9
assert rows["gate_proj"]["memory_bound"] is False and rows["rmsnorm"]["memory_bound"] is True
PY
grep -q "^| op | shape | ulpdiff ms | GB/s | % copy | eager ms | compile ms | x eager | x compile | flags |$" "$T/table.md" \
  || fail "markdown header"
grep -q "^| rmsnorm | dtype=bf16 tokens=4096 hidden=7168 | 0.0400 | 2936 | 85.0 | 0.2000 | 0.0450 | 5.00 | 1.12 |  |$" "$T/table.md" \
  || { cat "$T/table.md"; fail "rmsnorm row"; }
grep -q "^| gate_proj | .* | 4.4 (compute-bound) | " "$T/table.md" || { cat "$T/table.md"; fail "gate_proj row"; }
set +e
python3 bench/table.py --ulpdiff "$T/u.json" --torch "$T/t.json" --strict > /dev/null; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "--strict with flagged rows: exit $rc"
# without torch: nothing is slower than anything, only the bandwidth bar applies
python3 bench/table.py --ulpdiff "$T/u.json" --json "$T/alone.json" > "$T/alone.txt"
[ "$(tail -n 1 "$T/alone.txt")" = "2 of 7 rows flagged" ] || { cat "$T/alone.txt"; fail "ulpdiff-only flags"; }

# 3. bad input
bad() {   # bad PATTERN ARGS...: exit 2 and PATTERN on stderr
  local pat=$1 rc
  shift
  set +e; python3 bench/table.py "$@" > /dev/null 2> "$T/err"; rc=$?; set -e
  if [ "$rc" -ne 2 ] || ! grep -q -- "$pat" "$T/err"; then cat "$T/err"; fail "expected exit 2 and '$pat', got $rc"; fi
}
echo '{"schema": "ulpdiff-report/1", "cases": []}' > "$T/report.json"
bad "report.json: schema is 'ulpdiff-report/1'; expected 'ulpdiff-bench/1'" --ulpdiff "$T/report.json"
echo '{"schema": "ulpdiff-bench/1", "copy_gbps": 1, "kernels": [{"op": "x", "case": "x()", "median_us": "fast"}]}' > "$T/field.json"
bad "field.json: kernels\[0\].median_us: expected int or float, got 'fast'" --ulpdiff "$T/field.json"
printf '{"schema": ' > "$T/cut.json"
bad "cut.json: not a JSON document" --ulpdiff "$T/u.json" --torch "$T/cut.json"
bad "missing.json: cannot read" --ulpdiff "$T/missing.json"
echo "bench_table: ok"
