/* common.c — helpers shared by the report writers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "numerics/status.h"
#include "reports/report.h"

void ud_report_meta_date(ud_report_meta *m)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *ud_result_dtype(const ud_result *r)
{
    return r->nout ? ud_dtype_name(r->out[0].dtype) : "-";
}

double ud_result_max_ulp(const ud_result *r)
{
    double m = 0.0;
    for (int k = 0; k < r->nout; k++) {
        if (r->out[k].n_nan_mismatch || r->out[k].n_unwritten) return INFINITY;
        if (r->out[k].max_ulp > m) m = r->out[k].max_ulp;
    }
    return m;
}
