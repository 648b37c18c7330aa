/* ulp.h — error of a computed value y against an exact value r, in units of format T.
 *
 *   ulp_T(r)   = 2^(max(floor(log2|r|), emin_T) - p_T + 1), and for |r| above the largest
 *                finite value the largest finite value's ulp (docs/design.md, "Numerics"; docs/metrics.md).
 *   ulp_err    = |y - r| / ulp_T(r). A correctly rounded y has ulp_err <= 0.5.
 *                An infinite y (same sign as r, in a format with infinities) is measured as
 *                the value max(2^(emax+1), |r|): overflow "rounds to" 2^(emax+1), so
 *                RN(65520) = Inf in fp16 scores 0.5, and any r beyond 2^(emax+1) scores 0.
 *   lattice    = signed count of representable values from RN_T(r) to y (0: y is RN_T(r)).
 */
#ifndef UD_ULP_H
#define UD_ULP_H

#include <stdint.h>
#include "numerics/dtype.h"

double ud_ulp(ud_dtype t, double r);
/* Returns +Inf for any NaN/Inf mismatch (those are reported as their own finding). */
double ud_ulp_err(ud_dtype t, double y, double r);
/* Monotone integer index of a value of format T (+-0 -> 0, +-Inf -> +-(max index + 1)). */
int64_t ud_ordinal(ud_dtype t, double v);
/* Lattice distance between y (in format T) and RN_T(r); INT64_MAX when either is NaN. */
int64_t ud_lattice_dist(ud_dtype t, double y, double r);

#endif
