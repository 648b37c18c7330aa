/* rope.c — exact partial-RoPE reference: fast path (libm + double-double, MPFR where the
 * double cannot decide) and MPFR path (formulas, candidates and scales: spec/rope.h,
 * docs/ops/rope.md). Every step is the reference's own, written from the spec — the pairing of
 * dimensions included: nothing here comes from the kernel it judges. */
#include "spec/rope.h"

#include <math.h>
#include <mpfr.h>
#include <stdlib.h>

#include "numerics/status.h"
#include "reference/candidates.h"
#include "reference/dd.h"

#define MP_PREC 128
#define LIBM_REL_ERR 0x1p-50   /* glibc's cos/sin are within 1 ulp (2^-52); 4x of room */
#define U_W 0x1p-24

void ref_rope_inv_freq(double base, int rotary_dim, int i, float inv[2])
{
    mpfr_t b, e, p, t;
    mpfr_inits2(MP_PREC, b, e, p, t, (mpfr_ptr)0);
    float ef = (float)(2 * i) / (float)rotary_dim;    /* RN_32(2i / rd), as torch divides */
    mpfr_set_flt(b, (float)base, MPFR_RNDN);
    mpfr_set_flt(e, ef, MPFR_RNDN);
    mpfr_pow(p, b, e, MPFR_RNDN);
    float p0 = mpfr_get_flt(p, MPFR_RNDN), p1 = p0;
    /* A producer's pow within 2^-51 of exact (the builder's double pow is within 2^-52) may
     * round to the other neighbour. */
    mpfr_mul_d(t, p, 1.0 - 0x1p-51, MPFR_RNDN);
    float lo = mpfr_get_flt(t, MPFR_RNDN);
    mpfr_mul_d(t, p, 1.0 + 0x1p-51, MPFR_RNDN);
    float hi = mpfr_get_flt(t, MPFR_RNDN);
    if (lo != p0) p1 = lo;
    else if (hi != p0) p1 = hi;
    inv[0] = 1.0f / p0;
    inv[1] = 1.0f / p1;
    mpfr_clears(b, e, p, t, (mpfr_ptr)0);
}

double ref_rope_exact_angle(double base, int rotary_dim, int i, int64_t pos)
{
    mpfr_t b, e, th, tmp;
    mpfr_inits2(256, b, e, th, tmp, (mpfr_ptr)0);
    mpfr_set_d(b, base, MPFR_RNDN);
    mpfr_set_si(e, -2 * i, MPFR_RNDN);
    mpfr_div_si(e, e, rotary_dim, MPFR_RNDN);
    mpfr_pow(th, b, e, MPFR_RNDN);
    mpfr_mul_si(th, th, (long)pos, MPFR_RNDN);
    double r = mpfr_get_d(th, MPFR_RNDN);
    mpfr_clears(b, e, th, tmp, (mpfr_ptr)0);
    return r;
}

double ref_rope_angle_err_bound(double base, int rotary_dim, int i, double theta_exact)
{
    /* e_i, the fp32 base, P, 1/P and pos * inv each round once (5 u), and e_i's rounding
     * is amplified by ln(base) 2i/rd through the power: theta (L + 4) u, L = ln(base) 2i/rd
     * (one u of the five is e_i's, counted in L); 1.01 covers the second-order terms. */
    double L = log(base) * (2.0 * i) / rotary_dim;
    return 1.01 * fabs(theta_exact) * (L + 4.0) * U_W;
}

/* A table entry for one angle: cos and sin as the spec has them; [0] the primary value,
 * [1] the other candidate (equal when there is none). */
typedef struct { double c[2], s[2]; } entry;

static double rot_d(double self, double partner, double c, double s, int first)
{
    if (!isfinite(self) || !isfinite(partner))   /* IEEE, as the kernel's fp32 arithmetic */
        return first ? self * c - partner * s : self * c + partner * s;
    dd r = dd_add(dd_two_prod(self, c), dd_two_prod(first ? -partner : partner, s));
    return r.hi + r.lo;
}

