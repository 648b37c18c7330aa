/* casefile.c — INI case files through inih, resolved against the registry (casefile.h).
 *
 * inih gives the handler no line number in Debian's build (INI_HANDLER_LINENO is 0), so our
 * reader feeds inih one line at a time and counts: when the handler runs, the line it is
 * handling is the last one the reader returned. The reader also records section headers
 * (so two sections with the same name stay two cases, and an empty section is seen) and
 * whether a line is indented (inih reads an indented line as a continuation of the previous
 * key: we append it to the list, and reject an indented `key = value` that inih would have
 * swallowed as a value). */
#include "harness/cases/casefile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/core/files.h"

const char *const ud_casefile_keys[] = {"op", "seeds", "seed", "mutant", "scaled_budget", "budget.<dtype>", "padding", NULL};

#define MAX_FILE_BYTES (4u << 20)
#define MAX_ERRORS_PER_FILE 20

/* ------------------------------------------------------------------ string pool */

static char *pool_add(ud_corpus *c, const char *s, size_t len)
{
    char **p = realloc(c->pool, (c->npool + 1) * sizeof *p);
    if (!p) return NULL;
    c->pool = p;
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    c->pool[c->npool++] = d;
    return d;
}

void ud_corpus_init(ud_corpus *c)
{
    memset(c, 0, sizeof *c);
    c->seed0 = 1;
    c->seeds = 1;
}

void ud_corpus_free(ud_corpus *c)
{
    for (size_t i = 0; i < c->npool; i++) free(c->pool[i]);
    for (size_t i = 0; i < c->nfiles; i++) free(c->files[i]);
    free(c->pool);
    free(c->files);
    free(c->specs);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ raw parse */

typedef struct { char *key, *val; int line; } kv;

typedef struct {
    char *name;
    int line;
    kv *kvs;
    int nkv;
} section;

typedef struct {
    const char *path;
    const char *text, *pos;
    int lineno;              /* line the reader returned last */
    int indented;            /* that line starts with white space */
    section *secs;
    int nsec;
    int last_kv_line;        /* for continuation lines */
    int nerrors;
    FILE *err;
    int oom;
} pstate;

static void perr(pstate *st, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(pstate *st, int line, const char *fmt, ...)
{
    st->nerrors++;
    if (st->nerrors > MAX_ERRORS_PER_FILE) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(st->err, "%s:%d: ", st->path, line);
    vfprintf(st->err, fmt, ap);
    fputc('\n', st->err);
    va_end(ap);
    if (st->nerrors == MAX_ERRORS_PER_FILE) fprintf(st->err, "%s: too many errors; stopping here\n", st->path);
}

static char *trim(char *p)
{
    while (isspace((unsigned char)*p)) p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1])) *--e = 0;
    return p;
}

/* fgets-like over st->text, whole lines only. A comment line (first non-blank character # or ;)
 * of any length reads as an empty line: shrunk reproducers carry long headers. Any other line
 * longer than inih's buffer holds is an error naming the real limit (the characters before
 * the line break; "\r\n" counts as "\n"). */
static char *reader(char *str, int num, void *stream)
{
    pstate *st = stream;
    if (!*st->pos) return NULL;
    const char *nl = strchr(st->pos, '\n');
    size_t len = nl ? (size_t)(nl - st->pos) + 1 : strlen(st->pos);
    size_t content = nl ? len - 1 : len;
    if (content && st->pos[content - 1] == '\r') content--;
    st->lineno++;
    const char *first = st->pos;
    while (first < st->pos + content && (*first == ' ' || *first == '\t')) first++;
    int comment = first < st->pos + content && (*first == '#' || *first == ';');
    size_t limit = (size_t)num - 2;   /* the line, its '\n' and the NUL */
    if (comment || content > limit) {
        if (!comment)
            perr(st, st->lineno, "line longer than %zu characters: continue a long list on indented lines", limit);
        snprintf(str, (size_t)num, "\n");
        st->pos += len;
        st->indented = 0;
        return str;
    }
    memcpy(str, st->pos, content);
    str[content] = '\n';
    str[content + 1] = 0;
    st->pos += len;
    len = content + 1;
    st->indented = len > 0 && (str[0] == ' ' || str[0] == '\t');
    /* A section header starts a new case, even when its name repeats. */
    char *p = str;
    while (isspace((unsigned char)*p)) p++;
    if (*p == '[') {
        char *end = strchr(p, ']');
        section *s = realloc(st->secs, (size_t)(st->nsec + 1) * sizeof *s);
        if (!s) { st->oom = 1; return NULL; }
        st->secs = s;
        memset(&s[st->nsec], 0, sizeof *s);
        s[st->nsec].line = st->lineno;
        size_t nlen = end ? (size_t)(end - p - 1) : 0;
        s[st->nsec].name = malloc(nlen + 1);
        if (!s[st->nsec].name) { st->oom = 1; return NULL; }
        memcpy(s[st->nsec].name, p + 1, nlen);
        s[st->nsec].name[nlen] = 0;
        st->nsec++;
        st->last_kv_line = 0;
    }
    return str;
}

