/* test_select.c — case selection (harness/cases/select.h): the default sweep with command-line
 * parameters, case files, the operator / variant filter, sharding and the per-operator and
 * total limits, each in corpus order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics/status.h"
#include "harness/cases/select.h"

static ud_select_opts opts(void)
{
    ud_select_opts o = {"run", NULL, NULL, 1, 1, NULL, NULL, 0, NULL, 0, 1, 1, -1, -1};
    return o;
}

/* n cases: ops[i % nops], seed i + 1, labelled. */
static void fill(ud_selection *s, const char *const *ops, int nops, size_t n)
{
    ud_selection_init(s);
    s->cases = calloc(n, sizeof *s->cases);
    cr_assert_not_null(s->cases);
    for (size_t i = 0; i < n; i++) {
        const ud_op *op = ud_op_find(ops[i % (size_t)nops]);
        cr_assert_not_null(op);
        ud_case c;
        memset(&c, 0, sizeof c);
        c.op = op;
        c.seed = i + 1;
        ud_case_format_label(&c);
        s->cases[i] = c;
    }
    s->n = n;
}

Test(select, default_sweep_takes_command_line_parameters)
{
    ud_select_opts o = opts();
    const char *pn[] = {"tokens", "hidden"}, *pv[] = {"3, 5", "16"};
    o.op = "rmsnorm";
    o.pnames = pn;
    o.pvals = pv;
    o.np = 2;
    o.seeds = 2;
    ud_selection s;
    ud_selection_init(&s);
    cr_assert_eq(ud_select_cases(&o, &s), 0);
    cr_assert_gt(s.n, 0);
    size_t tokens3 = 0;
    for (size_t i = 0; i < s.n; i++) {
        cr_expect_eq(s.cases[i].op, ud_op_find("rmsnorm"));
        cr_expect_eq(ud_case_int(&s.cases[i], "hidden"), 16);
        int64_t t = ud_case_int(&s.cases[i], "tokens");
        cr_expect(t == 3 || t == 5, "tokens = %lld", (long long)t);
        tokens3 += t == 3;
    }
    cr_expect_eq(tokens3 * 2, s.n, "tokens = 3 and 5 each half of the cases");
    ud_selection_free(&s);
}

Test(select, unknown_parameter_and_parameters_without_op_are_usage_errors)
{
    ud_select_opts o = opts();
    const char *pn[] = {"tokenz"}, *pv[] = {"3"};
    o.op = "rmsnorm";
    o.pnames = pn;
    o.pvals = pv;
    o.np = 1;
    ud_selection s;
    ud_selection_init(&s);
    cr_expect_eq(ud_select_cases(&o, &s), UD_EXIT_USAGE, "rmsnorm has no parameter tokenz");
    ud_selection_free(&s);
    o.op = NULL;
    pn[0] = "tokens";
    ud_selection_init(&s);
    cr_expect_eq(ud_select_cases(&o, &s), UD_EXIT_USAGE, "--tokens needs --op");
    ud_selection_free(&s);
    o.op = "rmsnrom";
    o.np = 0;
    ud_selection_init(&s);
    cr_expect_eq(ud_select_cases(&o, &s), UD_EXIT_USAGE, "unknown operator");
    ud_selection_free(&s);
}

Test(select, mutant_selects_its_operator_and_relabels)
{
    ud_select_opts o = opts();
    o.mutant = "rmsnorm_fused_add.pre_add_residual";
    ud_selection s;
    fill(&s, (const char *const[]){"rmsnorm", "rmsnorm_fused_add"}, 2, 6);
    cr_assert_eq(ud_select_resolve(&o, &s), 0);
    cr_assert_eq(s.only, ud_op_find("rmsnorm_fused_add"));
    cr_assert_gt(s.mutant, 0);
    cr_assert_eq(ud_select_filter(&o, &s), 0);
    cr_assert_eq(s.n, 3, "the three rmsnorm_fused_add cases");
    for (size_t i = 0; i < s.n; i++) {
        cr_expect_eq(s.cases[i].mutant, s.mutant);
        cr_expect(strstr(s.cases[i].label, "rmsnorm_fused_add.pre_add_residual(") == s.cases[i].label, "%s", s.cases[i].label);
        cr_expect_eq(s.cases[i].seed, 2 * i + 2, "in corpus order");
    }
    ud_selection_free(&s);
    o.op = "rmsnorm";   /* the variant belongs to another operator */
    ud_selection_init(&s);
    cr_expect_eq(ud_select_resolve(&o, &s), UD_EXIT_USAGE);
    ud_selection_free(&s);
}

