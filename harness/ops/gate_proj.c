/* ops/gate_proj.c — registry entry for the MoE router gate projection
 *   logits[t, e] = sum_h x[t, h] * W[e, h]
 * in fp32 (DeepSeek-V3 / GLM-4.5 routers), tf32 (measured) and bf16 (Mixtral / Qwen-MoE)
 * modes, plus the routing-flip metric. Spec, budgets and their derivation:
 * docs/ops/gate_proj.md. Reference: reference/gate_proj.c. Kernels: gpu/gate_proj.{h,c,cu}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gate_proj.h"
#include "spec/gate_proj.h"
#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/core/gen.h"
#include "harness/core/routing.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"

/* In GATE_MODE_* order. */
static const char *const modes[] = {"fp32", "tf32", "bf16", NULL};
static const char *const dtypes[] = {"bf16", "fp32", NULL};
static const char *const weights[] = {"auto", "fp32", "bf16", NULL};
/* In GATE_SCORE_* order. */
static const char *const scorings[] = {"softmax", "sigmoid_bias", NULL};
static const char *const values[] = {"normal", "router", "nocancel", "dup", "zero_rows", NULL};

enum { W_AUTO, W_FP32, W_BF16 };
enum { V_NORMAL, V_ROUTER, V_NOCANCEL, V_DUP, V_ZERO_ROWS };
enum { P_MODE, P_DTYPE, P_WEIGHT, P_TOKENS, P_HIDDEN, P_EXPERTS, P_TOPK, P_SCORING, P_VALUES, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_MODE] = {"mode", UD_P_CHOICE, "fp32, tf32, bf16",
                "fp32: fp32 operands and logits; tf32: cuBLAS TF32 math; bf16: bf16 operands, bf16 logits", modes, 0, 0},
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16", "activation x dtype (bf16 mode rounds fp32 x to bf16)", dtypes, 0, 0},
    [P_WEIGHT] = {"weight", UD_P_CHOICE, "auto",
                  "weight storage: auto = fp32 for fp32/tf32 modes, bf16 for bf16; bf16 storage is upcast exactly",
                  weights, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "3, 256", "rows of x", NULL, 1, 1 << 16},
    [P_HIDDEN] = {"hidden", UD_P_INT, "2048", "dot-product length", NULL, 1, 1 << 20},
    [P_EXPERTS] = {"experts", UD_P_INT, "64", "rows of W: logits per token", NULL, 1, 4096},
    [P_TOPK] = {"topk", UD_P_INT, "8", "experts selected per token (routing-flip metric)", NULL, 1, 256},
    [P_SCORING] = {"scoring", UD_P_CHOICE, "softmax, sigmoid_bias",
                   "selection score: softmax, or sigmoid(logit) + per-expert bias (DeepSeek-V3, GLM-4.5)", scorings, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "router, nocancel, normal",
                  "normal; router: near-tied experts, little cancellation; nocancel: positive, TF32-adversarial "
                  "weight bits; dup: router with duplicated expert pairs (exact ties); zero_rows: normal with zero rows",
                  values, 0, 0},
};

static const char *const inputs[] = {"x", "weight", "bias", NULL};
static const char *const outputs[] = {"logits", NULL};

/* The reference is within 2^-31 |l| <= 2^-31 s of exact (spec/gate_proj.h): 2^-7 u_w s. */
#define REF_ALLOWANCE_U 0x1p-7

static int mode_of(const ud_case *c) { return (int)c->p[P_MODE].i; }

static ud_dtype weight_dtype(const ud_case *c)
{
    int64_t w = c->p[P_WEIGHT].i;
    if (w == W_AUTO) return mode_of(c) == GATE_MODE_BF16 ? UD_BF16 : UD_F32;
    return w == W_FP32 ? UD_F32 : UD_BF16;
}

static ud_dtype logits_dtype(const ud_case *c) { return mode_of(c) == GATE_MODE_BF16 ? UD_BF16 : UD_F32; }

