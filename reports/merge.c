/* merge.c — shard reports merged into the unsharded run's report (merge.h). */
#include "reports/merge.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "reports/rates.h"
#include "reports/read.h"
#include "reports/text.h"
#include "harness/cases/select.h"   /* ud_shard_has: which cases a shard holds */

#define WHO "ulpdiff merge"

static int refuse(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, WHO ": %s: ", path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return UD_EXIT_USAGE;
}

/* One run's shards: the same commit, backend, corpus and shard count as the first; each shard
 * once; none missing. */
static int check_shards(const ud_report_file *f, int n)
{
    for (int i = 0; i < n; i++)
        if (!f[i].has_corpus)
            return refuse(f[i].path, "meta.corpus: missing (written by an ulpdiff without `merge`, or not by `ulpdiff "
                                     "run`); run the shards again with this ulpdiff");
    const ud_report_meta *a = &f[0].meta;
    const char *p0 = f[0].path;
    for (int i = 1; i < n; i++) {
        const ud_report_meta *b = &f[i].meta;
        const char *p = f[i].path;
        if (strcmp(a->commit, b->commit) != 0)
            return refuse(p, "meta.git_commit is \"%s\", but %s's is \"%s\": the shards of one run come from one commit",
                          b->commit, p0, a->commit);
        if (strcmp(a->backend, b->backend) != 0)
            return refuse(p, "meta.backend is \"%s\", but %s's is \"%s\"", b->backend, p0, a->backend);
        if (strcmp(a->corpus_fingerprint, b->corpus_fingerprint) != 0 || a->corpus_cases != b->corpus_cases)
            return refuse(p, "meta.corpus.fingerprint is %s (%zu cases), but %s's is %s (%zu cases): another corpus, or "
                             "another --op/--mutant/--seed selection", b->corpus_fingerprint, b->corpus_cases, p0,
                          a->corpus_fingerprint, a->corpus_cases);
        if (a->per_op != b->per_op || a->max_cases != b->max_cases)
            return refuse(p, "meta.corpus.per_op/max_cases are %lld/%lld, but %s's are %lld/%lld (0 / -1: none)",
                          b->per_op, b->max_cases, p0, a->per_op, a->max_cases);
        if (a->shard_n != b->shard_n)
            return refuse(p, "meta.shard is %d/%d, but %s's is %d/%d: different shard counts", b->shard_k, b->shard_n,
                          p0, a->shard_k, a->shard_n);
    }
    int nsh = a->shard_n;
    int *owner = malloc((size_t)nsh * sizeof *owner);
    if (!owner) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    for (int k = 0; k < nsh; k++) owner[k] = -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int k = f[i].meta.shard_k - 1;
        if (owner[k] >= 0)
            rc = refuse(f[i].path, "meta.shard is %d/%d, as is %s's: a shard given twice", k + 1, nsh, f[owner[k]].path);
        owner[k] = i;
    }
    if (!rc) {
        char list[1024] = "";
        size_t off = 0;
        int missing = 0;
        for (int k = 0; k < nsh; k++)
            if (owner[k] < 0 && off < sizeof list) {
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%d", missing ? ", " : "", k + 1);
                missing++;
            }
        if (missing) {
            fprintf(stderr, WHO ": shard%s %s of %d missing (%d report%s given)\n", missing == 1 ? "" : "s", list, nsh, n,
                    n == 1 ? "" : "s");
            rc = UD_EXIT_USAGE;
        }
    }
    free(owner);
    return rc;
}

typedef struct { size_t index, j; int file; } entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Every case with its corpus index, sorted; each index in its shard and in none other. */
static int collect(const ud_report_file *f, int n, entry *e, size_t *total)
{
    size_t t = 0;
    for (int i = 0; i < n; i++) {
        const ud_report_meta *m = &f[i].meta;
        json_t *cases = json_object_get(f[i].root, "cases");
        for (size_t j = 0; j < f[i].n; j++) {
            json_t *iv = json_object_get(json_array_get(cases, j), "index");
            if (!json_is_integer(iv) || json_integer_value(iv) < 0)
                return refuse(f[i].path, "cases[%zu].index: expected an integer >= 0 (the case's position in the corpus)", j);
            size_t idx = (size_t)json_integer_value(iv);
            if (idx >= m->corpus_cases || !ud_shard_has(idx, m->shard_k, m->shard_n))
                return refuse(f[i].path, "cases[%zu].index: %zu is not a case of shard %d/%d of a %zu-case corpus", j, idx,
                              m->shard_k, m->shard_n, m->corpus_cases);
            e[t++] = (entry){idx, j, i};
        }
    }
    qsort(e, t, sizeof *e, cmp_entry);
    for (size_t k = 1; k < t; k++)
        if (e[k].index == e[k - 1].index)
            return refuse(f[e[k].file].path, "cases[%zu].index: %zu appears twice (also cases[%zu] of %s)", e[k].j,
                          e[k].index, e[k - 1].j, f[e[k - 1].file].path);
    *total = t;
    return 0;
}

/* A case read back must be written again exactly as the shard wrote it: otherwise the report
 * holds something this ulpdiff does not read (a newer writer's field), and the merged report
 * would silently differ from the unsharded run's. */
