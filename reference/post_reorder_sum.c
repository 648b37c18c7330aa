/* post_reorder_sum.c — exact MoE combine reference: double-double fast path, MPFR where it
 * cannot decide or when asked (formula and paths: spec/post_reorder_sum.h,
 * docs/ops/post_reorder_sum.md). */
#include "spec/post_reorder_sum.h"

#include <math.h>
#include <mpfr.h>

#include "numerics/status.h"
#include "reference/dd.h"

/* Enough bits that adding any double to a sum of doubles is exact: exponents span
 * 2^-1074 .. 2^1024 (2098 bits) plus 53 bits of significand plus carries. */
#define PRS_MPFR_PREC 2200

static double product(const ref_prs_args *a, int64_t t, int64_t k, int64_t h)
{
    int64_t s = t * a->topk + k;
    double d = ud_get(a->dt, a->down, (size_t)((int64_t)a->src2dst[s] * a->hidden + h));
    return (double)a->w[s] * d;   /* exact: 24 x <= 24 significant bits */
}

/* The spec's terms: local experts only (-1 and any other id outside [0, experts) are not). */
static int term(const ref_prs_args *a, int64_t t, int64_t k)
{
    int32_t id = a->ids[t * a->topk + k];
    return id >= 0 && id < a->experts;
}

static double element_mpfr(const ref_prs_args *a, int64_t t, int64_t h, mpfr_t acc)
{
    mpfr_set_zero(acc, 1);
    for (int64_t k = 0; k < a->topk; k++)
        if (term(a, t, k)) mpfr_add_d(acc, acc, product(a, t, k, h), MPFR_RNDN);
    return mpfr_get_d(acc, MPFR_RNDN);
}

int ref_post_reorder_sum(const ref_prs_args *a, ud_ref *out, int use_mpfr)
{
    mpfr_t acc;
    mpfr_init2(acc, PRS_MPFR_PREC);
    for (int64_t t = 0; t < a->tokens; t++)
        for (int64_t h = 0; h < a->hidden; h++) {
            size_t i = (size_t)(t * a->hidden + h);
            dd sum = {0.0, 0.0};
            double s = 0.0, plain = 0.0;
            int special = 0;
            for (int64_t k = 0; k < a->topk; k++) {
                if (!term(a, t, k)) continue;
                double p = product(a, t, k, h);
                special |= !isfinite(p);
                plain += p;
                s += fabs(p);
                sum = dd_add_d(sum, p);
            }
            double r;
            if (special) r = plain;
            else if (use_mpfr || fabs(sum.hi) < 0x1p-60 * s) r = element_mpfr(a, t, h, acc);
            else r = sum.hi + sum.lo;
            out->r0[i] = out->r1[i] = r;
            out->s[i] = isfinite(s) ? s : 0.0;
        }
    mpfr_clear(acc);
    return UD_OK;
}
