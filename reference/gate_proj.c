/* gate_proj.c — exact router logits (OpenBLAS dgemm / Sum2 / MPFR) and exact logit
 * comparisons (paths and their error bounds: spec/gate_proj.h, docs/ops/gate_proj.md). The
 * routing-flip metric, which judges the kernel's logits, is harness work:
 * harness/core/routing.c. */
#include "spec/gate_proj.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

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
