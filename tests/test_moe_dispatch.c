/* test_moe_dispatch.c — the expert-parallel MoE dispatch: the layout on a hand-sorted example
 * (reference and kernel), the production kernel on every ids generator and shape edge, the
 * judge (any order within an expert passes; a row in the wrong place, a slot named twice or
 * outside its expert, a row nobody owns written, a taken row missing, a bf16 row that is not a
 * bit-for-bit copy — each is a finding), the round trip dispatch -> identity expert ->
 * post_reorder_sum, the fp8 rows against fp8_quant_per_token, and the variants caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fp8_quant_per_token.h"
#include "gpu/moe_dispatch.h"
#include "gpu/post_reorder_sum.h"
#include "spec/moe_dispatch.h"
#include "numerics/status.h"
#include "harness/core/expert_ids.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "tests/ud_test.h"

enum { OUT_BUF, OUT_SCALE, OUT_COUNTS, OUT_S2D };

/* ------------------------------------------------------------------ layout */

/* Expert 0, -1 padding, an id past the experts (5) and one below -1 (-7), an expert with no
 * slot (1), a token with none: the counts, and the slots sorted by expert, stable in (t, k). */
static const int32_t hand_ids[12] = {2, -1, 0, 0, 5, 3, -1, -1, -1, 3, 0, -7};
static const int32_t hand_counts[4] = {3, 0, 1, 2};
static const int32_t hand_s2d[12] = {3, -1, 0, 1, -1, 4, -1, -1, -1, 5, 2, -1};

Test(moe_dispatch_layout, reference_sorts_by_expert_stably_and_skips_the_rest)
{
    enum { T = 4, K = 3, E = 4, H = 2 };
    uint16_t x[T * H];
    for (int i = 0; i < T * H; i++) x[i] = ud_f32_to_bf16((float)(i + 1));
    ud_ref buf, sc, cnt, s2d;
    cr_assert_eq(ud_ref_alloc(&buf, T * K * H), UD_OK);
    cr_assert_eq(ud_ref_alloc(&sc, 0), UD_OK);
    cr_assert_eq(ud_ref_alloc(&cnt, E), UD_OK);
    cr_assert_eq(ud_ref_alloc(&s2d, T * K), UD_OK);
    ref_md_args a = {UD_BF16, MD_W_BF16, FQ_FMT_FP32, T, H, K, E, H, 1e-6f, x, hand_ids};
    cr_assert_eq(ref_moe_dispatch(&a, &buf, &sc, &cnt, &s2d, 0), UD_OK);
    for (int e = 0; e < E; e++) cr_assert_eq(cnt.r0[e], hand_counts[e], "count of expert %d", e);
    for (int i = 0; i < T * K; i++) cr_assert_eq(s2d.r0[i], hand_s2d[i], "src2dst[%d]", i);
    for (int i = 0; i < T * K; i++)
        for (int h = 0; hand_s2d[i] >= 0 && h < H; h++)
            cr_assert_eq(buf.r0[hand_s2d[i] * H + h], (double)((i / K) * H + h + 1));
    for (int r = 6; r < T * K; r++) cr_assert(isnan(buf.r0[r * H]), "row %d belongs to no slot", r);
    ud_ref_free(&buf);
    ud_ref_free(&sc);
    ud_ref_free(&cnt);
    ud_ref_free(&s2d);
}

Test(moe_dispatch_layout, kernel_writes_the_same_slots_and_nothing_past_the_live_rows)
{
    enum { T = 4, K = 3, E = 4, H = 2 };
    uint16_t x[T * H], out[T * K * H];
    int32_t counts[E], s2d[T * K];
    for (int i = 0; i < T * H; i++) x[i] = ud_f32_to_bf16((float)(i + 1));
    for (int i = 0; i < T * K * H; i++) out[i] = 0x7fa5;
    md_args a = {UD_DT_BF16, MD_W_BF16, FQ_FMT_FP32, T, H, K, E, H, 1e-6f, x, hand_ids, out, NULL, counts, s2d};
    cr_assert_eq(moe_dispatch_cpu(&a, MD_BUG_NONE), UD_OK);
    for (int e = 0; e < E; e++) cr_assert_eq(counts[e], hand_counts[e]);
    for (int i = 0; i < T * K; i++) cr_assert_eq(s2d[i], hand_s2d[i], "src2dst[%d] = %d", i, s2d[i]);
    for (int i = 0; i < T * K; i++)
        for (int h = 0; hand_s2d[i] >= 0 && h < H; h++) cr_assert_eq(out[hand_s2d[i] * H + h], x[(i / K) * H + h]);
    for (int r = 6 * H; r < T * K * H; r++) cr_assert_eq(out[r], 0x7fa5, "element %d past the live rows written", r);
}

