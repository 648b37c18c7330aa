/* test_tp_allreduce.c — the simulated-rank all-reduce of the MoE block and its fused residual +
 * RMSNorm form: the reference's fast path against MPFR (cancellation, subnormals, a sum on a
 * rounding midpoint of T), each algorithm's order against a literal implementation bit for bit,
 * the fused form equal to rmsnorm_fused_add of the all-reduce result, every rank holding the same
 * bits, budgets that are sharp (a worst case of the ring and of the tree uses nearly all of its
 * tolerance, and fails the tighter one-shot budget), production passing edge shapes, and every
 * known-bug variant caught by its finding. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/rmsnorm.h"
#include "gpu/tp_allreduce.h"
#include "harness/core/gen.h"
#include "harness/core/measure.h"
#include "harness/core/ulp.h"
#include "numerics/status.h"
#include "spec/tp_allreduce.h"
#include "tests/ud_test.h"

static ud_case one_case(const char *op, ud_kv *kv, size_t nkv)
{
    size_t n;
    ud_case *cs = ud_test_expand(op, 0, kv, nkv, 1, &n);
    cr_assert_eq(n, 1, "%s: %zu cases", op, n);
    ud_case c = cs[0];
    free(cs);
    return c;
}

/* ------------------------------------------------------------------ reference */

static void paths_agree(const ud_case *c)
{
    ud_bufs b;
    ud_test_make(c, &b);
    int nout = ud_case_noutputs(c);
    ud_ref f[2], m[2];
    for (int k = 0; k < nout; k++) {
        cr_assert_eq(ud_ref_alloc(&f[k], b.out[k].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&m[k], b.out[k].numel), UD_OK);
    }
    cr_assert_eq(c->op->reference(c, b.in, f, 0), UD_OK);
    cr_assert_eq(c->op->reference(c, b.in, m, 1), UD_OK);
    size_t nonzero = 0;
    for (int k = 0; k < nout; k++)
        for (size_t i = 0; i < f[k].n; i++) {
            double e = fabs(f[k].r0[i] - m[k].r0[i]) / ud_ulp(UD_F32, m[k].r0[i]);
            double e1 = fabs(f[k].r1[i] - m[k].r1[i]) / ud_ulp(UD_F32, m[k].r1[i]);
            if (isnan(m[k].r0[i])) { cr_assert(isnan(f[k].r0[i])); continue; }
            nonzero += m[k].r0[i] != 0.0;
            cr_assert(e < 1e-3 && e1 < 1e-3, "%s: %s[%zu]: fast %a mpfr %a", c->label, b.out[k].name, i, f[k].r0[i], m[k].r0[i]);
            cr_assert(fabs(f[k].s[i] - m[k].s[i]) <= 1e-12 * m[k].s[i], "%s: scale %zu", c->label, i);
        }
    cr_assert_gt(nonzero, 0, "%s", c->label);
    for (int k = 0; k < nout; k++) { ud_ref_free(&f[k]); ud_ref_free(&m[k]); }
    ud_test_drop(&b);
}

Test(tp_allreduce_reference, fast_path_agrees_with_mpfr)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp32"}, {"ranks", "1, 3, 8"}, {"tokens", "3"}, {"hidden", "40"},
        {"spec", "combined, unfused"}, {"values", "normal, subnormal, logu, rowscale"},
        {"partials", "independent, cancel"},
    };
    const char *ops[] = {"tp_allreduce", "tp_allreduce_rmsnorm"};
    for (int o = 0; o < 2; o++) {
        size_t n;
        ud_case *cs = ud_test_expand(ops[o], 0, kv, 7, 1, &n);
        for (size_t i = 0; i < n; i++) paths_agree(&cs[i]);
        free(cs);
    }
}

/* A sum exactly on a midpoint of bf16 plus a term below double precision: 1 + 2^-8 + 2^-60
 * rounds up to 1 + 2^-7 (the double 1 + 2^-8 alone would tie down to 1). The fused form's
 * reference normalises h* = RN(sigma*) (residual 0), so its candidate shows which way sigma*
 * went. */
