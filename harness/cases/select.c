/* select.c — case selection (select.h). */
#include "harness/cases/select.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "numerics/status.h"
#include "harness/cases/spec.h"

int ud_shard_has(size_t i, int k, int n) { return n <= 1 || i % (size_t)n == (size_t)(k - 1); }

int ud_shard_parse(const char *s, int *k, int *n)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '/' || errno) return -1;
    const char *b = end + 1;
    long c = strtol(b, &end, 10);
    if (end == b || *end || errno || c < 1 || c > 1000000 || a < 1 || a > c) return -1;
    *k = (int)a;
    *n = (int)c;
    return 0;
}

void ud_selection_init(ud_selection *s)
{
    memset(s, 0, sizeof *s);
    ud_corpus_init(&s->corp);
}

void ud_selection_free(ud_selection *s)
{
    free(s->cases);
    ud_corpus_free(&s->corp);
    memset(s, 0, sizeof *s);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *ud_corpus_dir(const char *sub, char *buf, size_t n)
{
    snprintf(buf, n, "cases/%s", sub);
    if (is_dir(buf)) return buf;
#ifdef UD_SOURCE_DIR
    snprintf(buf, n, "%s/cases/%s", UD_SOURCE_DIR, sub);
    if (is_dir(buf)) return buf;
#endif
    return NULL;
}

const ud_op *ud_select_find_op(const char *name, const char *flag)
{
    const ud_op *op = ud_op_find(name);
    if (op) return op;
    const char *names[256];
    size_t nn = 0;
    for (int i = 0; i < ud_op_count() && nn < 256; i++) names[nn++] = ud_op_at(i)->name;
    const char *dym = ud_did_you_mean(name, names, nn);
    fprintf(stderr, "ulpdiff: %s: unknown operator '%s'%s%s%s\n", flag, name, dym ? "; did you mean '" : "",
            dym ? dym : "", dym ? "'?" : "");
    return NULL;
}

int ud_select_resolve(const ud_select_opts *o, ud_selection *s)
{
    s->only = NULL;
    s->mutant = 0;
    if (o->mutant) {
        if (ud_mutant_find(o->mutant, &s->only, &s->mutant)) {
            fprintf(stderr, "ulpdiff: --mutant: unknown variant '%s' (`ulpdiff list mutants` lists them)\n", o->mutant);
            return UD_EXIT_USAGE;
        }
        if (o->op && strcmp(o->op, s->only->name) != 0) {
            fprintf(stderr, "ulpdiff: --mutant %s belongs to operator %s, not --op %s\n", o->mutant, s->only->name, o->op);
            return UD_EXIT_USAGE;
        }
    } else if (o->op && !(s->only = ud_select_find_op(o->op, "--op"))) {
        return UD_EXIT_USAGE;
    }
    if (o->np && (o->nfiles || !s->only)) {
        fprintf(stderr, "ulpdiff: --%s: command-line parameters shape an operator's default sweep: use them with --op "
                        "and no case files (put parameters for case files in the files)\n", o->pnames[0]);
        return UD_EXIT_USAGE;
    }
    return 0;
}

int ud_select_default_sweep(const ud_select_opts *o, const ud_op *op, int mutant, ud_case **cases, size_t *n)
{
    ud_spec s;
    ud_spec_init(&s, op);
    s.mutant = mutant;
    s.seed0 = o->seed;
    s.seeds = o->seeds;
    for (int k = 0; k < o->np; k++) {
        if (strcmp(o->pnames[k], "padding") == 0) {   /* the case key padding (padding.h), not a parameter */
            s.padding = o->pvals[k];
            continue;
        }
        int idx = -1;
        const char *pn[UD_MAX_PARAMS];
        for (int j = 0; j < op->nparams; j++) {
            pn[j] = op->params[j].name;
            if (strcmp(op->params[j].name, o->pnames[k]) == 0) idx = j;
        }
        if (idx < 0) {
            const char *dym = ud_did_you_mean(o->pnames[k], pn, (size_t)op->nparams);
            fprintf(stderr, "ulpdiff: --%s: %s has no parameter '%s'%s%s%s\n", o->pnames[k], op->name, o->pnames[k],
                    dym ? "; did you mean --" : "", dym ? dym : "", dym ? "?" : "");
            return UD_EXIT_USAGE;
        }
        s.vals[idx] = o->pvals[k];
    }
    char err[1024];
    if (ud_spec_expand(&s, cases, n, err, sizeof err)) {
        fprintf(stderr, "ulpdiff: %s\n", err);
        return UD_EXIT_USAGE;
    }
    return 0;
}

/* The default sweep of every operator none of the cases covers. `from`: the corpus they came
 * from, for the note (NULL: no corpus was found, nothing to note). */
static int sweep_uncovered(const ud_select_opts *o, ud_selection *s, const char *from)
{
    ud_select_opts plain = *o;
    plain.np = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        int covered = 0;
        for (size_t k = 0; k < s->n && !covered; k++) covered = s->cases[k].op == op;
        if (covered) continue;
        if (from) fprintf(stderr, "ulpdiff: note: no cases for %s in %s; running its default sweep\n", op->name, from);
        int rc = ud_select_default_sweep(&plain, op, 0, &s->cases, &s->n);
        if (rc) return rc;
    }
    return 0;
}

