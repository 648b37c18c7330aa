/* merge.h — `ulpdiff merge A.json B.json ...`: the JSON reports of the shards of one run
 * (`ulpdiff run --shard I/N --json`) merged into the report the unsharded run would have
 * written: the same cases in the same order (each case's "index", its position in the corpus
 * list, harness/cases/identity.h), the same summary, and JSON, JUnit and HTML written from the
 * merged cases by the run's own writers (reports/read.h says why through ud_result).
 *
 * The shards must be one run's: the same commit (meta.git_commit), backend, corpus
 * (meta.corpus: fingerprint, case count, --per-op and --max-cases) and shard count, each shard
 * once, none missing, every case in the shard its report claims, and every case written again
 * exactly as it was read (nothing in it this ulpdiff does not know). Anything else is refused
 * with exit 2 and a message naming the file and the field. The merged meta: shard 1/1,
 * selected and not_run summed, elapsed_seconds the longest shard's (shards run side by side),
 * date the earliest, the devices of every shard, the merge command line.
 *
 * Without --per-op and --max-cases, the merged report equals the unsharded run's case for case
 * (timings aside; tests/cli/ci_recipe.sh). With them, each shard applied its limit to its own
 * cases, so the merge holds the union of the shards' subsets. */
#ifndef UD_REPORT_MERGE_H
#define UD_REPORT_MERGE_H

#include <stdio.h>

typedef struct {
    const char *json, *junit, *html;   /* the merged reports to write, or NULL */
    const char *command;               /* the merge's command line, for the merged meta */
    int rates;                         /* print the per-operator rates table (reports/rates.h) */
} ud_merge_opts;

/* Merges the reports at paths[0..n) and prints a summary to out. Returns the exit code `run`
 * would have: 0 pass, 1 findings, 3 a case with an error or a report not written; 2 refused. */
int ud_merge_reports(const char *const *paths, int n, const ud_merge_opts *o, FILE *out);

#endif