static int handler(void *user, const char *sec_name, const char *name, const char *value)
{
    (void)sec_name;
    pstate *st = user;
    int line = st->lineno;
    if (st->nsec == 0) {
        perr(st, line, "'%s' is outside a section: start each case with a [name] line", name);
        return 1;
    }
    section *s = &st->secs[st->nsec - 1];
    char vbuf[4096];
    snprintf(vbuf, sizeof vbuf, "%s", value);
    /* Values never contain '#' or ';': either starts a comment (inih strips '; ...' on key lines
     * but not on continuation lines, and knows nothing of '#'). */
    vbuf[strcspn(vbuf, "#;")] = 0;
    char *v = trim(vbuf);
    kv *prev = s->nkv ? &s->kvs[s->nkv - 1] : NULL;
    if (st->indented && prev && strcmp(prev->key, name) == 0 && st->last_kv_line == line - 1) {
        /* continuation of prev's list */
        st->last_kv_line = line;
        if (strchr(v, '=') || strchr(v, ':')) {
            perr(st, line, "indented line is read as a continuation of '%s': do not indent keys", name);
            return 1;
        }
        if (!*v) return 1;
        size_t len = strlen(prev->val) + strlen(v) + 3;
        char *joined = malloc(len);
        if (!joined) { st->oom = 1; return 0; }
        snprintf(joined, len, "%s%s%s", prev->val, *prev->val ? ", " : "", v);
        free(prev->val);
        prev->val = joined;
        return 1;
    }
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kvs[i].key, name) == 0) {
            perr(st, line, "duplicate key '%s' in [%s] (first set on line %d)", name, s->name, s->kvs[i].line);
            return 1;
        }
    if (!*v) {
        perr(st, line, "'%s' has no value", name);
        return 1;
    }
    kv *k = realloc(s->kvs, (size_t)(s->nkv + 1) * sizeof *k);
    if (!k) { st->oom = 1; return 0; }
    s->kvs = k;
    k[s->nkv].key = strdup(name);
    k[s->nkv].val = strdup(v);
    k[s->nkv].line = line;
    if (!k[s->nkv].key || !k[s->nkv].val) { st->oom = 1; return 0; }
    s->nkv++;
    st->last_kv_line = line;
    return 1;
}

/* ------------------------------------------------------------------ resolving against the registry */

static int parse_nonneg_real(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (*v == 0 || *end || errno || !isfinite(d) || d < 0) return -1;
    *out = d;
    return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*v)) return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno) return -1;
    *out = x;
    return 0;
}

/* "; did you mean <pre>NAME<post>?" when a name is close, else "". */
static void suggest(char *buf, size_t n, const char *word, const char *const *names, size_t nn, const char *pre,
                    const char *post)
{
    const char *d = ud_did_you_mean(word, names, nn);
    if (d) snprintf(buf, n, "; did you mean %s%s%s?", pre, d, post);
    else buf[0] = 0;
}

