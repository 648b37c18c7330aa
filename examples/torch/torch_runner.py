#!/usr/bin/env python3
"""torch_runner.py — ulpdiff's operators computed with PyTorch the way model code writes them,
from an `ulpdiff export` directory, outputs written for `ulpdiff check` (docs/external.md).

    ulpdiff export CASES --dir D
    python3 examples/torch/torch_runner.py D --device cuda      # or --device cpu
    ulpdiff check --dir D --json D/report.json --html D/report.html

This measures PyTorch's own kernels and the unfused formulations of HF transformers (and of the
torch reference code engines test against) against ulpdiff's exact references and budgets. It
deliberately does NOT implement ulpdiff's specs where model code differs from them: a case whose
`spec` parameter names another engine's semantics is computed HF's way all the same, and the
report then measures the gap. docs/findings.md records what came out.

What each operator runs (tensors in the case's dtypes, on --device):
  rmsnorm            HF LlamaRMSNorm: h = x.float(); h * rsqrt(h.pow(2).mean(-1) + eps);
                     weight * h.to(dtype)                        (for every `spec`)
  rmsnorm_gemma      HF GemmaRMSNorm: _norm(x.float()) * (1.0 + weight.float()), .type_as(x)
  rmsnorm_fused_add  HF decoder layer: h = residual + x (in dtype); residual_out = h;
                     out = LlamaRMSNorm(h)                       (for every `spec`)
  silu_and_mul       HF LlamaMLP: act_fn(gate) * up, act_fn = F.silu in dtype (for every `spec`)
  fp8_quant_per_token  vLLM's torch reference (ref_dynamic_per_token_quant), per group of
                     `group` columns: amax = x.abs().max(-1).float() [.clamp(max=scale_ub)];
                     s = (amax / 448).clamp(min=min_scale) [ue8m0: 2 ** ceil(log2(s))];
                     q = (x.float() / s).clamp(-448, 448).to(torch.float8_e4m3fn)
  post_reorder_sum   the MoE combine of vLLM/sglang's torch_moe references:
                     (rows * topk_weights.to(dtype)[..., None]).sum(dim=1), rows of -1 expert
                     ids zero (expert_map style)
  gate_proj          F.linear(x.float(), W.float()) (fp32: DeepSeek-V3/GLM routers);
                     the same with torch.backends.cuda.matmul.allow_tf32 = True (tf32);
                     F.linear(x.to(bf16), W.to(bf16)) (bf16: Mixtral/Qwen-MoE nn.Linear gate)
  layernorm          F.layer_norm(x, (hidden,), weight, bias, eps) in dtype (nn.LayerNorm)
  fp32_layernorm     diffusers FP32LayerNorm: F.layer_norm(x.float(), ..., weight.float(),
                     bias.float(), eps).to(dtype)
  rope               HF LlamaRotaryEmbedding + apply_rotary_pos_emb: inv_freq = 1.0 / (base **
                     (arange(0, dim, 2).float() / dim)), freqs = inv_freq @ positions (fp32),
                     cos/sin of cat(freqs, freqs) cast to the activation dtype, then
                     q * cos + rotate_half(q) * sin in the activation dtype on the first
                     rotary_dim = int(head_dim * factor) dims (the rest concatenated back);
                     style gptj: GLM's interleaved rotate_half with repeat_interleave(2) cos/sin.
                     The exported cos_sin_cache is not used: HF computes its own (for every
                     `table`).
  tp_allreduce       model code of a tensor-parallel MoE block in one process: y = moe + shared in
                     the activation dtype on each rank (sglang's Step3p5 shared expert with
                     reduce_results=False), then the all-reduce as a one-shot custom all-reduce
                     computes it: y.float().sum(0).to(dtype) over the rank dimension (spec unfused:
                     each partial summed so and rounded, then added in the dtype); every rank's copy
                     written. (torch.distributed with a world of one rank would return y itself: the
                     ranks are simulated here, for every `algorithm`.)
  tp_allreduce_rmsnorm  the same, then the decoder layer's h = s + residual (in dtype),
                     LlamaRMSNorm(h) (.to(dtype) for fp32 weights), residual_out = h
PyTorch's global numerics settings are left at their defaults (no TF32 for fp32 matmuls,
reduced-precision bf16/fp16 GEMM reductions allowed), as a model run has them; the runner
records them with the torch version and device in D/torch_runner.json.
"""
import argparse
import json
import os
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import ulpdiff_exchange as ux  # noqa: E402

