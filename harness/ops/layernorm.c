/* ops/layernorm.c — registry entries for the LayerNorm family: layernorm (PyTorch
 * nn.LayerNorm: weight and bias, weight only, or no affine) and fp32_layernorm (diffusers
 * FP32LayerNorm: parameters in their own dtype, upcast to fp32). Spec, rounding points and the
 * budget derivation: docs/ops/layernorm.md. Reference: reference/layernorm.c. Kernel body:
 * gpu/layernorm.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/layernorm.h"
#include "spec/layernorm.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const affines[] = {"weight_bias", "weight", "none", NULL};   /* LN_AFFINE_* order */

#define P_COMMON(DTYPES, HIDDEN, EPS, AFFINE, VALUES)                                                      \
    {"dtype", UD_P_DTYPE, DTYPES, "input and output dtype", dtypes, 0, 0},                                 \
    {"tokens", UD_P_INT, "7", "rows", NULL, 1, 1 << 20},                                                   \
    {"hidden", UD_P_INT, HIDDEN, "row length (normalized_shape)", NULL, 1, 1 << 18},                      \
    {"eps", UD_P_REAL, EPS, "variance epsilon (added in fp32)", NULL, 1e-12, 1.0},                         \
    {"affine", UD_P_CHOICE, AFFINE, "weight_bias: w and b; weight: w only (bias=False); none: "           \
     "elementwise_affine=False", affines, 0, 0},                                                           \
    {"values", UD_P_CHOICE, VALUES, "generator for x (cancel: rows with a large mean and a small spread)", \
     ud_gen_names, 0, 0},                                                                                  \
    {"scale", UD_P_REAL, "1", "magnitude of generated x", NULL, 1e-30, 1e30}

static const ud_param params_ln[] = {
    P_COMMON("bf16, fp16, fp32", "1, 127, 4096, 8193", "1e-5, 1e-6", "weight_bias, weight, none",
             "normal, cancel, const_rows, near_overflow"),
};
static const ud_param params_fp32[] = {
    P_COMMON("bf16, fp16", "1, 127, 4096", "1e-6", "weight_bias, weight", "normal, cancel, const_rows"),
    {"pdtype", UD_P_DTYPE, "fp32, bf16", "dtype the weight and bias are stored in (upcast to fp32)", dtypes, 0, 0},
};

static const char *const inputs[] = {"x", "weight", "bias", NULL};
static const char *const outputs[] = {"out", NULL};

static int is_fp32(const ud_case *c) { return strcmp(c->op->name, "fp32_layernorm") == 0; }
static ud_dtype dtype_of(const ud_case *c) { return ud_case_dtype(c, "dtype"); }
static ud_dtype pdtype_of(const ud_case *c) { return is_fp32(c) ? ud_case_dtype(c, "pdtype") : dtype_of(c); }
static int64_t rows_of(const ud_case *c) { return ud_case_int(c, "tokens"); }
static int64_t hidden_of(const ud_case *c) { return ud_case_int(c, "hidden"); }
static int affine_of(const ud_case *c) { return (int)c->p[ud_param_index(c->op, "affine")].i; }

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t shape[2] = {rows_of(c), hidden_of(c)}, pshape[1] = {hidden_of(c)};
    UD_TRY(ud_tensor_shape(&in[0], "x", dtype_of(c), 2, shape));
    UD_TRY(ud_tensor_shape(&in[1], "weight", pdtype_of(c), 1, pshape));
    UD_TRY(ud_tensor_shape(&in[2], "bias", pdtype_of(c), 1, pshape));
    UD_TRY(ud_tensor_shape(&out[0], "out", dtype_of(c), 2, shape));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_fill(&in[0], (ud_gen_kind)c->p[ud_param_index(c->op, "values")].i, c->seed, 1, hidden_of(c),
                ud_case_real(c, "scale"));
    /* Trained LayerNorm weights sit near 1 and biases near 0; both kept within 1 of their
     * centre (|w| <= 2 is what the underflow allowance in budget() assumes). In an fp32
     * pdtype they use every mantissa bit, which a kernel rounding them to bf16 cannot keep. */
    for (size_t j = 0; j < in[1].numel; j++) {
        double dw = 0.25 * ud_gen_normal(c->seed, 3, j), db = 0.25 * ud_gen_normal(c->seed, 4, j);
        ud_set(in[1].dtype, in[1].host, j, 1.0 + fmax(-1.0, fmin(1.0, dw)));
        ud_set(in[2].dtype, in[2].host, j, fmax(-1.0, fmin(1.0, db)));
    }
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_ln_args a;
    memset(&a, 0, sizeof a);
    a.dt = dtype_of(c);
    a.pdt = pdtype_of(c);
    a.affine = affine_of(c);
    a.rows = rows_of(c);
    a.n = hidden_of(c);
    a.eps32 = (double)(float)ud_case_real(c, "eps");
    a.x = in[0].host;
    a.w = in[1].host;
    a.b = in[2].host;
    a.mean_err_u = layernorm_mean_err_u((int)a.dt, a.n);
    return ref_layernorm(&a, &ref[0], exact_mpfr);
}

