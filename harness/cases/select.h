/* select.h — which cases a command runs: the selection half of run, export, check and mutants.
 *
 *   1. the source: case files and directories (a corpus, casefile.h); with none, and --op,
 *      --mutant or --PARAM, that operator's default sweep; with none at all, the default corpus
 *      cases/smoke (in the working directory, else in the source tree) plus the default sweep of
 *      every operator the corpus does not cover;
 *   2. the operator / variant filter: only --op's (or --mutant's operator's) cases, each set to
 *      --mutant's variant;
 *   3. the shard (case k of the filtered list when k mod N == I-1), then --per-op (at most N
 *      cases of each operator) and --max-cases (at most N in all), in case order.
 * Every error is printed to stderr naming the flag or file:line and comes back as an exit code
 * (UD_EXIT_USAGE); nothing runs after one. */
#ifndef UD_SELECT_H
#define UD_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "harness/cases/casefile.h"

typedef struct {
    const char *what;               /* the command, for messages: "run", "mutants" */
    const char *op;                 /* --op NAME, or NULL */
    const char *mutant;             /* --mutant OP.VARIANT, or NULL */
    uint64_t seed;                  /* first seed and seeds per case, where a section sets none */
    int seeds;
    const char *const *pnames;      /* --PARAM V1,V2: the default sweep's parameters */
    const char *const *pvals;
    int np;
    char *const *files;             /* case files and directories; nfiles == 0: the defaults */
    int nfiles;
    int shard_k, shard_n;           /* 1/1: no sharding */
    long long max_cases, per_op;    /* < 0 (max_cases), <= 0 (per_op): no limit */
    int allow_empty;                /* selecting nothing is not an error (--allow-empty) */
} ud_select_opts;

typedef struct {
    ud_corpus corp;                 /* the case files the cases point into */
    ud_case *cases;                 /* malloc'd */
    size_t n;
    const ud_op *only;              /* --op's or --mutant's operator, or NULL */
    int mutant;                     /* --mutant's variant (1-based), or 0 */
} ud_selection;

/* Sharding: case i (0-based, in corpus order) belongs to shard k of N (1-based) when
 * i mod N == k - 1. Shards are disjoint and together cover the corpus. */
int ud_shard_has(size_t i, int k, int n);
/* "I/N" -> k, n; -1 on a malformed or out-of-range value. */
int ud_shard_parse(const char *s, int *k, int *n);

void ud_selection_init(ud_selection *s);
void ud_selection_free(ud_selection *s);

/* Step 0: resolves --op / --mutant into s->only / s->mutant and checks that --PARAM comes with
 * an operator and no files. Returns 0 or an exit code. */
int ud_select_resolve(const ud_select_opts *o, ud_selection *s);

/* Step 1: appends the source's cases to s->cases. Returns 0 or an exit code. */
int ud_select_load(const ud_select_opts *o, ud_selection *s);

/* The corpus part of step 1: FILES/DIRS, or with none the default corpus (cases/smoke plus the
 * default sweeps of the operators it does not cover), whatever --op says. */
int ud_select_corpus(const ud_select_opts *o, ud_selection *s);

/* An operator's default sweep with --PARAM overrides (variant `mutant`), appended to *cases.
 * Returns 0 or an exit code. */
int ud_select_default_sweep(const ud_select_opts *o, const ud_op *op, int mutant, ud_case **cases, size_t *n);

/* Steps 2 and 3 on s->cases, in place. Returns 0, or UD_EXIT_USAGE when the filter leaves
 * nothing of a non-empty list, or when nothing is selected at all (an empty directory, a shard
 * past the end) and o->allow_empty does not accept that. */
int ud_select_filter(const ud_select_opts *o, ud_selection *s);

/* resolve, load, filter. */
int ud_select_cases(const ud_select_opts *o, ud_selection *s);

/* The registry operator `name`, or NULL after a message naming flag (and a close name). */
const ud_op *ud_select_find_op(const char *name, const char *flag);

/* cases/<sub> relative to the working directory, else to the source tree ulpdiff was built
 * from; NULL when neither exists. */
const char *ud_corpus_dir(const char *sub, char *buf, size_t n);

#endif