static int validate(const ud_case *c, char *msg, size_t n)
{
    int64_t t = c->p[P_TOKENS].i, h = c->p[P_HIDDEN].i, e = c->p[P_EXPERTS].i, k = c->p[P_TOPK].i;
    if (k > e) {
        snprintf(msg, n, "topk = %lld exceeds experts = %lld", (long long)k, (long long)e);
        return -1;
    }
    /* The reference holds x as doubles: keep it under 1 GiB. */
    if ((double)t * (double)h > 0x1p27 || (double)e * (double)h > 0x1p27) {
        snprintf(msg, n, "tokens * hidden and experts * hidden must stay below 2^27 elements");
        return -1;
    }
    return 0;
}

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t t = c->p[P_TOKENS].i, h = c->p[P_HIDDEN].i, e = c->p[P_EXPERTS].i;
    int64_t xs[2] = {t, h}, ws[2] = {e, h}, bs[1] = {e}, ls[2] = {t, e};
    UD_TRY(ud_tensor_shape(&in[0], "x", (ud_dtype)c->p[P_DTYPE].i, 2, xs));
    UD_TRY(ud_tensor_shape(&in[1], "weight", weight_dtype(c), 2, ws));
    UD_TRY(ud_tensor_shape(&in[2], "bias", UD_F32, 1, bs));   /* e_score_correction_bias is fp32 */
    UD_TRY(ud_tensor_shape(&out[0], "logits", logits_dtype(c), 2, ls));
    return UD_OK;
}

/* A positive value whose fp32 mantissa is 1 + k 2^-10 + 0xFFF 2^-23 (k < 128): TF32 keeps
 * 10 mantissa bits, and the 13 it drops are just below half an ulp, so rounding to nearest
 * and truncation both lose 0xFFF 2^-23, a relative 0.89..1 x 2^-11, always downwards. The
 * exponent varies over 2^-1..2^1 so that products and sums are not all alike. */
static double tf32_adversarial(uint64_t seed, uint64_t stream, uint64_t i)
{
    double k = floor(128.0 * ud_rng_unit(seed, stream, 2 * i));
    int j = (int)floor(3.0 * ud_rng_unit(seed, stream, 2 * i + 1)) - 1;
    return ldexp(1.0 + k * 0x1p-10 + 0xFFF * 0x1p-23, j);
}

/* RN_dtype(v) into element i: the cast is the same round-to-nearest-even as ud_set for fp32,
 * without its generic path (weights are the bulk of the data). */
static void store(ud_tensor *t, size_t i, double v)
{
    if (t->dtype == UD_F32) ((float *)t->host)[i] = (float)v;
    else ud_set(t->dtype, t->host, i, v);
}

/* Zero-mean, unit-variance noise, uniform: cheaper than a normal draw, and the router data
 * needs only its spread. */
static double unit_noise(uint64_t seed, uint64_t stream, uint64_t i)
{
    return 1.7320508075688772 * (2.0 * ud_rng_unit(seed, stream, i) - 1.0);
}

static int generate(const ud_case *c, ud_tensor *in)
{
    const int64_t h = c->p[P_HIDDEN].i, e = c->p[P_EXPERTS].i;
    const int v = (int)c->p[P_VALUES].i;
    const uint64_t seed = c->seed;
    const double rh = 1.0 / sqrt((double)h);
    ud_tensor *x = &in[0], *w = &in[1], *b = &in[2];
    for (size_t i = 0; i < x->numel; i++) {
        int64_t t = (int64_t)i / h;
        double val;
        switch (v) {
        case V_ROUTER: case V_DUP: val = 0.5 + ud_rng_unit(seed, 1, i); break;
        case V_NOCANCEL: val = tf32_adversarial(seed, 1, i); break;
        case V_ZERO_ROWS:   /* every third row from the second on: never all of x */
            val = t % 3 == 1 ? ((t & 2) ? -0.0 : 0.0) : ud_gen_normal(seed, 1, i);
            break;
        default: val = ud_gen_normal(seed, 1, i); break;
        }
        store(x, i, val);
    }
    /* Logits of order 1 in every generator, so sigmoid scores sit where they discriminate. */
    const double wscale = ldexp(1.0, -(int)ceil(log2((double)h)));
    for (size_t i = 0; i < w->numel; i++) {
        int64_t row = (int64_t)i / h, col = (int64_t)i % h;
        double val;
        switch (v) {
        /* router: l_e = mean(x) (1 + O(1/sqrt(h))) for every expert, so experts sit a few
         * bf16 ulps apart; |x W| sums exceed |l| by only ~1.25x (little cancellation). */
        case V_ROUTER: val = (1.0 + unit_noise(seed, 2, i)) / (double)h; break;
        case V_DUP: val = (1.0 + unit_noise(seed, 2, (uint64_t)((row & ~(int64_t)1) * h + col))) / (double)h; break;
        case V_NOCANCEL: val = wscale * tf32_adversarial(seed, 2, i); break;
        default: val = rh * ud_gen_normal(seed, 2, i); break;
        }
        store(w, i, val);
    }
    for (int64_t j = 0; j < e; j++) {
        double z = ud_gen_normal(seed, 3, (uint64_t)(v == V_DUP ? (j & ~(int64_t)1) : j));
        /* Bias spread comparable to the spread of sigmoid(l) across experts. */
        double s = v == V_ROUTER || v == V_DUP ? 0.2 * rh : v == V_NOCANCEL ? 0.01 : 0.1;
        ud_set(UD_F32, b->host, (size_t)j, s * z);
    }
    return UD_OK;
}

