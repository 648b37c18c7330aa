/* layernorm.h — LayerNorm family: the kernel body shared by the CUDA kernel (gpu/layernorm.cu)
 * and the cpu backend (gpu/layernorm.c). Spec, rounding points, budgets: docs/ops/layernorm.md.
 *
 *   layernorm (PyTorch nn.LayerNorm / F.layer_norm, as HF models call it):
 *       mean = sum(x) / N, var = sum((x - mean)^2) / N       statistics in fp32
 *       out  = RN_T((x - mean) * rsqrt(var + eps) * w + b)   w, b in T; one rounding
 *     affine: weight_bias (w and b), weight (no bias), none (w = 1, b = 0).
 *   fp32_layernorm (diffusers FP32LayerNorm): x, w, b upcast to fp32, F.layer_norm in fp32,
 *       out = RN_T(fp32 result). w, b may be stored in another dtype (pdt: fp32, bf16, fp16).
 *   Both are the same fp32 arithmetic here; they differ in the parameter dtype (and, later, in
 *   the fp32 parameter copy that fp32_layernorm caches).
 *
 * Statistics: two-pass in fp32 — first the mean, then the sum of (x - mean)^2 (each square
 * added by one fma) — because one-pass E[x^2] - E[x]^2 loses everything on rows with a large
 * mean and a small spread (that is a known-bug variant below). The row stays in registers
 * between the passes (gpu/layernorm.cu), so the second pass costs no memory traffic.
 *
 * Reduction order — fixed, and followed exactly by both backends so their results agree bit
 * for bit (as gpu/rmsnorm.h): the row is cut into chunks of V = 16 bytes / sizeof(T) elements;
 * lane l of LN_LANES accumulates chunks l, l + LN_LANES, ... element by element; lanes combine
 * by an xor butterfly within each warp (offsets 16..1), the LN_WARPS warp sums by a butterfly
 * of offsets LN_WARPS/2..1. Every arithmetic step goes through ud_fadd/ud_fmul/ud_ffma
 * (numerics/ud_portable.h): on the device the _rn intrinsics, which nvcc never contracts into an fma
 * (a plain a * b + c in device code is contracted by default, and the host would then disagree).
 *
 * Known-bug variants are selected by a compile-time constant `bug` (LN_BUG_*); production
 * kernels are instantiated with LN_BUG_NONE, so no bug code exists on their path. */
#ifndef UD_GPU_LAYERNORM_H
#define UD_GPU_LAYERNORM_H

#include "numerics/ud_portable.h"
#include "spec/layernorm.h"   /* LN_AFFINE_*: shared with the reference */

#define LN_LANES 256
#define LN_WARPS (LN_LANES / 32)

/* Known-bug variants of the family, declared once: X(ENUM, "name", in layernorm, in
 * fp32_layernorm, "finding that must catch it", "the bug"). The enum below and the registry's
 * variant tables (harness/ops/layernorm.c) come from it. */
#define LN_VARIANTS(X)                                                                            \
    X(ONE_PASS_VAR, "one_pass_variance", 1, 1, "tolerance",                                       \
      "var = E[x^2] - E[x]^2 in fp32 (one pass): fails on rows with a large mean")                \
    X(MEAN_INPUT_DTYPE, "mean_in_input_dtype", 1, 1, "tolerance",                                 \
      "the sum for the mean (and the mean) kept in the input dtype")                              \
    X(PARAMS_INPUT_DTYPE, "params_in_input_dtype", 0, 1, "tolerance",                             \
      "weight and bias rounded to the input dtype (the module cast to bf16) instead of used in fp32")

enum {
    LN_BUG_NONE = 0,
#define X(E, ...) LN_BUG_##E,
    LN_VARIANTS(X)
#undef X
    LN_BUG_COUNT
};

/* Chunk width in elements for dtype dt. */
UD_HD int ln_vec(int dt) { return 16 / ud_dt_size(dt); }

/* One addition of the mean's sum (lane accumulation and butterfly alike). */
UD_HD float ln_sum_add(int dt, int bug, float a, float b)
{
    float s = ud_fadd(a, b);
    return bug == LN_BUG_MEAN_INPUT_DTYPE ? ud_round_f32(dt, s) : s;
}

/* One step of the sum of squares: acc + d * d with one rounding. */
UD_HD float ln_sq_add(float acc, float d) { return ud_ffma(d, d, acc); }

UD_HD float ln_mean(int dt, int bug, float sum, int64_t n)
{
    float m = ud_fdiv(sum, (float)n);
    return bug == LN_BUG_MEAN_INPUT_DTYPE ? ud_round_f32(dt, m) : m;
}

