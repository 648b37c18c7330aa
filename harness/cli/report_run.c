/* report_run.c — reporting a run (report_run.h). */
#include "harness/cli/report_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numerics/status.h"
#include "reports/text.h"
#include "harness/cases/select.h"
#include "harness/exec/jobs.h"
#include "harness/exec/shrink.h"

/* A report path must be writable as a file before the first case runs: a directory, or a
 * directory that does not exist, is found out now, not after hours of cases. */
static int report_path_ok(const char *flag, const char *path)
{
    struct stat sb;
    if (!path) return 1;
    if (!*path) { fprintf(stderr, "ulpdiff: %s: empty file name\n", flag); return 0; }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "ulpdiff: %s %s: is a directory; name a file in it (e.g. %s/report)\n", flag, path, path);
        return 0;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "ulpdiff: %s %s: directory %s does not exist\n", flag, path, dir);
        return 0;
    }
    if (access(dir, W_OK)) {
        fprintf(stderr, "ulpdiff: %s %s: directory %s is not writable: %s\n", flag, path, dir, strerror(errno));
        return 0;
    }
    return 1;
}

int ud_run_report_open(ud_run_report *r, const ud_run_report_opts *o, const ud_report_meta *meta)
{
    memset(r, 0, sizeof *r);
    if (!report_path_ok("--json", o->json) || !report_path_ok("--junit", o->junit) || !report_path_ok("--html", o->html))
        return UD_EUSAGE;
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
    /* A passing case is one line of 11k in the main job: printed with -v only. A failing case
     * is printed in full, as it comes; the progress line (jobs.h) says how far the run is. */
    if (r->o->verbose || res->nfindings) {
        ud_progress_hide();
        ud_text_case(stdout, res, r->o->verbose);
        fflush(stdout);
    }
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
