/* json.c — the JSON report (schema "ulpdiff-report/1", docs/report-format.md), with jansson.
 *
 * While the run goes on, FILE.partial holds JSON Lines: a header object with the metadata,
 * then one case object per line, flushed as each case finishes (in case order). At the end
 * the complete document goes to FILE.tmp, which is renamed to FILE: a crash or SIGKILL at any
 * point leaves FILE absent or the previous complete report, never half of one. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics/status.h"
#include "reports/report.h"
#include "harness/cases/param_text.h"
#include "harness/core/files.h"

struct ud_json_stream {
    char *path;
    char *partial;
    FILE *f;
};

/* JSON has no NaN or Inf: non-finite numbers are null (the %a strings keep them). */
static json_t *num(double d) { return isfinite(d) ? json_real(d) : json_null(); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *hexdec(double v, const char *decfmt, int want_hex)
{
    char buf[64];
    if (want_hex) snprintf(buf, sizeof buf, "%a", v);
    else snprintf(buf, sizeof buf, decfmt, v);
    return json_string(buf);
}

static const char *status_of(const ud_result *r)
{
    if (r->skipped) return "skip";
    if (ud_result_has(r, UD_F_ERROR)) return "error";
    return r->nfindings ? "fail" : "pass";
}

static json_t *output_json(const ud_out_stats *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name ? s->name : "?"));
    json_object_set_new(o, "dtype", json_string(ud_dtype_name(s->dtype)));
    json_object_set_new(o, "n", json_integer((json_int_t)s->n));
    json_object_set_new(o, "budget", json_pack("{s:o, s:o, s:o, s:o}", "ulp", num(s->budget.ulp), "scaled",
                                               num(s->budget.scaled), "u_w", num(s->budget.u_w), "abs",
                                               num(s->budget.abs)));
    json_object_set_new(o, "max_ulp", num(s->max_ulp));
    json_object_set_new(o, "mean_ulp", num(s->mean_ulp));
    json_object_set_new(o, "budget_fraction", num(s->budget_frac));   /* worst |y - r| / tolerance */
    json_object_set_new(o, "p50", num(s->p50));
    json_object_set_new(o, "p99", num(s->p99));
    json_object_set_new(o, "p999", num(s->p999));
    json_object_set_new(o, "max_scaled", num(s->max_scaled));
    json_object_set_new(o, "max_lattice", json_integer((json_int_t)s->max_lattice));
    json_object_set_new(o, "n_over", json_integer((json_int_t)s->n_over));
    json_object_set_new(o, "n_nan_mismatch", json_integer((json_int_t)s->n_nan_mismatch));
    json_object_set_new(o, "n_unwritten", json_integer((json_int_t)s->n_unwritten));
    json_t *h = json_array();
    for (int b = 0; b < UD_HIST_BINS; b++) json_array_append_new(h, json_integer((json_int_t)s->hist[b]));
    json_object_set_new(o, "histogram", json_pack("{s:i, s:o}", "bias", UD_HIST_BIAS, "counts", h));
    if (s->has_worst) {
        json_t *w = json_object();
        json_object_set_new(w, "index", json_integer((json_int_t)s->worst_index));
        json_object_set_new(w, "coords", json_string(s->worst_coords));
        json_object_set_new(w, "got", hexdec(s->worst_got, NULL, 1));
        json_object_set_new(w, "got_decimal", hexdec(s->worst_got, "%.9g", 0));
        json_object_set_new(w, "exact", hexdec(s->worst_exact, NULL, 1));
        json_object_set_new(w, "exact_decimal", hexdec(s->worst_exact, "%.17g", 0));
        json_object_set_new(w, "ulp", num(s->worst_ulp));
        json_object_set_new(w, "scale", num(s->worst_scale));
        json_object_set_new(w, "inputs", json_string(s->worst_inputs));
        json_object_set_new(o, "worst", w);
    } else {
        json_object_set_new(o, "worst", json_null());
    }
    return o;
}

/* index: the case's position in the corpus list (meta.case_index), or < 0 to leave it out
 * (the streamed FILE.partial lines). */
