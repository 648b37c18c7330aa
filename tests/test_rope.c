/* test_rope.c — partial RoPE (docs/ops/rope.md).
 *
 * Under test: gpu/rope.h's rope_sincos (against MPFR, on random arguments and on the hard ones
 * in tests/data/rope_sincos_hard.txt) and the table builder (layout, values, inv_freq against
 * the spec computed by MPFR); reference/rope.c (fast path against the MPFR path); the
 * production body on the cpu backend (pass-through bits, position 0, positions outside the
 * table); the known-bug variants; the exact-angle measurement. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdio.h>
#include <string.h>

#include "gpu/rope.h"
#include "spec/rope.h"
#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"
#include "tests/ud_test.h"

/* Runs the production cpu kernel on b's inputs and returns how many elements of q_out and
 * k_out are over the case's budget against its reference. */
static size_t over_budget(const ud_case *c, ud_bufs *b)
{
    ud_tensor_poison(&b->out[0]);
    ud_tensor_poison(&b->out[1]);
    cr_assert_eq(c->op->run_cpu(c, 0, b->in, b->out), UD_OK, "%s", c->label);
    size_t over = 0;
    for (int o = 0; o < 2; o++) {
        ud_ref ref[2];
        cr_assert_eq(ud_ref_alloc(&ref[0], b->out[0].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&ref[1], b->out[1].numel), UD_OK);
        cr_assert_eq(c->op->reference(c, b->in, ref, 0), UD_OK);
        ud_out_stats st;
        cr_assert_eq(ud_compare_output(&b->out[o], &ref[o], c->op->budget(c, o), c, b->in, o, &st), UD_OK);
        over += st.n_over + st.n_nan_mismatch + st.n_unwritten;
        ud_ref_free(&ref[0]);
        ud_ref_free(&ref[1]);
    }
    return over;
}

/* ---------------------------------------------------------------- rope_sincos */

static double rel_err_sincos(double x)
{
    mpfr_t m, s, c;
    mpfr_inits2(160, m, s, c, (mpfr_ptr)0);
    mpfr_set_d(m, x, MPFR_RNDN);
    mpfr_sin_cos(s, c, m, MPFR_RNDN);
    double sn, cs;
    rope_sincos(x, &sn, &cs);
    mpfr_sub_d(m, s, sn, MPFR_RNDN);
    mpfr_div(m, m, s, MPFR_RNDN);
    double es = fabs(mpfr_get_d(m, MPFR_RNDN));
    mpfr_sub_d(m, c, cs, MPFR_RNDN);
    mpfr_div(m, m, c, MPFR_RNDN);
    double ec = fabs(mpfr_get_d(m, MPFR_RNDN));
    mpfr_clears(m, s, c, (mpfr_ptr)0);
    return fmax(es, ec);
}

Test(rope_sincos, within_its_bound_on_random_fp32_angles)
{
    double worst = 0.0;
    for (uint64_t i = 0; i < 200000; i++) {
        double u = ud_rng_unit(11, 1, i);
        /* half uniform over [0, 2^21) (the table's angles), half log-uniform over [2^-30, 2^21) */
        float x = (float)(i % 2 ? exp2(-30.0 + 51.0 * u) : u * 2097152.0);
        worst = fmax(worst, rel_err_sincos(x));
    }
    cr_assert_leq(worst, ROPE_SINCOS_REL_ERR, "worst relative error %a", worst);
    cr_assert_gt(worst, 0.0, "the comparison is not vacuous");
}

Test(rope_sincos, within_its_bound_on_the_hard_arguments)
{
    FILE *f = fopen("tests/data/rope_sincos_hard.txt", "r");
    cr_assert_not_null(f, "tests/data/rope_sincos_hard.txt (ctest runs from the source directory)");
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        double x;
        if (sscanf(line, "%la", &x) != 1) continue;
        cr_assert_leq(rel_err_sincos(x), ROPE_SINCOS_REL_ERR, "x = %a", x);
        n++;
    }
    fclose(f);
    cr_assert_geq(n, 20);
}

/* ---------------------------------------------------------------- inv_freq and the table */

/* The builder's inv_freq (double pow rounded to fp32) is the spec's correctly rounded one for
 * every base and rotary_dim the corpora use, and none of them sits on an ambiguous power (so
 * the reference's second inv_freq candidate is never needed there). */
