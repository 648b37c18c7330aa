/* identity.c — the corpus list of a selection, its fingerprint, and each selected case's
 * position in it (identity.h). */
#include "harness/cases/identity.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cases/param_text.h"

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
    return h;
}

static uint64_t fnv_text(uint64_t h, const char *s) { return fnv1a(h, s, strlen(s) + 1); }   /* with its NUL: a separator */

/* What makes a case this case: its label (operator, variant, parameters as printed, seed),
 * the exact parameter values (a label prints reals with %g) and the budget overrides. */
static uint64_t hash_case(uint64_t h, const ud_case *c)
{
    char buf[128];
    h = fnv_text(h, c->label);
    for (int k = 0; k < c->op->nparams; k++) {
        ud_param_value_text(c, k, 1, buf, sizeof buf);
        h = fnv_text(h, buf);
    }
    for (int d = 0; d < UD_NDTYPES; d++) {
        snprintf(buf, sizeof buf, "%a", c->budget_ulp[d]);
        h = fnv_text(h, buf);
    }
    snprintf(buf, sizeof buf, "%a", c->budget_scaled);
    return fnv_text(h, buf);
}

int ud_identity_take(const ud_select_opts *o, ud_selection *s, ud_identity *id)
{
    memset(id, 0, sizeof *id);
    ud_select_opts whole = *o;
    whole.shard_k = whole.shard_n = 1;
    whole.max_cases = -1;
    whole.per_op = 0;
    int rc = ud_select_filter(&whole, s);
    if (rc) return rc;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < s->n; i++) h = hash_case(h, &s->cases[i]);
    snprintf(id->fingerprint, sizeof id->fingerprint, "fnv1a64:%016llx", (unsigned long long)h);
    id->ncorpus = s->n;
    id->corpus = malloc((s->n ? s->n : 1) * sizeof *id->corpus);
    if (!id->corpus) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    if (s->n) memcpy(id->corpus, s->cases, s->n * sizeof *id->corpus);
    return 0;
}

static int same_case(const ud_case *a, const ud_case *b)
{
    return a->op == b->op && a->mutant == b->mutant && a->seed == b->seed && a->line == b->line &&
           a->padding == b->padding &&
           a->file == b->file && strcmp(a->label, b->label) == 0 &&
           memcmp(a->p, b->p, sizeof a->p) == 0 && memcmp(a->budget_ulp, b->budget_ulp, sizeof a->budget_ulp) == 0 &&
           memcmp(&a->budget_scaled, &b->budget_scaled, sizeof a->budget_scaled) == 0;
}

int ud_identity_index(ud_identity *id, const ud_selection *s)
{
    free(id->index);
    id->index = malloc((s->n ? s->n : 1) * sizeof *id->index);
    if (!id->index) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    /* The selection is a subsequence of the list (the filter keeps order), so a forward walk
     * finds each case; identical cases (same section line too) are interchangeable. */
    size_t p = 0;
    for (size_t j = 0; j < s->n; j++) {
        while (p < id->ncorpus && !same_case(&id->corpus[p], &s->cases[j])) p++;
        if (p == id->ncorpus) {
            ud_error("selection: case %s is not in the corpus list in order", s->cases[j].label);
            return UD_EXIT_INTERNAL;
        }
        id->index[j] = p++;
    }
    return 0;
}

void ud_identity_free(ud_identity *id)
{
    free(id->corpus);
    free(id->index);
    memset(id, 0, sizeof *id);
}
