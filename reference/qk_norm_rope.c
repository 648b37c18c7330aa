/* qk_norm_rope.c — exact reference of the fused per-head QK RMSNorm + partial RoPE: fast path
 * (double-double sum of squares, libm cos/sin, double-double rotation, MPFR where a double
 * cannot decide a table rounding) and MPFR path (formulas, candidates and scales:
 * spec/qk_norm_rope.h, docs/ops/qk_norm_rope.md). Every step is the reference's own, written
 * from the spec — the pairing of dimensions and the candidate rules included; the only thing
 * taken from another reference is rope's inv_freq (ref_rope_inv_freq, reference/rope.c: the
 * correctly rounded fp32 power and its second candidate), which is this spec's inv_freq by
 * definition. Nothing here comes from the kernel it judges. */
#include "spec/qk_norm_rope.h"

#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reference/candidates.h"
#include "reference/dd.h"

#define MP_PREC 128
#define NORM_PREC 256
#define LIBM_REL_ERR 0x1p-50   /* glibc's cos/sin are within 1 ulp (2^-52); 4x of room */
#define U_W 0x1p-24
#define HALF_MAX (QKR_MAX_HEAD_DIM / 2)

typedef struct { double c[2], s[2]; } entry;   /* [0] the primary value, [1] the other candidate */

typedef struct {
    const ref_qkr_args *a;
    int use_mpfr, half, exact_y;
    float inv[HALF_MAX][2];
    int ntheta[HALF_MAX];
    entry e[2][HALF_MAX];                  /* per angle candidate, per pair: this token's */
    mpfr_t mc[2][HALF_MAX], ms[2][HALF_MAX];   /* exact cos/sin (fp32 table, MPFR path) */
    mpfr_t t1, t2, tmp;
    double y0[QKR_MAX_HEAD_DIM], y1[QKR_MAX_HEAD_DIM];   /* y and its other candidate */
} ctx;

/* This token's table entries for pair i and angle candidate j: theta = RN_32(pos * inv_freq). */
static void fill_entry(ctx *x, int j, int i, int32_t pos)
{
    const ref_qkr_args *a = x->a;
    float th = (float)pos * x->inv[i][j];
    entry *en = &x->e[j][i];
    if (a->tdt == UD_F32) {   /* exact cos/sin; the table's fp32 rounding is kernel error */
        if (x->use_mpfr) {
            mpfr_set_flt(x->tmp, th, MPFR_RNDN);
            mpfr_sin_cos(x->ms[j][i], x->mc[j][i], x->tmp, MPFR_RNDN);
            en->c[0] = en->c[1] = mpfr_get_d(x->mc[j][i], MPFR_RNDN);
            en->s[0] = en->s[1] = mpfr_get_d(x->ms[j][i], MPFR_RNDN);
        } else {
            en->c[0] = en->c[1] = cos((double)th);
            en->s[0] = en->s[1] = sin((double)th);
        }
        return;
    }
    const double m = a->table_margin;
    if (!x->use_mpfr && ref_cands_fast(a->tdt, cos((double)th), m, LIBM_REL_ERR, &en->c[0], &en->c[1]) &&
        ref_cands_fast(a->tdt, sin((double)th), m, LIBM_REL_ERR, &en->s[0], &en->s[1]))
        return;
    mpfr_set_flt(x->tmp, th, MPFR_RNDN);
    mpfr_sin_cos(x->ms[j][i], x->mc[j][i], x->tmp, MPFR_RNDN);
    ref_cands_mp(a->tdt, x->mc[j][i], m, x->t1, &en->c[0], &en->c[1]);
    ref_cands_mp(a->tdt, x->ms[j][i], m, x->t1, &en->s[0], &en->s[1]);
}

/* self c -+ partner s. Non-finite inputs follow IEEE (the kernel's fp32 arithmetic). */
static double rot_d(double self, double partner, double c, double s, int first)
{
    if (!isfinite(self) || !isfinite(partner)) return first ? self * c - partner * s : self * c + partner * s;
    dd r = dd_add(dd_two_prod(self, c), dd_two_prod(first ? -partner : partner, s));
    return r.hi + r.lo;
}

