/* spec/post_reorder_sum.h — the MoE combine's exact reference interface (spec:
 * docs/ops/post_reorder_sum.md; kernel body: gpu/post_reorder_sum.h):
 *
 *   out[t, h] = sum over k with 0 <= ids[t, k] < experts of w[t, k] * down[src2dst[t, k], h]
 *
 * exact (the kernel's single rounding to T is the budget's 0.5 ulp: there is no spec rounding
 * point inside, so r0 == r1), with condition scale s = sum over the same k of |w * down|.
 * The operator has no parameter enum or constant that kernel and reference must share, so this
 * header holds only the reference's interface: no arithmetic here (shared code would hide its
 * own bugs from every case).
 *
 * The reference: every product of an fp32 weight and a bf16/fp16/fp32 value is exact in double
 * (<= 48 significant bits). Fast path: the products summed in double-double, error below
 * topk * 2^-104 * s; where the result is smaller than 2^-60 * s (heavy cancellation) that
 * bound says nothing useful in output ulps, and the element goes to MPFR. MPFR path: the
 * exact sum at 2200 bits (any sum of up to 2^40 doubles is exact there). A non-finite product
 * makes the element the IEEE double sum of the products, the value fp32 arithmetic gives
 * (Inf + finite = Inf, Inf - Inf = NaN). Agreement of the paths:
 * tests/test_post_reorder_sum.c. */
#ifndef UD_SPEC_POST_REORDER_SUM_H
#define UD_SPEC_POST_REORDER_SUM_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

typedef struct {
    ud_dtype dt;                  /* of down */
    int64_t tokens, topk, hidden;
    int64_t experts;              /* local experts: only ids in [0, experts) are terms */
    const void *down;
    const int32_t *ids, *src2dst;
    const float *w;
} ref_prs_args;

#ifdef __cplusplus
extern "C" {
#endif
int ref_post_reorder_sum(const ref_prs_args *a, ud_ref *out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
