/* ops/fp8_quant_per_token.c — registry entry for dynamic FP8 E4M3 quantization per token and
 * per group of G columns. Spec, rounding points and budgets: docs/ops/fp8_quant_per_token.md.
 * Reference: reference/fp8_quant_per_token.c. Kernel body: gpu/fp8_quant_per_token.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fp8_quant_per_token.h"
#include "spec/fp8_quant_per_token.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/core/ulp.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const fmts[] = {"fp32", "ue8m0", NULL};
/* normal, rowscale, zero_rows, subnormal, nan_inf, pow2_amax: harness/core/gen.h. spike: one large
 * value per row among values 2^-16 smaller (e4m3 subnormals and zeros). ties: each row's amax is
 * 448 * 2^k (so scale = 2^k and x / scale is exact) and the other values are e4m3 numbers,
 * midpoints between them (round-half-even decides) and midpoints +- one ulp of the dtype.
 * pow2_amax: normal values with one +-448 * 2^k per group, so amax / 448 is an exact power of
 * two — the ue8m0 ceiling's fixed point, which random data essentially never reaches.
 * graph_padding: a CUDA-graph batch — the first fq_graph_valid(tokens) rows are normal
 * activations, the rest padding rows holding stale workspace garbage (random bit patterns of
 * the dtype, with a NaN and a -Inf at their start); every row is still quantised as given. */
static const char *const values[] = {"normal", "rowscale", "zero_rows", "subnormal", "nan_inf", "spike", "ties",
                                     "pow2_amax", "graph_padding", NULL};
enum { V_NORMAL, V_ROWSCALE, V_ZERO_ROWS, V_SUBNORMAL, V_NAN_INF, V_SPIKE, V_TIES, V_POW2_AMAX, V_GRAPH_PADDING };

enum { P_DTYPE, P_TOKENS, P_HIDDEN, P_GROUP, P_FMT, P_MIN_SCALE, P_SCALE_UB, P_VALUES, P_SCALE, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "dtype of x", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "3", "rows", NULL, 0, 1 << 20},
    [P_HIDDEN] = {"hidden", UD_P_INT, "1, 100, 512", "row length", NULL, 1, 1 << 18},
    [P_GROUP] = {"group", UD_P_INT, "0, 32",
                 "G: columns per scale; 0 (or >= hidden) is per-token; a last group may be shorter",
                 NULL, 0, 1 << 18},
    [P_FMT] = {"scale_fmt", UD_P_CHOICE, "fp32, ue8m0", "fp32 scales, or rounded up to a power of two (ue8m0)", fmts, 0, 0},
    [P_MIN_SCALE] = {"min_scale", UD_P_REAL, "4.359654017857143e-06",
                     "scale floor, as fp32 (default 1/(448*512), vLLM's min_scaling_factor)", NULL, 1e-30, 1.0},
    [P_SCALE_UB] = {"scale_ub", UD_P_REAL, "0, 1",
                    "upper bound on amax before / 448 (vLLM's scale_ub; 0: none): larger values saturate",
                    NULL, 0.0, 1e30},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal, zero_rows, spike, ties, nan_inf", "generator for x", values, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of generated inputs", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"x", NULL};
static const char *const outputs[] = {"q", "scales", NULL};

static int64_t group_of(const ud_case *c)
{
    int64_t g = c->p[P_GROUP].i, h = c->p[P_HIDDEN].i;
    return (g == 0 || g > h) ? h : g;
}

static int64_t groups_per_row(const ud_case *c)
{
    int64_t g = group_of(c);
    return (c->p[P_HIDDEN].i + g - 1) / g;
}

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t xs[2] = {c->p[P_TOKENS].i, c->p[P_HIDDEN].i}, ss[2] = {c->p[P_TOKENS].i, groups_per_row(c)};
    UD_TRY(ud_tensor_shape(&in[0], "x", (ud_dtype)c->p[P_DTYPE].i, 2, xs));
    UD_TRY(ud_tensor_shape(&out[0], "q", UD_E4M3, 2, xs));
    UD_TRY(ud_tensor_shape(&out[1], "scales", UD_F32, 2, ss));
    return UD_OK;
}

