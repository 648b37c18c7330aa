/* cmd_run.c — `ulpdiff run`, `export` and `check`: one pipeline, select -> execute -> report.
 *
 *   run     cases selected from case files or sweeps (harness/cases/select.h), run on a backend
 *           (harness/exec/execute.h) with the cache scenarios attached as a post-run check,
 *           reported and shrunk (report_run.h); --impl: a plugin's functions as the run's
 *           implementation source (harness/external/plugin.h) in place of the kernels;
 *   export  run's selection, then the inputs and a manifest instead of running;
 *   check   the cases of an export directory, their outputs read from the files an external
 *           implementation wrote (harness/external/exchange.h: backend external). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics/status.h"
#include "harness/cli/cli.h"
#include "harness/cli/post_checks.h"
#include "harness/cli/report_run.h"
#include "reports/rates.h"
#include "harness/cases/identity.h"
#include "harness/cases/select.h"
#include "harness/exec/execute.h"
#include "harness/exec/jobs.h"
#include "harness/external/exchange.h"
#include "harness/external/plugin.h"
#include "ud_git_commit.h"

#ifndef UD_VERSION
#define UD_VERSION "unknown"
#endif

/* What one invocation holds until it ends. */
typedef struct {
    const char *cmd;
    int is_check, is_export;
    ud_cli *o;
    ud_selection sel;
    ud_identity ident;        /* the corpus list behind the selection (reports, merge) */
    ud_exchange *ex;          /* check: the export directory */
    ud_plugin *plugin;        /* run --impl */
    ud_executor exe;
    const ud_impl *impl;      /* the run's implementation source, or NULL: ulpdiff's kernels */
} invocation;

char *ud_cli_join(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < argc; i++) { strcat(s, argv[i]); if (i + 1 < argc) strcat(s, " "); }
    return s;
}

/* Options that make no sense for export/check. Returns 0 or UD_EXIT_USAGE (message printed). */
static int external_usage(const invocation *v)
{
    const ud_cli *o = v->o;
    if ((v->is_check || v->is_export) && !o->dir) {
        fprintf(stderr, "ulpdiff %s: --dir D is required (docs/external.md)\n", v->cmd);
        return UD_EXIT_USAGE;
    }
    if ((v->is_check || v->is_export) && o->mutant) {
        fprintf(stderr, "ulpdiff %s: --mutant selects one of ulpdiff's own kernels; it does not apply to %s\n", v->cmd, v->cmd);
        return UD_EXIT_USAGE;
    }
    if (v->is_check && (o->npos || o->np)) {
        fprintf(stderr, "ulpdiff check: unexpected '%s%s': the cases are the export's (--dir D); select with --op\n",
                o->npos ? "" : "--", o->npos ? o->pos[0] : o->pnames[0]);
        return UD_EXIT_USAGE;
    }
    if (o->impl && o->devices) {
        fprintf(stderr, "ulpdiff run: --impl runs the plugin in this process; --devices does not apply\n");
        return UD_EXIT_USAGE;
    }
    if (o->impl && o->mutant) {
        fprintf(stderr, "ulpdiff run: --impl replaces the kernel; --mutant does not apply\n");
        return UD_EXIT_USAGE;
    }
    return 0;
}

/* check's source: the export directory's cases, every file present and well-formed. */
static int open_exchange(invocation *v)
{
    size_t skipped = 0;
    const ud_cli *o = v->o;
    int problems = ud_exchange_open(o->dir, o->skip_missing, &v->ex, &v->sel.cases, &v->sel.n, &skipped, stderr);
    if (problems) {
        fprintf(stderr, "ulpdiff check: %d problem%s in %s; nothing was checked\n", problems, problems == 1 ? "" : "s", o->dir);
        return UD_EXIT_USAGE;
    }
    if (skipped) printf("%zu case%s without output files left out (--skip-missing)\n", skipped, skipped == 1 ? "" : "s");
    if (!v->sel.n) { fprintf(stderr, "ulpdiff check: no case to check in %s\n", o->dir); return UD_EXIT_USAGE; }
    return 0;
}

