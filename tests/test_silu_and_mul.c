/* test_silu_and_mul.c — SiLU(gate) * up: the portable exp against its stated bound, the
 * reference's fast path against MPFR (values and spec-hf candidate sets), the production
 * kernel (cpu backend, the body the CUDA kernel runs) within budget on every generator, spec
 * and width edge, the exp-overflow range and the specials, and the known-bug variants caught. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/silu_and_mul.h"
#include "spec/silu_and_mul.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"
#include "tests/ud_test.h"

/* ------------------------------------------------------------------ portable exp */

/* |p 2^n - e^x| / e^x, in units of 2^-24, with e^x from MPFR. */
static double exp_err_u(float x, mpfr_t m)
{
    int n;
    float p = silu_exp_core(x, &n);
    mpfr_set_flt(m, x, MPFR_RNDN);
    mpfr_exp(m, m, MPFR_RNDN);
    mpfr_t got;
    mpfr_init2(got, 128);
    mpfr_set_flt(got, p, MPFR_RNDN);
    mpfr_mul_2si(got, got, n, MPFR_RNDN);
    mpfr_sub(got, got, m, MPFR_RNDN);
    mpfr_div(got, got, m, MPFR_RNDN);
    double e = fabs(mpfr_get_d(got, MPFR_RNDN)) * 0x1p24;
    mpfr_clear(got);
    return e;
}

/* Every 4099th fp32 in [-104, 90] against the exact exp (MPFR for a sample, a double exp with
 * its < 1 double ulp for the rest): within SILU_EXP_BOUND_U, and the bound is not loose by
 * more than 2x (the measured worst is 1.33 u). */
Test(silu_exp, core_is_within_its_stated_bound)
{
    mpfr_t m;
    mpfr_init2(m, 128);
    double worst = 0.0;
    uint32_t lo = 0x80000000u, hi = 0xc2d00000u;   /* -0 .. -104 */
    for (int side = 0; side < 2; side++) {
        uint32_t a = side ? 0x00000000u : lo, b = side ? 0x42b40000u : hi;   /* +0 .. 90 */
        for (uint32_t u = a; u < b; u += 4099) {
            float x = ud_bits_f32(u);
            double e;
            if ((u / 4099) % 64 == 0) {
                e = exp_err_u(x, m);
            } else {
                int n;
                float p = silu_exp_core(x, &n);
                double ex = exp((double)x);
                e = fabs(ldexp((double)p, n) - ex) / ex * 0x1p24;
            }
            cr_assert(e <= SILU_EXP_BOUND_U, "x = %a: %g u", x, e);
            if (e > worst) worst = e;
        }
    }
    /* edges of the reduction: multiples of ln2 / 2 either side */
    for (int k = -300; k <= 260; k++) {
        float x = (float)(k * 0.34657359027997264);
        for (int d = -2; d <= 2; d++) {
            float y = ud_bits_f32(ud_f32_bits(x) + (uint32_t)d);
            if (!(fabsf(y) < 104.0f)) continue;
            double e = exp_err_u(y, m);
            cr_assert(e <= SILU_EXP_BOUND_U, "x = %a: %g u", y, e);
            if (e > worst) worst = e;
        }
    }
    cr_assert_gt(worst, 0.5 * SILU_EXP_BOUND_U, "worst %g u: the bound is looser than it needs to be", worst);
    mpfr_clear(m);
}

Test(silu_exp, overflow_underflow_and_clamps)
{
    cr_assert(isinf(silu_expf(89.0f)) && silu_expf(89.0f) > 0);
    cr_assert_eq(silu_expf(-104.0f), 0.0f);
    cr_assert(silu_expf(-103.0f) > 0.0f, "exp(-103) is a subnormal, not 0");
    cr_assert(isinf(silu_expf(INFINITY)));
    cr_assert_eq(silu_expf(-INFINITY), 0.0f);
    cr_assert_eq(silu_expf(0.0f), 1.0f);
}

/* ------------------------------------------------------------------ reference */

Test(silu_reference, fast_silu_agrees_with_mpfr)
{
    double worst = 0.0;
    for (int i = 0; i < 200000; i++) {
        double u = ud_rng_unit(3, 1, (uint64_t)i), g;
        switch (i % 5) {
        case 0: g = ud_gen_normal(3, 2, (uint64_t)i); break;
        case 1: g = (u < 0.5 ? -1 : 1) * exp2(10.0 * ud_rng_unit(3, 3, (uint64_t)i)); break;   /* 1 .. 1024 */
        case 2: g = -700.0 - 60.0 * u; break;                                                   /* double exp underflow */
        case 3: g = (u < 0.5 ? -1 : 1) * ldexp(1.0 + u, -(int)(150 * ud_rng_unit(3, 4, (uint64_t)i))); break;
        default: g = (double)(float)(-88.0 - 20.0 * u); break;
        }
        double f = ref_silu(g, 0), m = ref_silu(g, 1);
        /* relative, or absolute far below fp32's smallest subnormal */
        double e = fabs(f - m);
        cr_assert(e <= 0x1p-48 * fabs(m) || e < 0x1p-160, "g = %a: fast %a mpfr %a", g, f, m);
        if (fabs(m) > 0x1p-126 && e / fabs(m) > worst) worst = e / fabs(m);
    }
    cr_assert_lt(worst, 0x1p-48);
    cr_assert(isinf(ref_silu(INFINITY, 0)) && ref_silu(-INFINITY, 0) == 0.0 && signbit(ref_silu(-INFINITY, 0)));
    cr_assert(isnan(ref_silu(NAN, 1)));
}