Test(tp_allreduce_reference, sigma_star_rounds_a_midpoint_by_the_term_below_double)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16"}, {"ranks", "3"}, {"tokens", "1"}, {"hidden", "2"}, {"weight", "act"}, {"algorithm", "oneshot"},
    };
    ud_case c = one_case("tp_allreduce_rmsnorm", kv, 6);
    ud_bufs b;
    ud_test_make(&c, &b);
    const double moe[3][2] = {{1.0, 3.0}, {0x1p-8, 0.0}, {0x1p-60, 0.0}};
    for (int r = 0; r < 3; r++)
        for (int h = 0; h < 2; h++) {
            ud_set(UD_BF16, b.in[0].host, (size_t)(r * 2 + h), moe[r][h]);
            ud_set(UD_BF16, b.in[1].host, (size_t)(r * 2 + h), 0.0);
        }
    for (int h = 0; h < 2; h++) {
        ud_set(UD_BF16, b.in[2].host, (size_t)h, 0.0);
        ud_set(UD_BF16, b.in[3].host, (size_t)h, 1.0);
    }
    ud_ref r[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(ud_ref_alloc(&r[k], b.out[k].numel), UD_OK);
    for (int mp = 0; mp < 2; mp++) {
        cr_assert_eq(c.op->reference(&c, b.in, r, mp), UD_OK);
        double h0 = 1.0 + 0x1p-7, rho = sqrt((h0 * h0 + 9.0) / 2.0 + (double)1e-6f);
        cr_assert_eq(r[0].r0[0], ud_round(UD_BF16, h0 / rho), "mpfr %d: %a, want %a", mp, r[0].r0[0], ud_round(UD_BF16, h0 / rho));
        cr_assert_eq(r[1].r0[0], 1.0 + 0x1p-8 + 0x1p-60, "residual_out is the exact sum");
    }
    for (int k = 0; k < 2; k++) ud_ref_free(&r[k]);
    ud_test_drop(&b);
}

/* ------------------------------------------------------------------ orders */

enum { R_MAX = 64 };

static float rn(int dt, double x) { return (float)ud_round(dt == UD_DT_F32 ? UD_F32 : dt == UD_DT_F16 ? UD_F16 : UD_BF16, x); }

/* The docs' orders written out with plain arrays and ud_round (no tpa_* helper): one value. */
static float literal(int alg, int dt, const float *y, int R, int first)
{
    if (alg == TPA_ALG_ONESHOT) {
        float acc = y[0];
        for (int k = 1; k < R; k++) acc = acc + y[k];
        return rn(dt, acc);
    }
    if (alg == TPA_ALG_RING) {
        float acc = y[(first) % R];
        for (int k = 1; k < R; k++) acc = rn(dt, (double)acc + y[(first + k) % R]);
        return acc;
    }
    float lv[R_MAX];
    int n = R;
    memcpy(lv, y, (size_t)R * sizeof *lv);
    while (n > 1) {   /* pairs (0,1), (2,3), ...; an odd last one passes up unchanged */
        int m = 0;
        for (int i = 0; i + 1 < n; i += 2) lv[m++] = rn(dt, (double)lv[i] + lv[i + 1]);
        if (n % 2) lv[m++] = lv[n - 1];
        n = m;
    }
    return lv[0];
}