/* Selection: the source (case files, sweeps, or check's export), the operator / variant
 * filter, the shard and the limits. Returns 0 or an exit code. */
static int select_cases(invocation *v)
{
    ud_cli *o = v->o;
    ud_select_opts so = {"run", o->op, o->mutant, o->seed, o->seeds, o->pnames, o->pvals, o->np, o->pos, o->npos,
                         o->shard_k, o->shard_n, o->max_cases, o->per_op};
    so.allow_empty = o->allow_empty;
    int rc = ud_select_resolve(&so, &v->sel);
    if (!rc) rc = v->is_check ? open_exchange(v) : ud_select_load(&so, &v->sel);
    if (!rc) rc = ud_identity_take(&so, &v->sel, &v->ident);
    if (!rc) rc = ud_select_filter(&so, &v->sel);
    return rc;
}

static void print_dry_run(const ud_selection *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->cases[i].file) printf("%s:%d\t%s\n", s->cases[i].file, s->cases[i].line, s->cases[i].label);
        else printf("-\t%s\n", s->cases[i].label);
    }
    printf("%zu cases\n", s->n);
}

static int do_export(const invocation *v)
{
    char *command = ud_cli_join(v->o->argc, v->o->argv);
    ud_export_meta em = {UD_VERSION, UD_GIT_COMMIT, command};
    int erc = ud_export_cases(v->sel.cases, v->sel.n, v->o->dir, &em, stdout);
    free(command);
    return erc == UD_OK ? UD_EXIT_PASS : erc == UD_EUSAGE ? UD_EXIT_USAGE : UD_EXIT_INTERNAL;
}

/* run --impl: the backend must hand the plugin memory it takes; the cases of its operators
 * stay, the others are left out. Returns 0 or an exit code. */
static int apply_plugin(invocation *v)
{
    ud_executor *e = &v->exe;
    const ud_cli *o = v->o;
    if (!ud_plugin_serves(v->plugin, e->backend)) {
        ud_backend other = e->backend == UD_BACKEND_CUDA ? UD_BACKEND_CPU : UD_BACKEND_CUDA;
        if (strcmp(o->backend, "auto") != 0 || other == UD_BACKEND_CUDA || !ud_plugin_serves(v->plugin, other)) {
            fprintf(stderr, "ulpdiff: --impl %s: no operator of the plugin takes %s memory (backend %s)\n", o->impl,
                    e->backend == UD_BACKEND_CUDA ? "device" : "host", ud_backend_name(e->backend));
            return UD_EXIT_USAGE;
        }
        fprintf(stderr, "ulpdiff: --impl: the plugin takes host memory only; running on cpu\n");
        e->backend = other;
        snprintf(e->device, sizeof e->device, "cpu (host)");
    }
    char desc[1024];
    ud_plugin_describe(v->plugin, desc, sizeof desc);
    size_t len = strlen(e->device);
    snprintf(e->device + len, sizeof e->device - len, "; %s", desc);
    printf("testing %s\n", desc);
    if (ud_plugin_apply(v->plugin, e->backend, v->sel.cases, &v->sel.n, stderr) != UD_OK) return UD_EXIT_USAGE;
    if (!v->sel.n) { fprintf(stderr, "ulpdiff: --impl %s: no selected case belongs to the plugin's operators\n", o->impl); return UD_EXIT_USAGE; }
    v->impl = ud_plugin_impl(v->plugin);
    return 0;
}

/* Backend, isolation and the implementation source. Returns 0 or an exit code. */
static int setup_execution(invocation *v)
{
    ud_cli *o = v->o;
    if (v->is_check) {
        /* Outputs come from files: nothing to isolate, and shrinking would need new outputs. */
        char dev[1200];
        snprintf(dev, sizeof dev, "external implementation (outputs in %s)", o->dir);
        ud_exec_fixed(&v->exe, UD_BACKEND_EXTERNAL, dev);
        o->shrink = 0;
        v->impl = ud_exchange_impl(v->ex);
        return 0;
    }
    ud_exec_request rq = {"ulpdiff", o->backend, v->plugin ? 0 : o->isolate, o->case_timeout, o->devices};   /* a worker would resolve a plugin's cases to ulpdiff's kernels */
    int rc = ud_exec_open(&rq, &v->exe);
    if (rc >= 0) return rc;
    if (v->plugin && (rc = apply_plugin(v)) != 0) return rc;
    if (v->plugin && !o->regressions) o->shrink = 0;   /* reproducers of a plugin's bugs go where asked */
    return 0;
}