/* Both paths give the same candidates (spec hf) and values within 0.001 fp32 ulp. */
Test(silu_reference, both_paths_give_the_same_candidates)
{
    const ud_op *op = ud_op_find("silu_and_mul");
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "values")] = "normal, large, wide, subnormal, nan_inf";
    s.vals[ud_param_index(op, "inter")] = "333";
    s.vals[ud_param_index(op, "tokens")] = "3";
    ud_case *cases = NULL;
    size_t n = 0, pairs = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    for (size_t k = 0; k < n; k++) {
        ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
        ud_ref f, m;
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
        cr_assert_eq(op->generate(&cases[k], in), UD_OK);
        cr_assert_eq(ud_ref_alloc(&f, out[0].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&m, out[0].numel), UD_OK);
        cr_assert_eq(op->reference(&cases[k], in, &f, 0), UD_OK);
        cr_assert_eq(op->reference(&cases[k], in, &m, 1), UD_OK);
        for (size_t i = 0; i < out[0].numel; i++) {
            double a[2] = {f.r0[i], f.r1[i]}, b[2] = {m.r0[i], m.r1[i]};
            for (int c = 0; c < 2; c++) {
                if (isnan(b[c])) { cr_assert(isnan(a[c]), "%s [%zu]", cases[k].label, i); continue; }
                double e = a[c] == b[c] ? 0.0 : fabs(a[c] - b[c]) / ud_ulp(UD_F32, b[c]);
                cr_assert(e < 1e-3, "%s [%zu] candidate %d: fast %a mpfr %a", cases[k].label, i, c, a[c], b[c]);
            }
            pairs += f.r0[i] != f.r1[i];
        }
        ud_ref_free(&f);
        ud_ref_free(&m);
        for (int t = 0; t < UD_MAX_TENSORS; t++) { ud_tensor_free(&in[t]); ud_tensor_free(&out[t]); }
    }
    cr_assert_gt(pairs, 0, "spec hf never produced two candidates: the rounding point is untested");
    free(cases);
}

/* ------------------------------------------------------------------ kernel */

Test(silu_kernel, production_passes_every_generator_spec_and_width_edge)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 3"}, {"inter", "1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 100, 1031"},
        {"spec", "flashinfer, hf"}, {"values", "normal, large, wide, subnormal, nan_inf"},
    };
    size_t n;
    ud_test_run("silu_and_mul", 0, kv, 5, NULL, &n);
    cr_assert_gt(n, 700);
}

/* Past the engines' overflow point the result is the exact value's rounding, not -0: bf16
 * gates -89 .. -97 give normal bf16 results; the engines' formula (exp_overflow) gives -0. */
Test(silu_kernel, large_negative_gates_are_not_flushed_to_zero)
{
    const float gates[] = {-88.5f, -89.0f, -90.0f, -92.0f, -96.0f};
    for (size_t i = 0; i < sizeof gates / sizeof gates[0]; i++) {
        float g = ud_round_f32(UD_DT_BF16, gates[i]);
        double exact = ud_round(UD_BF16, ref_silu(g, 1) * 1.5);
        float y = ud_round_f32(UD_DT_BF16, silu_mul(UD_DT_BF16, SILU_SPEC_FLASHINFER, SILU_BUG_NONE, g, 1.5f));
        float naive = ud_round_f32(UD_DT_BF16, silu_mul(UD_DT_BF16, SILU_SPEC_FLASHINFER, SILU_BUG_EXP_OVERFLOW, g, 1.5f));
        cr_assert(exact != 0.0 && (double)y == exact, "g = %g: got %a, exact rounding %a", g, y, exact);
        if (g < -88.72f) cr_assert(naive == 0.0f && signbit(naive), "g = %g: the engine formula gives %a", g, naive);
    }
}

Test(silu_kernel, specials_follow_the_limits)
{
    const int specs[] = {SILU_SPEC_FLASHINFER, SILU_SPEC_HF};
    for (int s = 0; s < 2; s++) {
        cr_assert(isinf(silu_mul(UD_DT_F32, specs[s], 0, INFINITY, 2.0f)));
        float z = silu_mul(UD_DT_F32, specs[s], 0, -INFINITY, 2.0f);
        cr_assert(z == 0.0f && signbit(z), "silu(-Inf) * 2 = %a", z);
        cr_assert(isnan(silu_mul(UD_DT_F32, specs[s], 0, NAN, 2.0f)));
        cr_assert(isnan(silu_mul(UD_DT_F32, specs[s], 0, 1.0f, NAN)));
        cr_assert(isnan(silu_mul(UD_DT_F32, specs[s], 0, 0.0f, INFINITY)));
        cr_assert(isinf(silu_mul(UD_DT_F32, specs[s], 0, -50.0f, INFINITY)), "silu(-50) is tiny, not 0");
    }
}

Test(silu_mutants, silu_in_input_dtype_is_caught_in_bf16_and_fp16)
{
    static const char *const kv[][2] = {{"dtype", "bf16, fp16"}, {"inter", "100, 1024"}, {"tokens", "2"}};
    size_t n, hits = ud_test_run("silu_and_mul", 1, kv, 3, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}

Test(silu_mutants, exp_overflow_is_caught_by_large_gates_in_bf16_and_fp32)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp32"}, {"inter", "1024"}, {"tokens", "2"}, {"values", "large"},
    };
    size_t n, hits = ud_test_run("silu_and_mul", 2, kv, 4, "tolerance", &n);
    cr_assert_eq(hits, n, "%zu/%zu", hits, n);
}