/* ------------------------------------------------------------------ production */

Test(moe_dispatch_kernel, production_passes_every_ids_generator_and_shape_edge)
{
    static const char *const kv[][2] = {
        {"tokens", "1, 5"}, {"hidden", "1, 7, 8, 127, 129, 1000"}, {"topk", "1, 2, 8"}, {"experts", "8, 64"},
        {"ids", "uniform, with_zero, all_zero, padded, largest, all_padded, out_of_range"},
        {"weights", "bf16, fp8"}, {"group", "0, 4, 128"}, {"scale_fmt", "fp32, ue8m0"},
    };
    size_t n;
    ud_test_run("moe_dispatch", 0, kv, 8, NULL, &n);
    cr_assert_gt(n, 2000);
}

Test(moe_dispatch_kernel, production_passes_value_edges)
{
    static const char *const kv[][2] = {
        {"tokens", "9"}, {"hidden", "256"}, {"topk", "8"}, {"experts", "16"}, {"ids", "uniform, padded"},
        {"weights", "bf16, fp8"}, {"group", "32, 128"}, {"scale_fmt", "fp32, ue8m0"},
        {"values", "normal, rowscale, zero_rows, subnormal, nan_inf, near_overflow, pow2_amax"},
    };
    size_t n;
    ud_test_run("moe_dispatch", 0, kv, 9, NULL, &n);
    cr_assert_gt(n, 100);
}

/* ------------------------------------------------------------------ the judge */

/* Outputs as the production kernel writes them, then changed the way another kernel (or a
 * broken one) would: the judge must pass the legitimate change and catch the others. */
typedef enum {
    T_REVERSE,        /* every expert's rows in reverse order, src2dst updated: legitimate */
    T_SWAP_CONTENT,   /* two rows of one expert swapped, src2dst not: the rows are not where it says */
    T_TWICE,          /* one (t, k) names the row another one names */
    T_OUTSIDE,        /* one (t, k) names a row of another expert */
    T_STRAY,          /* a row past the experts' rows written */
    T_DROP,           /* a taken row left unwritten */
    T_SIGN_OF_ZERO,   /* bf16: a +0 of a copied row stored as -0 (equal values, other bits) */
} tamper;

typedef struct {
    const int32_t *ids;
    int32_t *counts, *s2d;
    int64_t n, K, E, H, G;
    size_t esz;
    char *buf;
    float *sc;
} view;

static view view_of(const ud_tensor *in, ud_tensor *out)
{
    view v = {in[1].host, out[OUT_COUNTS].host, out[OUT_S2D].host, out[OUT_BUF].shape[0], out[OUT_S2D].shape[1],
              out[OUT_COUNTS].shape[0], out[OUT_BUF].shape[1], out[OUT_SCALE].shape[1],
              ud_format(out[OUT_BUF].dtype)->size, out[OUT_BUF].host, out[OUT_SCALE].host};
    return v;
}

static char *row(const view *v, int64_t r) { return v->buf + (size_t)(r * v->H) * v->esz; }

static void move_row(const view *v, const char *old_buf, const float *old_sc, int64_t from, int64_t to)
{
    memcpy(row(v, to), old_buf + (size_t)(from * v->H) * v->esz, (size_t)v->H * v->esz);
    memcpy(v->sc + to * v->G, old_sc + from * v->G, (size_t)v->G * sizeof(float));
}