Test(select, op_filter_that_leaves_nothing_is_an_error)
{
    ud_select_opts o = opts();
    o.op = "layernorm";
    ud_selection s;
    fill(&s, (const char *const[]){"rmsnorm"}, 1, 3);
    cr_assert_eq(ud_select_resolve(&o, &s), 0);
    cr_expect_eq(ud_select_filter(&o, &s), UD_EXIT_USAGE);
    cr_expect_eq(s.n, 0);
    ud_selection_free(&s);
}

Test(select, shards_are_disjoint_and_cover_the_cases)
{
    size_t seen[13] = {0};
    for (int k = 1; k <= 3; k++) {
        ud_select_opts o = opts();
        o.shard_k = k;
        o.shard_n = 3;
        ud_selection s;
        fill(&s, (const char *const[]){"rmsnorm"}, 1, 13);
        cr_assert_eq(ud_select_filter(&o, &s), 0);
        for (size_t i = 0; i < s.n; i++) {
            size_t idx = (size_t)s.cases[i].seed - 1;
            cr_expect_eq(idx % 3, (size_t)(k - 1), "case %zu in shard %d", idx, k);
            seen[idx]++;
        }
        ud_selection_free(&s);
    }
    for (size_t i = 0; i < 13; i++) cr_expect_eq(seen[i], 1, "case %zu in exactly one shard", i);
}

Test(select, per_op_and_max_cases_keep_the_first_cases_of_each_operator)
{
    ud_select_opts o = opts();
    o.per_op = 2;
    ud_selection s;
    fill(&s, (const char *const[]){"rmsnorm", "rmsnorm", "layernorm"}, 3, 12);   /* r r l r r l ... */
    cr_assert_eq(ud_select_filter(&o, &s), 0);
    cr_assert_eq(s.n, 4);
    uint64_t want[] = {1, 2, 3, 6};   /* two rmsnorm (seeds 1, 2), two layernorm (3, 6) */
    for (size_t i = 0; i < s.n; i++) cr_expect_eq(s.cases[i].seed, want[i], "case %zu: seed %llu", i, (unsigned long long)s.cases[i].seed);
    ud_selection_free(&s);

    o.per_op = -1;
    o.max_cases = 5;
    o.shard_k = 2;
    o.shard_n = 2;   /* the limit applies after sharding: seeds 2, 4, 6, 8, 10 */
    fill(&s, (const char *const[]){"rmsnorm"}, 1, 20);
    cr_assert_eq(ud_select_filter(&o, &s), 0);
    cr_assert_eq(s.n, 5);
    for (size_t i = 0; i < s.n; i++) cr_expect_eq(s.cases[i].seed, 2 * i + 2);
    ud_selection_free(&s);
}

Test(select, case_files_are_loaded_and_errors_stop_the_selection)
{
    char dir[] = "/tmp/ud_select_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/a.ini", dir);
    snprintf(bad, sizeof bad, "%s/b.ini", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("[a]\nop = rmsnorm\ndtype = bf16\ntokens = 1, 2\nhidden = 8\n", f);
    fclose(f);
    ud_select_opts o = opts();
    char *files[] = {path};
    o.files = files;
    o.nfiles = 1;
    ud_selection s;
    ud_selection_init(&s);
    cr_assert_eq(ud_select_cases(&o, &s), 0);
    cr_assert_gt(s.n, 0);
    size_t ones = 0;
    for (size_t i = 0; i < s.n; i++) {
        cr_expect_str_eq(s.cases[i].file, path, "the file's cases only: no default sweeps with files given");
        ones += ud_case_int(&s.cases[i], "tokens") == 1;
    }
    cr_expect_eq(2 * ones, s.n, "tokens = 1, 2: half each");
    ud_selection_free(&s);

    f = fopen(bad, "w");
    cr_assert_not_null(f);
    fputs("[b]\nop = rmsnorm\ntokenz = 1\n", f);
    fclose(f);
    files[0] = bad;
    ud_selection_init(&s);
    cr_expect_eq(ud_select_cases(&o, &s), UD_EXIT_USAGE);
    ud_selection_free(&s);
    unlink(path);
    unlink(bad);
    rmdir(dir);
}
