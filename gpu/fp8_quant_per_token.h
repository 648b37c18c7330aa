/* fp8_quant_per_token.h — dynamic FP8 (E4M3) quantization per token and per group of G
 * columns: the kernel body shared by the CUDA kernel (gpu/fp8_quant_per_token.cu) and the cpu
 * backend (gpu/fp8_quant_per_token.c). Spec and budgets: docs/ops/fp8_quant_per_token.md.
 *
 * For each group (row r, columns j*G .. min((j+1)*G, hidden) - 1; G = hidden is per-token):
 *   amax  = max |x| over the group (NaN ignored, as CUDA's fmaxf; +-Inf counts)
 *   m     = min(amax, scale_ub) when scale_ub > 0 (vLLM's scale_ub), else amax
 *   scale = max(RN_32(m / 448), min_scale)              fp32 division: one rounding
 *   ue8m0 scales: scale = 2^ceil(log2(scale)) — the exponent field bumped when the mantissa
 *           is non-zero (vLLM / sglang / DeepGEMM, bit-exact with exp2f(ceilf(log2f(s))))
 *   q     = RN_e4m3(saturate(RN_32(x / scale)))         IEEE division, then __NV_SATFINITE
 * outputs q (e4m3 bits) and scales (fp32, [tokens, ceil(hidden / G)]).
 * Specials, as the arithmetic gives them: a NaN element quantises to NaN (0x7F) and does not
 * affect amax; an Inf makes amax Inf, so (without scale_ub) the scale is Inf, finite elements
 * quantise to +-0 and the Inf itself to NaN (Inf/Inf); with scale_ub an Inf saturates to
 * +-448. An all-zero group gets scale = min_scale and q = 0.
 *
 * Max is exact and order-free, and every other step is one correctly rounded IEEE operation
 * on each backend: cpu and cuda agree bit for bit whatever the reduction order.
 * Known-bug variants are selected by a compile-time constant `bug` (FQ_BUG_*). */
#ifndef UD_GPU_FP8_QUANT_PER_TOKEN_H
#define UD_GPU_FP8_QUANT_PER_TOKEN_H

#include "numerics/ud_portable.h"
#include "spec/fp8_quant_per_token.h"   /* FQ_FMT_*, FQ_E4M3_MAX: shared with the reference */

/* Known-bug variants, declared once: X(ENUM, "name", "finding that must catch it", "the bug").
 * The enum below and the registry's variant table (harness/ops/fp8_quant_per_token.c) come from it. */
#define FQ_VARIANTS(X)                                                                            \
    X(NO_SATURATION, "no_saturation", "nan-mismatch",                                             \
      "converts x / scale without __NV_SATFINITE: values beyond 464 (scale_ub clipping, Inf) "    \
      "become NaN")                                                                               \
    X(ZERO_SCALE, "zero_scale", "nan-mismatch",                                                   \
      "no min_scale floor: an all-zero group gets scale 0 and q = 0/0 = NaN")                     \
    X(SCALE_BF16, "scale_bf16", "tolerance", "scale computed in bf16 (rounded to the activation dtype)") \
    X(UE8M0_POW2_OVERSHOOT, "ue8m0_pow2_overshoot", "tolerance",                                  \
      "ue8m0 power-of-two ceiling bumps the exponent even when the scale already is a power "     \
      "of two (bit-trick off-by-one): such scales double")                                       \
    X(UE8M0_FLOOR_AFTER_POW2, "ue8m0_floor_after_pow2", "tolerance",                              \
      "ue8m0: the min_scale floor applied after the power-of-two rounding, so a group under the " \
      "floor (all-zero groups) keeps min_scale itself, not a power of two (vLLM #58032)")         \
    X(AMAX_SPANS_GROUP_PAIR, "amax_spans_group_pair", "tolerance",                                \
      "the amax reduction spans two groups (a warp holding two 16-lane groups reduces with xor "  \
      "offsets 16..1, not 8..1): a row next to CUDA-graph padding takes the padding's garbage "   \
      "as its scale (FlashInfer #3057, #3650)")

enum {
    FQ_BUG_NONE = 0,
#define X(E, ...) FQ_BUG_##E,
    FQ_VARIANTS(X)
#undef X
    FQ_BUG_COUNT
};

/* max(m, |x|), ignoring a NaN x (m is never NaN). */
UD_HD float fq_absmax(float m, float x)
{
    float a = fabsf(x);
    return a > m ? a : m;
}

/* Smallest power of two >= s, for a positive normal or infinite s (ue8m0 scales). The
 * variant FQ_BUG_UE8M0_POW2_OVERSHOOT bumps the exponent unconditionally, the off-by-one of
 * writing (b + 2^23) & ~mantissa for (b + 2^23 - 1) & ~mantissa. */
