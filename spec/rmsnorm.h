/* spec/rmsnorm.h — what the RMSNorm kernels (gpu/rmsnorm.h) and their exact reference
 * (reference/rmsnorm.c) agree on by definition (spec: docs/ops/rmsnorm.md):
 *   n_i = h_i / sqrt(sum_j h_j^2 / N + eps32)     exact, eps32 = RN_32(eps) as the model's fp32
 *   llama, spec hf:          out_i = RN_T(n_i) * w_i     RN_T(n_i) a spec rounding point
 *   llama, spec flashinfer:  out_i = n_i * w_i
 *   gemma:                   out_i = n_i * RN_32(1 + w_i)
 *   fused add: h_i = RN_T(x_i + r_i) (hf) or RN_32(x_i + r_i) (flashinfer), residual_out_i = x_i + r_i
 * and rows are independent. Shared by definition: the parameter enums and the reference's
 * interface, no arithmetic here — a helper both sides called would put one bug in the kernel
 * and in its oracle at once, where no case could see it.
 *
 * The reference: a fast path (double with a double-double sum of squares, error below 2^-50
 * relative) and an MPFR path (256 bits) that must agree (tests/test_rmsnorm_ref.c). At the spec
 * rounding point RN_T(n_i), when n_i lies within margin_rel * |n_i| of a rounding boundary of
 * T (margin_rel: the kernel's fp32 error bound), both roundings are correct and both candidates
 * are returned. */
#ifndef UD_SPEC_RMSNORM_H
#define UD_SPEC_RMSNORM_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

enum { RMS_KIND_LLAMA = 0, RMS_KIND_GEMMA = 1 };
enum { RMS_SPEC_HF = 0, RMS_SPEC_FLASHINFER = 1 };

typedef struct {
    ud_dtype dt;
    int kind;               /* RMS_KIND_* */
    int spec;               /* RMS_SPEC_* */
    int fused;
    int64_t rows, n;
    double eps32;           /* eps as the fp32 the model adds */
    const void *x, *res, *w;
    double margin_rel;      /* kernel's relative error bound on n (fp32 working precision) */
} ref_rms_args;

#ifdef __cplusplus
extern "C" {
#endif
/* out: the normalised output; res_out: residual_out (fused only, else NULL). */
int ref_rmsnorm(const ref_rms_args *a, ud_ref *out, ud_ref *res_out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
