/* routing.h — the routing-flip metric of the MoE router gate (docs/ops/gate_proj.md, "Routing
 * flips"): does the kernel's top-k expert set equal the exact one?
 *
 * For each token: the exact top-k set T (by the selection score over the reference logits:
 * softmax orders experts by the logit itself, sigmoid_bias by sigmoid(l) + b), and whether the
 * kernel's scores select exactly T (min over T > max over the rest, strictly: a tie at the
 * kernel's boundary leaves the set to tie-breaking luck, and counts as a flip). A token is
 *   a tie          when the k-th and (k+1)-th exact scores are exactly equal (set undefined);
 *   undecidable    when some expert in T and some outside could swap within the mode's own
 *                  error bound: min_T (score - d) <= max_rest (score + d), d the score bound
 *                  implied by the logit bound tol (the comparison tolerance);
 *   decidable      otherwise: a kernel whose logits are within tolerance cannot flip it.
 * Every token with k >= experts is decidable and cannot flip.
 *
 * This judges the kernel's output, so it is harness work: the exact reference
 * (reference/gate_proj.c) supplies only the logits and exact logit comparisons, and the scores
 * are evaluated here, not by the kernel's helpers. */
#ifndef UD_ROUTING_H
#define UD_ROUTING_H

#include <stddef.h>
#include <stdint.h>

#include "numerics/ref.h"
#include "spec/gate_proj.h"

typedef struct {
    int scoring;                  /* GATE_SCORE_* */
    int topk;
    const float *bias;            /* [experts], sigmoid_bias scoring only */
    const double *got;            /* kernel logits [tokens * experts] */
    const double *tol;            /* per-logit bound of the mode [tokens * experts] */
} ud_route_args;

typedef struct {
    size_t tokens, ties, undecidable, decidable;
    size_t flips;                 /* among decidable tokens */
    size_t flips_all;             /* among all tokens but ties: what the mode costs */
    int64_t first_flip;           /* first decidable token that flips, or -1 */
    int64_t first_in, first_out;  /* its exact boundary experts: k-th and (k+1)-th */
} ud_route_stats;

/* The selection score of a logit (bias: the expert's, used by sigmoid_bias only). */
double ud_route_score(int scoring, double logit, double bias);

/* Counts the tokens of a (whose reference logits are ref) by class and the kernel's flips. */
int ud_route_flips(const ref_gate_args *a, const ud_ref *ref, const ud_route_args *r, ud_route_stats *st);

#endif
