#!/usr/bin/env python3
"""torch_ops.py — the operators ulpdiff benchmarks, written the way model and engine code
writes them in PyTorch (HF transformers formulations; vLLM's forward_native for RoPE's cached
cos/sin table), timed eager and under torch.compile on the same GPU, shapes and tensor dtypes
as `ulpdiff bench`, so bench/table.py compares like with like (docs/performance.md).

SHAPES holds each operator's `ulpdiff bench` case (the `.bench` string in harness/ops/<op>.c);
tests/cli/bench_table.sh checks it against `ulpdiff bench --dry-run` without importing torch.

Timing: triton.testing.do_bench (CUDA events around each call, L2 flushed between calls,
median). Bytes are the same ideal count ulpdiff uses: every input tensor read once and every
output tensor written once (counted from the tensors themselves). Inputs are random, never all
zero. Eager timings for every operator come first; then the torch.compile pass, which starts
no new warm-up once --compile-budget seconds have gone (compile warm-ups are the slow part).
The JSON file is rewritten after every operator, so a run cut short keeps what it measured.

usage: python3 bench/torch_ops.py [--json FILE] [--only OP[,OP...]] [--no-compile]
                                  [--compile-budget SECONDS]
"""
import argparse
import json
import os
import sys
import time

SHAPES = {
    "rmsnorm": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "spec": "hf"},
    "rmsnorm_gemma": {"dtype": "bf16", "tokens": 4096, "hidden": 7168},
    "rmsnorm_fused_add": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "spec": "hf"},
    "post_reorder_sum": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "topk": 8, "experts": 256, "ids": "uniform"},
    "moe_dispatch": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "topk": 8, "experts": 32, "ids": "uniform",
                     "weights": "fp8", "group": 128, "scale_fmt": "fp32"},
    "gate_proj": {"mode": "fp32", "dtype": "bf16", "tokens": 4096, "hidden": 7168, "experts": 256},
    "layernorm": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "affine": "weight_bias"},
    "fp32_layernorm": {"dtype": "bf16", "pdtype": "fp32", "tokens": 4096, "hidden": 7168, "affine": "weight_bias"},
    "silu_and_mul": {"dtype": "bf16", "tokens": 4096, "inter": 7168, "spec": "flashinfer"},
    "fp8_quant_per_token": {"dtype": "bf16", "tokens": 4096, "hidden": 7168, "group": 0, "scale_fmt": "fp32"},
    "rope": {"dtype": "bf16", "tokens": 4096, "q_heads": 32, "kv_heads": 8, "head_dim": 128, "factor": 0.5,
             "style": "neox", "base": 10000, "max_position": 8192, "table": "model"},
    "tp_allreduce": {"dtype": "bf16", "ranks": 8, "tokens": 1024, "hidden": 7168, "algorithm": "oneshot"},
    "tp_allreduce_rmsnorm": {"dtype": "bf16", "ranks": 8, "tokens": 1024, "hidden": 7168, "algorithm": "oneshot"},
}


def rmsnorm_hf(x, w, eps=1e-6):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def rmsnorm_gemma(x, w, eps=1e-6):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return (h * (1.0 + w.float())).type_as(x)


def rmsnorm_fused_add(x, r, w, eps=1e-6):
    h = x + r   # the residual stream is kept in the model dtype (vLLM fused_add_rms_norm)
    return rmsnorm_hf(h, w, eps), h


def layernorm(x, w, b, eps=1e-5):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def fp32_layernorm(x, w, b, eps=1e-6):   # diffusers FP32LayerNorm; w, b already fp32 (pdtype=fp32)
    return F.layer_norm(x.float(), (x.shape[-1],), w, b, eps).to(x.dtype)


