/* test_casefile.c — case files, shards, reproducers and shrinking.
 *
 * Under test: harness/cases/casefile.c (INI -> specs -> cases, every error with file:line and a
 * suggestion), harness/cases/spec.c (expansion, ranges), harness/exec/jobs.c (shard selection),
 * harness/exec/shrink.c (greedy shrinking, reproducer text). Each test names the requirement it
 * guards (docs/cases.md). Parser texts are written so that the line each error must name is
 * known by construction; the expected line numbers are literals, never computed by the code
 * under test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cases/casefile.h"
#include "numerics/status.h"
#include "harness/exec/jobs.h"
#include "harness/ops/registry.h"
#include "harness/exec/shrink.h"

/* Parses text as file "t.ini"; returns the error count, *msgs the messages (caller frees). */
static int parse(const char *text, ud_corpus *c, char **msgs)
{
    size_t len = 0;
    FILE *err = open_memstream(msgs, &len);
    cr_assert(err);
    ud_corpus_init(c);
    int n = ud_casefile_parse_text(c, "t.ini", text, err);
    fclose(err);
    return n;
}

/* Parse + expand; returns total errors. */
static int load(const char *text, ud_corpus *c, ud_case **cases, size_t *n, char **msgs)
{
    size_t len = 0;
    FILE *err = open_memstream(msgs, &len);
    cr_assert(err);
    ud_corpus_init(c);
    *cases = NULL;
    *n = 0;
    int e = ud_casefile_parse_text(c, "t.ini", text, err);
    if (!e) e = ud_corpus_expand(c, cases, n, err);
    fclose(err);
    return e;
}

static void expect_error(const char *text, const char *where, const char *needle)
{
    ud_corpus c;
    ud_case *cases;
    size_t n;
    char *msgs = NULL;
    int e = load(text, &c, &cases, &n, &msgs);
    cr_expect(e > 0, "no error for:\n%s", text);
    cr_expect(strstr(msgs, where) == msgs || strstr(msgs, where) != NULL, "expected '%s' in: %s", where, msgs);
    cr_expect(strncmp(msgs, where, strlen(where)) == 0, "the first error must start with '%s': %s", where, msgs);
    if (needle) cr_expect(strstr(msgs, needle) != NULL, "expected '%s' in: %s", needle, msgs);
    free(msgs);
    free(cases);
    ud_corpus_free(&c);
}

Test(casefile, a_valid_section_expands_to_the_product_of_its_lists)
{
    const char *t = "# comment\n"
                    "[a]\n"
                    "op = rmsnorm\n"
                    "dtype = bf16, fp32\n"
                    "tokens = 1, 3, 5\n"
                    "hidden = 16\n"
                    "values = normal\n"
                    "seeds = 2\n";
    ud_corpus c;
    ud_case *cases;
    size_t n;
    char *msgs = NULL;
    cr_assert_eq(load(t, &c, &cases, &n, &msgs), 0, "%s", msgs);
    cr_assert_eq(n, 2u * 3u * 2u);
    int seen_seed2 = 0;
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(cases[i].op->name, "rmsnorm");
        cr_expect_str_eq(cases[i].file, "t.ini");
        cr_expect_eq(cases[i].line, 2, "a case points at its section line");
        cr_expect_eq(ud_case_int(&cases[i], "hidden"), 16);
        seen_seed2 |= cases[i].seed == 2;
    }
    cr_expect(seen_seed2);
    free(msgs);
    free(cases);
    ud_corpus_free(&c);
}

