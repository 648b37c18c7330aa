/* spec/layernorm.h — what the LayerNorm kernels (gpu/layernorm.h) and their exact reference
 * (reference/layernorm.c) agree on by definition (spec: docs/ops/layernorm.md):
 *   mean = sum_j x_j / N,  var = sum_j (x_j - mean)^2 / N     exact (biased variance, as torch)
 *   R    = 1 / sqrt(var + eps32)                              eps32 = RN_32(eps), as the kernel
 *   out_j = (x_j - mean) * R * w_j + b_j                      exact; w = 1, b = 0 when absent
 * Shared by definition: the affine-parameter enum and the reference's interface, no arithmetic
 * here (a helper both sides called would hide its own bugs from every case).
 *
 * The reference: no spec rounding point before the output (the spec computes in fp32 and
 * rounds once), so there is one candidate. The condition scale makes the cancellation in
 * x - mean visible:
 *   s_j = (|x_j| + A) |R w_j| + |b_j| + |x_j - mean| |R w_j| min(2^24, c^2 2^-24 (A R)^2 / 2)
 * with A = sum_j |x_j| / N (it bounds the fp32 mean's error; |mean| alone does not, e.g. for
 * zero-mean rows of large values) and c = mean_err_u (the kernel's bound on that error in
 * units of u A): the last term is the second-order effect of the mean's error on the variance,
 * (x - mean) R (e R)^2 / 2 expressed in units of u = 2^-24, which matters only when A R is
 * near 1/u, i.e. when the spread of a row is below the fp32 resolution of its mean.
 * Fast path: double-double throughout (mean, deviations, variance, a Newton step for R, the
 * affine map), error below 2^-100 relative to s_j. MPFR path: 256 bits. They must agree:
 * tests/test_layernorm.c. */
#ifndef UD_SPEC_LAYERNORM_H
#define UD_SPEC_LAYERNORM_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

enum { LN_AFFINE_WEIGHT_BIAS = 0, LN_AFFINE_WEIGHT = 1, LN_AFFINE_NONE = 2 };

typedef struct {
    ud_dtype dt;            /* x and out */
    ud_dtype pdt;           /* w and b */
    int affine;             /* LN_AFFINE_* */
    int64_t rows, n;
    double eps32;
    const void *x, *w, *b;
    double mean_err_u;      /* the kernel's mean error / (u A) (layernorm_mean_err_u()) */
} ref_ln_args;

#ifdef __cplusplus
extern "C" {
#endif
int ref_layernorm(const ref_ln_args *a, ud_ref *out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
