/* test_gate_proj.c — the router gate projection: reference, budgets, routing-flip metric,
 * cpu backend and known-bug variants.
 *
 * Under test: reference/gate_proj.c (dgemm / Sum2 / MPFR paths, exact comparisons),
 * harness/core/routing.c (routing flips), gpu/gate_proj.h (TF32 rounding, error bounds),
 * gpu/gate_proj.c (cpu backend) and harness/ops/gate_proj.c (generators, budgets, the extra
 * hook). Against: MPFR, exact integer
 * arithmetic, an independent TF32 rounding written with round(), hand-built tokens whose
 * routing class is known, and summations of known worst-case error. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gate_proj.h"
#include "spec/gate_proj.h"
#include "harness/core/routing.h"
#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cli/post_checks.h"
#include "harness/cases/spec.h"
#include "harness/core/ulp.h"

static const ud_op *gate_op(void)
{
    const ud_op *op = ud_op_find("gate_proj");
    cr_assert_not_null(op, "gate_proj is not registered");
    return op;
}

/* Expands "name", "value", ..., NULL into cases (products of the lists); parameters not named
 * take one value each (the first mode, tokens and default lists otherwise). */
static size_t expand(const char *const *kv, ud_case **cases)
{
    const ud_op *op = gate_op();
    ud_spec s;
    ud_spec_init(&s, op);
    s.vals[ud_param_index(op, "mode")] = "fp32";
    s.vals[ud_param_index(op, "tokens")] = "3";
    s.vals[ud_param_index(op, "scoring")] = "softmax";
    s.vals[ud_param_index(op, "values")] = "normal";
    for (; kv[0]; kv += 2) s.vals[ud_param_index(op, kv[0])] = kv[1];
    size_t n = 0;
    char err[512];
    *cases = NULL;
    cr_assert_eq(ud_spec_expand(&s, cases, &n, err, sizeof err), 0, "%s", err);
    return n;
}

static void assert_not_all_zero(const ud_tensor *t, const char *label)
{
    int nonzero = 0;
    for (size_t i = 0; i < t->numel && !nonzero; i++) nonzero = ud_get(t->dtype, t->host, i) != 0.0;
    cr_assert(nonzero, "%s: %s is all zero (the test would be vacuous)", label, t->name);
}

static void free_tensors(ud_tensor *in, ud_tensor *out)
{
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&in[k]);
        ud_tensor_free(&out[k]);
    }
}

/* fast and MPFR references agree: logits within 2^-31 relative (< 0.01 ulp of fp32, the finest
 * output), exact zeros exact, scales within 2^-40. Returns the path counts of the fast one. */
static ref_gate_paths compare_paths(const ud_case *c, ud_tensor *in)
{
    ref_gate_args a = {c->p[ud_param_index(c->op, "tokens")].i, c->p[ud_param_index(c->op, "hidden")].i,
                       c->p[ud_param_index(c->op, "experts")].i, in[0].dtype, in[1].dtype,
                       strcmp(ud_case_choice(c, "mode"), "bf16") == 0, in[0].host, in[1].host};
    size_t n = (size_t)(a.tokens * a.experts);
    ud_ref fast, exact;
    cr_assert_eq(ud_ref_alloc(&fast, n), UD_OK);
    cr_assert_eq(ud_ref_alloc(&exact, n), UD_OK);
    ref_gate_paths paths = {0, 0, 0}, mp = {0, 0, 0};
    cr_assert_eq(ref_gate_logits(&a, &fast, 0, &paths), UD_OK);
    cr_assert_eq(ref_gate_logits(&a, &exact, 1, &mp), UD_OK);
    cr_assert_eq(paths.dgemm + paths.sum2 + paths.mpfr, n);
    cr_assert_eq(mp.mpfr, n);
    for (size_t i = 0; i < n; i++) {
        double f = fast.r0[i], m = exact.r0[i];
        if (m == 0.0) cr_assert_eq(f, 0.0, "%s [%zu]: exact 0, fast %a", c->label, i, f);
        cr_assert(fabs(f - m) <= 0x1p-31 * fabs(m), "%s [%zu]: fast %a vs mpfr %a", c->label, i, f, m);
        cr_assert(fabs(f - m) <= 0.01 * ud_ulp(UD_F32, m), "%s [%zu]: over 0.01 ulp", c->label, i);
        cr_assert_eq(fast.r1[i], f, "one candidate");
        cr_assert(fabs(fast.s[i] - exact.s[i]) <= 0x1p-40 * exact.s[i], "%s [%zu]: s %a vs %a", c->label, i,
                  fast.s[i], exact.s[i]);
        cr_assert(fabs(m) <= exact.s[i] * (1.0 + 0x1p-40), "|l| <= s");
    }
    ud_ref_free(&fast);
    ud_ref_free(&exact);
    return paths;
}