Test(rope_table, inv_freq_is_the_spec_for_the_configured_bases)
{
    const double bases[] = {1e4, 1e5, 5e5, 1e6};
    for (int b = 0; b < 4; b++)
        for (int rd = 2; rd <= ROPE_MAX_HEAD_DIM; rd += 2) {
            rope_table_spec t = {rd, rd, bases[b], 1, ROPE_NEOX, UD_DT_F32};
            rope_freqs f;
            cr_assert_eq(rope_inv_freq(&t, &f), UD_OK);
            for (int i = 0; i < rd / 2; i++) {
                float inv[2];
                ref_rope_inv_freq(bases[b], rd, i, inv);
                cr_assert_eq(f.inv[i], inv[0], "base %g rd %d i %d: %a vs %a", bases[b], rd, i, f.inv[i], inv[0]);
                cr_assert_eq(inv[1], inv[0], "base %g rd %d i %d: ambiguous power", bases[b], rd, i);
            }
        }
    /* HF for head_dim 128: inv_freq[1] = 1 / 10000^(2/128) */
    float inv[2];
    ref_rope_inv_freq(1e4, 128, 1, inv);
    cr_assert_float_eq(inv[0], 1.0 / pow(1e4, 2.0 / 128.0), 1e-7);
}

/* Row p holds cos then sin of theta_i = RN_32(p * inv_i), each the correct rounding to the
 * table dtype or its neighbour within ROPE_TABLE_MARGIN of a boundary. */
Test(rope_table, layout_is_cos_then_sin_of_the_fp32_angle)
{
    const int dts[] = {UD_DT_F32, UD_DT_BF16, UD_DT_F16};
    for (int d = 0; d < 3; d++) {
        rope_table_spec t = {32, 32, 1e4, 5000, ROPE_GPTJ, dts[d]};
        int64_t shape[2] = {t.max_position, t.rotary_dim};
        ud_tensor tab;
        cr_assert_eq(ud_tensor_alloc(&tab, "table", (ud_dtype)dts[d], 2, shape), UD_OK);
        cr_assert_eq(rope_table_build_cpu(&t, tab.host), UD_OK);
        rope_freqs f;
        rope_inv_freq(&t, &f);
        for (int64_t p = 0; p < t.max_position; p += 37)
            for (int i = 0; i < 16; i++) {
                double th = (double)((float)p * f.inv[i]);
                double c = ud_get(tab.dtype, tab.host, (size_t)(p * 32 + i)), s = ud_get(tab.dtype, tab.host, (size_t)(p * 32 + 16 + i));
                double tol_c = ud_ulp(tab.dtype, cos(th)), tol_s = ud_ulp(tab.dtype, sin(th));
                cr_assert_leq(fabs(c - cos(th)), dts[d] == UD_DT_F32 ? 0.5 * tol_c + 1e-15 : tol_c, "p %lld i %d", (long long)p, i);
                cr_assert_leq(fabs(s - sin(th)), dts[d] == UD_DT_F32 ? 0.5 * tol_s + 1e-15 : tol_s, "p %lld i %d", (long long)p, i);
            }
        cr_assert_eq(ud_get(tab.dtype, tab.host, 0), 1.0, "position 0: cos 1");
        cr_assert_eq(ud_get(tab.dtype, tab.host, 16), 0.0, "position 0: sin 0");
        ud_tensor_free(&tab);
    }
}

/* ---------------------------------------------------------------- reference: fast == MPFR */