/* Runs the selected cases and reports them. Returns the exit code. */
static int run_and_report(invocation *v)
{
    const ud_cli *o = v->o;
    if (ud_cases_fit_memory("ulpdiff", v->sel.cases, v->sel.n, o->jobs)) return UD_EXIT_USAGE;
    if (ud_identity_index(&v->ident, &v->sel)) return UD_EXIT_INTERNAL;   /* after --impl left cases out */
    ud_report_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.version = UD_VERSION;
    meta.commit = UD_GIT_COMMIT;
    meta.device = v->exe.device;
    meta.backend = ud_backend_name(v->exe.backend);
    char *command = ud_cli_join(o->argc, o->argv);
    meta.command = command;
    ud_report_meta_date(&meta);
    meta.jobs = o->jobs;
    meta.shard_k = o->shard_k;
    meta.shard_n = o->shard_n;
    meta.selected = v->sel.n;
    meta.corpus_fingerprint = v->ident.fingerprint;
    meta.corpus_cases = v->ident.ncorpus;
    meta.per_op = o->per_op;
    meta.max_cases = o->max_cases;
    meta.case_index = v->ident.index;

    /* On cuda, inputs, references and comparisons run on --jobs threads; run.c serialises the
     * kernel phases on the one device. */
    ud_run_opts ro = {v->exe.backend, o->mpfr, NULL, o->repeat, o->cross_check, NULL};
    ro.impl = v->impl;
    if (!v->impl) ud_attach_post_checks(&ro);   /* cache scenarios drive ulpdiff's own modules */
    ud_run_report_opts rop = {o->quiet, o->verbose, o->json, o->junit, o->html, o->shrink, o->shrink_max, o->regressions,
                              o->budget_seconds};
    ud_run_report rep;
    ud_batch b;
    int rc = UD_EXIT_INTERNAL;
    int orc = ud_run_report_open(&rep, &rop, &meta);
    if (orc == UD_EUSAGE) rc = UD_EXIT_USAGE;   /* a report path that cannot be written: nothing ran */
    if (orc == UD_OK) {
        ud_pool_opts po = {o->jobs, o->budget_seconds, ud_progress_mode(o->quiet, o->verbose)};
        if (ud_exec_run(&v->exe, v->sel.cases, v->sel.n, &ro, &po, ud_run_report_case, &rep, &b) == UD_OK) {
            rc = ud_run_report_close(&rep, &ro, &b);
            if (o->rates) ud_rates_print(stdout, b.res, b.ran, b.n);
        } else
            ud_run_report_abandon(&rep);
        ud_batch_free(&b);
    }
    free(command);
    return rc;
}

int ud_cmd_run(const char *cmd, ud_cli *o)
{
    invocation v;
    memset(&v, 0, sizeof v);
    v.cmd = cmd;
    v.o = o;
    v.is_check = strcmp(cmd, "check") == 0;
    v.is_export = strcmp(cmd, "export") == 0;
    ud_selection_init(&v.sel);
    int rc = external_usage(&v);
    if (!rc && o->impl) {
        char err[2048];
        if (!(v.plugin = ud_plugin_load(o->impl, err, sizeof err))) { fprintf(stderr, "ulpdiff: %s\n", err); rc = UD_EXIT_USAGE; }
    }
    if (!rc) rc = select_cases(&v);
    if (!rc && o->dry_run) print_dry_run(&v.sel);
    else if (!rc && v.is_export) rc = do_export(&v);
    else if (!rc && (rc = setup_execution(&v)) == 0) rc = run_and_report(&v);
    ud_selection_free(&v.sel);
    ud_identity_free(&v.ident);
    ud_exchange_free(v.ex);
    ud_plugin_free(v.plugin);
    return rc;
}
