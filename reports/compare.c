/* compare.c — `ulpdiff compare OLD.json NEW.json`: per-case deltas of max and mean ULP error
 * and of findings between two JSON reports (schema "ulpdiff-report/1").
 *
 * Cases match by operator, parameters, seed and backend — not by the kernel variant, so a
 * run of a known-bug variant (or of another commit) compares case by case with production. A case of NEW is worse when it has a finding kind the same case in OLD did
 * not have, when an output's max ULP error rose by more than max_slack ulps, or when its mean
 * rose by more than the fraction mean_slack. A case of OLD missing from NEW is worse too (lost
 * coverage: an error, a crash, a time budget); a case only in NEW is worse when it has
 * findings. Exit 0: NEW no worse; 1: worse (the cases are listed); 2: bad input. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/core/files.h"
#include "reports/report.h"

#define MAX_OUTS 8
#define MAX_KINDS 16

typedef struct {
    char key[1200];
    const char *label, *backend;
    const char *status;
    int nout;
    const char *out_name[MAX_OUTS];
    double max_ulp[MAX_OUTS], mean_ulp[MAX_OUTS];
    int nkinds;
    const char *kinds[MAX_KINDS];
    int matched;
    size_t idx;          /* position in the report */
    size_t next;         /* the first case of a run of equal keys: its next unmatched index */
} ccase;

typedef struct {
    const char *path;
    json_t *root;
    ccase *cases;
    size_t n;
} report;

