/* spec.c — parsing parameter value lists and expanding specs into cases. */
#include "harness/cases/spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/ud_portable.h"
#include "harness/cases/padding.h"

void ud_spec_init(ud_spec *s, const ud_op *op)
{
    memset(s, 0, sizeof *s);
    s->op = op;
    s->seeds = 1;
    s->seed0 = 1;
    for (int t = 0; t < UD_NDTYPES; t++) s->budget_ulp[t] = NAN;
    s->budget_scaled = NAN;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 63 || lb >= 63) return 99;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

const char *ud_did_you_mean(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < n && names[i]; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < bestd) { bestd = d; best = names[i]; }
    }
    size_t len = strlen(word);
    return (best && bestd <= (len < 4 ? 1 : len / 3 + 1)) ? best : NULL;
}

/* Where a value came from, for messages. */
static void where(const ud_spec *s, int k, char *buf, size_t n)
{
    if (s->file) snprintf(buf, n, "%s:%d", s->file, s->lines[k] ? s->lines[k] : s->line);
    else snprintf(buf, n, "--%s", s->op->params[k].name);
}

static char *trim(char *p)
{
    while (isspace((unsigned char)*p)) p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1])) *--e = 0;
    return p;
}

void ud_param_range_text(const ud_param *p, char *buf, size_t n)
{
    if (p->kind == UD_P_INT) snprintf(buf, n, "%lld..%lld", (long long)p->lo, (long long)p->hi);
    else snprintf(buf, n, "%g..%g", p->lo, p->hi);
}

/* "file:line: " for a section of a case file; nothing for the command line's sweep (the
 * message names the flags or the case itself). */
static const char *origin(const ud_spec *s, char *buf, size_t n)
{
    if (s->file) snprintf(buf, n, "%s:%d: ", s->file, s->line);
    else buf[0] = 0;
    return buf;
}

/* One list item: either a single value or a range. */
typedef struct { int is_range; ud_pval v, lo, hi; } item;

static int parse_number(const ud_param *p, const char *txt, ud_pval *out)
{
    char *end;
    errno = 0;
    if (p->kind == UD_P_INT) {
        long long v = strtoll(txt, &end, 10);
        if (*txt == 0 || *end || errno) return -1;
        out->i = v;
        return (v < p->lo || v > p->hi) ? -2 : 0;
    }
    double v = strtod(txt, &end);
    if (*txt == 0 || *end || errno || !isfinite(v)) return -1;
    out->d = v;
    return (v < p->lo || v > p->hi) ? -2 : 0;
}