/* The rotation with angle candidate j's table values (c, s): exact cos/sin from MPFR when the
 * table is fp32 and the MPFR path is asked for; the doubles otherwise (exact for a T table). */
static double rot(ctx *x, int j, int i, double self, double partner, double c, double s, int first)
{
    if (!(x->use_mpfr && x->a->tdt == UD_F32) || !isfinite(self) || !isfinite(partner))
        return rot_d(self, partner, c, s, first);
    mpfr_mul_d(x->t1, x->mc[j][i], self, MPFR_RNDN);
    mpfr_mul_d(x->t2, x->ms[j][i], partner, MPFR_RNDN);
    if (first) mpfr_sub(x->t1, x->t1, x->t2, MPFR_RNDN);
    else mpfr_add(x->t1, x->t1, x->t2, MPFR_RNDN);
    return mpfr_get_d(x->t1, MPFR_RNDN);
}

/* One rotated element: self = y[ds], partner = y[dp], pair i. Candidates: r0 from every primary
 * value; r1 the alternative of the ambiguous quantity (y of self or partner, cos, sin, the
 * angle) with the largest effect; the effect of any further ambiguity goes into the scale. */
static void rotated(ctx *x, int i, int first, int ds, int dp, ud_ref *r, size_t idx)
{
    const ref_qkr_args *a = x->a;
    const entry *e0 = &x->e[0][i];
    double ys0 = x->y0[ds], ys1 = x->y1[ds], yp0 = x->y0[dp], yp1 = x->y1[dp];
    double c0 = e0->c[0], s0 = e0->s[0];
    double r0 = rot(x, 0, i, ys0, yp0, c0, s0, first);
    double sc = fabs(ys0 * c0) + fabs(yp0 * s0);
    /* the alternatives, one ambiguous quantity each, with a bound on their effect */
    double alt[5], eff[5];
    int n = 0;
    if (ys1 != ys0 && !isnan(ys0)) { alt[n] = rot(x, 0, i, ys1, yp0, c0, s0, first); eff[n++] = fabs(ys1 - ys0) * fabs(c0); }
    if (yp1 != yp0 && !isnan(yp0)) { alt[n] = rot(x, 0, i, ys0, yp1, c0, s0, first); eff[n++] = fabs(yp1 - yp0) * fabs(s0); }
    if (e0->c[1] != c0) { alt[n] = rot_d(ys0, yp0, e0->c[1], s0, first); eff[n++] = fabs(ys0) * fabs(e0->c[1] - c0); }
    if (e0->s[1] != s0) { alt[n] = rot_d(ys0, yp0, c0, e0->s[1], first); eff[n++] = fabs(yp0) * fabs(e0->s[1] - s0); }
    double widen = 0.0;
    if (x->ntheta[i] == 2) {
        const entry *e1 = &x->e[1][i];
        alt[n] = rot(x, 1, i, ys0, yp0, e1->c[0], e1->s[0], first);
        eff[n++] = fabs(ys0) * fabs(e1->c[0] - c0) + fabs(yp0) * fabs(e1->s[0] - s0);
        widen += fabs(ys0) * fabs(e1->c[1] - e1->c[0]) + fabs(yp0) * fabs(e1->s[1] - e1->s[0]);
    }
    double r1 = r0;
    if (n) {
        int best = 0;
        for (int k = 1; k < n; k++)
            if (eff[k] > eff[best]) best = k;
        r1 = alt[best];
        for (int k = 0; k < n; k++)
            if (k != best) widen += eff[k];
        if (n > 1)   /* second-order: both factors of one product moved */
            widen += fabs(ys1 - ys0) * fabs(e0->c[1] - c0) + fabs(yp1 - yp0) * fabs(e0->s[1] - s0);
    }
    double s = a->bound_u * sc + (x->exact_y ? 0.0 : a->y_bound_u * sc) + widen / U_W;
    r->r0[idx] = r0;
    r->r1[idx] = r1;
    r->s[idx] = isfinite(s) ? s : 0.0;
}

