/* text.c — text report. */
#include "reports/text.h"

#include <math.h>
#include <string.h>

static const char *case_dtype(const ud_result *r)
{
    return r->nout ? ud_dtype_name(r->out[0].dtype) : "-";
}

void ud_text_case(FILE *f, const ud_result *r, int verbose)
{
    const char *verdict = r->skipped ? "SKIP" : r->nfindings ? "FAIL" : "PASS";
    fprintf(f, "%s %s [%s] %.2fs\n", verdict, r->c.label, ud_backend_name(r->backend), r->seconds);
    if (r->skipped) return;
    for (int k = 0; k < r->nout; k++) {
        const ud_out_stats *s = &r->out[k];
        if (!verbose && !r->nfindings) {
            fprintf(f, "     %-12s max %.4g  mean %.3g ulp_%s\n", s->name, s->max_ulp, s->mean_ulp,
                    ud_dtype_name(s->dtype));
            continue;
        }
        fprintf(f, "     %-12s max %.4g  mean %.3g  p50 %.3g  p99 %.3g  p99.9 %.3g ulp_%s; max scaled %.3g u_w; lattice <= %lld; over budget %zu/%zu\n",
                s->name, s->max_ulp, s->mean_ulp, s->p50, s->p99, s->p999, ud_dtype_name(s->dtype),
                s->max_scaled, (long long)s->max_lattice, s->n_over, s->n);
        if (s->has_worst)
            fprintf(f, "       worst %s%s: got %a (%.9g) exact %a (%.17g) = %.4g ulp, scale %.6g%s%s\n",
                    s->name, s->worst_coords, s->worst_got, s->worst_got, s->worst_exact, s->worst_exact,
                    s->worst_ulp, s->worst_scale, s->worst_inputs[0] ? "; inputs " : "", s->worst_inputs);
    }
    for (int m = 0; m < r->nmetrics; m++)
        fprintf(f, "     %-12s %.6g (budget %.6g)\n", r->metrics[m].name, r->metrics[m].value, r->metrics[m].budget);
    for (int i = 0; i < r->nfindings; i++)
        fprintf(f, "     finding %s: %s\n", ud_finding_names[r->findings[i].kind], r->findings[i].msg);
}

void ud_text_summary(FILE *f, const ud_result *r, size_t n)
{
    /* Rows: distinct (op, dtype, backend) in order of first appearance. */
    typedef struct { const char *op, *dt, *be; size_t cases, failed; double max_ulp; } row;
    row rows[256];
    size_t nrows = 0, total_failed = 0, total_skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const char *op = r[i].c.op->name, *dt = case_dtype(&r[i]), *be = ud_backend_name(r[i].backend);
        if (r[i].skipped) { total_skipped++; continue; }
        size_t k = 0;
        while (k < nrows && !(strcmp(rows[k].op, op) == 0 && strcmp(rows[k].dt, dt) == 0 && strcmp(rows[k].be, be) == 0)) k++;
        if (k == nrows) {
            if (nrows == sizeof rows / sizeof rows[0]) continue;
            rows[nrows++] = (row){op, dt, be, 0, 0, 0.0};
        }
        rows[k].cases++;
        if (r[i].nfindings) { rows[k].failed++; total_failed++; }
        for (int o = 0; o < r[i].nout; o++)
            if (r[i].out[o].max_ulp > rows[k].max_ulp) rows[k].max_ulp = r[i].out[o].max_ulp;
    }
    fprintf(f, "\n%-24s %-6s %-7s %7s %7s %12s\n", "operator", "dtype", "backend", "cases", "failed", "max ulp");
    for (size_t k = 0; k < nrows; k++)
        fprintf(f, "%-24s %-6s %-7s %7zu %7zu %12.4g\n", rows[k].op, rows[k].dt, rows[k].be, rows[k].cases,
                rows[k].failed, rows[k].max_ulp);
    fprintf(f, "%zu cases: %zu passed, %zu failed%s", n - total_skipped, n - total_skipped - total_failed,
            total_failed, total_skipped ? "" : "\n");
    if (total_skipped) fprintf(f, ", %zu skipped\n", total_skipped);
}
