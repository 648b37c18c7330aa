/* read.h — a JSON report (schema "ulpdiff-report/1", docs/report-format.md) read back into the
 * values the run held: its ud_report_meta and, case by case, its ud_result.
 *
 * Why results and not JSON: the writers (reports/json.c, junit.c, html.c, rates.c) take
 * ud_result arrays, so a report read back is written again by the very code that wrote it —
 * `ulpdiff merge` needs no second writer per format that could drift from the first. The
 * reading is exact: numbers round-trip (jansson writes 17 significant digits), the worst
 * element's got/exact come from their %a strings, the operator and its variant are found in the
 * registry by name and the parameters parsed back from their JSON values. Non-finite numbers,
 * written as null, read back as +Inf (and are written as null again). The price: the reader
 * must know the report's operators and fields — an ulpdiff of the commit that wrote it, which
 * merge asks of the shards anyway. A field added to the writer must be read back here: merge
 * writes every case read back again (ud_json_case) and refuses one that comes out different,
 * so a field this reader misses is refused, never silently dropped.
 *
 * Every error names the file and the field ("cases[12].outputs[0].max_ulp: expected a number")
 * on stderr, prefixed by `who` ("ulpdiff merge"). */
#ifndef UD_REPORT_READ_H
#define UD_REPORT_READ_H

#include <stddef.h>

#include "reports/report.h"

typedef struct {
    const char *path;
    struct json_t *root;
    ud_report_meta meta;       /* its strings point into root; case_index is NULL */
    int has_corpus;            /* meta.corpus present: corpus_fingerprint, corpus_cases, per_op, max_cases */
    size_t n;                  /* cases */
} ud_report_file;

/* Loads the document and its meta. Returns 0, or UD_EXIT_USAGE (message printed). */
int ud_report_open(const char *who, const char *path, ud_report_file *r);

/* Case j into *res (its pointers: the registry's operator and output names, file names inside
 * r's document, valid until ud_report_close). *index: the case's "index", -1 when absent.
 * Returns 0, or UD_EXIT_USAGE (message printed). */
int ud_report_case(const char *who, const ud_report_file *r, size_t j, ud_result *res, long long *index);

void ud_report_close(ud_report_file *r);

#endif