static void compare_paths(const ud_case *c, const ud_bufs *b)
{
    for (int o = 0; o < 2; o++) {
        ud_ref fast, exact;
        cr_assert_eq(ud_ref_alloc(&fast, b->out[o].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&exact, b->out[o].numel), UD_OK);
        ud_ref fk, ek;   /* the other output, not compared in this pass */
        cr_assert_eq(ud_ref_alloc(&fk, b->out[1 - o].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&ek, b->out[1 - o].numel), UD_OK);
        ud_ref f2[2], e2[2];
        f2[o] = fast; f2[1 - o] = fk;
        e2[o] = exact; e2[1 - o] = ek;
        cr_assert_eq(c->op->reference(c, b->in, f2, 0), UD_OK);
        cr_assert_eq(c->op->reference(c, b->in, e2, 1), UD_OK);
        ud_dtype t = b->out[o].dtype;
        for (size_t i = 0; i < fast.n; i++) {
            double a = f2[o].r0[i], e = e2[o].r0[i];
            if (isnan(e)) { cr_assert(isnan(a)); continue; }
            if (isinf(e)) { cr_assert_eq(a, e); continue; }
            double d = fabs(a - e) / ud_ulp(t, e);
            cr_assert(d < 1e-3, "%s %s[%zu]: fast %a vs mpfr %a = %g ulp", c->label, b->out[o].name, i, a, e, d);
            int two_f = f2[o].r1[i] != a, two_e = e2[o].r1[i] != e;
            cr_assert_eq(two_f, two_e, "%s [%zu]: candidate sets differ", c->label, i);
            if (two_f) cr_assert(fabs(f2[o].r1[i] - e2[o].r1[i]) <= 1e-3 * ud_ulp(t, e));
            cr_assert(fabs(f2[o].s[i] - e2[o].s[i]) <= 1e-9 * e2[o].s[i] + 1e-300, "%s [%zu]: scale", c->label, i);
        }
        for (int k = 0; k < 2; k++) { ud_ref_free(&f2[k]); ud_ref_free(&e2[k]); }
    }
}

Test(rope_reference, fast_path_matches_mpfr_on_generated_inputs)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "6"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "64"}, {"factor", "1, 0.25"}, {"style", "neox, gptj"}, {"base", "1e4, 1e6"},
                        {"max_position", "2048"}, {"table", "fp32, model"}, {"values", "normal, logu, nan_inf"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        compare_paths(&cases[k], &b);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Hand-made cancellation: x2 = x1 * cos / sin rounded, so x1 cos - x2 sin is a few ulps of
 * its scale — the fast path must notice and ask MPFR. Long positions for the angle. */
Test(rope_reference, fast_path_matches_mpfr_on_cancelling_pairs)
{
    static ud_kv kv[] = {{"dtype", "fp32, bf16"}, {"tokens", "4"}, {"q_heads", "1"}, {"kv_heads", "1"},
                        {"head_dim", "16"}, {"factor", "1"}, {"style", "neox"}, {"max_position", "1000001"},
                        {"table", "fp32, model"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 9, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        const int32_t *pos = b.in[2].host;
        rope_table_spec t = {16, 16, ud_case_real(&cases[k], "base"), 1, ROPE_NEOX, UD_DT_F32};
        rope_freqs f;
        rope_inv_freq(&t, &f);
        for (int tok = 0; tok < 4; tok++)
            for (int i = 0; i < 8; i++) {
                double th = (double)((float)pos[tok] * f.inv[i]);
                size_t base = (size_t)tok * 16;
                double x1 = ud_get(b.in[0].dtype, b.in[0].host, base + (size_t)i);
                if (fabs(sin(th)) > 1e-3) ud_set(b.in[0].dtype, b.in[0].host, base + 8 + (size_t)i, x1 * cos(th) / sin(th));
            }
        compare_paths(&cases[k], &b);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Adversarial table entries: the positions p whose angle (pair 0: inv_freq = 1, theta = p)
 * has cos or sin within ROPE_TABLE_MARGIN of a rounding boundary of the bf16/fp16 table, found
 * by scanning every position below 2^21. There the spec's table entry has two correct
 * roundings: the fast path must hand those to MPFR and list the same two candidates, and the
 * production kernel must pass against them. */
static int ambiguous(ud_dtype t, double v)
{
    double m = ROPE_TABLE_MARGIN * fabs(v);
    return ud_round(t, v - m) != ud_round(t, v + m);
}

Test(rope_reference, fast_path_matches_mpfr_on_table_entries_at_rounding_boundaries)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"tokens", "16"}, {"q_heads", "1"}, {"kv_heads", "1"},
                        {"head_dim", "8"}, {"factor", "0.25"}, {"style", "neox"}, {"base", "1e4"},
                        {"max_position", "2097152"}, {"table", "model"}, {"values", "normal"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        ud_dtype t = b.in[0].dtype;
        int32_t *pos = b.in[2].host;
        int found = 0;
        for (int32_t p = 1; p < 2097152 && found < 16; p++)
            if (ambiguous(t, cos((double)p)) || ambiguous(t, sin((double)p))) pos[found++] = p;
        cr_assert_eq(found, 16, "%s: only %d ambiguous positions", cases[k].label, found);
        compare_paths(&cases[k], &b);
        ud_ref r[2];
        cr_assert_eq(ud_ref_alloc(&r[0], b.out[0].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&r[1], b.out[1].numel), UD_OK);
        cr_assert_eq(cases[k].op->reference(&cases[k], b.in, r, 1), UD_OK);
        size_t two = 0;
        for (size_t i = 0; i < r[0].n; i++) two += r[0].r1[i] != r[0].r0[i];
        cr_assert_gt(two, 0, "%s: no element has two candidates: the positions are not adversarial", cases[k].label);
        ud_ref_free(&r[0]);
        ud_ref_free(&r[1]);
        cr_assert_eq(over_budget(&cases[k], &b), 0, "%s", cases[k].label);
        ud_test_drop(&b);
    }
    free(cases);
}

/* ---------------------------------------------------------------- kernel */

Test(rope_kernel, production_passes_the_issue_configurations)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "5"}, {"q_heads", "4"}, {"kv_heads", "1"},
                        {"head_dim", "64, 128, 256"}, {"factor", "1, 0.5, 0.25"}, {"max_position", "512"},
                        {"positions", "edges, uniform"}};
    size_t n;
    ud_test_run("rope", 0, kv, 8, NULL, &n);
    cr_assert_eq(n, 3 * 3 * 3 * 2 * 2 * 2 * 2);
}

