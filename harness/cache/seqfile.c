/* seqfile.c — reproducer files of the cache checker (cache_check.h; the format is in
 * docs/cache-checks.md, "Reproducers"): a failing sequence written as text, read back, and
 * stored under a name derived from its contents.
 *
 *   # ulpdiff cache-check reproducer (...)      the header: how it was found, comments
 *   op = rope
 *   variant = cache_misses_rotary_dim          production, a cache variant, or a policy name
 *   case = dtype=bf16 tokens=3 ... scale=1     every parameter, so later defaults cannot change it
 *   seed = 5
 *   steps:
 *   call
 *   config 2   # factor=0.25                   what another layer's configuration changes
 *   call
 *
 * The case line goes through the case-file machinery (cases/spec.h), so a reproducer is
 * validated exactly as a case file is. The file name hashes the text without its header, so
 * the same failure found twice lands in the same file; it is written atomically (files.h). */
#include "harness/cache/module.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cases/param_text.h"
#include "harness/cases/spec.h"
#include "harness/core/files.h"

/* ------------------------------------------------------------------ writing */

int ud_cache_seq_format(const ud_cache_seq *s, const char *header, char *buf, size_t n)
{
    const ud_case *c = &s->c;
    size_t off = 0;
#define PUT(...) do { if (off < n) off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__); } while (0)
    PUT("# ulpdiff cache-check reproducer (format: docs/cache-checks.md, \"Reproducers\")\n");
    for (const char *h = header; h && *h;) {
        const char *e = strchr(h, '\n');
        int len = e ? (int)(e - h) : (int)strlen(h);
        PUT("# %.*s\n", len, h);
        h = e ? e + 1 : h + len;
    }
    PUT("op = %s\nvariant = %s\ncase =", c->op->name, s->variant);
    for (int k = 0; k < c->op->nparams; k++) {
        char v[64];
        ud_param_value_text(c, k, 1, v, sizeof v);   /* reads back exactly */
        PUT(" %s=%s", c->op->params[k].name, v);
    }
    PUT("\nseed = %llu\nsteps:\n", (unsigned long long)c->seed);
    for (int i = 0; i < s->nsteps; i++) {
        char t[64], diff[160] = "";
        ud_step_text(c->op->cached, &s->steps[i], t, sizeof t);
        ud_case alt = *c;   /* say what another layer's configuration changes */
        if (s->steps[i].kind == UD_STEP_CONFIG && s->steps[i].arg > 0 && c->op->cached->alt_config &&
            c->op->cached->alt_config(&alt, s->steps[i].arg) == 0)
            ud_cache_config_diff(c, &alt, diff, sizeof diff);
        PUT("%s%s%s\n", t, diff[0] ? "   # " : "", diff);
    }
#undef PUT
    return off < n ? UD_OK : UD_EINTERNAL;
}

static int put_text(FILE *f, void *text) { return fputs(text, f) < 0; }

int ud_cache_seq_write(const char *dir, const ud_cache_seq *s, const char *header, char *path, size_t pathn)
{
    char body[8192], text[12288];
    UD_TRY(ud_cache_seq_format(s, NULL, body, sizeof body));
    uint32_t h = (uint32_t)ud_cache_hash(body, strlen(body), 0);
    UD_TRY(ud_cache_seq_format(s, header, text, sizeof text));
    if (ud_mkdir_p(dir)) { ud_error("cannot create %s: %s", dir, strerror(errno)); return UD_EINTERNAL; }
    snprintf(path, pathn, "%s/%s-cache-%08x.steps", dir, s->c.op->name, h);
    return ud_write_atomic(path, put_text, text);
}

/* ------------------------------------------------------------------ reading */

/* What the lines before and around `steps:` say, gathered before the case is built. */
typedef struct {
    const char *path;
    const ud_op *op;
    char variant[64];
    char casebuf[2048];
    unsigned long long seed;
    int case_line;             /* line of `case =` (0: none) */
    int in_steps;              /* past `steps:` */
} reader;

/* "path:line: message" into err; returns -1. */
static int fail_at(char *err, size_t errn, const char *path, int line, const char *fmt, ...)
{
    char why[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, errn, "%s:%d: %s", path, line, why);
    return -1;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
    return p;
}

