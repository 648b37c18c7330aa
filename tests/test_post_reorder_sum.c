/* test_post_reorder_sum.c — the MoE combine: expert-ID generators and src2dst, the reference's
 * fast path against MPFR, the production kernel (cpu backend, the body the CUDA kernel runs)
 * within budget on every ids generator and shape edge, its fixed accumulation order, exact
 * zeros for tokens with no local expert, and the known-bug variants caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/post_reorder_sum.h"
#include "spec/post_reorder_sum.h"
#include "numerics/status.h"
#include "harness/core/expert_ids.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"
#include "tests/ud_test.h"

/* ------------------------------------------------------------------ expert ids */

Test(expert_ids, uniform_ids_are_distinct_experts_in_range)
{
    enum { T = 64, K = 8, E = 9 };
    int32_t ids[T * K];
    ud_ids_fill(ids, T, K, E, UD_IDS_UNIFORM, 5, 1);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
            cr_assert(ids[t * K + k] >= 0 && ids[t * K + k] < E);
            for (int j = 0; j < k; j++) cr_assert_neq(ids[t * K + j], ids[t * K + k], "token %d repeats an expert", t);
        }
}

Test(expert_ids, with_zero_and_largest_put_the_expert_at_every_slot_position)
{
    enum { T = 24, K = 8, E = 64 };
    int32_t ids[T * K];
    const ud_ids_kind kinds[] = {UD_IDS_WITH_ZERO, UD_IDS_LARGEST};
    for (int i = 0; i < 2; i++) {
        int32_t want = kinds[i] == UD_IDS_WITH_ZERO ? 0 : E - 1;
        ud_ids_fill(ids, T, K, E, kinds[i], 3, 1);
        int seen[K] = {0};
        for (int t = 0; t < T; t++) {
            int count = 0;
            for (int k = 0; k < K; k++)
                if (ids[t * K + k] == want) { seen[k] = 1; count++; }
            cr_assert_eq(count, 1, "token %d holds expert %d %d times", t, want, count);
        }
        for (int k = 0; k < K; k++) cr_assert(seen[k], "expert %d never at slot %d", want, k);
    }
}

Test(expert_ids, padded_kinds_have_minus_one_and_all_padded_has_empty_tokens)
{
    enum { T = 32, K = 4, E = 16 };
    int32_t ids[T * K];
    ud_ids_fill(ids, T, K, E, UD_IDS_PADDED, 9, 1);
    int pads = 0;
    for (int i = 0; i < T * K; i++) pads += ids[i] == -1;
    cr_assert(pads > 0 && pads < T * K);
    ud_ids_fill(ids, T, K, E, UD_IDS_ALL_PADDED, 9, 1);
    int empty = 0;
    for (int t = 0; t < T; t++) {
        int all = 1;
        for (int k = 0; k < K; k++) all &= ids[t * K + k] == -1;
        empty += all;
        if (t == 0) cr_assert(all, "token 0 must have no local expert");
    }
    cr_assert(empty > 1 && empty < T);
}

Test(expert_ids, src2dst_is_a_stable_sort_by_expert_id)
{
    enum { N = 200, E = 7 };
    int32_t ids[N], dst[N], inv[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 37 + i / 3) % (E + 1)) - 1;   /* -1 .. 6 */
    cr_assert_eq(ud_ids_src2dst(ids, N, E, dst), 0);
    for (int i = 0; i < N; i++) inv[i] = -1;
    for (int i = 0; i < N; i++) {
        cr_assert(dst[i] >= 0 && dst[i] < N);
        cr_assert_eq(inv[dst[i]], -1, "row %d assigned twice", dst[i]);
        inv[dst[i]] = i;
    }
    for (int r = 1; r < N; r++) {
        int a = inv[r - 1], b = inv[r];
        cr_assert(ids[a] < ids[b] || (ids[a] == ids[b] && a < b), "rows %d, %d out of order", r - 1, r);
    }
}

/* Ids outside [-1, experts) have rows too, where the dispatch's stable sort of the whole tensor
 * puts them: those below -1 before the -1 slots, those >= experts after the last expert. */