/* `at`: where the value came from, for messages ("file:line", "--hidden"). */
static int parse_item(const ud_param *p, const char *at, char *txt, item *it, char *err, size_t errn)
{
    memset(it, 0, sizeof *it);
    if (p->kind == UD_P_CHOICE || p->kind == UD_P_DTYPE) {
        for (int c = 0; p->choices[c]; c++)
            if (strcmp(p->choices[c], txt) == 0) {
                it->v.i = p->kind == UD_P_DTYPE ? 0 : c;
                if (p->kind == UD_P_DTYPE) {
                    ud_dtype dt;
                    ud_dtype_parse(txt, &dt);
                    it->v.i = dt;
                }
                return 0;
            }
        size_t nc = 0;
        while (p->choices[nc]) nc++;
        const char *dym = ud_did_you_mean(txt, p->choices, nc);
        char allowed[300] = "";
        for (int c = 0; p->choices[c]; c++) {
            strncat(allowed, c ? ", " : "", sizeof allowed - strlen(allowed) - 1);
            strncat(allowed, p->choices[c], sizeof allowed - strlen(allowed) - 1);
        }
        snprintf(err, errn, "%s: '%s' is not a valid %s (expected one of: %s)%s%s%s", at, txt,
                 p->name, allowed, dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
        return -1;
    }
    char *dots = strstr(txt, "..");
    if (dots) {
        *dots = 0;
        char *a = trim(txt), *b = trim(dots + 2);
        int ra = parse_number(p, a, &it->lo), rb = parse_number(p, b, &it->hi);
        if (ra == -1 || rb == -1) {
            snprintf(err, errn, "%s: '%s..%s' is not a range of %s numbers (write lo..hi, e.g. 1..4096)",
                     at, a, b, p->kind == UD_P_INT ? "integer" : "real");
            return -1;
        }
        double lo = p->kind == UD_P_INT ? (double)it->lo.i : it->lo.d;
        double hi = p->kind == UD_P_INT ? (double)it->hi.i : it->hi.d;
        if (ra == -2 || rb == -2 || lo > hi) {
            char rng[80];
            ud_param_range_text(p, rng, sizeof rng);
            snprintf(err, errn, "%s: range %s..%s for %s must lie within %s with lo <= hi", at, a, b, p->name, rng);
            return -1;
        }
        it->is_range = 1;
        return 0;
    }
    int rc = parse_number(p, txt, &it->v);
    if (rc == -1) {
        snprintf(err, errn, "%s: '%s' is not %s for %s", at, txt,
                 p->kind == UD_P_INT ? "an integer" : "a finite number", p->name);
        return -1;
    }
    if (rc == -2) {
        char rng[80];
        ud_param_range_text(p, rng, sizeof rng);
        snprintf(err, errn, "%s: %s = %s is outside the allowed range %s", at, p->name, txt, rng);
        return -1;
    }
    return 0;
}

/* Draws a range item for a given seed: log-uniform (when lo > 0) with edge bias. */
static ud_pval draw(const ud_param *p, const item *it, uint64_t seed, int k)
{
    double lo = p->kind == UD_P_INT ? (double)it->lo.i : it->lo.d;
    double hi = p->kind == UD_P_INT ? (double)it->hi.i : it->hi.d;
    double u = ud_rng_unit(seed, 0xca5e0000ull + (uint64_t)k, 0);
    double v;
    if (u < 0.25) v = lo;
    else if (u < 0.5) v = hi;
    else {
        double w = (u - 0.5) * 2.0;
        v = lo > 0 ? exp(log(lo) + w * (log(hi) - log(lo))) : lo + w * (hi - lo);
    }
    ud_pval out;
    if (p->kind == UD_P_INT) {
        long long iv = llround(v);
        out.i = iv < it->lo.i ? it->lo.i : iv > it->hi.i ? it->hi.i : iv;
    } else out.d = v;
    return out;
}

#define MAX_ITEMS 64

/* The case-file key `padding` (harness/cases/padding.h), read as an integer parameter. */
static const ud_param padding_param = {"padding", UD_P_INT, "0", "padding rows of garbage past the tokens", NULL, 0,
                                       UD_MAX_PADDING};

/* Lists 0 .. nparams-1: the operator's parameters; list nparams: padding. */
typedef struct {
    item items[UD_MAX_PARAMS + 1][MAX_ITEMS];
    int nitems[UD_MAX_PARAMS + 1];
    size_t total;                 /* cases, seeds included */
} lists;

/* Parses one value list (however long: lists joined from continuation lines have no length
 * limit) into items / *nitems. */
static int parse_list(const ud_param *p, const char *src, const char *at, item *items, int *nitems, char *err,
                      size_t errn)
{
    char *buf = strdup(src ? src : "");
    if (!buf) { snprintf(err, errn, "out of memory"); return -1; }
    *nitems = 0;
    char *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *t = trim(tok);
        if (!*t) continue;
        if (*nitems == MAX_ITEMS) {
            snprintf(err, errn, "%s: more than %d values for %s", at, MAX_ITEMS, p->name);
            rc = -1;
        } else if (parse_item(p, at, t, &items[*nitems], err, errn)) {
            rc = -1;
        } else {
            (*nitems)++;
        }
    }
    free(buf);
    if (rc) return -1;
    if (*nitems == 0) {
        snprintf(err, errn, "%s: %s has no value", at, p->name);
        return -1;
    }
    return 0;
}

