/* shrink.c — greedy shrinking of failing cases and reproducer files (shrink.h). */
#include "harness/exec/shrink.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cases/param_text.h"
#include "harness/core/files.h"

/* Does c still fail with `kind`? Runs it once (counted in *runs). */
static int still_fails(const ud_case *c, const ud_run_opts *o, ud_finding_kind kind, ud_result *res, int *runs)
{
    char msg[400];
    if (ud_case_validate(c, msg, sizeof msg)) return 0;
    (*runs)++;
    ud_run_case(c, o, res);
    return ud_result_has(res, kind);
}

/* Candidate smaller values for an integer parameter currently at v: the lower bound, 1, 2, 3,
 * then v minus halving fractions of the distance to the bound (v - d/2, v - d/4, ..., v - 1),
 * ascending and distinct. Trying the smallest first finds a 1-row reproducer in one run; the
 * halving steps keep a parameter that only fails near its current value to O(log v) runs a step. */
#define MAX_CAND 72
static int candidates(int64_t v, int64_t lo, int64_t *out)
{
    int64_t raw[MAX_CAND];
    int nr = 0;
    raw[nr++] = lo;
    raw[nr++] = 1;
    raw[nr++] = 2;
    raw[nr++] = 3;
    for (int64_t d = (v - lo) / 2; d >= 1 && nr < MAX_CAND - 1; d /= 2) raw[nr++] = v - d;
    raw[nr++] = v - 1;
    int n = 0;
    for (int i = 0; i < nr; i++) {
        int64_t x = raw[i];
        if (x < lo || x >= v) continue;
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= out[j] == x;
        if (!dup) out[n++] = x;
    }
    for (int i = 1; i < n; i++)   /* insertion sort: a few dozen values */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) { int64_t t = out[j]; out[j] = out[j - 1]; out[j - 1] = t; }
    return n;
}

int ud_shrink_case(const ud_case *c, const ud_run_opts *o, ud_finding_kind kind, int max_runs,
                   ud_case *best, ud_result *best_res)
{
    int runs = 0;
    *best = *c;
    ud_result *trial = malloc(sizeof *trial);
    if (!trial) return 0;
    int have_res = 0;
    for (int improved = 1; improved && runs < max_runs;) {
        improved = 0;
        /* k == nparams: the padding, shrunk like an integer parameter down to 0 (a finding that
         * needs no padding reproduces without it). */
        for (int k = 0; k <= c->op->nparams && runs < max_runs; k++) {
            if (k < c->op->nparams && c->op->params[k].kind != UD_P_INT) continue;
            if (k == c->op->nparams && best->padding == 0) continue;
            int64_t cand[MAX_CAND];
            int nc = k < c->op->nparams ? candidates(best->p[k].i, (int64_t)c->op->params[k].lo, cand)
                                        : candidates(best->padding, 0, cand);
            for (int j = 0; j < nc && runs < max_runs; j++) {
                ud_case t = *best;
                if (k < c->op->nparams) t.p[k].i = cand[j];
                else t.padding = (int)cand[j];
                ud_case_format_label(&t);
                if (still_fails(&t, o, kind, trial, &runs)) {
                    *best = t;
                    *best_res = *trial;
                    have_res = 1;
                    improved = 1;
                    break;   /* the smallest failing candidate: go on to the next parameter */
                }
            }
        }
    }
    if (!have_res) ud_run_case(best, o, best_res);
    free(trial);
    return runs;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 16777619u; }
    return h;
}

int ud_reproducer_text(const ud_case *c, const char *why, char *buf, size_t n, uint32_t *hash)
{
    char body[4096];
    size_t off = 0;
#define PUT(...) do { if (off < sizeof body) off += (size_t)snprintf(body + off, sizeof body - off, __VA_ARGS__); } while (0)
    PUT("op = %s\n", c->op->name);
    if (c->mutant) PUT("mutant = %s\n", c->op->mutants[c->mutant - 1].name);
    for (int k = 0; k < c->op->nparams; k++) {
        char v[64];
        ud_param_value_text(c, k, 1, v, sizeof v);
        PUT("%s = %s\n", c->op->params[k].name, v);
    }
    if (c->padding) PUT("padding = %d\n", c->padding);
    PUT("seed = %llu\n", (unsigned long long)c->seed);
    for (int t = 0; t < UD_NDTYPES; t++)
        if (!isnan(c->budget_ulp[t])) {
            char v[64];
            ud_real_text(c->budget_ulp[t], v, sizeof v);
            PUT("budget.%s = %s\n", ud_dtype_name((ud_dtype)t), v);
        }
    if (!isnan(c->budget_scaled)) {
        char v[64];
        ud_real_text(c->budget_scaled, v, sizeof v);
        PUT("scaled_budget = %s\n", v);
    }
#undef PUT
    if (off >= sizeof body) return UD_EINTERNAL;
    *hash = fnv1a(body);
    int len = snprintf(buf, n, "%s[%s-%08x]\n%s", why ? why : "", c->op->name, *hash, body);
    return (len < 0 || (size_t)len >= n) ? UD_EINTERNAL : UD_OK;
}

static int put_text(FILE *f, void *text) { return fputs(text, f) < 0; }

int ud_reproducer_write(const char *dir, const ud_case *c, const ud_result *r, const char *origin,
                        char *path, size_t pathn)
{
    const ud_finding *f = r->nfindings ? &r->findings[0] : NULL;
    char text[8192];
    uint32_t h;
    if (ud_reproducer_text(c, NULL, text, sizeof text, &h)) { ud_error("reproducer for %s is too long", c->label); return UD_EINTERNAL; }
    if (ud_mkdir_p(dir)) { ud_error("cannot create %s: %s", dir, strerror(errno)); return UD_EINTERNAL; }
    snprintf(path, pathn, "%s/%s-%08x.ini", dir, c->op->name, h);
    char why[2000];
    snprintf(why, sizeof why,
             "# Reproducer written by ulpdiff, shrunk from\n#   %s\n"
             "# It reproduces a %s finding on the %s backend:\n#   %.700s\n"
             "# Run: ulpdiff run --backend %s %s   (exit 1 while the finding stands)\n",
             origin, f ? ud_finding_names[f->kind] : "no", ud_backend_name(r->backend), f ? f->msg : "",
             ud_backend_name(r->backend), path);
    if (ud_reproducer_text(c, why, text, sizeof text, &h)) { ud_error("reproducer for %s is too long", c->label); return UD_EINTERNAL; }
    return ud_write_atomic(path, put_text, text);
}
