/* tp_allreduce.h — the tensor-parallel all-reduce of the MoE block, ranks simulated on one device:
 * the kernel body shared by the CUDA kernels (gpu/tp_allreduce.cu) and the cpu backend
 * (gpu/tp_allreduce.c). Spec, rounding points and budgets: docs/ops/tp_allreduce.md.
 *
 *   spec combined:  y_r = RN_T(moe_r + shared_r) on each rank, then one all-reduce of y
 *   spec unfused:   all-reduce(moe) and all-reduce(shared), each rounded to T, then RN_T(A + B)
 *   fused form:     h = RN_T(sigma + residual); residual_out = h; out = rmsnorm_hf(h) * w — the
 *                   body of rmsnorm_fused_add (gpu/rmsnorm.h) in its order, so out equals what
 *                   rmsnorm_fused_add computes from the all-reduce result bit for bit
 *
 * Every rank's copy of the result is an output ([ranks, tokens, hidden]): an all-reduce must leave
 * the same bits on every rank. Reduction orders, fixed and followed by both backends:
 *   oneshot  every rank reads all R partials and sums them in fp32 in rank order 0, 1, ..., R-1
 *            (acc = y_0, then acc + y_k), one rounding to T at the end (custom all-reduce kernels);
 *   ring     reduce-scatter + all-gather over token shards of ceil(tokens / R) rows: the shard c
 *            of token t (c = t / shard) travels the ring from rank c + 1: RN_T(...RN_T(y_{c+1} +
 *            y_{c+2}) ... + y_c), one rounding to T per hop; then copied to every rank;
 *   tree     pairwise by levels over ranks 0..R-1 ((y0 + y1) + (y2 + y3)) ..., an odd one out
 *            passing up unchanged, each addition rounded to T; then broadcast.
 * A rounding to T of an fp32 sum of two T values is the correctly rounded T addition (fp32 holds
 * it exactly, or double rounding 24 -> p is innocuous for p <= 11). Every fp32 step goes through
 * ud_fadd (no contraction on the device). The error bound of each order is tpa_reduce_bound().
 *
 * Known-bug variants are selected by a compile-time constant `bug` (TPA_BUG_*); production
 * kernels are instantiated with TPA_BUG_NONE. */
#ifndef UD_GPU_TP_ALLREDUCE_H
#define UD_GPU_TP_ALLREDUCE_H

#include "gpu/rmsnorm.h"   /* the fused form's norm: rmsnorm_fused_add's body (spec hf) */
#include "numerics/ud_portable.h"
#include "spec/tp_allreduce.h"

/* Known-bug variants, declared once: X(ENUM, "name", in tp_allreduce, in tp_allreduce_rmsnorm,
 * "finding that must catch it", "the bug"). The enum below and the registry's variant tables
 * (harness/ops/tp_allreduce.c) are generated from it. */
#define TPA_VARIANTS(X)                                                                            \
    X(DOUBLE_ALLREDUCE, "double_allreduce", 1, 1, "tolerance",                                     \
      "an already reduced tensor all-reduced again (the dense-MLP path of sglang's Step3p5 change, "  \
      "caught in review): R times the sum")                                                        \
    X(SHARED_DROPPED, "shared_dropped", 1, 1, "tolerance",                                          \
      "the shared expert's own all-reduce turned off (reduce_results=False) and its output never "  \
      "added to the routed experts'")                                                              \
    X(TAIL_TOKENS_LOST, "tail_tokens_lost", 1, 1, "unwritten-output",                               \
      "reduce-scatter shards of floor(tokens / ranks) rows: the last tokens % ranks tokens are "     \
      "never reduced nor gathered")                                                                \
    X(ROTATED_ORDER, "rotated_order", 1, 1, "rank-mismatch",                                       \
      "one-shot sum starting at the rank's own partial (r, r+1, ...): ranks disagree in the last "   \
      "bit (vLLM's custom all-reduce keeps one order on every rank for this reason)")              \
    X(RESIDUAL_EVERY_RANK, "residual_every_rank", 0, 1, "tolerance",                                \
      "the residual added to every rank's partial before the reduce: S + R * residual")            \
    X(NORM_BEFORE_REDUCE, "norm_before_reduce", 0, 1, "tolerance",                                  \
      "RMSNorm applied to the rank's own partial before the reduce instead of to the reduced sum")  \
    X(WEIGHT_AS_ACT, "weight_read_as_act", 0, 1, "tolerance",                                       \
      "fp32 norm weights read as the activation dtype in the fused kernel (vLLM #48324 class)")

