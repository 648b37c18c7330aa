/* exchange.c — `ulpdiff export` and the loading half of `ulpdiff check` (exchange.h; the
 * format is documented in docs/external.md). */
#include "harness/external/exchange.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "numerics/status.h"
#include "harness/external/npy.h"
#include "harness/core/result.h"
#include "harness/cases/param_text.h"
#include "harness/cases/spec.h"
#include "harness/core/files.h"
#include "harness/core/tensor.h"
#include "harness/exec/jobs.h"

static void free_tensors(ud_tensor *t, int n)
{
    for (int k = 0; k < n; k++) ud_tensor_free(&t[k]);
}

/* ------------------------------------------------------------------ export */

static json_t *tensor_json(const ud_tensor *t, const char *file)
{
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", t->name, "file", file, "dtype", ud_dtype_name(t->dtype),
                     "npy_dtype", ud_npy_descr(t->dtype), "shape", shape);
}

/* Budget overrides a case file set (budget_ulp / budget_scaled), so check applies them too. */
static json_t *budget_json(const ud_case *c)
{
    json_t *ulp = json_object();
    for (int t = 0; t < UD_NDTYPES; t++)
        if (!isnan(c->budget_ulp[t])) json_object_set_new(ulp, ud_dtype_name((ud_dtype)t), json_real(c->budget_ulp[t]));
    if (json_object_size(ulp) == 0 && isnan(c->budget_scaled)) { json_decref(ulp); return NULL; }
    json_t *b = json_object();
    json_object_set_new(b, "ulp", ulp);
    if (!isnan(c->budget_scaled)) json_object_set_new(b, "scaled", json_real(c->budget_scaled));
    return b;
}

/* 1 when dir does not exist (it is created) or is an empty directory. */
static int prepare_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0) return 1;
    if (errno != EEXIST) { ud_error("export: cannot create %s: %s", dir, strerror(errno)); return 0; }
    DIR *d = opendir(dir);
    if (!d) { ud_error("export: %s exists and is not a directory", dir); return 0; }
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) && empty) empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    /* Outputs of an earlier export could be checked against new inputs: never mix them. */
    if (!empty) ud_error("export: %s is not empty; export writes into a new or empty directory", dir);
    return empty;
}

static int export_case(const ud_case *c, size_t index, const char *dir, json_t *cases, double *bytes)
{
    const ud_op *op = c->op;
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    char id[96], path[4400], file[200];
    snprintf(id, sizeof id, "%05zu_%s", index + 1, op->name);
    int rc = ud_case_make_tensors(c, in, out);
    if (rc == UD_OK) rc = op->generate(c, in);
    snprintf(path, sizeof path, "%s/%s", dir, id);
    if (rc == UD_OK && mkdir(path, 0777) != 0) { ud_error("export: cannot create %s: %s", path, strerror(errno)); rc = UD_EINTERNAL; }
    json_t *jin = json_array(), *jout = json_array();
    for (int k = 0; rc == UD_OK && k < nin; k++) {
        for (int j = 0; j < nout; j++)
            if (strcmp(in[k].name, out[j].name) == 0) {
                ud_error("export: %s has an input and an output both named '%s'", op->name, in[k].name);
                rc = UD_EINTERNAL;
            }
        snprintf(file, sizeof file, "%s/%s.npy", id, in[k].name);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (rc == UD_OK) rc = ud_npy_write(path, &in[k]);
        *bytes += (double)ud_tensor_bytes(&in[k]);
        json_array_append_new(jin, tensor_json(&in[k], file));
    }
    for (int k = 0; rc == UD_OK && k < nout; k++) {
        snprintf(file, sizeof file, "%s/%s.npy", id, out[k].name);
        json_array_append_new(jout, tensor_json(&out[k], file));
    }
    if (rc == UD_OK) {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(id));
        json_object_set_new(j, "op", json_string(op->name));
        json_object_set_new(j, "label", json_string(c->label));
        json_object_set_new(j, "seed", json_integer((json_int_t)c->seed));
        json_object_set_new(j, "params", ud_params_json(c));
        json_object_set_new(j, "source", c->file ? json_pack("{s:s, s:i}", "file", c->file, "line", c->line) : json_null());
        json_t *b = budget_json(c);
        if (b) json_object_set_new(j, "budget", b);
        json_object_set_new(j, "inputs", jin);
        json_object_set_new(j, "outputs", jout);
        json_array_append_new(cases, j);
    } else {
        json_decref(jin);
        json_decref(jout);
    }
    free_tensors(in, nin);
    free_tensors(out, nout);
    return rc;
}

