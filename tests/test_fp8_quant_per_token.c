/* test_fp8_quant_per_token.c — FP8 per-token / per-group quantization: the kernel's fast E4M3
 * conversion against ud_f32_to_e4m3 (itself checked against MPFR and cuda_fp8.h), ue8m0
 * scales, the reference's fast path against MPFR (identical scales and candidate sets), the
 * production kernel (cpu backend, the body the CUDA kernel runs) within budget on every
 * generator and shape edge, the documented behaviour on zero rows, NaN and Inf, ties to
 * even, and the known-bug variants caught by the findings they name. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/fp8_quant_per_token.h"
#include "spec/fp8_quant_per_token.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "tests/ud_test.h"

/* ------------------------------------------------------------------ conversion and scales */

static void check_conv(float v)
{
    for (int sat = 0; sat < 2; sat++) {
        uint8_t a = fq_to_e4m3(v, sat), b = ud_f32_to_e4m3(v, sat);
        cr_assert_eq(a, b, "%a (sat %d): fast 0x%02x, ud_f32_to_e4m3 0x%02x", v, sat, a, b);
    }
}

/* Every e4m3 rounding boundary (each pair of neighbours: both values, the midpoint, the
 * midpoint +-1 and +-2 fp32 ulps), the saturation thresholds, both signs, NaN and Inf, all
 * fp32 subnormal and tiny patterns near 2^-10, and every 251st fp32 bit pattern. */
Test(fq_conversion, fast_e4m3_matches_ud_f32_to_e4m3_everywhere_it_matters)
{
    for (uint32_t c = 0; c < 0x7e; c++) {
        double lo = ud_e4m3_to_f64((uint8_t)c), hi = ud_e4m3_to_f64((uint8_t)(c + 1));
        float mid = (float)(0.5 * (lo + hi));
        for (int s = 0; s < 2; s++) {
            float sg = s ? -1.0f : 1.0f;
            check_conv(sg * (float)lo);
            for (int d = -2; d <= 2; d++) check_conv(sg * ud_bits_f32(ud_f32_bits(mid) + (uint32_t)d));
        }
    }
    const float edges[] = {448.0f, 464.0f, 480.0f, 500.0f, 511.0f, 512.0f, 1e30f, INFINITY, NAN, 0.0f, 0x1p-6f,
                           0x1p-9f, 0x1p-10f, 0x1.8p-10f, 0x1p-149f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        check_conv(edges[i]);
        check_conv(-edges[i]);
        check_conv(ud_bits_f32(ud_f32_bits(edges[i]) + 1));
        check_conv(ud_bits_f32(ud_f32_bits(edges[i]) - 1));
    }
    for (uint32_t u = 0; u < 0x00800000u; u += 4093) check_conv(ud_bits_f32(u));
    for (uint64_t u = 0; u <= 0xffffffffull; u += 251) check_conv(ud_bits_f32((uint32_t)u));
}

Test(fq_scale, ue8m0_rounds_up_to_a_power_of_two)
{
    for (int i = 0; i < 100000; i++) {
        float s = (float)ldexp(1.0 + ud_rng_unit(4, 1, (uint64_t)i), (int)(ud_rng_u64(4, 2, (uint64_t)i) % 200) - 100);
        if (i % 7 == 0) s = (float)ldexp(1.0, (int)(i % 200) - 100);
        float p = fq_pow2_ceil(FQ_BUG_NONE, s);
        double want = exp2(ceil(log2((double)s)));
        cr_assert_eq((double)p, want, "%a -> %a, want %a", s, p, want);
    }
    cr_assert(isinf(fq_pow2_ceil(FQ_BUG_NONE, INFINITY)));
}

/* The reference's own ue8m0 ceiling (it no longer shares the kernel's bit trick): 2^k maps to
 * itself, anything in (2^k, 2^(k+1)) to 2^(k+1) — checked against the exact construction and
 * against MPFR's exponent (x = m 2^e, m in [1/2, 1): x is a power of two iff x == 2^(e-1)). */
static void check_pow2_ceil(double s, double want)
{
    double got = ref_fq_pow2_ceil(s);
    cr_assert_eq(got, want, "ref_fq_pow2_ceil(%a) = %a, want %a", s, got, want);
    mpfr_t t;
    mpfr_init2(t, 64);
    mpfr_set_d(t, s, MPFR_RNDN);
    long e = (long)mpfr_get_exp(t);
    double mp = mpfr_cmp_ui_2exp(t, 1, e - 1) == 0 ? s : ldexp(1.0, (int)e);
    mpfr_clear(t);
    cr_assert_eq(got, mp, "ref_fq_pow2_ceil(%a) = %a, MPFR says %a", s, got, mp);
}