static void gen_spike(const ud_case *c, ud_tensor *x, int64_t hidden, double scale)
{
    for (size_t i = 0; i < x->numel; i++) {
        size_t row = i / (size_t)hidden;
        size_t at = (size_t)(ud_rng_u64(c->seed, 31, row) % (uint64_t)hidden);
        double v = i % (size_t)hidden == at ? scale * 256.0 * (1.0 + ud_rng_unit(c->seed, 32, i))
                                            : scale * 0x1p-8 * ud_gen_normal(c->seed, 33, i);
        ud_set(x->dtype, x->host, i, (ud_rng_u64(c->seed, 34, i) & 1) ? -v : v);
    }
}

/* Rows built so that every x / scale is exact: see `values` above. Per-group amax when the
 * case has groups, so each group's scale is a power of two too. */
static void gen_ties(const ud_case *c, ud_tensor *x, int64_t hidden, int64_t group)
{
    for (size_t i = 0; i < x->numel; i++) {
        size_t row = i / (size_t)hidden, col = i % (size_t)hidden, g = col / (size_t)group;
        size_t gid = row * (size_t)((hidden + group - 1) / group) + g;
        int k = (int)(ud_rng_u64(c->seed, 41, gid) % 9) - 4;   /* 2^-4 .. 2^4: fits fp16 */
        size_t glen = (size_t)(hidden - (int64_t)g * group < group ? hidden - (int64_t)g * group : group);
        size_t at = (size_t)(ud_rng_u64(c->seed, 42, gid) % glen);
        double v;
        if (col % (size_t)group == at) {
            v = 448.0;
        } else {
            uint32_t code = (uint32_t)(ud_rng_u64(c->seed, 43, i) % 0x7eu);   /* 0 .. 0x7d */
            double lo = ud_lattice_value(code, 3, -6), hi = ud_lattice_value(code + 1, 3, -6);
            uint64_t kind = ud_rng_u64(c->seed, 44, i) % 4;
            v = kind == 0 ? lo : 0.5 * (lo + hi);
            if (kind == 2 || kind == 3) {   /* the dtype's neighbours of the midpoint */
                double m = ldexp(v, k);
                double step = ud_ulp(x->dtype, m) * (kind == 2 ? 1.0 : -1.0);
                v = ldexp(m + step, -k);
            }
        }
        double s = (ud_rng_u64(c->seed, 45, i) & 1) ? -1.0 : 1.0;
        ud_set(x->dtype, x->host, i, s * ldexp(v, k));
    }
}

/* Real rows of a graph_padding batch: about half, and an odd count, so that with one group
 * per row the last real row and the first padding row form a pair of consecutive groups
 * (fq_pair_group): the rows a 32-lane reduction over two groups would mix. */
static int64_t fq_graph_valid(int64_t tokens)
{
    int64_t v = (tokens / 2) | 1;
    return v < tokens ? v : tokens;
}

/* Padding rows: what a CUDA-graph workspace holds when nothing wrote it this step — bits of
 * whatever was there before (NaN, Inf, values up to the dtype's largest included). Element 0
 * is a NaN and element 1 a -Inf, so every padding row holds both whatever the seed. */