static double rot_mp(double self, double partner, mpfr_srcptr c, mpfr_srcptr s, int first, mpfr_ptr t1, mpfr_ptr t2)
{
    if (!isfinite(self) || !isfinite(partner))
        return rot_d(self, partner, mpfr_get_d(c, MPFR_RNDN), mpfr_get_d(s, MPFR_RNDN), first);
    mpfr_mul_d(t1, c, self, MPFR_RNDN);
    mpfr_mul_d(t2, s, partner, MPFR_RNDN);
    if (first) mpfr_sub(t1, t1, t2, MPFR_RNDN);
    else mpfr_add(t1, t1, t2, MPFR_RNDN);
    return mpfr_get_d(t1, MPFR_RNDN);
}

typedef struct {
    const ref_rope_args *a;
    int use_mpfr, half;
    float inv[ROPE_MAX_PAIRS][2];
    int ntheta[ROPE_MAX_PAIRS];          /* 2 when inv_freq_i has two candidates */
    entry e[2][ROPE_MAX_PAIRS];          /* per theta candidate, per pair: this token's */
    float theta[2][ROPE_MAX_PAIRS];
    double widen_unit;                   /* 1 / (bound_u * u_w): absolute error -> scale */
    mpfr_t *mc, *ms;                     /* [2 * half]: exact cos/sin (fp32 table, MPFR) */
    mpfr_t t1, t2, tmp;
} ctx;

/* Exact cos/sin of theta into mc, ms. */
static void exact_cs(ctx *x, float theta, mpfr_ptr mc, mpfr_ptr ms)
{
    mpfr_set_flt(x->tmp, theta, MPFR_RNDN);
    mpfr_sin_cos(ms, mc, x->tmp, MPFR_RNDN);
}

