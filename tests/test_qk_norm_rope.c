/* test_qk_norm_rope.c — the fused per-head QK RMSNorm + partial RoPE (docs/ops/qk_norm_rope.md).
 *
 * Under test: reference/qk_norm_rope.c (fast path against the MPFR path on generated heads, on
 * heads built to cancel in the rotation, and on heads where RN_T(n) has two candidates); the
 * production body on the cpu backend (edge shapes, both layouts of a warp — decode and the
 * multi-head prefill path —, rotary parts whose neox partner is not a power-of-two number of
 * lanes away, positions outside the table, the derived bound on the normalised value); each
 * known-bug variant caught where it must be and invisible where the engines' bug was. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/qk_norm_rope.h"
#include "spec/qk_norm_rope.h"
#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"
#include "tests/ud_test.h"

enum { IN_Q, IN_K, IN_QW, IN_KW, IN_POS, IN_TABLE };

static int mutant_index(const char *name)
{
    const ud_op *o = ud_op_find("qk_norm_rope");
    for (int k = 0; k < o->nmutants; k++)
        if (strcmp(o->mutants[k].name, name) == 0) return k + 1;
    cr_assert_fail("qk_norm_rope.%s", name);
    return 0;
}

/* ---------------------------------------------------------------- reference */

/* Fast path vs MPFR on one case's inputs: the same candidate sets (r0 == r1 on both or on
 * neither), values within 2^-44 s (s in units of u_w: the fast path's libm cos/sin and
 * double normaliser are within 2^-50 relative of the terms, and s is at least
 * ROPE_BOUND_U = 3.25 times their sum: 2^-20 of the budget's allowance covers it) plus
 * 1e-3 ulp, and the same scales to 1e-6. Returns how many elements had two candidates. */
static size_t check_paths_agree(const ud_case *c, ud_bufs *b)
{
    size_t pairs = 0;
    ud_ref f[2], m[2];
    for (int o = 0; o < 2; o++) {
        cr_assert_eq(ud_ref_alloc(&f[o], b->out[o].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&m[o], b->out[o].numel), UD_OK);
    }
    cr_assert_eq(c->op->reference(c, b->in, f, 0), UD_OK, "%s", c->label);
    cr_assert_eq(c->op->reference(c, b->in, m, 1), UD_OK, "%s", c->label);
    ud_dtype dt = b->out[0].dtype;
    for (int o = 0; o < 2; o++)
        for (size_t i = 0; i < b->out[o].numel; i++) {
            double a[2] = {f[o].r0[i], f[o].r1[i]}, e[2] = {m[o].r0[i], m[o].r1[i]};
            cr_assert_eq(a[0] != a[1] && !isnan(a[0]), e[0] != e[1] && !isnan(e[0]), "%s %s[%zu]: candidate sets differ: "
                         "fast {%a, %a} mpfr {%a, %a}", c->label, b->out[o].name, i, a[0], a[1], e[0], e[1]);
            pairs += e[0] != e[1] && !isnan(e[0]);
            double tol = 0x1p-44 * m[o].s[i] + 1e-3 * ud_ulp(dt, e[0]);
            for (int k = 0; k < 2; k++)
                cr_assert((isnan(a[k]) && isnan(e[k])) || a[k] == e[k] || fabs(a[k] - e[k]) <= tol,
                          "%s %s[%zu] candidate %d: fast %a mpfr %a (scale %g)", c->label, b->out[o].name, i, k, a[k],
                          e[k], m[o].s[i]);
            cr_assert(fabs(f[o].s[i] - m[o].s[i]) <= 1e-6 * m[o].s[i] + 1e-300, "%s %s[%zu]: scale %g vs %g", c->label,
                      b->out[o].name, i, f[o].s[i], m[o].s[i]);
        }
    for (int o = 0; o < 2; o++) { ud_ref_free(&f[o]); ud_ref_free(&m[o]); }
    return pairs;
}

Test(qkr_reference, fast_path_agrees_with_mpfr_on_generated_heads)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "3"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128"}, {"factor", "1, 0.25"}, {"style", "neox, gptj"}, {"spec", "hf, fused"},
                        {"table", "fp32, model"}, {"values", "normal, logu, nan_inf"}, {"max_position", "5000"}};
    size_t n, pairs = 0;
    ud_case *cases = ud_test_expand("qk_norm_rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        pairs += check_paths_agree(&cases[k], &b);
        ud_test_drop(&b);
    }
    cr_assert_gt(pairs, 0, "no element had two candidates: the rounding points are untested");
    free(cases);
}

