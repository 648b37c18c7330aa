/* ulp.c — ULP error and lattice distance, as defined in ulp.h and docs/metrics.md. */
#include "harness/core/ulp.h"

#include <math.h>
#include <string.h>

#include "numerics/ud_portable.h"

double ud_ulp(ud_dtype t, double r)
{
    const ud_format_info *f = ud_format(t);
    double a = fabs(r);
    if (isnan(a)) return NAN;
    if (a > f->max_finite) a = f->max_finite;
    int e = f->emin;
    if (a != 0.0) {
        int ex = ud_exp2_floor(a);
        if (ex > e) e = ex;
    }
    return ud_pow2(e - f->mbits);
}

double ud_ulp_err(ud_dtype t, double y, double r)
{
    const ud_format_info *f = ud_format(t);
    if (isnan(y) || isnan(r)) return (isnan(y) && isnan(r)) ? 0.0 : INFINITY;
    if (isinf(r)) return (y == r) ? 0.0 : INFINITY;
    if (isinf(y)) {
        /* Inf is a correct rounding only of values at or beyond the overflow threshold;
         * measure it as the power of two the overflow rounded to. */
        if (!f->has_inf || signbit(y) != signbit(r)) return INFINITY;
        y = copysign(fmax(ldexp(1.0, f->emax + 1), fabs(r)), y);
    }
    return fabs(y - r) / ud_ulp(t, r);
}

int64_t ud_ordinal(ud_dtype t, double v)
{
    const ud_format_info *f = ud_format(t);
    int64_t mag;
    double a = fabs(v);
    if (t == UD_F64) {
        uint64_t u; memcpy(&u, &a, 8); mag = (int64_t)u;
    } else if (t == UD_F32) {
        mag = (int64_t)ud_f32_bits((float)a);
    } else if (t == UD_I32) {
        return (int64_t)v;
    } else if (isinf(a)) {
        mag = (int64_t)ud_lattice_code(f->max_finite, f->mbits, f->emin) + 1;
    } else {
        mag = (int64_t)ud_lattice_code(a, f->mbits, f->emin);
    }
    return signbit(v) ? -mag : mag;
}

int64_t ud_lattice_dist(ud_dtype t, double y, double r)
{
    double rn = ud_round(t, r);
    if (isnan(y) || isnan(rn)) return INT64_MAX;
    return ud_ordinal(t, y) - ud_ordinal(t, rn);
}
