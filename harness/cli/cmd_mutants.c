/* cmd_mutants.c — `ulpdiff mutants [FILES|DIRS] [options]`: every known-bug variant runs on its
 * operator's cases (default: the smoke corpus) and must be caught by its expected finding; the
 * production kernels must pass them (harness/exec/mutants.h). Exit 0 when both hold, 1 when a
 * variant survived or production failed, 3 when a case could not run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics/status.h"
#include "harness/exec/jobs.h"
#include "harness/cli/cli.h"
#include "harness/cli/post_checks.h"
#include "harness/cases/select.h"
#include "harness/exec/execute.h"
#include "harness/exec/mutants.h"

static void print_production(const ud_variant_score *v)
{
    printf("%-48s %s (%zu cases)\n", v->op->name, v->failed ? "PRODUCTION FAILS" : "production passes", v->ncases);
    if (v->failed)
        printf("    first: %s: %s: %s\n", v->first_fail->c.label, ud_finding_names[v->first_fail->findings[0].kind],
               v->first_fail->findings[0].msg);
}

static void print_variant(const ud_variant_score *v, int verbose)
{
    char name[200];
    snprintf(name, sizeof name, "%s.%s", v->op->name, v->op->mutants[v->mutant - 1].name);
    printf("%-48s %s by %s in %zu/%zu cases\n", name, v->hits ? "caught" : "SURVIVED", v->expect, v->hits, v->ncases);
    if (verbose && v->first_hit) {
        const ud_result *r = v->first_hit;
        for (int f = 0; f < r->nfindings; f++)
            if (strcmp(ud_finding_names[r->findings[f].kind], v->expect) == 0) {
                printf("    first: %s: %s\n", r->c.label, r->findings[f].msg);
                break;
            }
    }
    if (!v->hits) {
        for (int kd = 0; kd < UD_F_KINDS; kd++)
            if (v->other[kd]) printf("    (saw %s in %zu cases instead)\n", ud_finding_names[kd], v->other[kd]);
        if (!v->failed) printf("    (no case of the corpus shows it: add a case that exercises this bug)\n");
    }
}

/* Runs the matrix of the selected cases and prints the score. Returns the exit code. */
static int score_matrix(const ud_cli *o, const ud_executor *ex, const ud_selection *sel)
{
    ud_case *all = NULL;
    size_t nall = 0;
    if (ud_mutants_matrix(sel->cases, sel->n, sel->only, &all, &nall) != UD_OK) return UD_EXIT_INTERNAL;
    ud_run_opts ro = {ex->backend, o->mpfr, NULL, o->repeat, o->cross_check, NULL};
    ud_attach_post_checks(&ro);
    ud_pool_opts po = {o->jobs, 0.0, ud_progress_mode(o->quiet, o->verbose)};
    ud_batch b;
    ud_mutation_score s;
    int rc = UD_EXIT_INTERNAL;
    if (ud_exec_run(ex, all, nall, &ro, &po, NULL, NULL, &b) != UD_OK) { free(all); return rc; }
    if (ud_mutants_score(all, b.res, b.status, nall, &s) == UD_OK) {
        for (size_t k = 0; k < s.nv; k++) {
            if (s.v[k].mutant) print_variant(&s.v[k], o->verbose);
            else print_production(&s.v[k]);
        }
        printf("\nmutation score: %d/%d caught; production kernels %s\n", s.caught, s.total, s.prod_fail ? "FAIL" : "pass");
        rc = s.errors ? UD_EXIT_INTERNAL : ud_mutation_passed(&s) ? UD_EXIT_PASS : UD_EXIT_FINDINGS;
        ud_mutation_score_free(&s);
    }
    ud_batch_free(&b);
    free(all);
    return rc;
}

int ud_cmd_mutants(ud_cli *o)
{
    ud_select_opts so = {"mutants", o->op, NULL, o->seed, o->seeds, NULL, NULL, 0, o->pos, o->npos, 1, 1, -1, -1};
    ud_selection sel;
    ud_selection_init(&sel);
    int rc = 0;
    if (o->op && !(sel.only = ud_select_find_op(o->op, "--op"))) rc = UD_EXIT_USAGE;
    if (!rc) rc = ud_select_corpus(&so, &sel);   /* mutants always score a corpus: --op picks its operator */
    if (!rc && ud_cases_fit_memory("ulpdiff mutants", sel.cases, sel.n, o->jobs)) rc = UD_EXIT_USAGE;
    ud_executor ex;
    if (!rc) {
        ud_exec_request rq = {"ulpdiff", o->backend, o->isolate, o->case_timeout};
        rc = ud_exec_open(&rq, &ex);
        rc = rc >= 0 ? rc : 0;
    }
    if (!rc) rc = score_matrix(o, &ex, &sel);
    ud_selection_free(&sel);
    return rc;
}
