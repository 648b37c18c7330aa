#!/usr/bin/env python3
"""numpy_runner.py — ulpdiff's operators computed with NumPy (and ml_dtypes for bf16/fp8), from an
`ulpdiff export` directory, outputs written for `ulpdiff check` (docs/external.md).

    ulpdiff export CASES --dir D
    python3 examples/python/numpy_runner.py D [--precision model|f64]
    ulpdiff check --dir D

--precision model (default) computes the way model code does: upcast to float32, float32
arithmetic and NumPy's float32 reductions, rounding to the model dtype where the model code
casts (HF transformers' LlamaRMSNorm, GemmaRMSNorm, LlamaMLP act_fn(gate) * up, nn.LayerNorm,
the vLLM torch reference for per-token FP8 quantization, sglang's combine loop, HF rotary
embedding in the activation dtype). Against ulpdiff's budgets some of these pass and some do
not (tests/cli/exchange.sh holds two of the failures: rope in bf16 arithmetic and SiLU's exp
overflow); docs/findings.md records what the same formulations do in PyTorch itself
(examples/torch).

--precision f64 computes every operator in float64 and rounds (correctly) exactly where the
operator's spec rounds (docs/ops/<op>.md). It is an independent implementation of the specs
and must pass every case: `make check` holds it to that (tests/cli/exchange.sh).
"""
import argparse
import os
import sys

import ml_dtypes
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ulpdiff_exchange as ux  # noqa: E402

F32, F64 = np.float32, np.float64

# mantissa bits, minimum normal exponent, largest finite value, has infinities
FORMATS = {
    "fp16": (10, -14, 65504.0, True),
    "bf16": (7, -126, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max), True),
    "e4m3": (3, -6, 448.0, False),
    "e5m2": (2, -14, 57344.0, True),
}


def rn(x, name):
    """x (any float array) correctly rounded (nearest, ties to even) to dtype `name`, returned
    in that dtype. Done on float64 by exact scaling and rint, so there is no double rounding
    (ml_dtypes converts float64 through float32)."""
    x = np.asarray(x, dtype=F64)
    if name == "fp64":
        return x
    if name == "fp32":
        return x.astype(F32)  # C's double -> float conversion: round to nearest even
    mbits, emin, fmax, has_inf = FORMATS[name]
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.abs(x)
        _, e = np.frexp(a)
        E = np.maximum(e - 1, emin)
        v = np.ldexp(np.rint(np.ldexp(a, mbits - E)), E - mbits)
        big = ~(v <= fmax) & ~np.isnan(a)
        v = np.where(big, np.inf if has_inf else np.nan, v)
        v = np.where(np.isinf(a), np.inf if has_inf else np.nan, v)
        v = np.copysign(v, x)
        v = np.where(np.isnan(v), np.nan, v)   # NaN is positive: E4M3's 0x7F, as CUDA converts
    return v.astype(F32).astype(ux.value_dtype(name))  # exact: v is representable


def f32(a):
    return np.asarray(a).astype(F32)


def f64(a):
    return np.asarray(a).astype(F64)


def cast(a, name):
    """What model code's `.to(dtype)` does from float32: round to nearest even."""
    return rn(f32(a), name)


# ---------------------------------------------------------------- RMSNorm family

def rms_inv(h, eps, prec):
    if prec == "model":  # torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) in fp32
        var = np.mean(h * h, axis=-1, keepdims=True, dtype=F32)
        return F32(1) / np.sqrt(var + F32(eps))
    var = np.mean(h * h, axis=-1, keepdims=True)
    return 1.0 / np.sqrt(var + float(F32(eps)))


