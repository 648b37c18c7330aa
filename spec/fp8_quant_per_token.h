/* spec/fp8_quant_per_token.h — what the FP8 per-token / per-group quantization kernels
 * (gpu/fp8_quant_per_token.h) and their exact reference (reference/fp8_quant_per_token.c)
 * agree on by definition (spec: docs/ops/fp8_quant_per_token.md; vLLM / sglang):
 *   amax  = max |x| over the group (NaN ignored), m = min(amax, scale_ub) when scale_ub > 0
 *   scale = max(RN_32(m / FQ_E4M3_MAX), min_scale);  ue8m0: scale = 2^ceil(log2(scale))
 *   q     = RN_e4m3(saturate(RN_32(x / scale)))
 * Shared by definition: the scale-format enum, E4M3's largest finite value and the reference's
 * interface — no arithmetic here (the power-of-two ceiling once lived in a kernel helper the
 * reference also called, so a bug in it could never show; each side now has its own).
 *
 * The reference's rounding points: the scale is a deterministic single fp32 rounding — the
 * reference computes the same fp32 value (fast path: the host's IEEE fp32 division; MPFR path:
 * the quotient at 256 bits rounded to fp32), then its own power-of-two ceiling for ue8m0, and
 * scales must match it exactly; RN_32(x / scale) then RN_e4m3 with saturation: when the exact
 * x / scale is an fp32 number the division is exact and q has one correct value (ties to even
 * included); otherwise the fp32 quotient is within 2^-24 relative (plus 2^-150 absolute in the
 * subnormal range) of the exact one, and when that interval meets an e4m3 rounding boundary
 * both neighbours are correct: r0 = RN_e4m3(exact), r1 the other. IEEE rules give the specials:
 * NaN / s = NaN, finite / Inf = +-0, Inf / finite = +-Inf (saturates to +-448), Inf / Inf =
 * NaN. Condition scales are 0 (budgets are exact). Agreement of the paths:
 * tests/test_fp8_quant_per_token.c. */
#ifndef UD_SPEC_FP8_QUANT_PER_TOKEN_H
#define UD_SPEC_FP8_QUANT_PER_TOKEN_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

enum { FQ_FMT_FP32 = 0, FQ_FMT_UE8M0 = 1 };

/* The largest finite OCP E4M3FN value: the spec divides amax by it. */
#define FQ_E4M3_MAX 448.0f

typedef struct {
    ud_dtype dt;
    int fmt;                      /* FQ_FMT_* */
    int64_t tokens, hidden, group;
    float min_scale, scale_ub;    /* scale_ub <= 0: none */
    const void *x;
} ref_fq_args;

#ifdef __cplusplus
extern "C" {
#endif
/* The spec's fp32 scale of a group whose max |x| is amax. */
float ref_fq_scale(const ref_fq_args *a, double amax, int use_mpfr);

/* 2^ceil(log2(s)) for a positive s (+Inf stays +Inf): the ue8m0 scale rule, computed exactly
 * in double (exposed for tests). */
double ref_fq_pow2_ceil(double s);

/* Candidates r0 (RN_e4m3 of the exact x / scale, saturated) and r1 for one element. */
void ref_fq_candidates(double x, float scale, int use_mpfr, double *r0, double *r1);

/* q: [tokens, hidden] candidates; scales: [tokens, groups]. */
int ref_fp8_quant_per_token(const ref_fq_args *a, ud_ref *q, ud_ref *scales, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