/* One line after `steps:` into *s; why says what is wrong with it. */
static int parse_step(const ud_cached_op *cop, char *line, ud_step *s, char *why, size_t n)
{
    char *save = NULL, *verb = strtok_r(line, " \t", &save), *a1 = strtok_r(NULL, " \t", &save),
         *a2 = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);
    int kind = -1;
    for (int k = 0; k < UD_STEP_KINDS; k++)
        if (strcmp(verb, ud_step_names[k]) == 0) kind = k;
    if (kind < 0) { snprintf(why, n, "unknown step '%s'", verb); return -1; }
    *s = UD_STEP((ud_step_kind)kind, -1, 0);
    int want = kind == UD_STEP_CAST ? 2 : (kind == UD_STEP_CALL || kind == UD_STEP_INVALIDATE) ? 0 : 1;
    if ((want >= 1 && !a1) || (want >= 2 && !a2) || (want < 2 && a2) || (want < 1 && a1) || extra) {
        snprintf(why, n, "step '%s' takes %d argument%s", verb, want, want == 1 ? "" : "s");
        return -1;
    }
    if (kind >= UD_STEP_WRITE && kind <= UD_STEP_CAST) {
        for (int k = 0; cop->params[k]; k++)
            if (strcmp(cop->params[k], a1) == 0) s->param = k;
        if (s->param < 0) { snprintf(why, n, "'%s' is not a parameter of the operator", a1); return -1; }
    }
    ud_dtype d;
    if (kind == UD_STEP_CAST || kind == UD_STEP_ACT_DTYPE) {
        const char *dn = kind == UD_STEP_CAST ? a2 : a1;
        if (ud_dtype_parse(dn, &d)) { snprintf(why, n, "'%s' is not a dtype", dn); return -1; }
        s->arg = (int)d;
    }
    if ((kind == UD_STEP_MOVE || kind == UD_STEP_VIEW) && ud_dev_parse(a1, &s->arg)) {
        snprintf(why, n, "'%s' is not a device (cpu, cpu:1, cuda:N)", a1);
        return -1;
    }
    if (kind == UD_STEP_CONFIG) {
        char *end;
        long k = strtol(a1, &end, 10);
        if (*end || k < 0 || k > 64) { snprintf(why, n, "'%s' is not a configuration index", a1); return -1; }
        s->arg = (int)k;
    }
    return 0;
}

/* One non-empty line (comment stripped, trimmed) at lineno: a step, `steps:` or `key = value`. */
static int parse_line(reader *rd, char *line, int lineno, ud_cache_seq *s, const ud_op *(*find)(const char *name),
                      char *err, size_t errn)
{
    if (rd->in_steps) {
        char swhy[200];
        if (!rd->op) return fail_at(err, errn, rd->path, lineno, "steps before `op =`");
        if (s->nsteps == UD_MAX_STEPS) return fail_at(err, errn, rd->path, lineno, "more than %d steps", UD_MAX_STEPS);
        if (parse_step(rd->op->cached, line, &s->steps[s->nsteps], swhy, sizeof swhy))
            return fail_at(err, errn, rd->path, lineno, "%s", swhy);
        s->nsteps++;
        return 0;
    }
    if (strcmp(line, "steps:") == 0) { rd->in_steps = 1; return 0; }
    char *eq = strchr(line, '=');
    if (!eq) return fail_at(err, errn, rd->path, lineno, "expected `key = value` or `steps:`");
    *eq = 0;
    char *key = trim(line), *val = trim(eq + 1);
    if (strcmp(key, "op") == 0) {
        rd->op = find(val);
        if (!rd->op) return fail_at(err, errn, rd->path, lineno, "unknown operator '%s'", val);
        if (!rd->op->cached)
            return fail_at(err, errn, rd->path, lineno, "operator %s keeps no derived state: nothing to replay", val);
    } else if (strcmp(key, "variant") == 0) {
        snprintf(rd->variant, sizeof rd->variant, "%s", val);
    } else if (strcmp(key, "case") == 0) {
        snprintf(rd->casebuf, sizeof rd->casebuf, "%s", val);
        rd->case_line = lineno;
    } else if (strcmp(key, "seed") == 0) {
        char *end;
        errno = 0;
        rd->seed = strtoull(val, &end, 10);
        /* strtoull reads "-1" as 2^64 - 1 and saturates past 2^64: neither is the seed written. */
        if (!*val || *end || val[0] < '0' || val[0] > '9' || errno == ERANGE)
            return fail_at(err, errn, rd->path, lineno, "seed '%s' is not an integer in 0..18446744073709551615", val);
    } else {
        return fail_at(err, errn, rd->path, lineno, "unknown key '%s' (op, variant, case, seed, steps:)", key);
    }
    return 0;
}