Test(casefile, budgets_seed_mutant_and_continuation_lines_are_read)
{
    const char *t = "[a]\n"
                    "op = rmsnorm_fused_add\n"
                    "budget.bf16 = 0.75\n"
                    "scaled_budget = 8\n"
                    "seed = 41\n"
                    "mutant = rmsnorm_fused_add.pre_add_residual\n"
                    "hidden = 1,\n"
                    "   2, 3   ; an inline comment\n"
                    "tokens = 2  # another comment style\n"
                    "dtype = bf16\n"
                    "values = normal\n";
    ud_corpus c;
    ud_case *cases;
    size_t n;
    char *msgs = NULL;
    cr_assert_eq(load(t, &c, &cases, &n, &msgs), 0, "%s", msgs);
    cr_assert_eq(n, 3u, "hidden continues on the indented line: 1, 2, 3");
    cr_expect_eq(cases[2].p[ud_param_index(cases[2].op, "hidden")].i, 3);
    cr_expect_eq(cases[0].budget_ulp[UD_BF16], 0.75);
    cr_expect(isnan(cases[0].budget_ulp[UD_F16]), "other dtypes keep the operator's budget");
    cr_expect_eq(cases[0].budget_scaled, 8.0);
    cr_expect_eq(cases[0].seed, 41u);
    const ud_op *op = NULL;
    int want = 0;
    cr_assert_eq(ud_mutant_find("rmsnorm_fused_add.pre_add_residual", &op, &want), 0);
    cr_expect_eq(cases[0].mutant, want);
    cr_expect(strstr(cases[0].label, "pre_add_residual") != NULL);
    free(msgs);
    free(cases);
    ud_corpus_free(&c);
}

Test(casefile, errors_name_the_line_of_the_offending_key)
{
    expect_error("[a]\nop = rmsnorm\nhiden = 4\n", "t.ini:3:", "did you mean 'hidden'");
    expect_error("\n\n[a]\nop = rmsnrom\n", "t.ini:4:", "did you mean 'rmsnorm'");
    expect_error("[a]\nop = rmsnorm\n\n\ndtype = bf61\n", "t.ini:5:", "did you mean 'bf16'");
    expect_error("[a]\nop = rmsnorm\ntokens = 1\ntokens = 2\n", "t.ini:4:", "first set on line 3");
    expect_error("op = rmsnorm\n[a]\n", "t.ini:1:", "outside a section");
    expect_error("[a]\nop = rmsnorm\n[b]\ndtype = bf16\n", "t.ini:3:", "no 'op = ...'");
    expect_error("[a]\nop = rmsnorm\nthis line has no equals sign\n", "t.ini:3:", "syntax error");
    expect_error("[a]\n  op = rmsnorm\n  dtype = bf16\n", "t.ini:3:", "do not indent keys");
    expect_error("[a]\nop = rmsnorm\nbudget.bf61 = 1\n", "t.ini:3:", "did you mean budget.bf16");
    expect_error("[a]\nop = rmsnorm\nbudget.bf16 = -1\n", "t.ini:3:", "non-negative");
    expect_error("[a]\nop = rmsnorm\nseeds = 0\n", "t.ini:3:", "1..100000");
    expect_error("[a]\nop = rmsnorm\nmutant = eps_befor_sqrt\n", "t.ini:3:", "did you mean 'eps_after_sqrt'");
    expect_error("[a]\nop = rmsnorm\nseed = 1\n[a]\nop = rmsnorm\n", "t.ini:4:", "duplicate section");
    expect_error("", "t.ini:1:", "no cases");
}

Test(casefile, bad_values_name_the_line_of_the_value)
{
    expect_error("[a]\nop = rmsnorm\ndtype = bf16\ntokens = 1, x\n", "t.ini:4:", "not an integer");
    expect_error("[a]\nop = rmsnorm\n# c\nhidden = 0\n", "t.ini:4:", "outside the allowed range");
    expect_error("[a]\nop = rmsnorm\n\nhidden = 9..3\n", "t.ini:4:", "lo <= hi");
    expect_error("[a]\nop = rmsnorm\neps = 1e-6x\n", "t.ini:3:", "finite number");
    expect_error("[a]\nop = rmsnorm\nspec = flashinfr\n", "t.ini:3:", "did you mean 'flashinfer'");
}

Test(casefile, impossible_and_oversized_shapes_are_rejected_at_their_section)
{
    /* rmsnorm_gemma has a single spec: an impossible combination, caught by the op's validate. */
    expect_error("[x]\nop = rmsnorm\n\n[g]\nop = rmsnorm_gemma\nspec = flashinfer\n", "t.ini:4:", "gemma");
    /* 1e6 x 262144 elements: more than the tool allocates. */
    expect_error("[big]\nop = rmsnorm\ntokens = 1000000\nhidden = 262144\n", "t.ini:1:", "allocates");
    /* the product of the lists is bounded */
    expect_error("[many]\nop = rmsnorm\ntokens = 1..100\nseeds = 100000\nhidden = 1,2,3,4,5,6,7,8,9,10,11\n",
                 "t.ini:1:", "limit");
}

