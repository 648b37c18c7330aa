/* test_rmsnorm_ref.c — the RMSNorm family's fast reference path (double-double) agrees with the
 * MPFR path: values to well under 0.01 output ulp and identical candidate sets, on random,
 * wide-dynamic-range, subnormal, constant, single-element and cancellation-free inputs. */
#include <criterion/criterion.h>
#include <math.h>

#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"

static void compare_paths(const char *op_name, const char *dtype, const char *hidden, const char *values,
                          const char *spec)
{
    const ud_op *op = ud_op_find(op_name);
    cr_assert_not_null(op);
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "dtype")] = dtype;
    s.vals[ud_param_index(op, "tokens")] = "3";
    s.vals[ud_param_index(op, "hidden")] = hidden;
    s.vals[ud_param_index(op, "values")] = values;
    s.vals[ud_param_index(op, "spec")] = spec;
    s.seeds = 2;
    ud_case *cases = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    for (size_t k = 0; k < n; k++) {
        ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
        cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
        cr_assert_eq(op->generate(&cases[k], in), UD_OK);
        /* inputs are not all zero (the test would be vacuous) */
        int nonzero = 0;
        for (size_t i = 0; i < in[0].numel && !nonzero; i++) nonzero = ud_get(in[0].dtype, in[0].host, i) != 0.0;
        cr_assert(nonzero, "%s: all-zero input", cases[k].label);
        int nout = out[1].host ? 2 : 1;
        ud_ref fast[2], exact[2];
        for (int o = 0; o < nout; o++) {
            cr_assert_eq(ud_ref_alloc(&fast[o], out[o].numel), UD_OK);
            cr_assert_eq(ud_ref_alloc(&exact[o], out[o].numel), UD_OK);
        }
        cr_assert_eq(op->reference(&cases[k], in, fast, 0), UD_OK);
        cr_assert_eq(op->reference(&cases[k], in, exact, 1), UD_OK);
        for (int o = 0; o < nout; o++) {
            ud_dtype t = out[o].dtype;
            for (size_t i = 0; i < out[o].numel; i++) {
                double a0 = fast[o].r0[i], b0 = exact[o].r0[i];
                double d = fabs(a0 - b0) / ud_ulp(t, b0);
                cr_assert(d < 1e-6, "%s %s[%zu]: fast %a vs mpfr %a = %g ulp", cases[k].label, out[o].name, i, a0, b0, d);
                int fast_two = fast[o].r1[i] != a0, exact_two = exact[o].r1[i] != b0;
                cr_assert_eq(fast_two, exact_two, "%s %s[%zu]: candidate sets differ", cases[k].label, out[o].name, i);
                if (fast_two) cr_assert(fabs(fast[o].r1[i] - exact[o].r1[i]) <= 1e-6 * ud_ulp(t, b0));
                cr_assert(fabs(fast[o].s[i] - exact[o].s[i]) <= 1e-9 * exact[o].s[i]);
            }
            ud_ref_free(&fast[o]);
            ud_ref_free(&exact[o]);
        }
        for (int j = 0; j < UD_MAX_TENSORS; j++) { ud_tensor_free(&in[j]); ud_tensor_free(&out[j]); }
    }
    free(cases);
}

Test(rmsnorm_reference, fast_path_matches_mpfr_on_random_rows)
{
    compare_paths("rmsnorm", "bf16, fp16, fp32", "1, 7, 255, 4096", "normal, uniform", "hf, flashinfer");
}

Test(rmsnorm_reference, fast_path_matches_mpfr_on_wide_dynamic_range)
{
    compare_paths("rmsnorm", "bf16, fp16, fp32", "17, 1000", "logu, rowscale, subnormal, const_rows", "hf");
}

Test(rmsnorm_reference, gemma_fast_path_matches_mpfr)
{
    compare_paths("rmsnorm_gemma", "bf16, fp16, fp32", "1, 129, 3000", "normal, rowscale, near_overflow", "hf");
}

Test(rmsnorm_reference, fused_add_fast_path_matches_mpfr_for_both_outputs)
{
    compare_paths("rmsnorm_fused_add", "bf16, fp16, fp32", "1, 64, 2049", "normal, rowscale, logu", "hf, flashinfer");
}

/* The candidate mechanism is live: on enough random bf16 rows some elements must carry two
 * candidates (a reference that never offers the second rounding would make budgets fail
 * falsely on correct kernels), and the two candidates are adjacent values of T times w. */
Test(rmsnorm_reference, offers_two_candidates_exactly_near_rounding_boundaries)
{
    const ud_op *op = ud_op_find("rmsnorm");
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "dtype")] = "bf16";
    s.vals[ud_param_index(op, "tokens")] = "64";
    s.vals[ud_param_index(op, "hidden")] = "4096";
    s.vals[ud_param_index(op, "values")] = "normal";
    ud_case *cases = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
    cr_assert_eq(ud_case_make_tensors(&cases[0], in, out), UD_OK);
    cr_assert_eq(op->generate(&cases[0], in), UD_OK);
    ud_ref ref;
    cr_assert_eq(ud_ref_alloc(&ref, out[0].numel), UD_OK);
    cr_assert_eq(op->reference(&cases[0], in, &ref, 0), UD_OK);
    size_t two = 0;
    for (size_t i = 0; i < ref.n; i++) {
        if (ref.r1[i] == ref.r0[i]) continue;
        two++;
        double w = ud_get(UD_BF16, in[1].host, i % 4096);
        double c0 = ref.r0[i] / w, c1 = ref.r1[i] / w;
        cr_assert_eq(llabs(ud_ordinal(UD_BF16, c0) - ud_ordinal(UD_BF16, c1)), 1, "candidates %a %a not adjacent", c0, c1);
    }
    /* K(4096) = 20.5 u on n; bf16 boundaries are 2^-8 apart relative: expect ~2*20.5*2^-24/2^-8
     * = 6e-4 of elements, i.e. ~160 of 262144. Zero would mean the mechanism is dead. */
    cr_assert(two > 20 && two < 2000, "%zu elements with two candidates", two);
    ud_ref_free(&ref);
    for (int j = 0; j < UD_MAX_TENSORS; j++) { ud_tensor_free(&in[j]); ud_tensor_free(&out[j]); }
    free(cases);
}