def rope_cached(positions, q, k, cos_sin_cache):
    """Partial NeoX RoPE from a [max_position, rotary_dim] cos|sin table (vLLM forward_native)."""
    rd = cos_sin_cache.shape[-1]
    cos, sin = cos_sin_cache.index_select(0, positions).chunk(2, dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]

    def rot(x):
        x1, x2 = x[..., :rd].chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., rd:]), dim=-1)

    return rot(q), rot(k)


def silu_and_mul(x):   # spec=flashinfer: SiLU and product in fp32, one rounding
    i = x.shape[-1] // 2
    return (F.silu(x[..., :i].float()) * x[..., i:].float()).to(x.dtype)


def post_reorder_sum(down, topk_ids, topk_weights, src2dst):
    t, k = src2dst.shape
    g = down.index_select(0, src2dst.view(-1)).view(t, k, -1).float()   # int32 indices, as the kernel reads
    w = torch.where(topk_ids >= 0, topk_weights, torch.zeros_like(topk_weights))   # -1: expert not on this rank
    return (g * w.unsqueeze(-1)).sum(1).to(down.dtype)


def moe_dispatch(x, topk_ids, experts=32, group=128, min_scale=1.0 / (448 * 512)):
    """sglang's EP pre-processing with fp8 weights: a stable sort by expert (skipped ids last),
    the counts, src2dst, each token's row quantised per group of 128 and gathered into its slots."""
    t, k = topk_ids.shape
    flat = topk_ids.view(-1)
    valid = (flat >= 0) & (flat < experts)
    order = torch.argsort(torch.where(valid, flat, experts), stable=True)
    counts = torch.bincount(torch.where(valid, flat, experts), minlength=experts + 1)[:experts].to(torch.int32)
    src2dst = torch.empty_like(flat)
    src2dst[order] = torch.arange(flat.numel(), device=flat.device, dtype=flat.dtype)
    src2dst = torch.where(valid, src2dst, -1).view(t, k)
    xg = x.float().view(t, -1, group)
    scale = (xg.abs().amax(-1, keepdim=True) / 448.0).clamp(min=min_scale)
    q = (xg / scale).clamp(-448.0, 448.0).to(torch.float8_e4m3fn).view(t, -1)
    token = order // k   # every slot of the bench case is local: no skipped row to leave out
    return q.index_select(0, token), scale.view(t, -1).index_select(0, token), counts, src2dst


def fp8_quant_per_token(x):
    amax = x.abs().amax(-1, keepdim=True).float()
    scale = (amax / 448.0).clamp(min=1e-10)
    q = (x.float() / scale).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    return q, scale


def gate_proj_fp32(x, w):
    return F.linear(x.float(), w)


def tp_allreduce(moe, shared):
    """Ranks simulated in one process, as ulpdiff's kernel: y = moe + shared per rank, the one-shot
    fp32 sum over the rank dimension rounded once, and every rank's copy written."""
    return (moe + shared).float().sum(0).to(moe.dtype).expand_as(moe).contiguous()


def tp_allreduce_rmsnorm(moe, shared, residual, w, eps=1e-6):
    h = (moe + shared).float().sum(0).to(moe.dtype) + residual
    return rmsnorm_hf(h, w, eps).expand_as(moe).contiguous(), h.expand_as(moe).contiguous()