Test(expert_ids, src2dst_places_out_of_range_ids_around_the_experts)
{
    enum { N = 12, E = 3 };
    const int32_t ids[N] = {2, 3, -1, 0, INT32_MIN, 7, -2, 1, 3, -1, INT32_MAX, 0};
    /* sorted: INT32_MIN(4) -2(6) | -1(2) -1(9) 0(3) 0(11) 1(7) 2(0) | 3(1) 3(8) 7(5) INT32_MAX(10) */
    const int32_t want[N] = {7, 8, 2, 4, 0, 10, 1, 6, 9, 3, 11, 5};
    int32_t dst[N];
    cr_assert_eq(ud_ids_src2dst(ids, N, E, dst), 0);
    for (int i = 0; i < N; i++) cr_assert_eq(dst[i], want[i], "slot %d (id %d): row %d, want %d", i, ids[i], dst[i], want[i]);
}

Test(expert_ids, out_of_range_puts_one_bad_id_at_every_slot_position)
{
    enum { T = 48, K = 4, E = 16 };
    int32_t ids[T * K];
    ud_ids_fill(ids, T, K, E, UD_IDS_OUT_OF_RANGE, 4, 1);
    int seen[K] = {0}, above = 0, below = 0, pads = 0;
    for (int t = 0; t < T; t++) {
        int bad = 0;
        for (int k = 0; k < K; k++) {
            int32_t id = ids[t * K + k];
            pads += id == -1;
            if (id >= -1 && id < E) continue;
            bad++;
            seen[k] = 1;
            above += id >= E;
            below += id < -1;
        }
        cr_assert_eq(bad, 1, "token %d: %d ids out of range", t, bad);
    }
    for (int k = 0; k < K; k++) cr_assert(seen[k], "no out-of-range id at slot %d", k);
    cr_assert(above > 0 && below > 0 && pads > 0);
}

/* ------------------------------------------------------------------ reference */

/* Fast path vs MPFR: every element within 0.001 fp32 ulp (fp32 is the finest output dtype). */
static void check_paths_agree(const ref_prs_args *a)
{
    size_t n = (size_t)(a->tokens * a->hidden);
    ud_ref f, m;
    cr_assert_eq(ud_ref_alloc(&f, n), UD_OK);
    cr_assert_eq(ud_ref_alloc(&m, n), UD_OK);
    cr_assert_eq(ref_post_reorder_sum(a, &f, 0), UD_OK);
    cr_assert_eq(ref_post_reorder_sum(a, &m, 1), UD_OK);
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        nonzero += m.r0[i] != 0.0;
        double e = fabs(f.r0[i] - m.r0[i]) / ud_ulp(UD_F32, m.r0[i]);
        cr_assert(e < 1e-3, "element %zu: fast %a mpfr %a (%g fp32 ulp)", i, f.r0[i], m.r0[i], e);
        cr_assert_eq(f.s[i], m.s[i]);
    }
    cr_assert_gt(nonzero, 0);
    ud_ref_free(&f);
    ud_ref_free(&m);
}

Test(post_reorder_reference, fast_path_agrees_with_mpfr_on_random_data)
{
    const ud_op *op = ud_op_find("post_reorder_sum");
    const char *values[] = {"normal", "rowscale", "subnormal", "cancel", "logu"};
    for (int v = 0; v < 5; v++) {
        ud_spec s;
        ud_spec_init(&s, op);
        s.vals[ud_param_index(op, "values")] = values[v];
        s.vals[ud_param_index(op, "ids")] = "uniform, padded";
        s.vals[ud_param_index(op, "hidden")] = "33";
        ud_case *cases = NULL;
        size_t n = 0;
        char err[512];
        cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
        for (size_t k = 0; k < n; k++) {
            ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
            memset(in, 0, sizeof in);
            memset(out, 0, sizeof out);
            cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
            cr_assert_eq(op->generate(&cases[k], in), UD_OK);
            ref_prs_args a = {(ud_dtype)in[0].dtype, cases[k].p[ud_param_index(op, "tokens")].i,
                              cases[k].p[ud_param_index(op, "topk")].i, 33,
                              cases[k].p[ud_param_index(op, "experts")].i, in[0].host, in[1].host,
                              in[3].host, in[2].host};
            if (a.tokens) check_paths_agree(&a);
            for (int t = 0; t < UD_MAX_TENSORS; t++) { ud_tensor_free(&in[t]); ud_tensor_free(&out[t]); }
        }
        free(cases);
    }
}