/* Two taken (t, k) of one expert from different tokens: *a, *b (flat indices). */
static int pair_in_one_expert(const view *v, int64_t *a, int64_t *b)
{
    for (int64_t i = 0; i < v->n; i++)
        for (int64_t j = i + 1; j < v->n; j++)
            if (v->s2d[i] >= 0 && v->ids[i] == v->ids[j] && v->s2d[j] >= 0 && i / v->K != j / v->K) {
                *a = i;
                *b = j;
                return 1;
            }
    return 0;
}

static int tampered(const ud_impl *im, const ud_case *c, ud_tensor *in, ud_tensor *out, int device)
{
    (void)device;
    UD_TRY(c->op->run_cpu(c, 0, in, out));
    view v = view_of(in, out);
    int64_t live = 0, a = -1, b = -1;
    for (int64_t e = 0; e < v.E; e++) live += v.counts[e];
    switch (*(const tamper *)im->user) {
    case T_REVERSE: {
        size_t bytes = (size_t)(v.n * v.H) * v.esz;
        char *old = malloc(bytes + 1);
        float *olds = malloc((size_t)(v.n * v.G) * sizeof(float) + 1);
        int64_t *first = calloc((size_t)v.E + 1, sizeof *first);
        cr_assert(old && olds && first);
        memcpy(old, v.buf, bytes);
        memcpy(olds, v.sc, (size_t)(v.n * v.G) * sizeof(float));
        for (int64_t e = 0; e < v.E; e++) first[e + 1] = first[e] + v.counts[e];
        for (int64_t i = 0; i < v.n; i++) {
            if (v.s2d[i] < 0) continue;
            int64_t e = v.ids[i], to = first[e] + first[e + 1] - 1 - v.s2d[i];
            move_row(&v, old, olds, v.s2d[i], to);
            v.s2d[i] = (int32_t)to;
        }
        free(old);
        free(olds);
        free(first);
        break;
    }
    case T_SWAP_CONTENT: {
        cr_assert(pair_in_one_expert(&v, &a, &b));
        char *tmp = malloc((size_t)v.H * v.esz);
        cr_assert_not_null(tmp);
        memcpy(tmp, row(&v, v.s2d[a]), (size_t)v.H * v.esz);
        memcpy(row(&v, v.s2d[a]), row(&v, v.s2d[b]), (size_t)v.H * v.esz);
        memcpy(row(&v, v.s2d[b]), tmp, (size_t)v.H * v.esz);
        free(tmp);
        break;
    }
    case T_TWICE:
        cr_assert(pair_in_one_expert(&v, &a, &b));
        v.s2d[b] = v.s2d[a];
        break;
    case T_OUTSIDE:
        for (int64_t i = 0; i < v.n; i++)
            if (v.s2d[i] >= 0 && v.ids[i] != v.ids[0]) a = i;
        cr_assert(a >= 0 && v.s2d[0] >= 0);
        v.s2d[a] = v.s2d[0];   /* expert ids[0]'s row */
        break;
    case T_STRAY:
        cr_assert(live > 0 && live < v.n);
        memcpy(row(&v, live), row(&v, 0), (size_t)v.H * v.esz);
        break;
    case T_DROP:
        cr_assert(live > 0);
        memset(row(&v, live / 2), 0xff, (size_t)v.H * v.esz);
        if (v.esz == 2)
            for (int64_t h = 0; h < v.H; h++) ((uint16_t *)row(&v, live / 2))[h] = (uint16_t)ud_poison_bits(UD_BF16);
        break;
    case T_SIGN_OF_ZERO:
        for (int64_t r = 0; r < live && a < 0; r++)
            for (int64_t h = 0; h < v.H; h++)
                if ((((uint16_t *)row(&v, r))[h] & 0x7fff) == 0) { a = r * v.H + h; break; }
        cr_assert(a >= 0, "no zero in a taken row: the test tests nothing");
        ((uint16_t *)v.buf)[a] ^= 0x8000;
        break;
    }
    return UD_OK;
}

