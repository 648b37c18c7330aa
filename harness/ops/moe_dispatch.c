/* ops/moe_dispatch.c — registry entry for the expert-parallel MoE dispatch (pre-processing):
 * tokens per expert, the slot of every (token, k), and each token's row in every taken slot of
 * the GEMM's input buffer, bf16 or fp8 as the expert weights decide. Spec and judging:
 * docs/ops/moe_dispatch.md. Reference: reference/moe_dispatch.c. Kernel body: gpu/moe_dispatch.h.
 * Expert ids: harness/core/expert_ids.c (the generators post_reorder_sum uses).
 *
 * How a set is judged with the element comparison. The order of the rows within an expert's
 * range is free (atomics), so the buffer cannot be compared element by element with a fixed
 * reference; but the kernel's own src2dst says where each row went, and once that map is valid
 * the expected content of every row it names is known. The reference (computed from the inputs,
 * before any kernel runs) describes the canonical order: the stable sort by expert. The `extra`
 * hook, which sees the kernel's outputs:
 *   1. validates src2dst as a map: every taken (t, k) must name a row of its own expert's range
 *      (offsets from the exact counts), no row named twice — else findings;
 *   2. builds the canonical views: row r of the buffer view is the kernel's row at the slot the
 *      r-th (t, k) of the canonical order named (poison when its slot was not valid), likewise
 *      the scales; src2dst's view holds the canonical slot wherever the kernel's was valid, the
 *      kernel's own value elsewhere;
 *   3. runs the harness's comparison (ud_compare_output) on the views against the reference,
 *      in place of the first comparison of those three outputs, whose element order was the
 *      kernel's (its statistics are replaced; findings come from the new ones);
 *   4. checks that every buffer row no valid slot names still holds the poison: rows of an
 *      expert's range nobody owns and rows past the last expert's range (a scatter past the
 *      live rows — where an exactly sized buffer, ep_scatter's, would end — lands there, never
 *      outside the allocation: the buffer has tokens * topk rows, one for every slot).
 * tokens_per_expert is deterministic and keeps the first comparison. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/moe_dispatch.h"
#include "spec/moe_dispatch.h"
#include "numerics/status.h"
#include "harness/core/expert_ids.h"
#include "harness/core/gen.h"
#include "harness/core/measure.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"

static const char *const dtypes[] = {"bf16", NULL};
static const char *const weight_kinds[] = {"bf16", "fp8", NULL};
static const char *const fmts[] = {"fp32", "ue8m0", NULL};

enum {
    P_DTYPE, P_TOKENS, P_HIDDEN, P_TOPK, P_EXPERTS, P_IDS, P_WEIGHTS, P_GROUP, P_FMT, P_MIN_SCALE,
    P_VALUES, P_SCALE, P_COUNT
};

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16", "dtype of hidden_states (the bf16 GEMM's input dtype)", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 7", "tokens (rows of hidden_states)", NULL, 0, 1 << 20},
    [P_HIDDEN] = {"hidden", UD_P_INT, "1, 127, 384", "row length", NULL, 1, 1 << 18},
    [P_TOPK] = {"topk", UD_P_INT, "1, 8", "experts per token", NULL, 1, 256},
    [P_EXPERTS] = {"experts", UD_P_INT, "8, 64", "experts on this rank (ids are 0..experts-1, or -1)", NULL, 1, 4096},
    [P_IDS] = {"ids", UD_P_CHOICE, "uniform, with_zero, all_zero, padded, largest, all_padded, out_of_range",
               "expert-ID generator (harness/core/expert_ids.h)", ud_ids_names, 0, 0},
    [P_WEIGHTS] = {"weights", UD_P_CHOICE, "bf16, fp8",
                   "the expert weights' dtype: bf16 rows pass through, fp8 rows are quantised per group", weight_kinds, 0, 0},
    [P_GROUP] = {"group", UD_P_INT, "128", "fp8: columns per scale; 0 (or >= hidden) is per-token", NULL, 0, 1 << 18},
    [P_FMT] = {"scale_fmt", UD_P_CHOICE, "fp32, ue8m0", "fp8: fp32 scales, or rounded up to a power of two", fmts, 0, 0},
    [P_MIN_SCALE] = {"min_scale", UD_P_REAL, "4.359654017857143e-06",
                     "fp8: scale floor, as fp32 (fp8_quant_per_token's default 1/(448*512))", NULL, 1e-30, 1.0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal", "generator for hidden_states", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of hidden_states", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"hidden_states", "topk_ids", NULL};
static const char *const outputs[] = {"gateup_input", "gateup_input_scale", "tokens_per_expert", "src2dst", NULL};
enum { IN_X, IN_IDS };
enum { OUT_BUF, OUT_SCALE, OUT_COUNTS, OUT_S2D };

static int fp8(const ud_case *c) { return c->p[P_WEIGHTS].i == MD_W_FP8; }

static int64_t group_of(const ud_case *c)
{
    int64_t g = c->p[P_GROUP].i, h = c->p[P_HIDDEN].i;
    return (g == 0 || g > h) ? h : g;
}

static int64_t groups_of(const ud_case *c)
{
    return fp8(c) ? (c->p[P_HIDDEN].i + group_of(c) - 1) / group_of(c) : 0;
}

static int validate(const ud_case *c, char *msg, size_t n)
{
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i;
    if (ud_ids_validate((ud_ids_kind)c->p[P_IDS].i, topk, c->p[P_EXPERTS].i, msg, n)) return -1;
    if ((double)tokens * (double)topk > 2147483647.0) {
        snprintf(msg, n, "tokens * topk = %.0f slots do not fit src2dst's int32", (double)tokens * (double)topk);
        return -1;
    }
    return 0;
}

/* The buffer has a row for every slot (tokens * topk: the most a dispatch can fill), in the
 * GEMM's input dtype; bf16 weights have no scales (0 columns). */