/* Cancellation built on purpose, in the order that defeats plain double summation: a small
 * term first (2^-30 .. 2^-58 of the others), then a product and its near-negation (they cancel
 * to within one rounding of T, about 2^-25 of themselves in fp32), and in some elements a
 * fourth term that cancels the first exactly; so the sums run from exact 0 through tiny
 * fractions of s. A double accumulator loses the small term's low bits to the big partial sum
 * (error ~2^-53 s, i.e. ~0.06 fp32 ulp of a result ~2^-25 s); the double-double path and MPFR
 * must agree to 0.001 ulp. */
Test(post_reorder_reference, fast_path_agrees_with_mpfr_under_cancellation)
{
    enum { T = 16, K = 4, H = 64 };
    const ud_dtype dts[] = {UD_F32, UD_BF16};
    for (int di = 0; di < 2; di++) {
        ud_dtype dt = dts[di];
        int32_t ids[T * K], s2d[T * K];
        float w[T * K];
        void *down = malloc(4 * (size_t)T * K * H);
        cr_assert_not_null(down);
        for (int i = 0; i < T * K; i++) { ids[i] = i % K; s2d[i] = i; }
        for (int t = 0; t < T; t++) {
            const float *wt = w + t * K;
            for (int k = 0; k < K; k++) w[t * K + k] = (float)(0.1 + 0.8 * ud_rng_unit(7, 1, (uint64_t)(t * K + k)));
            for (int h = 0; h < H; h++) {
                double d1 = ud_round(dt, ud_gen_normal(7, 2, (uint64_t)(t * H + h)));
                double d2 = ud_round(dt, -(double)wt[1] * d1 / wt[2]);
                double d0 = ud_round(dt, ldexp(ud_gen_normal(7, 3, (uint64_t)(t * H + h)), -30 - (h % 8) * 4));
                double d3 = (h % 3 == 0) ? ud_round(dt, -(double)wt[0] * d0 / wt[3]) : 0.0;
                double dd[K] = {d0, d1, d2, d3};
                for (int k = 0; k < K; k++) ud_set(dt, down, (size_t)((t * K + k) * H + h), dd[k]);
            }
        }
        ref_prs_args a = {dt, T, K, H, K, down, ids, s2d, w};
        check_paths_agree(&a);
        free(down);
    }
}

/* ------------------------------------------------------------------ kernel */

Test(post_reorder_kernel, production_passes_every_ids_generator_and_shape_edge)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 5"}, {"hidden", "1, 7, 8, 9, 127, 1000"},
        {"topk", "1, 2, 8"}, {"experts", "8, 64"},
        {"ids", "uniform, with_zero, all_zero, padded, largest, all_padded, out_of_range"},
        {"values", "normal, subnormal, cancel"},
    };
    size_t n;
    ud_test_run("post_reorder_sum", 0, kv, 7, NULL, &n);
    cr_assert_gt(n, 1000);
}

/* The body's order is the documented one: acc = +0, then fmaf(w, d, acc) over the taken
 * slots in ascending k (what the CUDA kernel does per element, so the backends agree). */
Test(post_reorder_kernel, accumulates_in_ascending_k_with_fma_bit_for_bit)
{
    enum { T = 6, K = 8, H = 37, E = 16 };
    int32_t ids[T * K], s2d[T * K];
    float w[T * K], down[T * K * H], out[T * H];
    ud_ids_fill(ids, T, K, E, UD_IDS_PADDED, 2, 1);
    cr_assert_eq(ud_ids_src2dst(ids, T * K, E, s2d), 0);
    for (int i = 0; i < T * K; i++) w[i] = (float)(0.01 + ud_rng_unit(2, 2, (uint64_t)i));
    for (int i = 0; i < T * K * H; i++) down[i] = (float)ldexp(ud_gen_normal(2, 3, (uint64_t)i), (i % 7) * 9 - 30);
    prs_args a = {UD_DT_F32, T, K, H, E, down, ids, w, s2d, out};
    cr_assert_eq(post_reorder_sum_cpu(&a, PRS_BUG_NONE), UD_OK);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                if (ids[t * K + k] >= 0) acc = fmaf(w[t * K + k], down[s2d[t * K + k] * H + h], acc);
            cr_assert_eq(ud_f32_bits(out[t * H + h]), ud_f32_bits(acc), "[%d, %d]: %a vs %a", t, h, out[t * H + h], acc);
        }
}

