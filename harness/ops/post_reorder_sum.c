/* ops/post_reorder_sum.c — registry entry for the MoE combine (post-reorder weighted sum).
 * Spec, rounding points and budget derivation: docs/ops/post_reorder_sum.md.
 * Reference: reference/post_reorder_sum.c. Kernel body: gpu/post_reorder_sum.h.
 * Expert ids and src2dst: harness/core/expert_ids.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/post_reorder_sum.h"
#include "spec/post_reorder_sum.h"
#include "numerics/status.h"
#include "harness/core/expert_ids.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/cases/spec.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};

enum { P_DTYPE, P_TOKENS, P_HIDDEN, P_TOPK, P_EXPERTS, P_IDS, P_VALUES, P_SCALE, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "dtype of the expert outputs and of out", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 7", "tokens (rows of out)", NULL, 0, 1 << 20},
    [P_HIDDEN] = {"hidden", UD_P_INT, "1, 127, 1000", "row length", NULL, 1, 1 << 18},
    [P_TOPK] = {"topk", UD_P_INT, "1, 8", "experts per token", NULL, 1, 256},
    [P_EXPERTS] = {"experts", UD_P_INT, "64", "experts on this rank (ids are 0..experts-1, or -1)", NULL, 1, 4096},
    [P_IDS] = {"ids", UD_P_CHOICE, "uniform, with_zero, all_zero, padded, largest, all_padded, out_of_range",
               "expert-ID generator (harness/core/expert_ids.h)", ud_ids_names, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal", "generator for the expert outputs", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of the expert outputs", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"down", "topk_ids", "topk_weights", "src2dst", NULL};
static const char *const outputs[] = {"out", NULL};
enum { IN_DOWN, IN_IDS, IN_W, IN_SRC2DST };

static int validate(const ud_case *c, char *msg, size_t n)
{
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i;
    if (ud_ids_validate((ud_ids_kind)c->p[P_IDS].i, topk, c->p[P_EXPERTS].i, msg, n)) return -1;
    if ((double)tokens * (double)topk > 2147483647.0) {
        snprintf(msg, n, "tokens * topk = %.0f rows do not fit src2dst's int32", (double)tokens * (double)topk);
        return -1;
    }
    return 0;
}

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i, hidden = c->p[P_HIDDEN].i;
    int64_t dshape[2] = {tokens * topk, hidden}, kshape[2] = {tokens, topk}, oshape[2] = {tokens, hidden};
    UD_TRY(ud_tensor_shape(&in[IN_DOWN], "down", dt, 2, dshape));
    UD_TRY(ud_tensor_shape(&in[IN_IDS], "topk_ids", UD_I32, 2, kshape));
    UD_TRY(ud_tensor_shape(&in[IN_W], "topk_weights", UD_F32, 2, kshape));
    UD_TRY(ud_tensor_shape(&in[IN_SRC2DST], "src2dst", UD_I32, 2, kshape));
    UD_TRY(ud_tensor_shape(&out[0], "out", dt, 2, oshape));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i, hidden = c->p[P_HIDDEN].i;
    int32_t *ids = in[IN_IDS].host, *src2dst = in[IN_SRC2DST].host;
    ud_ids_fill(ids, tokens, topk, c->p[P_EXPERTS].i, (ud_ids_kind)c->p[P_IDS].i, c->seed, 11);
    if (ud_ids_src2dst(ids, tokens * topk, c->p[P_EXPERTS].i, src2dst)) {
        ud_error("post_reorder_sum: cannot build src2dst (out of memory)");
        return UD_EINTERNAL;
    }
    /* Router weights as a renormalised top-k gives them: positive, summing to 1 per token,
     * never 0 (a zero weight would hide a skipped expert), bounded below by 0.05/topk. */
    float *w = in[IN_W].host;
    for (int64_t t = 0; t < tokens; t++) {
        double raw[256], sum = 0.0;
        for (int64_t k = 0; k < topk; k++) {
            raw[k] = 0.05 + 0.95 * ud_rng_unit(c->seed, 12, (uint64_t)(t * topk + k));
            sum += raw[k];
        }
        for (int64_t k = 0; k < topk; k++) w[t * topk + k] = (float)(raw[k] / sum);
    }
    ud_tensor *down = &in[IN_DOWN];
    ud_gen_fill(down, (ud_gen_kind)c->p[P_VALUES].i, c->seed, 13, hidden, c->p[P_SCALE].d);
    /* Rows of slots outside [0, experts) — other-rank (-1) and out-of-range ids — were never
     * computed by any expert: NaN, so that a kernel that reads them shows a nan-mismatch
     * instead of a plausible number. Under the minus_one_wraps variant the engine's dispatch
     * made the same mistake as its combine: expert_map[-1] sent the -1 slots to the last local
     * expert, which computed real rows for them (the generator's values), and the combine adds
     * them — a plausible number, caught as a tolerance finding. */
    int wraps = ud_case_bug(c) == PRS_BUG_MINUS_ONE_WRAPS;
    int64_t experts = c->p[P_EXPERTS].i;
    for (int64_t s = 0; s < tokens * topk; s++)
        if ((ids[s] < 0 || ids[s] >= experts) && !(wraps && ids[s] == -1))
            for (int64_t h = 0; h < hidden; h++)
                ud_set(down->dtype, down->host, (size_t)((int64_t)src2dst[s] * hidden + h), NAN);
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_prs_args a = {
        .dt = (ud_dtype)c->p[P_DTYPE].i, .tokens = c->p[P_TOKENS].i, .topk = c->p[P_TOPK].i,
        .hidden = c->p[P_HIDDEN].i, .experts = c->p[P_EXPERTS].i, .down = in[IN_DOWN].host, .ids = in[IN_IDS].host,
        .src2dst = in[IN_SRC2DST].host, .w = in[IN_W].host,
    };
    return ref_post_reorder_sum(&a, &ref[0], exact_mpfr);
}

