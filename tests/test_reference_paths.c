/* test_reference_paths.c — one generic property for every registered operator, instead of a
 * copy per operator: the reference's fast path (double, double-double, dgemm) gives the same
 * exact values as its MPFR path, to well under 0.01 ulp of the output format, on the cases of
 * the smoke corpus (cases/smoke: edge shapes, every value generator the operator uses, the
 * adversarial rows each operator's cases carry). Candidates r0 and r1 are both compared; a
 * NaN/Inf must be the same special on both paths; the condition scale, a bound and not an exact
 * value, must agree to 1e-6 relative. Runs from the source directory (ctest sets it). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cases/casefile.h"
#include "harness/core/ulp.h"
#include "harness/exec/run.h"
#include "harness/ops/registry.h"
#include "numerics/status.h"

#define PER_OP 16               /* cases of each operator, spread over its smoke file */
#define MAX_ELEMS 20000         /* output elements of a case: MPFR is slow */

static double gap_ulp(ud_dtype t, double fast, double exact)
{
    if (isnan(exact) || isnan(fast)) return isnan(exact) == isnan(fast) ? 0.0 : INFINITY;
    if (isinf(exact) || isinf(fast)) return fast == exact ? 0.0 : INFINITY;
    return fabs(fast - exact) / ud_ulp(t, exact);
}

/* Worst gap of the case's outputs; *checked gets the number of elements compared. */
static double case_gap(const ud_case *c, size_t *checked)
{
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    ud_ref fast[UD_MAX_TENSORS], exact[UD_MAX_TENSORS];
    memset(fast, 0, sizeof fast);
    memset(exact, 0, sizeof exact);
    cr_assert_eq(ud_case_make_tensors(c, in, out), UD_OK, "%s", c->label);
    cr_assert_eq(c->op->generate(c, in), UD_OK, "%s", c->label);
    int nout = ud_case_noutputs(c);
    for (int k = 0; k < nout; k++) {
        cr_assert_eq(ud_ref_alloc(&fast[k], out[k].numel), UD_OK);
        cr_assert_eq(ud_ref_alloc(&exact[k], out[k].numel), UD_OK);
    }
    cr_assert_eq(c->op->reference(c, in, fast, 0), UD_OK, "%s: fast path", c->label);
    cr_assert_eq(c->op->reference(c, in, exact, 1), UD_OK, "%s: MPFR path", c->label);
    double worst = 0.0;
    for (int k = 0; k < nout; k++)
        for (size_t i = 0; i < out[k].numel; i++) {
            double g = fmax(gap_ulp(out[k].dtype, fast[k].r0[i], exact[k].r0[i]),
                            gap_ulp(out[k].dtype, fast[k].r1[i], exact[k].r1[i]));
            cr_assert(g <= 0.01, "%s: output %s[%zu]: fast path %a vs MPFR %a (candidates %a / %a): %.3g ulp apart",
                      c->label, out[k].name, i, fast[k].r0[i], exact[k].r0[i], fast[k].r1[i], exact[k].r1[i], g);
            double s = fast[k].s[i], t = exact[k].s[i];
            cr_assert(s == t || fabs(s - t) <= 1e-6 * fmax(fabs(s), fabs(t)) || (isnan(s) && isnan(t)),
                      "%s: output %s[%zu]: condition scale %a (fast) vs %a (MPFR)", c->label, out[k].name, i, s, t);
            worst = fmax(worst, g);
            (*checked)++;
        }
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&in[k]);
        ud_tensor_free(&out[k]);
        ud_ref_free(&fast[k]);
        ud_ref_free(&exact[k]);
    }
    return worst;
}

static size_t out_elems(const ud_case *c)
{
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    if (c->op->shapes(c, in, out) != UD_OK) return (size_t)-1;
    size_t n = 0;
    for (int k = 0; k < ud_case_noutputs(c); k++) n += out[k].numel;
    return n;
}

Test(reference_paths, fast_path_agrees_with_mpfr_for_every_operator, .timeout = 240)
{
    char *smoke[] = {"cases/smoke"};
    ud_corpus corp;
    ud_corpus_init(&corp);
    cr_assert_eq(ud_corpus_load(&corp, smoke, 1, stderr), 0);
    ud_case *cases = NULL;
    size_t n = 0;
    cr_assert_eq(ud_corpus_expand(&corp, &cases, &n, stderr), 0);
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        size_t mine = 0, small = 0;
        for (size_t k = 0; k < n; k++)
            if (cases[k].op == op && cases[k].mutant == 0) {
                mine++;
                small += out_elems(&cases[k]) <= MAX_ELEMS;
            }
        cr_assert_gt(small, 0, "%s: no smoke case small enough for the MPFR path (%zu cases)", op->name, mine);
        size_t step = small / PER_OP + 1, seen = 0, ran = 0, checked = 0;
        double worst = 0.0;
        for (size_t k = 0; k < n; k++) {
            if (cases[k].op != op || cases[k].mutant != 0 || out_elems(&cases[k]) > MAX_ELEMS) continue;
            if (seen++ % step) continue;
            worst = fmax(worst, case_gap(&cases[k], &checked));
            ran++;
        }
        cr_log_info("%s: %zu cases, %zu elements: fast path within %.3g ulp of MPFR", op->name, ran, checked, worst);
        cr_assert_gt(checked, 0, "%s", op->name);
    }
    free(cases);
    ud_corpus_free(&corp);
}
