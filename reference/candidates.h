/* candidates.h — rounding an exact value to a format, and the candidates of a spec rounding point
 * whose producer may be off by a relative margin (docs/design.md "Numerics": when the exact
 * intermediate lies within the kernel's error bound of a rounding boundary, both neighbours are
 * correct). Shared by the references that round a table or an intermediate (rope, qk_norm_rope);
 * reference-side code only. */
#ifndef UD_REF_CANDIDATES_H
#define UD_REF_CANDIDATES_H

#include <mpfr.h>

#include "numerics/dtype.h"

/* RN_T(x) of an MPFR value, ties to even, decided exactly (a double rounding through the
 * nearest doubles would be wrong at a tie of T). */
double ref_round_mp(ud_dtype t, mpfr_srcptr x);

/* Candidates for RN_T(v) when the producer may be off by m relative: *prim = RN_T(v), *alt = the
 * other of RN_T(v - m|v|), RN_T(v + m|v|) (prim when both agree). tmp: scratch of v's precision. */
void ref_cands_mp(ud_dtype t, mpfr_srcptr v, double m, mpfr_ptr tmp, double *prim, double *alt);

/* The same from a double vd within e (relative) of v; returns 0 when vd cannot decide (the caller
 * falls back to ref_cands_mp). */
int ref_cands_fast(ud_dtype t, double vd, double m, double e, double *prim, double *alt);

#endif