static void gen_graph_padding(const ud_case *c, ud_tensor *x, int64_t hidden, double scale)
{
    ud_gen_fill(x, UD_GEN_NORMAL, c->seed, 30, hidden, scale);
    int64_t tokens = c->p[P_TOKENS].i, valid = fq_graph_valid(tokens);
    int bits = ud_format(x->dtype)->size * 8;
    for (int64_t r = valid; r < tokens; r++)
        for (int64_t j = 0; j < hidden; j++) {
            size_t i = (size_t)(r * hidden + j);
            uint64_t b = ud_rng_u64(c->seed, 36, i) & (bits == 64 ? ~0ull : (1ull << bits) - 1);
            ud_set_bits(x->dtype, x->host, i, b);
            if (j == 0) ud_set(x->dtype, x->host, i, NAN);
            if (j == 1) ud_set(x->dtype, x->host, i, -INFINITY);
        }
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_tensor *x = &in[0];
    int64_t hidden = c->p[P_HIDDEN].i;
    double scale = c->p[P_SCALE].d;
    switch ((int)c->p[P_VALUES].i) {
    case V_NORMAL: ud_gen_fill(x, UD_GEN_NORMAL, c->seed, 30, hidden, scale); break;
    case V_ROWSCALE: ud_gen_fill(x, UD_GEN_ROWSCALE, c->seed, 30, hidden, scale); break;
    case V_ZERO_ROWS: ud_gen_fill(x, UD_GEN_ZERO_ROWS, c->seed, 30, hidden, scale); break;
    case V_SUBNORMAL: ud_gen_fill(x, UD_GEN_SUBNORMAL, c->seed, 30, hidden, scale); break;
    case V_NAN_INF: ud_gen_fill(x, UD_GEN_NAN_INF, c->seed, 30, hidden, scale); break;
    case V_SPIKE: gen_spike(c, x, hidden, scale); break;
    case V_GRAPH_PADDING: gen_graph_padding(c, x, hidden, scale); break;
    case V_POW2_AMAX: {
        /* The generator's rows are the groups when they tile the row; otherwise a row's one
         * spike sets only its own group's amax. */
        int64_t g = group_of(c);
        ud_gen_fill(x, UD_GEN_POW2_AMAX, c->seed, 30, hidden % g == 0 ? g : hidden, scale);
        break;
    }
    default: gen_ties(c, x, hidden, group_of(c)); break;
    }
    /* Every zero_rows case has at least one all-zero row (row 0), whatever the seed. */
    if (c->p[P_VALUES].i == V_ZERO_ROWS && c->p[P_TOKENS].i > 0)
        for (int64_t j = 0; j < hidden; j++) ud_set(x->dtype, x->host, (size_t)j, 0.0);
    return UD_OK;
}

static ref_fq_args ref_args(const ud_case *c, const ud_tensor *in)
{
    ref_fq_args a = {
        .dt = (ud_dtype)c->p[P_DTYPE].i, .fmt = (int)c->p[P_FMT].i, .tokens = c->p[P_TOKENS].i,
        .hidden = c->p[P_HIDDEN].i, .group = group_of(c), .min_scale = (float)c->p[P_MIN_SCALE].d,
        .scale_ub = (float)c->p[P_SCALE_UB].d, .x = in[0].host,
    };
    return a;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_fq_args a = ref_args(c, in);
    return ref_fp8_quant_per_token(&a, &ref[0], &ref[1], exact_mpfr);
}

static fq_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    fq_args a = {
        .dt = (int)c->p[P_DTYPE].i, .fmt = (int)c->p[P_FMT].i, .tokens = c->p[P_TOKENS].i,
        .hidden = c->p[P_HIDDEN].i, .group = group_of(c), .min_scale = (float)c->p[P_MIN_SCALE].d,
        .scale_ub = (float)c->p[P_SCALE_UB].d, .x = ud_buf(&in[0], dev),
        .q = ud_buf(&out[0], dev), .scales = ud_buf(&out[1], dev),
    };
    return a;
}

UD_KERNEL_RUNNERS(fq_args, kernel_args, fp8_quant_per_token_cpu, fp8_quant_per_token_cuda)

/* Both outputs are exact against their candidates: the scale is a deterministic fp32 value,
 * and q is one of RN_e4m3's candidates for the fp32 quotient (no further arithmetic). */
static ud_budget budget(const ud_case *c, int k)
{
    (void)c;
    (void)k;
    ud_budget b = {0.0, 0.0, 0x1p-24, 0.0};
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    if (k == 0) {
        double x = ud_get(in[0].dtype, in[0].host, i);
        snprintf(buf, n, "x=%a (%.9g)", x, x);
        return;
    }
    int64_t gpr = groups_per_row(c), g = group_of(c), hidden = c->p[P_HIDDEN].i;
    int64_t row = (int64_t)i / gpr, j = (int64_t)i % gpr, lo = row * hidden + j * g;
    int64_t len = hidden - j * g < g ? hidden - j * g : g;
    double amax = 0.0;
    for (int64_t e = 0; e < len; e++) {
        double v = fabs(ud_get(in[0].dtype, in[0].host, (size_t)(lo + e)));
        if (v > amax) amax = v;
    }
    snprintf(buf, n, "group amax=%a (%.9g) over %lld values", amax, amax, (long long)len);
}

