/* silu_and_mul.h — SiLU(gate) * up: the kernel body shared by the CUDA kernel
 * (gpu/silu_and_mul.cu) and the cpu backend (gpu/silu_and_mul.c).
 * Spec, rounding points and budgets: docs/ops/silu_and_mul.md.
 *
 *   x = [gate | up], [tokens, 2 * I];  silu(g) = g / (1 + exp(-g))
 *   spec flashinfer (FlashInfer / sglang):  out = RN_T(silu(g) * u)          fp32, one rounding
 *   spec hf (HF transformers, vLLM):        out = RN_T(RN_T(silu(g)) * u)    silu rounded to T
 *
 * Arithmetic — written so that it is exact to a few fp32 ulps over the whole input range and
 * identical on both backends:
 *   - exp comes from silu_exp_core() below (fmaf, rintf, ldexp only: correctly rounded
 *     operations on the host and on the GPU), not from the libraries, whose expf differ (glibc
 *     < 1 ulp, CUDA's expf 2 ulp, __expf worse): cpu and cuda agree bit for bit;
 *   - exp is only ever taken of -|g| (<= 0), so it never overflows: for g < 0,
 *     silu(g) = g e^g / (1 + e^g). The engines' g / (1 + exp(-g)) overflows exp for
 *     g < -88.72 and returns -0 where the exact value is a normal bf16/fp32 number (the
 *     `exp_overflow` variant);
 *   - for g < 0 the power of two 2^n of e^g = p 2^n is applied last, so every intermediate
 *     stays normal and only the final scaling can underflow (once, <= 2^-150 absolute);
 *   - silu(-Inf) is its limit, -0; silu(+Inf) = +Inf; NaN propagates.
 * nvcc contracts a * b + c into an fma; no expression here has that shape outside explicit
 * fmaf calls, so host and device round the same operations.
 *
 * Known-bug variants are selected by a compile-time constant `bug` (SILU_BUG_*). */
#ifndef UD_GPU_SILU_AND_MUL_H
#define UD_GPU_SILU_AND_MUL_H

#include "numerics/ud_portable.h"
#include "spec/silu_and_mul.h"   /* SILU_SPEC_*: shared with the reference */

/* Known-bug variants, declared once: X(ENUM, "name", "finding that must catch it", "the bug").
 * The enum below and the registry's variant table (harness/ops/silu_and_mul.c) come from it. */
#define SILU_VARIANTS(X)                                                                          \
    X(INPUT_DTYPE, "silu_input_dtype", "tolerance",                                               \
      "SiLU computed in the input dtype: exp, 1 + e and g / d each rounded to it")                \
    X(EXP_OVERFLOW, "exp_overflow", "tolerance",                                                  \
      "g / (1 + exp(-g)) as vLLM and FlashInfer write it: -0 for g < -88.72, where the exact "    \
      "value is still a normal bf16/fp32 number")

enum {
    SILU_BUG_NONE = 0,
#define X(E, ...) SILU_BUG_##E,
    SILU_VARIANTS(X)
#undef X
    SILU_BUG_COUNT
};

/* Relative error bound of silu_exp_core's p * 2^n against exp(x), in units of u = 2^-24
 * (derivation in docs/ops/silu_and_mul.md; measured maximum 1.33, tests/test_silu_and_mul.c). */
#define SILU_EXP_BOUND_U 2.0

/* exp(x) = p * 2^n with p in [0.70, 1.42] and n an integer, for x clamped to [-1024, 1024]
 * (a NaN x is taken as -1024: callers propagate NaN through g itself). Cody-Waite reduction
 * r = x - n ln2 with ln2 split in a 17-bit head (n * head exact, x - n * head exact) and a tail;
 * e^r by its degree-7 Taylor polynomial in Horner form with fmaf (truncation < 0.2 u on
 * |r| <= ln2/2 + 2^-20). */