/* 1 / sqrt(var + eps) from the sum of squared deviations: IEEE division and sqrt (correctly
 * rounded on both backends; CUDA's rsqrtf is not, and would break bit agreement). */
UD_HD float ln_rstd(float sumsq_dev, int64_t n, float eps)
{
    return ud_fdiv(1.0f, ud_fsqrt(ud_fadd(ud_fdiv(sumsq_dev, (float)n), eps)));
}

/* The one-pass variant: var = E[x^2] - E[x]^2, clamped at 0 as such kernels do (without the
 * clamp a negative var gives NaN, which would be caught as a different finding). */
UD_HD float ln_rstd_one_pass(float sum, float sumsq, int64_t n, float eps)
{
    float mean = ud_fdiv(sum, (float)n);
    float var = ud_fsub(ud_fdiv(sumsq, (float)n), ud_fmul(mean, mean));
    if (!(var > 0.0f)) var = 0.0f;
    return ud_fdiv(1.0f, ud_fsqrt(ud_fadd(var, eps)));
}

/* A parameter as the kernel uses it (the params bug rounds it to the input dtype). */
UD_HD float ln_param(int dt, int bug, float p)
{
    return bug == LN_BUG_PARAMS_INPUT_DTYPE ? ud_round_f32(dt, p) : p;
}

/* The output element (fp32; the caller rounds it to T once) from x, the mean, 1/std and the
 * parameters: n = (x - mean) * rstd, then n * w + b in one fma. */
UD_HD float ln_out(int affine, float x, float mean, float rstd, float w, float b)
{
    float n = ud_fmul(ud_fsub(x, mean), rstd);
    if (affine == LN_AFFINE_NONE) return n;
    if (affine == LN_AFFINE_WEIGHT) return ud_fmul(n, w);
    return ud_ffma(n, w, b);
}

/* m: the most roundings any element's contribution to a row sum goes through — a lane adds
 * at most k = ceil(chunks / LN_LANES) * V elements serially (the first addition to 0 is exact;
 * the sum of squares' first fma is not: k), then log2(LN_LANES) = 8 butterfly additions. */
UD_HD int64_t layernorm_sum_depth(int dt, int64_t n)
{
    int64_t v = ln_vec(dt), chunks = (n + v - 1) / v;
    int64_t k = (chunks + LN_LANES - 1) / LN_LANES * v;
    return k + 8;
}

/* Error bound of the production kernel in units of u = 2^-24 times the condition scale
 *   s_i = (|x_i| + mean|x|) * |w_i / sqrt(var + eps)| + |b_i|
 * (first order; the second-order mean-error term is part of s_i, see spec/layernorm.h).
 * Derivation in docs/ops/layernorm.md: mean error <= (m+1) u mean|x|; relative error of the
 * computed 1/std <= (m/2 + 4.5) u; (x - mean), * rstd and the final fma add 3 u; so
 * |y - Y| <= u * ((1.5 m + 8.5) (|x| + mean|x|) |w rstd| + |b|). +1.5 covers the
 * second-order products of the u terms for m up to the 2^18 row length the harness allows. */
UD_HD double layernorm_bound_u(int dt, int64_t n)
{
    return 1.5 * (double)layernorm_sum_depth(dt, n) + 10.0;
}

/* Bound on |computed mean - mean| / (u * mean|x|), for the reference's second-order term. */
UD_HD double layernorm_mean_err_u(int dt, int64_t n) { return (double)layernorm_sum_depth(dt, n) + 2.0; }

/* ---- launchers: gpu/layernorm.c (cpu backend), gpu/layernorm.cu (cuda) ---- */
typedef struct {
    int dt;                  /* x and out: UD_DT_* */
    int pdt;                 /* w and b */
    int affine;              /* LN_AFFINE_* */
    int64_t rows, n;
    float eps;
    const void *x, *w, *b;   /* w: NULL for none; b: NULL unless weight_bias */
    void *out;
} ln_args;

#ifdef __cplusplus
extern "C" {
#endif
int layernorm_cpu(const ln_args *a, int bug);
int layernorm_cuda(const ln_args *a, int bug);   /* device pointers; asynchronous */
/* Production kernel in launch configuration cfg (`ulpdiff bench --configs`); UD_EUSAGE past the last. */
int layernorm_cuda_tune(const ln_args *a, int cfg, const char **name);
#ifdef __cplusplus
}
#endif

#endif
