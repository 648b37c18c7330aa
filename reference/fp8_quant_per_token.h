/* fp8_quant_per_token.h — exact reference for FP8 per-token / per-group quantization (spec:
 * docs/ops/fp8_quant_per_token.md).
 *
 * Spec rounding points and how the reference treats them:
 *   scale = max(RN_32(min(amax, ub) / 448), min_scale) [rounded up to a power of two for
 *           ue8m0]: a deterministic single fp32 rounding — the reference computes the same
 *           fp32 value (fast path: the host's IEEE fp32 division; MPFR path: the quotient at
 *           256 bits rounded to fp32), and scales must match it exactly;
 *   RN_32(x / scale), then RN_e4m3 with saturation: when the exact x / scale is an fp32
 *           number the division is exact and q has one correct value (ties to even included);
 *           otherwise the fp32 quotient is within 2^-24 relative (plus 2^-150 absolute in the
 *           subnormal range) of the exact one, and when that interval meets an e4m3 rounding
 *           boundary both neighbours are correct: r0 = RN_e4m3(exact), r1 the other.
 * IEEE rules give the specials: NaN / s = NaN, finite / Inf = +-0, Inf / finite = +-Inf
 * (saturates to +-448), Inf / Inf = NaN. Condition scales are 0 (budgets are exact).
 * Agreement of the paths: tests/test_fp8_quant_per_token.c. */
#ifndef UD_REF_FP8_QUANT_PER_TOKEN_H
#define UD_REF_FP8_QUANT_PER_TOKEN_H

#include <stdint.h>
#include "harness/ops/registry.h"

typedef struct {
    ud_dtype dt;
    int fmt;                      /* FQ_FMT_* (gpu/fp8_quant_per_token.h) */
    int64_t tokens, hidden, group;
    float min_scale, scale_ub;    /* scale_ub <= 0: none */
    const void *x;
} ref_fq_args;

/* The spec's fp32 scale of a group whose max |x| is amax. */
float ref_fq_scale(const ref_fq_args *a, double amax, int use_mpfr);

/* Candidates r0 (RN_e4m3 of the exact x / scale, saturated) and r1 for one element. */
void ref_fq_candidates(double x, float scale, int use_mpfr, double *r0, double *r1);

/* q: [tokens, hidden] candidates; scales: [tokens, groups]. */
int ref_fp8_quant_per_token(const ref_fq_args *a, ud_ref *q, ud_ref *scales, int use_mpfr);

#endif
