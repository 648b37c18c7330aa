/* cmd_merge.c — the commands that read JSON reports back (reports/read.h):
 *
 *   ulpdiff merge A.json B.json ... [--json OUT] [--junit OUT] [--html OUT] [--rates]
 *       the reports of one run's shards as the unsharded run's report (reports/merge.h);
 *       exit 0 pass, 1 findings, 3 a case with an error (as `run`), 2 refused;
 *   ulpdiff rates REPORT.json ...
 *       the per-operator throughput table of the cases of these reports (reports/rates.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/merge.h"
#include "reports/rates.h"
#include "reports/read.h"
#include "harness/cli/cli.h"

static const char merge_usage[] =
    "usage: ulpdiff merge SHARD.json ... [--json OUT] [--junit OUT] [--html OUT] [--rates]\n"
    "  the JSON reports of every shard of one run (`ulpdiff run --shard I/N --json`), in any order,\n"
    "  merged into the report of the unsharded run (docs/nightly.md)\n";

int ud_cmd_merge(int argc, char **argv)
{
    ud_merge_opts mo = {NULL, NULL, NULL, NULL, 0};
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    int nf = 0, rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--json") == 0 ? &mo.json : strcmp(a, "--junit") == 0 ? &mo.junit
                            : strcmp(a, "--html") == 0 ? &mo.html : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(merge_usage, stdout); free(files); return UD_EXIT_PASS; }
        if (strcmp(a, "--rates") == 0) mo.rates = 1;
        else if (slot && i + 1 < argc) *slot = argv[++i];
        else if (slot) { fprintf(stderr, "ulpdiff merge: %s needs a file name\n%s", a, merge_usage); rc = UD_EXIT_USAGE; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "ulpdiff merge: unknown option '%s'\n%s", a, merge_usage); rc = UD_EXIT_USAGE; }
        else files[nf++] = a;
    }
    if (!rc && !nf) { fprintf(stderr, "ulpdiff merge: no report given\n%s", merge_usage); rc = UD_EXIT_USAGE; }
    char *args = rc ? NULL : ud_cli_join(argc, argv), command[8192];
    snprintf(command, sizeof command, "ulpdiff merge %s", args ? args : "");
    mo.command = command;
    if (!rc) rc = ud_merge_reports(files, nf, &mo, stdout);
    free(args);
    free(files);
    return rc;
}

int ud_cmd_rates(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: ulpdiff rates REPORT.json ...\n  per operator, checked output elements per second of the "
                        "reference, the kernel and the comparison\n");
        return argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) ? UD_EXIT_PASS : UD_EXIT_USAGE;
    }
    size_t total = 0;
    ud_result *res = NULL;
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        ud_report_file f;
        rc = ud_report_open("ulpdiff rates", argv[i], &f);
        ud_result *more = rc ? NULL : realloc(res, (total + f.n + 1) * sizeof *res);
        if (!rc && !more) { ud_error("out of memory"); rc = UD_EXIT_INTERNAL; }
        if (more) res = more;
        for (size_t j = 0; !rc && j < f.n; j++) {
            long long idx;
            rc = ud_report_case("ulpdiff rates", &f, j, &res[total], &idx);
            total += !rc;
        }
        ud_report_close(&f);
    }
    if (!rc) ud_rates_print(stdout, res, NULL, total);   /* names point into the registry, not the closed files */
    free(res);
    return rc;
}