static ref_gate_args ref_args(const ud_case *c, const ud_tensor *in)
{
    ref_gate_args a;
    memset(&a, 0, sizeof a);
    a.tokens = c->p[P_TOKENS].i;
    a.hidden = c->p[P_HIDDEN].i;
    a.experts = c->p[P_EXPERTS].i;
    a.xdt = in[0].dtype;
    a.wdt = in[1].dtype;
    a.bf16_operands = mode_of(c) == GATE_MODE_BF16;
    a.x = in[0].host;
    a.w = in[1].host;
    return a;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_gate_args a = ref_args(c, in);
    return ref_gate_logits(&a, &ref[0], exact_mpfr, NULL);
}

static gate_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    gate_args a;
    memset(&a, 0, sizeof a);
    a.mode = mode_of(c);
    a.xdt = (int)in[0].dtype;   /* ud_dtype and UD_DT_* share values (static_assert in dtype.c) */
    a.wdt = (int)in[1].dtype;
    a.odt = (int)out[0].dtype;
    a.tokens = c->p[P_TOKENS].i;
    a.hidden = c->p[P_HIDDEN].i;
    a.experts = c->p[P_EXPERTS].i;
    a.x = ud_buf(&in[0], dev);
    a.w = ud_buf(&in[1], dev);
    a.logits = ud_buf(&out[0], dev);
    return a;
}

/* Mutant index (1-based) -> GATE_BUG_* */
UD_KERNEL_RUNNERS(gate_args, kernel_args, gate_proj_cpu, gate_proj_cuda)
UD_KERNEL_TUNER(gate_args, kernel_args, gate_proj_cuda_tune)

/* fp32 and tf32 logits are the fp32 accumulator itself (no rounding after the sum); bf16
 * logits are one correct rounding of it. The scaled part is the mode's order-independent
 * dot-product bound (gpu/gate_proj.h) plus the reference's own error. */
static ud_budget budget(const ud_case *c, int k)
{
    (void)k;
    int mode = mode_of(c);
    ud_budget b = {mode == GATE_MODE_BF16 ? 0.5 : 0.0, gate_bound_u(mode, c->p[P_HIDDEN].i) + REF_ALLOWANCE_U, 0x1p-24};
    return b;
}

/* The budget the comparison used, case-file overrides included (as run.c applies them). */
static ud_budget effective_budget(const ud_case *c, ud_dtype t)
{
    ud_budget b = budget(c, 0);
    if (!isnan(c->budget_ulp[t])) b.ulp = c->budget_ulp[t];
    if (!isnan(c->budget_scaled)) b.scaled = c->budget_scaled;
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    int64_t e = c->p[P_EXPERTS].i, h = c->p[P_HIDDEN].i, t = (int64_t)i / e, j = (int64_t)i % e;
    double x0 = ud_get(in[0].dtype, in[0].host, (size_t)(t * h)), w0 = ud_get(in[1].dtype, in[1].host, (size_t)(j * h));
    snprintf(buf, n, "x[%lld,:] . weight[%lld,:] over hidden %lld; x[%lld,0]=%a (%.9g), weight[%lld,0]=%a (%.9g)",
             (long long)t, (long long)j, (long long)h, (long long)t, x0, x0, (long long)j, w0, w0);
}