Test(gate_proj_reference, fast_path_agrees_with_mpfr_on_generated_data)
{
    static const char *const kv[] = {"mode", "fp32, bf16", "dtype", "bf16, fp32", "weight", "auto, fp32",
                                     "tokens", "6", "hidden", "1, 33, 1000", "experts", "24", "topk", "3",
                                     "values", "normal, router, nocancel, dup, zero_rows", NULL};
    ud_case *cases;
    size_t n = expand(kv, &cases);
    for (size_t k = 0; k < n; k++) {
        ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
        cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
        cr_assert_eq(gate_op()->generate(&cases[k], in), UD_OK);
        assert_not_all_zero(&in[0], cases[k].label);
        assert_not_all_zero(&in[1], cases[k].label);
        compare_paths(&cases[k], in);
        free_tensors(in, out);
    }
    free(cases);
}

/* Cancellation that dgemm cannot decide, residues that Sum2 cannot decide (exact zeros after
 * cancellation of huge terms) and a 2^±60 dynamic range: every path must be taken, and agree. */
Test(gate_proj_reference, fast_path_agrees_with_mpfr_on_adversarial_data)
{
    static const char *const kv[] = {"dtype", "fp32", "mode", "fp32", "tokens", "4", "hidden", "64", "experts", "6",
                                     "topk", "2", NULL};
    ud_case *cases;
    cr_assert_eq(expand(kv, &cases), 1);
    ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
    cr_assert_eq(ud_case_make_tensors(&cases[0], in, out), UD_OK);
    float *x = in[0].host, *w = in[1].host;
    const int H = 64;
    for (int t = 0; t < 4; t++)
        for (int j = 0; j < H / 2; j++) {
            /* pairs of equal activations over a wide range of magnitudes */
            float v = ldexpf(1.0f + (float)((t * 37 + j * 11) % 97) / 128.0f, (t == 3 ? 60 : 4) - (j * 7 % 9) * (t == 3 ? 15 : 1));
            x[t * H + 2 * j] = x[t * H + 2 * j + 1] = (j & 1) ? -v : v;
        }
    for (int e = 0; e < 6; e++)
        for (int j = 0; j < H / 2; j++) {
            float a = ldexpf(1.0f + (float)((e * 13 + j * 5) % 61) / 64.0f, (j * 5) % 11 - 5);
            float residue;
            switch (e) {
            case 0: residue = 0.0f; break;                                          /* exact 0 */
            case 1: residue = ldexpf(a, -23); break;                                /* one ulp */
            case 2: residue = (j & 1) ? ldexpf(a, -22) : -ldexpf(a, -22); break;    /* residues cancel too */
            case 3: residue = j == 5 ? ldexpf(a, -23) : 0.0f; break;               /* a single residue */
            case 4: residue = ldexpf(a, -10 - j % 13); break;
            default: residue = a; break;                                            /* no cancellation */
            }
            w[e * H + 2 * j] = a;
            w[e * H + 2 * j + 1] = -a + residue;       /* rounded to fp32: a small residue remains */
        }
    for (int e = 0; e < 6; e++) ((float *)in[2].host)[e] = 0.0f;
    assert_not_all_zero(&in[0], "adversarial");
    ref_gate_paths p = compare_paths(&cases[0], in);
    cr_assert_gt(p.dgemm, 0, "dgemm decided nothing");
    cr_assert_gt(p.sum2, 0, "no Sum2 fallback exercised");
    cr_assert_gt(p.mpfr, 0, "no MPFR fallback exercised");
    free_tensors(in, out);
    free(cases);
}

