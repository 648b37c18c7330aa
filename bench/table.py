#!/usr/bin/env python3
"""table.py — one benchmark table from `ulpdiff bench --json` (schema ulpdiff-bench/1) and
bench/torch_ops.py --json (schema ulpdiff-torch-bench/1): per operator the ulpdiff kernel's
median time, bandwidth and fraction of the device's copy bandwidth, PyTorch eager and
torch.compile times on the same shapes, the speed-ups, and flags where the performance bar of
docs/performance.md is missed. Python standard library only.

  python3 bench/table.py --ulpdiff U.json [--torch T.json] [--md OUT.md] [--json OUT.json] [--strict]

The bar: a memory-bound kernel moves its bytes at >= 85% of the measured copy bandwidth, and
every kernel is faster than both PyTorch eager and torch.compile. Flags:
  under 85% of copy     memory-bound operator below the bar
  slower than eager     ulpdiff's median time above eager's
  slower than compile   ... above torch.compile's
  bytes differ          the two sides did not move the same bytes (> 1% apart): not the same shapes
Notes (missing data, not a missed bar): no torch row, no compile timing and why.
The main table holds the production kernels at their bench shapes; decode shapes (tokens 1, 16:
no bar) and, from `ulpdiff bench --configs`, every launch configuration follow in their own
tables (a configuration whose bits differ from production's is flagged there and counted).
The markdown table goes to --md (or stdout); the last line printed is "K of N rows flagged".
Exit 0; 1 with --strict when a row is flagged; 2 on bad input (the file and what is wrong).
"""
import argparse
import json
import os
import re
import sys

BAR = 0.85
# The router GEMM is compute-bound at its bench shape: 2*T*H*E = 15 GFLOP over ~70 MB is
# ~215 FLOP/byte, far above an H100/H200's fp32 ridge point (~15-20 FLOP/byte), so the copy
# bandwidth is no bar for it. Every other operator reads and writes each element about once.
COMPUTE_BOUND = {"gate_proj"}
SHAPE_KEYS = ("mode", "dtype", "pdtype", "tokens", "hidden", "inter", "experts", "topk", "q_heads", "kv_heads",
              "head_dim", "factor", "group")


