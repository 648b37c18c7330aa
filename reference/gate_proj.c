/* gate_proj.c — exact router logits (OpenBLAS dgemm / Sum2 / MPFR) and the routing-flip
 * metric (see gate_proj.h). */
#include "reference/gate_proj.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gate_proj.h"
#include "numerics/status.h"
#include "reference/dd.h"

#define EPS53 0x1p-53
/* A logit is decided when its error bound is at most 2^-31 of its magnitude. */
#define DECIDE_REL 0x1p-31

static double gamma53(int64_t n) { return (double)n * EPS53 / (1.0 - (double)n * EPS53); }

static int decides(double bound, double r) { return bound * (1.0 + DECIDE_REL) <= DECIDE_REL * fabs(r); }

/* The operand the model multiplies (exact as a double). */
static double operand(const ref_gate_args *a, ud_dtype dt, const void *p, size_t i)
{
    double v = ud_get(dt, p, i);
    return a->bf16_operands ? ud_round(UD_BF16, v) : v;
}

/* ---- MPFR: correctly rounded sums of exact double products ---- */
typedef struct {
    size_t cap;
    mpfr_t *terms;
    mpfr_ptr *ptrs;
    mpfr_t sum;
} msum;

static int msum_init(msum *m, size_t cap)
{
    memset(m, 0, sizeof *m);
    m->terms = malloc((cap ? cap : 1) * sizeof *m->terms);
    m->ptrs = malloc((cap ? cap : 1) * sizeof *m->ptrs);
    if (!m->terms || !m->ptrs) {
        free(m->terms);
        free(m->ptrs);
        UD_ALLOC_CHECK(NULL);
    }
    for (size_t i = 0; i < cap; i++) {
        mpfr_init2(m->terms[i], 53);   /* a product of two <= 24-bit values fits in 53 bits */
        m->ptrs[i] = m->terms[i];
    }
    m->cap = cap;
    mpfr_init2(m->sum, 53);
    return UD_OK;
}

static void msum_free(msum *m)
{
    for (size_t i = 0; i < m->cap; i++) mpfr_clear(m->terms[i]);
    if (m->terms) mpfr_clear(m->sum);
    free(m->terms);
    free(m->ptrs);
    m->terms = NULL;
    m->ptrs = NULL;
}

/* RN_53(sum of the n terms already set) — mpfr_sum rounds the exact sum once. */
static double msum_eval(msum *m, size_t n)
{
    mpfr_sum(m->sum, m->ptrs, (unsigned long)n, MPFR_RNDN);
    return mpfr_get_d(m->sum, MPFR_RNDN);
}

static void row_operands(const ref_gate_args *a, int64_t t, double *xrow)
{
    for (int64_t h = 0; h < a->hidden; h++) xrow[h] = operand(a, a->xdt, a->x, (size_t)(t * a->hidden + h));
}

static double logit_mpfr(msum *m, const double *xrow, const double *wrow, int64_t n)
{
    for (int64_t h = 0; h < n; h++) mpfr_set_d(m->terms[h], xrow[h] * wrow[h], MPFR_RNDN);   /* exact */
    return msum_eval(m, (size_t)n);
}

/* Sum2: cascaded TwoSum, as accurate as a sum in twice the precision then rounded. */
static double logit_sum2(const double *xrow, const double *wrow, int64_t n)
{
    double s = 0.0, c = 0.0;
    for (int64_t h = 0; h < n; h++) {
        dd p = dd_two_sum(s, xrow[h] * wrow[h]);
        s = p.hi;
        c += p.lo;
    }
    return s + c;
}

static int all_mpfr(const ref_gate_args *a, const double *w, ud_ref *out, ref_gate_paths *paths)
{
    const int64_t H = a->hidden, E = a->experts;
    double *xrow = malloc((size_t)H * sizeof *xrow);
    UD_ALLOC_CHECK(xrow);
    msum m;
    int rc = msum_init(&m, (size_t)H);
    if (rc != UD_OK) { free(xrow); return rc; }
    for (int64_t t = 0; t < a->tokens; t++) {
        row_operands(a, t, xrow);
        for (int64_t e = 0; e < E; e++) {
            size_t i = (size_t)(t * E + e);
            const double *wrow = w + e * H;
            double s = 0.0;
            for (int64_t h = 0; h < H; h++) s += fabs(xrow[h] * wrow[h]);
            out->r0[i] = out->r1[i] = logit_mpfr(&m, xrow, wrow, H);
            out->s[i] = s;
        }
    }
    if (paths) paths->mpfr += (size_t)(a->tokens * E);
    msum_free(&m);
    free(xrow);
    return UD_OK;
}