def op_rmsnorm(case, p, t, prec, kind):
    dt, eps, spec = p["dtype"], p["eps"], p.get("spec", "hf")
    fl = f32 if prec == "model" else f64
    w = fl(t["weight"])
    out = {}
    if kind == "fused":
        s = fl(t["x"]) + fl(t["residual"])
        if prec == "model":
            s = f32(s)
        hrt = rn(s, dt)                      # h = RN_T(x + residual), the residual returned
        out["residual_out"] = hrt
        h = fl(hrt) if spec == "hf" else (f32(s) if prec == "model" else f64(rn(s, "fp32")))
    else:
        h = fl(t["x"])
    n = h * rms_inv(h, eps, prec)
    if kind == "gemma":                      # output * (1.0 + weight.float()), type_as(x)
        one_w = (F32(1) + f32(t["weight"])) if prec == "model" else f64(rn(1.0 + w, "fp32"))
        out["out"] = rn(n * one_w, dt)
    elif spec == "hf":                       # weight * hidden_states.to(input_dtype)
        out["out"] = rn(fl(rn(n, dt)) * w, dt)
    else:                                    # flashinfer: the weight product in fp32
        out["out"] = rn(n * w, dt)
    return out


# ---------------------------------------------------------------- SiLU * up

def op_silu_and_mul(case, p, t, prec):
    dt, spec = p["dtype"], p["spec"]
    x = t["x"]
    half = x.shape[-1] // 2
    fl = f32 if prec == "model" else f64
    g, u = fl(x[:, :half]), fl(x[:, half:])
    with np.errstate(over="ignore", invalid="ignore"):
        if prec == "model":                  # F.silu: x / (1 + exp(-x)) in fp32
            s = g / (F32(1) + np.exp(-g))
        else:                                # g / (1 + e^-g); the limit -0 at -Inf
            s = np.where(g == -np.inf, -0.0, g / (1.0 + np.exp(-g)))
        if spec == "hf":                     # act_fn(gate) returns dtype; then dtype * dtype
            return {"out": rn(fl(rn(s, dt)) * u, dt)}
        return {"out": rn(s * u, dt)}


# ---------------------------------------------------------------- FP8 quantization

def pow2_ceil(s):
    m, e = np.frexp(s)
    return np.where(np.isfinite(s) & (s > 0) & (m != 0.5), np.ldexp(F32(1), e).astype(F32), s).astype(F32)


def op_fp8_quant(case, p, t, prec):
    x = f32(t["x"])
    G = p["group"] if 0 < p["group"] < x.shape[1] else x.shape[1]
    q, scales = quant_groups(x, G, F32(p["scale_ub"]), F32(p["min_scale"]), p["scale_fmt"], prec)
    return {"q": q, "scales": scales}