static json_t *case_json(const ud_result *r, long long index)
{
    const ud_case *c = &r->c;
    json_t *o = json_object();
    if (index >= 0) json_object_set_new(o, "index", json_integer((json_int_t)index));
    json_object_set_new(o, "label", json_string(c->label));
    json_object_set_new(o, "op", json_string(c->op->name));
    json_object_set_new(o, "mutant", c->mutant ? json_string(c->op->mutants[c->mutant - 1].name) : json_null());
    json_object_set_new(o, "file", str_or_null(c->file));
    json_object_set_new(o, "line", c->file ? json_integer(c->line) : json_null());
    json_object_set_new(o, "params", ud_params_json(c));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    if (c->padding) json_object_set_new(o, "padding", json_integer(c->padding));   /* only padded cases carry it */
    json_object_set_new(o, "backend", json_string(ud_backend_name(r->backend)));
    json_object_set_new(o, "status", json_string(status_of(r)));
    json_object_set_new(o, "seconds", num(r->seconds));
    json_object_set_new(o, "phases", json_pack("{s:o, s:o, s:o, s:I}", "reference_seconds", num(r->ref_seconds),
                                               "kernel_seconds", num(r->kernel_seconds), "compare_seconds",
                                               num(r->compare_seconds), "checked_elements",
                                               (json_int_t)r->checked_elements));
    json_t *outs = json_array();
    for (int k = 0; k < r->nout; k++) json_array_append_new(outs, output_json(&r->out[k]));
    json_object_set_new(o, "outputs", outs);
    json_t *mets = json_array();
    for (int k = 0; k < r->nmetrics; k++)
        json_array_append_new(mets, json_pack("{s:s, s:o, s:o}", "name", r->metrics[k].name, "value",
                                              num(r->metrics[k].value), "budget", num(r->metrics[k].budget)));
    json_object_set_new(o, "metrics", mets);
    json_t *fs = json_array();
    for (int k = 0; k < r->nfindings; k++)
        json_array_append_new(fs, json_pack("{s:s, s:s}", "kind", ud_finding_names[r->findings[k].kind], "message",
                                            r->findings[k].msg));
    json_object_set_new(o, "findings", fs);
    return o;
}

json_t *ud_json_case(const ud_result *r, long long index) { return case_json(r, index); }

static json_t *meta_json(const ud_report_meta *m, int final)
{
    json_t *o = json_object();
    char shard[32];
    snprintf(shard, sizeof shard, "%d/%d", m->shard_k, m->shard_n);
    json_object_set_new(o, "ulpdiff_version", json_string(m->version ? m->version : "unknown"));
    json_object_set_new(o, "git_commit", json_string(m->commit ? m->commit : "unknown"));
    json_object_set_new(o, "device", json_string(m->device ? m->device : "unknown"));
    json_object_set_new(o, "backend", json_string(m->backend ? m->backend : "unknown"));
    json_object_set_new(o, "date", json_string(m->date));
    json_object_set_new(o, "command", json_string(m->command ? m->command : ""));
    json_object_set_new(o, "jobs", json_integer(m->jobs));
    json_object_set_new(o, "shard", json_string(shard));
    json_object_set_new(o, "selected", json_integer((json_int_t)m->selected));
    if (m->corpus_fingerprint) {
        json_t *lim_per_op = m->per_op > 0 ? json_integer((json_int_t)m->per_op) : json_null();
        json_t *lim_max = m->max_cases >= 0 ? json_integer((json_int_t)m->max_cases) : json_null();
        json_object_set_new(o, "corpus", json_pack("{s:s, s:I, s:o, s:o}", "fingerprint", m->corpus_fingerprint,
                                                   "cases", (json_int_t)m->corpus_cases, "per_op", lim_per_op,
                                                   "max_cases", lim_max));
    }
    if (final) {
        json_object_set_new(o, "not_run", json_integer((json_int_t)m->not_run));
        json_object_set_new(o, "elapsed_seconds", num(m->elapsed_seconds));
    }
    return o;
}

static json_t *summary_json(const ud_result *res, const int *ran, size_t n, size_t not_run)
{
    size_t cases = 0, passed = 0, failed = 0, errors = 0, skipped = 0;
    json_t *groups = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!ran[i]) continue;
        const ud_result *r = &res[i];
        cases++;
        const char *st = status_of(r);
        if (strcmp(st, "pass") == 0) passed++;
        else if (strcmp(st, "skip") == 0) skipped++;
        else if (strcmp(st, "error") == 0) errors++;
        else failed++;
        const char *op = r->c.op->name, *dt = ud_result_dtype(r), *be = ud_backend_name(r->backend);
        json_t *g = NULL;
        size_t gi;
        json_array_foreach(groups, gi, g) {
            if (strcmp(json_string_value(json_object_get(g, "op")), op) == 0 &&
                strcmp(json_string_value(json_object_get(g, "dtype")), dt) == 0 &&
                strcmp(json_string_value(json_object_get(g, "backend")), be) == 0) break;
            g = NULL;
        }
        if (!g) {
            g = json_pack("{s:s, s:s, s:s, s:I, s:I, s:f}", "op", op, "dtype", dt, "backend", be, "cases", (json_int_t)0,
                          "failed", (json_int_t)0, "max_ulp", 0.0);
            json_array_append_new(groups, g);
        }
        json_object_set_new(g, "cases", json_integer(json_integer_value(json_object_get(g, "cases")) + 1));
        if (r->nfindings)
            json_object_set_new(g, "failed", json_integer(json_integer_value(json_object_get(g, "failed")) + 1));
        for (int k = 0; k < r->nout; k++)
            if (r->out[k].max_ulp > json_real_value(json_object_get(g, "max_ulp")))
                json_object_set_new(g, "max_ulp", num(r->out[k].max_ulp));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "cases", (json_int_t)cases, "passed", (json_int_t)passed,
                     "failed", (json_int_t)failed, "errors", (json_int_t)errors, "skipped", (json_int_t)skipped,
                     "not_run", (json_int_t)not_run, "groups", groups);
}