static void resolve_section(ud_corpus *c, pstate *st, const section *sec, const char *path)
{
    const kv *opkv = NULL;
    for (int i = 0; i < sec->nkv; i++)
        if (strcmp(sec->kvs[i].key, "op") == 0) opkv = &sec->kvs[i];
    if (!opkv) {
        perr(st, sec->line, "[%s] has no 'op = ...' line (`ulpdiff list ops` names the operators)", sec->name);
        return;
    }
    const ud_op *op = ud_op_find(opkv->val);
    if (!op) {
        const char *names[256];
        size_t nn = 0;
        for (int i = 0; i < ud_op_count() && nn < 256; i++) names[nn++] = ud_op_at(i)->name;
        char dym[200];
        suggest(dym, sizeof dym, opkv->val, names, nn, "'", "'");
        perr(st, opkv->line, "unknown operator '%s'%s", opkv->val, dym);
        return;
    }
    ud_spec s;
    ud_spec_init(&s, op);
    s.seed0 = c->seed0;
    s.seeds = c->seeds;
    s.file = path;
    s.line = sec->line;
    s.section = pool_add(c, sec->name, strlen(sec->name));
    if (!s.section) { st->oom = 1; return; }
    int before = st->nerrors;
    for (int i = 0; i < sec->nkv; i++) {
        const kv *k = &sec->kvs[i];
        if (k == opkv) continue;
        if (strcmp(k->key, "seeds") == 0) {
            uint64_t v;
            if (parse_u64(k->val, &v) || v < 1 || v > 100000)
                perr(st, k->line, "seeds = %s: expected an integer in 1..100000", k->val);
            else s.seeds = (int)v;
        } else if (strcmp(k->key, "seed") == 0) {
            if (parse_u64(k->val, &s.seed0)) perr(st, k->line, "seed = %s: expected a non-negative integer", k->val);
        } else if (strcmp(k->key, "mutant") == 0) {
            const char *name = k->val;
            size_t ol = strlen(op->name);
            if (strncmp(name, op->name, ol) == 0 && name[ol] == '.') name += ol + 1;
            int found = 0;
            const char *names[64];
            for (int m = 0; m < op->nmutants && m < 64; m++) {
                names[m] = op->mutants[m].name;
                if (strcmp(op->mutants[m].name, name) == 0) { s.mutant = m + 1; found = 1; }
            }
            if (!found) {
                char dym[200];
                suggest(dym, sizeof dym, name, names, (size_t)(op->nmutants < 64 ? op->nmutants : 64), "'", "'");
                perr(st, k->line, "%s has no known-bug variant '%s'%s (`ulpdiff list mutants`)", op->name, k->val, dym);
            }
        } else if (strcmp(k->key, "padding") == 0) {   /* a list, checked when the section expands */
            s.padding = pool_add(c, k->val, strlen(k->val));
            s.padding_line = k->line;
            if (!s.padding) { st->oom = 1; return; }
        } else if (strcmp(k->key, "scaled_budget") == 0) {
            if (parse_nonneg_real(k->val, &s.budget_scaled))
                perr(st, k->line, "scaled_budget = %s: expected a non-negative number", k->val);
        } else if (strncmp(k->key, "budget.", 7) == 0) {
            ud_dtype t;
            if (ud_dtype_parse(k->key + 7, &t) || !ud_format(t)->is_float) {
                const char *dn[UD_NDTYPES];
                size_t nd = 0;
                for (int d = 0; d < UD_NDTYPES; d++)
                    if (ud_format((ud_dtype)d)->is_float) dn[nd++] = ud_dtype_name((ud_dtype)d);
                char dym[200];
                suggest(dym, sizeof dym, k->key + 7, dn, nd, "budget.", "");
                perr(st, k->line, "'%s': '%s' is not a floating-point dtype%s", k->key, k->key + 7, dym);
            } else if (parse_nonneg_real(k->val, &s.budget_ulp[t])) {
                perr(st, k->line, "%s = %s: expected a non-negative number of ulps", k->key, k->val);
            }
        } else {
            int idx = -1;
            const char *names[UD_MAX_PARAMS + 8];
            size_t nn = 0;
            for (int j = 0; j < op->nparams; j++) {
                names[nn++] = op->params[j].name;
                if (strcmp(op->params[j].name, k->key) == 0) idx = j;
            }
            if (idx < 0) {
                for (int j = 0; ud_casefile_keys[j]; j++) names[nn++] = ud_casefile_keys[j];
                char dym[200];
                suggest(dym, sizeof dym, k->key, names, nn, "'", "'");
                if (strcmp(k->key, "budget") == 0) snprintf(dym, sizeof dym, "; write budget.<dtype>, e.g. budget.bf16");
                perr(st, k->line, "unknown key '%s' for operator %s%s (`ulpdiff list` shows its parameters)",
                     k->key, op->name, dym);
                continue;
            }
            s.vals[idx] = pool_add(c, k->val, strlen(k->val));
            s.lines[idx] = k->line;
            if (!s.vals[idx]) { st->oom = 1; return; }
        }
    }
    if (st->nerrors != before) return;
    ud_spec *sp = realloc(c->specs, (c->nspecs + 1) * sizeof *sp);
    if (!sp) { st->oom = 1; return; }
    c->specs = sp;
    c->specs[c->nspecs++] = s;
}