static prs_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    prs_args a = {
        .dt = (int)c->p[P_DTYPE].i,   /* ud_dtype and UD_DT_* share values (dtype.c) */
        .tokens = c->p[P_TOKENS].i, .topk = c->p[P_TOPK].i, .hidden = c->p[P_HIDDEN].i,
        .experts = c->p[P_EXPERTS].i, .down = ud_buf(&in[IN_DOWN], dev), .ids = ud_buf(&in[IN_IDS], dev), .w = ud_buf(&in[IN_W], dev),
        .src2dst = ud_buf(&in[IN_SRC2DST], dev), .out = ud_buf(&out[0], dev),
    };
    return a;
}

UD_KERNEL_RUNNERS(prs_args, kernel_args, post_reorder_sum_cpu, post_reorder_sum_cuda)
UD_KERNEL_TUNER(prs_args, kernel_args, post_reorder_sum_cuda_tune)

/* 0.5 ulp_T for the final rounding; (topk + 1) u s for the fp32 sum (prs_bound_u); and each of
 * the topk fp32 roundings may land in fp32's subnormal range, where it errs by up to 2^-150
 * absolute, which no relative bound covers. */
static ud_budget budget(const ud_case *c, int k)
{
    (void)k;
    int64_t topk = c->p[P_TOPK].i;
    ud_budget b = {0.5, prs_bound_u(topk), 0x1p-24, (double)topk * 0x1p-150};
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    int64_t hidden = c->p[P_HIDDEN].i, topk = c->p[P_TOPK].i, t = (int64_t)i / hidden, h = (int64_t)i % hidden;
    const int32_t *ids = in[IN_IDS].host, *src2dst = in[IN_SRC2DST].host;
    const float *w = in[IN_W].host;
    size_t off = (size_t)snprintf(buf, n, "(id, weight, down) =");
    for (int64_t j = 0; j < topk && off < n; j++) {
        int64_t s = t * topk + j;
        if (j == 6) { snprintf(buf + off, n - off, " ..."); break; }
        double d = ud_get(in[IN_DOWN].dtype, in[IN_DOWN].host, (size_t)((int64_t)src2dst[s] * hidden + h));
        off += (size_t)snprintf(buf + off, n - off, " (%d, %a, %a)", ids[s], (double)w[s], d);
    }
}