enum {
    TPA_BUG_NONE = 0,
#define X(E, ...) TPA_BUG_##E,
    TPA_VARIANTS(X)
#undef X
    TPA_BUG_COUNT
};

/* Tree stack: entries of strictly decreasing level, at most log2(TPA_MAX_RANKS) + 1. */
#define TPA_STACK 8

/* One element's reduction in progress: the partials are pushed in the order's sequence. The
 * tree's stack of pending subtree sums (one per set bit of k) is the caller's array of TPA_STACK
 * floats, apart from the struct, so that the scalars stay in registers on the device. */
typedef struct {
    float acc;                /* oneshot: the fp32 sum; ring: the T value travelling the ring */
    int n, k;                 /* tree stack depth; partials pushed so far */
} tpa_red;

/* Does the variant make ranks compute different things (then each rank is computed on its own;
 * production computes once and copies, which is what every rank would get)? */
UD_HD int tpa_rank_dependent(int bug) { return bug == TPA_BUG_ROTATED_ORDER || bug == TPA_BUG_NORM_BEFORE_REDUCE; }

/* One hop: the correctly rounded T addition. */
UD_HD float tpa_hop(int dt, float a, float b) { return ud_round_f32(dt, ud_fadd(a, b)); }

UD_HD void tpa_red_init(tpa_red *s)
{
    s->acc = 0.0f;
    s->n = 0;
    s->k = 0;
}

/* Pushes the next partial of the order. Tree: the k-th leaf merges with the subtrees its
 * binary counter carries into (one merge per trailing 1-bit of k), which is the level-by-level
 * pairing of the docs: (y0 + y1), (y2 + y3), ..., then pairs of those. */
UD_HD void tpa_red_push(int alg, int dt, tpa_red *s, float *st, float y)
{
    if (alg == TPA_ALG_TREE) {
        float cur = y;
        for (int bits = s->k; bits & 1; bits >>= 1) cur = tpa_hop(dt, st[--s->n], cur);
        st[s->n++] = cur;
    } else if (s->k == 0) {
        s->acc = y;
    } else {
        s->acc = alg == TPA_ALG_ONESHOT ? ud_fadd(s->acc, y) : tpa_hop(dt, s->acc, y);
    }
    s->k++;
}

/* The value every rank holds: oneshot rounds its fp32 sum once; a tree with a number of leaves
 * that is no power of two joins its pending subtrees from the right (the odd ones out of the
 * levels, each passing up until a level pairs it). */
UD_HD float tpa_red_finish(int alg, int dt, const tpa_red *s, const float *st)
{
    if (alg == TPA_ALG_TREE) {
        float r = s->n > 0 ? st[s->n - 1] : 0.0f;   /* n = 0 only with no rank at all */
        for (int i = s->n - 2; i >= 0; i--) r = tpa_hop(dt, st[i], r);
        return r;
    }
    return alg == TPA_ALG_ONESHOT ? ud_round_f32(dt, s->acc) : s->acc;
}

/* The rank whose partial is pushed k-th, for output rank q and ring shard `shard_id`. */
UD_HD int tpa_rank_at(int alg, int bug, int64_t ranks, int64_t shard_id, int64_t q, int64_t k)
{
    if (alg == TPA_ALG_RING) return (int)((shard_id + 1 + k) % ranks);
    if (alg == TPA_ALG_ONESHOT && bug == TPA_BUG_ROTATED_ORDER) return (int)((q + k) % ranks);
    return (int)k;
}

/* Rows of a ring shard: ceil(tokens / ranks); the tail bug takes floor and loses the rest. */
UD_HD int64_t tpa_shard_rows(int bug, int64_t tokens, int64_t ranks)
{
    return bug == TPA_BUG_TAIL_TOKENS_LOST ? tokens / ranks : (tokens + ranks - 1) / ranks;
}

