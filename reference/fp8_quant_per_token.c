/* fp8_quant_per_token.c — exact FP8 quantization reference: fast (IEEE fp32 / double) and
 * MPFR paths (rounding points and candidates: spec/fp8_quant_per_token.h,
 * docs/ops/fp8_quant_per_token.md). Every step is the reference's own, written from the spec —
 * the ue8m0 power-of-two ceiling included: nothing here comes from the kernel it judges. */
#include "spec/fp8_quant_per_token.h"

#include <math.h>
#include <mpfr.h>

#include "numerics/status.h"

/* The fp32 division's error: 2^-24 relative, 2^-150 absolute in the subnormal range; plus the
 * double quotient's own 2^-53 (rounded up to 2^-50). */
#define FQ_MARGIN_REL (0x1p-24 + 0x1p-50)
#define FQ_MARGIN_ABS 0x1p-150

/* 2^ceil(log2 s), exactly: frexp splits s = f 2^e with f in [0.5, 1) without rounding, and
 * s is a power of two iff f == 0.5 (then s itself, else 2^e, the next power up). */
double ref_fq_pow2_ceil(double s)
{
    if (!(s > 0.0) || isinf(s)) return s;    /* +Inf stays; NaN and non-positive: no rule */
    int e;
    double f = frexp(s, &e);
    return f == 0.5 ? s : ldexp(1.0, e);
}

float ref_fq_scale(const ref_fq_args *a, double amax, int use_mpfr)
{
    double m = (a->scale_ub > 0.0f && amax > a->scale_ub) ? a->scale_ub : amax;
    float s;
    if (!use_mpfr || !isfinite(m)) {
        s = (float)m / FQ_E4M3_MAX;       /* FLT_EVAL_METHOD 0: one IEEE fp32 division */
    } else {
        mpfr_t t;
        mpfr_init2(t, 256);
        mpfr_set_d(t, m, MPFR_RNDN);
        mpfr_div_d(t, t, FQ_E4M3_MAX, MPFR_RNDN);   /* m/448 is never within 2^-256 of an fp32 tie */
        s = mpfr_get_flt(t, MPFR_RNDN);
        mpfr_clear(t);
    }
    s = s > a->min_scale ? s : a->min_scale;
    /* 2^e for a float s is an fp32 number (or beyond FLT_MAX, where the cast gives +Inf, as
     * the spec's fp32 arithmetic does). */
    return a->fmt == FQ_FMT_UE8M0 ? (float)ref_fq_pow2_ceil(s) : s;
}

/* Exact x / s as a double and whether it is an fp32 number; MPFR decides exactness itself. */
static double quotient(double x, float s, int use_mpfr, int *exact32)
{
    double q = x / (double)s;
    if (!isfinite(q) || q == 0.0) { *exact32 = 1; return q; }
    if (!use_mpfr) {
        float f = (float)q;
        /* f * s is exact in double (24 x 24 bits): x / s == f exactly iff f * s == x. */
        *exact32 = (double)f * (double)s == x;
        return q;
    }
    mpfr_t t;
    mpfr_init2(t, 256);
    mpfr_set_d(t, x, MPFR_RNDN);
    int inexact = mpfr_div_d(t, t, (double)s, MPFR_RNDN);
    q = mpfr_get_d(t, MPFR_RNDN);
    float f = mpfr_get_flt(t, MPFR_RNDN);
    *exact32 = inexact == 0 && mpfr_cmp_d(t, (double)f) == 0;
    mpfr_clear(t);
    return q;
}

void ref_fq_candidates(double x, float s, int use_mpfr, double *r0, double *r1)
{
    int exact32;
    double q = quotient(x, s, use_mpfr, &exact32);
    *r0 = *r1 = ud_round_sat(UD_E4M3, q);
    if (exact32) return;
    double d = fabs(q) * FQ_MARGIN_REL + FQ_MARGIN_ABS;
    double lo = ud_round_sat(UD_E4M3, q - d), hi = ud_round_sat(UD_E4M3, q + d);
    *r1 = lo != *r0 ? lo : hi;
}

int ref_fp8_quant_per_token(const ref_fq_args *a, ud_ref *q, ud_ref *scales, int use_mpfr)
{
    int64_t gpr = (a->hidden + a->group - 1) / a->group;
    for (int64_t r = 0; r < a->tokens; r++)
        for (int64_t j = 0; j < gpr; j++) {
            int64_t lo = r * a->hidden + j * a->group;
            int64_t len = a->hidden - j * a->group < a->group ? a->hidden - j * a->group : a->group;
            double amax = 0.0;
            for (int64_t i = 0; i < len; i++) {
                double v = fabs(ud_get(a->dt, a->x, (size_t)(lo + i)));
                if (v > amax) amax = v;       /* NaN ignored, as the spec's fmaxf */
            }
            float s = ref_fq_scale(a, amax, use_mpfr);
            size_t si = (size_t)(r * gpr + j);
            scales->r0[si] = scales->r1[si] = s;
            scales->s[si] = 0.0;
            for (int64_t i = 0; i < len; i++) {
                size_t e = (size_t)(lo + i);
                ref_fq_candidates(ud_get(a->dt, a->x, e), s, use_mpfr, &q->r0[e], &q->r1[e]);
                q->s[e] = 0.0;
            }
        }
    return UD_OK;
}