/* Fills x->e[j][i] for this token's angle theta = RN_32(pos * inv_i). */
static void fill_entry(ctx *x, int j, int i, int32_t pos)
{
    const ref_rope_args *a = x->a;
    float th = (float)pos * x->inv[i][j];
    x->theta[j][i] = th;
    entry *en = &x->e[j][i];
    mpfr_ptr mc = x->mc[j * x->half + i], ms = x->ms[j * x->half + i];
    if (a->tdt == UD_F32) {     /* exact cos/sin; the fp32 table rounding is kernel error */
        if (x->use_mpfr) {
            exact_cs(x, th, mc, ms);
            en->c[0] = en->c[1] = mpfr_get_d(mc, MPFR_RNDN);
            en->s[0] = en->s[1] = mpfr_get_d(ms, MPFR_RNDN);
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
    exact_cs(x, th, mc, ms);
    ref_cands_mp(a->tdt, mc, m, x->tmp, &en->c[0], &en->c[1]);
    ref_cands_mp(a->tdt, ms, m, x->tmp, &en->s[0], &en->s[1]);
}

/* Reference of one rotated element: self = x[d], partner = x[partner(d)]. */
static void element(ctx *x, int i, int first, double self, double partner, ud_ref *r, size_t idx)
{
    const ref_rope_args *a = x->a;
    const entry *e0 = &x->e[0][i];
    double r0, r1, widen = 0.0;
    if (a->tdt == UD_F32) {
        double sc = fabs(self * e0->c[0]) + fabs(partner * e0->s[0]);
        if (x->use_mpfr) {
            r0 = rot_mp(self, partner, x->mc[i], x->ms[i], first, x->t1, x->t2);
            r1 = x->ntheta[i] == 2 ? rot_mp(self, partner, x->mc[x->half + i], x->ms[x->half + i], first, x->t1, x->t2) : r0;
        } else {
            r0 = rot_d(self, partner, e0->c[0], e0->s[0], first);
            if (fabs(r0) < 0x1p-16 * sc) {   /* cancellation: libm's 2^-52 would show; MPFR */
                exact_cs(x, x->theta[0][i], x->mc[i], x->ms[i]);
                r0 = rot_mp(self, partner, x->mc[i], x->ms[i], first, x->t1, x->t2);
            }
            r1 = r0;
            if (x->ntheta[i] == 2) {
                const entry *e1 = &x->e[1][i];
                r1 = rot_d(self, partner, e1->c[0], e1->s[0], first);
                if (fabs(r1) < 0x1p-16 * sc) {
                    exact_cs(x, x->theta[1][i], x->mc[x->half + i], x->ms[x->half + i]);
                    r1 = rot_mp(self, partner, x->mc[x->half + i], x->ms[x->half + i], first, x->t1, x->t2);
                }
            }
        }
    } else {   /* table values are exact doubles: the double-double rotation is exact enough */
        r0 = rot_d(self, partner, e0->c[0], e0->s[0], first);
        int amb_c = e0->c[1] != e0->c[0], amb_s = e0->s[1] != e0->s[0];
        if (x->ntheta[i] == 2) {
            const entry *e1 = &x->e[1][i];
            r1 = rot_d(self, partner, e1->c[0], e1->s[0], first);
            for (int j = 0; j < 2; j++) {
                const entry *ej = &x->e[j][i];
                double w = fabs(self) * fabs(ej->c[1] - ej->c[0]) + fabs(partner) * fabs(ej->s[1] - ej->s[0]);
                if (w > widen) widen = w;
            }
        } else {
            r1 = rot_d(self, partner, e0->c[1], e0->s[1], first);
            if (amb_c && amb_s)   /* the mixed combinations are not listed: allow them */
                widen = fabs(self) * fabs(e0->c[1] - e0->c[0]) + fabs(partner) * fabs(e0->s[1] - e0->s[0]);
        }
    }
    r->r0[idx] = r0;
    r->r1[idx] = r1;
    r->s[idx] = fabs(self * e0->c[0]) + fabs(partner * e0->s[0]) + widen * x->widen_unit;
}

/* The dims of pair i, as the spec defines them (docs/ops/rope.md): neox rotates the two halves
 * of the rotary part, x_i with x_{i + rotary_dim/2}; gptj rotates adjacent dims, x_{2i} with
 * x_{2i+1}. d1 is the pair's first element (x1), d2 its second (x2). */
static void pair_dims(const ref_rope_args *a, int i, int *d1, int *d2)
{
    if (a->style == ROPE_NEOX) {
        *d1 = i;
        *d2 = i + a->rotary_dim / 2;
    } else {
        *d1 = 2 * i;
        *d2 = 2 * i + 1;
    }
}

/* One rotated element: self = x[idx], partner the other element of its pair i. */
static void rotated(ctx *x, int i, int first, double self, double partner, ud_ref *r, size_t idx,
                    const double *exact_c, const double *exact_s, const double *angle_err)
{
    const ref_rope_args *a = x->a;
    if (!a->exact_angles) {
        element(x, i, first, self, partner, r, idx);
        return;
    }
    double c = exact_c[i], s = exact_s[i];
    r->r0[idx] = r->r1[idx] = rot_d(self, partner, c, s, first);
    r->s[idx] = a->bound_u * (fabs(self * c) + fabs(partner * s)) + (fabs(self) + fabs(partner)) * angle_err[i] / U_W;
}

/* One head (offset off into x): the rotary_dim/2 pairs, then the pass-through dims. */
static void head(ctx *x, const void *src, int64_t off, ud_ref *r, const double *exact_c, const double *exact_s,
                 const double *angle_err)
{
    const ref_rope_args *a = x->a;
    for (int i = 0; i < a->rotary_dim / 2; i++) {
        int d1, d2;
        pair_dims(a, i, &d1, &d2);
        size_t i1 = (size_t)(off + d1), i2 = (size_t)(off + d2);
        double x1 = ud_get(a->dt, src, i1), x2 = ud_get(a->dt, src, i2);
        rotated(x, i, 1, x1, x2, r, i1, exact_c, exact_s, angle_err);   /* x1 cos - x2 sin */
        rotated(x, i, 0, x2, x1, r, i2, exact_c, exact_s, angle_err);   /* x2 cos + x1 sin */
    }
    for (int d = a->rotary_dim; d < (int)a->head_dim; d++) {
        size_t idx = (size_t)(off + d);
        r->r0[idx] = r->r1[idx] = ud_get(a->dt, src, idx);
        r->s[idx] = 0.0;
    }
}

int ref_rope(const ref_rope_args *a, ud_ref *q_out, ud_ref *k_out, int use_mpfr)
{
    const int half = a->rotary_dim / 2;
    if (half < 1 || half > ROPE_MAX_PAIRS || a->rotary_dim > a->head_dim) {
        ud_error("rope reference: rotary_dim %d does not fit head_dim %lld", a->rotary_dim, (long long)a->head_dim);
        return UD_EINTERNAL;
    }
    /* A T table's candidates depend on the producer's margin: an unset (0) one would silently
     * drop every second candidate. */
    if (a->tdt != UD_F32 && !a->exact_angles && !(a->table_margin > 0.0 && a->table_margin < 0x1p-8)) {
        ud_error("rope reference: table_margin %g is not a producer's relative error", a->table_margin);
        return UD_EINTERNAL;
    }
    ctx *x = calloc(1, sizeof *x);
    UD_ALLOC_CHECK(x);
    x->a = a;
    x->use_mpfr = use_mpfr;
    x->half = half;
    x->widen_unit = 1.0 / (a->bound_u * U_W);
    x->mc = malloc(2 * (size_t)half * sizeof *x->mc);
    x->ms = malloc(2 * (size_t)half * sizeof *x->ms);
    if (!x->mc || !x->ms) { free(x->mc); free(x->ms); free(x); UD_ALLOC_CHECK(NULL); }
    for (int k = 0; k < 2 * half; k++) {
        mpfr_init2(x->mc[k], MP_PREC);
        mpfr_init2(x->ms[k], MP_PREC);
    }
    mpfr_inits2(MP_PREC, x->t1, x->t2, x->tmp, (mpfr_ptr)0);
    for (int i = 0; i < half; i++) {
        ref_rope_inv_freq(a->base, a->rotary_dim, i, x->inv[i]);
        x->ntheta[i] = x->inv[i][1] != x->inv[i][0] ? 2 : 1;
    }
    double exact_c[ROPE_MAX_PAIRS], exact_s[ROPE_MAX_PAIRS], angle_err[ROPE_MAX_PAIRS];
    /* Table rounding allowance for angles = exact: RN_T(RN_32(c)) is within (u_T + 2^-23)|c|
     * + 2^-25 (fp16 subnormals) of c, |c| <= 1; an fp32 table is inside bound_u already. */
    double table_err = a->tdt == UD_F32 ? 0.0 : ud_format(a->tdt)->unit_roundoff + 0x1p-23 + 0x1p-25;
    mpfr_t th, mc, ms, b, e, invx[ROPE_MAX_PAIRS];
    mpfr_inits2(256, th, mc, ms, b, e, (mpfr_ptr)0);
    for (int i = 0; i < half; i++) {   /* base^(-2i/rd), exactly (256 bits), for exact angles */
        mpfr_init2(invx[i], 256);
        mpfr_set_d(b, a->base, MPFR_RNDN);
        mpfr_set_si(e, -2 * i, MPFR_RNDN);
        mpfr_div_si(e, e, a->rotary_dim, MPFR_RNDN);
        mpfr_pow(invx[i], b, e, MPFR_RNDN);
    }
    for (int64_t t = 0; t < a->tokens; t++) {
        int32_t pos = a->pos[t];
        for (int i = 0; i < half; i++) {
            if (!a->exact_angles) {
                for (int j = 0; j < x->ntheta[i]; j++) fill_entry(x, j, i, pos);
                continue;
            }
            mpfr_mul_si(th, invx[i], (long)pos, MPFR_RNDN);
            mpfr_sin_cos(ms, mc, th, MPFR_RNDN);
            exact_c[i] = mpfr_get_d(mc, MPFR_RNDN);
            exact_s[i] = mpfr_get_d(ms, MPFR_RNDN);
            double err = ref_rope_angle_err_bound(a->base, a->rotary_dim, i, mpfr_get_d(th, MPFR_RNDN));
            angle_err[i] = 1.01 * (fmin(2.0, err) + table_err);
        }
        for (int64_t h = 0; h < a->q_heads; h++)
            head(x, a->q, (t * a->q_heads + h) * a->head_dim, q_out, exact_c, exact_s, angle_err);
        for (int64_t h = 0; h < a->kv_heads; h++)
            head(x, a->k, (t * a->kv_heads + h) * a->head_dim, k_out, exact_c, exact_s, angle_err);
    }
    for (int i = 0; i < half; i++) mpfr_clear(invx[i]);
    mpfr_clears(th, mc, ms, b, e, (mpfr_ptr)0);
    mpfr_clears(x->t1, x->t2, x->tmp, (mpfr_ptr)0);
    for (int k = 0; k < 2 * half; k++) {
        mpfr_clear(x->mc[k]);
        mpfr_clear(x->ms[k]);
    }
    free(x->mc);
    free(x->ms);
    free(x);
    return UD_OK;
}
