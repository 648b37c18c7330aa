/* rmsnorm.h — RMSNorm family: the kernel body shared by the CUDA kernels (gpu/rmsnorm.cu) and
 * the cpu backend (gpu/rmsnorm.c). Spec and rounding points: docs/ops/rmsnorm.md.
 *
 *   rmsnorm (HF LlamaRMSNorm):   n = x * rsqrt(mean(x^2) + eps)      fp32
 *                                out = RN_T(RN_T(n) * w)             (spec hf)
 *                                out = RN_T(n * w)                   (spec flashinfer)
 *   rmsnorm_gemma (HF Gemma):    out = RN_T(n * RN_32(1 + w))
 *   rmsnorm_fused_add (vLLM):    h = RN_T(x + residual); residual_out = h; out = rmsnorm(h)
 *                                (spec flashinfer normalises the unrounded fp32 sum instead)
 *
 * Reduction order — fixed, and followed exactly by both backends so their results agree bit
 * for bit: the row is cut into chunks of V = 16 bytes / sizeof(T) elements (the CUDA vector
 * width); lane l of RMS_LANES (128) accumulates chunks l, l + RMS_LANES, ... element by element in
 * fp32; lanes then combine by an xor butterfly within each warp of 32 (offsets 16..1) and the
 * RMS_LANES/32 warp sums by a butterfly of offsets RMS_WARPS/2..1. Every fp32 step goes through
 * ud_fadd/ud_fmul/ud_fdiv/ud_fsqrt (numerics/ud_portable.h): nvcc would otherwise contract
 * acc + v * v into an fma on the GPU and the backends would differ in the last bit (seen on an
 * H200 for fp32 rows and for the flashinfer fused add's fp32 sum). The error bound this order
 * gives is rmsnorm_bound_u() below; the budgets derive from it.
 *
 * Known-bug variants are selected by a compile-time constant `bug` (RMS_BUG_*); production
 * kernels are instantiated with RMS_BUG_NONE, so no bug code exists on their path. */
#ifndef UD_GPU_RMSNORM_H
#define UD_GPU_RMSNORM_H

#include "numerics/ud_portable.h"
#include "spec/rmsnorm.h"   /* RMS_KIND_*, RMS_SPEC_*: shared with the reference */

/* 128 lanes: a 7168-wide bf16 row is exactly 7 chunks a lane, and a 128-thread block leaves
 * room for 8 resident rows per SM (docs/ops/rmsnorm.md, "Performance"). */
#define RMS_LOG2_LANES 7
#define RMS_LANES (1 << RMS_LOG2_LANES)
#define RMS_WARPS (RMS_LANES / 32)

/* Known-bug variants of the family, declared once: X(ENUM, "name", in rmsnorm, in rmsnorm_gemma,
 * in rmsnorm_fused_add, "finding that must catch it", "the historical bug"). The enum below and
 * the registry's variant tables (harness/ops/rmsnorm.c) are generated from it. */
#define RMS_VARIANTS(X)                                                                               \
    X(VAR_INPUT_DTYPE, "var_in_input_dtype", 1, 1, 1, "tolerance",                                    \
      "sum of squares accumulated in the input dtype instead of fp32")                                \
    X(EPS_AFTER_SQRT, "eps_after_sqrt", 1, 1, 0, "tolerance",                                          \
      "1/(sqrt(mean(x^2)) + eps) instead of 1/sqrt(mean(x^2) + eps)")                                 \
    X(WEIGHT_FP32, "weight_mult_fp32", 1, 0, 0, "tolerance",                                           \
      "multiplies by the weight in fp32 before rounding n (vLLM #42325 class)")                        \
    X(GEMMA_NO_ONE, "weight_without_one", 0, 1, 0, "tolerance", "multiplies by w instead of (1 + w)")  \
    X(PRE_ADD_RESIDUAL, "pre_add_residual", 0, 0, 1, "tolerance",                                      \
      "returns the residual it was given instead of x + residual")                                    \
    X(UNROUNDED_SUM, "unrounded_sum", 0, 0, 1, "tolerance",                                            \
      "normalises the fp32 sum x + residual instead of its rounding to dtype")                         \
    X(ONE_PLUS_W_IN_DTYPE, "one_plus_w_in_dtype", 0, 1, 0, "tolerance",                                \
      "(1 + w) computed in the activation dtype (bf16) instead of fp32 (vLLM #53203; vLLM #29810 "     \
      "review)")

enum {
    RMS_BUG_NONE = 0,
#define X(E, ...) RMS_BUG_##E,
    RMS_VARIANTS(X)
#undef X
    RMS_BUG_COUNT
};

/* Chunk width in elements for dtype dt. */
UD_HD int rms_vec(int dt) { return 16 / ud_dt_size(dt); }

