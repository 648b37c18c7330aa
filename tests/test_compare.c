/* test_compare.c — the comparison loop: the tolerance rule accepts correct roundings (and either
 * candidate), rejects a one-ulp error, and reports NaN/Inf mismatches and unwritten (poisoned)
 * outputs as their own findings; statistics are those of the data. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/core/ulp.h"

static const ud_op dummy_op = {.name = "dummy"};

static void setup(ud_tensor *out, ud_ref *ref, size_t n, ud_dtype t)
{
    int64_t shape[1] = {(int64_t)n};
    cr_assert_eq(ud_tensor_alloc(out, "y", t, 1, shape), UD_OK);
    cr_assert_eq(ud_ref_alloc(ref, n), UD_OK);
}

static ud_out_stats compare(ud_tensor *out, ud_ref *ref, ud_budget b)
{
    ud_case c;
    memset(&c, 0, sizeof c);
    c.op = &dummy_op;
    ud_out_stats st;
    cr_assert_eq(ud_compare_output(out, ref, b, &c, NULL, 0, &st), UD_OK);
    return st;
}

Test(compare, correct_rounding_passes_and_neighbour_fails)
{
    ud_tensor out;
    ud_ref ref;
    setup(&out, &ref, 4, UD_BF16);
    double r = 1.00390625 - 0x1p-12;   /* between bf16 1.0 and 1.0078125: nearer 1.0 */
    for (int i = 0; i < 4; i++) { ref.r0[i] = ref.r1[i] = r; ref.s[i] = r; }
    ud_set(UD_BF16, out.host, 0, ud_round(UD_BF16, r));
    ud_set(UD_BF16, out.host, 1, ud_round(UD_BF16, r));
    ud_set(UD_BF16, out.host, 2, 1.0078125);     /* the other neighbour: 0.5+ ulp */
    ud_set(UD_BF16, out.host, 3, ud_round(UD_BF16, r));
    ud_budget b = {0.5, 0.0, 0x1p-24};
    ud_out_stats st = compare(&out, &ref, b);
    cr_assert_eq(st.n_over, 1);
    cr_assert_eq(st.worst_index, 2);
    cr_assert_gt(st.max_ulp, 0.5);
    cr_assert_eq(st.max_lattice, 1);
    /* with the second candidate set, the neighbour becomes acceptable */
    ref.r1[2] = 1.0078125;
    st = compare(&out, &ref, b);
    cr_assert_eq(st.n_over, 0);
    ud_tensor_free(&out);
    ud_ref_free(&ref);
}

Test(compare, scaled_budget_covers_working_precision_noise_only)
{
    ud_tensor out;
    ud_ref ref;
    setup(&out, &ref, 2, UD_F32);
    /* cancellation: r = 1e-6 with condition scale 1: fp32 noise of 8 u_w*s is ~4.8e-7 */
    for (int i = 0; i < 2; i++) { ref.r0[i] = ref.r1[i] = 1e-6; ref.s[i] = 1.0; }
    ud_set(UD_F32, out.host, 0, 1e-6 + 4.0 * 0x1p-24);   /* 4 u_w*s away: passes with scaled 8 */
    ud_set(UD_F32, out.host, 1, 1e-6 + 16.0 * 0x1p-24);  /* 16 u_w*s: fails */
    ud_budget b = {0.5, 8.0, 0x1p-24};
    ud_out_stats st = compare(&out, &ref, b);
    cr_assert_eq(st.n_over, 1);
    cr_assert_eq(st.worst_index, 1);
    cr_assert(st.max_scaled > 15.0 && st.max_scaled < 17.0, "%g", st.max_scaled);
    ud_tensor_free(&out);
    ud_ref_free(&ref);
}

/* The band a plain OR rule (ulp_err <= b OR scaled_err <= b) gets wrong: a correctly computed bf16 value whose fp32
 * intermediate landed across a rounding boundary under moderate cancellation. */
Test(compare, sum_rule_accepts_correct_result_that_or_rule_rejects)
{
    ud_tensor out;
    ud_ref ref;
    setup(&out, &ref, 1, UD_BF16);
    double r = 1.0 + 0x1p-8 - 0x1p-13;          /* just below the bf16 midpoint 1 + 2^-8 */
    double s = 1024.0;                          /* |r|/s ~ 2^-10: moderate cancellation */
    ref.r0[0] = ref.r1[0] = r;
    ref.s[0] = s;
    /* fp32 noise of 4 u_w*s = 2^-12 pushes z above the midpoint: RN gives 1 + 2^-7 */
    ud_set(UD_BF16, out.host, 0, 1.0078125);
    ud_budget b = {0.5, 8.0, 0x1p-24};
    double e = fabs(1.0078125 - r);
    cr_assert_gt(e / ud_ulp(UD_BF16, r), 0.5, "fails ulp <= 0.5");
    cr_assert_gt(e / (b.u_w * s), 8.0, "fails scaled <= 8");
    ud_out_stats st = compare(&out, &ref, b);
    cr_assert_eq(st.n_over, 0, "the sum rule accepts it");
    ud_tensor_free(&out);
    ud_ref_free(&ref);
}