/* n_j = x_j / sqrt(sum x^2 / head_dim + eps32) for one head, into n[]. */
static void normalise(ctx *x, const double *v, double *n)
{
    const ref_qkr_args *a = x->a;
    const int64_t hd = a->head_dim;
    int special = 0;
    for (int64_t j = 0; j < hd; j++) special |= !isfinite(v[j]);
    if (special) {   /* IEEE, as the spec's fp32 arithmetic: sum Inf -> n = 0 or NaN; NaN -> NaN */
        double s = 0.0;
        for (int64_t j = 0; j < hd; j++) s += v[j] * v[j];
        double inv = 1.0 / sqrt(s);
        for (int64_t j = 0; j < hd; j++) n[j] = v[j] * inv;
        return;
    }
    if (!x->use_mpfr) {
        dd sum = {0.0, 0.0};
        for (int64_t j = 0; j < hd; j++) sum = dd_add_d(sum, v[j] * v[j]);   /* squares exact */
        dd m = dd_add_d(dd_div_d(sum, (double)hd), a->eps32);
        double inv = 1.0 / sqrt(m.hi + m.lo);   /* < 2^-50 relative with the products below */
        for (int64_t j = 0; j < hd; j++) n[j] = v[j] * inv;
        return;
    }
    mpfr_t sum, t, inv;
    mpfr_inits2(NORM_PREC, sum, t, inv, (mpfr_ptr)0);
    mpfr_set_zero(sum, 1);
    for (int64_t j = 0; j < hd; j++) {
        mpfr_set_d(t, v[j], MPFR_RNDN);
        mpfr_sqr(t, t, MPFR_RNDN);
        mpfr_add(sum, sum, t, MPFR_RNDN);   /* exact: 256 bits hold any sum of these */
    }
    mpfr_div_si(sum, sum, (long)hd, MPFR_RNDN);
    mpfr_add_d(sum, sum, a->eps32, MPFR_RNDN);
    mpfr_rec_sqrt(inv, sum, MPFR_RNDN);
    for (int64_t j = 0; j < hd; j++) {
        mpfr_mul_d(t, inv, v[j], MPFR_RNDN);
        n[j] = mpfr_get_d(t, MPFR_RNDN);
    }
    mpfr_clears(sum, t, inv, (mpfr_ptr)0);
}

/* The dims of pair i (docs/ops/rope.md): neox x_i with x_{i + rotary_dim/2}, gptj x_{2i} with
 * x_{2i+1}; d1 is the pair's first element. */
static void pair_dims(const ref_qkr_args *a, int i, int *d1, int *d2)
{
    if (a->style == ROPE_NEOX) {
        *d1 = i;
        *d2 = i + a->rotary_dim / 2;
    } else {
        *d1 = 2 * i;
        *d2 = 2 * i + 1;
    }
}

