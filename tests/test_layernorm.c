/* test_layernorm.c — the LayerNorm family (docs/ops/layernorm.md).
 *
 * Under test: reference/layernorm.c (fast double-double path against the MPFR path),
 * gpu/layernorm.h + gpu/layernorm.c (the production body on the cpu backend: exact outputs
 * where the derivation says they are exact, within the derived bound elsewhere), the known-bug
 * variants (each caught by its finding on the data it fails on), and the claim that the
 * condition scale is what lets a correct kernel pass rows with a large mean. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "gpu/layernorm.h"
#include "spec/layernorm.h"
#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"
#include "tests/ud_test.h"

static int nonzero(const ud_tensor *t)
{
    for (size_t i = 0; i < t->numel; i++)
        if (ud_get(t->dtype, t->host, i) != 0.0) return 1;
    return 0;
}


/* Runs the cpu kernel (variant `bug`, eps overridden when eps > 0) on b's inputs and compares
 * its output with the case's reference under the case's budget; returns the elements over
 * budget (and the statistics in *st). */
static size_t over_budget(const ud_case *c, ud_bufs *b, int bug, float eps, ud_out_stats *st)
{
    ud_tensor_poison(&b->out[0]);
    ln_args a;
    memset(&a, 0, sizeof a);
    a.dt = (int)b->in[0].dtype;
    a.pdt = (int)b->in[1].dtype;
    a.affine = (int)c->p[ud_param_index(c->op, "affine")].i;
    a.rows = ud_case_int(c, "tokens");
    a.n = ud_case_int(c, "hidden");
    a.eps = eps > 0.0f ? eps : (float)ud_case_real(c, "eps");
    a.x = b->in[0].host;
    if (a.affine != LN_AFFINE_NONE) a.w = b->in[1].host;
    if (a.affine == LN_AFFINE_WEIGHT_BIAS) a.b = b->in[2].host;
    a.out = b->out[0].host;
    cr_assert_eq(layernorm_cpu(&a, bug), UD_OK);
    ud_ref ref;
    cr_assert_eq(ud_ref_alloc(&ref, b->out[0].numel), UD_OK);
    cr_assert_eq(c->op->reference(c, b->in, &ref, 0), UD_OK);
    cr_assert_eq(ud_compare_output(&b->out[0], &ref, c->op->budget(c, 0), c, b->in, 0, st), UD_OK);
    ud_ref_free(&ref);
    return st->n_over + st->n_nan_mismatch + st->n_unwritten;
}

/* ---------------------------------------------------------------- reference: fast == MPFR */

static void compare_paths(const ud_case *c, const ud_bufs *b)
{
    ud_ref fast, exact;
    cr_assert_eq(ud_ref_alloc(&fast, b->out[0].numel), UD_OK);
    cr_assert_eq(ud_ref_alloc(&exact, b->out[0].numel), UD_OK);
    cr_assert_eq(c->op->reference(c, b->in, &fast, 0), UD_OK);
    cr_assert_eq(c->op->reference(c, b->in, &exact, 1), UD_OK);
    ud_dtype t = b->out[0].dtype;
    for (size_t i = 0; i < fast.n; i++) {
        double a = fast.r0[i], e = exact.r0[i];
        if (isnan(e)) { cr_assert(isnan(a), "%s [%zu]: fast %a, mpfr NaN", c->label, i); continue; }
        double d = fabs(a - e) / ud_ulp(t, e);
        cr_assert(d < 1e-3, "%s [%zu]: fast %a vs mpfr %a = %g ulp", c->label, i, a, e, d);
        cr_assert_eq(fast.r1[i], a, "one candidate only");
        cr_assert(fabs(fast.s[i] - exact.s[i]) <= 1e-9 * exact.s[i], "%s [%zu]: scale %g vs %g", c->label, i,
                  fast.s[i], exact.s[i]);
    }
    ud_ref_free(&fast);
    ud_ref_free(&exact);
}

