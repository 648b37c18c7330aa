/* qk_norm_rope.h — fused per-head QK RMSNorm + partial RoPE (Qwen3 / GLM-4.5 attention): the
 * kernel body shared by the CUDA kernel (gpu/qk_norm_rope.cu) and the cpu backend
 * (gpu/qk_norm_rope.c). Spec, rounding points and budgets: docs/ops/qk_norm_rope.md.
 *
 * Per token and head (q heads with q_weight, k heads with k_weight), x the head's head_dim values:
 *   inv = 1 / sqrt(sum x^2 / head_dim + eps)         fp32, in the fixed order below
 *   n   = x * inv
 *   y   = RN_T(RN_T(n) * w)     (spec hf: HF Qwen3RMSNorm, `weight * hidden_states.to(dtype)`)
 *   y   = n * w                 (spec fused: the engines' fused kernels, fp32 until the store)
 *   out = RN_T(rope_rotate(y_j, y_partner, cos, sin))   j < rotary_dim (gpu/rope.h, rope's spec)
 *   out = RN_T(y_j)                                     j >= rotary_dim
 * cos and sin come from the cos/sin table [max_position, rotary_dim] (vLLM's cos_sin_cache,
 * built by rope's builder) at the token's position.
 *
 * Layout and reduction order — fixed, and followed exactly by both backends so their results
 * agree bit for bit. A head is cut into chunks of V = 16 bytes / sizeof(T) elements (the CUDA
 * vector width); L = min(head_dim / V, 32) lanes hold a head, lane j its chunks j, j + L, ...
 * (K = head_dim / (V L) of them: 2 for fp32 heads of 256, else 1); a warp holds G = 32 / L heads
 * side by side (unit u = token * (q_heads + kv_heads) + head: q heads first; group g = u / G),
 * and takes I consecutive groups one after another (I = QKR_ITERS when the call has at least
 * QKR_MULTI_MIN_UNITS units — prefill —, else 1 — decode, where parallelism matters more).
 * Lane j sums the squares of its chunks' elements in order (ud_fmul, ud_fadd), then the L lanes
 * of a head combine by an xor butterfly of offsets L/2 .. 1; every lane ends with the same sum
 * (IEEE addition is commutative), so every element of the head uses one inv. The neox partner
 * of an element lives in another chunk (half a rotary part away): it is fetched from the lane
 * that holds it by a warp shuffle every lane executes; gptj partners are in the same chunk.
 *
 * Known-bug variants are selected by a compile-time constant `bug` (QKR_BUG_*); production is
 * instantiated with QKR_BUG_NONE, so no bug code is on its path. */
#ifndef UD_GPU_QK_NORM_ROPE_H
#define UD_GPU_QK_NORM_ROPE_H

#include "numerics/ud_portable.h"
#include "spec/qk_norm_rope.h"   /* QKR_SPEC_*, QKR_MAX_HEAD_DIM: shared with the reference */
#include "gpu/rope.h"            /* rope_rotate, rope_pair, the table and its guard rows */

/* Known-bug variants, declared once: X(ENUM, "name", "finding that must catch it", "the bug").
 * The enum below and the registry's variant table (harness/ops/qk_norm_rope.c) come from it. */
#define QKR_VARIANTS(X)                                                                           \
    X(DIVERGENT_SHUFFLE, "shuffle_in_divergent_branch", "tolerance",                              \
      "partial neox in the multi-head-per-warp kernel: the rotary exchange is a warp shuffle "    \
      "inside the rotary lanes' branch, and the other lanes' next collective (the next head's "   \
      "sum of squares) meets it: every head after a warp's first is corrupted (vLLM #51049)")     \
    X(ROTARY_DIM_IGNORED, "rotary_dim_ignored", "nan-mismatch",                                   \
      "rotary_dim not passed to the fused kernel, which defaults it to head_dim: every dim "      \
      "rotates and cos/sin are read past a rotary_dim-wide table row, past the table at its "     \
      "last position (the NaN guard rows: vLLM #43676)")                                          \
    X(POSITIONS_DROPPED, "positions_dropped", "tolerance",                                        \
      "the fused kernel drops the positions it is given and rotates each token by its index in "  \
      "the batch: right for a prefill from position 0, wrong for every other token (sglang "      \
      "#35744 class)")                                                                            \
    X(WARP_SUM_ZERO_MASKED, "warp_sum_zero_masked", "nan-mismatch",                               \
      "the multi-head-per-warp kernel reduces the sum of squares over the whole warp (offsets "   \
      "16..1) and masks the other heads' lanes by multiplying them by 0: exact for finite "       \
      "values, but 0 * NaN = 0 * Inf = NaN, so a CUDA-graph padding token's garbage makes every " \
      "real head that shares its warp NaN (vLLM #40047 class: padding NaNs through warp "         \
      "reductions; vLLM #41249: NaN * 0 = NaN)")

enum {
    QKR_BUG_NONE = 0,
#define X(E, ...) QKR_BUG_##E,
    QKR_VARIANTS(X)
#undef X
    QKR_BUG_COUNT
};

/* A call with at least this many (token, head) units runs I = QKR_ITERS head groups per warp. */
#define QKR_MULTI_MIN_UNITS 8192
#define QKR_ITERS 4

/* Chunk width V, lanes per head L, chunks per lane K for dtype dt and head_dim hd. */
UD_HD int qkr_vec(int dt) { return 16 / ud_dt_size(dt); }
UD_HD int qkr_lanes(int dt, int64_t hd)
{
    int64_t c = hd / qkr_vec(dt);
    return c < 32 ? (int)c : 32;
}
UD_HD int qkr_slots(int dt, int64_t hd) { return (int)(hd / qkr_vec(dt) / qkr_lanes(dt, hd)); }
UD_HD int qkr_iters(int64_t units) { return units >= QKR_MULTI_MIN_UNITS ? QKR_ITERS : 1; }

