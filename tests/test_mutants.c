/* test_mutants.c — mutation scoring (harness/exec/mutants.h): the (case x variant) matrix, and
 * the score: a variant is caught only by its expected finding, production must have none, and
 * a case that could not run counts as an error. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/exec/mutants.h"

static ud_case case_of(const char *op_name, uint64_t seed)
{
    ud_case c;
    memset(&c, 0, sizeof c);
    c.op = ud_op_find(op_name);
    cr_assert_not_null(c.op);
    c.seed = seed;
    ud_case_format_label(&c);
    return c;
}

/* The index of the variant of op that `expect`s this finding, and one that expects another. */
static int variant_expecting(const ud_op *op, const char *expect, int same)
{
    for (int m = 1; m <= op->nmutants; m++)
        if ((strcmp(op->mutants[m - 1].expect, expect) == 0) == same) return m;
    return 0;
}

Test(mutants, matrix_is_production_then_each_variant_over_the_operator_cases)
{
    ud_case base[3] = {case_of("rmsnorm", 1), case_of("layernorm", 2), case_of("rmsnorm", 3)};
    const ud_op *rms = ud_op_find("rmsnorm");
    ud_case *all;
    size_t n;
    cr_assert_eq(ud_mutants_matrix(base, 3, rms, &all, &n), UD_OK);
    cr_assert_eq(n, 2 * (size_t)(rms->nmutants + 1));
    for (size_t k = 0; k < n; k++) {
        cr_expect_eq(all[k].op, rms);
        cr_expect_eq(all[k].mutant, (int)(k / 2), "row %zu", k);
        cr_expect_eq(all[k].seed, k % 2 ? 3 : 1, "cases in corpus order within a variant");
    }
    cr_expect(strstr(all[2].label, rms->mutants[0].name) != NULL, "labels name the variant: %s", all[2].label);
    free(all);
    cr_assert_eq(ud_mutants_matrix(base, 3, NULL, &all, &n), UD_OK);
    const ud_op *ln = ud_op_find("layernorm");
    cr_expect_eq(n, 2 * (size_t)(rms->nmutants + 1) + (size_t)(ln->nmutants + 1), "every operator of the cases");
    free(all);
}

/* Results for a matrix: no finding anywhere unless set. */
typedef struct {
    ud_case *all;
    size_t n;
    ud_result *res;
    int *status;
} fixture;

static fixture make(const char *op_name)
{
    fixture f;
    ud_case base[2] = {case_of(op_name, 1), case_of(op_name, 2)};
    cr_assert_eq(ud_mutants_matrix(base, 2, ud_op_find(op_name), &f.all, &f.n), UD_OK);
    f.res = calloc(f.n, sizeof *f.res);
    f.status = calloc(f.n, sizeof *f.status);
    cr_assert(f.res && f.status);
    for (size_t k = 0; k < f.n; k++) f.res[k].c = f.all[k];
    return f;
}

static void drop(fixture *f)
{
    free(f->all);
    free(f->res);
    free(f->status);
}

/* Row r of variant m (0-based r among its two cases). */
static ud_result *row(fixture *f, int m, int r) { return &f->res[2 * (size_t)m + (size_t)r]; }

Test(mutants, a_variant_is_caught_only_by_its_expected_finding)
{
    fixture f = make("rmsnorm");
    const ud_op *op = f.all[0].op;
    int tol = variant_expecting(op, "tolerance", 1), other = variant_expecting(op, "tolerance", 0);
    cr_assert(tol > 0, "rmsnorm has a variant caught by tolerance");
    /* Every variant shows its expected finding in its second case, except `tol`, which shows a
     * nan-mismatch instead (another kind: not caught), unless `other` expects exactly that. */
    for (int m = 1; m <= op->nmutants; m++) {
        ud_finding_kind k = UD_F_TOLERANCE;
        for (int j = 0; j < UD_F_KINDS; j++)
            if (strcmp(ud_finding_names[j], op->mutants[m - 1].expect) == 0) k = (ud_finding_kind)j;
        ud_result_add_finding(row(&f, m, 1), m == tol ? UD_F_NAN_MISMATCH : k, "finding");
    }
    ud_mutation_score s;
    cr_assert_eq(ud_mutants_score(f.all, f.res, f.status, f.n, &s), UD_OK);
    cr_assert_eq(s.nv, (size_t)op->nmutants + 1);
    cr_expect_eq(s.total, op->nmutants);
    int nan_expected = other && strcmp(op->mutants[other - 1].expect, "nan-mismatch") == 0 && other == tol;
    cr_expect_eq(s.caught, op->nmutants - 1 + nan_expected, "all but the variant that showed another finding");
    cr_expect_eq(s.prod_fail, 0);
    const ud_variant_score *v = &s.v[tol];
    cr_expect_eq(v->mutant, tol);
    cr_expect_eq(v->hits, 0);
    cr_expect_eq(v->failed, 1);
    cr_expect_eq(v->other[UD_F_NAN_MISMATCH], 1, "the finding it showed instead is counted");
    cr_expect_null(v->first_hit);
    cr_expect_eq(v->first_fail, row(&f, tol, 1));
    cr_expect_not(ud_mutation_passed(&s));
    ud_mutation_score_free(&s);
    /* shown its own finding, the variant is caught and the score passes */
    ud_result_add_finding(row(&f, tol, 0), UD_F_TOLERANCE, "finding");
    cr_assert_eq(ud_mutants_score(f.all, f.res, f.status, f.n, &s), UD_OK);
    cr_expect_eq(s.caught, s.total);
    cr_expect_eq(s.v[tol].hits, 1);
    cr_expect_eq(s.v[tol].first_hit, row(&f, tol, 0));
    cr_expect(ud_mutation_passed(&s));
    ud_mutation_score_free(&s);
    drop(&f);
}

Test(mutants, production_with_a_finding_fails_the_score_and_errors_are_counted)
{
    fixture f = make("rmsnorm");
    const ud_op *op = f.all[0].op;
    for (int m = 1; m <= op->nmutants; m++) {
        ud_finding_kind k = UD_F_TOLERANCE;
        for (int j = 0; j < UD_F_KINDS; j++)
            if (strcmp(ud_finding_names[j], op->mutants[m - 1].expect) == 0) k = (ud_finding_kind)j;
        ud_result_add_finding(row(&f, m, 0), k, "finding");
    }
    ud_mutation_score s;
    cr_assert_eq(ud_mutants_score(f.all, f.res, f.status, f.n, &s), UD_OK);
    cr_expect(ud_mutation_passed(&s), "every variant caught, production clean");
    cr_expect_eq(s.errors, 0);
    ud_mutation_score_free(&s);
    ud_result_add_finding(row(&f, 0, 1), UD_F_TOLERANCE, "production over budget");
    f.status[2 * 1 + 1] = UD_EINTERNAL;
    cr_assert_eq(ud_mutants_score(f.all, f.res, f.status, f.n, &s), UD_OK);
    cr_expect_eq(s.prod_fail, 1);
    cr_expect_eq(s.v[0].failed, 1);
    cr_expect_eq(s.v[0].first_fail, row(&f, 0, 1));
    cr_expect_eq(s.errors, 1);
    cr_expect_eq(s.v[1].errors, 1);
    cr_expect_not(ud_mutation_passed(&s));
    ud_mutation_score_free(&s);
    drop(&f);
}
