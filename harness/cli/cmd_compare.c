/* cmd_compare.c — `ulpdiff compare OLD.json NEW.json`: is NEW worse than OLD (reports/compare.c)? */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/report.h"
#include "harness/cli/cli.h"

int ud_cmd_compare(int argc, char **argv)
{
    ud_compare_opts co = {0.0, 0.01, 0};
    const char *files[2];
    int nf = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--all") == 0) { co.all = 1; continue; }
        if (strcmp(a, "--max-slack") == 0 || strcmp(a, "--mean-slack") == 0) {
            char *end;
            double v = i + 1 < argc ? strtod(argv[i + 1], &end) : -1.0;
            if (i + 1 >= argc || *end || !(v >= 0) || !isfinite(v)) {
                fprintf(stderr, "ulpdiff compare: %s needs a non-negative number\n", a);
                return UD_EXIT_USAGE;
            }
            if (a[2] == 'm' && a[3] == 'a') co.max_slack = v;
            else co.mean_slack = v;
            i++;
            continue;
        }
        if (a[0] == '-' || nf == 2) {
            fprintf(stderr, "ulpdiff compare: unexpected argument '%s'\nusage: ulpdiff compare OLD.json NEW.json "
                            "[--max-slack ULP] [--mean-slack FRACTION] [--all]\n", a);
            return UD_EXIT_USAGE;
        }
        files[nf++] = a;
    }
    if (nf != 2) {
        fprintf(stderr, "usage: ulpdiff compare OLD.json NEW.json [--max-slack ULP] [--mean-slack FRACTION] [--all]\n");
        return UD_EXIT_USAGE;
    }
    return ud_compare_reports(files[0], files[1], &co, stdout);
}