/* The spec's pairing, checked without rope_pair(): a head that is one-hot at dim d comes out as
 * a column of the rotation of d's pair — neox pairs d with d + rotary_dim/2 (halves of the
 * rotary part, not of the head), gptj pairs 2i with 2i+1 — holding the table's cos and sin of
 * that pair's angle and zeros elsewhere. Head h of q and of k is one-hot at dim h; the
 * reference must say the same, with exact cos and sin of the fp32 angle. */
Test(rope_kernel, neox_rotates_halves_of_the_rotary_part_and_gptj_adjacent_pairs)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "2"}, {"q_heads", "16"}, {"kv_heads", "16"}, {"head_dim", "16"},
                        {"factor", "0.5"}, {"style", "neox, gptj"}, {"base", "1e4"}, {"max_position", "100"},
                        {"positions", "edges"}, {"table", "fp32"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        int neox = strcmp(ud_case_choice(&cases[k], "style"), "neox") == 0;
        const int hd = 16, rd = 8, half = 4;
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < b.in[t].numel; i++)
                ud_set(UD_F32, b.in[t].host, i, (int)(i % (size_t)(hd * hd)) / hd == (int)(i % (size_t)hd) ? 1.0 : 0.0);
        ud_tensor_poison(&b.out[0]);
        ud_tensor_poison(&b.out[1]);
        cr_assert_eq(cases[k].op->run_cpu(&cases[k], 0, b.in, b.out), UD_OK);
        ud_ref ref[2];
        cr_assert_eq(ud_ref_alloc(&ref[0], b.out[0].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&ref[1], b.out[1].numel), UD_OK);
        cr_assert_eq(cases[k].op->reference(&cases[k], b.in, ref, 0), UD_OK);
        const int32_t *pos = b.in[2].host;
        rope_freqs f;
        rope_table_spec ts = {rd, rd, 1e4, 100, ROPE_NEOX, UD_DT_F32};
        cr_assert_eq(rope_inv_freq(&ts, &f), UD_OK);
        for (int t = 0; t < 2; t++)
            for (int tok = 0; tok < 2; tok++)
                for (int h = 0; h < hd; h++) {
                    /* expected column: want[d] for the head one-hot at dim h */
                    double want_tab[16] = {0}, want_exact[16] = {0};
                    const float *row = (const float *)b.in[3].host + (size_t)pos[tok] * rd;
                    if (h >= rd) want_tab[h] = want_exact[h] = 1.0;   /* pass-through */
                    else {
                        int i = neox ? h % half : h / 2, x1 = neox ? i : 2 * i, x2 = neox ? i + half : 2 * i + 1;
                        double th = (double)((float)pos[tok] * f.inv[i]);
                        int is_x1 = h == x1;
                        /* x1 = 1: (x1', x2') = (c, s); x2 = 1: (x1', x2') = (-s, c) */
                        want_tab[x1] = is_x1 ? row[i] : -row[half + i];
                        want_tab[x2] = is_x1 ? row[half + i] : row[i];
                        want_exact[x1] = is_x1 ? cos(th) : -sin(th);
                        want_exact[x2] = is_x1 ? sin(th) : cos(th);
                    }
                    for (int d = 0; d < hd; d++) {
                        size_t idx = ((size_t)tok * hd + (size_t)h) * hd + (size_t)d;
                        double got = ud_get(UD_F32, b.out[t].host, idx), r = ref[t].r0[idx];
                        cr_assert_eq(got, want_tab[d], "%s %s token %d head %d dim %d: %a, want %a", cases[k].label,
                                     b.out[t].name, tok, h, d, got, want_tab[d]);
                        cr_assert_leq(fabs(r - want_exact[d]), 1e-15, "%s reference %s token %d head %d dim %d: %a, want %a",
                                      cases[k].label, b.out[t].name, tok, h, d, r, want_exact[d]);
                    }
                }
        cr_assert_eq(pos[0], 99);
        ud_ref_free(&ref[0]);
        ud_ref_free(&ref[1]);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Long context on the spec's fp32 angles: a 1000001-row table, so positions max_position - 1
 * = 1000000 and 0 are among the edges; every dtype, both bases and table dtypes pass. */