def make_cases():
    g = torch.Generator(device=DEV).manual_seed(1)

    def rn(*s, dtype=None):
        return torch.randn(*s, device=DEV, generator=g).to(dtype or torch.bfloat16)

    S = SHAPES
    xs = {}

    def x_of(name):   # [tokens, hidden] activations, shared by the operators of one shape
        T, H = S[name]["tokens"], S[name]["hidden"]
        if (T, H) not in xs:
            xs[(T, H)] = rn(T, H)
        return xs[(T, H)]

    def h_of(name):
        return S[name]["hidden"]

    f32 = torch.float32
    cases = [
        ("rmsnorm", rmsnorm_hf, (x_of("rmsnorm"), 1 + 0.25 * rn(h_of("rmsnorm")))),
        ("rmsnorm_gemma", rmsnorm_gemma, (x_of("rmsnorm_gemma"), 0.25 * rn(h_of("rmsnorm_gemma")))),
        ("rmsnorm_fused_add", rmsnorm_fused_add, (x_of("rmsnorm_fused_add"), rn(*x_of("rmsnorm_fused_add").shape),
                                                  1 + 0.25 * rn(h_of("rmsnorm_fused_add")))),
        ("layernorm", layernorm, (x_of("layernorm"), 1 + 0.25 * rn(h_of("layernorm")), rn(h_of("layernorm")))),
        ("fp32_layernorm", fp32_layernorm, (x_of("fp32_layernorm"), 1 + 0.25 * rn(h_of("fp32_layernorm"), dtype=f32),
                                            rn(h_of("fp32_layernorm"), dtype=f32))),
    ]
    r = S["rope"]
    rd = int(r["head_dim"] * r["factor"])
    pos = torch.randint(0, r["max_position"], (r["tokens"],), device=DEV, generator=g, dtype=torch.int32)
    inv = 1.0 / (r["base"] ** (torch.arange(0, rd, 2, device=DEV).float() / rd))
    ang = torch.arange(r["max_position"], device=DEV).float()[:, None] * inv[None, :]
    cache = torch.cat((ang.cos(), ang.sin()), -1).to(torch.bfloat16)   # table=model: the model dtype
    cases.append(("rope", rope_cached, (pos, rn(r["tokens"], r["q_heads"], r["head_dim"]),
                                        rn(r["tokens"], r["kv_heads"], r["head_dim"]), cache)))
    s = S["silu_and_mul"]
    cases.append(("silu_and_mul", silu_and_mul, (rn(s["tokens"], 2 * s["inter"]),)))
    p = S["post_reorder_sum"]
    t, k, e = p["tokens"], p["topk"], p["experts"]
    ids = torch.stack([torch.randperm(e, device=DEV, generator=g)[:k] for _ in range(t)]).to(torch.int32)
    order = torch.argsort(ids.view(-1).long(), stable=True)   # rows grouped by expert, as the MoE GEMM wrote them
    src2dst = torch.empty_like(order)
    src2dst[order] = torch.arange(order.numel(), device=DEV)
    cases.append(("post_reorder_sum", post_reorder_sum,
                  (rn(t * k, p["hidden"]), ids, torch.rand(t, k, device=DEV, generator=g),
                   src2dst.view(t, k).to(torch.int32))))
    cases.append(("fp8_quant_per_token", fp8_quant_per_token, (x_of("fp8_quant_per_token"),)))
    d = S["moe_dispatch"]
    dids = torch.stack([torch.randperm(d["experts"], device=DEV, generator=g)[:d["topk"]]
                        for _ in range(d["tokens"])]).to(torch.int32)
    cases.append(("moe_dispatch", moe_dispatch, (x_of("moe_dispatch"), dids)))
    for name, fn in (("tp_allreduce", tp_allreduce), ("tp_allreduce_rmsnorm", tp_allreduce_rmsnorm)):
        a = S[name]
        part = (a["ranks"], a["tokens"], a["hidden"])
        args = (rn(*part), rn(*part))
        if name == "tp_allreduce_rmsnorm":
            args += (rn(a["tokens"], a["hidden"]), 1 + 0.25 * rn(a["hidden"]))
        cases.append((name, fn, args))
    gp = S["gate_proj"]
    cases.append(("gate_proj", gate_proj_fp32, (x_of("gate_proj"), rn(gp["experts"], gp["hidden"], dtype=f32))))
    return cases


def tensors(obj):
    if torch.is_tensor(obj):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in tensors(o)]
    return []


def nbytes(ts):
    return sum(t.numel() * t.element_size() for t in ts)