/* Is token t in no shard (never reduced, never written)? Only the ring scatters tokens. */
UD_HD int tpa_token_lost(int alg, int bug, int64_t t, int64_t tokens, int64_t ranks)
{
    int64_t rows = tpa_shard_rows(bug, tokens, ranks);
    return alg == TPA_ALG_RING && (rows == 0 || t / rows >= ranks);
}

UD_HD int64_t tpa_shard_of(int alg, int bug, int64_t t, int64_t tokens, int64_t ranks)
{
    return alg == TPA_ALG_RING ? t / tpa_shard_rows(bug, tokens, ranks) : 0;
}

/* Rank r's partial of the (first) reduction: y_r = RN_T(moe + shared) under the combined spec,
 * moe alone under unfused (its shared partial goes to the second reduction). The residual bug
 * adds the residual here, on every rank. */
UD_HD float tpa_partial(int dt, int spec, int bug, float moe, float shared, float res)
{
    float y = spec == TPA_SPEC_UNFUSED || bug == TPA_BUG_SHARED_DROPPED ? moe : tpa_hop(dt, moe, shared);
    return bug == TPA_BUG_RESIDUAL_EVERY_RANK ? tpa_hop(dt, y, res) : y;
}

/* Does the spec run the second reduction (shared's, unfused)? */
UD_HD int tpa_second(int spec, int bug) { return spec == TPA_SPEC_UNFUSED && bug != TPA_BUG_SHARED_DROPPED; }

/* The all-reduce result from the reductions' results: unfused adds A and B (a spec rounding
 * point); the double all-reduce reduces the result once more, R equal partials in the same
 * order. */
UD_HD float tpa_join(int alg, int dt, int spec, int bug, int64_t ranks, float a, float b)
{
    float s = tpa_second(spec, bug) ? tpa_hop(dt, a, b) : a;
    if (bug == TPA_BUG_DOUBLE_ALLREDUCE) {
        tpa_red again;
        float st[TPA_STACK];
        tpa_red_init(&again);
        for (int64_t k = 0; k < ranks; k++) tpa_red_push(alg, dt, &again, st, s);
        s = tpa_red_finish(alg, dt, &again, st);
    }
    return s;
}

/* Fused form: the residual_out element h and the value the norm normalises (the same h in
 * production: rmsnorm_fused_add's rms_input and rms_residual_out, spec hf). `own` is the rank's
 * own partial RN_T(moe_q + shared_q), which the norm-before-reduce bug normalises instead; the
 * residual bug already added the residual on every rank. */
UD_HD float tpa_residual_out(int dt, int bug, float sigma, float res)
{
    return bug == TPA_BUG_RESIDUAL_EVERY_RANK ? sigma : rms_residual_out(dt, RMS_BUG_NONE, sigma, res);
}

UD_HD float tpa_norm_input(int dt, int bug, float sigma, float res, float own)
{
    if (bug == TPA_BUG_RESIDUAL_EVERY_RANK) return sigma;
    if (bug == TPA_BUG_NORM_BEFORE_REDUCE) return rms_input(dt, 1, RMS_SPEC_HF, RMS_BUG_NONE, own, res);
    return rms_input(dt, 1, RMS_SPEC_HF, RMS_BUG_NONE, sigma, res);
}

/* The norm weight: fp32 or T; the #48324 bug reads an fp32 buffer as T elements. */
UD_HD float tpa_weight(int dt, int wfp32, int bug, const void *w, int64_t j)
{
    if (wfp32 && bug != TPA_BUG_WEIGHT_AS_ACT) return ((const float *)w)[j];
    return ud_ld(dt, w, j);
}

/* ---- error bounds (derivations: docs/ops/tp_allreduce.md) ----
 * u = 2^-p of T, v = 2^-24 (fp32), half_sub = half T's smallest subnormal. */
UD_HD double tpa_unit(int dt) { return dt == UD_DT_F32 ? 0x1p-24 : dt == UD_DT_F16 ? 0x1p-11 : 0x1p-8; }
UD_HD double tpa_half_sub(int dt) { return dt == UD_DT_F32 ? 0x1p-150 : dt == UD_DT_F16 ? 0x1p-25 : 0x1p-134; }