/* Mutant index (1-based, per operator) -> LN_BUG_* */
static ln_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    ln_args a;
    memset(&a, 0, sizeof a);
    a.dt = (int)dtype_of(c);   /* ud_dtype and UD_DT_* share values (static_assert in dtype.c) */
    a.pdt = (int)pdtype_of(c);
    a.affine = affine_of(c);
    a.rows = rows_of(c);
    a.n = hidden_of(c);
    a.eps = (float)ud_case_real(c, "eps");
    a.x = ud_buf(&in[0], dev);
    if (a.affine != LN_AFFINE_NONE) a.w = ud_buf(&in[1], dev);
    if (a.affine == LN_AFFINE_WEIGHT_BIAS) a.b = ud_buf(&in[2], dev);
    a.out = ud_buf(&out[0], dev);
    return a;
}

UD_KERNEL_RUNNERS(ln_args, kernel_args, layernorm_cpu, layernorm_cuda)
UD_KERNEL_TUNER(ln_args, kernel_args, layernorm_cuda_tune)

static ud_budget budget(const ud_case *c, int k)
{
    (void)k;
    /* One rounding to T of an fp32 result within layernorm_bound_u() * u * s of exact
     * (docs/ops/layernorm.md). abs, for roundings in fp32's subnormal range (<= 2^-150 each,
     * no relative bound): the mean's division, whose error (x - mean) carries and rstd
     * <= 1/sqrt(eps32) amplifies, times |w| <= 2; (x - mean) * rstd, times |w|; the final
     * fma or product. 2.01 covers rstd's own rounding above 1/sqrt(eps32). */
    double eps32 = (double)(float)ud_case_real(c, "eps");
    ud_budget b = {.ulp = 0.5, .scaled = layernorm_bound_u((int)dtype_of(c), hidden_of(c)), .u_w = 0x1p-24,
                   .abs = 0x1p-150 * (2.01 / sqrt(eps32) + 3.0)};
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    size_t h = (size_t)hidden_of(c), row = i / h, j = i % h;
    double sum = 0.0, sq = 0.0;
    for (size_t t = 0; t < h; t++) sum += ud_get(in[0].dtype, in[0].host, row * h + t);
    double mean = sum / (double)h;
    for (size_t t = 0; t < h; t++) {
        double d = ud_get(in[0].dtype, in[0].host, row * h + t) - mean;
        sq += d * d;
    }
    double x = ud_get(in[0].dtype, in[0].host, i);
    double w = ud_get(in[1].dtype, in[1].host, j), b = ud_get(in[2].dtype, in[2].host, j);
    snprintf(buf, n, "x=%a (%.9g) row mean~%.9g var~%.6g weight=%a bias=%a (affine %s)", x, x, mean,
             sq / (double)h, w, b, affines[affine_of(c)]);
}