static int bad(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ulpdiff compare: %s: ", path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static double real_or_inf(json_t *v, int *ok)
{
    if (json_is_number(v)) return json_number_value(v);
    if (json_is_null(v)) return INFINITY;   /* the writer stores non-finite values as null */
    *ok = 0;
    return 0.0;
}

/* By key, then by position in the report: duplicates keep their order (qsort is not stable). */
static int cmp_key(const void *a, const void *b)
{
    const ccase *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int load(const char *path, report *r)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    json_error_t e;
    char why[256];
    size_t len = 0;
    /* Regular files only: a FIFO would block the reader forever. */
    char *text = ud_read_regular(path, (size_t)1 << 32, &len, why, sizeof why);
    if (!text) return bad(path, "cannot read: %s", why);
    r->root = json_loadb(text, len, 0, &e);
    free(text);
    if (!r->root) {
        char where[64];
        snprintf(where, sizeof where, "%d:%d", e.line, e.column);
        return bad(path, "not a JSON document (%s: %s); expected a report written by `ulpdiff run --json`", where, e.text);
    }
    json_t *schema = json_object_get(r->root, "schema");
    if (!json_is_object(r->root) || !json_is_string(schema))
        return bad(path, "not a ulpdiff report: expected an object with \"schema\": \"%s\"", UD_REPORT_SCHEMA);
    if (strcmp(json_string_value(schema), UD_REPORT_SCHEMA) != 0)
        return bad(path, "schema is \"%s\"; this ulpdiff reads \"%s\"", json_string_value(schema), UD_REPORT_SCHEMA);
    json_t *cases = json_object_get(r->root, "cases");
    if (!json_is_array(cases)) return bad(path, "expected \"cases\": [...] (an array of case objects)");
    r->n = json_array_size(cases);
    r->cases = calloc(r->n ? r->n : 1, sizeof *r->cases);
    if (!r->cases) return bad(path, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        json_t *c = json_array_get(cases, i);
        char idx[32];
        snprintf(idx, sizeof idx, "cases[%zu]", i);
        json_t *label = json_object_get(c, "label"), *be = json_object_get(c, "backend"), *st = json_object_get(c, "status");
        json_t *outs = json_object_get(c, "outputs"), *fs = json_object_get(c, "findings");
        json_t *op = json_object_get(c, "op"), *params = json_object_get(c, "params"), *seed = json_object_get(c, "seed");
        if (!json_is_string(label) || !json_is_string(be) || !json_is_string(st) || !json_is_array(outs) ||
            !json_is_array(fs) || !json_is_string(op) || !json_is_object(params) || !json_is_integer(seed))
            return bad(path, "%s: expected a case object with strings label, op, backend, status, an object params, "
                             "an integer seed and arrays outputs and findings", idx);
        ccase *cc = &r->cases[i];
        cc->idx = i;
        char *pj = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
        if (!pj) return bad(path, "out of memory");
        json_t *pad = json_object_get(c, "padding");   /* padded cases only: the same case padded is another */
        char padt[48] = "";
        if (json_is_integer(pad)) snprintf(padt, sizeof padt, " padding=%lld", (long long)json_integer_value(pad));
        snprintf(cc->key, sizeof cc->key, "%s %s seed=%lld%s [%s]", json_string_value(op), pj,
                 (long long)json_integer_value(seed), padt, json_string_value(be));
        free(pj);
        cc->label = json_string_value(label);
        cc->backend = json_string_value(be);
        cc->status = json_string_value(st);
        for (size_t k = 0; k < json_array_size(outs) && k < MAX_OUTS; k++) {
            json_t *o = json_array_get(outs, k);
            int ok = json_is_string(json_object_get(o, "name"));
            cc->out_name[k] = ok ? json_string_value(json_object_get(o, "name")) : "";
            cc->max_ulp[k] = real_or_inf(json_object_get(o, "max_ulp"), &ok);
            cc->mean_ulp[k] = real_or_inf(json_object_get(o, "mean_ulp"), &ok);
            json_t *nm = json_object_get(o, "n_nan_mismatch"), *nu = json_object_get(o, "n_unwritten");
            if ((json_is_integer(nm) && json_integer_value(nm) > 0) || (json_is_integer(nu) && json_integer_value(nu) > 0))
                cc->max_ulp[k] = INFINITY;   /* a NaN/Inf mismatch is worse than any finite error */
            if (!ok) return bad(path, "%s.outputs: expected name (string), max_ulp and mean_ulp (numbers)", idx);
            cc->nout++;
        }
        for (size_t k = 0; k < json_array_size(fs) && cc->nkinds < MAX_KINDS; k++) {
            json_t *kind = json_object_get(json_array_get(fs, k), "kind");
            if (!json_is_string(kind)) return bad(path, "%s.findings[]: expected {\"kind\": ..., \"message\": ...}", idx);
            int seen = 0;
            for (int j = 0; j < cc->nkinds; j++) seen |= strcmp(cc->kinds[j], json_string_value(kind)) == 0;
            if (!seen) cc->kinds[cc->nkinds++] = json_string_value(kind);
        }
    }
    qsort(r->cases, r->n, sizeof *r->cases, cmp_key);
    return 0;
}

static void release(report *r)
{
    free(r->cases);
    json_decref(r->root);
}

static int has_kind(const ccase *c, const char *k)
{
    for (int i = 0; i < c->nkinds; i++)
        if (strcmp(c->kinds[i], k) == 0) return 1;
    return 0;
}

/* Appends "name max a -> b (+d) ulp, mean ..." for each output to buf; returns -1 better,
 * 0 same, 1 worse. */
static int diff_case(const ccase *o, const ccase *n, const ud_compare_opts *opt, char *buf, size_t bn)
{
    size_t off = 0;
    int worse = 0, better = 0;
    buf[0] = 0;
    for (int k = 0; k < n->nout; k++) {
        int j = 0;
        while (j < o->nout && strcmp(o->out_name[j], n->out_name[k]) != 0) j++;
        if (j == o->nout) continue;
        double om = o->max_ulp[j], nm = n->max_ulp[k], oa = o->mean_ulp[j], na = n->mean_ulp[k];
        int w = nm > om + opt->max_slack || (isinf(nm) && !isinf(om)) || na > oa * (1.0 + opt->mean_slack) + 1e-12;
        int b = nm < om || na < oa;
        worse |= w;
        better |= b && !w;
        if ((nm != om || na != oa || opt->all) && off < bn)
            off += (size_t)snprintf(buf + off, bn - off, "%s%s max %.4g -> %.4g (%+.4g) ulp, mean %.4g -> %.4g (%+.4g)",
                                    off ? "; " : "", n->out_name[k], om, nm, nm - om, oa, na, na - oa);
    }
    char kinds[300] = "";
    size_t ko = 0;
    for (int i = 0; i < n->nkinds; i++)
        if (!has_kind(o, n->kinds[i]) && ko < sizeof kinds)
            ko += (size_t)snprintf(kinds + ko, sizeof kinds - ko, "%s%s", ko ? ", " : "", n->kinds[i]);
    if (ko) { worse = 1; if (off < bn) off += (size_t)snprintf(buf + off, bn - off, "%snew findings: %s", off ? "; " : "", kinds); }
    ko = 0;
    kinds[0] = 0;
    for (int i = 0; i < o->nkinds; i++)
        if (!has_kind(n, o->kinds[i]) && ko < sizeof kinds)
            ko += (size_t)snprintf(kinds + ko, sizeof kinds - ko, "%s%s", ko ? ", " : "", o->kinds[i]);
    if (ko) { better = 1; if (off < bn) snprintf(buf + off, bn - off, "%sfindings gone: %s", off ? "; " : "", kinds); }
    return worse ? 1 : better ? -1 : 0;
}

int ud_compare_reports(const char *old_path, const char *new_path, const ud_compare_opts *opt, FILE *out)
{
    report o, n;
    int rc = load(old_path, &o);
    if (rc) { release(&o); return rc; }
    rc = load(new_path, &n);
    if (rc) { release(&o); release(&n); return rc; }
    fprintf(out, "ulpdiff compare: %s (%zu cases) -> %s (%zu cases)\n", old_path, o.n, new_path, n.n);
    size_t worse = 0, better = 0, same = 0, only_new = 0, only_old = 0;
    char buf[2048];
    for (size_t i = 0; i < n.n; i++) {
        ccase *nc = &n.cases[i];
        /* Duplicate keys (two sections, same parameters) pair in order: the first case of each
         * run of equal keys (found by binary search) remembers the next one to pair, so many
         * duplicates cost no more than distinct cases. */
        size_t lo = 0, hi = o.n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(o.cases[mid].key, nc->key) < 0) lo = mid + 1;
            else hi = mid;
        }
        ccase *oc = NULL;
        if (lo < o.n && strcmp(o.cases[lo].key, nc->key) == 0) {
            size_t j = o.cases[lo].next > lo ? o.cases[lo].next : lo;
            if (j < o.n && strcmp(o.cases[j].key, nc->key) == 0) { oc = &o.cases[j]; o.cases[lo].next = j + 1; }
        }
        if (!oc) {
            only_new++;
            if (nc->nkinds) {
                worse++;
                fprintf(out, "WORSE   %s [%s]: new case with findings (%s)\n", nc->label, nc->backend, nc->kinds[0]);
            } else if (opt->all) {
                fprintf(out, "new     %s [%s]\n", nc->label, nc->backend);
            }
            continue;
        }
        oc->matched = 1;
        int d = diff_case(oc, nc, opt, buf, sizeof buf);
        if (d > 0) { worse++; fprintf(out, "WORSE   %s [%s]: %s\n", nc->label, nc->backend, buf); }
        else if (d < 0) { better++; fprintf(out, "better  %s [%s]: %s\n", nc->label, nc->backend, buf); }
        else {
            same++;
            if (opt->all || buf[0]) fprintf(out, "same    %s [%s]%s%s\n", nc->label, nc->backend, buf[0] ? ": " : "", buf);
        }
    }
    for (size_t i = 0; i < o.n; i++)
        if (!o.cases[i].matched) {
            only_old++;
            worse++;
            fprintf(out, "WORSE   %s [%s]: missing from %s (it ran in %s)\n", o.cases[i].label, o.cases[i].backend,
                    new_path, old_path);
        }
    fprintf(out, "\n%zu worse, %zu better, %zu unchanged; %zu only in OLD, %zu only in NEW\n", worse, better, same,
            only_old, only_new);
    fprintf(out, "verdict: %s\n", worse ? "NEW is worse" : "NEW is no worse");
    release(&o);
    release(&n);
    return worse ? 1 : 0;
}