Test(post_reorder_kernel, tokens_without_a_local_expert_are_exactly_zero_and_padded_rows_unread)
{
    const ud_op *op = ud_op_find("post_reorder_sum");
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "ids")] = "all_padded";
    s.vals[ud_param_index(op, "tokens")] = "9";
    s.vals[ud_param_index(op, "hidden")] = "40";
    ud_case *cases = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    for (size_t c = 0; c < n; c++) {
        ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        cr_assert_eq(ud_case_make_tensors(&cases[c], in, out), UD_OK);
        cr_assert_eq(op->generate(&cases[c], in), UD_OK);
        ud_tensor_poison(&out[0]);
        cr_assert_eq(op->run_cpu(&cases[c], 0, in, out), UD_OK);
        int64_t topk = cases[c].p[ud_param_index(op, "topk")].i;
        const int32_t *ids = in[1].host;
        size_t empty = 0, nonzero = 0;
        for (int t = 0; t < 9; t++) {
            int all = 1;
            for (int64_t k = 0; k < topk; k++) all &= ids[t * topk + k] == -1;
            for (int h = 0; h < 40; h++) {
                double y = ud_get(out[0].dtype, out[0].host, (size_t)(t * 40 + h));
                cr_assert(!isnan(y), "%s: [%d, %d] is NaN: a padded row was read", cases[c].label, t, h);
                if (all) cr_assert(y == 0.0, "%s: [%d, %d] = %a, not 0", cases[c].label, t, h, y);
                nonzero += y != 0.0;
            }
            empty += all;
        }
        cr_assert_gt(empty, 0);
        cr_assert_gt(nonzero, 0, "the other tokens must have data");
        for (int t = 0; t < UD_MAX_TENSORS; t++) { ud_tensor_free(&in[t]); ud_tensor_free(&out[t]); }
    }
    free(cases);
}

Test(post_reorder_mutants, skip_expert0_is_caught_by_ids_with_zero)
{
    static const char *const kv[][2] = {{"dtype", "bf16, fp32"}, {"ids", "with_zero, all_zero"}, {"topk", "1, 8"}};
    size_t n, hits = ud_test_run("post_reorder_sum", 1, kv, 3, "tolerance", &n);
    cr_assert_eq(hits, n, "expert 0 is in every token here: every case must catch it (%zu/%zu)", hits, n);
}

Test(post_reorder_mutants, acc_input_dtype_is_caught_in_bf16_and_fp16)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16"}, {"topk", "8"}, {"hidden", "1000"}, {"ids", "uniform, with_zero, largest, padded"},
    };
    size_t n, hits = ud_test_run("post_reorder_sum", 2, kv, 4, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}

/* An out-of-range id is skipped like -1 by production (its row is NaN: never computed); a
 * kernel that tests only the sign reads it. topk 1 included: then every token's only slot is
 * out of range and its output must be exactly 0. */
Test(post_reorder_mutants, sign_check_only_is_caught_by_out_of_range_ids)
{
    static const char *const kv[][2] = {{"dtype", "bf16, fp32"}, {"ids", "out_of_range"}, {"topk", "1, 8"},
                                        {"tokens", "7"}};
    size_t n, hits = ud_test_run("post_reorder_sum", 3, kv, 4, "nan-mismatch", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}

/* -1 taken as the last local expert: the slot's row is a real expert output (the variant's
 * dispatch computed it), so the sum is plausible and wrong. Every padded case has -1 slots. */
Test(post_reorder_mutants, minus_one_wraps_is_caught_by_padded_ids)
{
    static const char *const kv[][2] = {{"dtype", "bf16, fp32"}, {"ids", "padded, all_padded, out_of_range"},
                                        {"topk", "2, 8"}, {"tokens", "7"}};
    size_t n, hits = ud_test_run("post_reorder_sum", 4, kv, 4, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}
