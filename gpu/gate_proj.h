/* gate_proj.h — MoE router gate projection: the portable parts shared by the cpu backend
 * (gpu/gate_proj.c, OpenBLAS) and the CUDA launcher (gpu/gate_proj.cu, cuBLAS).
 *
 *   logits[t, e] = sum_h x[t, h] * W[e, h]        x [tokens, hidden], W [experts, hidden]
 *
 * Modes (spec and budgets: docs/ops/gate_proj.md):
 *   fp32  HF DeepSeek-V3 / GLM-4.5 routers: F.linear(x.float(), W.float()); fp32 logits.
 *         cuBLAS SGEMM in pedantic math (no TF32), OpenBLAS sgemm on the cpu backend.
 *   tf32  the same GEMM with cuBLAS TF32 tensor-core math: operands lose 13 mantissa bits.
 *         Measured, not a model's spec: it says what "TF32 on" costs.
 *   bf16  HF Mixtral / Qwen-MoE routers: nn.Linear in the model dtype; bf16 operands, fp32
 *         accumulation, logits rounded once to bf16 (cublasGemmEx, CUBLAS_COMPUTE_32F).
 * The GEMM's reduction order is the library's (unknown, shape- and architecture-dependent),
 * so the budgets use order-independent dot-product bounds (gate_bound_u).
 *
 * Known-bug variants (GATE_BUG_*) replace the fp32 path by another path: the router that runs
 * in bf16 where the model needs fp32, and TF32 left on. They change nothing in other modes.
 * Scoring (GATE_SCORE_*, spec/gate_proj.h) is the routing-flip metric's, evaluated by the
 * harness (harness/core/routing.c), never by kernel code. */
#ifndef UD_GPU_GATE_PROJ_H
#define UD_GPU_GATE_PROJ_H

#include "numerics/ud_portable.h"
#include "spec/gate_proj.h"   /* GATE_MODE_*, GATE_SCORE_*: shared with the reference */

/* Known-bug variants of the kernels, declared once: X(ENUM, "name", "finding", "the bug"). The
 * enum below and the registry's variant table (harness/ops/gate_proj.c, which adds the fp32
 * weight cache's variants) come from it. */
#define GATE_VARIANTS(X)                                                                          \
    X(BF16_LOGITS, "bf16_logits", "tolerance",                                                    \
      "fp32 router run in bf16: weight and logits rounded to bf16 (vLLM #14027, #47410 class)")   \
    X(TF32_ON, "tf32_on", "tolerance",                                                            \
      "fp32 router GEMM with TF32 tensor-core math left on (operands keep 10 mantissa bits)")

enum {
    GATE_BUG_NONE = 0,
#define X(E, ...) GATE_BUG_##E,
    GATE_VARIANTS(X)
#undef X
    GATE_BUG_COUNT
};

/* The arithmetic a (mode, bug) pair runs: a path is named by the mode that defines it. */
UD_HD int gate_path(int mode, int bug)
{
    if (mode != GATE_MODE_FP32) return mode;
    return bug == GATE_BUG_BF16_LOGITS ? GATE_MODE_BF16 : bug == GATE_BUG_TF32_ON ? GATE_MODE_TF32 : GATE_MODE_FP32;
}

/* TF32 operand: the fp32 mantissa rounded to 10 bits, to nearest with ties away from zero,
 * as cvt.rna.tf32.f32 does (adding half of the dropped 13 bits to the sign-magnitude pattern).
 * Tensor cores fed raw fp32 registers may truncate instead; the tf32 budget covers both
 * (relative operand error below 2^-10 either way). Inf/NaN pass through. */
UD_HD float gate_tf32_round(float v)
{
    uint32_t u = ud_f32_bits(v);
    if ((u & 0x7f800000u) == 0x7f800000u) return v;
    return ud_bits_f32((u + 0x1000u) & 0xffffe000u);
}

/* The operand value a path multiplies: fp32 exactly, its TF32 rounding, or RN_bf16 (the bf16
 * model's weight and activations; identity for values already stored in bf16). */
UD_HD float gate_operand(int path, float v)
{
    return path == GATE_MODE_TF32 ? gate_tf32_round(v) : path == GATE_MODE_BF16 ? ud_round_f32(UD_DT_BF16, v) : v;
}

/* The logit a path returns from its fp32 accumulator. */
UD_HD float gate_logit(int path, float acc) { return path == GATE_MODE_BF16 ? ud_round_f32(UD_DT_BF16, acc) : acc; }

/* ---- error bounds, in units of u = 2^-24 times the condition scale s = sum_h |x W| ----
 * (derivations in docs/ops/gate_proj.md, "Budgets")
 *
 * fp32 dot product of n terms in any order, products rounded or fused:
 *     |fl(x.y) - x.y| <= gamma_n * s,  gamma_n = n u / (1 - n u)   (Higham, ASNA 2nd ed. (3.5)).
 * Tensor-core accumulation (bf16 and tf32 MMA): modelled as block additions of g products
 * (4 <= g <= 32) and the accumulator, every term aligned to the largest exponent keeping
 * p >= 23 bits and the result truncated: each block errs by at most (g + 2) 2^-22 s, and
 * ceil(n/g) (g + 2) <= 1.5 n + 36 for g >= 4, so 6n + 144; fp32 split-K reductions add at most
 * n u s more: 7n + 144. This also covers OpenBLAS sgemm (gamma_n < 7n + 144), which the cpu
 * backend uses for every path.
 * TF32 operands: x~ = x(1 + d1), W~ = W(1 + d2), |d| < 2^-10, so each product errs by less
 * than (2^-9 + 2^-20) |xW| = 32784 u |xW|, and the accumulation bound applies to the
 * perturbed products, whose scale is at most (1 + 2^-8) s. */
UD_HD double gate_fp32_dot_bound_u(int64_t n) { return (double)n / (1.0 - (double)n * 0x1p-24); }
UD_HD double gate_tc_dot_bound_u(int64_t n) { return 7.0 * (double)n + 144.0; }

UD_HD double gate_bound_u(int mode, int64_t n)
{
    if (mode == GATE_MODE_FP32) return gate_fp32_dot_bound_u(n);
    if (mode == GATE_MODE_BF16) return gate_tc_dot_bound_u(n);
    return 32784.0 + gate_tc_dot_bound_u(n) * (1.0 + 0x1p-8);
}

/* ---- launchers: gpu/gate_proj.c (cpu backend), gpu/gate_proj.cu (cuda) ---- */
typedef struct {
    int mode;
    int xdt, wdt, odt;           /* UD_DT_* storage of x, W and the logits */
    int64_t tokens, hidden, experts;
    const void *x, *w;           /* row-major [tokens, hidden], [experts, hidden] */
    void *logits;                /* row-major [tokens, experts] */
} gate_args;

#ifdef __cplusplus
extern "C" {
#endif
int gate_proj_cpu(const gate_args *a, int bug);
int gate_proj_cuda(const gate_args *a, int bug);   /* device pointers; asynchronous */
/* Production kernels with launch configuration cfg (`ulpdiff bench --configs`); UD_EUSAGE past the last. */
int gate_proj_cuda_tune(const gate_args *a, int cfg, const char **name);
#ifdef __cplusplus
}
#endif

#endif
