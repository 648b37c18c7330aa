#!/usr/bin/env python3
"""nightly_check.py — the checks scripts/gpu-nightly.sh and scripts/gpu-sanitize.sh make on
what ulpdiff and compute-sanitizer wrote (Python standard library only; docs/nightly.md).

  counts REPORT [--field NAME]      one line: cases, passed, failed, errors, not run
  slim REPORT OUT                   REPORT reduced to what `ulpdiff compare` reads: a baseline
  subset BASELINE NEW OUT           BASELINE's cases that NEW ran (a time-boxed run's baseline)
  isolation REPORT --total N        the fault self-test: every crashing probe variant is exactly
                                    one `error` finding, every other case ran and passed
  determinism REPORT --backend B    probe_exact passes; nondeterministic gives `nondeterminism`;
                                    backend_mismatch gives `backend-mismatch` (cuda) / `tolerance` (cpu)
  sanitize-log LOG TOOL             one compute-sanitizer log: error count and first error lines (JSON)
  sanitize-summary DIR --tools "T.."  DIR's logs into DIR/summary.json and DIR/summary.txt;
                                    exit 1 when a tool reports an error on the corpus or misses
                                    its planted defect, 3 when a run did not finish

Exit 0: the check holds; 1: it does not (the line printed says why); 2: bad input.
"""
import json
import os
import re
import sys

REPORT_SCHEMA = "ulpdiff-report/1"
CRASH_VARIANTS = ["device_assert", "hang", "illegal_address", "misaligned"]
# What each tool prints for the defect fault_probe plants for it (gpu/fault_probe.cu).
SELFTEST_PATTERN = {
    "memcheck": r"Invalid __global__ read",
    "racecheck": r"Race reported|[Hh]azard detected",
    "initcheck": r"Uninitialized __global__ memory read",
    "synccheck": r"Barrier error|Divergent thread",
}


def die(msg, code=2):
    print(f"nightly_check: {msg}", file=sys.stderr)
    sys.exit(code)


def load_report(path):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{path}: cannot read a JSON report ({e})")
    if not isinstance(d, dict) or d.get("schema") != REPORT_SCHEMA or not isinstance(d.get("cases"), list):
        die(f"{path}: not a ulpdiff report (expected schema {REPORT_SCHEMA!r} and a cases array)")
    return d


def key(c):
    """How `ulpdiff compare` matches cases: operator, parameters, seed, padding, backend."""
    return (c.get("op"), json.dumps(c.get("params"), sort_keys=True), c.get("seed"), c.get("padding"), c.get("backend"))


def kinds(c):
    return [f.get("kind") for f in c.get("findings", [])]


