/* tp_allreduce.c — exact reference of the tensor-parallel all-reduce of the MoE block and of its
 * fused residual + RMSNorm form (formulas, paths and the condition scales: spec/tp_allreduce.h,
 * docs/ops/tp_allreduce.md). Every step is the reference's own, written from the spec; the norm
 * of the fused form is reference/rmsnorm.c's (spec hf) applied to the spec's h*. */
#include "spec/tp_allreduce.h"

#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reference/dd.h"
#include "spec/rmsnorm.h"

/* Enough bits that adding any double to a sum of doubles is exact (exponents 2^-1074 .. 2^1024,
 * 53 bits of significand, carries). */
#define TPA_MPFR_PREC 2200

static size_t at(const ref_tpa_args *a, int64_t r, int64_t t, int64_t h)
{
    return (size_t)((r * a->tokens + t) * a->hidden + h);
}

/* The exact sum of n doubles as hi + lo, and their magnitudes' sum. Double-double (error below
 * n * 2^-104 * m); MPFR where asked or where the sum is under 2^-60 m (there the double-double
 * bound is no longer far below an output ulp); a non-finite term makes it the IEEE double sum,
 * what any order of additions gives for Inf and NaN. */
static dd exact_sum(const double *x, int n, int use_mpfr, mpfr_t acc, double *m)
{
    dd s = {0.0, 0.0};
    double plain = 0.0;
    int special = 0;
    *m = 0.0;
    for (int i = 0; i < n; i++) {
        special |= !isfinite(x[i]);
        plain += x[i];
        *m += fabs(x[i]);
        s = dd_add_d(s, x[i]);
    }
    if (special) {
        dd r = {plain, 0.0};
        *m = 0.0;   /* no condition scale where the value is not a number */
        return r;
    }
    if (!use_mpfr && fabs(s.hi) >= 0x1p-60 * *m) return s;
    mpfr_set_zero(acc, 1);
    for (int i = 0; i < n; i++) mpfr_add_d(acc, acc, x[i], MPFR_RNDN);   /* exact at 2200 bits */
    double hi = mpfr_get_d(acc, MPFR_RNDN);
    mpfr_sub_d(acc, acc, hi, MPFR_RNDN);
    dd r = {hi, mpfr_get_d(acc, MPFR_RNDN)};
    return r;
}

/* RN_dt(hi + lo) for |lo| <= ulp(hi) / 2: rounding hi alone is right unless hi lies exactly on
 * a midpoint of dt (then its neighbours c and 2 hi - c are both representable), where the sign
 * of lo decides. */
static double round_dd(ud_dtype dt, dd x)
{
    double c = ud_round(dt, x.hi);
    if (x.lo == 0.0 || c == x.hi || !isfinite(c)) return c;
    double other = 2.0 * x.hi - c;
    if (ud_round(dt, other) != other) return c;   /* not a midpoint */
    return (x.lo > 0) == (x.hi > c) ? other : c;
}

/* One element: the exact all-reduce value S (hi + lo), its condition scale m, the spec's
 * correctly rounded all-reduce result sigma*, and S + residual when res is given. */
typedef struct {
    dd sum, with_res;
    double m, sigma;
} element_t;

static void element(const ref_tpa_args *a, int64_t t, int64_t h, const double *res, int use_mpfr, mpfr_t acc,
                    double *terms, element_t *e)
{
    const int64_t R = a->ranks;
    int n = 0;
    double ma, mb;
    if (a->spec == TPA_SPEC_COMBINED) {
        for (int64_t r = 0; r < R; r++)   /* y_r = RN_T(moe + shared): the double sum rounds innocuously */
            terms[n++] = ud_round(a->dt, ud_get(a->dt, a->moe, at(a, r, t, h)) + ud_get(a->dt, a->shared, at(a, r, t, h)));
        e->sum = exact_sum(terms, n, use_mpfr, acc, &e->m);
        e->sigma = round_dd(a->dt, e->sum);
    } else {
        for (int64_t r = 0; r < R; r++) terms[n++] = ud_get(a->dt, a->moe, at(a, r, t, h));
        for (int64_t r = 0; r < R; r++) terms[n++] = ud_get(a->dt, a->shared, at(a, r, t, h));
        double sa = round_dd(a->dt, exact_sum(terms, (int)R, use_mpfr, acc, &ma));
        double sb = round_dd(a->dt, exact_sum(terms + R, (int)R, use_mpfr, acc, &mb));
        e->sum = exact_sum(terms, n, use_mpfr, acc, &e->m);
        e->sigma = ud_round(a->dt, sa + sb);   /* two T values: the double sum rounds innocuously */
    }
    if (res) {
        terms[n++] = *res;
        double unused;
        e->with_res = exact_sum(terms, n, use_mpfr, acc, &unused);
    }
}

