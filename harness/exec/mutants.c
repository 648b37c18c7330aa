/* mutants.c — the mutation matrix and its score (mutants.h). */
#include "harness/exec/mutants.h"

#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"

int ud_mutants_matrix(const ud_case *base, size_t nbase, const ud_op *only, ud_case **all, size_t *nall)
{
    size_t n = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (only && op != only) continue;
        size_t nop = 0;
        for (size_t c = 0; c < nbase; c++) nop += base[c].op == op;
        n += nop * (size_t)(op->nmutants + 1);
    }
    ud_case *m = malloc((n ? n : 1) * sizeof *m);
    UD_ALLOC_CHECK(m);
    size_t k = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (only && op != only) continue;
        for (int v = 0; v <= op->nmutants; v++)
            for (size_t c = 0; c < nbase; c++) {
                if (base[c].op != op) continue;
                m[k] = base[c];
                m[k].mutant = v;
                ud_case_format_label(&m[k]);
                k++;
            }
    }
    *all = m;
    *nall = n;
    return UD_OK;
}

static int is_expected(const ud_variant_score *v, ud_finding_kind kind)
{
    return v->expect && strcmp(ud_finding_names[kind], v->expect) == 0;
}

/* Rows [a, b), which share an operator and variant, into *v. */
static void score_rows(const ud_case *all, const ud_result *res, const int *status, size_t a, size_t b,
                       ud_variant_score *v)
{
    memset(v, 0, sizeof *v);
    v->op = all[a].op;
    v->mutant = all[a].mutant;
    v->expect = v->mutant ? v->op->mutants[v->mutant - 1].expect : NULL;
    v->first = a;
    v->ncases = b - a;
    for (size_t c = a; c < b; c++) {
        if (status[c] != UD_OK) v->errors++;
        if (!res[c].nfindings) continue;
        v->failed++;
        if (!v->first_fail) v->first_fail = &res[c];
        int hit = 0;
        for (int f = 0; f < res[c].nfindings; f++) {
            if (is_expected(v, res[c].findings[f].kind)) hit = 1;
            else v->other[res[c].findings[f].kind]++;
        }
        if (hit && !v->hits++) v->first_hit = &res[c];
    }
}

int ud_mutants_score(const ud_case *all, const ud_result *res, const int *status, size_t n, ud_mutation_score *s)
{
    memset(s, 0, sizeof *s);
    s->v = calloc(n ? n : 1, sizeof *s->v);
    UD_ALLOC_CHECK(s->v);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && all[b].op == all[a].op && all[b].mutant == all[a].mutant) b++;
        ud_variant_score *v = &s->v[s->nv++];
        score_rows(all, res, status, a, b, v);
        s->errors += v->errors;
        if (!v->mutant) {
            s->prod_fail += v->failed > 0;
        } else {
            s->total++;
            s->caught += v->hits > 0;
        }
        a = b;
    }
    return UD_OK;
}

void ud_mutation_score_free(ud_mutation_score *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

int ud_mutation_passed(const ud_mutation_score *s) { return s->caught == s->total && !s->prod_fail; }