/* Each operator's rows of the family's kernel variant table (gpu/layernorm.h); fp32_layernorm
 * adds the variants of its fp32 parameter cache (ops/fp32_layernorm_cached.c, docs/cache-checks.md),
 * which run the production kernels with a cache key that misses something. */
#define IN_LN(E, N, L, F, EXPECT, WHAT) UD_WHEN(L, UD_KERNEL_VARIANT(LN_BUG_##E, N, EXPECT, WHAT),)
#define IN_FP32(E, N, L, F, EXPECT, WHAT) UD_WHEN(F, UD_KERNEL_VARIANT(LN_BUG_##E, N, EXPECT, WHAT),)
static const ud_mutant mut_ln[] = {LN_VARIANTS(IN_LN)};
static const ud_mutant mut_fp32[] = {
    LN_VARIANTS(IN_FP32)
    UD_CACHE_VARIANT("cache_misses_aba", "fp32 weight/bias copies keyed on (data pointer, version, device, dtype), as "
                     "diffusion models' FP32LayerNorm cache: stale when a new parameter is allocated at the freed "
                     "address (ABA)", UD_CACHE_NO_ALLOC_ID, 0, "aba"),
    UD_CACHE_VARIANT("cache_misses_inplace_update", "fp32 weight/bias copies keyed on the data pointer only: stale "
                     "after an in-place update", UD_CACHE_PTR_ONLY, 0, "inplace_bump"),
    UD_CACHE_VARIANT("cache_never_invalidated", "fp32 weight/bias copies made once, never invalidated: stale after a "
                     "weight update (RL weight sync)", UD_CACHE_LAZY, 0, "replace"),
    UD_CACHE_VARIANT("cache_misses_device_change", "fp32 weight/bias copies keyed without the device: serve the "
                     "copies made for another device", UD_CACHE_NO_DEVICE, 0, "device_change"),
};

/* Derived state: fp32_layernorm's cached fp32 parameter copies (ops/fp32_layernorm_cached.c). */
extern const struct ud_cached_op ud_cached_fp32_layernorm;
#define CACHED_layernorm NULL
#define CACHED_fp32_layernorm (&ud_cached_fp32_layernorm)

#define LN_OP(NAME, SUMMARY, PARAMS, MUT, BENCH)                                                  \
    {                                                                                           \
        .name = #NAME, .summary = SUMMARY, .doc = "docs/ops/layernorm.md",                      \
        .params = PARAMS, .nparams = (int)(sizeof PARAMS / sizeof PARAMS[0]),                   \
        .inputs = inputs, .outputs = outputs,                                                   \
        .shapes = shapes, .generate = generate,                                                 \
        .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .budget = budget,  \
        .tune_cuda = UD_TUNE_CUDA,                                                              \
        .describe = describe, .mutants = MUT, .nmutants = UD_NELEMS(MUT),                       \
        .bench = BENCH,                                                                         \
        .bitwise_backends = 1,                                                                  \
        .cached = CACHED_##NAME,                                                                \
        .token_param = "tokens",                                                                \
    }

UD_OPERATOR(layernorm) = LN_OP(layernorm, "out = RN((x - mean) / sqrt(var + eps) * w + b), statistics in fp32  [torch nn.LayerNorm]",
      params_ln, mut_ln, "dtype=bf16 tokens=4096 hidden=7168 affine=weight_bias values=normal eps=1e-5");
UD_OPERATOR(fp32_layernorm) = LN_OP(fp32_layernorm, "out = RN(layer_norm(fp32(x), fp32(w), fp32(b)))  [diffusers FP32LayerNorm]",
      params_fp32, mut_fp32, "dtype=bf16 pdtype=fp32 tokens=4096 hidden=7168 affine=weight_bias values=normal");
