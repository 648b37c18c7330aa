/* report_run.c — reporting a run (report_run.h). */
#include "harness/cli/report_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/text.h"
#include "harness/cases/select.h"
#include "harness/exec/shrink.h"

int ud_run_report_open(ud_run_report *r, const ud_run_report_opts *o, const ud_report_meta *meta)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->meta = *meta;
    if (o->json && !(r->json = ud_json_open(o->json, &r->meta))) return UD_EINTERNAL;
    return UD_OK;
}

void ud_run_report_case(void *user, size_t i, const ud_result *res, int status)
{
    (void)i;
    (void)status;
    ud_run_report *r = user;
    if (!r->o->quiet || res->nfindings) ud_text_case(stdout, res, r->o->verbose);
    fflush(stdout);
    if (r->json && !r->json_failed && ud_json_append(r->json, res)) r->json_failed = 1;
}

void ud_run_report_abandon(ud_run_report *r)
{
    if (r->json) ud_json_close(r->json);
    r->json = NULL;
}

/* Shrinks up to shrink_max failing cases, one per (operator, variant, finding kind), and
 * writes each as a reproducer. A known-bug variant's findings are the variant doing what it
 * was written to do, not a regression of ulpdiff's kernels: their reproducers go only where
 * --regressions says, never into the corpus of cases/regressions by default. */
static void shrink_failures(const ud_run_report_opts *o, const ud_run_opts *ro, const ud_batch *b)
{
    char dirbuf[4096];
    const char *dir = o->regressions;
    if (!dir) {
        dir = ud_corpus_dir("regressions", dirbuf, sizeof dirbuf);
        if (!dir) dir = "cases/regressions";
    }
    typedef struct { const ud_op *op; int mutant; ud_finding_kind kind; } key;
    key done[64];
    int ndone = 0;
    ud_result *best_res = malloc(sizeof *best_res);
    if (!best_res) return;
    for (size_t i = 0; i < b->n && ndone < o->shrink_max && ndone < 64; i++) {
        const ud_result *res = &b->res[i];
        if (!b->ran[i] || !res->nfindings || (res->c.mutant && !o->regressions)) continue;
        ud_finding_kind kind = res->findings[0].kind;
        if (kind == UD_F_ERROR) continue;   /* an error is not a property of the inputs */
        int seen = 0;
        for (int k = 0; k < ndone; k++)
            seen |= done[k].op == res->c.op && done[k].mutant == res->c.mutant && done[k].kind == kind;
        if (seen) continue;
        done[ndone++] = (key){res->c.op, res->c.mutant, kind};
        ud_case best;
        int runs = ud_shrink_case(&res->c, ro, kind, 60, &best, best_res);
        char path[4400];
        if (ud_reproducer_write(dir, &best, best_res, res->c.label, path, sizeof path) == UD_OK)
            printf("shrunk %s\n    -> %s (%d trial runs); reproducer: %s\n", res->c.label, best.label, runs, path);
    }
    free(best_res);
}

/* The summary table takes the results of the cases that ran, densely. */
static void summary(const ud_run_report *r, const ud_batch *b)
{
    ud_result *ran_res = malloc((b->n ? b->n : 1) * sizeof *ran_res);
    size_t k = 0;
    for (size_t i = 0; ran_res && i < b->n; i++)
        if (b->ran[i]) ran_res[k++] = b->res[i];
    if (ran_res) ud_text_summary(stdout, ran_res, k);
    free(ran_res);
    if (b->not_run)
        printf("%zu of %zu cases not run: --budget-seconds %g ran out\n", b->not_run, b->n, r->o->budget_seconds);
}

int ud_run_report_close(ud_run_report *r, const ud_run_opts *ro, const ud_batch *b)
{
    const ud_run_report_opts *o = r->o;
    r->meta.elapsed_seconds = b->seconds;
    r->meta.not_run = b->not_run;
    summary(r, b);
    int report_err = r->json_failed;
    if (r->json) { report_err |= ud_json_finish(r->json, &r->meta, b->res, b->ran, b->n) != UD_OK; r->json = NULL; }
    if (o->junit) report_err |= ud_junit_write(o->junit, &r->meta, b->res, b->ran, b->n) != UD_OK;
    if (o->html) report_err |= ud_html_write(o->html, &r->meta, b->res, b->ran, b->n) != UD_OK;
    fflush(stdout);
    if (b->any_findings && o->shrink && o->shrink_max > 0) shrink_failures(o, ro, b);
    return (b->any_error || report_err) ? UD_EXIT_INTERNAL : b->any_findings ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
}