static int write_manifest(FILE *f, void *root)
{
    return json_dumpf(root, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0;
}

int ud_export_cases(const ud_case *cases, size_t n, const char *dir, const ud_export_meta *m, FILE *log)
{
    for (size_t i = 0; i < n; i++)
        if (cases[i].mutant) {
            ud_error("export: %s: known-bug variants are ulpdiff's kernels; export writes inputs for any implementation "
                     "(drop --mutant)", cases[i].label);
            return UD_EUSAGE;
        }
    /* A padded case (a CUDA-graph batch, harness/cases/padding.h) is ulpdiff's own run of its
     * kernel on a longer batch; the exchange format has no padded batch, so it is left out. */
    size_t padded = 0;
    for (size_t i = 0; i < n; i++) padded += cases[i].padding > 0;
    if (!prepare_dir(dir)) return UD_EUSAGE;
    json_t *root = json_object(), *jc = json_array();
    json_object_set_new(root, "schema", json_string(UD_EXCHANGE_SCHEMA));
    json_object_set_new(root, "ulpdiff_version", json_string(m->version ? m->version : "unknown"));
    json_object_set_new(root, "git_commit", json_string(m->commit ? m->commit : "unknown"));
    json_object_set_new(root, "command", json_string(m->command ? m->command : ""));
    double bytes = 0.0;
    int rc = UD_OK;
    ud_progress pr;   /* large inputs take a while to generate and write (jobs.h) */
    ud_progress_init_what(&pr, ud_progress_mode(0, 0), n, "cases exported");
    for (size_t i = 0; rc == UD_OK && i < n; i++) {
        ud_progress_draw(&pr, i, 0, NULL);
        if (!cases[i].padding) rc = export_case(&cases[i], i, dir, jc, &bytes);
    }
    ud_progress_clear(&pr);
    json_object_set_new(root, "cases", jc);
    if (rc == UD_OK) {
        char path[4400];
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        /* Written last and renamed into place: a manifest exists only for a complete export. */
        if (ud_write_atomic(path, write_manifest, root) != UD_OK) {
            rc = UD_EINTERNAL;
        } else {
            fprintf(log, "exported %zu case%s (%.1f MB of inputs) to %s; manifest: %s\n", n - padded,
                    n - padded == 1 ? "" : "s", bytes / 1e6, dir, path);
            if (padded)
                fprintf(log, "export: %zu padded case%s left out (`padding` runs ulpdiff's own kernels on a padded "
                        "batch; the exchange format has none)\n", padded, padded == 1 ? "" : "s");
        }
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ check: an implementation source */

/* A checked case's files (ud_case.source points here). */
typedef struct {
    char *in_path[UD_MAX_TENSORS];
    char *out_path[UD_MAX_TENSORS];
} ex_case;

struct ud_exchange {
    size_t n;
    int printed;             /* problems printed so far (capped) */
    ex_case *recs;
    char **strings;          /* source file names the cases point at */
    size_t nstrings;
    ud_impl impl;
};

#define UD_EXCHANGE_MAX_PRINTED 20

static void problem(ud_exchange *ex, FILE *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(ud_exchange *ex, FILE *f, const char *fmt, ...)
{
    if (ex->printed++ >= UD_EXCHANGE_MAX_PRINTED) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
}

static void what_of(const ud_case *c, const char *role, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s '%s' of %s", role, name, c->label);
}

/* Reads the files `paths` (the case's inputs or outputs) into t. */
static int load_files(const ud_case *c, const char *role, char *const *paths, ud_tensor *t, int n)
{
    char what[512], err[1024];
    if (!paths) { ud_error("%s: not a case of an `ulpdiff check` directory", c->label); return UD_EINTERNAL; }
    for (int k = 0; k < n; k++) {
        what_of(c, role, t[k].name, what, sizeof what);
        if (ud_npy_load(paths[k], &t[k], what, err, sizeof err)) { ud_error("%s", err); return UD_EUSAGE; }
    }
    return UD_OK;
}

static int ex_inputs(const ud_impl *im, const ud_case *c, ud_tensor *in)
{
    (void)im;
    const ex_case *e = c->source;
    return load_files(c, "input", e ? e->in_path : NULL, in, ud_case_ninputs(c));
}

static int ex_outputs(const ud_impl *im, const ud_case *c, ud_tensor *in, ud_tensor *out, int device)
{
    (void)im;
    (void)in;
    const ex_case *e = c->source;
    if (device) { ud_error("%s: outputs read from files live on the host", c->label); return UD_EINTERNAL; }
    return load_files(c, "output", e ? e->out_path : NULL, out, ud_case_noutputs(c));
}

const ud_impl *ud_exchange_impl(ud_exchange *ex) { return &ex->impl; }

/* Parameter values from the manifest, with the checks a case file gets. */
static int parse_params(const ud_op *op, json_t *jp, ud_case *c, char *err, size_t n)
{
    if (!json_is_object(jp)) { snprintf(err, n, "'params' is not an object"); return -1; }
    const char *key;
    json_t *v;
    json_object_foreach(jp, key, v) {
        int known = 0;
        for (int k = 0; k < op->nparams && !known; k++) known = strcmp(op->params[k].name, key) == 0;
        if (!known) { snprintf(err, n, "%s has no parameter '%s'", op->name, key); return -1; }
    }
    for (int k = 0; k < op->nparams; k++) {
        const ud_param *d = &op->params[k];
        v = json_object_get(jp, d->name);
        if (!v) { snprintf(err, n, "parameter '%s' of %s is missing", d->name, op->name); return -1; }
        switch (d->kind) {
        case UD_P_INT:
            if (!json_is_integer(v) || (double)json_integer_value(v) < d->lo || (double)json_integer_value(v) > d->hi) {
                snprintf(err, n, "parameter '%s' must be an integer in %.0f..%.0f", d->name, d->lo, d->hi);
                return -1;
            }
            c->p[k].i = (int64_t)json_integer_value(v);
            break;
        case UD_P_REAL:
            if (!json_is_number(v) || !(json_number_value(v) >= d->lo && json_number_value(v) <= d->hi)) {
                snprintf(err, n, "parameter '%s' must be a number in %g..%g", d->name, d->lo, d->hi);
                return -1;
            }
            c->p[k].d = json_number_value(v);
            break;
        case UD_P_CHOICE:
        case UD_P_DTYPE: {
            const char *s = json_string_value(v);
            int found = -1;
            for (int j = 0; s && d->choices[j] && found < 0; j++)
                if (strcmp(d->choices[j], s) == 0) found = j;
            if (found < 0) { snprintf(err, n, "parameter '%s': '%s' is not one of its values", d->name, s ? s : "(not a string)"); return -1; }
            if (d->kind == UD_P_CHOICE) c->p[k].i = found;
            else {
                ud_dtype t;
                if (ud_dtype_parse(s, &t)) { snprintf(err, n, "parameter '%s': unknown dtype '%s'", d->name, s); return -1; }
                c->p[k].i = t;
            }
            break;
        }
        }
    }
    return 0;
}

static int parse_budget(json_t *jb, ud_case *c, char *err, size_t n)
{
    for (int t = 0; t < UD_NDTYPES; t++) c->budget_ulp[t] = NAN;
    c->budget_scaled = NAN;
    if (!jb || json_is_null(jb)) return 0;
    json_t *ulp = json_object_get(jb, "ulp"), *sc = json_object_get(jb, "scaled"), *v;
    const char *key;
    json_object_foreach(ulp, key, v) {
        ud_dtype t;
        if (ud_dtype_parse(key, &t) || !ud_format(t)->is_float || !json_is_number(v)) {
            snprintf(err, n, "bad budget.ulp entry '%s'", key);
            return -1;
        }
        /* The checks a case file's budget.<dtype> gets (casefile.c): a number >= 0. */
        if (!(json_number_value(v) >= 0) || !isfinite(json_number_value(v))) {
            snprintf(err, n, "budget.ulp.%s = %g: expected a non-negative number of ulps", key, json_number_value(v));
            return -1;
        }
        c->budget_ulp[t] = json_number_value(v);
    }
    if (sc) {
        if (!json_is_number(sc)) { snprintf(err, n, "budget.scaled is not a number"); return -1; }
        if (!(json_number_value(sc) >= 0) || !isfinite(json_number_value(sc))) {
            snprintf(err, n, "budget.scaled = %g: expected a non-negative number", json_number_value(sc));
            return -1;
        }
        c->budget_scaled = json_number_value(sc);
    }
    return 0;
}

/* The manifest's file for tensor `name` in a list of {name, file}, joined to dir. */
static char *file_of(const char *dir, json_t *list, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *nm = json_string_value(json_object_get(e, "name")), *f = json_string_value(json_object_get(e, "file"));
        if (nm && f && strcmp(nm, name) == 0) {
            size_t len = strlen(dir) + strlen(f) + 2;
            char *p = malloc(len);
            if (p) snprintf(p, len, "%s/%s", dir, f);
            return p;
        }
    }
    return NULL;
}

static int file_missing(const char *path)
{
    struct stat sb;
    return stat(path, &sb) != 0 && errno == ENOENT;
}

enum { CASE_OK = 0, CASE_BAD = 1, CASE_SKIP = 2 };

/* Builds case i; checks its files. Problems are printed (prefix: manifest and case id). */
static int open_case(const char *dir, const char *mpath, json_t *jc, size_t i, int skip_missing, ex_case *e, ud_case *c,
                     ud_exchange *ex, FILE *errf)
{
    char err[2048];
    const char *id = json_string_value(json_object_get(jc, "id"));
    char where[4800];
    snprintf(where, sizeof where, "%s: case %zu%s%s%s", mpath, i + 1, id ? " (" : "", id ? id : "", id ? ")" : "");
    const char *opname = json_string_value(json_object_get(jc, "op"));
    const ud_op *reg = opname ? ud_op_find(opname) : NULL;
    if (!reg) { problem(ex, errf, "%s: unknown operator '%s'\n", where, opname ? opname : "(none)"); return CASE_BAD; }
    memset(c, 0, sizeof *c);
    c->op = reg;
    c->source = e;
    json_t *seed = json_object_get(jc, "seed");
    if (!json_is_integer(seed) || json_integer_value(seed) < 0) { problem(ex, errf, "%s: 'seed' is not a non-negative integer\n", where); return CASE_BAD; }
    c->seed = (uint64_t)json_integer_value(seed);
    if (parse_params(reg, json_object_get(jc, "params"), c, err, sizeof err) ||
        parse_budget(json_object_get(jc, "budget"), c, err, sizeof err)) {
        problem(ex, errf, "%s: %s\n", where, err);
        return CASE_BAD;
    }
    json_t *src = json_object_get(jc, "source");
    const char *sf = json_string_value(json_object_get(src, "file"));
    if (sf) {
        char *s = strdup(sf);
        char **grown = realloc(ex->strings, (ex->nstrings + 1) * sizeof *grown);
        if (!s || !grown) { free(s); problem(ex, errf, "%s: out of memory\n", where); return CASE_BAD; }
        ex->strings = grown;
        ex->strings[ex->nstrings++] = s;
        c->file = s;
        c->line = (int)json_integer_value(json_object_get(src, "line"));
    }
    ud_case_format_label(c);
    if (ud_case_validate(c, err, sizeof err)) { problem(ex, errf, "%s: %s: %s\n", where, c->label, err); return CASE_BAD; }

    /* The tensors the operator defines for these parameters are the truth; the manifest only
     * names their files. */
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    if (ud_case_make_tensors(c, in, out) != UD_OK) { problem(ex, errf, "%s: cannot allocate the tensors of %s\n", where, c->label); free_tensors(in, nin); free_tensors(out, nout); return CASE_BAD; }
    int bad = 0, missing = 0;
    json_t *jin = json_object_get(jc, "inputs"), *jout = json_object_get(jc, "outputs");
    char what[512];
    for (int k = 0; k < nin; k++) {
        e->in_path[k] = file_of(dir, jin, in[k].name);
        what_of(c, "input", in[k].name, what, sizeof what);
        if (!e->in_path[k]) { problem(ex, errf, "%s: the manifest lists no file for %s\n", where, what); bad++; continue; }
        if (ud_npy_check(e->in_path[k], &in[k], what, err, sizeof err)) { problem(ex, errf, "%s\n", err); bad++; }
    }
    for (int k = 0; k < nout; k++) {
        e->out_path[k] = file_of(dir, jout, out[k].name);
        what_of(c, "output", out[k].name, what, sizeof what);
        if (!e->out_path[k]) { problem(ex, errf, "%s: the manifest lists no file for %s\n", where, what); bad++; continue; }
        missing += file_missing(e->out_path[k]);
    }
    int skip = skip_missing && missing == nout && nout > 0;
    for (int k = 0; !skip && k < nout; k++) {
        if (!e->out_path[k]) continue;
        what_of(c, "output", out[k].name, what, sizeof what);
        if (ud_npy_check(e->out_path[k], &out[k], what, err, sizeof err)) {
            if (file_missing(e->out_path[k]))
                problem(ex, errf, "%s: missing: the implementation wrote no %s\n", e->out_path[k], what);
            else
                problem(ex, errf, "%s\n", err);
            bad++;
        }
    }
    free_tensors(in, nin);
    free_tensors(out, nout);
    return bad ? CASE_BAD : skip ? CASE_SKIP : CASE_OK;
}

int ud_exchange_open(const char *dir, int skip_missing, ud_exchange **exo, ud_case **cases, size_t *n, size_t *skipped,
                     FILE *err)
{
    *exo = NULL;
    *cases = NULL;
    *n = *skipped = 0;
    char mpath[4400];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    json_error_t je;
    char why[256];
    size_t mlen = 0;
    /* A regular file only: a FIFO named manifest.json would block the reader forever. */
    char *mtext = file_missing(mpath) ? NULL : ud_read_regular(mpath, (size_t)1 << 30, &mlen, why, sizeof why);
    json_t *root = mtext ? json_loadb(mtext, mlen, 0, &je) : NULL;
    free(mtext);
    if (!root) {
        if (file_missing(mpath)) fprintf(err, "%s: missing: not an `ulpdiff export` directory\n", mpath);
        else if (!mtext) fprintf(err, "%s: cannot read: %s\n", mpath, why);
        else fprintf(err, "%s:%d: %s\n", mpath, je.line, je.text);
        return 1;
    }
    const char *schema = json_string_value(json_object_get(root, "schema"));
    json_t *jcases = json_object_get(root, "cases");
    if (!schema || strcmp(schema, UD_EXCHANGE_SCHEMA) != 0 || !json_is_array(jcases)) {
        fprintf(err, "%s: schema '%s', expected '%s' with a 'cases' array\n", mpath, schema ? schema : "(none)", UD_EXCHANGE_SCHEMA);
        json_decref(root);
        return 1;
    }
    size_t total = json_array_size(jcases);
    ud_exchange *ex = calloc(1, sizeof *ex);
    ud_case *cs = calloc(total ? total : 1, sizeof *cs);
    ex_case *recs = calloc(total ? total : 1, sizeof *recs);
    if (!ex || !cs || !recs) { fprintf(err, "ulpdiff: out of memory\n"); free(ex); free(cs); free(recs); json_decref(root); return 1; }
    ex->recs = recs;
    ex->n = total;
    ex->impl = (ud_impl){ex_inputs, ex_outputs, 1, ex};
    int problems = 0;
    size_t kept = 0;
    for (size_t i = 0; i < total; i++) {
        int r = open_case(dir, mpath, json_array_get(jcases, i), i, skip_missing, &recs[i], &cs[kept], ex, err);
        if (r == CASE_OK) kept++;
        else if (r == CASE_SKIP) (*skipped)++;
        else problems++;
    }
    json_decref(root);
    *exo = ex;
    if (ex->printed > UD_EXCHANGE_MAX_PRINTED)
        fprintf(err, "... and %d more problems\n", ex->printed - UD_EXCHANGE_MAX_PRINTED);
    if (problems) { free(cs); return problems; }
    *cases = cs;
    *n = kept;
    return 0;
}

void ud_exchange_free(ud_exchange *ex)
{
    if (!ex) return;
    for (size_t i = 0; i < ex->n; i++)
        for (int k = 0; k < UD_MAX_TENSORS; k++) { free(ex->recs[i].in_path[k]); free(ex->recs[i].out_path[k]); }
    for (size_t i = 0; i < ex->nstrings; i++) free(ex->strings[i]);
    free(ex->strings);
    free(ex->recs);
    free(ex);
}