/* Runs case(kv) through the tampering source; returns the result (caller frees). */
static ud_result *judge(tamper how, const char *weights, const char *values)
{
    const char *const kv[][2] = {
        {"tokens", "7"}, {"hidden", "130"}, {"topk", "8"}, {"experts", "8"}, {"ids", "padded"},
        {"weights", weights}, {"values", values}, {"scale_fmt", "fp32"},
    };
    size_t n;
    ud_case *cases = ud_test_expand("moe_dispatch", 0, (ud_kv *)kv, 8, 1, &n);
    cr_assert_eq(n, 1);
    ud_impl impl = {NULL, tampered, 0, &how};
    ud_run_opts o = {.backend = UD_BACKEND_CPU, .impl = &impl};
    ud_result *r = malloc(sizeof *r);
    cr_assert_not_null(r);
    cr_assert_eq(ud_run_case(&cases[0], &o, r), UD_OK);
    free(cases);
    return r;
}

static int has(const ud_result *r, const char *kind, const char *text)
{
    for (int f = 0; f < r->nfindings; f++)
        if (strcmp(ud_finding_names[r->findings[f].kind], kind) == 0 && strstr(r->findings[f].msg, text)) return 1;
    return 0;
}

static void dump(const ud_result *r)
{
    for (int f = 0; f < r->nfindings; f++) cr_log_info("%s: %s", ud_finding_names[r->findings[f].kind], r->findings[f].msg);
}

Test(moe_dispatch_judge, any_order_within_an_expert_passes)
{
    const char *w[] = {"bf16", "fp8"};
    for (int k = 0; k < 2; k++) {
        ud_result *r = judge(T_REVERSE, w[k], "normal");
        dump(r);
        cr_assert_eq(r->nfindings, 0, "%s weights: rows in reverse order within each expert must pass", w[k]);
        cr_assert_gt(r->out[OUT_BUF].n, 0);
        free(r);
    }
}

Test(moe_dispatch_judge, rows_not_where_src2dst_says_are_caught)
{
    const char *w[] = {"bf16", "fp8"};
    for (int k = 0; k < 2; k++) {
        ud_result *r = judge(T_SWAP_CONTENT, w[k], "normal");
        dump(r);
        cr_assert(has(r, "tolerance", "gateup_input: "), "%s", w[k]);
        cr_assert_gt(r->out[OUT_BUF].n_over, 130, "two rows of 130 differ (a few e4m3 values may coincide)");
        free(r);
    }
}

Test(moe_dispatch_judge, a_row_named_twice_or_outside_its_expert_is_caught)
{
    ud_result *r = judge(T_TWICE, "bf16", "normal");
    dump(r);
    cr_assert(has(r, "tolerance", "name a row another one already names"));
    cr_assert(has(r, "tolerance", "rows that no taken (token, k) owns were written"), "the orphaned row");
    cr_assert(has(r, "unwritten-output", "gateup_input"), "the second (t, k) has no row");
    free(r);
    r = judge(T_OUTSIDE, "fp8", "normal");
    dump(r);
    cr_assert(has(r, "tolerance", "outside their expert's rows"));
    cr_assert(has(r, "nan-mismatch", "gateup_input"), "that (t, k)'s row is missing (e4m3: the poison is a NaN)");
    free(r);
}

Test(moe_dispatch_judge, stray_and_missing_rows_are_caught)
{
    ud_result *r = judge(T_STRAY, "bf16", "normal");
    dump(r);
    cr_assert(has(r, "tolerance", "past the last expert's rows"));
    free(r);
    r = judge(T_DROP, "bf16", "normal");
    dump(r);
    cr_assert(has(r, "unwritten-output", "gateup_input"));
    free(r);
    r = judge(T_DROP, "fp8", "normal");
    dump(r);
    cr_assert(has(r, "nan-mismatch", "gateup_input"));
    free(r);
}

Test(moe_dispatch_judge, bf16_rows_must_be_bit_for_bit_copies)
{
    ud_result *r = judge(T_SIGN_OF_ZERO, "bf16", "zero_rows");
    dump(r);
    cr_assert_eq(r->out[OUT_BUF].n_over, 0, "+0 and -0 compare equal as values");
    cr_assert(has(r, "tolerance", "not bit-for-bit copies"));
    free(r);
}

/* ------------------------------------------------------------------ round trip */

enum { RT_T = 33, RT_K = 8, RT_E = 64, RT_H = 1000, RT_G = 128, RT_GROUPS = (RT_H + RT_G - 1) / RT_G };