/* Integer data: the exact logit is an int64 sum; both paths must return it exactly. */
Test(gate_proj_reference, both_paths_exact_on_integer_data)
{
    static const char *const kv[] = {"dtype", "bf16", "weight", "fp32", "mode", "fp32", "tokens", "5",
                                     "hidden", "300", "experts", "7", "topk", "2", NULL};
    ud_case *cases;
    cr_assert_eq(expand(kv, &cases), 1);
    ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
    cr_assert_eq(ud_case_make_tensors(&cases[0], in, out), UD_OK);
    for (size_t i = 0; i < in[0].numel; i++) ud_set(UD_BF16, in[0].host, i, (double)((int)(i * 7919 % 257) - 128));
    for (size_t i = 0; i < in[1].numel; i++) ud_set(UD_F32, in[1].host, i, (double)((int64_t)(i * 104729 % 2097153) - 1048576));
    int64_t T = 5, H = 300, E = 7;
    for (int use_mpfr = 0; use_mpfr < 2; use_mpfr++) {
        ud_ref r;
        cr_assert_eq(ud_ref_alloc(&r, (size_t)(T * E)), UD_OK);
        cr_assert_eq(gate_op()->reference(&cases[0], in, &r, use_mpfr), UD_OK);
        for (int64_t t = 0; t < T; t++)
            for (int64_t e = 0; e < E; e++) {
                int64_t sum = 0, abs_sum = 0;
                for (int64_t h = 0; h < H; h++) {
                    int64_t p = (int64_t)ud_get(UD_BF16, in[0].host, (size_t)(t * H + h)) *
                                (int64_t)ud_get(UD_F32, in[1].host, (size_t)(e * H + h));
                    sum += p;
                    abs_sum += p < 0 ? -p : p;
                }
                cr_assert_eq(r.r0[t * E + e], (double)sum, "mpfr=%d [%lld,%lld]", use_mpfr, (long long)t, (long long)e);
                cr_assert_eq(r.s[t * E + e], (double)abs_sum);
            }
        ud_ref_free(&r);
    }
    free_tensors(in, out);
    free(cases);
}

/* ---- budgets ---- */

static ud_budget budget_of(const char *mode, const char *hidden)
{
    const char *const kv[] = {"mode", mode, "hidden", hidden, "tokens", "1", NULL};
    ud_case *cases;
    cr_assert_eq(expand(kv, &cases), 1);
    ud_budget b = gate_op()->budget(&cases[0], 0);
    free(cases);
    return b;
}

/* Recursive fp32 summation of 1 + n terms of 2^-24 (1 + 2^-10): every addition rounds up by
 * almost half an ulp, so the error reaches (1 - 2^-10) n u s — the order-independent bound is
 * attained, and the fp32 budget must not be tighter than gamma_n. Random data in six orders
 * (and OpenBLAS itself) must stay inside it too. */
Test(gate_proj_budget, fp32_bound_is_attained_and_holds_for_every_order)
{
    const int n = 2048;
    ud_budget b = budget_of("fp32", "2049");
    float acc = 1.0f;
    double exact = 1.0, s = 1.0, t = 0x1p-24 * (1.0 + 0x1p-10);
    for (int i = 0; i < n; i++) { acc += (float)t; exact += t; s += t; }
    double err = fabs((double)acc - exact), tol = ud_tolerance(UD_F32, exact, s, b);
    cr_assert(err > 0.99 * (double)n * 0x1p-24 * s, "the worst case was not reached: %g", err);
    cr_assert(err <= tol, "attained error %g exceeds the fp32 budget %g", err, tol);
    cr_assert(err > 0.98 * tol, "budget %g is far above the attainable %g: not the tight gamma_n", tol, err);

    enum { H = 1000 };
    static float xv[H], wv[H], p[H];
    ud_budget b2 = budget_of("fp32", "1000");
    for (int trial = 0; trial < 50; trial++) {
        double ex = 0.0, sc = 0.0;
        for (int h = 0; h < H; h++) {
            xv[h] = (float)(sin(trial * 1000.0 + h) * 3.0);
            wv[h] = (float)(cos(trial * 77.0 + 3.0 * h) / (1.0 + h % 17));
            p[h] = xv[h] * wv[h];
            ex += (double)xv[h] * wv[h];   /* not exact: compared below with a 2^-40 slack */
            sc += fabs((double)xv[h] * wv[h]);
        }
        float fwd = 0.0f, fma_fwd = 0.0f, rev = 0.0f, lanes[16] = {0};
        for (int h = 0; h < H; h++) { fwd += p[h]; fma_fwd = fmaf(xv[h], wv[h], fma_fwd); lanes[h % 16] += p[h]; }
        for (int h = H - 1; h >= 0; h--) rev += p[h];
        float blocked = 0.0f;
        for (int l = 0; l < 16; l++) blocked += lanes[l];
        for (int w = 1; w < H; w *= 2)   /* pairwise, in place */
            for (int h = 0; h + w < H; h += 2 * w) p[h] += p[h + w];
        float sums[] = {fwd, fma_fwd, rev, blocked, p[0]};
        for (int k = 0; k < 5; k++)
            cr_assert(fabs((double)sums[k] - ex) <= ud_tolerance(UD_F32, ex, sc, b2) + 0x1p-40 * sc,
                      "trial %d order %d: %a vs %a", trial, k, (double)sums[k], ex);
    }
}