int ud_select_corpus(const ud_select_opts *o, ud_selection *s)
{
    s->corp.seed0 = o->seed;
    s->corp.seeds = o->seeds;
    s->corp.allow_empty = o->allow_empty;
    char buf[4096];
    char *dflt[1];
    char *const *files = o->files;
    int nfiles = o->nfiles;
    if (!nfiles) {
        const char *d = ud_corpus_dir("smoke", buf, sizeof buf);
        if (d) { dflt[0] = (char *)d; files = dflt; nfiles = 1; }
    }
    if (nfiles) {
        int errs = ud_corpus_load(&s->corp, files, nfiles, stderr);
        if (!errs) errs = ud_corpus_expand(&s->corp, &s->cases, &s->n, stderr);
        if (errs) {
            fprintf(stderr, "ulpdiff %s: %d error%s in case files; nothing was run\n", o->what, errs, errs == 1 ? "" : "s");
            return UD_EXIT_USAGE;
        }
    }
    if (o->nfiles) return 0;
    return sweep_uncovered(o, s, nfiles ? files[0] : NULL);
}

int ud_select_load(const ud_select_opts *o, ud_selection *s)
{
    if (!o->nfiles && s->only) return ud_select_default_sweep(o, s->only, 0, &s->cases, &s->n);
    return ud_select_corpus(o, s);
}

int ud_select_filter(const ud_select_opts *o, ud_selection *s)
{
    ud_case *cases = s->cases;
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->only && strcmp(cases[i].op->name, s->only->name) != 0) continue;
        if (s->mutant) { cases[i].mutant = s->mutant; ud_case_format_label(&cases[i]); }
        cases[m++] = cases[i];
    }
    if (s->n && !m) {
        fprintf(stderr, "ulpdiff: no cases of operator %s in the given files\n", s->only->name);
        s->n = 0;
        return UD_EXIT_USAGE;
    }
    size_t selected = 0;
    for (size_t i = 0; i < m; i++) {
        if (!ud_shard_has(i, o->shard_k, o->shard_n) || (o->max_cases >= 0 && (long long)selected >= o->max_cases)) continue;
        long long same_op = 0;   /* a time-boxed subset that still reaches every operator */
        for (size_t k = 0; o->per_op > 0 && k < selected; k++) same_op += cases[k].op == cases[i].op;
        if (o->per_op > 0 && same_op >= o->per_op) continue;
        cases[selected++] = cases[i];
    }
    s->n = selected;
    if (!selected && !o->allow_empty) {
        fprintf(stderr, "ulpdiff %s: no case selected%s; --allow-empty accepts an empty selection\n", o->what,
                m ? " (the shard and the limits leave none)" : " (the files hold no case)");
        return UD_EXIT_USAGE;
    }
    return 0;
}

int ud_select_cases(const ud_select_opts *o, ud_selection *s)
{
    int rc = ud_select_resolve(o, s);
    if (!rc) rc = ud_select_load(o, s);
    if (!rc) rc = ud_select_filter(o, s);
    return rc;
}