Test(rope_kernel, production_passes_at_position_one_million)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "5"}, {"q_heads", "3"}, {"kv_heads", "1"},
                        {"head_dim", "32"}, {"factor", "0.25"}, {"style", "neox"}, {"base", "1e4, 1e6"},
                        {"max_position", "1000001"}, {"positions", "edges"}, {"table", "fp32, model"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 11, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        const int32_t *pos = b.in[2].host;
        cr_assert(pos[0] == 1000000 && pos[1] == 0, "edges: max_position - 1, then 0");
        cr_assert_eq(over_budget(&cases[k], &b), 0, "%s", cases[k].label);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Dims >= rotary_dim are raw copies: NaN payloads, -0, subnormals, Inf keep their bits. The
 * operator's own check (extra) must also flag an output that changed one. */
Test(rope_kernel, pass_through_dims_keep_every_bit)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "3"}, {"q_heads", "2"}, {"kv_heads", "1"},
                        {"head_dim", "64"}, {"factor", "0.5"}, {"max_position", "16"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 7, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        const uint64_t specials32[] = {0x7fc01234u, 0xffbfffffu, 0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u};
        const uint64_t specials16[] = {0x7e01u, 0xfd55u, 0x8000u, 0x0001u, 0x7f81u, 0xfc00u};
        const uint64_t *sp = b.in[0].dtype == UD_F32 ? specials32 : specials16;
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < b.in[t].numel; i++)
                if (i % 64 >= 32) ud_set_bits(b.in[t].dtype, b.in[t].host, i, sp[i % 6]);
        ud_tensor_poison(&b.out[0]);
        ud_tensor_poison(&b.out[1]);
        cr_assert_eq(cases[k].op->run_cpu(&cases[k], 0, b.in, b.out), UD_OK);
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < b.out[t].numel; i++)
                if (i % 64 >= 32)
                    cr_assert_eq(ud_get_bits(b.out[t].dtype, b.out[t].host, i), ud_get_bits(b.in[t].dtype, b.in[t].host, i),
                                 "%s %s[%zu]", cases[k].label, b.out[t].name, i);
        ud_result r;
        memset(&r, 0, sizeof r);
        cr_assert_eq(cases[k].op->extra(&cases[k], b.in, b.out, NULL, &r), UD_OK);
        cr_assert_eq(r.nfindings, 0);
        ud_set_bits(b.out[1].dtype, b.out[1].host, 40, sp[40 % 6] ^ 1);   /* one payload bit */
        cr_assert_eq(cases[k].op->extra(&cases[k], b.in, b.out, NULL, &r), UD_OK);
        cr_assert(ud_result_has(&r, UD_F_TOLERANCE), "a changed pass-through bit must be a finding");
        ud_test_drop(&b);
    }
    free(cases);
}

