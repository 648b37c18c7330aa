#!/usr/bin/env python3
"""diagnose_rope.py D [--device cuda|cpu] — attribution for docs/findings.md, NOT HF's formulation:
torch_runner.py's rope with HF's own cos/sin (fp32 angles, cast to the activation dtype) but the
rotation computed in fp32 and rounded once. Where torch_runner.py's rope fails and this passes,
the excess comes from HF doing the rotation in the activation dtype (q * cos, rotate_half(q) *
sin and their sum each rounded); where this fails too, from the cos/sin themselves.

    python3 examples/torch/diagnose_rope.py D --device cpu && ulpdiff check --dir D --op rope
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_runner as tr  # noqa: E402


def rope_fp32_rotation(p, t):
    q, k, pos = t["q"], t["k"], t["positions"]
    rd = int(p["head_dim"] * p["factor"])
    cos, sin = tr.hf_cos_sin(pos, rd, p["base"], q.dtype)
    cos, sin = cos[:, None, :].float(), sin[:, None, :].float()
    rot = tr.rotate_half
    if p["style"] == "gptj":
        cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
        sin = sin[..., : sin.shape[-1] // 2].repeat_interleave(2, dim=-1)
        rot = tr.rotate_half_interleaved
    out = {}
    for name, x in (("q", q), ("k", k)):
        xr = x[..., :rd].float()
        out[name + "_out"] = torch.cat([((xr * cos) + (rot(xr) * sin)).to(x.dtype), x[..., rd:]], dim=-1)
    return out


if __name__ == "__main__":
    tr.OPS = {"rope": rope_fp32_rotation}
    sys.argv += ["--op", "rope"]
    tr.main()