Test(fq_reference, pow2_ceil_keeps_powers_of_two_and_rounds_the_rest_up)
{
    for (int k = -140; k <= 127; k++) {
        double p = ldexp(1.0, k);
        check_pow2_ceil(p, p);                                   /* the fixed points */
        check_pow2_ceil(nextafter(p, INFINITY), 2.0 * p);        /* one double ulp above */
        check_pow2_ceil((double)nextafterf((float)p, INFINITY), 2.0 * p);   /* one fp32 ulp above */
        check_pow2_ceil(nextafter(p, 0.0), p);                   /* just below: p itself */
        check_pow2_ceil(1.75 * p, 2.0 * p);                      /* 448 / 256: amax = 448 t, t not 2^k */
    }
    for (int i = 0; i < 100000; i++) {   /* random fp32 scales across the exponent range */
        int k = (int)(ud_rng_u64(5, 2, (uint64_t)i) % 250) - 125;
        uint32_t m = (uint32_t)(ud_rng_u64(5, 1, (uint64_t)i) & 0x7fffffu);
        double s = ldexp(1.0 + m * 0x1p-23, k);
        check_pow2_ceil(s, m ? ldexp(1.0, k + 1) : s);
    }
    cr_assert(isinf(ref_fq_pow2_ceil(INFINITY)));
    /* The scale it feeds: amax 448 * 2^-7 (scale 2^-7 exactly) keeps 2^-7; 449 * 2^-7 goes up. */
    ref_fq_args a = {UD_BF16, FQ_FMT_UE8M0, 1, 1, 1, 0x1p-17f, 0.0f, NULL};
    cr_assert_eq(ref_fq_scale(&a, 448.0 * 0x1p-7, 0), 0x1p-7f);
    cr_assert_eq(ref_fq_scale(&a, 448.0 * 0x1p-7, 1), 0x1p-7f);
    cr_assert_eq(ref_fq_scale(&a, 449.0 * 0x1p-7, 0), 0x1p-6f);
}

Test(fq_scale, scale_is_the_fp32_quotient_floored_and_bounded)
{
    cr_assert_eq(fq_scale(0, FQ_FMT_FP32, 0.0f, 0.0f, 0x1p-17f), 0x1p-17f);
    cr_assert_eq(fq_scale(0, FQ_FMT_FP32, 3.0f, 0.0f, 0x1p-17f), 3.0f / 448.0f);
    cr_assert_eq(fq_scale(0, FQ_FMT_FP32, 3.0f, 1.0f, 0x1p-17f), 1.0f / 448.0f, "scale_ub bounds amax");
    cr_assert_eq(fq_scale(0, FQ_FMT_FP32, 0.5f, 1.0f, 0x1p-17f), 0.5f / 448.0f, "below scale_ub: amax itself");
    cr_assert(isinf(fq_scale(0, FQ_FMT_FP32, INFINITY, 0.0f, 0x1p-17f)));
    cr_assert_eq(fq_scale(0, FQ_FMT_UE8M0, 3.0f, 0.0f, 0x1p-17f), 0x1p-7f);
}

/* ue8m0: the floor, then the power-of-two rounding — every scale a power of two, also under the
 * floor. The default floor 1/(448*512) = 2^-15 / 7 is not one: production makes it 2^-17; the
 * variant that floors after rounding (vLLM #58032) keeps it. */
Test(fq_scale, ue8m0_floor_comes_before_the_power_of_two)
{
    const float floor = (float)(1.0 / (448.0 * 512.0));
    const float amax[] = {0.0f, 1e-30f, 1e-6f, 448.0f * 0x1p-20f};
    for (int i = 0; i < 4; i++) {
        float s = fq_scale(0, FQ_FMT_UE8M0, amax[i], 0.0f, floor);
        cr_assert_eq(s, 0x1p-17f, "amax %a: scale %a", (double)amax[i], (double)s);
        float bad = fq_scale(FQ_BUG_UE8M0_FLOOR_AFTER_POW2, FQ_FMT_UE8M0, amax[i], 0.0f, floor);
        cr_assert_eq(bad, floor, "amax %a: the variant keeps min_scale, got %a", (double)amax[i], (double)bad);
    }
    /* Above the floor both orders agree; fp32 scales never round. */
    cr_assert_eq(fq_scale(FQ_BUG_UE8M0_FLOOR_AFTER_POW2, FQ_FMT_UE8M0, 3.0f, 0.0f, floor), 0x1p-7f);
    cr_assert_eq(fq_scale(FQ_BUG_UE8M0_FLOOR_AFTER_POW2, FQ_FMT_FP32, 0.0f, 0.0f, floor), floor);
}