/* dgemm for every logit and scale, then Sum2 / MPFR for the logits dgemm cannot decide. */
static int fast(const ref_gate_args *a, double *x, const double *w, ud_ref *out, ref_gate_paths *paths)
{
    const int64_t T = a->tokens, H = a->hidden, E = a->experts;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)E, (int)H, 1.0, x, (int)H, w, (int)H, 0.0,
                out->r0, (int)E);
    /* s = |x| |W|^T: a sum of non-negative terms, so dgemm's s_hat >= (1 - gamma) s. */
    double *wabs = malloc((size_t)(E * H) * sizeof *wabs);
    UD_ALLOC_CHECK(wabs);
    for (int64_t i = 0; i < E * H; i++) wabs[i] = fabs(w[i]);
    for (int64_t i = 0; i < T * H; i++) x[i] = fabs(x[i]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)E, (int)H, 1.0, x, (int)H, wabs, (int)H, 0.0,
                out->s, (int)E);
    free(wabs);

    const double g = gamma53(H), g2 = gamma53(H > 1 ? H - 1 : 1);
    double *xrow = malloc((size_t)H * sizeof *xrow);
    UD_ALLOC_CHECK(xrow);
    msum m = {0};
    int rc = UD_OK;
    for (int64_t t = 0; rc == UD_OK && t < T; t++) {
        int have_row = 0;
        for (int64_t e = 0; e < E; e++) {
            size_t i = (size_t)(t * E + e);
            double s_up = out->s[i] / (1.0 - g);
            if (decides(g * s_up, out->r0[i])) { paths->dgemm++; continue; }
            if (!have_row) { row_operands(a, t, xrow); have_row = 1; }   /* x now holds |x| */
            const double *wrow = w + e * H;
            double r = logit_sum2(xrow, wrow, H);
            if (decides((EPS53 * fabs(r) + g2 * g2 * s_up) / (1.0 - EPS53), r)) {
                out->r0[i] = r;
                paths->sum2++;
                continue;
            }
            if (!m.terms && (rc = msum_init(&m, (size_t)H)) != UD_OK) break;
            out->r0[i] = logit_mpfr(&m, xrow, wrow, H);
            paths->mpfr++;
        }
    }
    for (size_t i = 0; i < out->n; i++) out->r1[i] = out->r0[i];
    msum_free(&m);
    free(xrow);
    return rc;
}

int ref_gate_logits(const ref_gate_args *a, ud_ref *out, int use_mpfr, ref_gate_paths *paths)
{
    const int64_t T = a->tokens, H = a->hidden, E = a->experts;
    if (T > INT_MAX || H > INT_MAX || E > INT_MAX || (double)H * EPS53 > 0x1p-20) {
        ud_error("gate_proj reference: shape %lld x %lld x %lld out of range", (long long)T, (long long)H, (long long)E);
        return UD_EINTERNAL;
    }
    ref_gate_paths local = {0, 0, 0};
    if (!paths) paths = &local;
    double *x = malloc((size_t)(T * H) * sizeof *x), *w = malloc((size_t)(E * H) * sizeof *w);
    if (!x || !w) { free(x); free(w); UD_ALLOC_CHECK(NULL); }
    for (int64_t i = 0; i < T * H; i++) x[i] = operand(a, a->xdt, a->x, (size_t)i);
    for (int64_t i = 0; i < E * H; i++) w[i] = operand(a, a->wdt, a->w, (size_t)i);
    int rc = use_mpfr ? all_mpfr(a, w, out, paths) : fast(a, x, w, out, paths);
    free(x);
    free(w);
    return rc;
}

int ref_gate_cmp(const ref_gate_args *a, int64_t t, int64_t ea, int64_t eb)
{
    const int64_t H = a->hidden;
    msum m;
    if (msum_init(&m, (size_t)(2 * H)) != UD_OK) return -2;
    for (int64_t h = 0; h < H; h++) {
        double x = operand(a, a->xdt, a->x, (size_t)(t * H + h));
        mpfr_set_d(m.terms[2 * h], x * operand(a, a->wdt, a->w, (size_t)(ea * H + h)), MPFR_RNDN);
        mpfr_set_d(m.terms[2 * h + 1], -(x * operand(a, a->wdt, a->w, (size_t)(eb * H + h))), MPFR_RNDN);
    }
    msum_eval(&m, (size_t)(2 * H));
    int sgn = mpfr_sgn(m.sum);   /* exact: mpfr_sum rounds the exact difference once */
    msum_free(&m);
    return sgn > 0 ? 1 : sgn < 0 ? -1 : 0;
}