/* Heads built to cancel: weights exactly 1 (so y is n, or RN_T(n), and the rotation of a pair
 * keeps the ratio of its inputs) and x2 = RN_T(x1 cos / sin) at the token's angle, so x1 cos -
 * x2 sin is a small fraction of its terms; and, for spec hf, heads whose n lies near a rounding
 * boundary of T (two candidates, chosen the same way by both paths). */
Test(qkr_reference, fast_path_agrees_with_mpfr_on_cancelling_pairs)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "4"}, {"q_heads", "1"}, {"kv_heads", "1"},
                        {"head_dim", "64"}, {"factor", "1, 0.5"}, {"style", "neox"}, {"spec", "hf, fused"},
                        {"table", "fp32, model"}, {"positions", "uniform"}, {"max_position", "65536"}};
    size_t n, pairs = 0;
    ud_case *cases = ud_test_expand("qk_norm_rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        const ud_case *c = &cases[k];
        int rd = (int)(64 * c->p[ud_param_index(c->op, "factor")].d), half = rd / 2;
        double base = c->p[ud_param_index(c->op, "base")].d;
        for (int w = IN_QW; w <= IN_KW; w++)
            for (size_t i = 0; i < 64; i++) ud_set(b.in[w].dtype, b.in[w].host, i, 1.0);
        const int32_t *pos = b.in[IN_POS].host;
        for (int o = 0; o < 2; o++) {
            ud_tensor *x = &b.in[o ? IN_K : IN_Q];
            for (int t = 0; t < 4; t++)
                for (int i = 0; i < half; i++) {
                    float inv[2];
                    ref_rope_inv_freq(base, rd, i, inv);
                    double th = (double)((float)pos[t] * inv[0]);
                    double x1 = ud_get(x->dtype, x->host, (size_t)(t * 64 + i));
                    if (fabs(sin(th)) > 1e-3)
                        ud_set(x->dtype, x->host, (size_t)(t * 64 + i + half), ud_round(x->dtype, x1 * cos(th) / sin(th)));
                }
        }
        pairs += check_paths_agree(c, &b);
        ud_test_drop(&b);
    }
    free(cases);
    (void)pairs;
}

/* ---------------------------------------------------------------- production */

Test(qkr_kernel, production_passes_edge_shapes)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 2, 17"}, {"q_heads", "1, 3"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128, 256"}, {"factor", "1, 0.5, 0.25"}, {"style", "neox, gptj"},
                        {"spec", "hf, fused"}, {"table", "fp32, model"}, {"max_position", "300"}};
    size_t n;
    ud_test_run("qk_norm_rope", 0, kv, 10, NULL, &n);
    cr_assert_eq(n, 1296);
}

/* rotary parts whose neox partner is 3, 5 or 12 chunks away (factor 0.75 of 64, 0.625 of 128,
 * 0.75 of 256 for bf16: not a power of two of lanes), and 16-wide ones. */
Test(qkr_kernel, production_passes_rotary_parts_of_any_multiple_of_16)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "3"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "128"}, {"factor", "0.125, 0.375, 0.625, 0.75, 0.875"}, {"style", "neox, gptj"},
                        {"spec", "hf, fused"}, {"max_position", "300"}};
    size_t n;
    ud_test_run("qk_norm_rope", 0, kv, 9, NULL, &n);
    static ud_kv kv2[] = {{"dtype", "bf16, fp32"}, {"tokens", "3"}, {"head_dim", "64, 256"}, {"factor", "0.75"},
                         {"style", "neox"}, {"max_position", "300"}};
    ud_test_run("qk_norm_rope", 0, kv2, 6, NULL, &n);
}

/* The prefill layout: 8192 units and more, 4 head groups a warp; every style, spec, table. */
Test(qkr_kernel, production_passes_the_multi_head_path)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "130"}, {"q_heads", "56"}, {"kv_heads", "8"},
                        {"head_dim", "64"}, {"factor", "1, 0.5, 0.25"}, {"style", "neox, gptj"}, {"spec", "hf, fused"},
                        {"table", "model"}, {"positions", "uniform"}, {"max_position", "4096"}};
    size_t n;
    ud_test_run("qk_norm_rope", 0, kv, 11, NULL, &n);
    cr_assert_eq(qkr_iters(130 * 64), QKR_ITERS);
    cr_assert_eq(qkr_iters(QKR_MULTI_MIN_UNITS - 1), 1);
}