/* ------------------------------------------------------------------ reference */

Test(fq_reference, fast_path_and_mpfr_give_identical_scales_and_candidates)
{
    const ud_op *op = ud_op_find("fp8_quant_per_token");
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "values")] = "normal, rowscale, zero_rows, subnormal, nan_inf, spike, ties, pow2_amax, "
                                           "graph_padding";
    s.vals[ud_param_index(op, "hidden")] = "1, 131";
    s.vals[ud_param_index(op, "group")] = "0, 16";
    s.vals[ud_param_index(op, "tokens")] = "4";
    ud_case *cases = NULL;
    size_t n = 0, pairs = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    for (size_t k = 0; k < n; k++) {
        ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
        ud_ref f[2], m[2];
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
        cr_assert_eq(op->generate(&cases[k], in), UD_OK);
        for (int o = 0; o < 2; o++) {
            cr_assert_eq(ud_ref_alloc(&f[o], out[o].numel), UD_OK);
            cr_assert_eq(ud_ref_alloc(&m[o], out[o].numel), UD_OK);
        }
        cr_assert_eq(op->reference(&cases[k], in, f, 0), UD_OK);
        cr_assert_eq(op->reference(&cases[k], in, m, 1), UD_OK);
        for (int o = 0; o < 2; o++)
            for (size_t i = 0; i < out[o].numel; i++) {
                double a[2] = {f[o].r0[i], f[o].r1[i]}, b[2] = {m[o].r0[i], m[o].r1[i]};
                for (int c = 0; c < 2; c++)
                    cr_assert((isnan(a[c]) && isnan(b[c])) || a[c] == b[c], "%s %s[%zu] candidate %d: fast %a mpfr %a",
                              cases[k].label, out[o].name, i, c, a[c], b[c]);
                pairs += o == 0 && f[o].r0[i] != f[o].r1[i];
            }
        for (int o = 0; o < 2; o++) { ud_ref_free(&f[o]); ud_ref_free(&m[o]); }
        for (int t = 0; t < UD_MAX_TENSORS; t++) { ud_tensor_free(&in[t]); ud_tensor_free(&out[t]); }
    }
    cr_assert_gt(pairs, 0, "no element ever had two candidates: the rounding point is untested");
    free(cases);
}

/* An exact quotient has exactly one correct q, the tie going to even; an inexact one within
 * 2^-24 of a boundary has two. */
Test(fq_reference, candidates_follow_the_fp32_division)
{
    double r0, r1;
    ref_fq_candidates(17.0, 0.5f, 0, &r0, &r1);             /* 34: tie between 32 and 36 */
    cr_assert(r0 == 32.0 && r1 == 32.0, "%a %a", r0, r1);
    ref_fq_candidates(19.0, 0.5f, 0, &r0, &r1);             /* 38: tie between 36 and 40 */
    cr_assert(r0 == 40.0 && r1 == 40.0, "%a %a", r0, r1);
    float s = 3.0f / 448.0f;                                /* not a power of two */
    double x = ud_round(UD_F32, 0x1.1p-6 * (double)s);      /* x / s within 2^-24 of 0x1.1p-6 */
    ref_fq_candidates(x, s, 0, &r0, &r1);
    cr_assert(r0 != r1, "x / s = %a must admit both neighbours", x / s);
    ref_fq_candidates(1e30, 1.0f, 0, &r0, &r1);
    cr_assert(r0 == 448.0 && r1 == 448.0, "saturation");
    ref_fq_candidates(INFINITY, INFINITY, 0, &r0, &r1);
    cr_assert(isnan(r0) && isnan(r1));
}

/* ------------------------------------------------------------------ kernel */

Test(fq_kernel, production_passes_every_generator_group_and_shape_edge)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 3"}, {"hidden", "1, 7, 15, 16, 17, 100, 128, 4099"},
        {"group", "0, 16, 128"}, {"scale_fmt", "fp32, ue8m0"}, {"scale_ub", "0, 1"},
        {"values", "normal, rowscale, zero_rows, subnormal, nan_inf, spike, ties, pow2_amax, graph_padding"},
    };
    size_t n;
    ud_test_run("fp8_quant_per_token", 0, kv, 7, NULL, &n);
    cr_assert_gt(n, 4000);
}