/* The case: every parameter name=value, through the case-file machinery (validation included). */
static int parse_case(reader *rd, ud_cache_seq *s, char *err, size_t errn)
{
    const ud_op *op = rd->op;
    ud_spec sp;
    ud_spec_init(&sp, op);
    sp.seed0 = rd->seed;
    sp.seeds = 1;
    char *cs = NULL;
    for (char *tok = strtok_r(rd->casebuf, " \t", &cs); tok; tok = strtok_r(NULL, " \t", &cs)) {
        char *e = strchr(tok, '=');
        if (!e) return fail_at(err, errn, rd->path, rd->case_line, "case: '%s' is not name=value", tok);
        *e = 0;
        int idx = -1;
        for (int k = 0; k < op->nparams; k++)
            if (strcmp(op->params[k].name, tok) == 0) idx = k;
        if (idx < 0) return fail_at(err, errn, rd->path, rd->case_line, "case: %s has no parameter '%s'", op->name, tok);
        sp.vals[idx] = e + 1;
        sp.lines[idx] = rd->case_line;
    }
    ud_case *cases = NULL;
    size_t nc = 0;
    char serr[512];
    if (ud_spec_expand(&sp, &cases, &nc, serr, sizeof serr)) {
        free(cases);   /* the expansion may have grown the array before the case failed validation */
        return fail_at(err, errn, rd->path, rd->case_line, "case: %s", serr);
    }
    if (nc != 1) {
        free(cases);
        return fail_at(err, errn, rd->path, rd->case_line, "case: one value per parameter expected (%zu cases)", nc);
    }
    s->c = cases[0];
    free(cases);
    return 0;
}

/* The variant: production, a cache variant of the operator, or a policy by name. An unknown
 * one is reported at the `case =` line. */
static int parse_variant(const reader *rd, ud_cache_seq *s, char *err, size_t errn)
{
    const ud_op *op = rd->op;
    snprintf(s->variant, sizeof s->variant, "%s", rd->variant);
    s->policy = UD_CACHE_PRODUCTION;
    if (strcmp(rd->variant, "production") == 0) return 0;
    for (int m = 0; m < op->nmutants; m++)
        if (op->mutants[m].scenario && strcmp(op->mutants[m].name, rd->variant) == 0) {
            s->policy = (ud_cache_policy)op->mutants[m].cache_policy;
            s->c.mutant = m + 1;
            return 0;
        }
    if (ud_cache_policy_parse(rd->variant, &s->policy) == 0) return 0;
    return fail_at(err, errn, rd->path, rd->case_line,
                   "variant '%s' is neither production, a cache variant of %s nor a cache policy", rd->variant, op->name);
}

int ud_cache_seq_parse(const char *text, const char *path, const ud_op *(*find)(const char *name), ud_cache_seq *s,
                       char *err, size_t errn)
{
    memset(s, 0, sizeof *s);
    char *copy = strdup(text);
    UD_ALLOC_CHECK(copy);
    reader rd = {.path = path, .variant = "production", .seed = 1};
    int lineno = 0, rc = 0;
    /* Line by line, blank lines included, so that error positions are the editor's. */
    for (char *p = copy, *line; rc == 0 && p; ) {
        line = p;
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        p = nl ? nl + 1 : NULL;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        line = trim(line);
        if (*line) rc = parse_line(&rd, line, lineno, s, find, err, errn);
    }
    if (rc == 0 && !rd.op) rc = fail_at(err, errn, path, 0, "no `op =` line");
    if (rc == 0 && !rd.in_steps) rc = fail_at(err, errn, path, 0, "no `steps:` section");
    if (rc == 0) rc = parse_case(&rd, s, err, errn);
    if (rc == 0) rc = parse_variant(&rd, s, err, errn);
    if (rc == 0) ud_case_format_label(&s->c);
    free(copy);
    return rc;
}