/* The value that is normalised: x, or for the fused add h = x + residual (rounded to T
 * unless the spec says the fp32 sum). */
UD_HD float rms_input(int dt, int fused, int spec, int bug, float x, float res)
{
    if (!fused) return x;
    float h = ud_fadd(x, res);
    if (spec == RMS_SPEC_FLASHINFER || bug == RMS_BUG_UNROUNDED_SUM) return h;
    return ud_round_f32(dt, h);
}

/* The residual the fused add writes back. */
UD_HD float rms_residual_out(int dt, int bug, float x, float res)
{
    if (bug == RMS_BUG_PRE_ADD_RESIDUAL) return res;
    return ud_round_f32(dt, ud_fadd(x, res));
}

UD_HD float rms_add(int dt, int bug, float a, float b)
{
    return bug == RMS_BUG_VAR_INPUT_DTYPE ? ud_round_f32(dt, ud_fadd(a, b)) : ud_fadd(a, b);
}

UD_HD float rms_acc_sq(int dt, int bug, float acc, float v)
{
    float sq = ud_fmul(v, v);
    if (bug == RMS_BUG_VAR_INPUT_DTYPE) sq = ud_round_f32(dt, sq);
    return rms_add(dt, bug, acc, sq);
}

/* 1 / sqrt(sum / n + eps): IEEE division and sqrt (correctly rounded on host and on the GPU
 * without fast-math), so both backends produce the same bits. */
UD_HD float rms_inv(int bug, float sum, int64_t n, float eps)
{
    float mean = ud_fdiv(sum, (float)n);
    if (bug == RMS_BUG_EPS_AFTER_SQRT) return ud_fdiv(1.0f, ud_fadd(ud_fsqrt(mean), eps));
    return ud_fdiv(1.0f, ud_fsqrt(ud_fadd(mean, eps)));
}

/* The output element from the normalised input v, the inverse rms and the weight w. */
UD_HD float rms_out(int dt, int kind, int spec, int bug, float v, float inv, float w)
{
    float n = ud_fmul(v, inv);
    if (kind == RMS_KIND_GEMMA) {
        if (bug == RMS_BUG_GEMMA_NO_ONE) return ud_fmul(n, w);
        /* The variant: `1 + self.weight` on the bf16 parameter is a bf16 tensor (RN_T once). */
        float one_w = ud_fadd(1.0f, w);
        return ud_fmul(n, bug == RMS_BUG_ONE_PLUS_W_IN_DTYPE ? ud_round_f32(dt, one_w) : one_w);
    }
    if (spec == RMS_SPEC_FLASHINFER || bug == RMS_BUG_WEIGHT_FP32) return ud_fmul(n, w);
    return ud_fmul(ud_round_f32(dt, n), w);   /* HF: hidden_states.to(input_dtype), then * weight */
}

/* Relative error bound of the kernel's n = x * inv, in units of u = 2^-24 (derivation in
 * docs/ops/rmsnorm.md): a lane sums at most m = ceil(chunks / lanes) * V squares, each
 * rounded once (exact for bf16/fp16, one rounding for fp32), then log2(lanes) = 7 butterfly
 * additions; the mean, + eps, sqrt, division and the final product add 1 + 1 + 1/2 + 1 + 1,
 * halved where sqrt halves them. Second-order terms are covered by the +1. */
UD_HD double rmsnorm_bound_u(int dt, int64_t n)
{
    int64_t v = rms_vec(dt), chunks = (n + v - 1) / v;
    int64_t m = (chunks + RMS_LANES - 1) / RMS_LANES * v;
    double sum_rel = (double)(m - 1 + RMS_LOG2_LANES) + 1.0 /* squares */ + 1.0 /* mean */ + 1.0 /* eps */;
    return 0.5 * sum_rel + 0.5 /* sqrt */ + 1.0 /* div */ + 1.0 /* x * inv */ + 1.0;
}

/* ---- launchers: gpu/rmsnorm.c (cpu backend), gpu/rmsnorm.cu (cuda) ---- */
typedef struct {
    int dt, kind, spec, fused;
    int64_t rows, n;
    float eps;
    const void *x, *res, *w;     /* res: fused add only */
    void *out, *res_out;         /* res_out: fused add only */
} rms_args;

#ifdef __cplusplus
extern "C" {
#endif
int rmsnorm_cpu(const rms_args *a, int bug);
int rmsnorm_cuda(const rms_args *a, int bug);   /* device pointers; asynchronous */
/* Production kernel in launch configuration cfg (`ulpdiff bench --configs`); UD_EUSAGE past the last. */
int rmsnorm_cuda_tune(const rms_args *a, int cfg, const char **name);
#ifdef __cplusplus
}
#endif

#endif