/* (1 + x)^k - 1, accurately for small x. */
UD_HD double tpa_gamma(double x, int64_t k) { return k <= 0 ? 0.0 : expm1((double)k * log1p(x)); }

/* The reduction's value z before its final rounding to T: |z - S| <= *scaled * u * m + *abs.
 * oneshot: R - 1 fp32 additions, every one before the final rounding;
 * ring and any order: the first two partials pass through R - 1 additions, the last of which is
 * the final rounding, so R - 2 roundings to T before it; tree: ceil(log2 R) levels, the root's
 * the final rounding. Each rounding errs by u relative or, in the subnormal range, by half the
 * smallest subnormal absolute (R - 2 such roundings before the final one; R - 1 in fp32). */
UD_HD void tpa_reduce_bound(int alg, int dt, int64_t ranks, double *scaled, double *abs_err)
{
    double u = tpa_unit(dt);
    int64_t depth = 0;
    if (alg == TPA_ALG_TREE)
        while (((int64_t)1 << depth) < ranks) depth++;
    else
        depth = ranks - 1;
    if (alg == TPA_ALG_ONESHOT) {
        *scaled = tpa_gamma(0x1p-24, ranks - 1) / u;
        *abs_err = (double)(ranks > 1 ? ranks - 1 : 0) * 0x1p-150 * (1.0 + tpa_gamma(0x1p-24, ranks));
        return;
    }
    *scaled = tpa_gamma(u, depth - 1) / u;
    *abs_err = (double)(ranks > 2 ? ranks - 2 : 0) * tpa_half_sub(dt) * (1.0 + tpa_gamma(u, depth));
}

/* |sigma - S| <= c * u * m + eta for the all-reduce result sigma (after its rounding to T; under
 * the unfused spec after RN_T(A + B)). */
UD_HD void tpa_sigma_bound(int alg, int dt, int spec, int64_t ranks, double *c, double *eta)
{
    double u = tpa_unit(dt), hs = tpa_half_sub(dt), k, a;
    tpa_reduce_bound(alg, dt, ranks, &k, &a);
    if (spec == TPA_SPEC_COMBINED) {
        *c = 1.0 + (1.0 + u) * k;
        *eta = (1.0 + u) * a + hs;
    } else {
        double ez = 1.0 + (1.0 + u) * k, eabs = 2.0 * ((1.0 + u) * a + hs);   /* |A + B - S| */
        *c = 1.0 + (1.0 + u) * ez;
        *eta = (1.0 + u) * eabs + hs;
    }
}

/* Fused form: |h - h*| <= h_rel * (m + |residual|) + h_abs, h* = RN_T(sigma* + residual). */
UD_HD void tpa_h_bound(int alg, int dt, int spec, int64_t ranks, double *h_rel, double *h_abs)
{
    double u = tpa_unit(dt), c, eta;
    tpa_sigma_bound(alg, dt, spec, ranks, &c, &eta);
    *h_rel = (2.0 + 2.0 * (1.0 + u) * c) * u;
    *h_abs = 2.0 * (1.0 + u) * eta + 2.0 * tpa_half_sub(dt);
}

/* ---- launchers: gpu/tp_allreduce.c (cpu backend), gpu/tp_allreduce.cu (cuda) ---- */
typedef struct {
    int dt;                       /* UD_DT_* of the partials, residual and outputs */
    int alg, spec, fused, wfp32;
    int64_t ranks, tokens, hidden;
    float eps;
    const void *moe, *shared;     /* [ranks, tokens, hidden] */
    const void *res, *w;          /* fused: [tokens, hidden]; [hidden] in dt, or fp32 (wfp32) */
    void *out;                    /* [ranks, tokens, hidden]: the sum, or the normalised output */
    void *res_out;                /* fused: [ranks, tokens, hidden] */
} tpa_args;

#ifdef __cplusplus
extern "C" {
#endif
int tp_allreduce_cpu(const tpa_args *a, int bug);
int tp_allreduce_cuda(const tpa_args *a, int bug);   /* device pointers; asynchronous */
#ifdef __cplusplus
}
#endif

#endif