static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t tokens = c->p[P_TOKENS].i, topk = c->p[P_TOPK].i, hidden = c->p[P_HIDDEN].i;
    int64_t xs[2] = {tokens, hidden}, ks[2] = {tokens, topk}, bs[2] = {tokens * topk, hidden};
    int64_t ss[2] = {tokens * topk, groups_of(c)}, es[1] = {c->p[P_EXPERTS].i};
    UD_TRY(ud_tensor_shape(&in[IN_X], "hidden_states", (ud_dtype)c->p[P_DTYPE].i, 2, xs));
    UD_TRY(ud_tensor_shape(&in[IN_IDS], "topk_ids", UD_I32, 2, ks));
    UD_TRY(ud_tensor_shape(&out[OUT_BUF], "gateup_input", fp8(c) ? UD_E4M3 : (ud_dtype)c->p[P_DTYPE].i, 2, bs));
    UD_TRY(ud_tensor_shape(&out[OUT_SCALE], "gateup_input_scale", UD_F32, 2, ss));
    UD_TRY(ud_tensor_shape(&out[OUT_COUNTS], "tokens_per_expert", UD_I32, 1, es));
    UD_TRY(ud_tensor_shape(&out[OUT_S2D], "src2dst", UD_I32, 2, ks));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_ids_fill(in[IN_IDS].host, c->p[P_TOKENS].i, c->p[P_TOPK].i, c->p[P_EXPERTS].i, (ud_ids_kind)c->p[P_IDS].i,
                c->seed, 11);
    ud_gen_fill(&in[IN_X], (ud_gen_kind)c->p[P_VALUES].i, c->seed, 13, c->p[P_HIDDEN].i, c->p[P_SCALE].d);
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_md_args a = {
        .dt = (ud_dtype)c->p[P_DTYPE].i, .weights = (int)c->p[P_WEIGHTS].i, .fmt = (int)c->p[P_FMT].i,
        .tokens = c->p[P_TOKENS].i, .hidden = c->p[P_HIDDEN].i, .topk = c->p[P_TOPK].i,
        .experts = c->p[P_EXPERTS].i, .group = group_of(c), .min_scale = (float)c->p[P_MIN_SCALE].d,
        .x = in[IN_X].host, .ids = in[IN_IDS].host,
    };
    return ref_moe_dispatch(&a, &ref[OUT_BUF], &ref[OUT_SCALE], &ref[OUT_COUNTS], &ref[OUT_S2D], exact_mpfr);
}

static md_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    md_args a = {
        .dt = (int)c->p[P_DTYPE].i,   /* ud_dtype and UD_DT_* share values (dtype.c) */
        .weights = (int)c->p[P_WEIGHTS].i, .fmt = (int)c->p[P_FMT].i,
        .tokens = c->p[P_TOKENS].i, .hidden = c->p[P_HIDDEN].i, .topk = c->p[P_TOPK].i,
        .experts = c->p[P_EXPERTS].i, .group = group_of(c), .min_scale = (float)c->p[P_MIN_SCALE].d,
        .x = ud_buf(&in[IN_X], dev), .ids = ud_buf(&in[IN_IDS], dev), .buf = ud_buf(&out[OUT_BUF], dev),
        .scales = ud_buf(&out[OUT_SCALE], dev), .counts = ud_buf(&out[OUT_COUNTS], dev),
        .src2dst = ud_buf(&out[OUT_S2D], dev),
    };
    return a;
}

