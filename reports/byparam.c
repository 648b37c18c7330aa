/* byparam.c — failures grouped by parameter value (byparam.h). */
#include "reports/byparam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cases/param_text.h"

#define MAX_GROUPS 64
#define MAX_RAW 4096   /* distinct raw values tracked per parameter before bucketing */

/* The distinct values of one parameter within a group, before they are bucketed or ranked. */
typedef struct {
    double v;          /* numeric value (ints and reals); choices: the index */
    size_t cases, failed;
} raw;

typedef struct {
    raw *vals;
    size_t n, cap;
    int overflow;      /* more than MAX_RAW distinct values */
} rawset;

static int raw_add(rawset *s, double v, int failed)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->vals[i].v == v) { s->vals[i].cases++; s->vals[i].failed += failed; return 0; }
    if (s->n == MAX_RAW) { s->overflow = 1; return 0; }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        raw *p = realloc(s->vals, cap * sizeof *p);
        if (!p) return -1;
        s->vals = p;
        s->cap = cap;
    }
    s->vals[s->n++] = (raw){v, 1, (size_t)failed};
    return 0;
}

static double value_of(const ud_case *c, int k)
{
    const ud_param *p = &c->op->params[k];
    return p->kind == UD_P_REAL ? c->p[k].d : (double)c->p[k].i;
}

static int cmp_value(const void *a, const void *b)
{
    const ud_bp_value *x = a, *y = b;
    double rx = (double)x->failed / (double)x->cases, ry = (double)y->failed / (double)y->cases;
    if (rx != ry) return rx < ry ? 1 : -1;
    return (x->cases < y->cases) - (x->cases > y->cases);
}

/* Power-of-two bucket of v: "0", "64..127" (ints), "2^-3..2^-2" (reals), negatives likewise. */
static void bucket_text(const ud_param *p, double v, char *buf, size_t n)
{
    if (v == 0.0 || !isfinite(v)) { snprintf(buf, n, "%g", v); return; }
    int e = (int)floor(log2(fabs(v)));
    const char *sign = v < 0 ? "-" : "";
    if (p->kind == UD_P_INT && e >= 0) {
        long long lo = 1LL << e, hi = (1LL << (e + 1)) - 1;
        if (lo == hi) snprintf(buf, n, "%s%lld", sign, lo);
        else snprintf(buf, n, "%s%lld..%s%lld", sign, lo, sign, hi);
    } else {
        snprintf(buf, n, "%s%g..%s%g", sign, ldexp(1.0, e), sign, ldexp(1.0, e + 1));
    }
}

/* Fills P from the raw values of parameter k (example: a case of the group, for the text). */
static void finish_param(const ud_case *example, int k, const rawset *s, ud_bp_param *P)
{
    const ud_param *p = &example->op->params[k];
    memset(P, 0, sizeof *P);
    P->param = k;
    int numeric = p->kind == UD_P_INT || p->kind == UD_P_REAL;
    int bucket = numeric && (s->n > 12 || s->overflow);
    ud_bp_value tmp[MAX_RAW > 256 ? 256 : MAX_RAW];
    size_t nt = 0;
    for (size_t i = 0; i < s->n; i++) {
        char text[48];
        if (bucket) bucket_text(p, s->vals[i].v, text, sizeof text);
        else {
            ud_case c = *example;
            if (p->kind == UD_P_REAL) c.p[k].d = s->vals[i].v;
            else c.p[k].i = (int64_t)s->vals[i].v;
            ud_param_value_text(&c, k, 0, text, sizeof text);
        }
        size_t j = 0;
        while (j < nt && strcmp(tmp[j].text, text) != 0) j++;
        if (j == nt) {
            if (nt == sizeof tmp / sizeof tmp[0]) continue;
            memset(&tmp[nt], 0, sizeof tmp[nt]);
            snprintf(tmp[nt].text, sizeof tmp[nt].text, "%s", text);
            nt++;
        }
        tmp[j].cases += s->vals[i].cases;
        tmp[j].failed += s->vals[i].failed;
    }
    qsort(tmp, nt, sizeof *tmp, cmp_value);
    P->nvalues = nt < UD_BP_VALUES ? (int)nt : UD_BP_VALUES;
    memcpy(P->values, tmp, (size_t)P->nvalues * sizeof *tmp);
}