Test(compare, nan_inf_mismatch_and_unwritten_are_separate_findings)
{
    ud_tensor out;
    ud_ref ref;
    setup(&out, &ref, 5, UD_F16);
    for (int i = 0; i < 5; i++) { ref.r0[i] = ref.r1[i] = 3.0; ref.s[i] = 3.0; }
    ref.r0[3] = ref.r1[3] = 65520.0;            /* rounds to Inf in fp16 */
    ref.r0[4] = ref.r1[4] = NAN;
    ud_set(UD_F16, out.host, 0, 3.0);
    ud_set(UD_F16, out.host, 1, NAN);           /* NaN where finite expected */
    ud_set_bits(UD_F16, out.host, 2, ud_poison_bits(UD_F16));   /* never written */
    ud_set(UD_F16, out.host, 3, INFINITY);      /* correct overflow: 0.5 ulp */
    ud_set(UD_F16, out.host, 4, NAN);           /* NaN expected and produced */
    ud_budget b = {0.5, 0.0, 0x1p-24};
    ud_out_stats st = compare(&out, &ref, b);
    cr_assert_eq(st.n_nan_mismatch, 1);
    cr_assert_eq(st.n_unwritten, 1);
    cr_assert_eq(st.n_over, 0);
    cr_assert_float_eq(st.max_ulp, 0.5, 1e-12);
    ud_result res;
    memset(&res, 0, sizeof res);
    res.nout = 1;
    res.out[0] = st;
    ud_findings_from_stats(&res);
    cr_assert(ud_result_has(&res, UD_F_NAN_MISMATCH));
    cr_assert(ud_result_has(&res, UD_F_UNWRITTEN));
    ud_tensor_free(&out);
    ud_ref_free(&ref);
}

Test(compare, statistics_match_the_data)
{
    ud_tensor out;
    ud_ref ref;
    setup(&out, &ref, 1000, UD_F32);
    /* element i is off by i/1000 * 4 ulp (exactly representable steps of 2^-23 at 1.0 .. 2.0) */
    for (int i = 0; i < 1000; i++) {
        ref.r0[i] = ref.r1[i] = 1.5;
        ref.s[i] = 1.5;
        ud_set(UD_F32, out.host, (size_t)i, 1.5 + (double)(i % 5) * 0x1p-23);
    }
    ud_budget b = {0.5, 0.0, 0x1p-24};
    ud_out_stats st = compare(&out, &ref, b);
    cr_assert_float_eq(st.max_ulp, 4.0, 1e-9);
    cr_assert_float_eq(st.mean_ulp, 2.0, 1e-9);
    cr_assert_float_eq(st.p50, 2.0, 1e-9);
    cr_assert_eq(st.n_over, 800);
    cr_assert_eq(st.hist[0], 200);   /* exact */
    ud_tensor_free(&out);
    ud_ref_free(&ref);
}

/* `bit for bit` (--repeat, --cross-check, the gpu bit-agreement tests): every value's bits,
 * except that two NaNs agree whatever their payload (x86 makes 0xFFC00000, CUDA 0x7FFFFFFF),
 * unless one is the poison an unwritten element still holds. */
Test(bitwise_diff, nan_payloads_agree_but_values_and_poison_do_not)
{
    int64_t shape[1] = {5};
    ud_tensor a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    cr_assert_eq(ud_tensor_alloc(&a, "out", UD_F32, 1, shape), UD_OK);
    cr_assert_eq(ud_tensor_alloc(&b, "out", UD_F32, 1, shape), UD_OK);
    const uint64_t va[5] = {0x3f800000u, 0xffc00000u, 0x40000000u, 0x40400000u, 0x7f800000u};
    const uint64_t vb[5] = {0x3f800000u, 0x7fffffffu, 0x40000000u, 0x40400001u, 0x7f800000u};
    for (size_t i = 0; i < 5; i++) {
        ud_set_bits(UD_F32, a.host, i, va[i]);
        ud_set_bits(UD_F32, b.host, i, vb[i]);
    }
    size_t first;
    cr_assert_eq(ud_tensor_bitwise_diff(&a, &b, &first), 1, "one ulp apart at [3]; the NaNs at [1] agree");
    cr_assert_eq(first, 3);
    ud_set_bits(UD_F32, b.host, 1, ud_poison_bits(UD_F32));   /* [1] never written on one side */
    cr_assert_eq(ud_tensor_bitwise_diff(&a, &b, &first), 2);
    cr_assert_eq(first, 1);
    ud_set_bits(UD_F32, b.host, 4, 0xff800000u);                /* +Inf vs -Inf */
    cr_assert_eq(ud_tensor_bitwise_diff(&a, &b, &first), 3);
    memcpy(b.host, a.host, ud_tensor_bytes(&a));
    cr_assert_eq(ud_tensor_bitwise_diff(&a, &b, &first), 0);
    cr_assert_eq(first, (size_t)-1);
    ud_tensor_free(&a);
    ud_tensor_free(&b);
}