int ud_casefile_parse_text(ud_corpus *c, const char *path, const char *text, FILE *err)
{
    pstate st;
    memset(&st, 0, sizeof st);
    st.path = pool_add(c, path, strlen(path));
    /* A UTF-8 byte order mark (editors on some systems write one) is not part of the text. */
    if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) text += 3;
    st.text = st.pos = text;
    st.err = err;
    if (!st.path) { fprintf(err, "%s: out of memory\n", path); return 1; }
    int rc = ini_parse_stream(reader, &st, handler, &st);
    if (rc > 0 && !st.oom) {
        /* inih's own syntax errors (our handler never reports failure) */
        perr(&st, rc, "syntax error: expected '[case name]', 'key = value' or a comment (; or #)");
    }
    if (!st.oom && st.nerrors == 0) {
        if (st.nsec == 0) perr(&st, 1, "no cases: a case file holds [sections] with 'op = ...'");
        for (int i = 0; i < st.nsec; i++)
            for (int j = 0; j < i; j++)
                if (strcmp(st.secs[i].name, st.secs[j].name) == 0) {
                    perr(&st, st.secs[i].line, "duplicate section [%s] (first on line %d)", st.secs[i].name, st.secs[j].line);
                    break;
                }
        for (int i = 0; i < st.nsec && !st.oom; i++) resolve_section(c, &st, &st.secs[i], st.path);
    }
    if (st.oom || rc < 0) { fprintf(err, "%s: out of memory\n", path); st.nerrors++; }
    for (int i = 0; i < st.nsec; i++) {
        for (int k = 0; k < st.secs[i].nkv; k++) { free(st.secs[i].kvs[k].key); free(st.secs[i].kvs[k].val); }
        free(st.secs[i].kvs);
        free(st.secs[i].name);
    }
    free(st.secs);
    c->nerrors += st.nerrors;
    return st.nerrors;
}

/* ------------------------------------------------------------------ files and directories */

static int has_ini_suffix(const char *name)
{
    size_t l = strlen(name);
    return l > 4 && strcmp(name + l - 4, ".ini") == 0;
}

/* Files and directories already seen, by identity: symlink loops end, and a file reached by
 * two paths is read once. */
typedef struct { dev_t dev; ino_t ino; } file_id;
typedef struct {
    char **files;
    size_t n;
    file_id *seen;
    size_t nseen;
} walk;

/* 1: already seen; 0: recorded now; -1: out of memory. */
static int seen_before(walk *w, const struct stat *sb)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].dev == sb->st_dev && w->seen[i].ino == sb->st_ino) return 1;
    file_id *s = realloc(w->seen, (w->nseen + 1) * sizeof *s);
    if (!s) return -1;
    w->seen = s;
    w->seen[w->nseen++] = (file_id){sb->st_dev, sb->st_ino};
    return 0;
}

static int add_file(walk *w, const char *path, const struct stat *sb)
{
    int seen = seen_before(w, sb);
    if (seen) return seen < 0 ? -1 : 0;
    char **f = realloc(w->files, (w->n + 1) * sizeof *f);
    if (!f) return -1;
    w->files = f;
    f[w->n] = strdup(path);
    if (!f[w->n]) return -1;
    w->n++;
    return 0;
}