/* A position outside [0, max_position) is an error naming it; every other token is written. */
Test(qkr_kernel, positions_outside_the_table_are_reported_and_never_read)
{
    static ud_kv kv[] = {{"dtype", "bf16"}, {"tokens", "7"}, {"q_heads", "2"}, {"kv_heads", "1"}, {"head_dim", "64"},
                        {"factor", "0.5"}, {"style", "neox"}, {"spec", "hf"}, {"table", "fp32"},
                        {"positions", "out_of_table"}, {"max_position", "100"}};
    size_t n;
    ud_case *c = ud_test_expand("qk_norm_rope", 0, kv, 11, 1, &n);
    cr_assert_eq(n, 1);
    ud_bufs b;
    ud_test_make(&c[0], &b);
    ud_tensor_poison(&b.out[0]);
    cr_assert_eq(c[0].op->run_cpu(&c[0], 0, b.in, b.out), UD_EUSAGE);
    const int32_t *pos = b.in[IN_POS].host;
    uint64_t poison = ud_poison_bits(b.out[0].dtype);
    for (int t = 0; t < 7; t++) {
        int bad = pos[t] < 0 || pos[t] >= 100;
        uint64_t bits = ud_get_bits(b.out[0].dtype, b.out[0].host, (size_t)(t * 2 * 64));
        cr_assert_eq(bits == poison, bad, "token %d (position %d)", t, pos[t]);
    }
    ud_test_drop(&b);
    free(c);
}

/* The derived bound on n (qkr_bound_u, docs/ops/qk_norm_rope.md) holds for the kernel's fp32 n:
 * fp32, spec fused, weights exactly 1, so a pass-through output is the kernel's n itself. */
Test(qkr_kernel, normalised_value_stays_within_the_derived_bound)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "64"}, {"q_heads", "4"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128, 256"}, {"factor", "0.25"}, {"spec", "fused"}, {"style", "neox"},
                        {"table", "fp32"}, {"values", "normal, logu, rowscale"}, {"max_position", "300"}};
    size_t n;
    ud_case *cases = ud_test_expand("qk_norm_rope", 0, kv, 11, 1, &n);
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        const ud_case *c = &cases[k];
        ud_bufs b;
        ud_test_make(c, &b);
        int64_t hd = c->p[ud_param_index(c->op, "head_dim")].i;
        for (int w = IN_QW; w <= IN_KW; w++)
            for (size_t i = 0; i < (size_t)hd; i++) ud_set(b.in[w].dtype, b.in[w].host, i, 1.0);
        cr_assert_eq(c->op->run_cpu(c, 0, b.in, b.out), UD_OK);
        ud_ref ref[2];
        for (int o = 0; o < 2; o++) cr_assert_eq(ud_ref_alloc(&ref[o], b.out[o].numel), UD_OK);
        cr_assert_eq(c->op->reference(c, b.in, ref, 1), UD_OK);
        double bound = qkr_bound_u(UD_DT_F32, hd) * 0x1p-24;
        for (int o = 0; o < 2; o++)
            for (size_t i = 0; i < b.out[o].numel; i++) {
                if ((int64_t)(i % (size_t)hd) < hd / 4) continue;   /* rotated */
                double y = ud_get(UD_F32, b.out[o].host, i), r = ref[o].r0[i];
                if (r == 0.0) continue;
                double e = fabs(y - r) / fabs(r);
                cr_assert_leq(e, bound, "%s %s[%zu]: n %a exact %a: %g u > %g u", c->label, b.out[o].name, i, y, r,
                              e / 0x1p-24, bound / 0x1p-24);
                worst = fmax(worst, e);
            }
        for (int o = 0; o < 2; o++) ud_ref_free(&ref[o]);
        ud_test_drop(&b);
    }
    cr_assert_gt(worst, 0.0, "the kernel's n is never inexact: the check is vacuous");
    free(cases);
}

/* ---------------------------------------------------------------- known-bug variants */

/* vLLM #51049: partial neox on the multi-head path. Caught there in every dtype, head size and
 * spec; invisible where the engine's bug was invisible: decode (one head group a warp), full
 * rotary, gptj (no exchange). */