Test(tp_allreduce_kernel, every_order_is_the_documented_one_bit_for_bit)
{
    const int dts[] = {UD_DT_BF16, UD_DT_F32};
    const int T = 5, H = 19;
    for (int di = 0; di < 2; di++)
        for (int alg = 0; alg < 3; alg++)
            for (int R = 1; R <= R_MAX; R += (R < 12 ? 1 : 13)) {
                int dt = dts[di];
                size_t np = (size_t)R * T * H;
                float *moe = malloc(np * 4), *sh = malloc(np * 4), *out = malloc(np * 4);
                cr_assert(moe && sh && out);
                for (size_t i = 0; i < np; i++) {   /* values of T, magnitudes over 2^12 */
                    moe[i] = rn(dt, ldexp(ud_gen_normal(3, 1, i), (int)(i % 13) - 6));
                    sh[i] = rn(dt, ud_gen_normal(3, 2, i));
                }
                /* The kernel reads its dtype's storage: bf16 cases get bf16 copies of the
                 * (bf16-valued) partials. */
                void *mb = moe, *sb = sh, *ob = out;
                uint16_t *m16 = NULL, *s16 = NULL, *o16 = NULL;
                if (dt == UD_DT_BF16) {
                    m16 = malloc(np * 2); s16 = malloc(np * 2); o16 = malloc(np * 2);
                    for (size_t i = 0; i < np; i++) { ud_st(dt, m16, (int64_t)i, moe[i]); ud_st(dt, s16, (int64_t)i, sh[i]); }
                    mb = m16; sb = s16; ob = o16;
                }
                tpa_args a = {dt, alg, TPA_SPEC_COMBINED, 0, 0, R, T, H, 0.0f, mb, sb, NULL, NULL, ob, NULL};
                cr_assert_eq(tp_allreduce_cpu(&a, TPA_BUG_NONE), UD_OK);
                int shard = (T + R - 1) / R;
                for (int t = 0; t < T; t++)
                    for (int h = 0; h < H; h++) {
                        float y[R_MAX];
                        for (int r = 0; r < R; r++) {
                            size_t i = (size_t)((r * T + t) * H + h);
                            y[r] = rn(dt, (double)moe[i] + sh[i]);
                        }
                        float want = literal(alg, dt, y, R, (t / shard + 1) % R);
                        for (int q = 0; q < R; q++) {
                            float got = ud_ld(dt, ob, (int64_t)((q * T + t) * H + h));
                            cr_assert_eq(ud_f32_bits(got), ud_f32_bits(want), "alg %d dt %d R %d [%d, %d, %d]: %a vs %a",
                                         alg, dt, R, q, t, h, got, want);
                        }
                    }
                free(moe); free(sh); free(out); free(m16); free(s16); free(o16);
            }
}

/* The fused form computes what rmsnorm_fused_add (spec hf) computes from the all-reduce result,
 * bit for bit: the same body, the same lanes and butterflies. */