Test(layernorm_reference, fast_path_matches_mpfr_on_generated_rows)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "3"}, {"hidden", "1, 33, 1000"},
                        {"affine", "weight_bias, weight, none"},
                        {"values", "normal, cancel, const_rows, near_overflow, rowscale, subnormal, logu, nan_inf"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 5, 2, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        cr_assert(nonzero(&b.in[0]), "%s: all-zero input", cases[k].label);
        compare_paths(&cases[k], &b);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Adversarial rows written by hand: an fp32 mean of 2^20 with a spread of a few ulps of it
 * (the variance is ~2^-44 of the mean's square); biases chosen to cancel the normalised value
 * to a few ulps (weight_bias: the output is tiny next to its scale); and +-2^60 next to small
 * values 3 (j + 1) 2^-60, where a plain double sum of the row loses the small terms and gets
 * the mean, and with no affine map the small elements' outputs, wrong. */
Test(layernorm_reference, fast_path_matches_mpfr_on_cancelling_rows)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "3"}, {"hidden", "64"}, {"affine", "weight_bias, none"},
                        {"eps", "1e-6"}, {"values", "normal"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 6, 1, &n);
    cr_assert_eq(n, 2);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        for (size_t j = 0; j < 64; j++) {
            ud_set(UD_F32, b.in[0].host, j, 1048576.0 + 0.125 * (double)(j % 7));     /* row 0 */
            ud_set(UD_F32, b.in[0].host, 64 + j, (j % 2 ? 1.0 : -1.0) * (1.0 + 0x1p-20 * (double)j));
            ud_set(UD_F32, b.in[0].host, 128 + j,
                   j % 4 == 0 ? 0x1p60 : j % 4 == 1 ? -0x1p60 : 3.0 * 0x1p-60 * (double)(j + 1));
        }
        /* row 1 is +-1 with tiny offsets: (x - mean) / std ~ +-1, so b = -w * x cancels it */
        for (size_t j = 0; j < 64; j++) {
            double x = ud_get(UD_F32, b.in[0].host, 64 + j), w = ud_get(UD_F32, b.in[1].host, j);
            ud_set(UD_F32, b.in[2].host, j, -w * x);
        }
        compare_paths(&cases[k], &b);
        ud_test_drop(&b);
    }
    free(cases);
}

/* ---------------------------------------------------------------- kernel: exact cases */

/* var = 0 => out = b exactly: for bf16/fp16 rows of one repeated value c, every partial sum
 * is c * k with k <= N, which needs p_T + log2(N) <= 24 bits (bf16: N <= 2^16, fp16: 2^13), so
 * the fp32 sum is exact, the mean is exactly c, every x - mean is +0 and out = 0 * rstd * w + b
 * = b, exactly, for any eps > 0. */
Test(layernorm_kernel, constant_rows_give_the_bias_exactly)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"tokens", "3"}, {"hidden", "1, 7, 4096, 8192"},
                        {"affine", "weight_bias, weight, none"}, {"eps", "1e-5, 1e-6"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 5, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        int64_t h = ud_case_int(&cases[k], "hidden");
        for (size_t i = 0; i < b.in[0].numel; i++)   /* rows of 1.5, -3.25e4, 0.0078125 */
            ud_set(b.in[0].dtype, b.in[0].host, i, (double[]){1.5, -32512.0, 0.0078125}[i / (size_t)h]);
        ud_tensor_poison(&b.out[0]);
        cr_assert_eq(cases[k].op->run_cpu(&cases[k], 0, b.in, b.out), UD_OK);
        const char *affine = ud_case_choice(&cases[k], "affine");
        for (size_t i = 0; i < b.out[0].numel; i++) {
            double want = strcmp(affine, "weight_bias") == 0 ? ud_get(b.in[2].dtype, b.in[2].host, i % (size_t)h) : 0.0;
            cr_assert_eq(ud_get(b.out[0].dtype, b.out[0].host, i), want, "%s [%zu]", cases[k].label, i);
        }
        ud_test_drop(&b);
    }
    free(cases);
}

/* A non-finite element makes its row NaN (its own deviation is Inf - Inf or NaN, and the
 * variance with it); the other rows are untouched. */
Test(layernorm_kernel, a_nan_or_inf_element_makes_only_its_row_nan)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp32"}, {"tokens", "3"}, {"hidden", "100"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 3, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_test_make(&cases[k], &b);
        ud_set(b.in[0].dtype, b.in[0].host, 17, NAN);
        ud_set(b.in[0].dtype, b.in[0].host, 100 + 3, INFINITY);
        ud_tensor_poison(&b.out[0]);
        cr_assert_eq(cases[k].op->run_cpu(&cases[k], 0, b.in, b.out), UD_OK);
        for (size_t i = 0; i < 300; i++) {
            double y = ud_get(b.out[0].dtype, b.out[0].host, i);
            cr_assert(i < 200 ? isnan(y) : isfinite(y), "%s [%zu] = %g", cases[k].label, i, y);
        }
        ud_test_drop(&b);
    }
    free(cases);
}