/* Do the values of P fail at different rates? */
static int tells_something(const ud_bp_param *P)
{
    for (int v = 1; v < P->nvalues; v++)
        if (P->values[v].failed * P->values[0].cases != P->values[0].failed * P->values[v].cases) return 1;
    return 0;
}

int ud_byparam(const ud_result *r, const int *ran, size_t n, ud_bp_group **groups, size_t *ngroups)
{
    *groups = NULL;
    *ngroups = 0;
    /* The groups with a failure, in order of first appearance. */
    const ud_op *gop[MAX_GROUPS];
    int gmut[MAX_GROUPS];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if ((ran && !ran[i]) || r[i].skipped || !r[i].nfindings) continue;
        size_t g = 0;
        while (g < ng && !(gop[g] == r[i].c.op && gmut[g] == r[i].c.mutant)) g++;
        if (g == ng && ng < MAX_GROUPS) { gop[ng] = r[i].c.op; gmut[ng] = r[i].c.mutant; ng++; }
    }
    if (!ng) return 0;
    ud_bp_group *G = calloc(ng, sizeof *G);
    if (!G) return -1;
    int rc = 0;
    for (size_t g = 0; g < ng && !rc; g++) {
        const ud_op *op = gop[g];
        rawset sets[UD_MAX_PARAMS];
        memset(sets, 0, sizeof sets);
        const ud_case *example = NULL;
        G[g].op = op;
        G[g].mutant = gmut[g];
        for (size_t i = 0; i < n && !rc; i++) {
            if ((ran && !ran[i]) || r[i].skipped || r[i].c.op != op || r[i].c.mutant != gmut[g]) continue;
            if (!example) example = &r[i].c;
            int failed = r[i].nfindings > 0;
            G[g].cases++;
            G[g].failed += (size_t)failed;
            for (int k = 0; k < op->nparams && !rc; k++) rc = raw_add(&sets[k], value_of(&r[i].c, k), failed);
        }
        for (int k = 0; k < op->nparams; k++) {
            if (!rc && sets[k].n > 1) {
                ud_bp_param *P = &G[g].params[G[g].nparams];
                finish_param(example, k, &sets[k], P);
                if (P->nvalues > 1 && tells_something(P)) G[g].nparams++;
            }
            free(sets[k].vals);
        }
    }
    if (rc) { free(G); return -1; }
    *groups = G;
    *ngroups = ng;
    return 0;
}

void ud_bp_name(const ud_bp_group *g, char *buf, size_t n)
{
    if (g->mutant) snprintf(buf, n, "%s.%s", g->op->name, g->op->mutants[g->mutant - 1].name);
    else snprintf(buf, n, "%s", g->op->name);
}

void ud_byparam_text(FILE *f, const ud_result *r, const int *ran, size_t n)
{
    ud_bp_group *G;
    size_t ng;
    if (ud_byparam(r, ran, n, &G, &ng) || !ng) return;
    fprintf(f, "\nfailures by parameter value (share of each value's cases that failed):\n");
    for (size_t g = 0; g < ng; g++) {
        char name[160];
        ud_bp_name(&G[g], name, sizeof name);
        fprintf(f, "  %s: %zu of %zu cases failed%s\n", name, G[g].failed, G[g].cases,
                G[g].nparams ? "" : "; every parameter value fails alike");
        for (int k = 0; k < G[g].nparams; k++) {
            const ud_bp_param *P = &G[g].params[k];
            fprintf(f, "    %-12s", G[g].op->params[P->param].name);
            for (int v = 0; v < P->nvalues; v++) {
                const ud_bp_value *V = &P->values[v];
                fprintf(f, "%s %s %.0f%% (%zu/%zu)", v ? "," : "", V->text, 100.0 * (double)V->failed / (double)V->cases,
                        V->failed, V->cases);
            }
            fputc('\n', f);
        }
    }
    free(G);
}
