#!/usr/bin/env python3
"""summarize.py REPORT.json [--runner D/torch_runner.json] — a Markdown table of an `ulpdiff check`
(or `ulpdiff run`) JSON report, grouped by operator and the parameters that decide its numerics
(dtype, spec, mode, table ...), for docs/findings.md: cases, failures, finding kinds, the largest
ulp error over elements that compare, and one worst finding per failing group.

    python3 examples/torch/summarize.py OUT/report.json --runner OUT/export/torch_runner.json
"""
import argparse
import collections
import json

# The parameters that change what is computed, per operator; the rest (sizes, value
# generators) are spread over in each group.
KEYS = {
    "rmsnorm": ["dtype", "spec"],
    "rmsnorm_gemma": ["dtype"],
    "rmsnorm_fused_add": ["dtype", "spec"],
    "silu_and_mul": ["dtype", "spec", "values"],
    "fp8_quant_per_token": ["dtype", "scale_fmt", "values"],
    "post_reorder_sum": ["dtype", "topk"],
    "moe_dispatch": ["weights", "scale_fmt"],
    "gate_proj": ["mode", "tokens"],
    "layernorm": ["dtype", "affine"],
    "fp32_layernorm": ["dtype", "pdtype"],
    "rope": ["dtype", "table", "style"],
    "qk_norm_rope": ["dtype", "spec", "table"],
}


def fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report")
    ap.add_argument("--runner", help="torch_runner.json written next to the export (torch version, device, settings)")
    a = ap.parse_args()
    d = json.load(open(a.report))
    meta = d["meta"]
    print(f"ulpdiff {meta['ulpdiff_version']} ({meta['git_commit']}), backend {meta['backend']}, {meta['device']}")
    if a.runner:
        r = json.load(open(a.runner))
        print(f"runner: torch {r['torch']} on {r['device']} ({r['device_name']}); "
              + ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("torch", "device", "device_name")))
    n = len(d["cases"])
    failed = sum(c["status"] != "pass" for c in d["cases"])
    print(f"{n} cases: {n - failed} passed, {failed} failed or in error")
    print()
    groups = collections.OrderedDict()
    for c in d["cases"]:
        keys = KEYS.get(c["op"], [])
        k = (c["op"],) + tuple(f"{p}={fmt(c['params'][p])}" for p in keys if p in c["params"])
        g = groups.setdefault(k, {"n": 0, "fail": 0, "kinds": collections.Counter(), "max_ulp": 0.0, "worst": None,
                                  "metrics": {}})
        g["n"] += 1
        for o in c["outputs"]:
            g["max_ulp"] = max(g["max_ulp"], o["max_ulp"])
        for m in c.get("metrics", []):
            g["metrics"][m["name"]] = max(g["metrics"].get(m["name"], 0.0), m["value"])
        if c["status"] != "pass":
            g["fail"] += 1
            for f in c["findings"]:
                g["kinds"][f["kind"]] += 1
            if g["worst"] is None and c["findings"]:
                g["worst"] = (c["label"], c["findings"][0]["message"])
    order = {}
    for k in groups:
        order.setdefault(k[0], len(order))
    groups = collections.OrderedDict(sorted(groups.items(), key=lambda kv: order[kv[0][0]]))   # stable: by operator
    print("| operator | parameters | cases | failed | findings | max ulp | metrics (max) |")
    print("|---|---|---:|---:|---|---:|---|")
    for k, g in groups.items():
        kinds = ", ".join(f"{n} {c}" for n, c in g["kinds"].items()) or "-"
        mets = ", ".join(f"{n} {fmt(v)}" for n, v in g["metrics"].items()) or "-"
        print(f"| {k[0]} | {' '.join(k[1:])} | {g['n']} | {g['fail']} | {kinds} | {g['max_ulp']:.4g} | {mets} |")
    print()
    print("Worst finding of each failing group:")
    print()
    for k, g in groups.items():
        if g["worst"]:
            print(f"- {k[0]} {' '.join(k[1:])}: `{g['worst'][0]}`: {g['worst'][1]}")


if __name__ == "__main__":
    main()
