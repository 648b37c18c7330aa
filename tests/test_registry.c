/* test_registry.c — every registered operator is complete (docs/design.md "The operator kit"): a reference,
 * a cpu implementation, a cuda implementation when CUDA is compiled in, budgets, a docs page,
 * a smoke case file, at least one known-bug variant with a valid expected finding, and
 * defaults that expand into valid cases. Runs from the source directory (ctest sets it). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/cases/spec.h"

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f) fclose(f);
    return f != NULL;
}

/* Some .ini file under cases/smoke names the operator in an `op = NAME` line. */
static int smoke_mentions(const char *name)
{
    DIR *d = opendir("cases/smoke");
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0) continue;
        char path[512], line[512];
        snprintf(path, sizeof path, "cases/smoke/%s", e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            char key[64], val[128];
            if (sscanf(line, " %63[a-z_] = %127[A-Za-z0-9_]", key, val) == 2 && strcmp(key, "op") == 0 &&
                strcmp(val, name) == 0)
                found = 1;
        }
        if (f) fclose(f);
    }
    closedir(d);
    return found;
}

Test(registry, every_operator_is_complete)
{
    cr_assert_gt(ud_op_count(), 0);
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        cr_assert_not_null(op->reference, "%s: no reference", op->name);
        cr_assert_not_null(op->run_cpu, "%s: no cpu backend", op->name);
#ifdef UD_HAVE_CUDA
        cr_assert_not_null(op->run_cuda, "%s: no cuda backend", op->name);
#endif
        cr_assert_not_null(op->budget, "%s: no budgets", op->name);
        cr_assert_not_null(op->shapes, "%s", op->name);
        cr_assert_not_null(op->generate, "%s", op->name);
        cr_assert(op->inputs && op->inputs[0] && op->outputs && op->outputs[0], "%s: tensors", op->name);
        cr_assert(op->doc && file_exists(op->doc), "%s: docs page %s missing", op->name, op->doc ? op->doc : "(none)");
        cr_assert(smoke_mentions(op->name), "%s: no cases/smoke/*.ini has `op = %s`", op->name, op->name);
        cr_assert_gt(op->nmutants, 0, "%s: no known-bug variant", op->name);
        for (int m = 0; m < op->nmutants; m++) {
            int ok = 0;
            for (int k = 0; k < UD_F_KINDS; k++) ok |= strcmp(op->mutants[m].expect, ud_finding_names[k]) == 0;
            cr_assert(ok, "%s.%s: expected finding '%s' is not a finding kind", op->name, op->mutants[m].name,
                      op->mutants[m].expect);
        }
        ud_spec s;
        ud_spec_init(&s, op);
        ud_case *cases = NULL;
        size_t n = 0;
        char err[512];
        cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s defaults: %s", op->name, err);
        cr_assert_gt(n, 0);
        free(cases);
    }
}

Test(registry, names_are_unique_and_mutants_resolve)
{
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        cr_assert_eq(ud_op_find(op->name), op);
        for (int j = 0; j < op->nparams; j++)
            for (int k = j + 1; k < op->nparams; k++)
                cr_assert_str_neq(op->params[j].name, op->params[k].name, "%s", op->name);
        for (int m = 0; m < op->nmutants; m++) {
            char full[256];
            snprintf(full, sizeof full, "%s.%s", op->name, op->mutants[m].name);
            const ud_op *found = NULL;
            int idx = 0;
            cr_assert_eq(ud_mutant_find(full, &found, &idx), 0, "%s", full);
            cr_assert_eq(found, op);
            cr_assert_eq(idx, m + 1);
        }
    }
    const ud_op *o;
    int idx;
    cr_assert_neq(ud_mutant_find("rmsnorm.no_such_bug", &o, &idx), 0);
}