def bad(path, msg):
    print(f"table.py: {path}: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path, schema, fields):
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError as e:
        bad(path, f"cannot read ({e.strerror})")
    except ValueError as e:
        bad(path, f"not a JSON document ({e})")
    if not isinstance(d, dict) or d.get("schema") != schema:
        got = d.get("schema") if isinstance(d, dict) else type(d).__name__
        bad(path, f"schema is {got!r}; expected {schema!r}")
    if not isinstance(d.get("kernels"), list) or not isinstance(d.get("copy_gbps"), (int, float)):
        bad(path, "expected a number copy_gbps and an array kernels")
    for i, k in enumerate(d["kernels"]):
        for name, kinds in fields.items():
            v = k.get(name) if isinstance(k, dict) else None
            if not isinstance(v, kinds) or isinstance(v, bool):
                bad(path, f"kernels[{i}].{name}: expected {' or '.join(t.__name__ for t in kinds)}, got {v!r}")
    return d


def shape_of(label):
    """'rope(dtype=bf16, tokens=4096, ...)' -> 'dtype=bf16 tokens=4096 ...' (the shape keys only)."""
    m = re.match(r"^[^(]*\((.*)\)$", label)
    params = dict(p.split("=", 1) for p in m.group(1).split(", ") if "=" in p) if m else {}
    return " ".join(f"{k}={params[k]}" for k in SHAPE_KEYS if k in params)


def ms(us):
    return None if us is None else us / 1e3


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description="merge ulpdiff and PyTorch benchmark JSON into one table")
    ap.add_argument("--ulpdiff", required=True)
    ap.add_argument("--torch")
    ap.add_argument("--md")
    ap.add_argument("--json")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    num = (int, float)
    u = load(a.ulpdiff, "ulpdiff-bench/1", {"op": (str,), "case": (str,), "median_us": num, "bytes": num,
                                            "gbps": num, "fraction_of_copy": num})
    t = None
    if a.torch:
        t = load(a.torch, "ulpdiff-torch-bench/1", {"op": (str,), "bytes": num, "eager_us": num})
        for i, k in enumerate(t["kernels"]):
            c = k.get("compile_us")
            if c is not None and (not isinstance(c, num) or isinstance(c, bool)):
                bad(a.torch, f"kernels[{i}].compile_us: expected a number or null, got {c!r}")
    trows = {k["op"]: k for k in t["kernels"]} if t else {}
    main_rows = [k for k in u["kernels"] if k.get("config", "production") == "production" and k.get("shape", "bench") == "bench"]
    decode_rows = [k for k in u["kernels"] if k.get("config", "production") == "production" and k.get("shape", "bench") != "bench"]
    config_rows = [k for k in u["kernels"] if k.get("config", "production") != "production"]
    rows = []
    for k in main_rows:
        op = k["op"]
        tr = trows.pop(op, None)
        r = {"op": op, "shape": shape_of(k["case"]), "ulpdiff_ms": ms(k["median_us"]), "gbps": k["gbps"],
             "fraction_of_copy": k["fraction_of_copy"], "memory_bound": op not in COMPUTE_BOUND,
             "eager_ms": None, "compile_ms": None, "speedup_eager": None, "speedup_compile": None,
             "flags": [], "notes": []}
        if r["memory_bound"] and k["fraction_of_copy"] < BAR:
            r["flags"].append(f"under {BAR:.0%} of copy")
        if tr is None:
            r["notes"].append("no torch row" if t else "torch not run")
        else:
            r["eager_ms"], r["compile_ms"] = ms(tr["eager_us"]), ms(tr.get("compile_us"))
            r["speedup_eager"] = r["eager_ms"] / r["ulpdiff_ms"]
            if r["ulpdiff_ms"] > r["eager_ms"]:
                r["flags"].append("slower than eager")
            if r["compile_ms"] is None:
                r["notes"].append("no compile timing" + (f": {tr['compile_note']}" if tr.get("compile_note") else ""))
            else:
                r["speedup_compile"] = r["compile_ms"] / r["ulpdiff_ms"]
                if r["ulpdiff_ms"] > r["compile_ms"]:
                    r["flags"].append("slower than compile")
            if abs(tr["bytes"] - k["bytes"]) > 0.01 * k["bytes"]:
                r["flags"].append(f"bytes differ ({k['bytes'] / 1e6:.1f} vs {tr['bytes'] / 1e6:.1f} MB)")
        rows.append(r)
    for op, tr in trows.items():   # timed by torch only: ulpdiff has no bench for it (or it failed)
        rows.append({"op": op, "shape": "", "ulpdiff_ms": None, "gbps": None, "fraction_of_copy": None,
                     "memory_bound": op not in COMPUTE_BOUND, "eager_ms": ms(tr["eager_us"]),
                     "compile_ms": ms(tr.get("compile_us")), "speedup_eager": None, "speedup_compile": None,
                     "flags": ["no ulpdiff timing"], "notes": []})
    differs = [k for k in config_rows if k.get("same_bits") is False]
    flagged = sum(1 for r in rows if r["flags"]) + len(differs)

    head = [f"Device: {u.get('device', '?')}; ulpdiff bench {u.get('date', '?')}; "
            f"copy bandwidth {u['copy_gbps']:.0f} GB/s (ulpdiff, read + write)"]
    if t:
        head.append(f"PyTorch {t.get('torch', '?')} on {t.get('device', '?')} {t.get('date', '')}; "
                    f"copy {t['copy_gbps']:.0f} GB/s (torch)" + ("" if t.get("complete", True) else "; torch run cut short"))
        for err in t.get("errors") or []:
            head.append(f"torch_ops.py: {err}")
        if t.get("device") and u.get("device") and t["device"] != u["device"]:
            head.append(f"WARNING: the two sides ran on different devices ({u['device']} vs {t['device']})")
    md = [*head, "",
          "| op | shape | ulpdiff ms | GB/s | % copy | eager ms | compile ms | x eager | x compile | flags |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        pct = None if r["fraction_of_copy"] is None else 100 * r["fraction_of_copy"]
        pct_s = fmt(pct, ".1f") + ("" if r["memory_bound"] or pct is None else " (compute-bound)")
        flags = "; ".join(r["flags"] + [f"({n})" for n in r["notes"]])
        md.append(f"| {r['op']} | {r['shape']} | {fmt(r['ulpdiff_ms'], '.4f')} | {fmt(r['gbps'], '.0f')} | {pct_s} | "
                  f"{fmt(r['eager_ms'], '.4f')} | {fmt(r['compile_ms'], '.4f')} | {fmt(r['speedup_eager'], '.2f')} | "
                  f"{fmt(r['speedup_compile'], '.2f')} | {flags} |")
    md.append("")
    md.append(f"Bar: memory-bound kernels >= {BAR:.0%} of copy bandwidth, and faster than eager and torch.compile "
              f"(x eager, x compile: their time over ulpdiff's). {flagged} of {len(rows) + len(config_rows)} rows flagged.")
    if decode_rows:
        md += ["", "Decode shapes (latency; no bar):", "", "| op | shape | ulpdiff us | min us |", "|---|---|---:|---:|"]
        for k in decode_rows:
            md.append(f"| {k['op']} | {shape_of(k['case'])} | {k['median_us']:.2f} | {fmt(k.get('min_us'), '.2f')} |")
    if config_rows:
        md += ["", "Launch configurations (production's own choice is in the main table):", "",
               "| op | shape | config | us | % copy | same bits |", "|---|---|---|---:|---:|---|"]
        for k in config_rows:
            same = {True: "yes", False: "NO: differs from production", None: "-"}[k.get("same_bits")]
            md.append(f"| {k['op']} | {shape_of(k['case'])} | {k['config']} | {k['median_us']:.2f} | "
                      f"{100 * k['fraction_of_copy']:.1f} | {same} |")
    text = "\n".join(md) + "\n"
    if a.md:
        with open(a.md + ".tmp", "w") as f:
            f.write(text)
        os.replace(a.md + ".tmp", a.md)
    else:
        sys.stdout.write(text)
    if a.json:
        doc = {"schema": "ulpdiff-bench-table/1", "device": u.get("device"), "date": u.get("date"),
               "copy_gbps": u["copy_gbps"], "torch": t.get("torch") if t else None,
               "torch_copy_gbps": t["copy_gbps"] if t else None, "bar_fraction_of_copy": BAR,
               "flagged": flagged, "rows": rows}
        with open(a.json + ".tmp", "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(a.json + ".tmp", a.json)
    print(f"{flagged} of {len(rows) + len(config_rows)} rows flagged")
    return 1 if a.strict and flagged else 0


if __name__ == "__main__":
    sys.exit(main())