Test(gate_proj_budget, modes_order_and_output_rounding)
{
    ud_budget f = budget_of("fp32", "4096"), t = budget_of("tf32", "4096"), h = budget_of("bf16", "4096");
    cr_assert_eq(f.u_w, 0x1p-24);
    cr_assert_eq(f.ulp, 0.0, "fp32 logits are the accumulator: no rounding after the sum");
    cr_assert_eq(t.ulp, 0.0);
    cr_assert_eq(h.ulp, 0.5, "bf16 logits: one correct rounding");
    cr_assert(f.scaled >= 4096.0 && f.scaled < 4097.1, "fp32: gamma_4096 / u plus the reference allowance: %g", f.scaled);
    cr_assert(h.scaled >= gate_fp32_dot_bound_u(4096), "tensor-core bound covers the cpu backend's sgemm");
    cr_assert(t.scaled > 32784.0 + h.scaled, "tf32 adds 2^-9 + 2^-20 of operand rounding");
    /* the catch the smoke corpus relies on: TF32's 0.89 x 2^-11 per product, all downwards
     * on nocancel data, exceeds the fp32 bound at the hidden 2048 and 4096 */
    cr_assert(0.888 * 0x1p-11 > budget_of("fp32", "4096").scaled * 0x1p-24);
}

/* ---- TF32 rounding ---- */

static float tf32_independent(float v)
{
    if (!isfinite(v) || v == 0.0f) return v;
    int e;
    frexp(fabs((double)v), &e);                 /* |v| in [2^(e-1), 2^e) */
    int E = e - 1 < -126 ? -126 : e - 1;       /* fp32's (and tf32's) exponent range */
    double q = ldexp(1.0, E - 10);              /* 10 stored mantissa bits */
    return (float)copysign(round(fabs((double)v) / q) * q, (double)v);   /* round(): ties away */
}

Test(gate_proj_tf32, rounds_to_nearest_ties_away_on_10_mantissa_bits)
{
    uint32_t edges[] = {0x3f800000u, 0x3f801000u, 0x3f800fffu, 0x3f803000u, 0x3f802000u, 0xbf801000u, 0x00001000u,
                        0x00000fffu, 0x00800000u, 0x007ff000u, 0x7f7fe000u, 0x7f7fefffu, 0x3fffffffu};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) {
        float v = ud_bits_f32(edges[k]);
        cr_assert_eq(ud_f32_bits(gate_tf32_round(v)), ud_f32_bits(tf32_independent(v)), "%08x", edges[k]);
    }
    cr_assert_eq(gate_tf32_round(ud_bits_f32(0x3f801000u)), ud_bits_f32(0x3f802000u), "a tie rounds away");
    cr_assert_eq(gate_tf32_round(ud_bits_f32(0xbf801000u)), ud_bits_f32(0xbf802000u), "away from zero for negatives");
    for (uint64_t i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)ud_rng_u64(7, 0, i);
        float v = ud_bits_f32(u);
        if (!isfinite(v) || !isfinite(tf32_independent(v))) continue;
        cr_assert_eq(ud_f32_bits(gate_tf32_round(v)), ud_f32_bits(tf32_independent(v)), "%08x", u);
    }
    cr_assert(isnan(gate_tf32_round(NAN)));
    cr_assert_eq(gate_tf32_round(INFINITY), INFINITY);
}

/* ---- routing flips ---- */

/* W = [[1, 0], [0, 1], [1/2, 1/2]]: l = [x0, x1, (x0 + x1) / 2], so each token's class is known. */
static void route_fixture(float *x, float *w, ref_gate_args *a)
{
    static const float xs[] = {3, 1, 1, 1, 1.0f + 0x1p-20f, 1, 5, 1};
    static const float ws[] = {1, 0, 0, 1, 0.5f, 0.5f};
    memcpy(x, xs, sizeof xs);
    memcpy(w, ws, sizeof ws);
    *a = (ref_gate_args){4, 2, 3, UD_F32, UD_F32, 0, x, w};
}

