/* ops/silu_and_mul.c — registry entry for SiLU(gate) * up.
 * Spec, rounding points and budget derivation: docs/ops/silu_and_mul.md.
 * Reference: reference/silu_and_mul.c. Kernel body: gpu/silu_and_mul.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/silu_and_mul.h"
#include "spec/silu_and_mul.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const specs[] = {"flashinfer", "hf", NULL};
/* normal: gate and up N(0, scale^2); large: gates of magnitude 1..128 (exp overflow and
 * underflow) with a share of fixed edge values; wide: log-uniform magnitudes over 2^-12..2^4;
 * subnormal, nan_inf: harness/core/gen.h's generators for both halves. */
static const char *const values[] = {"normal", "large", "wide", "subnormal", "nan_inf", NULL};
enum { V_NORMAL, V_LARGE, V_WIDE, V_SUBNORMAL, V_NAN_INF };

enum { P_DTYPE, P_TOKENS, P_INTER, P_SPEC, P_VALUES, P_SCALE, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "dtype of x and out", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 5", "rows", NULL, 0, 1 << 20},
    [P_INTER] = {"inter", UD_P_INT, "1, 7, 100, 1024", "I: out is [tokens, I], x is [tokens, 2I] = [gate | up]",
                 NULL, 1, 1 << 18},
    [P_SPEC] = {"spec", UD_P_CHOICE, "flashinfer, hf",
                "flashinfer: silu * up in fp32, one rounding (FlashInfer, sglang); hf: silu rounded to "
                "dtype first (HF transformers, vLLM)", specs, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal, large", "generator for gate and up", values, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of generated inputs (not of large's gates)", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"x", NULL};
static const char *const outputs[] = {"out", NULL};

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    int64_t xs[2] = {c->p[P_TOKENS].i, 2 * c->p[P_INTER].i}, os[2] = {c->p[P_TOKENS].i, c->p[P_INTER].i};
    UD_TRY(ud_tensor_shape(&in[0], "x", dt, 2, xs));
    UD_TRY(ud_tensor_shape(&out[0], "out", dt, 2, os));
    return UD_OK;
}

/* Gates around the fp32 exp overflow threshold (88.72) and the underflow of silu itself. */
static const double edge_gates[] = {
    -88.5, -88.71875, -88.75, -89.0, -90.0, -92.0, -95.0, -97.0, -100.0, -103.0, -104.0, -110.0,
    -120.0, -17.0, -16.0, 16.0, 17.0, 88.75, 100.0, 120.0,
};

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_tensor *x = &in[0];
    int64_t inter = c->p[P_INTER].i;
    double scale = c->p[P_SCALE].d;
    static const ud_gen_kind kinds[] = {
        [V_NORMAL] = UD_GEN_NORMAL, [V_LARGE] = UD_GEN_NORMAL, [V_WIDE] = UD_GEN_LOGU,
        [V_SUBNORMAL] = UD_GEN_SUBNORMAL, [V_NAN_INF] = UD_GEN_NAN_INF,
    };
    int v = (int)c->p[P_VALUES].i;
    ud_gen_fill(x, kinds[v], c->seed, 21, 2 * inter, scale);
    if (v == V_LARGE) {
        size_t ne = sizeof edge_gates / sizeof edge_gates[0];
        for (size_t i = 0; i < x->numel; i++) {
            if ((int64_t)(i % (size_t)(2 * inter)) >= inter) continue;   /* up half: keep */
            double u = ud_rng_unit(c->seed, 22, i);
            double g = u < 0.3 ? edge_gates[(size_t)(u / 0.3 * (double)ne)]
                               : exp2(7.0 * ud_rng_unit(c->seed, 23, i)) * (u < 0.65 ? -1.0 : 1.0);
            ud_set(x->dtype, x->host, i, g);
        }
    }
    return UD_OK;
}

static ref_silu_args ref_args(const ud_case *c, const ud_tensor *in)
{
    ref_silu_args a = {
        .dt = (ud_dtype)c->p[P_DTYPE].i, .spec = (int)c->p[P_SPEC].i, .tokens = c->p[P_TOKENS].i,
        .inter = c->p[P_INTER].i, .x = in[0].host,
        /* silu's fp32 error (silu_value_bound_u) plus the fast reference's 2^-50; the absolute
         * part: up to three roundings in fp32's subnormal range (g * p, the division, the
         * final scaling), 2^-150 each. */
        .margin_rel = silu_value_bound_u() * 0x1p-24 + 0x1p-50,
        .margin_abs = 3.0 * 0x1p-150,
    };
    return a;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_silu_args a = ref_args(c, in);
    return ref_silu_and_mul(&a, &ref[0], exact_mpfr);
}

static silu_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    silu_args a = {
        .dt = (int)c->p[P_DTYPE].i, .spec = (int)c->p[P_SPEC].i,
        .tokens = c->p[P_TOKENS].i, .inter = c->p[P_INTER].i,
        .x = ud_buf(&in[0], dev), .out = ud_buf(&out[0], dev),
    };
    return a;
}

UD_KERNEL_RUNNERS(silu_args, kernel_args, silu_and_mul_cpu, silu_and_mul_cuda)
UD_KERNEL_TUNER(silu_args, kernel_args, silu_and_mul_cuda_tune)

/* flashinfer, and hf for fp32: the fp32 pipeline's bound (silu_bound_u), then one rounding to
 * T. hf for bf16/fp16: RN_T(silu) is a candidate and RN_T(silu) * u is exact in fp32 (8+8 or
 * 11+11 significant bits) unless it underflows: scaled 1 covers that one 2^-150 through the
 * reference's underflow floor in s. */
static ud_budget budget(const ud_case *c, int k)
{
    (void)k;
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    int candidates = c->p[P_SPEC].i == SILU_SPEC_HF && dt != UD_F32;
    ud_budget b = {0.5, candidates ? 1.0 : silu_bound_u(), 0x1p-24, 0.0};
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    size_t inter = (size_t)c->p[P_INTER].i, t = i / inter, j = i % inter;
    double g = ud_get(in[0].dtype, in[0].host, t * 2 * inter + j);
    double u = ud_get(in[0].dtype, in[0].host, t * 2 * inter + inter + j);
    snprintf(buf, n, "gate=%a (%.9g) up=%a (%.9g)", g, g, u, u);
}

#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(SILU_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {SILU_VARIANTS(V)};

UD_OPERATOR(silu_and_mul) = {
    .name = "silu_and_mul",
    .summary = "out = RN(silu(gate) * up), silu(g) = g / (1 + e^-g) in fp32  [FlashInfer; spec hf: RN(RN(silu) * up)]",
    .doc = "docs/ops/silu_and_mul.md",
    .params = params, .nparams = P_COUNT, .inputs = inputs, .outputs = outputs,
    .shapes = shapes, .generate = generate,
    .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .tune_cuda = UD_TUNE_CUDA, .budget = budget,
    .describe = describe,
    .mutants = mutants, .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 inter=7168 spec=flashinfer values=normal",
    .bitwise_backends = 1,
    .token_param = "tokens",
};