Test(casefile, every_error_in_a_file_is_reported_not_only_the_first)
{
    ud_corpus c;
    char *msgs = NULL;
    int e = parse("[a]\nop = rmsnorm\nhiden = 1\ntokes = 2\n", &c, &msgs);
    cr_expect_eq(e, 2);
    cr_expect(strstr(msgs, "t.ini:3:") && strstr(msgs, "t.ini:4:"), "%s", msgs);
    free(msgs);
    ud_corpus_free(&c);
}

Test(casefile, ranges_are_drawn_within_bounds_reproducibly_with_edge_bias)
{
    const char *t = "[r]\nop = rmsnorm\ndtype = bf16\nvalues = normal\ntokens = 1\nhidden = 3..5000\nseeds = 200\n";
    ud_corpus c1, c2;
    ud_case *a, *b;
    size_t na, nb;
    char *m1 = NULL, *m2 = NULL;
    cr_assert_eq(load(t, &c1, &a, &na, &m1), 0, "%s", m1);
    cr_assert_eq(load(t, &c2, &b, &nb, &m2), 0, "%s", m2);
    cr_assert_eq(na, 200u);
    int lo = 0, hi = 0, mid = 0;
    for (size_t i = 0; i < na; i++) {
        int64_t h = ud_case_int(&a[i], "hidden");
        cr_expect(h >= 3 && h <= 5000);
        cr_expect_eq(h, ud_case_int(&b[i], "hidden"), "the draw depends only on the seed");
        lo += h == 3;
        hi += h == 5000;
        mid += h > 3 && h < 5000;
    }
    cr_expect(lo > 20 && hi > 20 && mid > 60, "edge bias: lo %d hi %d mid %d of 200", lo, hi, mid);
    free(m1); free(m2); free(a); free(b);
    ud_corpus_free(&c1);
    ud_corpus_free(&c2);
}

Test(shard, shards_are_disjoint_and_cover_every_case)
{
    for (int nsh = 1; nsh <= 7; nsh++)
        for (size_t ncase = 0; ncase <= 23; ncase++)
            for (size_t i = 0; i < ncase; i++) {
                int owners = 0;
                for (int k = 1; k <= nsh; k++) owners += ud_shard_has(i, k, nsh);
                cr_assert_eq(owners, 1, "case %zu of %zu belongs to %d of %d shards", i, ncase, owners, nsh);
            }
}

Test(shard, shard_specs_are_one_based_and_checked)
{
    int k, n;
    cr_expect_eq(ud_shard_parse("1/3", &k, &n), 0);
    cr_expect(k == 1 && n == 3);
    cr_expect_eq(ud_shard_parse("3/3", &k, &n), 0);
    cr_expect_eq(ud_shard_parse("0/3", &k, &n), -1);
    cr_expect_eq(ud_shard_parse("4/3", &k, &n), -1);
    cr_expect_eq(ud_shard_parse("1/0", &k, &n), -1);
    cr_expect_eq(ud_shard_parse("a/3", &k, &n), -1);
    cr_expect_eq(ud_shard_parse("2", &k, &n), -1);
    cr_expect_eq(ud_shard_parse("1/3x", &k, &n), -1);
}