static int collect_dir(walk *w, const char *dir, const struct stat *dsb, FILE *err)
{
    int seen = seen_before(w, dsb);
    if (seen) return seen < 0;
    DIR *d = opendir(dir);
    if (!d) { fprintf(err, "%s: cannot open directory: %s\n", dir, strerror(errno)); return 1; }
    int errors = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        size_t dl = strlen(dir);
        int pl = snprintf(path, sizeof path, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
        if (pl < 0 || (size_t)pl >= sizeof path) { fprintf(err, "%s/%s: path too long\n", dir, e->d_name); errors++; continue; }
        struct stat sb;
        if (stat(path, &sb)) continue;   /* a dangling link: nothing to read */
        if (S_ISDIR(sb.st_mode)) errors += collect_dir(w, path, &sb, err);
        else if (S_ISREG(sb.st_mode) && has_ini_suffix(e->d_name) && add_file(w, path, &sb)) errors++;
    }
    closedir(d);
    return errors;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *read_all(const char *path, FILE *err)
{
    char why[256];
    size_t len;
    char *buf = ud_read_regular(path, MAX_FILE_BYTES, &len, why, sizeof why);
    if (!buf) { fprintf(err, "%s: cannot read: %s%s\n", path, why, strncmp(why, "larger", 6) ? "" : "; split it"); return NULL; }
    if (memchr(buf, 0, len)) { free(buf); fprintf(err, "%s:1: not a text file (NUL byte)\n", path); return NULL; }
    return buf;
}

int ud_corpus_load(ud_corpus *c, char *const *paths, int npaths, FILE *err)
{
    walk w = {0};
    int errors = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat sb;
        if (stat(paths[i], &sb)) { fprintf(err, "%s: %s\n", paths[i], strerror(errno)); errors++; continue; }
        if (S_ISDIR(sb.st_mode)) {
            size_t before = w.n;
            int derr = collect_dir(&w, paths[i], &sb, err);
            errors += derr;
            if (!derr && w.n == before && !c->allow_empty) {
                fprintf(err, "%s: no case files (*.ini) in this directory (--allow-empty to accept that)\n", paths[i]);
                errors++;
            }
        } else if (!S_ISREG(sb.st_mode)) {
            char why[128];
            FILE *f = ud_fopen_regular(paths[i], why, sizeof why);   /* for the reason's wording */
            if (f) fclose(f);
            fprintf(err, "%s: cannot read: %s\n", paths[i], f ? "not a regular file" : why);
            errors++;
        } else if (add_file(&w, paths[i], &sb)) errors++;
    }
    free(w.seen);
    char **files = w.files;
    size_t n = w.n;
    if (n) qsort(files, n, sizeof *files, cmp_str);
    size_t m = 0;   /* drop duplicates (a file named twice, or also inside a named directory) */
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(files[m - 1], files[i]) == 0) { free(files[i]); continue; }
        files[m++] = files[i];
    }
    for (size_t i = 0; i < m; i++) {
        char *text = read_all(files[i], err);
        if (!text) { errors++; continue; }
        errors += ud_casefile_parse_text(c, files[i], text, err);
        free(text);
    }
    if (!m) { free(files); return errors; }
    char **all = realloc(c->files, (c->nfiles + m) * sizeof *all);
    if (!all) { for (size_t i = 0; i < m; i++) free(files[i]); free(files); return errors + 1; }
    memcpy(all + c->nfiles, files, m * sizeof *files);
    c->files = all;
    c->nfiles += m;
    free(files);
    return errors;
}

int ud_corpus_expand(const ud_corpus *c, ud_case **cases, size_t *ncases, FILE *err)
{
    /* Count first: a corpus too large to hold is refused before a single case is built. */
    int errors = 0;
    size_t total = *ncases, largest = 0, at = 0;
    char msg[1024];
    for (size_t i = 0; i < c->nspecs; i++) {
        size_t k;
        if (ud_spec_count(&c->specs[i], &k, msg, sizeof msg)) { fprintf(err, "%s\n", msg); errors++; continue; }
        if (k > largest) { largest = k; at = i; }
        total = total + k < total ? SIZE_MAX : total + k;
    }
    if (errors) return errors;
    if (total > UD_MAX_CASES) {
        const ud_spec *s = &c->specs[at];
        fprintf(err, "%s:%d: the case files expand to %zu cases in all, more than %d (the largest section, [%s], has %zu): "
                     "shorten lists or seeds, or run the files in parts\n",
                s->file ? s->file : "command line", s->line, total, UD_MAX_CASES, s->section ? s->section : s->op->name, largest);
        return 1;
    }
    for (size_t i = 0; i < c->nspecs; i++) {
        if (ud_spec_expand(&c->specs[i], cases, ncases, msg, sizeof msg)) {
            fprintf(err, "%s\n", msg);
            errors++;
        }
    }
    return errors;
}