TORCH_DTYPES = {
    "fp64": torch.float64, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
    "e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2, "i32": torch.int32,
}
# the integer type whose bits a stored tensor reinterprets (bf16 <-> uint16 ...), for views
BITS = {"bf16": torch.uint16, "e4m3": torch.uint8, "e5m2": torch.uint8}
FP8_MAX = 448.0   # torch.finfo(torch.float8_e4m3fn).max


def to_torch(a, dt, device):
    t = torch.from_numpy(np.ascontiguousarray(a))
    if dt in BITS:
        t = t.view(BITS[dt]).view(TORCH_DTYPES[dt])
    return t.to(device)


def to_numpy(t, dt):
    t = t.detach().to("cpu").contiguous()
    if t.dtype != TORCH_DTYPES[dt]:
        raise TypeError(f"output is {t.dtype}, the case's dtype is {dt}")
    if dt in BITS:
        t = t.view(BITS[dt])
    return t.numpy()


# ---------------------------------------------------------------- RMSNorm family (HF)

def llama_rmsnorm(h, weight, eps):
    input_dtype = h.dtype
    h = h.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(input_dtype)


def op_rmsnorm(p, t):
    return {"out": llama_rmsnorm(t["x"], t["weight"], p["eps"])}


def op_rmsnorm_gemma(p, t):
    x = t["x"]
    h = x.float()
    out = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + p["eps"])
    out = out * (1.0 + t["weight"].float())
    return {"out": out.type_as(x)}


def op_rmsnorm_fused_add(p, t):
    h = t["residual"] + t["x"]               # the decoder layer's `residual + hidden_states`
    return {"out": llama_rmsnorm(h, t["weight"], p["eps"]), "residual_out": h}


# ---------------------------------------------------------------- SiLU * up (HF LlamaMLP)

def op_silu_and_mul(p, t):
    gate, up = t["x"].chunk(2, dim=-1)
    return {"out": F.silu(gate) * up}


# ---------------------------------------------------------------- FP8 per-token quantization (vLLM reference)

def op_fp8_quant(p, t):
    x = t["x"]
    hidden = x.shape[-1]
    G = p["group"] if 0 < p["group"] < hidden else hidden
    qs, ss = [], []
    fp8_max = torch.tensor(FP8_MAX, dtype=torch.float32, device=x.device)
    min_scale = torch.tensor(p["min_scale"], dtype=torch.float32, device=x.device)
    for g0 in range(0, hidden, G):
        xg = x[:, g0:g0 + G]
        amax = xg.abs().max(dim=-1).values.to(torch.float32) if xg.shape[0] else xg.new_zeros(0, dtype=torch.float32)
        if p["scale_ub"] > 0:
            amax = amax.clamp(max=p["scale_ub"])
        s = (amax / fp8_max)[:, None]
        s = s.clamp(min=min_scale)
        if p["scale_fmt"] == "ue8m0":       # sglang / DeepGEMM ceil_to_ue8m0
            s = torch.pow(2.0, torch.ceil(torch.log2(s.abs())))
        q = (xg.to(torch.float32) / s).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
        qs.append(q)
        ss.append(s)
    return {"q": torch.cat(qs, dim=-1), "scales": torch.cat(ss, dim=-1)}


# ---------------------------------------------------------------- MoE combine (engines' torch reference)

def op_post_reorder_sum(p, t):
    down, ids, w, s2d = t["down"], t["topk_ids"], t["topk_weights"], t["src2dst"]
    valid = ids >= 0
    rows = down[torch.where(valid, s2d, torch.zeros_like(s2d)).long()]        # [tokens, topk, hidden]
    rows = torch.where(valid[..., None], rows, torch.zeros((), dtype=down.dtype, device=down.device))
    return {"out": (rows * w[..., None].to(rows.dtype)).sum(dim=1)}


# ---------------------------------------------------------------- router gate

def op_gate_proj(p, t):
    x, w = t["x"], t["weight"]
    mode = p["mode"]
    if mode == "bf16":
        return {"logits": F.linear(x.to(torch.bfloat16), w.to(torch.bfloat16))}
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    try:
        return {"logits": F.linear(x.type(torch.float32), w.type(torch.float32))}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


# ---------------------------------------------------------------- LayerNorm

def affine_of(p, t, upcast):
    w = t["weight"] if p["affine"] in ("weight_bias", "weight") else None
    b = t["bias"] if p["affine"] == "weight_bias" else None
    if upcast:
        w = w.float() if w is not None else None
        b = b.float() if b is not None else None
    return w, b


def op_layernorm(p, t):
    x = t["x"]
    w, b = affine_of(p, t, False)
    return {"out": F.layer_norm(x, (x.shape[-1],), w, b, p["eps"])}


