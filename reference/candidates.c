/* candidates.c — rounding exact values to a format, and spec rounding points' candidates
 * (candidates.h). */
#include "reference/candidates.h"

#include <math.h>

/* The two doubles around x round alike unless a rounding boundary of T (a midpoint, exact in
 * double) lies between them; then x is compared with it. */
double ref_round_mp(ud_dtype t, mpfr_srcptr x)
{
    double dl = mpfr_get_d(x, MPFR_RNDD), du = mpfr_get_d(x, MPFR_RNDU);
    double rl = ud_round(t, dl), ru = ud_round(t, du);
    if (rl == ru) return rl;
    double mid = 0.5 * (rl + ru);
    int c = mpfr_cmp_d(x, mid);
    return c < 0 ? rl : c > 0 ? ru : ud_round(t, mid);
}

/* Candidates for RN_T(v) when the producer may be off by margin m relative: prim = RN_T(v),
 * alt = the other of RN_T(v - m|v|), RN_T(v + m|v|) (prim when both agree). */
void ref_cands_mp(ud_dtype t, mpfr_srcptr v, double m, mpfr_ptr tmp, double *prim, double *alt)
{
    *prim = ref_round_mp(t, v);
    mpfr_abs(tmp, v, MPFR_RNDN);
    mpfr_mul_d(tmp, tmp, m, MPFR_RNDN);
    mpfr_sub(tmp, v, tmp, MPFR_RNDN);
    double lo = ref_round_mp(t, tmp);
    mpfr_abs(tmp, v, MPFR_RNDN);
    mpfr_mul_d(tmp, tmp, m, MPFR_RNDN);
    mpfr_add(tmp, v, tmp, MPFR_RNDN);
    double hi = ref_round_mp(t, tmp);
    *alt = lo != *prim ? lo : hi;
}

/* The same from a double vd within e (relative) of v; 0 when vd cannot decide. */
int ref_cands_fast(ud_dtype t, double vd, double m, double e, double *prim, double *alt)
{
    double a = fabs(vd);
    double p1 = ud_round(t, vd - e * a), p2 = ud_round(t, vd + e * a);
    double l1 = ud_round(t, vd - (m + e) * a), l2 = ud_round(t, vd - (m - e) * a);
    double h1 = ud_round(t, vd + (m - e) * a), h2 = ud_round(t, vd + (m + e) * a);
    if (p1 != p2 || l1 != l2 || h1 != h2) return 0;
    *prim = p1;
    *alt = l1 != p1 ? l1 : h1;
    return 1;
}