/* The documented behaviour, element by element, on one bf16 row per situation. */
Test(fq_kernel, zero_rows_nan_and_inf_behave_as_documented)
{
    enum { H = 6 };
    const float rows[][H] = {
        {0.0f, -0.0f, 0.0f, 0.0f, 0.0f, 0.0f},              /* all zero */
        {1.0f, NAN, -2.0f, 3.5f, 0.5f, NAN},                /* NaN: ignored by amax, NaN out */
        {1.0f, INFINITY, -2.0f, 0.5f, 0.25f, 3.5f},         /* Inf: scale Inf */
    };
    uint16_t x[3 * H];
    for (int i = 0; i < 3 * H; i++) x[i] = ud_f32_to_bf16(rows[i / H][i % H]);
    for (int ub = 0; ub < 2; ub++) {
        uint8_t q[3 * H];
        float sc[3];
        fq_args a = {UD_DT_BF16, FQ_FMT_FP32, 3, H, H, 0x1p-17f, ub ? 2.0f : 0.0f, x, q, sc};
        cr_assert_eq(fp8_quant_per_token_cpu(&a, FQ_BUG_NONE), UD_OK);
        cr_assert_eq(sc[0], 0x1p-17f, "an all-zero row gets min_scale");
        for (int j = 0; j < H; j++) cr_assert_eq(q[j] & 0x7f, 0, "zero row: q = +-0, got 0x%02x", q[j]);
        float s1 = (ub ? 2.0f : 3.5f) / 448.0f;
        cr_assert_eq(sc[1], s1, "NaN must not reach amax");
        cr_assert_eq(q[H + 1], 0x7f);
        cr_assert_eq(q[H + 5], 0x7f);
        cr_assert_eq(q[H + 0], ud_f32_to_e4m3(1.0f / s1, 1));
        if (!ub) {
            cr_assert(isinf(sc[2]), "an Inf makes the row's scale Inf");
            cr_assert_eq(q[2 * H + 1], 0x7f, "Inf / Inf = NaN");
            cr_assert_eq(q[2 * H + 0], 0x00);
            cr_assert_eq(q[2 * H + 2], 0x80, "finite / Inf = -0 for a negative value");
        } else {
            cr_assert_eq(sc[2], 2.0f / 448.0f);
            cr_assert_eq(q[2 * H + 1], 0x7e, "with scale_ub, Inf saturates to 448");
            cr_assert_eq(q[2 * H + 5], 0x7e, "3.5 / (2/448) = 784 saturates to 448");
        }
    }
}

/* That every variant is caught by the smoke corpus, by the finding it names, is tested once for
 * every operator (tests/cli/mutants.sh, `ulpdiff mutants`); the tests here are about how. */

/* A CUDA-graph batch (values = graph_padding): the real rows' scales and q are those of the real
 * rows alone, whatever the padding rows hold; the variant whose reduction spans a pair of
 * groups gives the last real row the padding's amax (here Inf: -Inf is in every padding row). */
Test(fq_kernel, graph_padding_rows_never_reach_the_real_rows)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "9"}, {"hidden", "100"}, {"group", "0"}, {"values", "graph_padding"},
    };
    size_t n;
    ud_case *cases = ud_test_expand("fp8_quant_per_token", 0, kv, 5, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        const ud_tensor *x = &b.in[0];
        /* 5 real rows (0..4), 4 padding rows, each with a NaN and a -Inf */
        for (int r = 0; r < 9; r++) {
            int real = 1;
            for (int j = 0; j < 100; j++) real &= isfinite(ud_get(x->dtype, x->host, (size_t)(r * 100 + j)));
            cr_assert_eq(real, r < 5, "%s: row %d", cases[k].label, r);
        }
        fq_args a = {(int)x->dtype, (int)cases[k].p[ud_param_index(cases[k].op, "scale_fmt")].i, 9, 100, 100,
                     (float)(1.0 / (448.0 * 512.0)), 0.0f, x->host, b.out[0].host, b.out[1].host};
        float whole[9], alone[5], bad[9];
        cr_assert_eq(fp8_quant_per_token_cpu(&a, 0), UD_OK);
        memcpy(whole, b.out[1].host, sizeof whole);
        a.tokens = 5;
        cr_assert_eq(fp8_quant_per_token_cpu(&a, 0), UD_OK);
        memcpy(alone, b.out[1].host, sizeof alone);
        for (int r = 0; r < 5; r++)
            cr_assert_eq(whole[r], alone[r], "%s: row %d's scale depends on the padding", cases[k].label, r);
        a.tokens = 9;
        cr_assert_eq(fp8_quant_per_token_cpu(&a, FQ_BUG_AMAX_SPANS_GROUP_PAIR), UD_OK);
        memcpy(bad, b.out[1].host, sizeof bad);
        cr_assert(isinf(bad[4]) && isfinite(whole[4]), "%s: the variant's row 4 scale %a", cases[k].label, (double)bad[4]);
        ud_test_drop(&b);
    }
    free(cases);
}