UD_KERNEL_RUNNERS(md_args, kernel_args, moe_dispatch_cpu, moe_dispatch_cuda)

/* Every output is exact: bf16 rows are copies, counts and slots integers, the fp8 scale a
 * deterministic fp32 value and q one of RN_e4m3's candidates for the fp32 quotient (the
 * reference's r0/r1: fp8_quant_per_token's rounding point). */
static ud_budget budget(const ud_case *c, int k)
{
    (void)c;
    (void)k;
    ud_budget b = {0.0, 0.0, 0x1p-24, 0.0};
    return b;
}

/* The canonical order (the reference's): ord[r] = the flat (t, k) index of canonical row r;
 * returns the number of live rows, or -1 when out of memory. */
static int64_t canonical_order(const ud_case *c, const int32_t *ids, int64_t *ord)
{
    int64_t n = c->p[P_TOKENS].i * c->p[P_TOPK].i, E = c->p[P_EXPERTS].i;
    int64_t *next = calloc((size_t)E + 1, sizeof *next);
    if (!next) return -1;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < E) next[ids[i] + 1]++;
    for (int64_t e = 1; e <= E; e++) next[e] += next[e - 1];
    int64_t live = next[E];
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < E) ord[next[ids[i]]++] = i;
    free(next);
    return live;
}

/* The buffer and the scales are described in canonical rows (extra's views): row r is the
 * r-th taken (t, k) of the stable expert order. */
static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    const int32_t *ids = in[IN_IDS].host;
    int64_t topk = c->p[P_TOPK].i, hidden = c->p[P_HIDDEN].i;
    if (k == OUT_COUNTS) { snprintf(buf, n, "expert %zu", i); return; }
    if (k == OUT_S2D) {
        snprintf(buf, n, "(token, k) = (%lld, %lld), id %d", (long long)(i / (size_t)topk),
                 (long long)(i % (size_t)topk), ids[i]);
        return;
    }
    int64_t slots = c->p[P_TOKENS].i * topk, width = k == OUT_BUF ? hidden : groups_of(c);
    int64_t *ord = malloc((size_t)(slots ? slots : 1) * sizeof *ord);
    int64_t r = width ? (int64_t)i / width : 0, col = width ? (int64_t)i % width : 0;
    if (!ord || canonical_order(c, ids, ord) <= r) {
        snprintf(buf, n, "row %lld: no taken slot", (long long)r);
        free(ord);
        return;
    }
    int64_t s = ord[r], t = s / topk;
    if (k == OUT_BUF) {
        double x = ud_get(in[IN_X].dtype, in[IN_X].host, (size_t)(t * hidden + col));
        snprintf(buf, n, "canonical row %lld = (token %lld, k %lld), expert %d; x = %a (%.9g)", (long long)r,
                 (long long)t, (long long)(s % topk), ids[s], x, x);
    } else {
        int64_t g = group_of(c), lo = t * hidden + col * g, len = hidden - col * g < g ? hidden - col * g : g;
        double amax = 0.0;
        for (int64_t e = 0; e < len; e++) amax = fmax(amax, fabs(ud_get(in[IN_X].dtype, in[IN_X].host, (size_t)(lo + e))));
        snprintf(buf, n, "canonical row %lld = (token %lld, k %lld), group %lld: amax = %a over %lld values",
                 (long long)r, (long long)t, (long long)(s % topk), (long long)col, amax, (long long)len);
    }
    free(ord);
}