/* Dispatch, an identity expert (down = what it was given; fp8: dequantised, q * scale rounded
 * to bf16), then post_reorder_sum with the dispatch's src2dst: each token's output is the
 * weighted sum of its own (dequantised) row over its taken slots, in the combine's order
 * (acc = fmaf(w, row, acc) over ascending k, then RN_bf16), bit for bit. The fp8 rows must be
 * fp8_quant_per_token's for the same token, bit for bit. */
static void round_trip(ud_ids_kind kind, int weights)
{
    const int64_t n = RT_T * RT_K;
    uint16_t *x = malloc(RT_T * RT_H * sizeof *x), *down = malloc((size_t)n * RT_H * sizeof *down);
    uint16_t *out = malloc(RT_T * RT_H * sizeof *out), *rowv = malloc(RT_T * RT_H * sizeof *rowv);
    uint8_t *buf = malloc((size_t)n * RT_H), *q = malloc(RT_T * RT_H);
    float *sc = malloc((size_t)n * RT_GROUPS * sizeof *sc), *qs = malloc(RT_T * RT_GROUPS * sizeof *qs);
    float *w = malloc((size_t)n * sizeof *w);
    int32_t *ids = malloc((size_t)n * sizeof *ids), *s2d = malloc((size_t)n * sizeof *s2d), counts[RT_E];
    cr_assert(x && down && out && rowv && buf && q && sc && qs && w && ids && s2d);
    for (int64_t i = 0; i < RT_T * RT_H; i++) x[i] = ud_f32_to_bf16((float)ud_gen_normal(3, 1, (uint64_t)i));
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.05 + ud_rng_unit(3, 2, (uint64_t)i));
    ud_ids_fill(ids, RT_T, RT_K, RT_E, kind, 3, 3);
    for (int64_t i = 0; i < n * RT_H; i++) down[i] = (uint16_t)ud_poison_bits(UD_BF16);   /* rows no expert computes */
    void *gbuf = weights == MD_W_FP8 ? (void *)buf : (void *)down;
    md_args a = {UD_DT_BF16, weights, FQ_FMT_FP32, RT_T, RT_H, RT_K, RT_E, RT_G, 0x1p-17f, x, ids, gbuf, sc, counts, s2d};
    cr_assert_eq(moe_dispatch_cpu(&a, MD_BUG_NONE), UD_OK);
    /* What the expert sees of each token's row. */
    if (weights == MD_W_FP8) {
        fq_args f = {UD_DT_BF16, FQ_FMT_FP32, RT_T, RT_H, RT_G, 0x1p-17f, 0.0f, x, q, qs};
        cr_assert_eq(fp8_quant_per_token_cpu(&f, FQ_BUG_NONE), UD_OK);
        for (int64_t i = 0; i < n; i++) {
            if (s2d[i] < 0) continue;
            int64_t t = i / RT_K;
            cr_assert_eq(memcmp(buf + (int64_t)s2d[i] * RT_H, q + t * RT_H, RT_H), 0, "q of token %lld", (long long)t);
            cr_assert_eq(memcmp(sc + (int64_t)s2d[i] * RT_GROUPS, qs + t * RT_GROUPS, RT_GROUPS * sizeof(float)), 0);
            for (int64_t h = 0; h < RT_H; h++)   /* the identity expert, fp8 in, bf16 out */
                down[(int64_t)s2d[i] * RT_H + h] =
                    ud_f32_to_bf16(ud_e4m3_to_f32(buf[(int64_t)s2d[i] * RT_H + h]) * sc[(int64_t)s2d[i] * RT_GROUPS + h / RT_G]);
        }
        for (int64_t i = 0; i < RT_T * RT_H; i++) rowv[i] = ud_f32_to_bf16(ud_e4m3_to_f32(q[i]) * qs[i / RT_H * RT_GROUPS + i % RT_H / RT_G]);
    } else {
        memcpy(rowv, x, RT_T * RT_H * sizeof *x);
    }
    prs_args p = {UD_DT_BF16, RT_T, RT_K, RT_H, RT_E, down, ids, w, s2d, out};
    cr_assert_eq(post_reorder_sum_cpu(&p, PRS_BUG_NONE), UD_OK);
    size_t terms = 0;
    for (int64_t t = 0; t < RT_T; t++)
        for (int64_t h = 0; h < RT_H; h++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < RT_K; k++) {
                int32_t id = ids[t * RT_K + k];
                if (id < 0 || id >= RT_E) continue;
                acc = fmaf(w[t * RT_K + k], ud_bf16_to_f32(rowv[t * RT_H + h]), acc);
                terms += h == 0;
            }
            cr_assert_eq(out[t * RT_H + h], ud_f32_to_bf16(acc), "token %lld, column %lld: %a, want %a", (long long)t,
                         (long long)h, ud_bf16_to_f32(out[t * RT_H + h]), ud_bf16_to_f32(ud_f32_to_bf16(acc)));
        }
    cr_assert_gt(terms, 0);
    free(x); free(down); free(out); free(rowv); free(buf); free(q); free(sc); free(qs); free(w); free(ids); free(s2d);
}

