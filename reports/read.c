/* read.c — a JSON report read back into ud_report_meta and ud_result values (read.h). */
#include "reports/read.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cases/padding.h"  /* UD_MAX_PADDING */
#include "harness/cases/select.h"   /* ud_shard_parse */

/* Where a field is, for messages: "cases[3].outputs[0]". */
typedef struct {
    const char *who, *path;
    char where[96];
} ctx;

static int bad(const ctx *x, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const ctx *x, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s: %s%s%s%s", x->who, x->path, x->where, x->where[0] && field[0] ? "." : "", field,
            x->where[0] || field[0] ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return UD_EXIT_USAGE;
}

/* The getters set *out even on failure, so no caller reads an unset value. */
static int get_str(const ctx *x, json_t *o, const char *k, const char **out)
{
    *out = "";
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) return bad(x, k, "expected a string");
    *out = json_string_value(v);
    return 0;
}

/* A string that must fit buf (the run's own fixed-size fields). */
static int get_text(const ctx *x, json_t *o, const char *k, char *buf, size_t n)
{
    const char *s;
    if (get_str(x, o, k, &s)) return UD_EXIT_USAGE;
    if (strlen(s) >= n) return bad(x, k, "longer than the %zu characters a run writes", n - 1);
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

static int get_int(const ctx *x, json_t *o, const char *k, long long lo, long long *out)
{
    *out = 0;
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < lo) return bad(x, k, "expected an integer >= %lld", lo);
    *out = json_integer_value(v);
    return 0;
}

static int get_size(const ctx *x, json_t *o, const char *k, size_t *out)
{
    long long v;
    if (get_int(x, o, k, 0, &v)) return UD_EXIT_USAGE;
    *out = (size_t)v;
    return 0;
}

/* A number; null (the writer's non-finite value) reads as +Inf. */
static int get_num(const ctx *x, json_t *o, const char *k, double *out)
{
    json_t *v = json_object_get(o, k);
    if (json_is_null(v)) { *out = INFINITY; return 0; }
    if (!json_is_number(v)) return bad(x, k, "expected a number or null");
    *out = json_number_value(v);
    return 0;
}

/* A %a (or %.17g) string back to the double it was written from. */
static int get_hex(const ctx *x, json_t *o, const char *k, double *out)
{
    const char *s;
    if (get_str(x, o, k, &s)) return UD_EXIT_USAGE;
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end) return bad(x, k, "'%s' is not a number", s);
    return 0;
}

/* ---------------------------------------------------------------- meta */

static int read_corpus(const ctx *x, json_t *meta, ud_report_file *r)
{
    json_t *c = json_object_get(meta, "corpus");
    if (!c) return 0;
    ctx cx = *x;
    snprintf(cx.where, sizeof cx.where, "meta.corpus");
    if (!json_is_object(c)) return bad(x, "corpus", "expected an object");
    long long cases;
    if (get_str(&cx, c, "fingerprint", &r->meta.corpus_fingerprint) || get_int(&cx, c, "cases", 0, &cases))
        return UD_EXIT_USAGE;
    r->meta.corpus_cases = (size_t)cases;
    json_t *po = json_object_get(c, "per_op"), *mc = json_object_get(c, "max_cases");
    if (!json_is_null(po) && !json_is_integer(po)) return bad(&cx, "per_op", "expected an integer or null");
    if (!json_is_null(mc) && !json_is_integer(mc)) return bad(&cx, "max_cases", "expected an integer or null");
    r->meta.per_op = json_is_integer(po) ? json_integer_value(po) : 0;
    r->meta.max_cases = json_is_integer(mc) ? json_integer_value(mc) : -1;
    r->has_corpus = 1;
    return 0;
}

