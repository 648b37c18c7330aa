/* ops/rmsnorm.c — registry entries for the RMSNorm family: rmsnorm (HF Llama), rmsnorm_gemma,
 * rmsnorm_fused_add (vLLM fused_add_rms_norm). Spec, rounding points and budget derivation:
 * docs/ops/rmsnorm.md. Reference: reference/rmsnorm.c. Kernel body: gpu/rmsnorm.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/rmsnorm.h"
#include "spec/rmsnorm.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const specs[] = {"hf", "flashinfer", NULL};

enum { P_DTYPE, P_TOKENS, P_HIDDEN, P_EPS, P_SPEC, P_VALUES, P_SCALE, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "input, weight and output dtype", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 7, 64", "rows", NULL, 0, 1 << 20},
    [P_HIDDEN] = {"hidden", UD_P_INT, "1, 127, 4096, 8193", "row length", NULL, 1, 1 << 18},
    [P_EPS] = {"eps", UD_P_REAL, "1e-6", "variance epsilon (added in fp32)", NULL, 1e-12, 1.0},
    [P_SPEC] = {"spec", UD_P_CHOICE, "hf",
                "hf: round n to dtype before the weight (HF, vLLM); flashinfer: multiply in fp32 "
                "(fused add: normalise the fp32 sum)", specs, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal, rowscale", "generator for x (and residual)", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of generated inputs", NULL, 1e-30, 1e30},
};

static const char *const in_plain[] = {"x", "weight", NULL};
static const char *const in_fused[] = {"x", "residual", "weight", NULL};
static const char *const out_plain[] = {"out", NULL};
static const char *const out_fused[] = {"out", "residual_out", NULL};

static int is_fused(const ud_case *c) { return strcmp(c->op->name, "rmsnorm_fused_add") == 0; }
static int kind_of(const ud_case *c) { return strcmp(c->op->name, "rmsnorm_gemma") == 0 ? RMS_KIND_GEMMA : RMS_KIND_LLAMA; }

static int validate(const ud_case *c, char *msg, size_t n)
{
    if (kind_of(c) == RMS_KIND_GEMMA && c->p[P_SPEC].i != 0) {
        snprintf(msg, n, "spec applies to rmsnorm and rmsnorm_fused_add; gemma has one spec (hf)");
        return -1;
    }
    return 0;
}

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    int64_t shape[2] = {c->p[P_TOKENS].i, c->p[P_HIDDEN].i}, wshape[1] = {c->p[P_HIDDEN].i};
    int k = 0;
    UD_TRY(ud_tensor_shape(&in[k++], "x", dt, 2, shape));
    if (is_fused(c)) UD_TRY(ud_tensor_shape(&in[k++], "residual", dt, 2, shape));
    UD_TRY(ud_tensor_shape(&in[k++], "weight", dt, 1, wshape));
    UD_TRY(ud_tensor_shape(&out[0], "out", dt, 2, shape));
    if (is_fused(c)) UD_TRY(ud_tensor_shape(&out[1], "residual_out", dt, 2, shape));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_kind g = (ud_gen_kind)c->p[P_VALUES].i;
    double scale = c->p[P_SCALE].d;
    int64_t h = c->p[P_HIDDEN].i;
    ud_gen_fill(&in[0], g, c->seed, 1, h, scale);
    ud_tensor *w = &in[is_fused(c) ? 2 : 1];
    if (is_fused(c)) ud_gen_fill(&in[1], g, c->seed, 2, h, scale);
    /* Trained norm weights sit near 1 (llama) or near 0 (gemma's 1 + w form); kept within 1
     * of the centre, which the underflow allowance in budget() relies on. */
    double centre = kind_of(c) == RMS_KIND_GEMMA ? 0.0 : 1.0;
    for (size_t i = 0; i < w->numel; i++)
    {
        double d = 0.25 * ud_gen_normal(c->seed, 3, i);
        ud_set(w->dtype, w->host, i, centre + (d > 1.0 ? 1.0 : d < -1.0 ? -1.0 : d));
    }
    return UD_OK;
}

static ref_rms_args ref_args(const ud_case *c, const ud_tensor *in)
{
    ref_rms_args a;
    memset(&a, 0, sizeof a);
    a.dt = (ud_dtype)c->p[P_DTYPE].i;
    a.kind = kind_of(c);
    a.spec = (int)c->p[P_SPEC].i;
    a.fused = is_fused(c);
    a.rows = c->p[P_TOKENS].i;
    a.n = c->p[P_HIDDEN].i;
    a.eps32 = (double)(float)c->p[P_EPS].d;
    a.x = in[0].host;
    a.res = a.fused ? in[1].host : NULL;
    a.w = in[a.fused ? 2 : 1].host;
    /* Candidate margin: the kernel's bound, plus the fast reference's own error. */
    a.margin_rel = rmsnorm_bound_u(a.dt == UD_F32 ? UD_DT_F32 : a.dt == UD_F16 ? UD_DT_F16 : UD_DT_BF16, a.n)
                       * 0x1p-24 + 0x1p-48;
    return a;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_rms_args a = ref_args(c, in);
    return ref_rmsnorm(&a, &ref[0], a.fused ? &ref[1] : NULL, exact_mpfr);
}

