/* text.c — text report. */
#include "reports/text.h"

#include <math.h>
#include <string.h>

#include "reports/byparam.h"

/* A budget fraction as a person reads it: "0.31", "1.8e+03", "NaN/Inf". */
static void frac_text(double v, char *buf, size_t n)
{
    if (isinf(v)) snprintf(buf, n, "NaN/Inf");
    else snprintf(buf, n, "%.3g", v);
}

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
        char fr[32];
        frac_text(s->budget_frac, fr, sizeof fr);
        if (!verbose && !r->nfindings) {
            fprintf(f, "     %-12s worst %s of budget; max %.4g  mean %.3g ulp_%s\n", s->name, fr, s->max_ulp, s->mean_ulp,
                    ud_dtype_name(s->dtype));
            continue;
        }
        fprintf(f, "     %-12s worst %s of budget; max %.4g  mean %.3g  p50 %.3g  p99 %.3g  p99.9 %.3g ulp_%s; max scaled %.3g u_w; lattice <= %lld; over budget %zu/%zu\n",
                s->name, fr, s->max_ulp, s->mean_ulp, s->p50, s->p99, s->p999, ud_dtype_name(s->dtype),
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
    typedef struct { const char *op, *dt, *be; size_t cases, failed; double frac, max_ulp; } row;
    row rows[256];
    size_t nrows = 0, total_failed = 0, total_skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const char *op = r[i].c.op->name, *dt = case_dtype(&r[i]), *be = ud_backend_name(r[i].backend);
        if (r[i].skipped) { total_skipped++; continue; }
        size_t k = 0;
        while (k < nrows && !(strcmp(rows[k].op, op) == 0 && strcmp(rows[k].dt, dt) == 0 && strcmp(rows[k].be, be) == 0)) k++;
        if (k == nrows) {
            if (nrows == sizeof rows / sizeof rows[0]) continue;
            rows[nrows++] = (row){op, dt, be, 0, 0, 0.0, 0.0};
        }
        rows[k].cases++;
        if (r[i].nfindings) { rows[k].failed++; total_failed++; }
        for (int o = 0; o < r[i].nout; o++) {
            if (r[i].out[o].max_ulp > rows[k].max_ulp) rows[k].max_ulp = r[i].out[o].max_ulp;
            if (r[i].out[o].budget_frac > rows[k].frac) rows[k].frac = r[i].out[o].budget_frac;
        }
    }
    /* "worst/budget" decides pass or fail (<= 1 passes); "max ulp" is beside it, labelled: where
     * cancellation makes a budget condition-scaled, a passing case can show a large ulp error. */
    fprintf(f, "\n%-24s %-6s %-7s %7s %7s %12s %12s\n", "operator", "dtype", "backend", "cases", "failed", "worst/budget",
            "max ulp");
    for (size_t k = 0; k < nrows; k++) {
        char fr[32];
        frac_text(rows[k].frac, fr, sizeof fr);
        fprintf(f, "%-24s %-6s %-7s %7zu %7zu %12s %12.4g\n", rows[k].op, rows[k].dt, rows[k].be, rows[k].cases,
                rows[k].failed, fr, rows[k].max_ulp);
    }
    if (nrows)
        fprintf(f, "worst/budget: the worst element's error as a fraction of its own budget (an element passes at <= 1);\n"
                   "max ulp: the largest error in ulps, which a condition-scaled budget can allow to be large.\n");
    ud_byparam_text(f, r, NULL, n);
    fprintf(f, "%zu cases: %zu passed, %zu failed%s", n - total_skipped, n - total_skipped - total_failed,
            total_failed, total_skipped ? "" : "\n");
    if (total_skipped) fprintf(f, ", %zu skipped\n", total_skipped);
}
