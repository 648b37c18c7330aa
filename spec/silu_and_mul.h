/* spec/silu_and_mul.h — what the SiLU(gate) * up kernels (gpu/silu_and_mul.h) and their exact
 * reference (reference/silu_and_mul.c) agree on by definition (spec: docs/ops/silu_and_mul.md):
 *   silu(g) = g / (1 + e^-g), extended by its limits: silu(+Inf) = +Inf, silu(-Inf) = -0;
 *   spec flashinfer:      out = silu(g) * u
 *   spec hf:              out = RN_T(silu(g)) * u      RN_T(silu) a spec rounding point
 * with x = [gate | up], [tokens, 2 * inter]. Shared by definition: the spec enum and the
 * reference's interface, no arithmetic here (a helper both sides called would hide its own
 * bugs from every case).
 *
 * The reference: spec flashinfer gives r0 == r1; spec hf with T < fp32 lists both neighbours
 * when silu(g) lies within the kernel's bound (margin_rel |silu| + margin_abs) of a boundary of
 * T; with T = fp32 it is as flashinfer (rounding to fp32 is the working precision). Products
 * with u follow IEEE rules for the specials (Inf * 0 = NaN, ...). Condition scale
 * s = |r| + (|u| + 1) 2^-126: the second term is fp32's gradual-underflow floor (each rounding
 * in the subnormal range errs by up to 2^-150 absolute, and errors made before the product by
 * u are multiplied by |u|); the budget's scaled part covers it. Fast path: double (exp and four
 * roundings: < 2^-50 relative; for g < 0 the overflow-free g e^g / (1 + e^g)). MPFR path:
 * 256 bits. Agreement: tests/test_silu_and_mul.c. */
#ifndef UD_SPEC_SILU_AND_MUL_H
#define UD_SPEC_SILU_AND_MUL_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

enum { SILU_SPEC_FLASHINFER = 0, SILU_SPEC_HF = 1 };

typedef struct {
    ud_dtype dt;
    int spec;                     /* SILU_SPEC_* */
    int64_t tokens, inter;
    const void *x;                /* [tokens, 2 * inter] = [gate | up] */
    double margin_rel, margin_abs;   /* the kernel's error on silu(g), for candidates */
} ref_silu_args;

#ifdef __cplusplus
extern "C" {
#endif
/* silu(g) in double by the fast or the MPFR path (exposed for tests). */
double ref_silu(double g, int use_mpfr);

int ref_silu_and_mul(const ref_silu_args *a, ud_ref *out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