static void set_ref(ud_ref *r, size_t i, double v, double s)
{
    r->r0[i] = r->r1[i] = v;
    r->s[i] = s;
}

/* The plain all-reduce: every rank's copy is S, scale m. */
static int plain(const ref_tpa_args *a, ud_ref *sum, int use_mpfr, mpfr_t acc, double *terms)
{
    for (int64_t t = 0; t < a->tokens; t++)
        for (int64_t h = 0; h < a->hidden; h++) {
            element_t e;
            element(a, t, h, NULL, use_mpfr, acc, terms, &e);
            for (int64_t q = 0; q < a->ranks; q++) set_ref(sum, at(a, q, t, h), e.sum.hi + e.sum.lo, e.m);
        }
    return UD_OK;
}

typedef struct {
    void *hrow, *ones;         /* h* of one row in dt; unit weights in dt */
    double *a, *hstar;         /* m + |residual|, h* as doubles */
    ud_ref cand;               /* rmsnorm's candidates of the row (unit weight) */
} row_bufs;

/* out's condition scale on one row (docs/ops/tp_allreduce.md, "fused form"): with
 * a'_j = a_j + h_abs / h_rel, A' = rms(a'), rho* = sqrt(mean(h*^2) + eps32), n* = h* / rho* and
 * theta = h_rel A' / rho* the relative size of the perturbation of rho: for theta < 1/2,
 *     s_j = |w_j| (|n*_j| + (a'_j + |n*_j| A') / (rho* (1 - theta)))
 * (the kernel's n then errs by at most h_rel (s_j / |w_j| - |n*_j|) beyond its own rounding);
 * else the row is too ill-conditioned for a first-order bound and only |n| <= sqrt(N) holds:
 *     s_j = |w_j| (|n*_j| + (sqrt(N) + |n*_j|) / h_rel). Rows holding Inf or NaN: 0. */
static void out_scale(const ref_tpa_args *a, const row_bufs *b, int64_t t, double *s)
{
    const int64_t N = a->hidden;
    dd sq = {0.0, 0.0};
    double aa = 0.0, shift = a->h_rel > 0 ? a->h_abs / a->h_rel : 0.0;
    int special = 0;
    for (int64_t j = 0; j < N; j++) {
        double hj = b->hstar[j], aj = b->a[j] + shift;
        special |= !isfinite(hj) || !isfinite(aj);
        sq = dd_add_d(sq, hj * hj);   /* h* has <= 24 bits: h*^2 is exact in double */
        aa += aj * aj;
    }
    if (special) {
        for (int64_t j = 0; j < N; j++) s[j] = 0.0;
        return;
    }
    dd v = dd_add_d(dd_div_d(sq, (double)N), a->eps32);
    double rho = sqrt(v.hi + v.lo), A = sqrt(aa / (double)N), theta = a->h_rel * A / rho;
    for (int64_t j = 0; j < N; j++) {
        double w = fabs(ud_get(a->wdt, a->weight, (size_t)j)), n = fabs(b->hstar[j] / rho);
        double q = theta < 0.5 ? (b->a[j] + shift + n * A) / (rho * (1.0 - theta))
                               : (sqrt((double)N) + n) / a->h_rel;
        s[j] = w * (n + q);
    }
    (void)t;
}

