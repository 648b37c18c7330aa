/* moe_dispatch.h — expert-parallel MoE dispatch (pre-processing): the kernel body shared by the
 * CUDA kernels (gpu/moe_dispatch.cu) and the cpu backend (gpu/moe_dispatch.c). Spec:
 * spec/moe_dispatch.h, docs/ops/moe_dispatch.md.
 *
 *   count     tokens_per_expert[e] = #{(t, k): topk_ids[t, k] = e}, over 0 <= id < experts
 *   offsets   exclusive prefix sum of the counts
 *   slots     src2dst[t, k] = offset[e] + rank of (t, k) among expert e's slots in source order
 *             (a stable counting sort: the same slots on both backends), -1 when not taken
 *   scatter   token t's row into every taken slot: bf16 weights copy it bit for bit; fp8
 *             weights quantise it per group exactly as fp8_quant_per_token's body does (fq_absmax,
 *             fq_scale, fq_quant from gpu/fp8_quant_per_token.h, production form, no scale_ub),
 *             q into gateup_input and the group scales into gateup_input_scale
 *
 * The expert weights' dtype picks the path (md_mode): sglang's DeepGEMM runner quantised to FP8
 * whatever the weights were until moe_ep_deepgemm_preprocess took output_dtype from them.
 * Max is exact and order-free and every other fp8 step is one IEEE operation, so cpu, cuda and
 * fp8_quant_per_token agree bit for bit. Known-bug variants are selected by `bug` (MD_BUG_*). */
#ifndef UD_GPU_MOE_DISPATCH_H
#define UD_GPU_MOE_DISPATCH_H

#include "numerics/ud_portable.h"
#include "gpu/fp8_quant_per_token.h"   /* the group quantisation body: fq_absmax, fq_scale, fq_quant */
#include "spec/moe_dispatch.h"         /* MD_W_*: shared with the reference */

/* Known-bug variants, declared once: X(ENUM, "name", "finding that must catch it", "the bug").
 * The enum below and the registry's variant table (harness/ops/moe_dispatch.c) come from it. */
#define MD_VARIANTS(X)                                                                            \
    X(FP8_ON_BF16_WEIGHTS, "fp8_on_bf16_weights", "tolerance",                                    \
      "BF16 expert weights, yet the activations are quantised to FP8 as for FP8 weights: the "    \
      "expert sees every row at e4m3 precision (sglang's moe_ep_deepgemm_preprocess with "        \
      "output_dtype fixed to float8_e4m3fn, sglang #27056)")                                      \
    X(BF16_ON_FP8_WEIGHTS, "bf16_on_fp8_weights", "tolerance",                                    \
      "FP8 expert weights, yet the activations take the BF16 path: cast to e4m3 without a "       \
      "scale, no scales written")                                                                 \
    X(SKIP_EXPERT0, "skip_expert0", "tolerance",                                                  \
      "`expert_id > 0` instead of `>= 0`: expert 0's slots are neither counted nor scattered")    \
    X(MINUS_ONE_COUNTED, "minus_one_counted", "tolerance",                                        \
      "-1 used as an index (expert_map[-1], expert_mask[topk_ids]): another rank's slot is "      \
      "counted into and scattered to the last local expert (vLLM #46408, #42034; aiter #4636)")   \
    X(SIGN_CHECK_ONLY, "sign_check_only", "tolerance",                                            \
      "`expert_id >= 0` without `< experts` (ep_scatter's test): an out-of-range id is given a "  \
      "slot past the last expert's rows and its row scattered there (vLLM #50845 class)")         \
    X(SCALE_WRONG_ROW, "scale_wrong_row", "tolerance",                                            \
      "scales read from a column-major scale tensor as if row-major (stride 1 ignored): token "   \
      "t's group g gets the scale at flat offset t + g, another token's (vLLM #53338)")

enum {
    MD_BUG_NONE = 0,
#define X(E, ...) MD_BUG_##E,
    MD_VARIANTS(X)
#undef X
    MD_BUG_COUNT
};

/* How a token's row becomes the GEMM's input. */
enum {
    MD_COPY = 0,       /* bf16 weights: the row itself */
    MD_QUANT = 1,      /* fp8 weights: e4m3 per group, with the group scales */
    MD_QUANT_DEQ = 2,  /* FP8_ON_BF16_WEIGHTS: quantised as for fp8 weights, into the bf16 buffer */
    MD_CAST = 3,       /* BF16_ON_FP8_WEIGHTS: the bf16 path into the e4m3 buffer, no scale */
};