/* ---------------------------------------------------------------- kernel: budgets */

Test(layernorm_kernel, production_passes_edge_shapes_and_data)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 3"},
                        {"hidden", "1, 2, 7, 8, 9, 127, 2049, 8193, 9000"},
                        {"affine", "weight_bias, weight, none"},
                        {"values", "normal, logu, subnormal, zero_rows, const_rows, near_overflow, cancel, nan_inf"}};
    size_t n;
    ud_test_run("layernorm", 0, kv, 5, NULL, &n);
    cr_assert_gt(n, 600);
    static ud_kv kv32[] = {{"dtype", "bf16, fp16, fp32"}, {"pdtype", "fp32, bf16, fp16"}, {"tokens", "2"},
                          {"hidden", "1, 9, 4095, 4096"}, {"values", "normal, cancel, rowscale"}};
    ud_test_run("fp32_layernorm", 0, kv32, 5, NULL, &n);
}

/* eps is added to the fp32 variance: on rows whose variance is comparable to eps (values
 * ~3e-3, var ~1e-5) eps = 1e-5 and 1e-6 give outputs ~30% apart. Production passes with the
 * case's eps; the same kernel handed the other eps must fail the comparison. */
Test(layernorm_kernel, eps_is_added_to_the_variance_in_fp32)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "3"}, {"hidden", "1000, 4096"},
                        {"affine", "weight_bias, weight, none"}, {"eps", "1e-5, 1e-6"}, {"scale", "0.003"},
                        {"values", "normal"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 7, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_out_stats st;
        ud_test_make(&cases[k], &b);
        float eps = (float)ud_case_real(&cases[k], "eps"), other = eps > 5e-6f ? 1e-6f : 1e-5f;
        cr_assert_eq(over_budget(&cases[k], &b, LN_BUG_NONE, 0.0f, &st), 0, "%s", cases[k].label);
        cr_assert_gt(over_budget(&cases[k], &b, LN_BUG_NONE, other, &st), b.out[0].numel / 2,
                     "%s: eps %g instead of %g must fail", cases[k].label, other, eps);
        ud_test_drop(&b);
    }
    free(cases);
}

/* Rows beyond the generator's mean/spread ratio of ~2^11, written by hand: fp32 at mean 2^20
 * with a spread of ~2^5 (ratio ~2^15: x - mean loses 15 of 24 bits, and the one-pass E[x^2]
 * carries an error ~2^16 times the variance), fp16 near overflow (values in [49152, 49280]:
 * every square and the row sum need fp32), bf16 at 2^20 with a spread of one to two bf16 ulps. The correct two-pass kernel passes through the
 * condition scale; the one-pass variance E[x^2] - E[x]^2 is off by far more and fails in fp32
 * and fp16 (bf16's 8 bits cannot hold a spread below 2^-8 of the mean, and at that ratio the
 * one-pass formula is accurate enough). */
Test(layernorm_kernel, huge_mean_rows_pass_and_one_pass_variance_fails)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16, fp32"}, {"tokens", "2"}, {"hidden", "7, 4096"},
                        {"affine", "weight_bias, none"}, {"eps", "1e-6"}, {"values", "normal"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 6, 1, &n);
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_out_stats st;
        ud_test_make(&cases[k], &b);
        ud_dtype t = b.in[0].dtype;
        double mean = t == UD_F16 ? 49152.0 : 1048576.0, step = t == UD_F32 ? 16.0 : t == UD_F16 ? 32.0 : 8192.0;
        for (size_t i = 0; i < b.in[0].numel; i++) {
            double x = mean + step * (double)(ud_rng_u64(cases[k].seed, 9, i) % 5);
            ud_set(t, b.in[0].host, i, i < b.in[0].numel / 2 ? x : -x);   /* row 1: a negative mean */
        }
        cr_assert_eq(over_budget(&cases[k], &b, LN_BUG_NONE, 0.0f, &st), 0, "%s: max %g ulp, scaled %g", cases[k].label,
                     st.max_ulp, st.max_scaled);
        if (t != UD_BF16)
            cr_assert_gt(over_budget(&cases[k], &b, LN_BUG_ONE_PASS_VAR, 0.0f, &st), 0, "%s: one-pass variance passed",
                         cases[k].label);
        ud_test_drop(&b);
    }
    free(cases);
}

