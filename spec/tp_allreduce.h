/* spec/tp_allreduce.h — what the tensor-parallel all-reduce of the MoE block (gpu/tp_allreduce.h)
 * and its exact reference (reference/tp_allreduce.c) agree on by definition (spec:
 * docs/ops/tp_allreduce.md). Rank r of R holds partials moe_r and shared_r ([tokens, hidden],
 * dtype T), the routed experts' and the shared expert's outputs. Per element:
 *
 *   spec combined (sglang's Step3p5 change: shared expert with reduce_results=False, added on
 *   each rank, one all-reduce):   y_r = RN_T(moe_r + shared_r),   S = sum_r y_r
 *   spec unfused (the order before it: each partial all-reduced on its own, then added):
 *                                 S = sum_r moe_r + sum_r shared_r, with the spec rounding points
 *                                 A = RN_T(sum_r moe_r), B = RN_T(sum_r shared_r), RN_T(A + B)
 *
 * exact, with condition scale m = sum of the magnitudes of the terms (sum_r |y_r|, or
 * sum_r |moe_r| + sum_r |shared_r|). The all-reduce result every rank holds is S rounded by the
 * algorithm's order (TPA_ALG_*); the budgets for each order are derived in the docs page.
 * Fused form (tp_allreduce_rmsnorm): h = RN_T(sigma + residual), residual_out = h,
 * out = rmsnorm_hf(h) * w (rmsnorm_fused_add's semantics, docs/ops/rmsnorm.md), sigma being the
 * all-reduce result; the reference's out is that of h* = RN_T(sigma* + residual), sigma* the
 * spec's correctly rounded all-reduce result (RN_T(S), or RN_T(A + B)).
 *
 * Shared by definition: the parameter enums and the reference's interface, no arithmetic here
 * (a helper both sides called would put one bug in the kernel and in its oracle at once).
 *
 * The reference: every term is a value of T (at most 24 significant bits); their sum in
 * double-double has error below 2^-104 per term; where the sum is smaller than 2^-60 m (heavy
 * cancellation, where that bound is no longer far below an output ulp) the element is recomputed
 * with MPFR at 2200 bits (exact for any sum of doubles); `--mpfr` takes that path for every
 * element. Agreement of the paths: tests/test_tp_allreduce.c. */
#ifndef UD_SPEC_TP_ALLREDUCE_H
#define UD_SPEC_TP_ALLREDUCE_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

/* Reduction orders (the `algorithm` parameter, in its choice order). TPA_ALG_ANY is no choice of
 * the simulated backends: it stands for "any order of R - 1 additions rounded to T", how the
 * NCCL path (harness/nccl) is judged, since NCCL picks its own algorithm and chunking. */
enum { TPA_ALG_ONESHOT = 0, TPA_ALG_RING = 1, TPA_ALG_TREE = 2, TPA_ALG_ANY = 3 };
enum { TPA_SPEC_COMBINED = 0, TPA_SPEC_UNFUSED = 1 };
/* Dtype of the RMSNorm weight in the fused form: the activation dtype, or fp32. */
enum { TPA_WEIGHT_ACT = 0, TPA_WEIGHT_FP32 = 1 };
/* How the rank partials relate: drawn independently, or the last rank's cancelling the others. */
enum { TPA_PARTIALS_INDEPENDENT = 0, TPA_PARTIALS_CANCEL = 1 };

#define TPA_MAX_RANKS 64

typedef struct {
    ud_dtype dt;                  /* of the partials, the residual and the outputs */
    int spec;                     /* TPA_SPEC_* */
    int64_t ranks, tokens, hidden;
    const void *moe, *shared;     /* [ranks, tokens, hidden] */
    /* Fused form only (residual NULL: the all-reduce alone). */
    const void *residual;         /* [tokens, hidden] in dt */
    const void *weight;           /* [hidden] in wdt */
    ud_dtype wdt;                 /* dt or UD_F32 */
    double eps32;                 /* eps as the fp32 the model adds */
    double norm_margin_rel;       /* the kernel's relative bound on n (candidate margin, as rmsnorm's) */
    /* The kernel's bound on |h - h*| (its all-reduce result against the spec's):
     * h_rel * (m + |residual|) + h_abs. out's condition scale is the first-order sensitivity of
     * the normalised row to perturbations of that size (docs/ops/tp_allreduce.md). */
    double h_rel, h_abs;
} ref_tpa_args;

#ifdef __cplusplus
extern "C" {
#endif
/* Plain form: sum = the all-reduce result, res_out and out unused (NULL).
 * Fused form: out = the normalised output, res_out = residual_out (either may be NULL: not
 * computed). Every ud_ref covers [ranks, tokens, hidden]: each rank's copy has the same
 * reference. */
int ref_tp_allreduce(const ref_tpa_args *a, ud_ref *sum_or_out, ud_ref *res_out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