/* One head at element offset off of src, normalised with weight w. */
static void head(ctx *x, const void *src, const void *w, int64_t off, ud_ref *r)
{
    const ref_qkr_args *a = x->a;
    const int64_t hd = a->head_dim;
    double v[QKR_MAX_HEAD_DIM], n[QKR_MAX_HEAD_DIM];
    for (int64_t j = 0; j < hd; j++) v[j] = ud_get(a->dt, src, (size_t)(off + j));
    normalise(x, v, n);
    for (int64_t j = 0; j < hd; j++) {
        double wj = ud_get(a->dt, w, (size_t)j);
        if (x->exact_y) {   /* HF: RN_T(n), then RN_T(w * RN_T(n)); the product is exact in double */
            double n0 = ud_round(a->dt, n[j]);
            double lo = ud_round(a->dt, n[j] - fabs(n[j]) * a->margin_rel);
            double hi = ud_round(a->dt, n[j] + fabs(n[j]) * a->margin_rel);
            double n1 = lo != n0 ? lo : hi;
            x->y0[j] = ud_round(a->dt, wj * n0);
            x->y1[j] = ud_round(a->dt, wj * n1);
        } else {
            x->y0[j] = x->y1[j] = wj * n[j];
        }
    }
    for (int i = 0; i < a->rotary_dim / 2; i++) {
        int d1, d2;
        pair_dims(a, i, &d1, &d2);
        rotated(x, i, 1, d1, d2, r, (size_t)(off + d1));   /* y1 c - y2 s */
        rotated(x, i, 0, d2, d1, r, (size_t)(off + d2));   /* y2 c + y1 s */
    }
    for (int64_t j = a->rotary_dim; j < hd; j++) {
        size_t idx = (size_t)(off + j);
        r->r0[idx] = x->y0[j];
        r->r1[idx] = x->y1[j];
        double s = x->exact_y ? 0.0 : a->y_bound_u * fabs(x->y0[j]);
        r->s[idx] = isfinite(s) ? s : 0.0;
    }
}

int ref_qk_norm_rope(const ref_qkr_args *a, ud_ref *q_out, ud_ref *k_out, int use_mpfr)
{
    const int half = a->rotary_dim / 2;
    if (a->head_dim < 2 || a->head_dim > QKR_MAX_HEAD_DIM || half < 1 || a->rotary_dim > a->head_dim) {
        ud_error("qk_norm_rope reference: rotary_dim %d, head_dim %lld out of range", a->rotary_dim,
                 (long long)a->head_dim);
        return UD_EINTERNAL;
    }
    /* A T table's candidates depend on the producer's margin, n's on the kernel's: an unset (0)
     * margin would silently drop every second candidate. */
    if ((a->tdt != UD_F32 && !(a->table_margin > 0.0 && a->table_margin < 0x1p-8)) ||
        (a->spec == QKR_SPEC_HF && a->dt != UD_F32 && !(a->margin_rel > 0.0 && a->margin_rel < 0x1p-8))) {
        ud_error("qk_norm_rope reference: margins %g, %g are not a producer's relative error", a->table_margin,
                 a->margin_rel);
        return UD_EINTERNAL;
    }
    ctx *x = calloc(1, sizeof *x);
    UD_ALLOC_CHECK(x);
    x->a = a;
    x->use_mpfr = use_mpfr;
    x->half = half;
    x->exact_y = a->spec == QKR_SPEC_HF && a->dt != UD_F32;
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < half; i++) {
            mpfr_init2(x->mc[j][i], MP_PREC);
            mpfr_init2(x->ms[j][i], MP_PREC);
        }
    mpfr_inits2(MP_PREC, x->t1, x->t2, x->tmp, (mpfr_ptr)0);
    for (int i = 0; i < half; i++) {
        ref_rope_inv_freq(a->base, a->rotary_dim, i, x->inv[i]);
        x->ntheta[i] = x->inv[i][1] != x->inv[i][0] ? 2 : 1;
    }
    for (int64_t t = 0; t < a->tokens; t++) {
        for (int i = 0; i < half; i++)
            for (int j = 0; j < x->ntheta[i]; j++) fill_entry(x, j, i, a->pos[t]);
        for (int64_t h = 0; h < a->q_heads; h++) head(x, a->q, a->q_w, (t * a->q_heads + h) * a->head_dim, q_out);
        for (int64_t h = 0; h < a->kv_heads; h++) head(x, a->k, a->k_w, (t * a->kv_heads + h) * a->head_dim, k_out);
    }
    mpfr_clears(x->t1, x->t2, x->tmp, (mpfr_ptr)0);
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < half; i++) {
            mpfr_clear(x->mc[j][i]);
            mpfr_clear(x->ms[j][i]);
        }
    free(x);
    return UD_OK;
}