UD_HD float fq_pow2_ceil(int bug, float s)
{
    uint32_t b = ud_f32_bits(s);
    if (bug == FQ_BUG_UE8M0_POW2_OVERSHOOT) return ud_bits_f32((b + 0x00800000u) & 0xff800000u);
    if (b & 0x7fffffu) b = (b & 0xff800000u) + 0x00800000u;
    return ud_bits_f32(b);
}

/* The group's scale from its amax (scale_ub <= 0: none). The floor comes before the ue8m0
 * power-of-two rounding, so every ue8m0 scale is a power of two — also for a group under the
 * floor, whose scale is min_scale rounded up (2^-17 for the default 1/(448*512)). The variant
 * FQ_BUG_UE8M0_FLOOR_AFTER_POW2 rounds first and floors after: min_scale itself survives. */
UD_HD float fq_scale(int bug, int fmt, float amax, float scale_ub, float min_scale)
{
    float m = (scale_ub > 0.0f && amax > scale_ub) ? scale_ub : amax;
    float s = m / FQ_E4M3_MAX;
    if (bug == FQ_BUG_SCALE_BF16) s = ud_round_f32(UD_DT_BF16, s);
    if (bug == FQ_BUG_UE8M0_FLOOR_AFTER_POW2 && fmt == FQ_FMT_UE8M0) {
        s = fq_pow2_ceil(bug, s);
        return s > min_scale ? s : min_scale;
    }
    if (bug != FQ_BUG_ZERO_SCALE) s = s > min_scale ? s : min_scale;
    return fmt == FQ_FMT_UE8M0 ? fq_pow2_ceil(bug, s) : s;
}

/* The group whose amax a group's reduction also takes under FQ_BUG_AMAX_SPANS_GROUP_PAIR: its
 * neighbour in a pair of consecutive groups (flat index g ^ 1 over [tokens, groups per row]),
 * as a warp holding two groups in its two 16-lane halves sees it when its butterfly runs over
 * all 32 lanes; -1 when there is none (the last group of an odd count). With one group per row
 * (per-token) or an odd number of groups per row, pairs cross rows: the last real row before
 * CUDA-graph padding rows reduces over a padding row. */
UD_HD int64_t fq_pair_group(int64_t g, int64_t ngroups)
{
    int64_t p = g ^ 1;
    return p < ngroups ? p : -1;
}

/* RN_e4m3 of an fp32 value by bit manipulation (fast on both backends; equal to
 * ud_f32_to_e4m3(v, satfinite), which tests/test_fp8_quant_per_token.c checks on every
 * rounding boundary). NaN -> 0x7F; |v| >= 2^-6 rounds the top 3 mantissa bits with
 * ties-to-even (the carry may bump the exponent); below, v is a multiple of 2^-9 after rint;
 * beyond 464 (the midpoint above 448 ties to 448) saturates to 0x7E or, without satfinite,
 * becomes NaN with the sign, as __NV_NOSAT does. */
UD_HD uint8_t fq_to_e4m3(float v, int satfinite)
{
    uint32_t u = ud_f32_bits(v), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fu;
    uint32_t code;
    if (a >= 0x3c800000u) {                                  /* |v| >= 2^-6: e4m3 normal */
        uint32_t capped = a < 0x44000000u ? a : 0x44000000u; /* 512: overflows either way */
        code = ((capped + 0x7ffffu + ((capped >> 20) & 1u)) >> 20) - (120u << 3);
    } else {
        code = (uint32_t)rintf(ud_bits_f32(a) * 512.0f);     /* exact scaling, then RN */
    }
    if (code > 0x7eu) code = satfinite ? 0x7eu : 0x7fu;
    return (uint8_t)(sign | code);
}

UD_HD uint8_t fq_quant(int bug, float x, float scale)
{
    return fq_to_e4m3(x / scale, bug != FQ_BUG_NO_SATURATION);
}

/* ---- launchers: gpu/fp8_quant_per_token.c (cpu backend), gpu/fp8_quant_per_token.cu ---- */
typedef struct {
    int dt, fmt;
    int64_t tokens, hidden, group;    /* 1 <= group <= hidden; groups per row = ceil(hidden / group) */
    float min_scale, scale_ub;
    const void *x;                    /* [tokens, hidden] */
    uint8_t *q;                       /* [tokens, hidden] e4m3 bits */
    float *scales;                    /* [tokens, ceil(hidden / group)] */
} fq_args;

#ifdef __cplusplus
extern "C" {
#endif
int fp8_quant_per_token_cpu(const fq_args *a, int bug);
int fp8_quant_per_token_cuda(const fq_args *a, int bug);   /* device pointers; asynchronous */
#ifdef __cplusplus
}
#endif

#endif
