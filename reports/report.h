/* report.h — machine-readable and browsable reports of a run, and the comparison of two
 * runs. Formats: docs/report-format.md (JSON schema "ulpdiff-report/1"), JUnit XML for CI,
 * one self-contained HTML page. Every file is written to FILE.tmp and renamed into place
 * (ud_write_atomic, harness/core/files.h), so
 * a reader never sees half a report; the JSON report is also streamed case by case to
 * FILE.partial (JSON Lines) while the run goes on, so a crash keeps the finished cases. */
#ifndef UD_REPORT_H
#define UD_REPORT_H

#include <stdio.h>

#include "harness/core/result.h"

#define UD_REPORT_SCHEMA "ulpdiff-report/1"

typedef struct {
    const char *version;      /* ulpdiff version */
    const char *commit;       /* git commit the binary was built from, or "unknown" */
    const char *device;       /* "cpu" or the GPU's name */
    const char *backend;
    const char *command;      /* the command line */
    char date[32];            /* UTC, ISO 8601 */
    int jobs;
    int shard_k, shard_n;     /* 1/1 when not sharded */
    size_t selected;          /* cases selected for the run */
    size_t not_run;           /* of those, not started (--budget-seconds) */
    double elapsed_seconds;
    /* The corpus the run selected from: its cases after the operator/variant filter, before
     * the shard and the limits (harness/cases/identity.h). `ulpdiff merge` requires shards to
     * share it. NULL fingerprint: not recorded (the JSON has no "corpus"). */
    const char *corpus_fingerprint;
    size_t corpus_cases;
    long long per_op, max_cases;   /* the limits: <= 0 / < 0 when none */
    /* Per selected case: its position in that corpus list ("index" in the JSON); NULL: i. */
    const size_t *case_index;
} ud_report_meta;

void ud_report_meta_date(ud_report_meta *m);   /* fills m->date with the current UTC time */

/* ---- JSON (reports/json.c) ---- */
typedef struct ud_json_stream ud_json_stream;
/* Starts FILE.partial with the metadata line. NULL on failure (message on stderr). */
ud_json_stream *ud_json_open(const char *path, const ud_report_meta *m);
/* Appends one finished case to FILE.partial and flushes it. */
int ud_json_append(ud_json_stream *s, const ud_result *r);
/* Writes the complete report to FILE.tmp, renames it to FILE and removes FILE.partial. */
int ud_json_finish(ud_json_stream *s, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n);
/* One case as the report writes it (a new reference; index < 0: none): `ulpdiff merge`
 * checks that a case read back would be written again unchanged. */
struct json_t;
struct json_t *ud_json_case(const ud_result *r, long long index);
/* The complete report in one go (no FILE.partial): `ulpdiff merge`. */
int ud_json_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n);
/* Abandons the report: closes FILE.partial (kept, with the cases so far); FILE is untouched. */
void ud_json_close(ud_json_stream *s);

/* ---- JUnit XML (reports/junit.c) and HTML (reports/html.c) ---- */
int ud_junit_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n);
int ud_html_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n);

/* ---- comparison of two JSON reports (reports/compare.c) ---- */
typedef struct {
    double max_slack;         /* a max ulp rise up to this many ulps is not "worse" (default 0) */
    double mean_slack;        /* a mean ulp rise up to this fraction is not "worse" (default 0.01) */
    int all;                  /* print every case, not only the changed ones */
} ud_compare_opts;
/* Returns 0 (NEW no worse), 1 (worse: the cases are listed) or 2 (bad input: the file and
 * what was expected are named on stderr). */
int ud_compare_reports(const char *old_path, const char *new_path, const ud_compare_opts *o, FILE *out);

/* Shared helpers for the writers. */
const char *ud_result_dtype(const ud_result *r);           /* dtype of the first output, or "-" */
double ud_result_max_ulp(const ud_result *r);              /* over outputs; +Inf when a NaN mismatch */

#endif