static int same_when_written(const ud_report_file *f, size_t j, const ud_result *r, long long index)
{
    json_t *orig = json_array_get(json_object_get(f->root, "cases"), j);
    json_t *again = ud_json_case(r, index);
    if (!again) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    int same = json_equal(orig, again);
    const char *field = "?", *key;
    json_t *v;
    json_object_foreach(orig, key, v)
        if (!json_equal(v, json_object_get(again, key))) { field = key; break; }
    json_object_foreach(again, key, v)
        if (!same && !strcmp(field, "?") && !json_object_get(orig, key)) field = key;
    json_decref(again);
    if (same) return 0;
    return refuse(f->path, "cases[%zu].%s: this ulpdiff would write it differently (a field it does not read, or "
                           "a value out of its range); merge with the ulpdiff that wrote the shards", j, field);
}

/* The unsharded run's meta; device: every shard's, once each. */
static void merged_meta(const ud_report_file *f, int n, const ud_merge_opts *o, char *devices, size_t dn,
                        ud_report_meta *m)
{
    *m = f[0].meta;
    m->command = o->command ? o->command : WHO;
    m->shard_k = m->shard_n = 1;
    m->selected = m->not_run = 0;
    m->elapsed_seconds = 0.0;
    size_t off = 0;
    devices[0] = 0;
    for (int i = 0; i < n; i++) {
        const ud_report_meta *s = &f[i].meta;
        m->selected += s->selected;
        m->not_run += s->not_run;
        if (s->elapsed_seconds > m->elapsed_seconds) m->elapsed_seconds = s->elapsed_seconds;
        if (strcmp(s->date, m->date) < 0) memcpy(m->date, s->date, sizeof m->date);   /* ISO 8601: text order */
        int seen = 0;
        for (int k = 0; k < i; k++) seen |= strcmp(f[k].meta.device, s->device) == 0;
        if (!seen && off < dn) off += (size_t)snprintf(devices + off, dn - off, "%s%s", i ? "; " : "", s->device);
    }
    m->device = devices;
}

/* Writes the reports asked for; prints the summary. Returns the exit code. */
static int write_merged(const ud_report_file *f, int n, const ud_merge_opts *o, const ud_result *res, const int *ran,
                        size_t total, const size_t *index, FILE *out)
{
    ud_report_meta m;
    char devices[2048];
    merged_meta(f, n, o, devices, sizeof devices, &m);
    m.case_index = index;
    fprintf(out, WHO ": %d shard%s of commit %s, corpus %s (%zu cases): %zu cases\n", n, n == 1 ? "" : "s", m.commit,
            m.corpus_fingerprint, m.corpus_cases, total);
    ud_text_summary(out, res, total);
    if (m.not_run) fprintf(out, "%zu of %zu cases not run (the shards' --budget-seconds)\n", m.not_run, m.selected);
    if (o->rates) ud_rates_print(out, res, ran, total);
    int werr = 0;
    if (o->json) werr |= ud_json_write(o->json, &m, res, ran, total) != UD_OK;
    if (o->junit) werr |= ud_junit_write(o->junit, &m, res, ran, total) != UD_OK;
    if (o->html) werr |= ud_html_write(o->html, &m, res, ran, total) != UD_OK;
    int errors = 0, findings = 0;
    for (size_t i = 0; i < total; i++) {
        errors |= ud_result_has(&res[i], UD_F_ERROR);
        findings |= res[i].nfindings > 0;
    }
    fflush(out);
    return werr || errors ? UD_EXIT_INTERNAL : findings ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
}

int ud_merge_reports(const char *const *paths, int n, const ud_merge_opts *o, FILE *out)
{
    ud_report_file *f = calloc((size_t)n, sizeof *f);
    if (!f) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    int rc = 0, opened = 0;
    for (; opened < n && !rc; opened++) rc = ud_report_open(WHO, paths[opened], &f[opened]);
    if (!rc) rc = check_shards(f, n);
    size_t all = 0, total = 0;
    for (int i = 0; i < opened; i++) all += f[i].n;
    entry *e = rc ? NULL : malloc((all ? all : 1) * sizeof *e);
    ud_result *res = rc ? NULL : malloc((all ? all : 1) * sizeof *res);
    size_t *index = rc ? NULL : malloc((all ? all : 1) * sizeof *index);
    int *ran = rc ? NULL : malloc((all ? all : 1) * sizeof *ran);
    if (!rc && (!e || !res || !index || !ran)) { ud_error("out of memory for %zu cases", all); rc = UD_EXIT_INTERNAL; }
    if (!rc) rc = collect(f, n, e, &total);
    for (size_t k = 0; !rc && k < total; k++) {
        long long idx;
        rc = ud_report_case(WHO, &f[e[k].file], e[k].j, &res[k], &idx);
        if (!rc) rc = same_when_written(&f[e[k].file], e[k].j, &res[k], (long long)e[k].index);
        index[k] = e[k].index;
        ran[k] = 1;
    }
    if (!rc) rc = write_merged(f, n, o, res, ran, total, index, out);
    for (int i = 0; i < opened; i++) ud_report_close(&f[i]);
    free(f);
    free(e);
    free(res);
    free(index);
    free(ran);
    return rc;
}
