/* rmsnorm.c — exact RMSNorm references: fast double path and MPFR path (formulas and the
 * candidate rule: spec/rmsnorm.h, docs/ops/rmsnorm.md). Every step is the reference's own,
 * written from the spec: nothing here comes from the kernel it judges. */
#include "spec/rmsnorm.h"

#include <math.h>
#include <mpfr.h>
#include <stdlib.h>

#include "numerics/status.h"
#include "reference/dd.h"

/* The value that is normalised, exactly as the spec defines it. */
static double input_value(const ref_rms_args *a, int64_t i)
{
    double x = ud_get(a->dt, a->x, (size_t)i);
    if (!a->fused) return x;
    double r = ud_get(a->dt, a->res, (size_t)i);
    /* x + r in double then one rounding: double rounding 53 -> p is innocuous for p <= 25. */
    return a->spec == RMS_SPEC_FLASHINFER ? (double)(float)(x + r) : ud_round(a->dt, x + r);
}

/* Candidates and scale for one output element from the (near-)exact n. */
static void finish(const ref_rms_args *a, int64_t j, double n, ud_ref *out, size_t i)
{
    double w = ud_get(a->dt, a->w, (size_t)j);
    double r0, r1;
    if (a->kind == RMS_KIND_GEMMA) {
        r0 = r1 = n * (double)(1.0f + (float)w);
    } else if (a->spec == RMS_SPEC_FLASHINFER || a->dt == UD_F32) {
        /* fp32 "rounding" of n is the working precision itself: the budget covers it. */
        r0 = r1 = n * w;
    } else {
        double lo = ud_round(a->dt, n - fabs(n) * a->margin_rel);
        double hi = ud_round(a->dt, n + fabs(n) * a->margin_rel);
        r0 = ud_round(a->dt, n) * w;   /* the correct rounding first */
        r1 = (lo != ud_round(a->dt, n) ? lo : hi) * w;
        /* products of two bf16/fp16 values are exact in double */
    }
    out->r0[i] = r0;
    out->r1[i] = r1;
    out->s[i] = fabs(r0);
}

static int row_fast(const ref_rms_args *a, int64_t row, ud_ref *out, ud_ref *res_out)
{
    dd sum = {0.0, 0.0};
    int special = 0;
    for (int64_t j = 0; j < a->n; j++) {
        double h = input_value(a, row * a->n + j);
        special |= !isfinite(h);
        sum = dd_add_d(sum, h * h);     /* h has <= 24 bits: h*h is exact in double */
    }
    /* mean + eps in double-double, then one sqrt and one division in double: < 2^-50 rel. */
    dd mean = dd_div_d(sum, (double)a->n);
    dd v = dd_add_d(mean, a->eps32);
    double inv = 1.0 / sqrt(v.hi + v.lo);
    /* A row holding Inf or NaN (e.g. an fp16 fused add that overflowed): the spec's fp32
     * arithmetic gives sum = Inf (NaN if any NaN), inv = 0, n = h * 0 — 0 for finite h and NaN
     * for infinite h. The error-free transformations would turn Inf into NaN; follow IEEE. */
    if (special) {
        double s = 0.0;
        for (int64_t j = 0; j < a->n; j++) {
            double h = input_value(a, row * a->n + j);
            s += h * h;
        }
        inv = 1.0 / sqrt(s);
    }
    for (int64_t j = 0; j < a->n; j++) {
        size_t i = (size_t)(row * a->n + j);
        double h = input_value(a, (int64_t)i);
        finish(a, j, h * inv, out, i);
        if (res_out) {
            double x = ud_get(a->dt, a->x, i), r = ud_get(a->dt, a->res, i);
            res_out->r0[i] = res_out->r1[i] = x + r;
            res_out->s[i] = fabs(x) + fabs(r);
        }
    }
    return UD_OK;
}

static int row_mpfr(const ref_rms_args *a, int64_t row, ud_ref *out, ud_ref *res_out)
{
    mpfr_t sum, t, inv;
    mpfr_inits2(256, sum, t, inv, (mpfr_ptr)0);
    mpfr_set_zero(sum, 1);
    for (int64_t j = 0; j < a->n; j++) {
        mpfr_set_d(t, input_value(a, row * a->n + j), MPFR_RNDN);
        mpfr_sqr(t, t, MPFR_RNDN);
        mpfr_add(sum, sum, t, MPFR_RNDN);   /* exact: 256 bits hold any sum of these */
    }
    mpfr_div_si(sum, sum, (long)a->n, MPFR_RNDN);
    mpfr_add_d(sum, sum, a->eps32, MPFR_RNDN);
    mpfr_rec_sqrt(inv, sum, MPFR_RNDN);
    for (int64_t j = 0; j < a->n; j++) {
        size_t i = (size_t)(row * a->n + j);
        mpfr_mul_d(t, inv, input_value(a, (int64_t)i), MPFR_RNDN);
        finish(a, j, mpfr_get_d(t, MPFR_RNDN), out, i);
        if (res_out) {
            double x = ud_get(a->dt, a->x, i), r = ud_get(a->dt, a->res, i);
            mpfr_set_d(t, x, MPFR_RNDN);
            mpfr_add_d(t, t, r, MPFR_RNDN);
            res_out->r0[i] = res_out->r1[i] = mpfr_get_d(t, MPFR_RNDN);
            res_out->s[i] = fabs(x) + fabs(r);
        }
    }
    mpfr_clears(sum, t, inv, (mpfr_ptr)0);
    return UD_OK;
}

int ref_rmsnorm(const ref_rms_args *a, ud_ref *out, ud_ref *res_out, int use_mpfr)
{
    for (int64_t row = 0; row < a->rows; row++)
        UD_TRY(use_mpfr ? row_mpfr(a, row, out, res_out) : row_fast(a, row, out, res_out));
    return UD_OK;
}
