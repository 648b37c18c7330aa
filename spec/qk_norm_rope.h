/* spec/qk_norm_rope.h — what the fused per-head QK RMSNorm + partial RoPE kernels
 * (gpu/qk_norm_rope.h) and their exact reference (reference/qk_norm_rope.c) agree on by
 * definition (spec: docs/ops/qk_norm_rope.md; Qwen3 / GLM-4.5 attention, vLLM / TRT-LLM /
 * sglang fused_qk_norm_rope). Per token t and head (q heads with q_weight, k heads with
 * k_weight), over the head's head_dim values x:
 *   n_j  = x_j / sqrt(sum_i x_i^2 / head_dim + eps32)                exact, eps32 = RN_32(eps)
 *   spec hf:    y_j = RN_T(w_j * RN_T(n_j))     HF Qwen3RMSNorm: RN_T(n) and RN_T(w * .) are
 *                                               spec rounding points
 *   spec fused: y_j = n_j * w_j                 the fused engines: no rounding until the store
 *   then RoPE on y as spec/rope.h defines it (rotary_dim = int(head_dim * factor), inv_freq and
 *   the fp32 angle of pos, neox or gptj pairs, the cos/sin table in fp32 or T):
 *     out_j = y_j c - y_p s (first of a pair) or y_j c + y_p s (second), j < rotary_dim
 *     out_j = y_j                                                   j >= rotary_dim
 *   each output rounded once to T.
 * Shared by definition: the spec enum, the head sizes the operator accepts, and the reference's
 * interface — no arithmetic here (a helper both sides called would put one bug in the kernel
 * and in its oracle at once). The pairing-style enum is rope's (spec/rope.h).
 *
 * The reference: n from a double-double sum of the exact squares (fast path, within 2^-50
 * relative) or MPFR at 256 bits; spec hf, T = bf16/fp16: when n is within margin_rel of a
 * rounding boundary of T, both roundings are candidates (y0, y1 = RN_T(w * either)); the
 * table's cos/sin and the angle's inv_freq get their candidates as in spec/rope.h. An output
 * element's r0 takes every primary value; r1 the alternative of the one ambiguous quantity
 * with the largest effect; any further ambiguity of the same element (probability ~2^-20) is
 * added to its scale as an allowance. The scale s holds the whole documented error bound in
 * units of u_w = 2^-24 (the budget's scaled part is 1): bound_u (|y_j c| + |y_p s|) for a
 * rotated element plus y_bound_u (|y_j c| + |y_p s|) when y carries kernel error (spec fused,
 * or T = fp32), and y_bound_u |y_j| for a pass-through element with such a y (0 for an exact
 * candidate y). */
#ifndef UD_SPEC_QK_NORM_ROPE_H
#define UD_SPEC_QK_NORM_ROPE_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"
#include "spec/rope.h"   /* ROPE_NEOX / ROPE_GPTJ, ref_rope_inv_freq */

enum { QKR_SPEC_HF = 0, QKR_SPEC_FUSED = 1 };

/* The head sizes the operator accepts: the fused engines' kernels are instantiated for exactly
 * these (vLLM, TRT-LLM and sglang fused_qk_norm_rope), and the reference sizes its arrays by
 * the largest. */
#define QKR_MAX_HEAD_DIM 256

typedef struct {
    ud_dtype dt;            /* q, k, weights, outputs */
    ud_dtype tdt;           /* cos/sin table */
    int spec;               /* QKR_SPEC_* */
    int style;              /* ROPE_NEOX / ROPE_GPTJ */
    int64_t tokens, q_heads, kv_heads, head_dim;
    int rotary_dim;
    double base;
    double eps32;           /* eps as the fp32 the model adds */
    double margin_rel;      /* the kernel's relative error bound on n (its fp32 pipeline) plus
                             * the fast path's own: the RN_T(n) candidate margin */
    double y_bound_u;       /* the kernel's bound on y = n * w in units of u_w (spec fused, fp32) */
    double bound_u;         /* the rotation's bound in units of u_w (rope's ROPE_BOUND_U) */
    double table_margin;    /* as ref_rope_args.table_margin */
    const void *q, *k, *q_w, *k_w;
    const int32_t *pos;
} ref_qkr_args;

#ifdef __cplusplus
extern "C" {
#endif
int ref_qk_norm_rope(const ref_qkr_args *a, ud_ref *q_out, ud_ref *k_out, int use_mpfr);
#ifdef __cplusplus
}
#endif

#endif