def quant_groups(x, G, ub, min_scale, scale_fmt, prec):
    """Per-group FP8 quantization of float32 rows x (fp8_quant_per_token's spec): q, scales."""
    tokens, hidden = x.shape
    ng = -(-hidden // G)
    q = np.empty((tokens, hidden), dtype=ml_dtypes.float8_e4m3fn)
    scales = np.empty((tokens, ng), dtype=F32)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for gi in range(ng):
            xs = x[:, gi * G:(gi + 1) * G]
            if prec == "model":              # vLLM's torch reference: x.abs().max() (NaN propagates)
                amax = np.max(np.abs(xs), axis=1) if xs.shape[1] else np.zeros(tokens, F32)
                m = np.minimum(amax, ub) if ub > 0 else amax
                s = (m / F32(448.0)).astype(F32)
                s = np.where(np.isnan(s), s, np.maximum(s, min_scale)).astype(F32)
            else:                            # spec: NaN ignored (CUDA fmaxf), +-Inf counts
                amax = np.fmax.reduce(np.abs(xs), axis=1, initial=F32(0)).astype(F32)
                m = np.where((ub > 0) & (amax > ub), ub, amax).astype(F32)
                s = (m / F32(448.0)).astype(F32)
                s = np.where(s > min_scale, s, min_scale).astype(F32)
            if scale_fmt == "ue8m0":
                s = pow2_ceil(s)
            scales[:, gi] = s
            v = (xs / s[:, None]).astype(F32)
            q[:, gi * G:(gi + 1) * G] = rn(np.clip(v, -448.0, 448.0), "e4m3")   # __NV_SATFINITE
    return q, scales


# ---------------------------------------------------------------- MoE combine

def op_post_reorder_sum(case, p, t, prec):
    dt = p["dtype"]
    ids, w, s2d = t["topk_ids"], f32(t["topk_weights"]), t["src2dst"]
    fl = f32 if prec == "model" else f64
    down = fl(t["down"])
    tokens, topk = ids.shape
    acc = np.zeros((tokens, down.shape[1]), dtype=F32 if prec == "model" else F64)
    for k in range(topk):                    # one program per token walks its slots in order
        valid = (ids[:, k] >= 0) & (ids[:, k] < p["experts"])   # -1 and out-of-range ids: skipped
        rows = down[np.where(valid, s2d[:, k], 0)]
        term = fl(w[:, k])[:, None] * rows
        acc = np.where(valid[:, None], acc + term, acc)
    return {"out": rn(acc, dt)}


# ---------------------------------------------------------------- MoE dispatch

def op_moe_dispatch(case, p, t, prec):
    """sglang's EP pre-processing: counts, each expert's rows one after the other, the token's row
    (bf16 weights) or its per-group FP8 quantization (fp8 weights) in every taken slot. Within an
    expert the rows go in reverse source order, as an atomic scatter may leave them: `check`
    judges the set (docs/ops/moe_dispatch.md), and this runner shows it through the files."""
    x, ids = t["hidden_states"], t["topk_ids"]
    tokens, hidden = x.shape
    E = p["experts"]
    flat = ids.reshape(-1)
    n = flat.size
    taken = np.nonzero((flat >= 0) & (flat < E))[0]            # -1 and out-of-range ids: skipped
    counts = np.bincount(flat[taken], minlength=E).astype(np.int32)
    order = taken[np.lexsort((-taken, flat[taken]))]           # by expert; within one, last first
    s2d = np.full(n, -1, dtype=np.int32)
    s2d[order] = np.arange(order.size, dtype=np.int32)
    if p["weights"] == "fp8":
        G = p["group"] if 0 < p["group"] < hidden else hidden
        rows, sc = quant_groups(f32(x), G, F32(0), F32(p["min_scale"]), p["scale_fmt"], prec)
    else:
        rows, sc = x, np.zeros((tokens, 0), dtype=F32)           # passed through, bits and all
    buf = np.zeros((n, hidden), dtype=rows.dtype)                # rows no slot owns: not judged from files
    scales = np.zeros((n, sc.shape[1]), dtype=F32)
    buf[s2d[taken]] = rows[taken // ids.shape[1]]
    scales[s2d[taken]] = sc[taken // ids.shape[1]]
    return {"gateup_input": buf, "gateup_input_scale": scales, "tokens_per_expert": counts,
            "src2dst": s2d.reshape(ids.shape)}


# ---------------------------------------------------------------- router gate

def tf32(a):
    """cvt.rna.tf32.f32: keep 10 mantissa bits, ties away from zero."""
    u = f32(a).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(F32)


def op_gate_proj(case, p, t, prec):
    mode = p["mode"]
    x, w = f32(t["x"]), f32(t["weight"])
    if mode == "tf32":
        x, w = tf32(x), tf32(w)
    elif mode == "bf16":                     # .to(torch.bfloat16) of fp32 operands
        x, w = f32(rn(x, "bf16")), f32(rn(w, "bf16"))
    odt = "bf16" if mode == "bf16" else "fp32"
    if prec == "model":
        return {"logits": rn(np.matmul(x, w.T), odt)}          # sgemm, fp32 accumulation
    return {"logits": rn(np.matmul(f64(x), f64(w).T), odt)}


# ---------------------------------------------------------------- LayerNorm

def op_layernorm(case, p, t, prec):
    dt, eps, affine = p["dtype"], p["eps"], p["affine"]
    fl = f32 if prec == "model" else f64
    h = fl(t["x"])
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.mean(h, axis=-1, keepdims=True)
        d = h - mean
        var = np.mean(d * d, axis=-1, keepdims=True)
        if prec == "model":                  # F.layer_norm: rstd = rsqrt(var + eps)
            y = d * (F32(1) / np.sqrt(var + F32(eps)))
        else:
            y = d / np.sqrt(var + float(F32(eps)))
        if affine in ("weight_bias", "weight"):
            y = y * fl(t["weight"])
        if affine == "weight_bias":
            y = y + fl(t["bias"])
    return {"out": rn(y, dt)}


# ---------------------------------------------------------------- RoPE

def op_rope(case, p, t, prec):
    dt = p["dtype"]
    hd = p["head_dim"]
    rd = int(hd * p["factor"])
    pos, cache = t["positions"], t["cos_sin_cache"]
    half = rd // 2
    out = {}
    for name in ("q", "k"):
        x = t[name]
        y = x.copy()                         # dims >= rotary_dim pass through, bit for bit
        if p["style"] == "neox":
            i1, i2 = np.arange(half), np.arange(half, rd)
        else:
            i1, i2 = np.arange(0, rd, 2), np.arange(1, rd, 2)
        rows = cache[pos]                    # vLLM cos_sin_cache[positions] = [cos | sin]
        if prec == "model":                  # HF: cos/sin .to(q.dtype), arithmetic in q.dtype
            c = rows[:, None, :half].astype(x.dtype)
            s = rows[:, None, half:rd].astype(x.dtype)
            x1, x2 = x[..., i1], x[..., i2]
            y[..., i1] = (x1 * c - x2 * s).astype(x.dtype)
            y[..., i2] = (x2 * c + x1 * s).astype(x.dtype)
        else:
            c, s = f64(rows[:, None, :half]), f64(rows[:, None, half:rd])
            x1, x2 = f64(x[..., i1]), f64(x[..., i2])
            with np.errstate(invalid="ignore", over="ignore"):
                y[..., i1] = rn(x1 * c - x2 * s, dt)
                y[..., i2] = rn(x2 * c + x1 * s, dt)
        out[name + "_out"] = y
    return out


# ---------------------------------------------------------------- QK norm + RoPE

def op_qk_norm_rope(case, p, t, prec):
    """Per head: RMSNorm over head_dim with the q or k weight, then partial RoPE. model: HF's
    Qwen3RMSNorm (fp32 normaliser, n rounded to the dtype, times the weight in the dtype), then
    HF's rotary in the activation dtype; f64: the spec (docs/ops/qk_norm_rope.md)."""
    dt, hd = p["dtype"], p["head_dim"]
    rd = int(hd * p["factor"])
    half = rd // 2
    pos, cache = t["positions"], t["cos_sin_cache"]
    rows = cache[pos]                        # [cos | sin] of each token's position
    if p["style"] == "neox":
        i1, i2 = np.arange(half), np.arange(half, rd)
    else:
        i1, i2 = np.arange(0, rd, 2), np.arange(1, rd, 2)
    out = {}
    for name in ("q", "k"):
        x, w = t[name], t[name + "_weight"]
        if prec == "model":
            h = f32(x)
            y = (w * rn(h * rms_inv(h, p["eps"], prec), dt)).astype(x.dtype)
            o = y.copy()
            c = rows[:, None, :half].astype(x.dtype)
            s = rows[:, None, half:rd].astype(x.dtype)
            y1, y2 = y[..., i1], y[..., i2]
            o[..., i1] = (y1 * c - y2 * s).astype(x.dtype)
            o[..., i2] = (y2 * c + y1 * s).astype(x.dtype)
            out[name + "_out"] = o
            continue
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            h = f64(x)
            n = h * rms_inv(h, p["eps"], prec)
            if p["spec"] == "hf" and dt != "fp32":
                y = f64(rn(f64(w) * f64(rn(n, dt)), dt))     # RN_T(w * RN_T(n))
            else:
                y = f64(w) * n                               # fp32 kernel arithmetic: the budget
            c, s = f64(rows[:, None, :half]), f64(rows[:, None, half:rd])
            y1, y2 = y[..., i1], y[..., i2]
            o = y.copy()
            o[..., i1] = y1 * c - y2 * s
            o[..., i2] = y2 * c + y1 * s
        out[name + "_out"] = rn(o, dt)
    return out


# ---------------------------------------------------------------- tensor-parallel all-reduce

def allreduce_sum(t, p, prec):
    """Every rank's all-reduce result, [ranks, tokens, hidden]. model: the shared expert's output
    added to the routed experts' on each rank in the dtype, then the fp32 sum over ranks rounded
    once (a one-shot custom all-reduce); spec unfused: each partial all-reduced, then added in the
    dtype. f64: the spec's exact sums rounded where the spec rounds (docs/ops/tp_allreduce.md)."""
    dt, R = p["dtype"], p["ranks"]
    moe, sh = t["moe"], t["shared"]
    with np.errstate(invalid="ignore", over="ignore"):
        if prec == "model":
            if p["spec"] == "combined":
                s = rn(np.sum(f32(cast(f32(moe) + f32(sh), dt)), axis=0, dtype=F32), dt)
            else:
                a = rn(np.sum(f32(moe), axis=0, dtype=F32), dt)
                b = rn(np.sum(f32(sh), axis=0, dtype=F32), dt)
                s = cast(f32(a) + f32(b), dt)
        elif p["spec"] == "combined":
            s = rn(np.sum(f64(rn(f64(moe) + f64(sh), dt)), axis=0), dt)
        else:
            s = rn(f64(rn(np.sum(f64(moe), axis=0), dt)) + f64(rn(np.sum(f64(sh), axis=0), dt)), dt)
    return np.broadcast_to(s, (R,) + s.shape).copy()


def op_tp_allreduce(case, p, t, prec):
    return {"out": allreduce_sum(t, p, prec)}


def op_tp_allreduce_rmsnorm(case, p, t, prec):
    """The all-reduce, then rmsnorm_fused_add (spec hf) on every rank: h = RN(sum + residual),
    residual_out = h, out = RN(RN(n) * w) with w in the dtype or fp32."""
    dt, R = p["dtype"], p["ranks"]
    s = allreduce_sum(t, p, prec)[0]
    fl = f32 if prec == "model" else f64
    with np.errstate(invalid="ignore", over="ignore"):
        h = rn(fl(s) + fl(t["residual"]), dt)
        hf = fl(h)
        n = hf * rms_inv(hf, p["eps"], prec)
        out = rn(fl(rn(n, dt)) * fl(t["weight"]), dt)
    return {"out": np.broadcast_to(out, (R,) + out.shape).copy(),
            "residual_out": np.broadcast_to(h, (R,) + h.shape).copy()}


OPS = {
    "rmsnorm": lambda c, p, t, pr: op_rmsnorm(c, p, t, pr, "llama"),
    "rmsnorm_gemma": lambda c, p, t, pr: op_rmsnorm(c, p, t, pr, "gemma"),
    "rmsnorm_fused_add": lambda c, p, t, pr: op_rmsnorm(c, p, t, pr, "fused"),
    "silu_and_mul": op_silu_and_mul,
    "fp8_quant_per_token": op_fp8_quant,
    "post_reorder_sum": op_post_reorder_sum,
    "moe_dispatch": op_moe_dispatch,
    "gate_proj": op_gate_proj,
    "layernorm": op_layernorm,
    "fp32_layernorm": op_layernorm,
    "rope": op_rope,
    "tp_allreduce": op_tp_allreduce,
    "tp_allreduce_rmsnorm": op_tp_allreduce_rmsnorm,
    "qk_norm_rope": op_qk_norm_rope,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="an `ulpdiff export` directory")
    ap.add_argument("--precision", choices=("model", "f64"), default="model")
    ap.add_argument("--op", action="append", help="only these operators (repeatable)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    np.seterr(all="ignore")   # NaN/Inf inputs are test data here, not accidents

    def compute(case):
        impl = OPS.get(case["op"])
        if impl is None:      # an operator newer than this runner
            return "not implemented by numpy_runner.py"
        ux.save_outputs(a.dir, case, impl(case, case["params"], ux.load_inputs(a.dir, case), a.precision))
        return None

    ux.run_cases(a.dir, f"numpy_runner ({a.precision})", compute, a.op, a.quiet)


if __name__ == "__main__":
    main()
