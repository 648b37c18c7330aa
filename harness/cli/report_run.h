/* report_run.h — the reporting half of run and check: a line per finished case as it comes
 * (and its JSON streamed to FILE.partial), then the summary, the JSON/JUnit/HTML files, and
 * failing cases shrunk into reproducer case files. */
#ifndef UD_REPORT_RUN_H
#define UD_REPORT_RUN_H

#include "reports/report.h"
#include "harness/exec/execute.h"

typedef struct {
    int quiet, verbose;               /* -q: failing cases and the summary only; -v: statistics */
    const char *json, *junit, *html;  /* report files, or NULL */
    int shrink, shrink_max;           /* shrink up to shrink_max failing cases */
    /* Where reproducers go. NULL: cases/regressions (the working directory's, else the source
     * tree's), for cases of the production kernels only: a known-bug variant's reproducer is
     * written only where asked. */
    const char *regressions;
    double budget_seconds;            /* for the "not run" line */
} ud_run_report_opts;

typedef struct {
    const ud_run_report_opts *o;
    ud_report_meta meta;
    ud_json_stream *json;
    int json_failed;
} ud_run_report;

/* Starts the report (the JSON stream when asked for). Returns UD_OK; UD_EUSAGE when a report
 * path is a directory or lies in a directory that does not exist or cannot be written (message
 * printed; nothing has run); UD_EINTERNAL when the JSON stream cannot be opened. */
int ud_run_report_open(ud_run_report *r, const ud_run_report_opts *o, const ud_report_meta *meta);

/* The ud_case_done_fn of a run (user: the ud_run_report). */
void ud_run_report_case(void *user, size_t i, const ud_result *res, int status);

/* Summary, report files, reproducers (shrinking reruns cases under ro). Returns the exit code:
 * 3 when a case had an error or a report could not be written, 1 findings, 0 pass. */
int ud_run_report_close(ud_run_report *r, const ud_run_opts *ro, const ud_batch *b);

/* Abandons the report (after a failed batch): the JSON stream keeps what it has. */
void ud_run_report_abandon(ud_run_report *r);

#endif