static void add_metric(struct ud_result *res, const char *name, double value, double budget)
{
    if (res->nmetrics >= UD_MAX_METRICS) return;
    ud_metric *m = &res->metrics[res->nmetrics++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
    m->budget = budget;
}

/* Quantisation metrics beyond the per-element candidate check:
 *   q_lattice     max |lattice distance| between q and RN_e4m3 of the exact x / scale (the
 *                 fp32 division can move a value within 2^-24 of a boundary by one step: 1);
 *   dequant_max   max |q * scale - x| / scale with the kernel's own scales, over finite
 *                 elements that rounding (not saturation) maps into range (|x / scale| <= 464,
 *                 464 being the midpoint above 448): half the e4m3 spacing of the top binade,
 *                 16, plus the division's 464 * 2^-24 (< 2^-15);
 *   saturated     elements beyond 464, clipped to +-448 by the saturation (informative);
 *   unwritten     q bytes still 0xFF (the poison, also E4M3's negative NaN, which production
 *                 never emits: its NaN is 0x7F) where the reference is NaN — the comparison
 *                 cannot tell those from a written NaN. */
static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                 struct ud_result *res)
{
    int64_t gpr = groups_per_row(c), g = group_of(c), hidden = c->p[P_HIDDEN].i;
    const float *scales = out[1].host;
    const uint8_t *q = out[0].host;
    int64_t lat_max = 0;
    double dq_max = 0.0;
    size_t sat = 0, unwritten = 0;
    for (size_t i = 0; i < out[0].numel; i++) {
        double x = ud_get(in[0].dtype, in[0].host, i), y = ud_e4m3_to_f64(q[i]), r0 = ref[0].r0[i];
        if (q[i] == 0xff && isnan(r0)) unwritten++;
        if (isnan(y) || isnan(r0)) continue;
        int64_t d = ud_ordinal(UD_E4M3, y) - ud_ordinal(UD_E4M3, r0);
        if (llabs(d) > lat_max) lat_max = llabs(d);
        int64_t col = (int64_t)i % hidden, row = (int64_t)i / hidden;
        double s = scales[row * gpr + col / g];
        if (!isfinite(x) || !isfinite(s) || !(s > 0.0)) continue;
        if (fabs(x / s) > 464.0) { sat++; continue; }   /* beyond RN's reach of 448: clipped */
        double e = fabs(y * s - x) / s;
        if (e > dq_max) dq_max = e;
    }
    const double dq_budget = 16.0 + 0x1p-15;
    add_metric(res, "q_lattice", (double)lat_max, 1.0);
    add_metric(res, "dequant_max", dq_max, dq_budget);
    add_metric(res, "saturated", (double)sat, INFINITY);
    if (lat_max > 1)
        ud_result_add_finding(res, UD_F_TOLERANCE, "q: %lld e4m3 steps from RN_e4m3(x / scale) (budget 1)",
                              (long long)lat_max);
    if (dq_max > dq_budget)
        ud_result_add_finding(res, UD_F_TOLERANCE, "q: dequantisation error %g scale units (budget %g)", dq_max,
                              dq_budget);
    if (unwritten)
        ud_result_add_finding(res, UD_F_UNWRITTEN, "q: %zu elements still hold the poison 0xFF", unwritten);
    return UD_OK;
}

#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(FQ_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {FQ_VARIANTS(V)};

UD_OPERATOR(fp8_quant_per_token) = {
    .name = "fp8_quant_per_token",
    .summary = "scale = max(RN32(amax/448), min_scale); q = RN_e4m3(sat(RN32(x/scale)))  per token or group  [vLLM, sglang]",
    .doc = "docs/ops/fp8_quant_per_token.md",
    .params = params, .nparams = P_COUNT, .inputs = inputs, .outputs = outputs,
    .shapes = shapes, .generate = generate,
    .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .budget = budget,
    .describe = describe, .extra = extra,
    .mutants = mutants, .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 hidden=7168 group=0 scale_fmt=fp32 scale_ub=0 values=normal",
    .bitwise_backends = 1,
    .token_param = "tokens",
};
