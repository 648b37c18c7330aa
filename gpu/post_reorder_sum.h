/* post_reorder_sum.h — MoE combine (post-reorder weighted sum): the kernel body shared by the
 * CUDA kernel (gpu/post_reorder_sum.cu) and the cpu backend (gpu/post_reorder_sum.c).
 * Spec, rounding points and budgets: docs/ops/post_reorder_sum.md.
 *
 *   out[t, h] = RN_T( sum over k with topk_ids[t, k] >= 0 of
 *                     topk_weights[t, k] * down[src2dst[t, k], h] )
 *
 * accumulated in fp32 and rounded once to T (sglang's EP MoE post_reorder kernel, fp32-sum
 * form). down is [tokens * topk, hidden] in dispatch order (rows sorted by expert id, see
 * harness/core/expert_ids.h); a -1 id is an expert on another rank, and any other id outside
 * [0, experts) is skipped the same way: its row was never computed and is not read; a token
 * with no local expert gets exactly +0.
 *
 * Accumulation order — fixed, and the same on both backends so they agree bit for bit: acc
 * starts at +0.0f and takes the slots in ascending k, acc = fmaf(w, d, acc) (one rounding per
 * term; the fma is explicit because nvcc would otherwise contract w * d + acc on the GPU and
 * not on the host). The error bound this gives is prs_bound_u().
 *
 * Known-bug variants are selected by a compile-time constant `bug` (PRS_BUG_*); production is
 * instantiated with PRS_BUG_NONE. */
#ifndef UD_GPU_POST_REORDER_SUM_H
#define UD_GPU_POST_REORDER_SUM_H

#include "numerics/ud_portable.h"

/* Known-bug variants, declared once: X(ENUM, "name", "finding that must catch it", "the bug").
 * The enum below and the registry's variant table (harness/ops/post_reorder_sum.c) come from it. */
#define PRS_VARIANTS(X)                                                                           \
    X(SKIP_EXPERT0, "skip_expert0", "tolerance",                                                  \
      "`expert_id > 0` instead of `>= 0`: expert 0's output is never added (sglang post_reorder)") \
    X(ACC_INPUT_DTYPE, "acc_input_dtype", "tolerance",                                            \
      "products and running sum rounded to the input dtype instead of an fp32 accumulator")      \
    X(SIGN_CHECK_ONLY, "sign_check_only", "nan-mismatch",                                         \
      "`expert_id >= 0` without `< experts`: an out-of-range local id is read, not skipped "     \
      "(vLLM #48371, #50845)")                                                                    \
    X(MINUS_ONE_WRAPS, "minus_one_wraps", "tolerance",                                            \
      "-1 used as an index: expert_map[-1] wraps to the last entry, a valid local expert, so the " \
      "slot is computed and combined (vLLM #46408, #42034)")

enum {
    PRS_BUG_NONE = 0,
#define X(E, ...) PRS_BUG_##E,
    PRS_VARIANTS(X)
#undef X
    PRS_BUG_COUNT
};

/* Does slot id take part? Exactly the local experts 0 .. experts-1: -1 (another rank) and any
 * other id outside the range (a corrupt or stale slot) are skipped alike — such a slot's row
 * was never computed by an expert. */
UD_HD int prs_take(int bug, int32_t id, int64_t experts)
{
    if (bug == PRS_BUG_SKIP_EXPERT0) return id > 0 && id < experts;
    if (bug == PRS_BUG_SIGN_CHECK_ONLY) return id >= 0;
    if (bug == PRS_BUG_MINUS_ONE_WRAPS && id == -1) return 1;   /* taken as expert experts-1 */
    return id >= 0 && id < experts;
}

/* acc + w * d. The input-dtype bug rounds the product and the sum to T; for fp32 that is the
 * production arithmetic up to the fma, so the variant keeps the fma there. */
UD_HD float prs_acc(int dt, int bug, float acc, float w, float d)
{
    if (bug == PRS_BUG_ACC_INPUT_DTYPE && dt != UD_DT_F32)
        return ud_round_f32(dt, acc + ud_round_f32(dt, w * d));
    return fmaf(w, d, acc);
}

/* Error bound of the fp32 sum, in units of u = 2^-24 of sum_k |w_k d_k| (derivation in
 * docs/ops/post_reorder_sum.md): at most topk terms, each added with one rounding (the first
 * fma rounds the product), so |acc - exact| <= ((1 + u)^topk - 1) * s <= (topk + 1) u s for
 * topk < 2^12. */
UD_HD double prs_bound_u(int64_t topk) { return (double)topk + 1.0; }

/* ---- launchers: gpu/post_reorder_sum.c (cpu backend), gpu/post_reorder_sum.cu (cuda) ---- */
typedef struct {
    int dt;                       /* UD_DT_* of down and out */
    int64_t tokens, topk, hidden;
    int64_t experts;              /* local experts: ids 0 .. experts-1 are combined */
    const void *down;             /* [tokens * topk, hidden] */
    const int32_t *ids;           /* [tokens, topk] */
    const float *w;               /* [tokens, topk] */
    const int32_t *src2dst;       /* [tokens, topk] */
    void *out;                    /* [tokens, hidden] */
} prs_args;

#ifdef __cplusplus
extern "C" {
#endif
int post_reorder_sum_cpu(const prs_args *a, int bug);
int post_reorder_sum_cuda(const prs_args *a, int bug);   /* device pointers; asynchronous */
/* Production kernel in launch configuration cfg (`ulpdiff bench --configs`); UD_EUSAGE past the last. */
int post_reorder_sum_cuda_tune(const prs_args *a, int cfg, const char **name);
#ifdef __cplusplus
}
#endif

#endif