/* Parses every list and counts the product without letting it wrap. */
static int parse_lists(const ud_spec *s, lists *L, char *err, size_t errn)
{
    const ud_op *op = s->op;
    size_t seeds = (size_t)(s->seeds > 0 ? s->seeds : 1);
    L->total = seeds;
    int over = seeds > UD_MAX_CASES;
    for (int k = 0; k <= op->nparams; k++) {
        char at[300];
        const ud_param *p = k < op->nparams ? &op->params[k] : &padding_param;
        const char *src = k < op->nparams ? (s->vals[k] ? s->vals[k] : p->def) : (s->padding ? s->padding : p->def);
        if (k < op->nparams) where(s, k, at, sizeof at);
        else if (s->file) snprintf(at, sizeof at, "%s:%d", s->file, s->padding_line ? s->padding_line : s->line);
        else snprintf(at, sizeof at, "--padding");
        if (parse_list(p, src, at, L->items[k], &L->nitems[k], err, errn)) return -1;
        /* total * nitems > UD_MAX_CASES, asked without overflowing */
        if (over || L->total > UD_MAX_CASES / (size_t)L->nitems[k]) over = 1;
        else L->total *= (size_t)L->nitems[k];
    }
    if (over) {
        char o[300];
        snprintf(err, errn, "%s[%s] expands to more than %d cases, the limit (the product of its lists "
                            "times seeds): shorten its lists or seeds",
                 origin(s, o, sizeof o), s->section ? s->section : op->name, UD_MAX_CASES);
        return -1;
    }
    return 0;
}

int ud_spec_count(const ud_spec *s, size_t *count, char *err, size_t errn)
{
    lists *L = malloc(sizeof *L);
    if (!L) { snprintf(err, errn, "out of memory"); return -1; }
    int rc = parse_lists(s, L, err, errn);
    *count = rc ? 0 : L->total;
    free(L);
    return rc;
}

int ud_spec_expand(const ud_spec *s, ud_case **cases, size_t *ncases, char *err, size_t errn)
{
    const ud_op *op = s->op;
    lists *L = malloc(sizeof *L);
    if (!L) { snprintf(err, errn, "out of memory"); return -1; }
    if (parse_lists(s, L, err, errn)) { free(L); return -1; }
    size_t total = L->total;
    if (*ncases + total > UD_MAX_CASES) {
        char o[300];
        snprintf(err, errn, "%s[%s] expands to %zu cases, %zu in all with the %zu before it: more than %d",
                 origin(s, o, sizeof o), s->section ? s->section : op->name, total,
                 *ncases + total, *ncases, UD_MAX_CASES);
        free(L);
        return -1;
    }
    ud_case *arr = realloc(*cases, (*ncases + total) * sizeof *arr);
    if (!arr) { snprintf(err, errn, "out of memory expanding %zu cases", total); free(L); return -1; }
    *cases = arr;
    size_t seeds = (size_t)(s->seeds > 0 ? s->seeds : 1);
    for (size_t idx = 0; idx < total; idx++) {
        ud_case *c = &arr[*ncases];
        memset(c, 0, sizeof *c);
        c->op = op;
        c->mutant = s->mutant;
        c->file = s->file;
        c->line = s->line;
        size_t rest = idx;
        uint64_t sidx = rest % seeds;
        rest /= seeds;
        c->seed = s->seed0 + sidx;
        for (int k = op->nparams - 1; k >= 0; k--) {
            const item *it = &L->items[k][rest % (size_t)L->nitems[k]];
            rest /= (size_t)L->nitems[k];
            c->p[k] = it->is_range ? draw(&op->params[k], it, c->seed, k) : it->v;
        }
        const item *pad = &L->items[op->nparams][rest % (size_t)L->nitems[op->nparams]];
        c->padding = (int)(pad->is_range ? draw(&padding_param, pad, c->seed, op->nparams) : pad->v).i;
        memcpy(c->budget_ulp, s->budget_ulp, sizeof c->budget_ulp);
        c->budget_scaled = s->budget_scaled;
        ud_case_format_label(c);
        char msg[400];
        /* The case without its padding first: a problem of the padding alone is reported at the
         * padding's line. */
        int padding = c->padding, bad;
        c->padding = 0;
        bad = ud_case_validate(c, msg, sizeof msg);
        c->padding = padding;
        if (bad) {
            char o[300];
            snprintf(err, errn, "%s%s: %s", origin(s, o, sizeof o), c->label, msg);
            free(L);
            return -1;
        }
        if (padding && ud_padding_check(c, msg, sizeof msg)) {
            if (s->file) snprintf(err, errn, "%s:%d: %s: %s", s->file, s->padding_line ? s->padding_line : s->line,
                                  c->label, msg);
            else snprintf(err, errn, "--padding: %s: %s", c->label, msg);
            free(L);
            return -1;
        }
        (*ncases)++;
    }
    free(L);
    return 0;
}