UD_HD float silu_exp_core(float x, int *n_out)
{
    x = x >= -1024.0f ? x : -1024.0f;
    x = x <= 1024.0f ? x : 1024.0f;
    float n = rintf(x * 0x1.715476p+0f);              /* log2(e) */
    float r = fmaf(n, -0x1.62e400p-1f, x);            /* ln2 head */
    r = fmaf(n, -0x1.7f7d1cp-20f, r);                 /* ln2 tail */
    float p = 0x1.a01a02p-13f;                        /* 1/7! */
    p = fmaf(p, r, 0x1.6c16c2p-10f);                  /* 1/6! */
    p = fmaf(p, r, 0x1.111112p-7f);                   /* 1/5! */
    p = fmaf(p, r, 0x1.555556p-5f);                   /* 1/4! */
    p = fmaf(p, r, 0x1.555556p-3f);                   /* 1/3! */
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    *n_out = (int)n;
    return p;
}

/* exp(x) as one fp32 value (overflow to +Inf, gradual underflow to 0). */
UD_HD float silu_expf(float x)
{
    int n;
    float p = silu_exp_core(x, &n);
    return ud_ldexpf(p, n);
}

/* The fp32 value the kernel stores (ud_st rounds it to T) for gate g and up u. */
UD_HD float silu_mul(int dt, int spec, int bug, float g, float u)
{
    if (bug == SILU_BUG_INPUT_DTYPE) {
        float e = ud_round_f32(dt, silu_expf(-g));
        float d = ud_round_f32(dt, 1.0f + e);
        return ud_round_f32(dt, g / d) * u;
    }
    if (bug == SILU_BUG_EXP_OVERFLOW) {
        float s = g / (1.0f + silu_expf(-g));
        return (spec == SILU_SPEC_HF ? ud_round_f32(dt, s) : s) * u;
    }
    if (g == -INFINITY) return -0.0f * u;               /* the limit of g e^g */
    int n;
    float p = silu_exp_core(-fabsf(g), &n);            /* e^-|g| = p 2^n, n <= 0 */
    float d = 1.0f + ud_ldexpf(p, n);                     /* 1 + e^-|g| in [1, 2] */
    if (!(g < 0.0f)) {                                  /* g >= 0, or NaN */
        float s = g / d;
        return (spec == SILU_SPEC_HF ? ud_round_f32(dt, s) : s) * u;
    }
    float m = (g * p) / d;                             /* silu(g) / 2^n, normal */
    if (spec == SILU_SPEC_HF) return ud_round_f32(dt, ud_ldexpf(m, n)) * u;
    return ud_ldexpf(m * u, n);
}

/* Relative error bound of the kernel's fp32 result (flashinfer; hf with T = fp32), in units of
 * u = 2^-24, with E = SILU_EXP_BOUND_U: g * p (E + 1), 1 + t (E/2 + 1: t <= 1 halves its
 * error), the division (1), the product by u (1), and 1 for second-order terms.
 * The absolute floor from gradual underflow is part of the reference's condition scale. */
UD_HD double silu_bound_u(void) { return 1.5 * SILU_EXP_BOUND_U + 5.0; }

/* The same for silu(g) alone (the value RN_T rounds under spec hf): one rounding fewer. */
UD_HD double silu_value_bound_u(void) { return 1.5 * SILU_EXP_BOUND_U + 4.0; }

/* ---- launchers: gpu/silu_and_mul.c (cpu backend), gpu/silu_and_mul.cu (cuda) ---- */
typedef struct {
    int dt, spec;
    int64_t tokens, inter;        /* out is [tokens, inter]; x is [tokens, 2 * inter] */
    const void *x;
    void *out;
} silu_args;

#ifdef __cplusplus
extern "C" {
#endif
int silu_and_mul_cpu(const silu_args *a, int bug);
int silu_and_mul_cuda(const silu_args *a, int bug);   /* device pointers; asynchronous */
/* Production kernel in launch configuration cfg (`ulpdiff bench --configs`); UD_EUSAGE past the last. */
int silu_and_mul_cuda_tune(const silu_args *a, int cfg, const char **name);
#ifdef __cplusplus
}
#endif

#endif