def write_report(path, d):
    """One case per line, as ulpdiff writes it: diffs of a baseline stay readable."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write('{"schema": %s,\n"meta": %s,\n"summary": %s,\n"cases": [\n'
                % (json.dumps(d["schema"]), json.dumps(d.get("meta", {})), json.dumps(d.get("summary", {}))))
        f.write(",\n".join(json.dumps(c, sort_keys=True) for c in d["cases"]))
        f.write("\n]}\n")
    os.replace(tmp, path)


def cmd_counts(args):
    field = None
    if len(args) == 3 and args[0] == "--field":
        field, args = args[1], args[2:]
    if len(args) != 1:
        die("usage: counts [--field NAME] REPORT")
    d = load_report(args[0])
    s = d.get("summary", {})
    nr = d.get("meta", {}).get("not_run", 0)
    if field:
        print(nr if field == "not_run" else s.get(field, ""))
        return 0
    print(f"{s.get('cases', len(d['cases']))} cases: {s.get('passed', '?')} passed, {s.get('failed', '?')} failed, "
          f"{s.get('errors', '?')} errors, {nr} not run")
    return 0


SLIM_OUTPUT = ("name", "dtype", "n", "max_ulp", "mean_ulp", "n_nan_mismatch", "n_unwritten")


def cmd_slim(args):
    if len(args) != 2:
        die("usage: slim REPORT OUT")
    d = load_report(args[0])
    cases = []
    for c in d["cases"]:
        cases.append({
            "label": c.get("label"), "op": c.get("op"), "mutant": c.get("mutant"), "params": c.get("params"),
            "seed": c.get("seed"), **({"padding": c["padding"]} if "padding" in c else {}),
            "backend": c.get("backend"), "status": c.get("status"),
            "outputs": [{k: o.get(k) for k in SLIM_OUTPUT} for o in c.get("outputs", [])],
            # The kinds are what compare matches on; a message is kept short, for the reader.
            "findings": [{"kind": f.get("kind"), "message": (f.get("message") or "")[:160]} for f in c.get("findings", [])],
        })
    write_report(args[1], {"schema": d["schema"], "meta": d.get("meta", {}), "summary": d.get("summary", {}), "cases": cases})
    print(f"{len(cases)} cases -> {args[1]}")
    return 0


def cmd_subset(args):
    if len(args) != 3:
        die("usage: subset BASELINE NEW OUT")
    base, new = load_report(args[0]), load_report(args[1])
    ran = {key(c) for c in new["cases"]}
    total = len(base["cases"])
    kept = [c for c in base["cases"] if key(c) in ran]
    base["cases"] = kept
    write_report(args[2], base)
    print(f"time-boxed run: compared on the {len(kept)} of {total} baseline cases it ran")
    return 0


def cmd_isolation(args):
    if len(args) != 3 or args[1] != "--total":
        die("usage: isolation REPORT --total N")
    d, total = load_report(args[0]), int(args[2])
    cases, problems = d["cases"], []
    if len(cases) != total:
        problems.append(f"{len(cases)} cases in the report, {total} selected")
    if d.get("meta", {}).get("not_run", 0):
        problems.append(f"{d['meta']['not_run']} not run")
    errors = [c for c in cases if c.get("status") == "error"]
    got = sorted(c.get("mutant") or "production" for c in errors)
    if got != CRASH_VARIANTS:
        problems.append(f"error cases {got}, expected {CRASH_VARIANTS}")
    for c in errors:
        if kinds(c) != ["error"]:
            problems.append(f"{c.get('label')}: findings {kinds(c)}, expected exactly one error")
    bad = [c.get("label") for c in cases if c.get("status") != "error" and c.get("status") != "pass"]
    if bad:
        problems.append(f"{len(bad)} other cases did not pass, first {bad[0]}")
    if problems:
        print("; ".join(problems))
        return 1
    print(f"{len(errors)} crashing variants -> 1 error each, {len(cases) - len(errors)} other cases pass")
    return 0


def cmd_determinism(args):
    if len(args) != 3 or args[1] != "--backend":
        die("usage: determinism REPORT --backend cuda|cpu")
    d, backend = load_report(args[0]), args[2]
    want = {None: [], "nondeterministic": ["nondeterminism"],
            "backend_mismatch": ["backend-mismatch"] if backend == "cuda" else ["tolerance"]}
    seen, problems = {}, []
    for c in d["cases"]:
        m = c.get("mutant")
        seen[m] = kinds(c)
    for m, k in want.items():
        if m not in seen:
            problems.append(f"no case for {m or 'the exact probe'}")
        elif seen[m] != k:
            problems.append(f"{m or 'exact probe'}: findings {seen[m]}, expected {k}")
    if problems:
        print("; ".join(problems))
        return 1
    print("repeat and cross-check catch their probes; the exact probe passes")
    return 0


def parse_sanitizer_log(text, tool):
    """Errors a compute-sanitizer log reports, and the first error's lines. The tools end with
    `ERROR SUMMARY: N errors`; racecheck may end with `RACECHECK SUMMARY: H hazards displayed
    (E errors, W warnings)` instead. No summary line means the run did not finish."""
    res = {"tool": tool, "finished": False, "errors": 0, "warnings": 0, "first": []}
    m = re.findall(r"ERROR SUMMARY: (\d+) errors?", text)
    if m:
        res["finished"], res["errors"] = True, int(m[-1])
    r = re.findall(r"RACECHECK SUMMARY: \d+ hazards? displayed \((\d+) errors?, (\d+) warnings?\)", text)
    if r:
        res["finished"] = True
        res["errors"] = max(res["errors"], int(r[-1][0]))
        res["warnings"] = int(r[-1][1])
    # The tool prefixes its lines with "========= " and separates reports with a bare "=========".
    lines = ["" if ln.rstrip() == "=========" else ln[len("========= "):].rstrip() if ln.startswith("========= ")
             else ln.rstrip() for ln in text.splitlines()]
    block = []
    for ln in lines:
        s = ln.strip()
        if not block:
            if s and not s.startswith(("COMPUTE-SANITIZER", "ERROR SUMMARY", "RACECHECK SUMMARY", "Program hit",
                                       "Saved host backtrace", "Host Frame", "=========")) and ln == ln.lstrip():
                if re.search(r"Invalid|Race|[Hh]azard|Uninitialized|Barrier|Divergent|error|Error|leak", s):
                    block.append(s)
        else:
            if not s or s.startswith(("Saved host backtrace", "Host Frame", "ERROR SUMMARY", "RACECHECK SUMMARY")):
                break
            block.append(s)
            if len(block) >= 6:
                break
    res["first"] = block
    return res


def cmd_sanitize_log(args):
    if len(args) != 2:
        die("usage: sanitize-log LOG TOOL")
    try:
        text = open(args[0], errors="replace").read()
    except OSError as e:
        die(f"{args[0]}: {e}")
    print(json.dumps(parse_sanitizer_log(text, args[1])))
    return 0


def read_rc(path):
    try:
        return int(open(path).read().strip())
    except (OSError, ValueError):
        return None


def cmd_sanitize_summary(args):
    if len(args) != 3 or args[1] != "--tools":
        die('usage: sanitize-summary DIR --tools "memcheck racecheck ..."')
    d, tools = args[0], args[2].split()
    summary, lines, failed, broken = {"schema": "ulpdiff-sanitize/1", "tools": {}}, [], 0, 0
    for t in tools:
        entry = {}
        for part in ("corpus", "selftest"):
            log = os.path.join(d, f"{t}.{part}.log")
            if not os.path.exists(log):
                continue
            res = parse_sanitizer_log(open(log, errors="replace").read(), t)
            res["exit"] = read_rc(os.path.join(d, f"{t}.{part}.rc"))
            res["timed_out"] = res["exit"] in (124, 137)
            if part == "corpus":
                ok = res["finished"] and res["errors"] == 0 and res["exit"] == 0
                if not res["finished"] or res["timed_out"]:
                    verdict, broken = "did not finish" + (" (timeout)" if res["timed_out"] else ""), broken + 1
                elif res["errors"]:
                    verdict, failed = f"{res['errors']} errors", failed + 1
                elif res["exit"] != 0:
                    verdict, failed = f"0 errors, but ulpdiff exit {res['exit']} ({t}.corpus.txt)", failed + 1
                else:
                    verdict = "0 errors" + (f", {res['warnings']} warnings" if res["warnings"] else "")
            else:
                text = open(log, errors="replace").read()
                res["expected"] = SELFTEST_PATTERN.get(t, "")
                res["caught"] = bool(res["errors"]) and bool(re.search(res["expected"], text))
                ok = res["caught"]
                if not res["finished"]:
                    verdict, broken = "did not finish" + (" (timeout)" if res["timed_out"] else ""), broken + 1
                elif not res["errors"]:
                    verdict, failed = "planted defect NOT reported", failed + 1
                elif not res["caught"]:
                    verdict, failed = f"{res['errors']} errors, but not /{res['expected']}/", failed + 1
                else:
                    verdict = f"planted defect reported ({res['errors']} errors)"
            res["ok"], res["verdict"] = ok, verdict
            entry[part] = res
            lines.append(f"{t:10} {part:9} {verdict}")
            if not ok and res["first"]:
                lines.extend("    " + x for x in res["first"])
        summary["tools"][t] = entry
    n_err = sum(e.get("corpus", {}).get("errors", 0) for e in summary["tools"].values())
    caught = sum(1 for e in summary["tools"].values() if e.get("selftest", {}).get("caught"))
    n_self = sum(1 for e in summary["tools"].values() if "selftest" in e)
    tail = (f"sanitizers: {n_err} errors on the corpus subset; self-test {caught}/{n_self} planted defects reported"
            + (f"; {broken} runs did not finish" if broken else ""))
    lines.append(tail)
    summary["corpus_errors"], summary["selftest_caught"], summary["selftest_total"] = n_err, caught, n_self
    summary["exit"] = 3 if broken else 1 if failed else 0
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(d, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary["exit"]


def main(argv):
    cmds = {"counts": cmd_counts, "slim": cmd_slim, "subset": cmd_subset, "isolation": cmd_isolation,
            "determinism": cmd_determinism, "sanitize-log": cmd_sanitize_log, "sanitize-summary": cmd_sanitize_summary}
    if len(argv) < 2 or argv[1] not in cmds:
        die(f"usage: nightly_check.py {'|'.join(cmds)} ... (see the header)")
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