static int read_meta(const ctx *x, json_t *meta, ud_report_file *r)
{
    ud_report_meta *m = &r->meta;
    memset(m, 0, sizeof *m);
    long long jobs, selected, not_run;
    const char *shard, *date;
    if (get_str(x, meta, "ulpdiff_version", &m->version) || get_str(x, meta, "git_commit", &m->commit) ||
        get_str(x, meta, "device", &m->device) || get_str(x, meta, "backend", &m->backend) ||
        get_str(x, meta, "date", &date) || get_str(x, meta, "command", &m->command) ||
        get_int(x, meta, "jobs", 0, &jobs) || get_str(x, meta, "shard", &shard) ||
        get_int(x, meta, "selected", 0, &selected) || get_int(x, meta, "not_run", 0, &not_run) ||
        get_num(x, meta, "elapsed_seconds", &m->elapsed_seconds))
        return UD_EXIT_USAGE;
    snprintf(m->date, sizeof m->date, "%s", date);
    m->jobs = (int)jobs;
    m->selected = (size_t)selected;
    m->not_run = (size_t)not_run;
    if (ud_shard_parse(shard, &m->shard_k, &m->shard_n)) return bad(x, "shard", "'%s' is not I/N with 1 <= I <= N", shard);
    return read_corpus(x, meta, r);
}

int ud_report_open(const char *who, const char *path, ud_report_file *r)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    ctx x = {who, path, ""};
    json_error_t e;
    r->root = json_load_file(path, 0, &e);
    if (!r->root && e.line < 0) return bad(&x, "", "%s", e.text);   /* cannot be opened or read */
    if (!r->root)
        return bad(&x, "", "not a JSON document (%d:%d: %s); expected a report written by `ulpdiff run --json`",
                   e.line, e.column, e.text);
    json_t *schema = json_object_get(r->root, "schema");
    if (!json_is_object(r->root) || !json_is_string(schema))
        return bad(&x, "schema", "missing: not a ulpdiff report (expected \"%s\")", UD_REPORT_SCHEMA);
    if (strcmp(json_string_value(schema), UD_REPORT_SCHEMA) != 0)
        return bad(&x, "schema", "\"%s\"; this ulpdiff reads \"%s\"", json_string_value(schema), UD_REPORT_SCHEMA);
    json_t *meta = json_object_get(r->root, "meta"), *cases = json_object_get(r->root, "cases");
    if (!json_is_object(meta)) return bad(&x, "meta", "expected an object");
    if (!json_is_array(cases)) return bad(&x, "cases", "expected an array of case objects");
    snprintf(x.where, sizeof x.where, "meta");
    int rc = read_meta(&x, meta, r);
    r->n = json_array_size(cases);
    return rc;
}

void ud_report_close(ud_report_file *r)
{
    json_decref(r->root);
    r->root = NULL;
}

/* ---------------------------------------------------------------- a case */

static int read_params(const ctx *x, json_t *params, ud_case *c)
{
    if (!json_is_object(params)) return bad(x, "params", "expected an object");
    for (int k = 0; k < c->op->nparams; k++) {
        const ud_param *p = &c->op->params[k];
        json_t *v = json_object_get(params, p->name);
        char field[80];
        snprintf(field, sizeof field, "params.%s", p->name);
        switch (p->kind) {
        case UD_P_INT:
            if (!json_is_integer(v)) return bad(x, field, "expected an integer");
            c->p[k].i = json_integer_value(v);
            break;
        case UD_P_REAL:
            if (json_is_null(v)) c->p[k].d = NAN;   /* written for a non-finite value */
            else if (json_is_number(v)) c->p[k].d = json_number_value(v);
            else return bad(x, field, "expected a number");
            break;
        case UD_P_CHOICE: {
            const char *s = json_string_value(v);
            int i = 0;
            while (s && p->choices[i] && strcmp(p->choices[i], s) != 0) i++;
            if (!s || !p->choices[i]) return bad(x, field, "expected one of %s's choices", c->op->name);
            c->p[k].i = i;
            break;
        }
        case UD_P_DTYPE: {
            ud_dtype t;
            if (!json_is_string(v) || ud_dtype_parse(json_string_value(v), &t)) return bad(x, field, "expected a dtype name");
            c->p[k].i = t;
            break;
        }
        }
    }
    return 0;
}