def op_fp32_layernorm(p, t):
    x = t["x"]
    w, b = affine_of(p, t, True)
    return {"out": F.layer_norm(x.float(), (x.shape[-1],), w, b, p["eps"]).to(x.dtype)}


# ---------------------------------------------------------------- RoPE (HF)

def hf_cos_sin(positions, dim, base, dtype):
    """LlamaRotaryEmbedding (default rope type, attention_scaling 1.0): fp32 inv_freq and angles,
    cos/sin cast to the activation dtype."""
    device = positions.device
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim))
    inv_freq_expanded = inv_freq[None, :, None].float()
    position_ids_expanded = positions[None, None, :].float()
    freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)[0]   # [tokens, dim / 2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotate_half_interleaved(x):   # GLM
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def op_rope(p, t):
    q, k, pos = t["q"], t["k"], t["positions"]
    rd = int(p["head_dim"] * p["factor"])
    with torch.autocast(device_type=q.device.type, enabled=False):
        cos, sin = hf_cos_sin(pos, rd, p["base"], q.dtype)
    cos, sin = cos[:, None, :], sin[:, None, :]          # unsqueeze over heads: q is [tokens, heads, head_dim]
    rot = rotate_half
    if p["style"] == "gptj":
        cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
        sin = sin[..., : sin.shape[-1] // 2].repeat_interleave(2, dim=-1)
        rot = rotate_half_interleaved
    out = {}
    for name, x in (("q", q), ("k", k)):
        x_rot, x_pass = x[..., :rd], x[..., rd:]
        x_embed = (x_rot * cos) + (rot(x_rot) * sin)
        out[name + "_out"] = torch.cat([x_embed, x_pass], dim=-1)
    return out


# ---------------------------------------------------------------- tensor-parallel all-reduce (simulated ranks)

def allreduce_sim(p, moe, shared):
    if p["spec"] == "unfused":
        return moe.float().sum(0).to(moe.dtype) + shared.float().sum(0).to(moe.dtype)
    return (moe + shared).float().sum(0).to(moe.dtype)


def op_tp_allreduce(p, t):
    moe = t["moe"]
    return {"out": allreduce_sim(p, moe, t["shared"]).expand_as(moe).contiguous()}


def op_tp_allreduce_rmsnorm(p, t):
    moe = t["moe"]
    h = allreduce_sim(p, moe, t["shared"]) + t["residual"]
    out = llama_rmsnorm(h, t["weight"], p["eps"]).to(h.dtype)
    return {"out": out.expand_as(moe).contiguous(), "residual_out": h.expand_as(moe).contiguous()}


OPS = {
    "rmsnorm": op_rmsnorm,
    "rmsnorm_gemma": op_rmsnorm_gemma,
    "rmsnorm_fused_add": op_rmsnorm_fused_add,
    "silu_and_mul": op_silu_and_mul,
    "fp8_quant_per_token": op_fp8_quant,
    "post_reorder_sum": op_post_reorder_sum,
    "gate_proj": op_gate_proj,
    "layernorm": op_layernorm,
    "fp32_layernorm": op_fp32_layernorm,
    "rope": op_rope,
    "tp_allreduce": op_tp_allreduce,
    "tp_allreduce_rmsnorm": op_tp_allreduce_rmsnorm,
}


def settings(device):
    s = {
        "torch": torch.__version__,
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine(),
        "cuda": torch.version.cuda,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "matmul.allow_bf16_reduced_precision_reduction": torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "matmul.allow_fp16_reduced_precision_reduction": torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="an `ulpdiff export` directory")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--op", action="append", help="only these operators (repeatable)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_runner: --device cuda: torch.cuda.is_available() is False (torch "
                 f"{torch.__version__}, built for CUDA {torch.version.cuda})")
    info = settings(a.device)
    with open(os.path.join(a.dir, "torch_runner.json"), "w") as f:
        json.dump(info, f, indent=1)
    if not a.quiet:
        print(f"torch_runner: torch {info['torch']} on {a.device} ({info['device_name']})")

    @torch.inference_mode()
    def compute(case):
        impl = OPS.get(case["op"])
        if impl is None:      # an operator newer than this runner
            return "not implemented by torch_runner.py"
        t = {k: to_torch(arr, dt, a.device) for k, (arr, dt) in ux.load_input_bits(a.dir, case).items()}
        outs = impl(case["params"], t)
        ux.save_output_bits(a.dir, case, {o["name"]: to_numpy(outs[o["name"]], o["dtype"]) for o in case["outputs"]})
        return None

    ux.run_cases(a.dir, f"torch_runner ({a.device})", compute, a.op, a.quiet)


if __name__ == "__main__":
    main()