Test(tp_allreduce_kernel, fused_form_is_rmsnorm_fused_add_of_the_allreduce_bit_for_bit)
{
    const int dts[] = {UD_DT_BF16, UD_DT_F16, UD_DT_F32};
    const int64_t hs[] = {1, 9, 127, 1100, 8193};
    for (int di = 0; di < 3; di++)
        for (int hi = 0; hi < 5; hi++)
            for (int alg = 0; alg < 3; alg++) {
                int dt = dts[di];
                int64_t R = 3, T = 4, H = hs[hi], np = R * T * H;
                size_t es = (size_t)ud_dt_size(dt);
                char *moe = malloc((size_t)np * es), *sh = malloc((size_t)np * es), *res = malloc((size_t)(T * H) * es);
                char *w = malloc((size_t)H * es), *sum = malloc((size_t)np * es), *o1 = malloc((size_t)np * es);
                char *ro1 = malloc((size_t)np * es), *o2 = malloc((size_t)(T * H) * es), *ro2 = malloc((size_t)(T * H) * es);
                cr_assert(moe && sh && res && w && sum && o1 && ro1 && o2 && ro2);
                for (int64_t i = 0; i < np; i++) {
                    ud_st(dt, moe, i, (float)ud_gen_normal(9, 1, (uint64_t)i));
                    ud_st(dt, sh, i, (float)ud_gen_normal(9, 2, (uint64_t)i));
                }
                for (int64_t i = 0; i < T * H; i++) ud_st(dt, res, i, (float)ud_gen_normal(9, 3, (uint64_t)i));
                for (int64_t j = 0; j < H; j++) ud_st(dt, w, j, (float)(1.0 + 0.25 * ud_gen_normal(9, 4, (uint64_t)j)));
                tpa_args plain = {dt, alg, TPA_SPEC_COMBINED, 0, 0, R, T, H, 0.0f, moe, sh, NULL, NULL, sum, NULL};
                cr_assert_eq(tp_allreduce_cpu(&plain, TPA_BUG_NONE), UD_OK);
                tpa_args fused = {dt, alg, TPA_SPEC_COMBINED, 1, 0, R, T, H, 1e-6f, moe, sh, res, w, o1, ro1};
                cr_assert_eq(tp_allreduce_cpu(&fused, TPA_BUG_NONE), UD_OK);
                rms_args ra = {dt, RMS_KIND_LLAMA, RMS_SPEC_HF, 1, T, H, 1e-6f, sum, res, w, o2, ro2};
                cr_assert_eq(rmsnorm_cpu(&ra, RMS_BUG_NONE), UD_OK);
                for (int64_t q = 0; q < R; q++)
                    for (int64_t i = 0; i < T * H; i++) {
                        cr_assert_eq(ud_get_bits(dt == UD_DT_F32 ? UD_F32 : dt == UD_DT_F16 ? UD_F16 : UD_BF16, o1, (size_t)(q * T * H + i)),
                                     ud_get_bits(dt == UD_DT_F32 ? UD_F32 : dt == UD_DT_F16 ? UD_F16 : UD_BF16, o2, (size_t)i),
                                     "dt %d H %lld alg %d: out rank %lld element %lld", dt, (long long)H, alg, (long long)q, (long long)i);
                        cr_assert_eq(ud_ld(dt, ro1, q * T * H + i), ud_ld(dt, ro2, i));
                    }
                free(moe); free(sh); free(res); free(w); free(sum); free(o1); free(ro1); free(o2); free(ro2);
            }
}

/* ------------------------------------------------------------------ budgets */

/* |y - r| / tolerance for a single-token, hidden-1 tp_allreduce case with the given partials
 * (shared = 0, so y_r = moe_r). */
static double tolerance_used(const char *alg, const char *ranks, const double *moe, int R, double *exact)
{
    static char algv[16], rv[16];
    snprintf(algv, sizeof algv, "%s", alg);
    snprintf(rv, sizeof rv, "%s", ranks);
    const char *const kv[][2] = {{"dtype", "bf16"}, {"ranks", rv}, {"tokens", "1"}, {"hidden", "1"}, {"algorithm", algv}};
    ud_case c = one_case("tp_allreduce", kv, 5);
    uint16_t m[R_MAX], s[R_MAX], o[R_MAX];
    double terms = 0.0, mag = 0.0;
    for (int r = 0; r < R; r++) {
        ud_set(UD_BF16, m, (size_t)r, moe[r]);
        ud_set(UD_BF16, s, (size_t)r, 0.0);
        terms += moe[r];   /* exact here: a few bf16 values of nearby exponents */
        mag += fabs(moe[r]);
    }
    tpa_args a = {UD_DT_BF16, (int)c.p[ud_param_index(c.op, "algorithm")].i, TPA_SPEC_COMBINED, 0, 0, R, 1, 1, 0.0f,
                  m, s, NULL, NULL, o, NULL};
    cr_assert_eq(tp_allreduce_cpu(&a, TPA_BUG_NONE), UD_OK);
    *exact = terms;
    return fabs(ud_get(UD_BF16, o, 0) - terms) / ud_tolerance(UD_BF16, terms, mag, c.op->budget(&c, 0));
}

/* Ring, 3 ranks, one token (shard 0: the ring starts at rank 1): RN(RN(1 + 2^-8) + 2^-8 -
 * 2^-15) = 1, the first hop tying down and the second staying below the midpoint, while the sum
 * is 1 + 2^-7 - 2^-15: an error of nearly one ulp, which the ring's budget (0.5 ulp + one hop's
 * u m) must allow almost to the last bit and the one-shot budget (0.5 ulp + fp32) must not. */