UD_HD float qkr_sq_acc(float acc, float x) { return ud_fadd(acc, ud_fmul(x, x)); }

/* 1 / sqrt(sum / head_dim + eps): IEEE division and sqrt on both backends. */
UD_HD float qkr_inv(float sum, int64_t hd, float eps)
{
    return ud_fdiv(1.0f, ud_fsqrt(ud_fadd(ud_fdiv(sum, (float)hd), eps)));
}

/* The normalised, weighted value y from x, inv and the weight w. */
UD_HD float qkr_y(int dt, int spec, float x, float inv, float w)
{
    float n = ud_fmul(x, inv);
    if (spec == QKR_SPEC_FUSED) return ud_fmul(n, w);
    return ud_round_f32(dt, ud_fmul(ud_round_f32(dt, n), w));   /* T = fp32: one rounding */
}

/* The position the kernel rotates token t by. */
UD_HD int64_t qkr_position(int bug, const int32_t *pos, int64_t t)
{
    return bug == QKR_BUG_POSITIONS_DROPPED ? t : (int64_t)pos[t];
}

/* Does lane j of a head at iteration r of its warp take, in the first butterfly step, the value
 * its partner offered to the previous head's rotary exchange instead of its partial sum? Only
 * under QKR_BUG_DIVERGENT_SHUFFLE, for partial neox (rd < hd), from a warp's second head group
 * on, and for a non-rotary lane whose partner (j ^ L/2) is a rotary lane: the model of vLLM
 * #51049 — the rotary lanes alone run the exchange with a full-warp mask, and the other lanes'
 * next collective, the next head's first butterfly step, is matched with it. Lane j is rotary
 * when its first chunk starts below rotary_dim. */
UD_HD int qkr_leaks(int bug, int style, int rd, int64_t hd, int r, int j, int L, int V)
{
    if (bug != QKR_BUG_DIVERGENT_SHUFFLE || style != ROPE_NEOX || rd >= hd || r == 0) return 0;
    int p = j ^ (L / 2);
    return !(j * V < rd) && p * V < rd;
}

/* The sum of squares' first butterfly offset: L/2, the head's own lanes — or 16 under
 * QKR_BUG_WARP_SUM_ZERO_MASKED, whose steps o >= L pair lanes of different heads of the warp
 * (heads of different tokens where a token's heads do not fill whole warps). */
UD_HD int qkr_first_offset(int bug, int L) { return bug == QKR_BUG_WARP_SUM_ZERO_MASKED ? 16 : L / 2; }

/* What a lane adds at butterfly offset o, given its partner's partial sum: that sum, or under
 * QKR_BUG_WARP_SUM_ZERO_MASKED, from another head's lane (o >= L), the sum "masked" by a product
 * with 0 — +0 for a finite sum (the lane's own sum unchanged, bit for bit), NaN for NaN or Inf. */
UD_HD float qkr_recv(int bug, int L, int o, float partner)
{
    return bug == QKR_BUG_WARP_SUM_ZERO_MASKED && o >= L ? ud_fmul(0.0f, partner) : partner;
}

/* Relative error bound of the kernel's n = x * inv, in units of u = 2^-24 (derivation in
 * docs/ops/qk_norm_rope.md): a lane sums m = K V squares, each rounded once (exact for
 * bf16/fp16), then log2(L) butterfly additions; the mean, + eps, sqrt, division and the final
 * product add 1 + 1 + 1/2 + 1 + 1, halved where sqrt halves them; +1 covers second-order terms. */
UD_HD double qkr_bound_u(int dt, int64_t hd)
{
    int L = qkr_lanes(dt, hd), log2l = 0;
    while ((1 << log2l) < L) log2l++;
    double m = (double)qkr_slots(dt, hd) * qkr_vec(dt);
    double sum_rel = (m - 1.0 + log2l) + 1.0 /* squares */ + 1.0 /* mean */ + 1.0 /* eps */;
    return 0.5 * sum_rel + 0.5 /* sqrt */ + 1.0 /* div */ + 1.0 /* x * inv */ + 1.0;
}

/* ---- launchers: gpu/qk_norm_rope.c (cpu backend), gpu/qk_norm_rope.cu (cuda) ---- */
typedef struct {
    int dt;                  /* q, k, weights, outputs: UD_DT_* */
    int spec, style;         /* QKR_SPEC_*, ROPE_NEOX / ROPE_GPTJ */
    int64_t tokens, q_heads, kv_heads, head_dim;
    int rotary_dim;          /* dims [0, rotary_dim) rotate; cos at row[i], sin at row[rotary_dim/2 + i] */
    int table_cols;          /* the table's row stride in elements (its width) */
    float eps;
    const void *q, *k;       /* [tokens, heads, head_dim] */
    const void *q_w, *k_w;   /* [head_dim] */
    const int32_t *pos;      /* [tokens] */
    const void *table;       /* [max_position (+ guard rows), table_cols] in tdt */
    int tdt;
    int64_t max_position;
    void *q_out, *k_out;
} qkr_args;

#ifdef __cplusplus
extern "C" {
#endif
/* UD_EUSAGE when a position is outside [0, max_position) (those tokens are not written). */
int qk_norm_rope_cpu(const qkr_args *a, int bug);
/* Device pointers; asynchronous; tokens with a bad position are skipped (never read out of the
 * table); the caller reports them from the host copy of the positions. */
int qk_norm_rope_cuda(const qkr_args *a, int bug);
#ifdef __cplusplus
}
#endif

#endif