def copy_gbps():
    src = torch.randn(1 << 28, device=DEV)   # 1 GiB of fp32, as `ulpdiff bench` copies
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=10, rep=200, return_mode="median")
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


def write_json(path, doc):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="PyTorch eager and torch.compile timings of ulpdiff's bench operators")
    ap.add_argument("--json")
    ap.add_argument("--only")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-budget", type=float, default=None,
                    help="start no torch.compile warm-up after this many seconds")
    args = ap.parse_args()
    t0 = time.monotonic()
    torch.backends.cuda.matmul.allow_tf32 = False   # the fp32 gate: the model's precision
    copy = copy_gbps()
    doc = {"schema": "ulpdiff-torch-bench/1", "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "copy_gbps": copy, "complete": False,
           "kernels": []}
    print(f"device: {doc['device']}, torch {torch.__version__}, copy {copy:.0f} GB/s (read + write)", flush=True)
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(SHAPES):
        sys.exit(f"torch_ops.py: --only: unknown operator(s) {sorted(only - set(SHAPES))}; known: {sorted(SHAPES)}")
    cases = [c for c in make_cases() if not only or c[0] in only]
    rows = {}
    doc["errors"] = []
    for name, fn, a in cases:
        try:
            outs = tensors(fn(*a))
            b = nbytes(tensors(a)) + nbytes(outs)
            eager = triton.testing.do_bench(lambda: fn(*a), warmup=25, rep=200, return_mode="median")
        except Exception as e:   # one operator that fails must not cost the others their row
            doc["errors"].append(f"{name}: eager failed: {type(e).__name__}: {str(e)[:200]}")
            print(f"eager   {name:22} FAILED: {doc['errors'][-1]}", flush=True)
            continue
        rows[name] = {"op": name, "shape": SHAPES[name], "bytes": b, "eager_us": eager * 1e3,
                      "eager_fraction_of_copy": b / (eager * 1e-3) / 1e9 / copy,
                      "compile_us": None, "compile_fraction_of_copy": None, "compile_seconds": None, "compile_note": None}
        doc["kernels"] = list(rows.values())
        write_json(args.json, doc)
        print(f"eager   {name:22} {eager * 1e3:10.1f} us {100 * rows[name]['eager_fraction_of_copy']:6.1f}% copy", flush=True)
    for name, fn, a in cases:
        row = rows.get(name)
        if row is None:
            continue
        if args.no_compile:
            row["compile_note"] = "not run (--no-compile)"
            continue
        if args.compile_budget is not None and time.monotonic() - t0 > args.compile_budget:
            row["compile_note"] = f"not run (--compile-budget {args.compile_budget:g} s spent)"
            print(f"compile {name:22} skipped: {row['compile_note']}", flush=True)
            continue
        try:
            c0 = time.monotonic()
            cf = torch.compile(fn)
            cf(*a)
            torch.cuda.synchronize()
            row["compile_seconds"] = time.monotonic() - c0
            ms = triton.testing.do_bench(lambda: cf(*a), warmup=25, rep=200, return_mode="median")
            row["compile_us"] = ms * 1e3
            row["compile_fraction_of_copy"] = row["bytes"] / (ms * 1e-3) / 1e9 / copy
            print(f"compile {name:22} {ms * 1e3:10.1f} us {100 * row['compile_fraction_of_copy']:6.1f}% copy "
                  f"(warm-up {row['compile_seconds']:.1f} s)", flush=True)
        except Exception as e:   # one operator that does not compile must not cost the others
            row["compile_note"] = f"torch.compile failed: {type(e).__name__}: {str(e)[:200]}"
            print(f"compile {name:22} {row['compile_note']}", flush=True)
        doc["kernels"] = list(rows.values())
        write_json(args.json, doc)
    doc["complete"] = True
    write_json(args.json, doc)
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    import torch
    import torch.nn.functional as F
    import triton.testing

    DEV = "cuda"
    sys.exit(main())