Test(tp_allreduce_budget, ring_and_tree_worst_cases_use_nearly_all_of_their_tolerance)
{
    double exact;
    const double ring[3] = {0x1p-8 - 0x1p-15, 1.0, 0x1p-8};
    double used = tolerance_used("ring", "3", ring, 3, &exact);
    cr_assert(used <= 1.0 && used > 0.95, "ring: %.4f of the tolerance", used);
    double as_oneshot = tolerance_used("oneshot", "3", (const double[3]){1.0, 0x1p-8, 0x1p-8 - 0x1p-15}, 3, &exact);
    cr_assert_lt(as_oneshot, 0.6, "the one-shot kernel rounds once");
    /* Tree, 4 ranks: RN(RN(1 + 2^-8) + RN(2^-8 - 2^-15 + 0)) = 1, the same error. */
    const double tree[4] = {1.0, 0x1p-8, 0x1p-8 - 0x1p-15, 0.0};
    used = tolerance_used("tree", "4", tree, 4, &exact);
    cr_assert(used <= 1.0 && used > 0.95, "tree: %.4f of the tolerance", used);
    /* The same outputs judged by the one-shot budget fail: the budgets are the orders' own. */
    const char *const kv[][2] = {{"dtype", "bf16"}, {"ranks", "3"}, {"tokens", "1"}, {"hidden", "1"}, {"algorithm", "oneshot"}};
    ud_case c = one_case("tp_allreduce", kv, 5);
    double tol = ud_tolerance(UD_BF16, 1.0 + 0x1p-7 - 0x1p-15, 1.0 + 0x1p-7 - 0x1p-15, c.op->budget(&c, 0));
    cr_assert_gt(0x1p-7 - 0x1p-15, tol, "one-shot's budget admits the ring's error");
}

/* ------------------------------------------------------------------ production, ranks, variants */

Test(tp_allreduce_kernel, production_passes_edge_shapes)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"ranks", "1, 2, 6, 7, 16"}, {"tokens", "0, 1, 6, 13"}, {"hidden", "1, 8, 33"},
        {"algorithm", "oneshot, ring, tree"}, {"spec", "combined, unfused"}, {"values", "normal, cancel, zero_rows"},
    };
    size_t n;
    ud_test_run("tp_allreduce", 0, kv, 7, NULL, &n);
    cr_assert_gt(n, 3000);
    static const char *const kf[][2] = {
        {"dtype", "bf16, fp32"}, {"ranks", "1, 4, 7"}, {"tokens", "0, 3, 9"}, {"hidden", "1, 16, 129"},
        {"algorithm", "oneshot, ring, tree"}, {"spec", "combined, unfused"}, {"weight", "act, fp32"},
        {"partials", "independent, cancel"},
    };
    ud_test_run("tp_allreduce_rmsnorm", 0, kf, 8, NULL, &n);
    cr_assert_gt(n, 1000);
}

/* Variant by variant, on cases where each must show: every case of the selection catches it. */
static void caught_everywhere(const char *op, const char *variant, ud_kv *kv, size_t nkv)
{
    const ud_op *o = ud_op_find(op);
    for (int m = 1; m <= o->nmutants; m++) {
        if (strcmp(o->mutants[m - 1].name, variant) != 0) continue;
        size_t n, hits = ud_test_run(op, m, kv, nkv, o->mutants[m - 1].expect, &n);
        cr_assert_eq(hits, n, "%s.%s: caught in %zu of %zu cases", op, variant, hits, n);
        cr_assert_gt(n, 0);
        return;
    }
    cr_assert_fail("%s has no variant %s", op, variant);
}