/* cos 0 = 1, sin 0 = 0: a token at position 0 comes out exactly as it went in. */
Test(rope_kernel, position_zero_is_the_identity)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "2"}, {"q_heads", "3"}, {"kv_heads", "2"},
                        {"head_dim", "128"}, {"factor", "1, 0.5"}, {"positions", "edges"}, {"table", "fp32, model"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 8, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        cr_assert_eq(((int32_t *)b.in[2].host)[1], 0, "edges: token 1 is at position 0");
        ud_tensor_poison(&b.out[0]);
        ud_tensor_poison(&b.out[1]);
        cr_assert_eq(cases[k].op->run_cpu(&cases[k], 0, b.in, b.out), UD_OK);
        for (int t = 0; t < 2; t++) {
            size_t row = b.in[t].numel / 2;
            for (size_t i = row; i < 2 * row; i++)
                cr_assert_eq(ud_get(b.out[t].dtype, b.out[t].host, i), ud_get(b.in[t].dtype, b.in[t].host, i), "%s [%zu]",
                             cases[k].label, i);
        }
        ud_test_drop(&b);
    }
    free(cases);
}

/* A position outside [0, max_position) is an error the backend reports, never a read outside
 * the table: the other tokens are written, the bad ones stay unwritten, and the harness turns
 * it into an `error` finding. (The ASan build would flag an out-of-bounds read.) */
Test(rope_kernel, a_position_outside_the_table_is_an_error)
{
    static ud_kv kv[] = {{"dtype", "bf16"}, {"tokens", "6"}, {"q_heads", "2"}, {"kv_heads", "1"}, {"head_dim", "64"},
                        {"factor", "0.5"}, {"max_position", "100"}, {"positions", "out_of_table"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 8, 1, &n);
    ud_bufs b;
    ud_test_make(&cases[0], &b);
    const int32_t *pos = b.in[2].host;
    cr_assert_eq(pos[3], 100);
    cr_assert_eq(pos[5], -1);
    ud_tensor_poison(&b.out[0]);
    cr_assert_eq(cases[0].op->run_cpu(&cases[0], 0, b.in, b.out), UD_EUSAGE);
    uint64_t poison = ud_poison_bits(UD_BF16);
    for (size_t i = 0; i < b.out[0].numel; i++) {
        size_t t = i / 128;
        int unwritten = ud_get_bits(UD_BF16, b.out[0].host, i) == poison;
        cr_assert_eq(unwritten, t == 3 || t == 5, "token %zu", t);
    }
    ud_test_drop(&b);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result r;
    ud_run_case(&cases[0], &o, &r);
    cr_assert(ud_result_has(&r, UD_F_ERROR), "the harness reports it as an error finding");
    free(cases);
}

Test(rope_kernel, rejects_configurations_without_an_even_rotary_dim)
{
    const ud_op *op = ud_op_find("rope");
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "head_dim")] = "64";
    s.vals[ud_param_index(op, "factor")] = "0.3";   /* int(19.2) = 19: odd */
    ud_case *cases = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_neq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0);
    cr_assert(strstr(err, "rotary_dim") != NULL, "%s", err);
    free(cases);
    cr_assert_eq(rope_rotary_dim(64, 0.3), 0);
    cr_assert_eq(rope_rotary_dim(128, 0.5), 64);
    cr_assert_eq(rope_rotary_dim(96, 0.25), 24);
}

/* ---------------------------------------------------------------- known-bug variants */

static void caught(const char *mutant, ud_kv *kv, size_t nkv)
{
    const ud_op *o = ud_op_find("rope");
    int m = 0;
    for (int k = 0; k < o->nmutants; k++)
        if (strcmp(o->mutants[k].name, mutant) == 0) m = k + 1;
    cr_assert_gt(m, 0, "rope.%s", mutant);
    size_t n;
    ud_test_run("rope", 0, kv, nkv, NULL, &n);
    size_t hits = ud_test_run("rope", m, kv, nkv, o->mutants[m - 1].expect, &n);
    cr_assert_eq(hits, n, "rope.%s caught in %zu of %zu cases", mutant, hits, n);
}

Test(rope_mutants, factor_applied_twice_is_caught_for_partial_rotary)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"head_dim", "64, 128"}, {"factor", "0.5, 0.25"},
                        {"max_position", "256"}};
    caught("factor_applied_twice", kv, 5);
}

Test(rope_mutants, style_swap_is_caught_in_both_directions)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"tokens", "5"}, {"head_dim", "64"}, {"factor", "1, 0.25"},
                        {"style", "neox, gptj"}, {"max_position", "256"}};
    caught("style_swapped", kv, 6);
}