Test(gate_proj_routing, classifies_decidable_undecidable_and_tied_tokens)
{
    float x[8], w[6], bias[3] = {0, 0, 0};
    ref_gate_args a;
    route_fixture(x, w, &a);
    ud_ref ref;
    cr_assert_eq(ud_ref_alloc(&ref, 12), UD_OK);
    cr_assert_eq(ref_gate_logits(&a, &ref, 0, NULL), UD_OK);
    /* token 0: l = [3, 1, 2], kept; token 1: [1, 1, 1], an exact tie at every boundary;
     * token 2: [1 + 2^-20, 1, 1 + 2^-21], swapped within the bound; token 3: [5, 1, 3],
     * swapped although decidable. */
    double got[12] = {3, 1, 2, 1, 1, 1, 1, 1.5, 1, 1, 5, 3};
    double tol[12];
    for (int i = 0; i < 12; i++) tol[i] = 0x1p-20;
    ud_route_args r = {GATE_SCORE_SOFTMAX, 1, bias, got, tol};
    ud_route_stats st;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.tokens, 4);
    cr_assert_eq(st.ties, 1);
    cr_assert_eq(st.undecidable, 1);
    cr_assert_eq(st.decidable, 2);
    cr_assert_eq(st.flips, 1);
    cr_assert_eq(st.flips_all, 2, "the undecidable swap counts in flips_all only");
    cr_assert_eq(st.first_flip, 3);
    cr_assert_eq(st.first_in, 0);
    cr_assert_eq(st.first_out, 2);

    /* A kernel tie at the boundary leaves the set to tie-breaking: a flip. */
    got[9] = 3;
    got[10] = 3;
    got[11] = 3;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.flips, 1);
    got[9] = 5;
    got[10] = 1;
    got[11] = NAN;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.flips, 1, "a NaN logit is a flip");
    got[11] = 3;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.flips, 0);
    cr_assert_eq(st.flips_all, 1);

    /* top-3 of 3: nothing can flip, every token decidable (no tie: the set is everything). */
    r.topk = 3;
    got[10] = 100;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.decidable, 4);
    cr_assert_eq(st.flips_all, 0);
    ud_ref_free(&ref);
}

Test(gate_proj_routing, sigmoid_bias_selects_by_biased_score)
{
    float x[8], w[6], bias[3] = {0.0f, 0.9f, 0.0f};
    ref_gate_args a;
    route_fixture(x, w, &a);
    ud_ref ref;
    cr_assert_eq(ud_ref_alloc(&ref, 12), UD_OK);
    cr_assert_eq(ref_gate_logits(&a, &ref, 0, NULL), UD_OK);
    double got[12], tol[12];
    for (int i = 0; i < 12; i++) { got[i] = ref.r0[i]; tol[i] = 0x1p-20; }
    ud_route_args r = {GATE_SCORE_SIGMOID_BIAS, 1, bias, got, tol};
    ud_route_stats st;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    /* the bias makes expert 1 the top-1 of tokens 0 and 3 (sigmoid(1) + 0.9 > sigmoid(5));
     * token 1's logits tie but the biases differ: no tie, expert 1 wins by 0.9. */
    cr_assert_eq(st.ties, 0);
    cr_assert_eq(st.flips_all, 0, "exact logits cannot flip");
    /* expert 1's logit far too low on tokens 0 and 3: sigmoid(-30) + 0.9 falls below
     * sigmoid(3) and sigmoid(5), the runners-up (expert 0) */
    got[1] = -30;
    got[10] = -30;
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.flips, 2);
    cr_assert_eq(st.first_flip, 0);
    cr_assert_eq(st.first_in, 1);
    cr_assert_eq(st.first_out, 0);
    /* with equal biases token 1 is an exact tie again */
    bias[1] = 0.0f;
    got[1] = ref.r0[1];
    got[10] = ref.r0[10];
    cr_assert_eq(ud_route_flips(&a, &ref, &r, &st), UD_OK);
    cr_assert_eq(st.ties, 1);
    ud_ref_free(&ref);
}