/* The reproducer text of a case parses back to the same case. */
Test(reproducer, reproducer_text_round_trips_through_the_parser)
{
    const char *t = "[a]\nop = rmsnorm_fused_add\nmutant = unrounded_sum\ndtype = fp16\ntokens = 3\n"
                    "hidden = 1..999\neps = 3.0000000000000001e-7\nspec = flashinfer\nvalues = cancel\n"
                    "scale = 0.1\nseed = 77\nbudget.fp16 = 0.625\nscaled_budget = 3.5\n";
    ud_corpus c, c2;
    ud_case *a, *b;
    size_t na, nb;
    char *m = NULL, *m2 = NULL;
    cr_assert_eq(load(t, &c, &a, &na, &m), 0, "%s", m);
    cr_assert_eq(na, 1u);
    char text[8192];
    uint32_t h1, h2;
    cr_assert_eq(ud_reproducer_text(&a[0], "# why\n", text, sizeof text, &h1), UD_OK);
    cr_assert_eq(load(text, &c2, &b, &nb, &m2), 0, "%s\n%s", m2, text);
    cr_assert_eq(nb, 1u);
    cr_expect_eq(b[0].op, a[0].op);
    cr_expect_eq(b[0].mutant, a[0].mutant);
    cr_expect_eq(b[0].seed, a[0].seed);
    for (int k = 0; k < a[0].op->nparams; k++) cr_expect_eq(memcmp(&a[0].p[k], &b[0].p[k], sizeof a[0].p[k]), 0, "param %d", k);
    cr_expect_eq(b[0].budget_ulp[UD_F16], 0.625);
    cr_expect_eq(b[0].budget_scaled, 3.5);
    cr_expect_str_eq(b[0].label, a[0].label);
    char text2[8192];
    cr_assert_eq(ud_reproducer_text(&b[0], NULL, text2, sizeof text2, &h2), UD_OK);
    cr_expect_eq(h1, h2, "the file name hash depends on the case only");
    free(m); free(m2); free(a); free(b);
    ud_corpus_free(&c);
    ud_corpus_free(&c2);
}

/* A failing case shrinks while it fails with the same finding kind; the result fails. */
Test(shrink, a_failing_case_shrinks_to_a_smaller_case_that_still_fails)
{
    const char *t = "[a]\nop = rmsnorm_fused_add\nmutant = pre_add_residual\ndtype = bf16\ntokens = 7\nhidden = 127\n";
    ud_corpus c;
    ud_case *a;
    size_t na;
    char *m = NULL;
    cr_assert_eq(load(t, &c, &a, &na, &m), 0, "%s", m);
    ud_run_opts ro = {UD_BACKEND_CPU, 0, NULL};
    ud_result *r = malloc(sizeof *r), *best_res = malloc(sizeof *best_res);
    cr_assert(r && best_res);
    ud_run_case(&a[0], &ro, r);
    cr_assert(ud_result_has(r, UD_F_TOLERANCE), "the variant must fail to begin with");
    ud_case best;
    int runs = ud_shrink_case(&a[0], &ro, UD_F_TOLERANCE, 60, &best, best_res);
    cr_expect(runs > 0 && runs <= 60);
    /* pre_add_residual writes the input residual: wrong for any non-zero x, so 1 x 1 fails */
    cr_expect_eq(ud_case_int(&best, "tokens"), 1);
    cr_expect_eq(ud_case_int(&best, "hidden"), 1);
    cr_expect_eq(best.mutant, a[0].mutant);
    cr_expect(ud_result_has(best_res, UD_F_TOLERANCE));
    ud_run_case(&best, &ro, r);
    cr_expect(ud_result_has(r, UD_F_TOLERANCE), "the shrunk case fails when run again");
    free(r); free(best_res); free(m); free(a);
    ud_corpus_free(&c);
}

/* Production passes: a case that does not fail is returned unchanged. */
Test(shrink, a_passing_case_is_not_reduced)
{
    const char *t = "[a]\nop = rmsnorm\ndtype = bf16\ntokens = 3\nhidden = 64\n";
    ud_corpus c;
    ud_case *a;
    size_t na;
    char *m = NULL;
    cr_assert_eq(load(t, &c, &a, &na, &m), 0, "%s", m);
    ud_run_opts ro = {UD_BACKEND_CPU, 0, NULL};
    ud_result *best_res = malloc(sizeof *best_res);
    ud_case best;
    ud_shrink_case(&a[0], &ro, UD_F_TOLERANCE, 60, &best, best_res);
    cr_expect_eq(ud_case_int(&best, "tokens"), 3);
    cr_expect_eq(ud_case_int(&best, "hidden"), 64);
    free(best_res); free(m); free(a);
    ud_corpus_free(&c);
}