static rms_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    rms_args a;
    memset(&a, 0, sizeof a);
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    a.dt = (int)dt;   /* ud_dtype and UD_DT_* share values (static_assert in dtype.c) */
    a.kind = kind_of(c);
    a.spec = (int)c->p[P_SPEC].i;
    a.fused = is_fused(c);
    a.rows = c->p[P_TOKENS].i;
    a.n = c->p[P_HIDDEN].i;
    a.eps = (float)c->p[P_EPS].d;
    a.x = ud_buf(&in[0], dev);
    a.res = a.fused ? ud_buf(&in[1], dev) : NULL;
    a.w = ud_buf(&in[a.fused ? 2 : 1], dev);
    a.out = ud_buf(&out[0], dev);
    a.res_out = a.fused ? ud_buf(&out[1], dev) : NULL;
    return a;
}

UD_KERNEL_RUNNERS(rms_args, kernel_args, rmsnorm_cpu, rmsnorm_cuda)
UD_KERNEL_TUNER(rms_args, kernel_args, rmsnorm_cuda_tune)

static ud_budget budget(const ud_case *c, int k)
{
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    /* abs: n = x * inv can round in fp32's subnormal range (error <= 2^-150), and that error
     * is multiplied by |w| <= 2 (generate() keeps weights within 1 of their centre), then one
     * more fp32 rounding: 3 * 2^-150 <= 2^-148. */
    ud_budget b = {0.5, 0.0, 0x1p-24, 0x1p-148};
    if (k == 1) { b.abs = 0.0; return b; }   /* residual_out: one correctly rounded addition */
    int candidates = kind_of(c) == RMS_KIND_LLAMA && c->p[P_SPEC].i == RMS_SPEC_HF && dt != UD_F32;
    if (!candidates)   /* n from the kernel's fp32 pipeline, then one more fp32 product */
        b.scaled = rmsnorm_bound_u(dt == UD_F32 ? UD_DT_F32 : dt == UD_F16 ? UD_DT_F16 : UD_DT_BF16,
                                   c->p[P_HIDDEN].i) + 1.0;
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    size_t h = (size_t)c->p[P_HIDDEN].i, j = i % h;
    double x = ud_get(in[0].dtype, in[0].host, i);
    const ud_tensor *w = &in[is_fused(c) ? 2 : 1];
    double wv = ud_get(w->dtype, w->host, j);
    if (is_fused(c)) {
        double r = ud_get(in[1].dtype, in[1].host, i);
        snprintf(buf, n, "x=%a (%.9g) residual=%a (%.9g) weight=%a (%.9g)", x, x, r, r, wv, wv);
    } else {
        snprintf(buf, n, "x=%a (%.9g) weight=%a (%.9g)", x, x, wv, wv);
    }
}

/* Each operator's rows of the family's variant table (gpu/rmsnorm.h). */
#define IN_LLAMA(E, N, L, G, F, EXPECT, WHAT) UD_WHEN(L, UD_KERNEL_VARIANT(RMS_BUG_##E, N, EXPECT, WHAT),)
#define IN_GEMMA(E, N, L, G, F, EXPECT, WHAT) UD_WHEN(G, UD_KERNEL_VARIANT(RMS_BUG_##E, N, EXPECT, WHAT),)
#define IN_FUSED(E, N, L, G, F, EXPECT, WHAT) UD_WHEN(F, UD_KERNEL_VARIANT(RMS_BUG_##E, N, EXPECT, WHAT),)
static const ud_mutant mut_llama[] = {RMS_VARIANTS(IN_LLAMA)};
static const ud_mutant mut_gemma[] = {RMS_VARIANTS(IN_GEMMA)};
static const ud_mutant mut_fused[] = {RMS_VARIANTS(IN_FUSED)};

#define RMS_OP(NAME, SUMMARY, IN, OUT, MUT)                                                      \
    {                                                                                           \
        .name = #NAME, .summary = SUMMARY, .doc = "docs/ops/rmsnorm.md",                        \
        .params = params, .nparams = P_COUNT, .inputs = IN, .outputs = OUT,                     \
        .validate = validate, .shapes = shapes, .generate = generate,                           \
        .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .budget = budget,  \
        .tune_cuda = UD_TUNE_CUDA,                                                              \
        .describe = describe, .mutants = MUT, .nmutants = UD_NELEMS(MUT),                       \
        .bench = "dtype=bf16 tokens=4096 hidden=7168",                                          \
        .bitwise_backends = 1,                                                                  \
        .token_param = "tokens",                                                                \
    }

UD_OPERATOR(rmsnorm) = RMS_OP(rmsnorm, "out = RN(RN(x * rsqrt(mean(x^2) + eps)) * w)  [HF Llama]", in_plain, out_plain, mut_llama);
UD_OPERATOR(rmsnorm_gemma) = RMS_OP(rmsnorm_gemma, "out = RN(x * rsqrt(mean(x^2) + eps) * (1 + w))  [HF Gemma, fp32]", in_plain, out_plain, mut_gemma);
UD_OPERATOR(rmsnorm_fused_add) = RMS_OP(rmsnorm_fused_add, "h = RN(x + residual); out = rmsnorm(h); residual_out = h  [vLLM]", in_fused, out_fused, mut_fused);