static int fused(const ref_tpa_args *a, ud_ref *out, ud_ref *res_out, int use_mpfr, mpfr_t acc, double *terms)
{
    const int64_t N = a->hidden;
    const size_t esz = ud_format(a->dt)->size;
    row_bufs b;
    memset(&b, 0, sizeof b);
    double *s = NULL;
    int rc = UD_OK;
    b.hrow = malloc((size_t)N * esz);
    b.ones = malloc((size_t)N * esz);
    b.a = malloc((size_t)N * sizeof(double));
    b.hstar = malloc((size_t)N * sizeof(double));
    s = malloc((size_t)N * sizeof(double));
    b.cand.n = (size_t)N;
    b.cand.r0 = malloc((size_t)N * sizeof(double));
    b.cand.r1 = malloc((size_t)N * sizeof(double));
    b.cand.s = malloc((size_t)N * sizeof(double));
    if (!b.hrow || !b.ones || !b.a || !b.hstar || !s || !b.cand.r0 || !b.cand.r1 || !b.cand.s) {
        ud_error("tp_allreduce reference: out of memory for a row of %lld", (long long)N);
        rc = UD_EINTERNAL;
        goto done;
    }
    for (int64_t j = 0; j < N; j++) ud_set(a->dt, b.ones, (size_t)j, 1.0);
    for (int64_t t = 0; t < a->tokens && rc == UD_OK; t++) {
        for (int64_t h = 0; h < N; h++) {
            double res = ud_get(a->dt, a->residual, (size_t)(t * N + h));
            element_t e;
            element(a, t, h, &res, use_mpfr, acc, terms, &e);
            /* h* = RN_T(sigma* + residual): two T values, the double sum rounds innocuously. */
            b.hstar[h] = ud_round(a->dt, e.sigma + res);
            ud_set(a->dt, b.hrow, (size_t)h, b.hstar[h]);
            b.a[h] = e.m + fabs(res);
            if (res_out)
                for (int64_t q = 0; q < a->ranks; q++)
                    set_ref(res_out, at(a, q, t, h), e.with_res.hi + e.with_res.lo, e.m);
        }
        if (!out) continue;
        /* out = rmsnorm_hf(h*) * w: reference/rmsnorm.c's candidates with unit weights, times w
         * (a product of a T candidate and an fp32 or T weight is exact in double). */
        ref_rms_args ra;
        memset(&ra, 0, sizeof ra);
        ra.dt = a->dt;
        ra.kind = RMS_KIND_LLAMA;
        ra.spec = RMS_SPEC_HF;
        ra.rows = 1;
        ra.n = N;
        ra.eps32 = a->eps32;
        ra.x = b.hrow;
        ra.w = b.ones;
        ra.margin_rel = a->norm_margin_rel;
        rc = ref_rmsnorm(&ra, &b.cand, NULL, use_mpfr);
        out_scale(a, &b, t, s);
        for (int64_t h = 0; rc == UD_OK && h < N; h++) {
            double w = ud_get(a->wdt, a->weight, (size_t)h);
            for (int64_t q = 0; q < a->ranks; q++) {
                size_t i = at(a, q, t, h);
                out->r0[i] = b.cand.r0[h] * w;
                out->r1[i] = b.cand.r1[h] * w;
                out->s[i] = s[h];
            }
        }
    }
done:
    free(b.hrow);
    free(b.ones);
    free(b.a);
    free(b.hstar);
    free(s);
    free(b.cand.r0);
    free(b.cand.r1);
    free(b.cand.s);
    return rc;
}

int ref_tp_allreduce(const ref_tpa_args *a, ud_ref *sum_or_out, ud_ref *res_out, int use_mpfr)
{
    if (a->ranks < 1 || a->ranks > TPA_MAX_RANKS) {
        ud_error("tp_allreduce reference: %lld ranks (1..%d)", (long long)a->ranks, TPA_MAX_RANKS);
        return UD_EUSAGE;
    }
    double terms[2 * TPA_MAX_RANKS + 1];
    mpfr_t acc;
    mpfr_init2(acc, TPA_MPFR_PREC);
    int rc = a->residual ? fused(a, sum_or_out, res_out, use_mpfr, acc, terms) : plain(a, sum_or_out, use_mpfr, acc, terms);
    mpfr_clear(acc);
    return rc;
}