/* ---- routing flips ---- */

typedef struct { double s; int64_t e; } ranked;

static int by_score_desc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->e > b->e) - (a->e < b->e);
}

/* Bound on |score(got) - score(ref)| for a logit known to within tol, plus the double
 * evaluation error of both scores (sigmoid: a few ulps of a value below 1, then + bias). */
static double score_bound(int scoring, double r, double tol, double bias)
{
    if (scoring == GATE_SCORE_SOFTMAX) return tol;
    double lo = r - tol, hi = r + tol, d = 0.25;   /* max of sigmoid' = s(1 - s), at 0 */
    if (!(lo <= 0.0 && hi >= 0.0)) {
        double m = exp(-fmin(fabs(lo), fabs(hi)));
        d = m / ((1.0 + m) * (1.0 + m)) * (1.0 + 0x1p-40);
    }
    return d * tol + 0x1p-48 * (1.0 + fabs(bias));
}

int ref_gate_routing(const ref_gate_args *a, const ud_ref *ref, const ref_route_args *r, ref_route_stats *st)
{
    const int64_t E = a->experts, k = r->topk;
    memset(st, 0, sizeof *st);
    st->first_flip = st->first_in = st->first_out = -1;
    ranked *ord = malloc((size_t)E * sizeof *ord);
    double *ks = malloc((size_t)E * sizeof *ks), *d = malloc((size_t)E * sizeof *d), *rs = malloc((size_t)E * sizeof *rs);
    unsigned char *in = malloc((size_t)E);
    if (!ord || !ks || !d || !rs || !in) {
        free(ord); free(ks); free(d); free(rs); free(in);
        UD_ALLOC_CHECK(NULL);
    }
    int rc = UD_OK;
    for (int64_t t = 0; t < a->tokens; t++) {
        st->tokens++;
        for (int64_t e = 0; e < E; e++) {
            size_t i = (size_t)(t * E + e);
            double b = r->scoring == GATE_SCORE_SIGMOID_BIAS ? (double)r->bias[e] : 0.0;
            rs[e] = gate_score(r->scoring, ref->r0[i], b);
            ks[e] = gate_score(r->scoring, r->got[i], b);
            d[e] = score_bound(r->scoring, ref->r0[i], r->tol[i], b);
            ord[e] = (ranked){rs[e], e};
        }
        if (k >= E) { st->decidable++; continue; }
        qsort(ord, (size_t)E, sizeof *ord, by_score_desc);
        int64_t ea = ord[k - 1].e, eb = ord[k].e;
        /* Exact tie at the boundary: equal logits (and equal biases when they count). Exactly
         * equal logits have reference values within 2^-30 of each other (each is within 2^-31
         * of exact), so only such pairs go to the exact comparison. */
        double la = ref->r0[t * E + ea], lb = ref->r0[t * E + eb];
        if (fabs(la - lb) <= 0x1p-29 * (fabs(la) + fabs(lb)) &&
            (r->scoring == GATE_SCORE_SOFTMAX || r->bias[ea] == r->bias[eb])) {
            int c = ref_gate_cmp(a, t, ea, eb);
            if (c == -2) { rc = UD_EINTERNAL; break; }
            if (c == 0) { st->ties++; continue; }
        }
        memset(in, 0, (size_t)E);
        for (int64_t j = 0; j < k; j++) in[ord[j].e] = 1;
        double lo_in = INFINITY, hi_out = -INFINITY, kmin_in = INFINITY, kmax_out = -INFINITY;
        int nan = 0;
        for (int64_t e = 0; e < E; e++) {
            if (isnan(ks[e])) nan = 1;
            if (in[e]) { lo_in = fmin(lo_in, rs[e] - d[e]); kmin_in = fmin(kmin_in, ks[e]); }
            else { hi_out = fmax(hi_out, rs[e] + d[e]); kmax_out = fmax(kmax_out, ks[e]); }
        }
        int flip = nan || !(kmin_in > kmax_out);
        st->flips_all += (size_t)flip;
        if (lo_in > hi_out) {
            st->decidable++;
            if (flip && st->flips++ == 0) { st->first_flip = t; st->first_in = ea; st->first_out = eb; }
        } else {
            st->undecidable++;
        }
    }
    free(ord); free(ks); free(d); free(rs); free(in);
    return rc;
}