static void add_metric(struct ud_result *res, const char *name, double value, double budget)
{
    if (res->nmetrics >= UD_MAX_METRICS) return;
    ud_metric *m = &res->metrics[res->nmetrics++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
    m->budget = budget;
}

/* Does row `row` of t (width w) still hold the poison in every element? */
static int row_poisoned(const ud_tensor *t, int64_t row, int64_t w)
{
    uint64_t p = ud_poison_bits(t->dtype);
    for (int64_t j = 0; j < w; j++)
        if (ud_get_bits(t->dtype, t->host, (size_t)(row * w + j)) != p) return 0;
    return 1;
}

static void poison_row(ud_tensor *t, int64_t row, int64_t w)
{
    uint64_t p = ud_poison_bits(t->dtype);
    for (int64_t j = 0; j < w; j++) ud_set_bits(t->dtype, t->host, (size_t)(row * w + j), p);
}

/* A view: a tensor of `rows` rows shaped like t's, named as t (reports say gateup_input). */
static int view_of(const ud_tensor *t, int64_t rows, ud_tensor *v)
{
    int64_t shape[2] = {rows, t->ndim > 1 ? t->shape[1] : 1};
    UD_TRY(ud_tensor_alloc(v, t->name, t->dtype, t->ndim, shape));
    return UD_OK;
}

typedef struct {
    size_t outside, twice, stray, not_bitwise;
    int64_t out_i, out_slot, twice_i, twice_slot, stray_row, bits_row;
} judged;

/* Steps 1 and 2 of the header: the slot map's validity and the canonical views. */
static void build_views(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                        const int64_t *first, const int64_t *ord, int64_t live, int64_t *claim,
                        ud_tensor *vb, ud_tensor *vs, ud_tensor *vd, judged *j)
{
    const int64_t n = c->p[P_TOKENS].i * c->p[P_TOPK].i, H = c->p[P_HIDDEN].i, G = groups_of(c);
    const int32_t *ids = in[IN_IDS].host, *got = out[OUT_S2D].host;
    int32_t *vslot = vd->host;
    memcpy(vslot, got, (size_t)n * sizeof *vslot);
    for (int64_t i = 0; i < n; i++) {
        int64_t canon = (int64_t)ref[OUT_S2D].r0[i];
        if (canon < 0) continue;   /* not taken: its view keeps the kernel's value (must be -1) */
        int64_t s = got[i], e = ids[i];
        if (s < first[e] || s >= first[e + 1]) {
            if (!j->outside++) { j->out_i = i; j->out_slot = s; }
        } else if (claim[s]) {
            if (!j->twice++) { j->twice_i = i; j->twice_slot = s; }
        } else {
            claim[s] = i + 1;
            vslot[i] = (int32_t)canon;
        }
    }
    const size_t esz = ud_format(vb->dtype)->size;
    for (int64_t r = 0; r < live; r++) {
        int64_t i = ord[r], s = got[i];
        int ok = s >= 0 && s < n && claim[s] == i + 1;
        if (ok) {
            memcpy((char *)vb->host + (size_t)(r * H) * esz, (const char *)out[OUT_BUF].host + (size_t)(s * H) * esz,
                   (size_t)H * esz);
            memcpy((float *)vs->host + r * G, (const float *)out[OUT_SCALE].host + s * G, (size_t)G * sizeof(float));
        } else {
            poison_row(vb, r, H);
            poison_row(vs, r, G);
        }
        /* bf16 weights: the row is the source row's bits (the value comparison cannot see a
         * -0 turned +0, or a NaN's payload). */
        if (ok && !fp8(c) &&
            memcmp((const char *)vb->host + (size_t)(r * H) * esz,
                   (const char *)in[IN_X].host + (size_t)((i / c->p[P_TOPK].i) * H) * esz, (size_t)H * esz)) {
            if (!j->not_bitwise++) j->bits_row = r;
        }
    }
}

static int judge_outputs(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                         struct ud_result *res, int64_t *first, int64_t *ord, int64_t *claim, judged *j)
{
    const int64_t n = c->p[P_TOKENS].i * c->p[P_TOPK].i, E = c->p[P_EXPERTS].i, H = c->p[P_HIDDEN].i;
    const int64_t G = groups_of(c);
    first[0] = 0;
    for (int64_t e = 0; e < E; e++) first[e + 1] = first[e] + (int64_t)ref[OUT_COUNTS].r0[e];
    int64_t live = canonical_order(c, in[IN_IDS].host, ord);
    if (live < 0 || live != first[E]) {
        ud_error("moe_dispatch: the canonical order (%lld rows) disagrees with the reference's counts (%lld)",
                 (long long)live, (long long)first[E]);
        return UD_EINTERNAL;
    }
    ud_tensor vb, vs, vd;
    memset(&vb, 0, sizeof vb);
    memset(&vs, 0, sizeof vs);
    memset(&vd, 0, sizeof vd);
    int rc = view_of(&out[OUT_BUF], live, &vb);
    if (rc == UD_OK) rc = view_of(&out[OUT_SCALE], live, &vs);
    if (rc == UD_OK) rc = view_of(&out[OUT_S2D], out[OUT_S2D].shape[0], &vd);
    if (rc == UD_OK) {
        build_views(c, in, out, ref, first, ord, live, claim, &vb, &vs, &vd, j);
        /* Step 4: rows no valid slot names keep the poison. Outputs read from files were never
         * poisoned by ulpdiff, so nothing can be said about their free rows. */
        if (res->backend != UD_BACKEND_EXTERNAL)
            for (int64_t s = 0; s < n; s++)
                if (!claim[s] && !(row_poisoned(&out[OUT_BUF], s, H) && row_poisoned(&out[OUT_SCALE], s, G)))
                    if (!j->stray++) j->stray_row = s;
        /* Step 3: the harness's comparison on the views replaces the first one. */
        const ud_tensor *views[3] = {&vb, &vs, &vd};
        const int which[3] = {OUT_BUF, OUT_SCALE, OUT_S2D};
        for (int v = 0; v < 3 && rc == UD_OK; v++) {
            int k = which[v];
            ud_ref r = {views[v]->numel, ref[k].r0, ref[k].r1, ref[k].s};   /* canonical rows come first */
            res->checked_elements += views[v]->numel;
            res->checked_elements -= out[k].numel;
            rc = ud_compare_output(views[v], &r, ud_case_budget(c, k, views[v]->dtype), c, in, k, &res->out[k]);
        }
    }
    ud_tensor_free(&vb);
    ud_tensor_free(&vs);
    ud_tensor_free(&vd);
    return rc;
}

static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                 struct ud_result *res)
{
    const int64_t n = c->p[P_TOKENS].i * c->p[P_TOPK].i, E = c->p[P_EXPERTS].i, K = c->p[P_TOPK].i;
    int64_t *first = malloc((size_t)(E + 1) * sizeof *first), *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    int64_t *claim = calloc((size_t)(n ? n : 1), sizeof *claim);
    judged j;
    memset(&j, 0, sizeof j);
    int rc = (first && ord && claim) ? judge_outputs(c, in, out, ref, res, first, ord, claim, &j) : UD_EINTERNAL;
    if (!(first && ord && claim)) ud_error("moe_dispatch: out of memory for the judge");
    if (rc == UD_OK) {
        const int32_t *ids = in[IN_IDS].host;
        add_metric(res, "slots_outside_expert_rows", (double)j.outside, 0.0);
        add_metric(res, "slots_claimed_twice", (double)j.twice, 0.0);
        add_metric(res, "stray_rows_written", (double)j.stray, 0.0);
        if (!fp8(c)) add_metric(res, "rows_not_bitwise_copies", (double)j.not_bitwise, 0.0);
        if (j.outside) {
            int64_t e = ids[j.out_i];
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "src2dst: %zu taken (token, k) name a row outside their expert's rows; first "
                                  "(%lld, %lld), expert %lld: row %lld, expert's rows %lld..%lld",
                                  j.outside, (long long)(j.out_i / K), (long long)(j.out_i % K), (long long)e,
                                  (long long)j.out_slot, (long long)first[e], (long long)first[e + 1] - 1);
        }
        if (j.twice)
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "src2dst: %zu taken (token, k) name a row another one already names; first "
                                  "(%lld, %lld): row %lld, also (%lld, %lld)",
                                  j.twice, (long long)(j.twice_i / K), (long long)(j.twice_i % K),
                                  (long long)j.twice_slot, (long long)((claim[j.twice_slot] - 1) / K),
                                  (long long)((claim[j.twice_slot] - 1) % K));
        if (j.stray)
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "gateup_input: %zu rows that no taken (token, k) owns were written; first row %lld "
                                  "(%s; the experts' rows end at %lld)",
                                  j.stray, (long long)j.stray_row,
                                  j.stray_row >= first[E] ? "past the last expert's rows" : "inside an expert's rows",
                                  (long long)first[E] - 1);
        if (j.not_bitwise)
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "gateup_input: %zu rows are not bit-for-bit copies of their source rows (bf16 "
                                  "weights); first canonical row %lld",
                                  j.not_bitwise, (long long)j.bits_row);
    }
    free(first);
    free(ord);
    free(claim);
    return rc;
}

#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(MD_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {MD_VARIANTS(V)};

UD_OPERATOR(moe_dispatch) = {
    .name = "moe_dispatch",
    .summary = "count, offsets, src2dst; row t -> every taken slot: bf16 copy or fp8 group quant, by weight dtype  "
               "[sglang EP MoE]",
    .doc = "docs/ops/moe_dispatch.md",
    .params = params, .nparams = P_COUNT, .inputs = inputs, .outputs = outputs,
    .validate = validate, .shapes = shapes, .generate = generate,
    .reference = reference, .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .budget = budget,
    .describe = describe, .extra = extra,
    .mutants = mutants, .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 hidden=7168 topk=8 experts=32 ids=uniform weights=fp8 group=128 scale_fmt=fp32",
    .bitwise_backends = 1,
};