/* The one property a tolerance cannot state exactly: a token whose every slot is skipped (-1
 * or out of range) has no
 * term at all, so its output must be exactly zero (the budget's absolute underflow allowance
 * would otherwise admit a subnormal there). */
static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                 struct ud_result *res)
{
    (void)ref;
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i, hidden = c->p[P_HIDDEN].i;
    const int32_t *ids = in[IN_IDS].host;
    size_t empty = 0, nonzero = 0;
    int64_t first = -1;
    for (int64_t t = 0; t < tokens; t++) {
        int64_t k = 0;
        while (k < topk && (ids[t * topk + k] < 0 || ids[t * topk + k] >= c->p[P_EXPERTS].i)) k++;
        if (k < topk) continue;
        empty++;
        for (int64_t h = 0; h < hidden; h++) {
            double y = ud_get(out[0].dtype, out[0].host, (size_t)(t * hidden + h));
            if (y != 0.0) { nonzero++; if (first < 0) first = t * hidden + h; }
        }
    }
    if (res->nmetrics < UD_MAX_METRICS) {
        ud_metric *m = &res->metrics[res->nmetrics++];
        snprintf(m->name, sizeof m->name, "empty_rows_nonzero");
        m->value = (double)nonzero;
        m->budget = 0.0;
    }
    if (nonzero)
        ud_result_add_finding(res, UD_F_TOLERANCE,
                              "out: %zu elements of the %zu tokens with no local expert are not exactly 0 "
                              "(first at [%lld, %lld] = %a)", nonzero, empty, (long long)(first / hidden),
                              (long long)(first % hidden),
                              ud_get(out[0].dtype, out[0].host, (size_t)first));
    return UD_OK;
}

/* The padding tokens of a CUDA-graph batch (padding = N; harness/cases/padding.h): the router ran
 * on their garbage, so each slot holds any id from -1 to experts-1 (sglang sets them all to -1
 * only where it masks the padded region, num_token_non_padded); their slots were dispatched
 * after the valid tokens' (src2dst = the slot's own row, past the valid rows), rows of garbage;
 * their weights are the harness's garbage. */
static int pad_inputs(const ud_case *padded, int64_t valid, ud_tensor *in)
{
    int64_t slots = padded->p[P_TOKENS].i * padded->p[P_TOPK].i, experts = padded->p[P_EXPERTS].i;
    int32_t *ids = in[IN_IDS].host, *src2dst = in[IN_SRC2DST].host;
    for (int64_t s = valid * padded->p[P_TOPK].i; s < slots; s++) {
        ids[s] = (int32_t)(ud_rng_u64(padded->seed, 14, (uint64_t)s) % (uint64_t)(experts + 1)) - 1;
        src2dst[s] = (int32_t)s;
    }
    return UD_OK;
}

#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(PRS_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {PRS_VARIANTS(V)};

UD_OPERATOR(post_reorder_sum) = {
    .name = "post_reorder_sum",
    .summary = "out[t] = RN(sum_{k: id>=0} w[t,k] * down[src2dst[t,k]])  fp32 sum, ascending k  [sglang EP MoE]",
    .doc = "docs/ops/post_reorder_sum.md",
    .params = params, .nparams = P_COUNT, .inputs = inputs, .outputs = outputs,
    .validate = validate, .shapes = shapes, .generate = generate,
    .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .tune_cuda = UD_TUNE_CUDA, .budget = budget,
    .describe = describe, .extra = extra,
    .mutants = mutants, .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 hidden=7168 topk=8 experts=256 ids=uniform",
    .bitwise_backends = 1,
    .token_param = "tokens",
    .pad_inputs = pad_inputs,
};