Test(tp_allreduce_mutants, each_variant_is_caught_where_it_acts)
{
    static const char *const every[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"ranks", "2, 5"}, {"tokens", "3"}, {"hidden", "40"},
        {"algorithm", "oneshot, ring, tree"}, {"spec", "combined, unfused"},
    };
    caught_everywhere("tp_allreduce", "double_allreduce", every, 6);
    caught_everywhere("tp_allreduce", "shared_dropped", every, 6);
    caught_everywhere("tp_allreduce_rmsnorm", "double_allreduce", every, 6);
    caught_everywhere("tp_allreduce_rmsnorm", "shared_dropped", every, 6);
    caught_everywhere("tp_allreduce_rmsnorm", "residual_every_rank", every, 6);
    caught_everywhere("tp_allreduce_rmsnorm", "norm_before_reduce", every, 6);
    /* the reduce-scatter path with a tail: tokens % ranks != 0 */
    static const char *const tail[][2] = {
        {"dtype", "bf16, fp32"}, {"ranks", "2, 3, 8"}, {"tokens", "1, 7"}, {"hidden", "9"}, {"algorithm", "ring"},
    };
    caught_everywhere("tp_allreduce", "tail_tokens_lost", tail, 5);
    caught_everywhere("tp_allreduce_rmsnorm", "tail_tokens_lost", tail, 5);
    /* ranks that sum in different orders disagree in fp32's last bit */
    static const char *const rot[][2] = {
        {"dtype", "fp32"}, {"ranks", "3, 8"}, {"tokens", "4"}, {"hidden", "64"}, {"algorithm", "oneshot"},
    };
    caught_everywhere("tp_allreduce", "rotated_order", rot, 5);
    caught_everywhere("tp_allreduce_rmsnorm", "rotated_order", rot, 5);
    static const char *const w32[][2] = {
        {"dtype", "bf16, fp16"}, {"ranks", "1, 4"}, {"tokens", "2"}, {"hidden", "9, 127"}, {"weight", "fp32"},
    };
    caught_everywhere("tp_allreduce_rmsnorm", "weight_read_as_act", w32, 5);
}

/* The tight half of the fused check: a norm off by one bit in the weight product fails against
 * the norm of residual_out even where the all-reduce's own budget would let it pass. Here: the
 * kernel's outputs with one out element moved by one ulp. */
Test(tp_allreduce_mutants, out_one_ulp_off_its_residual_out_norm_is_a_finding)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16"}, {"ranks", "8"}, {"tokens", "2"}, {"hidden", "64"}, {"algorithm", "ring"}, {"weight", "act"},
    };
    ud_case c = one_case("tp_allreduce_rmsnorm", kv, 6);
    ud_bufs b;
    ud_test_make(&c, &b);
    cr_assert_eq(c.op->run_cpu(&c, 0, b.in, b.out), UD_OK);
    ud_ref r[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(ud_ref_alloc(&r[k], b.out[k].numel), UD_OK);
    cr_assert_eq(c.op->reference(&c, b.in, r, 0), UD_OK);
    /* every rank's copy, element [t 1, h 5], one bf16 ulp up */
    for (int64_t q = 0; q < 8; q++) {
        size_t i = (size_t)((q * 2 + 1) * 64 + 5);
        ud_set_bits(UD_BF16, b.out[0].host, i, ud_get_bits(UD_BF16, b.out[0].host, i) + 1);
    }
    ud_result *res = calloc(1, sizeof *res);
    cr_assert_not_null(res);
    ud_out_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_eq(ud_compare_output(&b.out[0], &r[0], c.op->budget(&c, 0), &c, b.in, 0, &st), UD_OK);
    cr_assert_eq(st.n_over, 0, "the all-reduce's loose half alone would pass it");
    cr_assert_eq(c.op->extra(&c, b.in, b.out, r, res), UD_OK);
    cr_assert(ud_result_has(res, UD_F_TOLERANCE), "the norm-of-residual_out check missed a one-ulp error");
    free(res);
    for (int k = 0; k < 2; k++) ud_ref_free(&r[k]);
    ud_test_drop(&b);
}