static int read_mutant(const ctx *x, json_t *v, ud_case *c)
{
    if (json_is_null(v)) return 0;
    if (!json_is_string(v)) return bad(x, "mutant", "expected a string or null");
    for (int k = 0; k < c->op->nmutants; k++)
        if (strcmp(c->op->mutants[k].name, json_string_value(v)) == 0) { c->mutant = k + 1; return 0; }
    return bad(x, "mutant", "'%s' is not a known-bug variant of %s in this ulpdiff", json_string_value(v), c->op->name);
}

static int read_backend(const ctx *x, json_t *o, ud_backend *be)
{
    static const ud_backend all[] = {UD_BACKEND_CPU, UD_BACKEND_CUDA, UD_BACKEND_REF, UD_BACKEND_EXTERNAL};
    const char *s;
    if (get_str(x, o, "backend", &s)) return UD_EXIT_USAGE;
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (strcmp(ud_backend_name(all[k]), s) == 0) { *be = all[k]; return 0; }
    return bad(x, "backend", "'%s' is not cpu, cuda, ref or external", s);
}

static int read_case_head(const ctx *x, json_t *o, ud_result *r)
{
    ud_case *c = &r->c;
    const char *opname, *status;
    if (get_str(x, o, "op", &opname)) return UD_EXIT_USAGE;
    if (!(c->op = ud_op_find(opname))) return bad(x, "op", "operator '%s' is not known to this ulpdiff", opname);
    json_t *file = json_object_get(o, "file"), *line = json_object_get(o, "line");
    if (!json_is_null(file) && !json_is_string(file)) return bad(x, "file", "expected a string or null");
    if (json_is_string(file) && !json_is_integer(line)) return bad(x, "line", "expected an integer");
    c->file = json_string_value(file);
    c->line = c->file ? (int)json_integer_value(line) : 0;
    long long seed;
    json_t *sv = json_object_get(o, "seed");
    if (!json_is_integer(sv)) return bad(x, "seed", "expected an integer");
    seed = json_integer_value(sv);
    c->seed = (uint64_t)seed;   /* written as a signed 64-bit integer */
    for (int d = 0; d < UD_NDTYPES; d++) c->budget_ulp[d] = NAN;
    c->budget_scaled = NAN;
    json_t *pad = json_object_get(o, "padding");   /* written for padded cases only */
    if (pad && (!json_is_integer(pad) || json_integer_value(pad) < 1 || json_integer_value(pad) > UD_MAX_PADDING))
        return bad(x, "padding", "expected an integer in 1..%d", UD_MAX_PADDING);
    c->padding = pad ? (int)json_integer_value(pad) : 0;
    if (get_text(x, o, "label", c->label, sizeof c->label) || read_mutant(x, json_object_get(o, "mutant"), c) ||
        read_params(x, json_object_get(o, "params"), c) || read_backend(x, o, &r->backend) ||
        get_str(x, o, "status", &status) || get_num(x, o, "seconds", &r->seconds))
        return UD_EXIT_USAGE;
    if (strcmp(status, "skip") == 0) r->skipped = 1;
    else if (strcmp(status, "pass") && strcmp(status, "fail") && strcmp(status, "error"))
        return bad(x, "status", "'%s' is not pass, fail, error or skip", status);
    json_t *ph = json_object_get(o, "phases");
    if (ph) {
        ctx px = *x;
        snprintf(px.where + strlen(px.where), sizeof px.where - strlen(px.where), ".phases");
        long long el;
        if (get_num(&px, ph, "reference_seconds", &r->ref_seconds) || get_num(&px, ph, "kernel_seconds", &r->kernel_seconds) ||
            get_num(&px, ph, "compare_seconds", &r->compare_seconds) || get_int(&px, ph, "checked_elements", 0, &el))
            return UD_EXIT_USAGE;
        r->checked_elements = (uint64_t)el;
    }
    return 0;
}