/* ---- cpu backend and known-bug variants (mutant index m is GATE_BUG_* m) ---- */
_Static_assert(GATE_BUG_BF16_LOGITS == 1 && GATE_BUG_TF32_ON == 2, "mutant order");

Test(gate_proj_kernel, writes_every_logit_in_every_mode_and_variant)
{
    static const char *const kv[] = {"mode", "fp32, tf32, bf16", "dtype", "bf16, fp32", "weight", "auto, fp32, bf16",
                                     "tokens", "3", "hidden", "7", "experts", "5", "topk", "2", NULL};
    ud_case *cases;
    size_t n = expand(kv, &cases);
    for (size_t k = 0; k < n; k++)
        for (int m = 0; m <= gate_op()->nmutants; m++) {
            ud_tensor in[UD_MAX_TENSORS] = {0}, out[UD_MAX_TENSORS] = {0};
            cr_assert_eq(ud_case_make_tensors(&cases[k], in, out), UD_OK);
            cr_assert_eq(gate_op()->generate(&cases[k], in), UD_OK);
            ud_tensor_poison(&out[0]);
            cr_assert_eq(gate_op()->run_cpu(&cases[k], m, in, out), UD_OK);
            for (size_t i = 0; i < out[0].numel; i++) {
                double v = ud_get(out[0].dtype, out[0].host, i);
                cr_assert(isfinite(v), "%s mutant %d: logit %zu not written", cases[k].label, m, i);
                int mode = (int)cases[k].p[ud_param_index(gate_op(), "mode")].i;
                if (gate_path(mode, m) == GATE_MODE_BF16) cr_assert_eq(v, ud_round(UD_BF16, v), "bf16 logits");
            }
            free_tensors(in, out);
        }
    free(cases);
}

static int has_metric_over(const ud_result *r, const char *name)
{
    for (int i = 0; i < r->nmetrics; i++)
        if (strcmp(r->metrics[i].name, name) == 0) return r->metrics[i].value > r->metrics[i].budget;
    return 0;
}

static ud_finding_kind kind_named(const char *name)
{
    for (int k = 0; k < UD_F_KINDS; k++)
        if (strcmp(ud_finding_names[k], name) == 0) return (ud_finding_kind)k;
    cr_assert_fail("no finding kind '%s'", name);
    return UD_F_KINDS;
}

/* Production passes the default sweep; each variant is caught there by its designed mechanism
 * and with the finding it declares: bf16_logits by routing flips on router data and by
 * tolerance, tf32_on by tolerance, the cache variants (production kernels, a known-bug cache
 * key) by the cache scenarios `run` adds for cached operators, as `cache-stale`. */
Test(gate_proj_kernel, default_sweep_catches_every_variant_and_passes_production)
{
    const ud_op *op = gate_op();
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_attach_post_checks(&o);   /* the cache scenarios, as `run` and `mutants` attach them */
    for (int m = 0; m <= op->nmutants; m++) {
        ud_spec s;
        ud_spec_init(&s, op);
        s.mutant = m;
        ud_finding_kind want = m > 0 ? kind_named(op->mutants[m - 1].expect) : UD_F_KINDS;
        if (want == UD_F_CACHE_STALE) {
            /* The cache exists where an fp32 router keeps an fp32 copy of a bf16-stored weight. */
            s.vals[ud_param_index(op, "mode")] = "fp32";
            s.vals[ud_param_index(op, "weight")] = "bf16";
        }
        ud_case *cases = NULL;
        size_t n = 0;
        char err[512];
        cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
        size_t hits = 0, flip_hits = 0;
        for (size_t k = 0; k < n; k++) {
            ud_result *r = malloc(sizeof *r);
            cr_assert_not_null(r);
            cr_assert_eq(ud_run_case(&cases[k], &o, r), UD_OK);
            if (m == 0) cr_assert_eq(r->nfindings, 0, "%s: %s", r->c.label, r->nfindings ? r->findings[0].msg : "");
            if (m > 0) hits += ud_result_has(r, want);
            flip_hits += has_metric_over(r, "route_flips");
            if (m == 0) cr_assert(!has_metric_over(r, "route_flips"));
            free(r);
        }
        if (m > 0) cr_assert_gt(hits, 0, "%s survived (no %s finding)", op->mutants[m - 1].name, op->mutants[m - 1].expect);
        if (m == 1) cr_assert_gt(flip_hits, 0, "bf16 logits flip no decidable token");
        free(cases);
    }
}