/* fp32 rows made only of subnormals: their mean rounds in fp32's subnormal range (absolute
 * error up to 2^-150, no relative bound), and 1/sqrt(var + eps) ~ 1/sqrt(eps) multiplies that
 * error by up to 1000 (eps 1e-6). The budget's absolute allowance must cover it. */
Test(layernorm_kernel, subnormal_rows_pass_with_the_absolute_allowance)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "4"}, {"hidden", "3, 7, 1000"},
                        {"affine", "weight_bias, weight, none"}, {"eps", "1e-5, 1e-6"}, {"values", "normal"}};
    size_t n;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 6, 1, &n);
    size_t inexact_means = 0;
    for (size_t k = 0; k < n; k++) {
        ud_bufs b;
        ud_out_stats st;
        ud_test_make(&cases[k], &b);
        int64_t h = ud_case_int(&cases[k], "hidden");
        for (size_t i = 0; i < b.in[0].numel; i++) {   /* odd multiples of 2^-149, up to 2^-130 */
            double m = (double)(2 * (ud_rng_u64(cases[k].seed, 9, i) % 262144) + 1);
            ud_set(UD_F32, b.in[0].host, i, (ud_rng_u64(cases[k].seed, 10, i) & 1 ? -m : m) * 0x1p-149);
        }
        for (int64_t r = 0; r < ud_case_int(&cases[k], "tokens"); r++) {
            double sum = 0.0;
            for (int64_t j = 0; j < h; j++) sum += ud_get(UD_F32, b.in[0].host, (size_t)(r * h + j));
            inexact_means += (double)(float)(sum / (double)h) != sum / (double)h;
        }
        cr_assert_eq(over_budget(&cases[k], &b, LN_BUG_NONE, 0.0f, &st), 0, "%s: max %g ulp, scaled %g", cases[k].label,
                     st.max_ulp, st.max_scaled);
        ud_test_drop(&b);
    }
    cr_assert_gt(inexact_means, 0, "no row has a mean that rounds in the subnormal range");
    free(cases);
}

/* Rows with a mean ~2^10-2^11 times their spread: a correct two-pass kernel's outputs are
 * hundreds of ulps off in fp32 (x - mean cancels), so with the scaled part of the budget
 * removed it fails — and with the derived scale s = (|x| + mean|x|) |w/std| + |b| it passes. */
Test(layernorm_kernel, large_mean_rows_pass_through_the_condition_scale_only)
{
    static ud_kv kv[] = {{"dtype", "fp32"}, {"tokens", "7"}, {"hidden", "4096"}, {"values", "cancel"}};
    size_t n, bad = 0;
    ud_case *cases = ud_test_expand("layernorm", 0, kv, 4, 1, &n);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    for (size_t k = 0; k < n; k++) {
        ud_result r;
        cr_assert_eq(ud_run_case(&cases[k], &o, &r), UD_OK);
        cr_assert_eq(r.nfindings, 0, "%s: %s", r.c.label, r.nfindings ? r.findings[0].msg : "");
        cr_assert_gt(r.out[0].max_ulp, 16.0, "%s: the data no longer cancels (max %g ulp)", r.c.label, r.out[0].max_ulp);
        cr_assert_leq(r.out[0].max_scaled, layernorm_bound_u(UD_DT_F32, 4096), "within the derived bound");
        cases[k].budget_scaled = 0.0;
        cr_assert_eq(ud_run_case(&cases[k], &o, &r), UD_OK);
        bad += ud_result_has(&r, UD_F_TOLERANCE);
    }
    cr_assert_eq(bad, n, "without the condition scale every large-mean case must fail");
    free(cases);
}