Test(rope_mutants, table_for_head_dim_is_caught_for_partial_rotary)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"head_dim", "64, 256"}, {"factor", "0.5, 0.25"},
                        {"base", "1e4, 1e6"}, {"max_position", "256"}};
    caught("table_for_head_dim", kv, 6);
}

/* sglang #27653: an fp32 table cast to bf16/fp16 on the partial-rotary path; invisible at factor 1
 * (the fused path keeps fp32) and in fp32 (the cast is the identity). */
Test(rope_mutants, partial_table_downcast_is_caught_for_partial_rotary_with_an_fp32_table)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"tokens", "5"}, {"head_dim", "64, 128"}, {"factor", "0.5, 0.25"},
                        {"table", "fp32"}, {"max_position", "256"}};
    caught("partial_table_downcast", kv, 6);
    static ud_kv same[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"head_dim", "64"}, {"factor", "1"},
                          {"table", "fp32, model"}, {"max_position", "256"}};
    size_t n, hits = ud_test_run("rope", 4, same, 6, "tolerance", &n);
    cr_assert_eq(hits, 0, "factor 1: the variant is production (%zu of %zu cases)", hits, n);
}

/* vLLM #43676: rotary_dim defaulted to head_dim. At the table's last position the kernel reads
 * past the table: the guard rows make that NaN (a finding), never memory outside the tensor. */
Test(rope_mutants, rotary_dim_ignored_is_caught_and_its_read_past_the_table_lands_in_the_guard)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "5"}, {"head_dim", "64, 128"}, {"factor", "0.5, 0.25"},
                        {"style", "neox, gptj"}, {"table", "fp32, model"}, {"max_position", "256"}};
    caught("rotary_dim_ignored", kv, 7);
    /* position max_position - 1 (token 0 of positions = edges): every element NaN past the row */
    static ud_kv last[] = {{"dtype", "fp32"}, {"tokens", "1"}, {"q_heads", "1"}, {"kv_heads", "1"}, {"head_dim", "64"},
                          {"factor", "0.25"}, {"style", "neox"}, {"max_position", "8"}, {"base", "1e4"},
                          {"table", "fp32"}};
    size_t n;
    ud_case *c = ud_test_expand("rope", 5, last, 10, 1, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(c[0].op->mutants[4].name, "rotary_dim_ignored");
    ud_bufs b;
    ud_test_make(&c[0], &b);
    cr_assert_eq(b.in[3].shape[0], 8 + ROPE_GUARD_ROWS(64, 16), "table rows: the guard follows the table");
    cr_assert_eq(c[0].op->run_cpu(&c[0], 5, b.in, b.out), UD_OK);
    size_t nan = 0;
    for (int d = 0; d < 64; d++) nan += isnan(ud_get(b.out[0].dtype, b.out[0].host, (size_t)d));
    cr_assert_gt(nan, 0, "the reads past the last row must meet NaN");
    ud_test_drop(&b);
    free(c);
}

/* ---------------------------------------------------------------- the exact-angle measurement */

/* Against exact angles the fp32 angle costs ~1e-2 rad at position 1e6: the case passes within
 * its documented bound, the measured angle error is inside that bound, and it is large. */
Test(rope_exact_angles, fp32_angle_cost_is_measured_within_the_documented_bound)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "4"}, {"q_heads", "1"}, {"kv_heads", "1"}, {"head_dim", "16"},
                        {"factor", "1"}, {"base", "1e4"}, {"max_position", "1000001"}, {"angles", "exact"}};
    size_t n;
    ud_case *cases = ud_test_expand("rope", 0, kv, 9, 1, &n);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result r;
    cr_assert_eq(ud_run_case(&cases[0], &o, &r), UD_OK);
    cr_assert_eq(r.nfindings, 0, "%s", r.nfindings ? r.findings[0].msg : "");
    const ud_metric *m = NULL;
    for (int k = 0; k < r.nmetrics; k++)
        if (strstr(r.metrics[k].name, "theta")) m = &r.metrics[k];
    cr_assert_not_null(m);
    cr_assert_leq(m->value, m->budget);
    cr_assert_gt(m->value, 1e-3, "at position 1e6 the fp32 angle is off by more than 1e-3 rad");
    cr_assert_gt(r.out[0].max_ulp, 1e4, "and the outputs by thousands of ulps");
    free(cases);
}