static int read_worst(const ctx *x, json_t *w, ud_out_stats *s)
{
    if (json_is_null(w)) return 0;
    if (!json_is_object(w)) return bad(x, "worst", "expected an object or null");
    ctx wx = *x;
    snprintf(wx.where + strlen(wx.where), sizeof wx.where - strlen(wx.where), ".worst");
    s->has_worst = 1;
    return get_size(&wx, w, "index", &s->worst_index) || get_text(&wx, w, "coords", s->worst_coords, sizeof s->worst_coords) ||
           get_hex(&wx, w, "got", &s->worst_got) || get_hex(&wx, w, "exact", &s->worst_exact) ||
           get_num(&wx, w, "ulp", &s->worst_ulp) || get_num(&wx, w, "scale", &s->worst_scale) ||
           get_text(&wx, w, "inputs", s->worst_inputs, sizeof s->worst_inputs)
               ? UD_EXIT_USAGE : 0;
}

static int read_output(const ctx *x, json_t *o, const ud_op *op, ud_out_stats *s)
{
    if (!json_is_object(o)) return bad(x, "", "expected an output object");
    const char *name, *dt;
    if (get_str(x, o, "name", &name) || get_str(x, o, "dtype", &dt)) return UD_EXIT_USAGE;
    s->name = NULL;
    for (int j = 0; op->outputs && op->outputs[j]; j++)
        if (strcmp(op->outputs[j], name) == 0) s->name = op->outputs[j];
    if (!s->name) return bad(x, "name", "'%s' is not an output of %s", name, op->name);
    if (ud_dtype_parse(dt, &s->dtype)) return bad(x, "dtype", "'%s' is not a dtype", dt);
    json_t *b = json_object_get(o, "budget"), *h = json_object_get(o, "histogram");
    if (!json_is_object(b)) return bad(x, "budget", "expected an object");
    ctx bx = *x;
    snprintf(bx.where + strlen(bx.where), sizeof bx.where - strlen(bx.where), ".budget");
    long long lat;
    if (get_size(x, o, "n", &s->n) || get_num(&bx, b, "ulp", &s->budget.ulp) || get_num(&bx, b, "scaled", &s->budget.scaled) ||
        get_num(&bx, b, "u_w", &s->budget.u_w) || get_num(&bx, b, "abs", &s->budget.abs) ||
        get_num(x, o, "max_ulp", &s->max_ulp) || get_num(x, o, "mean_ulp", &s->mean_ulp) || get_num(x, o, "p50", &s->p50) ||
        get_num(x, o, "p99", &s->p99) || get_num(x, o, "p999", &s->p999) || get_num(x, o, "max_scaled", &s->max_scaled) ||
        get_int(x, o, "max_lattice", INT64_MIN, &lat) || get_size(x, o, "n_over", &s->n_over) ||
        get_size(x, o, "n_nan_mismatch", &s->n_nan_mismatch) || get_size(x, o, "n_unwritten", &s->n_unwritten))
        return UD_EXIT_USAGE;
    s->max_lattice = lat;
    if (json_object_get(o, "budget_fraction") && get_num(x, o, "budget_fraction", &s->budget_frac)) return UD_EXIT_USAGE;
    json_t *counts = json_object_get(h, "counts"), *bias = json_object_get(h, "bias");
    if (!json_is_integer(bias) || json_integer_value(bias) != UD_HIST_BIAS || json_array_size(counts) != UD_HIST_BINS)
        return bad(x, "histogram", "expected {\"bias\": %d, \"counts\": [%d integers]}", UD_HIST_BIAS, UD_HIST_BINS);
    for (int k = 0; k < UD_HIST_BINS; k++) {
        json_t *v = json_array_get(counts, (size_t)k);
        if (!json_is_integer(v) || json_integer_value(v) < 0) return bad(x, "histogram.counts", "expected non-negative integers");
        s->hist[k] = (uint64_t)json_integer_value(v);
    }
    return read_worst(x, json_object_get(o, "worst"), s);
}

