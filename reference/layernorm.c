/* layernorm.c — exact LayerNorm references: double-double fast path and MPFR path
 * (formulas and the condition scale: spec/layernorm.h, docs/ops/layernorm.md). Every step is
 * the reference's own, written from the spec: nothing here comes from the kernel it judges. */
#include "spec/layernorm.h"

#include <math.h>
#include <mpfr.h>

#include "numerics/status.h"
#include "reference/dd.h"

#define MP_PREC 256

/* dd products: the error-free product of the leading parts plus the cross terms, ~2^-104. */
static dd ln_dd_mul(dd a, dd b)
{
    dd p = dd_two_prod(a.hi, b.hi);
    return dd_two_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

static dd ln_dd_mul_d(dd a, double b)
{
    dd p = dd_two_prod(a.hi, b);
    return dd_two_sum(p.hi, p.lo + a.lo * b);
}

static dd ln_dd_neg(dd a)
{
    dd r = {-a.hi, -a.lo};
    return r;
}

static double param(const ref_ln_args *a, const void *p, int64_t j, double absent)
{
    return p ? ud_get(a->pdt, p, (size_t)j) : absent;
}

/* The condition scale of element j (layernorm.h): d = x - mean, R = 1/sqrt(var + eps),
 * amean = mean |x| of the row. */
static double scale(const ref_ln_args *a, double x, double d, double R, double amean, double w, double b)
{
    double rw = fabs(R * w);
    double c = a->mean_err_u, ar = amean * R;
    double second = 0.5 * c * c * 0x1p-24 * ar * ar;
    if (!(second < 0x1p24)) second = 0x1p24;   /* also catches ar = Inf/NaN */
    return (fabs(x) + amean) * rw + fabs(b) + fabs(d) * rw * second;
}

/* A row holding Inf or NaN: the kernel's fp32 statistics become NaN (the non-finite element's
 * own deviation is Inf - Inf or NaN), and so does every output. */
static int row_special(const ref_ln_args *a, int64_t row, ud_ref *out)
{
    int special = 0;
    for (int64_t j = 0; j < a->n && !special; j++) special = !isfinite(ud_get(a->dt, a->x, (size_t)(row * a->n + j)));
    if (!special) return 0;
    for (int64_t j = 0; j < a->n; j++) {
        size_t i = (size_t)(row * a->n + j);
        out->r0[i] = out->r1[i] = NAN;
        out->s[i] = 0.0;
    }
    return 1;
}

static const void *w_ptr(const ref_ln_args *a) { return a->affine != LN_AFFINE_NONE ? a->w : NULL; }
static const void *b_ptr(const ref_ln_args *a) { return a->affine == LN_AFFINE_WEIGHT_BIAS ? a->b : NULL; }

static void row_fast(const ref_ln_args *a, int64_t row, ud_ref *out)
{
    const int64_t base = row * a->n;
    dd sum = {0.0, 0.0}, asum = {0.0, 0.0};
    for (int64_t j = 0; j < a->n; j++) {
        double x = ud_get(a->dt, a->x, (size_t)(base + j));
        sum = dd_add_d(sum, x);
        asum = dd_add_d(asum, fabs(x));
    }
    dd mean = dd_div_d(sum, (double)a->n), nmean = ln_dd_neg(mean);
    double amean = dd_div_d(asum, (double)a->n).hi;
    dd q = {0.0, 0.0};
    for (int64_t j = 0; j < a->n; j++) {
        dd d = dd_add_d(nmean, ud_get(a->dt, a->x, (size_t)(base + j)));
        q = dd_add(q, ln_dd_mul(d, d));
    }
    dd v = dd_add_d(dd_div_d(q, (double)a->n), a->eps32);
    /* R = 1/sqrt(v): double estimate r0, then one Newton step r0 (1 + h/2), h = 1 - v r0^2,
     * whose error 3h^2/8 is ~2^-104. */
    double r0 = 1.0 / sqrt(v.hi + v.lo);
    dd h = dd_add_d(ln_dd_neg(ln_dd_mul_d(ln_dd_mul_d(v, r0), r0)), 1.0);
    dd R = dd_two_sum(r0, 0.5 * r0 * (h.hi + h.lo));
    const void *wp = w_ptr(a), *bp = b_ptr(a);
    for (int64_t j = 0; j < a->n; j++) {
        size_t i = (size_t)(base + j);
        double x = ud_get(a->dt, a->x, i), w = param(a, wp, j, 1.0), b = param(a, bp, j, 0.0);
        dd d = dd_add_d(nmean, x);
        dd y = ln_dd_mul(d, R);
        if (wp) y = ln_dd_mul_d(y, w);
        if (bp) y = dd_add_d(y, b);
        out->r0[i] = out->r1[i] = y.hi + y.lo;
        out->s[i] = scale(a, x, d.hi, R.hi, amean, w, b);
    }
}

static void row_mpfr(const ref_ln_args *a, int64_t row, ud_ref *out)
{
    const int64_t base = row * a->n;
    mpfr_t sum, asum, q, t, R;
    mpfr_inits2(MP_PREC, sum, asum, q, t, R, (mpfr_ptr)0);
    mpfr_set_zero(sum, 1);
    mpfr_set_zero(asum, 1);
    for (int64_t j = 0; j < a->n; j++) {
        double x = ud_get(a->dt, a->x, (size_t)(base + j));
        mpfr_add_d(sum, sum, x, MPFR_RNDN);
        mpfr_add_d(asum, asum, fabs(x), MPFR_RNDN);
    }
    mpfr_div_si(sum, sum, (long)a->n, MPFR_RNDN);          /* sum now holds the mean */
    mpfr_div_si(asum, asum, (long)a->n, MPFR_RNDN);
    double amean = mpfr_get_d(asum, MPFR_RNDN);
    mpfr_set_zero(q, 1);
    for (int64_t j = 0; j < a->n; j++) {
        mpfr_d_sub(t, ud_get(a->dt, a->x, (size_t)(base + j)), sum, MPFR_RNDN);
        mpfr_sqr(t, t, MPFR_RNDN);
        mpfr_add(q, q, t, MPFR_RNDN);
    }
    mpfr_div_si(q, q, (long)a->n, MPFR_RNDN);
    mpfr_add_d(q, q, a->eps32, MPFR_RNDN);
    mpfr_rec_sqrt(R, q, MPFR_RNDN);
    double Rd = mpfr_get_d(R, MPFR_RNDN);
    const void *wp = w_ptr(a), *bp = b_ptr(a);
    for (int64_t j = 0; j < a->n; j++) {
        size_t i = (size_t)(base + j);
        double x = ud_get(a->dt, a->x, i), w = param(a, wp, j, 1.0), b = param(a, bp, j, 0.0);
        mpfr_d_sub(t, x, sum, MPFR_RNDN);
        double d = mpfr_get_d(t, MPFR_RNDN);
        mpfr_mul(t, t, R, MPFR_RNDN);
        if (wp) mpfr_mul_d(t, t, w, MPFR_RNDN);
        if (bp) mpfr_add_d(t, t, b, MPFR_RNDN);
        out->r0[i] = out->r1[i] = mpfr_get_d(t, MPFR_RNDN);
        out->s[i] = scale(a, x, d, Rd, amean, w, b);
    }
    mpfr_clears(sum, asum, q, t, R, (mpfr_ptr)0);
}

int ref_layernorm(const ref_ln_args *a, ud_ref *out, int use_mpfr)
{
    if (a->eps32 <= 0.0) { ud_error("layernorm reference: eps must be positive"); return UD_EINTERNAL; }
    for (int64_t row = 0; row < a->rows; row++) {
        if (row_special(a, row, out)) continue;
        if (use_mpfr) row_mpfr(a, row, out);
        else row_fast(a, row, out);
    }
    return UD_OK;
}