static int dump_line(FILE *f, json_t *o)
{
    if (!o) return UD_EINTERNAL;
    int bad = json_dumpf(o, f, JSON_COMPACT) != 0;
    bad |= fputc('\n', f) == EOF;
    bad |= fflush(f) != 0;
    json_decref(o);
    return bad ? UD_EINTERNAL : UD_OK;
}

static char *concat(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return s;
}

ud_json_stream *ud_json_open(const char *path, const ud_report_meta *m)
{
    ud_json_stream *s = calloc(1, sizeof *s);
    if (!s) { ud_error("out of memory"); return NULL; }
    s->path = concat(path, "");
    s->partial = concat(path, ".partial");
    if (!s->path || !s->partial) { ud_error("out of memory"); goto fail; }
    s->f = fopen(s->partial, "w");
    if (!s->f) { ud_error("cannot write %s: %s", s->partial, strerror(errno)); goto fail; }
    json_t *hdr = json_pack("{s:s, s:b, s:o}", "schema", UD_REPORT_SCHEMA, "partial", 1, "meta", meta_json(m, 0));
    if (dump_line(s->f, hdr)) { ud_error("cannot write %s", s->partial); goto fail; }
    return s;
fail:
    if (s->f) fclose(s->f);
    free(s->path);
    free(s->partial);
    free(s);
    return NULL;
}

int ud_json_append(ud_json_stream *s, const ud_result *r)
{
    if (dump_line(s->f, case_json(r, -1))) { ud_error("cannot write %s", s->partial); return UD_EINTERNAL; }
    return UD_OK;
}

/* The final document keeps one case per line (compact), so it stays readable, greppable and
 * diff-friendly at thousands of cases. */
static int dump_final(FILE *f, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n)
{
    int bad = 0;
    json_t *sj = json_string(UD_REPORT_SCHEMA);
    char *schema = json_dumps(sj, JSON_ENCODE_ANY);
    json_decref(sj);
    json_t *meta = meta_json(m, 1), *summ = summary_json(res, ran, n, m->not_run);
    char *ms = json_dumps(meta, JSON_COMPACT), *ss = json_dumps(summ, JSON_COMPACT);
    json_decref(meta);
    json_decref(summ);
    if (!schema || !ms || !ss) bad = 1;
    else bad |= fprintf(f, "{\"schema\": %s,\n\"meta\": %s,\n\"summary\": %s,\n\"cases\": [", schema, ms, ss) < 0;
    free(schema);
    free(ms);
    free(ss);
    size_t k = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        if (!ran[i]) continue;
        json_t *c = case_json(&res[i], m->case_index ? (long long)m->case_index[i] : (long long)i);
        bad |= fputs(k++ ? ",\n" : "\n", f) == EOF;
        bad |= !c || json_dumpf(c, f, JSON_COMPACT) != 0;
        json_decref(c);
    }
    bad |= fputs("\n]}\n", f) == EOF;
    return bad;
}

typedef struct {
    const ud_report_meta *m;
    const ud_result *res;
    const int *ran;
    size_t n;
} final_doc;

static int write_final(FILE *f, void *arg)
{
    const final_doc *d = arg;
    return dump_final(f, d->m, d->res, d->ran, d->n);
}

int ud_json_write(const char *path, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n)
{
    final_doc d = {m, res, ran, n};
    return ud_write_atomic(path, write_final, &d);
}

int ud_json_finish(ud_json_stream *s, const ud_report_meta *m, const ud_result *res, const int *ran, size_t n)
{
    final_doc d = {m, res, ran, n};
    int rc = ud_write_atomic(s->path, write_final, &d);
    fclose(s->f);
    if (rc == UD_OK) unlink(s->partial);
    free(s->path);
    free(s->partial);
    free(s);
    return rc;
}

void ud_json_close(ud_json_stream *s)
{
    fclose(s->f);
    free(s->path);
    free(s->partial);
    free(s);
}