static int read_lists(const ctx *x, json_t *o, ud_result *r)
{
    json_t *outs = json_object_get(o, "outputs"), *mets = json_object_get(o, "metrics"), *fs = json_object_get(o, "findings");
    if (!json_is_array(outs) || json_array_size(outs) > UD_MAX_TENSORS)
        return bad(x, "outputs", "expected an array of at most %d output objects", UD_MAX_TENSORS);
    if (!json_is_array(mets) || json_array_size(mets) > UD_MAX_METRICS)
        return bad(x, "metrics", "expected an array of at most %d metric objects", UD_MAX_METRICS);
    size_t maxf = sizeof r->findings / sizeof r->findings[0];
    if (!json_is_array(fs) || json_array_size(fs) > maxf) return bad(x, "findings", "expected an array of at most %zu findings", maxf);
    ctx ix = *x;
    size_t base = strlen(x->where);
    for (size_t k = 0; k < json_array_size(outs); k++) {
        snprintf(ix.where + base, sizeof ix.where - base, ".outputs[%zu]", k);
        if (read_output(&ix, json_array_get(outs, k), r->c.op, &r->out[k])) return UD_EXIT_USAGE;
        r->nout++;
    }
    for (size_t k = 0; k < json_array_size(mets); k++) {
        snprintf(ix.where + base, sizeof ix.where - base, ".metrics[%zu]", k);
        ud_metric *m = &r->metrics[k];
        if (get_text(&ix, json_array_get(mets, k), "name", m->name, sizeof m->name) ||
            get_num(&ix, json_array_get(mets, k), "value", &m->value) || get_num(&ix, json_array_get(mets, k), "budget", &m->budget))
            return UD_EXIT_USAGE;
        r->nmetrics++;
    }
    for (size_t k = 0; k < json_array_size(fs); k++) {
        snprintf(ix.where + base, sizeof ix.where - base, ".findings[%zu]", k);
        ud_finding *f = &r->findings[k];
        const char *kind;
        if (get_str(&ix, json_array_get(fs, k), "kind", &kind) ||
            get_text(&ix, json_array_get(fs, k), "message", f->msg, sizeof f->msg))
            return UD_EXIT_USAGE;
        int kk = 0;
        while (kk < UD_F_KINDS && strcmp(ud_finding_names[kk], kind) != 0) kk++;
        if (kk == UD_F_KINDS) return bad(&ix, "kind", "'%s' is not a finding kind of this ulpdiff", kind);
        f->kind = (ud_finding_kind)kk;
        r->nfindings++;
    }
    return 0;
}

int ud_report_case(const char *who, const ud_report_file *r, size_t j, ud_result *res, long long *index)
{
    ctx x = {who, r->path, ""};
    snprintf(x.where, sizeof x.where, "cases[%zu]", j);
    memset(res, 0, sizeof *res);
    json_t *o = json_array_get(json_object_get(r->root, "cases"), j);
    if (!json_is_object(o)) return bad(&x, "", "expected a case object");
    json_t *iv = json_object_get(o, "index");
    if (iv && (!json_is_integer(iv) || json_integer_value(iv) < 0)) return bad(&x, "index", "expected an integer >= 0");
    *index = iv ? json_integer_value(iv) : -1;
    if (read_case_head(&x, o, res) || read_lists(&x, o, res)) return UD_EXIT_USAGE;
    /* The writer derives the status from the findings; a report whose status says otherwise
     * was not written by it, and would be written back differently. */
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *derived = res->skipped ? "skip" : ud_result_has(res, UD_F_ERROR) ? "error" : res->nfindings ? "fail" : "pass";
    if (strcmp(status, derived) != 0) return bad(&x, "status", "'%s', but its findings make it '%s'", status, derived);
    return 0;
}
