"""ulpdiff_exchange — reading an `ulpdiff export` directory and writing outputs for `ulpdiff check`.

The format (schema "ulpdiff-exchange/1") is documented in docs/external.md. In short:
D/manifest.json lists cases; each case names its operator, parameters, seed, and its input and
output tensors (name, file relative to D, dtype, npy_dtype, shape). bf16 and fp8 tensors are
stored as raw bits (uint16 / uint8) because NumPy has no such dtypes; this module converts them
to and from ml_dtypes' bfloat16 / float8_e4m3fn / float8_e5m2.

    for case in read_manifest(D)["cases"]:
        inputs = load_inputs(D, case)            # name -> numpy array in its real dtype
        outputs = my_kernel(case["op"], case["params"], inputs)
        save_outputs(D, case, outputs)           # checks names, shapes, dtypes

Frameworks with their own bf16/fp8 types (PyTorch) use load_input_bits / save_output_bits,
which hand over the stored bit patterns untouched. run_cases() is the loop both example runners
(examples/python/numpy_runner.py, examples/torch/torch_runner.py) share: it computes every case
whose operator the runner implements and says which cases it left out and why.
"""
import json
import os
import sys
import time

import ml_dtypes
import numpy as np

SCHEMA = "ulpdiff-exchange/1"

# ulpdiff dtype name -> (numpy dtype of the values, numpy dtype of the stored bits)
DTYPES = {
    "fp64": (np.dtype(np.float64), np.dtype("<f8")),
    "fp32": (np.dtype(np.float32), np.dtype("<f4")),
    "fp16": (np.dtype(np.float16), np.dtype("<f2")),
    "bf16": (np.dtype(ml_dtypes.bfloat16), np.dtype("<u2")),
    "e4m3": (np.dtype(ml_dtypes.float8_e4m3fn), np.dtype("u1")),
    "e5m2": (np.dtype(ml_dtypes.float8_e5m2), np.dtype("u1")),
    "i32": (np.dtype(np.int32), np.dtype("<i4")),
}


def read_manifest(d):
    path = os.path.join(d, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    if m.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {m.get('schema')!r}, expected {SCHEMA!r}")
    return m


def value_dtype(name):
    """The numpy dtype that holds values of ulpdiff dtype `name` (bf16 -> ml_dtypes.bfloat16)."""
    return DTYPES[name][0]


def load_input_bits(d, case):
    """name -> (array of the stored dtype: uint16 for bf16, uint8 for fp8, ...; ulpdiff dtype name)."""
    out = {}
    for t in case["inputs"]:
        sdt = DTYPES[t["dtype"]][1]
        path = os.path.join(d, t["file"])
        a = np.load(path)
        if a.dtype != sdt or list(a.shape) != list(t["shape"]):
            raise ValueError(f"{path}: {a.dtype}{a.shape}, the manifest says {sdt}{tuple(t['shape'])}")
        out[t["name"]] = (a, t["dtype"])
    return out


def load_inputs(d, case):
    """name -> numpy array in its real dtype (ml_dtypes.bfloat16 for bf16 ...)."""
    return {k: a.view(DTYPES[dt][0]) for k, (a, dt) in load_input_bits(d, case).items()}


def _save(d, case, t, a):
    if list(a.shape) != list(t["shape"]):
        raise ValueError(f"{case['label']}: output {t['name']} has shape {a.shape}, expected {tuple(t['shape'])}")
    np.save(os.path.join(d, t["file"]), np.ascontiguousarray(a))


def save_outputs(d, case, outputs):
    """Writes every output of `case` from outputs[name], which must already have the output's
    value dtype (nothing is cast here: the caller rounds where its computation rounds)."""
    for t in case["outputs"]:
        vdt, sdt = DTYPES[t["dtype"]]
        a = np.ascontiguousarray(outputs[t["name"]])
        if a.dtype != vdt:
            raise TypeError(f"{case['label']}: output {t['name']} is {a.dtype}, must be {vdt} (round it yourself)")
        _save(d, case, t, a.view(sdt))


def save_output_bits(d, case, outputs):
    """Writes every output of `case` from outputs[name], an array of the stored dtype (uint16
    bits for bf16, uint8 for fp8, float32 for fp32 ...)."""
    for t in case["outputs"]:
        sdt = DTYPES[t["dtype"]][1]
        a = np.asarray(outputs[t["name"]])
        if a.dtype != sdt:
            raise TypeError(f"{case['label']}: output {t['name']} is stored as {a.dtype}, must be {sdt}")
        _save(d, case, t, a)


def run_cases(d, name, compute, only_ops=None, quiet=False):
    """For every case of the export in d: compute(case) returns the outputs and writes them, or
    returns a string saying why this runner leaves the case out. Prints what was written and,
    always, what was left out (check those with `ulpdiff check --skip-missing`). Returns
    (number written, {reason: count} left out)."""
    m = read_manifest(d)
    t0, done, left = time.time(), {}, {}
    for case in m["cases"]:
        op = case["op"]
        if only_ops and op not in only_ops:
            continue
        why = compute(case)
        if why:
            left[f"{op}: {why}"] = left.get(f"{op}: {why}", 0) + 1
        else:
            done[op] = done.get(op, 0) + 1
    n = sum(done.values())
    if not quiet:
        print(f"{name}: wrote the outputs of {n} case{'s' if n != 1 else ''} in {time.time() - t0:.1f}s"
              + (": " + ", ".join(f"{k} {v}" for k, v in done.items()) if done else ""))
    for why, count in left.items():
        print(f"{name}: left out {count} case{'s' if count != 1 else ''} of {why}", file=sys.stderr)
    if left:
        print(f"{name}: check the rest with `ulpdiff check --dir {d} --skip-missing`", file=sys.stderr)
    return n, left
