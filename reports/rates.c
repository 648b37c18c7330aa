/* rates.c — the per-operator throughput table (rates.h). */
#include "reports/rates.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *op;
    size_t cases;
    unsigned long long elements;
    double ref, kernel, compare;
} row;

static void rate(FILE *f, unsigned long long el, double s)
{
    if (s > 0.0) fprintf(f, " %12.3g", (double)el / s);
    else fprintf(f, " %12s", "-");
}

static void print_row(FILE *f, const row *r)
{
    fprintf(f, "%-24s %6zu %14llu", r->op, r->cases, r->elements);
    rate(f, r->elements, r->ref);
    rate(f, r->elements, r->kernel);
    rate(f, r->elements, r->compare);
    fprintf(f, " %10.3f %10.3f %10.3f\n", r->ref, r->kernel, r->compare);
}

void ud_rates_print(FILE *f, const ud_result *res, const int *ran, size_t n)
{
    row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows) { fprintf(f, "rates: out of memory\n"); return; }
    size_t nrows = 0;
    row all = {"all", 0, 0, 0.0, 0.0, 0.0};
    for (size_t i = 0; i < n; i++) {
        const ud_result *r = &res[i];
        if ((ran && !ran[i]) || r->skipped || !r->checked_elements) continue;
        size_t k = 0;   /* operators in order of first appearance (the corpus order) */
        while (k < nrows && strcmp(rows[k].op, r->c.op->name) != 0) k++;
        if (k == nrows) rows[nrows++].op = r->c.op->name;
        row *rw[2] = {&rows[k], &all};
        for (int j = 0; j < 2; j++) {
            rw[j]->cases++;
            rw[j]->elements += r->checked_elements;
            rw[j]->ref += r->ref_seconds;
            rw[j]->kernel += r->kernel_seconds;
            rw[j]->compare += r->compare_seconds;
        }
    }
    fprintf(f, "\nchecked output elements per second, per operator (elements / summed seconds of each phase)\n");
    fprintf(f, "%-24s %6s %14s %12s %12s %12s %10s %10s %10s\n", "operator", "cases", "elements", "reference/s",
            "kernel/s", "compare/s", "ref s", "kernel s", "compare s");
    for (size_t k = 0; k < nrows; k++) print_row(f, &rows[k]);
    if (nrows > 1) print_row(f, &all);
    if (!nrows) fprintf(f, "(no compared case with phase timings)\n");
    free(rows);
}