Test(qkr_mutants, shuffle_in_divergent_branch_is_caught_on_partial_neox_prefill_only)
{
    int m = mutant_index("shuffle_in_divergent_branch");
    static ud_kv hit[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "130"}, {"q_heads", "56"}, {"kv_heads", "8"},
                         {"head_dim", "64, 128"}, {"factor", "0.5, 0.25"}, {"style", "neox"}, {"spec", "hf, fused"},
                         {"table", "model"}, {"positions", "uniform"}, {"max_position", "4096"}};
    size_t n, hits = ud_test_run("qk_norm_rope", m, hit, 11, "tolerance", &n);
    cr_assert_eq(hits, n, "caught in %zu of %zu cases", hits, n);
    static ud_kv miss[] = {{"dtype", "bf16"}, {"tokens", "130"}, {"q_heads", "56"}, {"kv_heads", "8"},
                          {"head_dim", "64"}, {"factor", "1, 0.5"}, {"style", "gptj"}, {"table", "model"},
                          {"positions", "uniform"}, {"max_position", "4096"}};
    hits = ud_test_run("qk_norm_rope", m, miss, 10, "tolerance", &n);
    cr_assert_eq(hits, 0, "gptj: %zu of %zu", hits, n);
    static ud_kv decode[] = {{"dtype", "bf16, fp32"}, {"tokens", "16"}, {"q_heads", "32"}, {"kv_heads", "8"},
                            {"head_dim", "64, 128"}, {"factor", "0.5"}, {"style", "neox"}, {"table", "model"},
                            {"max_position", "4096"}};
    hits = ud_test_run("qk_norm_rope", m, decode, 9, "tolerance", &n);
    cr_assert_eq(hits, 0, "decode: %zu of %zu", hits, n);
}

/* vLLM #43676: every dim rotated, cos/sin read past the table row; at the table's last position
 * past the table itself, into the NaN guard: a nan-mismatch, never a read outside the tensor. */
Test(qkr_mutants, rotary_dim_ignored_is_caught_for_partial_rotary_and_reads_the_guard)
{
    int m = mutant_index("rotary_dim_ignored");
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128, 256"}, {"factor", "0.5, 0.25"}, {"style", "neox, gptj"},
                        {"table", "fp32, model"}, {"max_position", "256"}};
    size_t n, hits = ud_test_run("qk_norm_rope", m, kv, 9, "nan-mismatch", &n);
    cr_assert_eq(hits, n, "caught in %zu of %zu cases", hits, n);
    static ud_kv full[] = {{"dtype", "bf16"}, {"tokens", "5"}, {"head_dim", "64, 128"}, {"factor", "1"},
                          {"max_position", "256"}};
    hits = ud_test_run("qk_norm_rope", m, full, 5, "nan-mismatch", &n);
    cr_assert_eq(hits, 0, "factor 1: the variant is production (%zu of %zu)", hits, n);
    /* the table tensor ends with ceil(head_dim / rotary_dim) rows of NaN */
    static ud_kv one[] = {{"dtype", "bf16"}, {"tokens", "1"}, {"head_dim", "128"}, {"factor", "0.25"},
                         {"style", "neox"}, {"spec", "hf"}, {"table", "fp32"}, {"max_position", "10"}};
    ud_case *c = ud_test_expand("qk_norm_rope", 0, one, 8, 1, &n);
    ud_bufs b;
    ud_test_make(&c[0], &b);
    cr_assert_eq(b.in[IN_TABLE].shape[0], 10 + 4);
    for (size_t i = 0; i < b.in[IN_TABLE].numel; i++)
        cr_assert_eq(isnan(ud_get(UD_F32, b.in[IN_TABLE].host, i)), i >= 10 * 32, "table element %zu", i);
    ud_test_drop(&b);
    free(c);
}

/* sglang #35744 class: positions dropped, each token rotated by its index. Caught at the edge
 * positions; invisible for a prefill from position 0 (positions = sequential, tokens <= the
 * table) — which is how such a bug ships. */
Test(qkr_mutants, positions_dropped_is_caught_except_for_a_prefill_from_zero)
{
    int m = mutant_index("positions_dropped");
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128"}, {"factor", "1, 0.5"}, {"style", "neox, gptj"}, {"max_position", "256"}};
    size_t n, hits = ud_test_run("qk_norm_rope", m, kv, 8, "tolerance", &n);
    cr_assert_eq(hits, n, "caught in %zu of %zu cases", hits, n);
    static ud_kv seq[] = {{"dtype", "bf16"}, {"tokens", "17"}, {"head_dim", "64"}, {"positions", "sequential"},
                         {"max_position", "256"}};
    hits = ud_test_run("qk_norm_rope", m, seq, 5, "tolerance", &n);
    cr_assert_eq(hits, 0, "prefill from 0: %zu of %zu", hits, n);
}