UD_HD int md_mode(int bug, int weights)
{
    if (weights == MD_W_FP8) return bug == MD_BUG_BF16_ON_FP8_WEIGHTS ? MD_CAST : MD_QUANT;
    return bug == MD_BUG_FP8_ON_BF16_WEIGHTS ? MD_QUANT_DEQ : MD_COPY;
}

/* The bucket a slot joins: its expert 0 .. experts-1, or -1 (skipped: -1 is another rank's
 * expert, any other id outside the range a stale or corrupt slot). Bucket `experts`, past the
 * last expert's rows, is where SIGN_CHECK_ONLY puts ids >= experts: the memory-safe stand-in
 * for ep_scatter's expert_start_loc[id] read past its end; production never fills it. */
UD_HD int64_t md_bucket(int bug, int32_t id, int64_t experts)
{
    if (bug == MD_BUG_SKIP_EXPERT0 && id == 0) return -1;
    if (bug == MD_BUG_MINUS_ONE_COUNTED && id == -1) return experts - 1;
    if (bug == MD_BUG_SIGN_CHECK_ONLY && id >= experts) return experts;
    return id >= 0 && id < experts ? id : -1;
}

/* Columns of group g of a row of `hidden` (the last group may be shorter). */
UD_HD int64_t md_group_len(int64_t hidden, int64_t group, int64_t g)
{
    int64_t rest = hidden - g * group;
    return rest < group ? rest : group;
}

/* Which (token, group)'s scale is stored for token t's group g: its own; under SCALE_WRONG_ROW
 * the scale tensor [tokens, groups] is laid out column-major (per_token_group_quant_fp8 with
 * column_major_scales) but read at t * stride0 + g, stride1 taken as 1: the flat offset t + g
 * holds (token (t + g) % tokens, group (t + g) / tokens). With one token, or g = 0, that is the
 * right scale; t + g < tokens * groups always, so the read stays inside the tensor. */
UD_HD void md_scale_source(int bug, int64_t t, int64_t g, int64_t tokens, int64_t *st, int64_t *sg)
{
    if (bug != MD_BUG_SCALE_WRONG_ROW) { *st = t; *sg = g; return; }
    *st = (t + g) % tokens;
    *sg = (t + g) / tokens;
}

/* The group scale from its amax: fp8_quant_per_token's production rule, no scale_ub. */
UD_HD float md_scale(int fmt, float amax, float min_scale) { return fq_scale(FQ_BUG_NONE, fmt, amax, 0.0f, min_scale); }

/* The e4m3 byte of x in a group of scale s (MD_QUANT), or without a scale (MD_CAST: a plain
 * `.to(float8_e4m3fn)`, which does not saturate: beyond 464 is NaN). */
UD_HD uint8_t md_q(int mode, float x, float s)
{
    return mode == MD_CAST ? fq_to_e4m3(x, 0) : fq_quant(FQ_BUG_NONE, x, s);
}

/* MD_QUANT_DEQ: what the expert sees of x through the fp8 path, stored in the bf16 buffer. */
UD_HD float md_dequant(float x, float s) { return ud_fmul(ud_e4m3_to_f32(fq_quant(FQ_BUG_NONE, x, s)), s); }

/* ---- launchers: gpu/moe_dispatch.c (cpu backend), gpu/moe_dispatch.cu ---- */
typedef struct {
    int dt;                       /* UD_DT_* of x (bf16) */
    int weights, fmt;             /* MD_W_*, FQ_FMT_* */
    int64_t tokens, hidden, topk, experts;
    int64_t group;                /* 1 <= group <= hidden */
    float min_scale;
    const void *x;                /* [tokens, hidden] */
    const int32_t *ids;           /* [tokens, topk] */
    void *buf;                    /* [tokens * topk, hidden]: dt (bf16 weights) or e4m3 bits */
    float *scales;                /* [tokens * topk, groups]; fp8 weights only */
    int32_t *counts;              /* [experts] */
    int32_t *src2dst;             /* [tokens, topk] */
} md_args;

#ifdef __cplusplus
extern "C" {
#endif
int moe_dispatch_cpu(const md_args *a, int bug);
int moe_dispatch_cuda(const md_args *a, int bug);   /* device pointers; asynchronous */
#ifdef __cplusplus
}
#endif

#endif
