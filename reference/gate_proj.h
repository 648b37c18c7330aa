/* gate_proj.h — exact reference for the router gate projection and the routing-flip metric
 * (spec: docs/ops/gate_proj.md).
 *
 *   l[t, e] = sum_h x[t, h] * W[e, h]        exact; s[t, e] = sum_h |x[t, h] * W[e, h]|
 * with x and W as stored (fp32 and tf32 modes: the fp32 model's logits) or rounded to bf16
 * (bf16 mode: the bf16 model consumes RN_bf16(x), RN_bf16(W)). No spec rounding point lies
 * inside the sum, so every logit has one candidate (r0 == r1).
 *
 * Products of two values of at most 24 significant bits are exact in double, so the logit is
 * an exact sum of doubles. Three paths, each used only where it provably decides the logit to
 * within 2^-31 relative (below 0.01 ulp of fp32, the finest output):
 *   1. OpenBLAS dgemm, any order: |error| <= gamma_H(2^-53) * s;
 *   2. Sum2 (cascaded TwoSum, Ogita-Rump-Oishi 2005, Prop. 4.5) for the elements dgemm cannot
 *      decide: |error| <= 2^-53 |l| + gamma_{H-1}(2^-53)^2 * s;
 *   3. MPFR's mpfr_sum (correctly rounded sum of the exact products) for the rest, and for
 *      everything when use_mpfr is set.
 * tests/test_gate_proj.c shows the fast paths agree with MPFR on random and adversarial data. */
#ifndef UD_REF_GATE_PROJ_H
#define UD_REF_GATE_PROJ_H

#include <stddef.h>
#include <stdint.h>

#include "harness/ops/registry.h"

typedef struct {
    int64_t tokens, hidden, experts;
    ud_dtype xdt, wdt;            /* storage dtypes (bf16 or fp32) */
    int bf16_operands;            /* bf16 mode: the model multiplies RN_bf16(x) by RN_bf16(W) */
    const void *x, *w;
} ref_gate_args;

/* How many logits each path decided (for tests and reports). */
typedef struct { size_t dgemm, sum2, mpfr; } ref_gate_paths;

/* Reference logits and condition scales into out (n = tokens * experts). paths may be NULL. */
int ref_gate_logits(const ref_gate_args *a, ud_ref *out, int use_mpfr, ref_gate_paths *paths);

/* Exact sign of l[t, ea] - l[t, eb]: -1, 0 or 1 (MPFR); -2 on allocation failure. */
int ref_gate_cmp(const ref_gate_args *a, int64_t t, int64_t ea, int64_t eb);

/* ---- routing flips ----
 * For each token: the exact top-k expert set T (by gate_score over the reference logits), and
 * whether the kernel's scores select exactly T (min over T > max over the rest, strictly: a tie
 * at the kernel's boundary leaves the set to tie-breaking luck, and counts as a flip).
 * A token is
 *   a tie          when the k-th and (k+1)-th exact scores are exactly equal (set undefined);
 *   undecidable    when some expert in T and some outside could swap within the mode's own
 *                  error bound: min_T (score - d) <= max_rest (score + d), d the score bound
 *                  implied by the logit bound tol (the comparison tolerance);
 *   decidable      otherwise: a kernel whose logits are within tolerance cannot flip it.
 * Every token with k >= experts is decidable and cannot flip. */
typedef struct {
    int scoring;                  /* GATE_SCORE_* */
    int topk;
    const float *bias;            /* [experts], sigmoid_bias scoring only */
    const double *got;            /* kernel logits [tokens * experts] */
    const double *tol;            /* per-logit bound of the mode [tokens * experts] */
} ref_route_args;

typedef struct {
    size_t tokens, ties, undecidable, decidable;
    size_t flips;                 /* among decidable tokens */
    size_t flips_all;             /* among all tokens but ties: what the mode costs */
    int64_t first_flip;           /* first decidable token that flips, or -1 */
    int64_t first_in, first_out;  /* its exact boundary experts: k-th and (k+1)-th */
} ref_route_stats;

int ref_gate_routing(const ref_gate_args *a, const ud_ref *ref, const ref_route_args *r, ref_route_stats *st);

#endif
