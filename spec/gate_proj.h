/* spec/gate_proj.h — what the router gate projection kernels (gpu/gate_proj.h), their exact
 * reference (reference/gate_proj.c) and the routing-flip metric (harness/core/routing.h) agree on
 * by definition (spec: docs/ops/gate_proj.md):
 *   l[t, e] = sum_h x[t, h] * W[e, h]        exact; s[t, e] = sum_h |x[t, h] * W[e, h]|
 * with x and W as stored (fp32 and tf32 modes: the fp32 model's logits) or rounded to bf16
 * (bf16 mode: the bf16 model consumes RN_bf16(x), RN_bf16(W)); experts are selected by softmax
 * (monotone in the logit) or by sigmoid(l) + a per-expert bias (DeepSeek-V3, GLM-4.5). Shared by
 * definition: the mode and scoring enums and the reference's interface — no arithmetic here
 * (a helper both sides called would hide its own bugs from every case).
 *
 * The reference: no spec rounding point lies inside the sum, so every logit has one candidate
 * (r0 == r1). Products of two values of at most 24 significant bits are exact in double, so the
 * logit is an exact sum of doubles. Three paths, each used only where it provably decides the
 * logit to within 2^-31 relative (below 0.01 ulp of fp32, the finest output):
 *   1. OpenBLAS dgemm, any order: |error| <= gamma_H(2^-53) * s;
 *   2. Sum2 (cascaded TwoSum, Ogita-Rump-Oishi 2005, Prop. 4.5) for the elements dgemm cannot
 *      decide: |error| <= 2^-53 |l| + gamma_{H-1}(2^-53)^2 * s;
 *   3. MPFR's mpfr_sum (correctly rounded sum of the exact products) for the rest, and for
 *      everything when use_mpfr is set.
 * tests/test_gate_proj.c shows the fast paths agree with MPFR on random and adversarial data. */
#ifndef UD_SPEC_GATE_PROJ_H
#define UD_SPEC_GATE_PROJ_H

#include <stddef.h>
#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

enum { GATE_MODE_FP32 = 0, GATE_MODE_TF32 = 1, GATE_MODE_BF16 = 2 };
enum { GATE_SCORE_SOFTMAX = 0, GATE_SCORE_SIGMOID_BIAS = 1 };

typedef struct {
    int64_t tokens, hidden, experts;
    ud_dtype xdt, wdt;            /* storage dtypes (bf16 or fp32) */
    int bf16_operands;            /* bf16 mode: the model multiplies RN_bf16(x) by RN_bf16(W) */
    const void *x, *w;
} ref_gate_args;

/* How many logits each path decided (for tests and reports). */
typedef struct { size_t dgemm, sum2, mpfr; } ref_gate_paths;

#ifdef __cplusplus
extern "C" {
#endif
/* Reference logits and condition scales into out (n = tokens * experts). paths may be NULL. */
int ref_gate_logits(const ref_gate_args *a, ud_ref *out, int use_mpfr, ref_gate_paths *paths);

/* Exact sign of l[t, ea] - l[t, eb]: -1, 0 or 1 (MPFR); -2 on allocation failure. */
int ref_gate_cmp(const ref_gate_args *a, int64_t t, int64_t ea, int64_t eb);
#ifdef __cplusplus
}
#endif

#endif