static void add_metric(ud_result *res, const char *name, double value, double budget_)
{
    if (res->nmetrics >= UD_MAX_METRICS) return;
    ud_metric *m = &res->metrics[res->nmetrics++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
    m->budget = budget_;
}

/* Routing flips: budget 0 over the tokens the mode's own bound decides (a kernel within
 * tolerance cannot flip those); the flip rate over all tokens and the undecidable and tied
 * counts are reported with no budget — they are what the mode costs, not a defect. */
static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref, ud_result *res)
{
    const ud_tensor *lg = &out[0];
    ud_budget b = effective_budget(c, lg->dtype);
    double *got = malloc((lg->numel ? lg->numel : 1) * sizeof *got), *tol = malloc((lg->numel ? lg->numel : 1) * sizeof *tol);
    if (!got || !tol) { free(got); free(tol); UD_ALLOC_CHECK(NULL); }
    for (size_t i = 0; i < lg->numel; i++) {
        got[i] = ud_get(lg->dtype, lg->host, i);
        tol[i] = ud_tolerance(lg->dtype, ref->r0[i], ref->s[i], b);
    }
    ref_gate_args a = ref_args(c, in);
    ud_route_args r = {(int)c->p[P_SCORING].i, (int)c->p[P_TOPK].i, (const float *)in[2].host, got, tol};
    ud_route_stats st;
    int rc = ud_route_flips(&a, ref, &r, &st);
    if (rc == UD_OK) {
        size_t scored = st.tokens - st.ties;
        add_metric(res, "route_flips", st.decidable ? (double)st.flips / (double)st.decidable : 0.0, 0.0);
        add_metric(res, "route_flips_all", scored ? (double)st.flips_all / (double)scored : 0.0, INFINITY);
        add_metric(res, "route_undecidable", (double)st.undecidable, INFINITY);
        add_metric(res, "route_ties", (double)st.ties, INFINITY);
        if (st.flips) {
            int64_t e = a.experts;
            size_t ia = (size_t)(st.first_flip * e + st.first_in), ib = (size_t)(st.first_flip * e + st.first_out);
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "logits: top-%d %s routing flips in %zu of %zu decidable tokens; first token %lld, "
                                  "exact boundary experts %lld | %lld: exact logits %.9g | %.9g, got %.9g | %.9g",
                                  r.topk, scorings[r.scoring], st.flips, st.decidable, (long long)st.first_flip,
                                  (long long)st.first_in, (long long)st.first_out, ref->r0[ia], ref->r0[ib], got[ia],
                                  got[ib]);
        }
    }
    free(got);
    free(tol);
    return rc;
}

extern const struct ud_cached_op ud_cached_gate_proj;   /* ops/gate_proj_cached.c */

/* The kernels' variants (gpu/gate_proj.h), then the fp32 weight cache's (ops/gate_proj_cached.c,
 * docs/cache-checks.md): production kernels, a cache key that misses something. */
#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(GATE_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {
    GATE_VARIANTS(V)
    UD_CACHE_VARIANT("cache_never_invalidated", "fp32 weight copy filled once, never invalidated (GLM gate FIXME): "
                     "stale after a weight update (expert rebalancing, RL weight sync)", UD_CACHE_LAZY, 0, "replace"),
    UD_CACHE_VARIANT("cache_misses_inplace_update", "fp32 weight copy keyed on the data pointer only: stale after an "
                     "in-place update", UD_CACHE_PTR_ONLY, 0, "inplace_bump"),
    UD_CACHE_VARIANT("cache_misses_aba", "fp32 weight copy keyed on (data pointer, version, device, dtype): stale when "
                     "a new weight is allocated at the freed address (ABA)", UD_CACHE_NO_ALLOC_ID, 0, "aba"),
    UD_CACHE_VARIANT("cache_misses_device_change", "fp32 weight copy keyed without the device: serves the copy made "
                     "for another device", UD_CACHE_NO_DEVICE, 0, "device_change"),
};

UD_OPERATOR(gate_proj) = {
    .name = "gate_proj",
    .summary = "logits[t, e] = sum_h x[t, h] W[e, h]  (MoE router; fp32 / tf32 / bf16 modes)",
    .doc = "docs/ops/gate_proj.md",
    .params = params,
    .nparams = P_COUNT,
    .inputs = inputs,
    .outputs = outputs,
    .validate = validate,
    .shapes = shapes,
    .generate = generate,
    .reference = reference,
    .run_cpu = run_cpu,
    .run_cuda = UD_RUN_CUDA,
    .tune_cuda = UD_TUNE_CUDA,
    .budget = budget,
    .describe = describe,
    .extra = extra,
    .mutants = mutants,
    .nmutants = UD_NELEMS(mutants),
    /* DeepSeek-V3's router: a compute-bound GEMM, timed for the fp32 / tf32 comparison. */
    .bench = "mode=fp32 dtype=bf16 tokens=4096 hidden=7168 experts=256 topk=8",
    .token_param = "tokens",
    .cached = &ud_cached_gate_proj,
};
