/* silu_and_mul.c — exact SiLU(gate) * up reference: double fast path, MPFR path (formulas
 * and the candidate rule: spec/silu_and_mul.h, docs/ops/silu_and_mul.md). The reference's own
 * silu, written from the spec: nothing here comes from the kernel it judges. */
#include "spec/silu_and_mul.h"

#include <math.h>
#include <mpfr.h>

#include "numerics/status.h"

static double silu_fast(double g)
{
    if (isnan(g)) return g;
    if (g == INFINITY) return g;
    if (g == -INFINITY) return -0.0;
    if (g >= 0.0) return g / (1.0 + exp(-g));
    double e = exp(g);                /* <= 1: never overflows; underflow only below -708 */
    return g * e / (1.0 + e);
}

static double silu_mpfr(double g)
{
    if (!isfinite(g)) return silu_fast(g);
    mpfr_t x, e, d;
    mpfr_inits2(256, x, e, d, (mpfr_ptr)0);
    mpfr_set_d(x, g, MPFR_RNDN);
    mpfr_set_d(e, -fabs(g), MPFR_RNDN);
    mpfr_exp(e, e, MPFR_RNDN);                    /* e^-|g|: MPFR's exponent range is ample */
    mpfr_add_ui(d, e, 1, MPFR_RNDN);
    if (g < 0.0) mpfr_mul(x, x, e, MPFR_RNDN);    /* g e^g / (1 + e^g) */
    mpfr_div(x, x, d, MPFR_RNDN);
    double r = mpfr_get_d(x, MPFR_RNDN);
    mpfr_clears(x, e, d, (mpfr_ptr)0);
    return r;
}

double ref_silu(double g, int use_mpfr) { return use_mpfr ? silu_mpfr(g) : silu_fast(g); }

int ref_silu_and_mul(const ref_silu_args *a, ud_ref *out, int use_mpfr)
{
    int rounds = a->spec == SILU_SPEC_HF && a->dt != UD_F32;
    for (int64_t t = 0; t < a->tokens; t++)
        for (int64_t j = 0; j < a->inter; j++) {
            size_t i = (size_t)(t * a->inter + j);
            double g = ud_get(a->dt, a->x, (size_t)(t * 2 * a->inter + j));
            double u = ud_get(a->dt, a->x, (size_t)(t * 2 * a->inter + a->inter + j));
            double s = ref_silu(g, use_mpfr);
            double c0 = s, c1 = s;
            if (rounds) {
                double delta = a->margin_rel * fabs(s) + a->margin_abs;
                c0 = ud_round(a->dt, s);
                if (isfinite(s)) {
                    double lo = ud_round(a->dt, s - delta), hi = ud_round(a->dt, s + delta);
                    c1 = lo != c0 ? lo : hi;
                } else {
                    c1 = c0;
                }
            }
            /* c * u: exact in double for c in T (<= 24 bits) times u in T. */
            out->r0[i] = c0 * u;
            out->r1[i] = c1 * u;
            double r = fabs(out->r0[i]);
            out->s[i] = (isfinite(r) ? r : 0.0) + (isfinite(u) ? fabs(u) + 1.0 : 1.0) * 0x1p-126;
        }
    return UD_OK;
}