Test(moe_dispatch_round_trip, identity_expert_then_combine_gives_the_weighted_rows)
{
    const ud_ids_kind kinds[] = {UD_IDS_UNIFORM, UD_IDS_WITH_ZERO, UD_IDS_PADDED, UD_IDS_ALL_PADDED, UD_IDS_OUT_OF_RANGE};
    for (int k = 0; k < 5; k++) {
        round_trip(kinds[k], MD_W_BF16);
        round_trip(kinds[k], MD_W_FP8);
    }
}

/* ------------------------------------------------------------------ variants */

static int mutant(const char *name)
{
    const ud_op *op;
    int m;
    cr_assert_eq(ud_mutant_find(name, &op, &m), 0, "%s", name);
    return m;
}

Test(moe_dispatch_mutants, the_weight_dtype_paths_are_caught_on_every_case_with_a_taken_slot)
{
    static const char *const bf[][2] = {{"tokens", "3"}, {"hidden", "130, 1000"}, {"weights", "bf16"},
                                         {"ids", "uniform, padded"}};
    size_t n, hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.fp8_on_bf16_weights"), bf, 4, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
    static const char *const f8[][2] = {{"tokens", "3"}, {"hidden", "1, 130, 1000"}, {"weights", "fp8"},
                                         {"ids", "uniform, padded"}};
    hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.bf16_on_fp8_weights"), f8, 4, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}

Test(moe_dispatch_mutants, id_handling_variants_are_caught_by_their_generators)
{
    static const char *const z[][2] = {{"ids", "with_zero, all_zero"}, {"tokens", "1, 7"}};
    size_t n, hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.skip_expert0"), z, 2, "tolerance", &n);
    cr_assert_eq(hits, n, "expert 0 in every token: %zu/%zu", hits, n);
    static const char *const p[][2] = {{"ids", "padded, all_padded, out_of_range"}, {"tokens", "7"}, {"topk", "2, 8"}};
    hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.minus_one_counted"), p, 3, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
    /* topk 1 too: then token 0's only slot is out of range, scattered past the experts' rows. */
    static const char *const o[][2] = {{"ids", "out_of_range"}, {"tokens", "1, 7"}, {"topk", "1, 8"}};
    hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.sign_check_only"), o, 3, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}

Test(moe_dispatch_mutants, scale_wrong_row_needs_two_tokens_and_two_groups)
{
    static const char *const s[][2] = {{"weights", "fp8"}, {"tokens", "2, 9"}, {"hidden", "256, 1000"},
                                        {"group", "32, 128"}, {"scale_fmt", "fp32"}, {"ids", "uniform"}};
    size_t n, hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.scale_wrong_row"), s, 6, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
    /* One token, or one group per row: the flat offset t + g is the right scale. */
    static const char *const one[][2] = {{"weights", "fp8"}, {"tokens", "1"}, {"hidden", "1000"}, {"group", "128"}};
    hits = ud_test_run("moe_dispatch", mutant("moe_dispatch.scale_wrong_row"), one, 4, "tolerance", &n);
    cr_assert_eq(hits, 0, "%zu/%zu", hits, n);
}