/* The numbers docs/ops/layernorm.md quotes. */
Test(layernorm_kernel, bound_matches_the_documented_derivation)
{
    /* bf16 N = 7168: 896 chunks of 8, 4 per lane -> k = 32, m = k + 8 = 40, K = 1.5 m + 10 = 70 */
    cr_assert_eq(layernorm_sum_depth(UD_DT_BF16, 7168), 40);
    cr_assert_float_eq(layernorm_bound_u(UD_DT_BF16, 7168), 70.0, 1e-12);
    /* fp32 N = 4096: 1024 chunks of 4 -> k = 16, m = 24, K = 46 */
    cr_assert_float_eq(layernorm_bound_u(UD_DT_F32, 4096), 46.0, 1e-12);
    cr_assert_eq(layernorm_sum_depth(UD_DT_F16, 1), 16);   /* one chunk: k = 8 */
}

/* ---------------------------------------------------------------- known-bug variants */

static void caught(const char *op, const char *mutant, ud_kv *kv, size_t nkv)
{
    const ud_op *o = ud_op_find(op);
    int m = 0;
    for (int k = 0; k < o->nmutants; k++)
        if (strcmp(o->mutants[k].name, mutant) == 0) m = k + 1;
    cr_assert_gt(m, 0, "%s.%s", op, mutant);
    size_t n;
    ud_test_run(op, 0, kv, nkv, NULL, &n);   /* production passes the very same cases */
    size_t hits = ud_test_run(op, m, kv, nkv, o->mutants[m - 1].expect, &n);
    cr_assert_eq(hits, n, "%s.%s caught in %zu of %zu cases", op, mutant, hits, n);
}

Test(layernorm_mutants, one_pass_variance_fails_on_large_mean_rows)
{
    static ud_kv kv[] = {{"dtype", "fp16, fp32"}, {"tokens", "7"}, {"hidden", "127, 4096"}, {"values", "cancel"},
                        {"affine", "weight_bias, none"}};
    caught("layernorm", "one_pass_variance", kv, 5);
    caught("fp32_layernorm", "one_pass_variance", kv, 5 - 1);
}

Test(layernorm_mutants, mean_in_input_dtype_fails_on_ordinary_rows)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"tokens", "7"}, {"hidden", "4096, 8193"}, {"values", "normal"}};
    caught("layernorm", "mean_in_input_dtype", kv, 4);
    caught("fp32_layernorm", "mean_in_input_dtype", kv, 4);
}

Test(layernorm_mutants, params_in_input_dtype_fails_with_fp32_parameters)
{
    static ud_kv kv[] = {{"dtype", "bf16, fp16"}, {"pdtype", "fp32"}, {"tokens", "7"}, {"hidden", "127, 4096"},
                        {"affine", "weight_bias, weight"}, {"values", "normal, rowscale"}};
    caught("fp32_layernorm", "params_in_input_dtype", kv, 6);
}

/* ---------------------------------------------------------------- the two operators */

/* fp32_layernorm differs from layernorm only in where its parameters are stored: with bf16
 * parameters (exact in fp32) on bf16 activations the two must produce the same bits. */
Test(fp32_layernorm, bf16_parameters_give_layernorm_bits)
{
    static ud_kv kv1[] = {{"dtype", "bf16"}, {"tokens", "5"}, {"hidden", "4096"}, {"affine", "weight_bias"},
                         {"eps", "1e-6"}, {"values", "normal"}};
    static ud_kv kv2[] = {{"dtype", "bf16"}, {"pdtype", "bf16"}, {"tokens", "5"}, {"hidden", "4096"},
                         {"affine", "weight_bias"}, {"eps", "1e-6"}, {"values", "normal"}};
    size_t n1, n2;
    ud_case *c1 = ud_test_expand("layernorm", 0, kv1, 6, 1, &n1), *c2 = ud_test_expand("fp32_layernorm", 0, kv2, 7, 1, &n2);
    ud_bufs a, b;
    ud_test_make(&c1[0], &a);
    ud_test_make(&c2[0], &b);
    ud_tensor_poison(&a.out[0]);
    ud_tensor_poison(&b.out[0]);
    cr_assert_eq(c1[0].op->run_cpu(&c1[0], 0, a.in, a.out), UD_OK);
    cr_assert_eq(c2[0].op->run_cpu(&c2[0], 0, b.in, b.out), UD_OK);
    cr_assert(nonzero(&a.out[0]));
    cr_assert_eq(memcmp(a.out[0].host, b.out[0].host, ud_tensor_bytes(&a.out[0])), 0);
    ud_test_drop(&a);
    ud_test_drop(&b);
    free(c1);
    free(c2);
}
