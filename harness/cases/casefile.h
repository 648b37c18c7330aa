/* casefile.h — case files (INI, parsed with inih) and the corpus they form.
 *
 *   [rmsnorm_ragged]              a section is a case specification; its name labels errors
 *   op      = rmsnorm             required: the operator (`ulpdiff list ops`)
 *   dtype   = bf16, fp16          any parameter of the operator: a list, the product is run
 *   hidden  = 1, 127, 1000..9000  lo..hi: drawn per seed, log-uniform with edge bias
 *   seeds   = 3                   seeds per combination (default 1); seed = first seed (1)
 *   budget.bf16   = 0.5           override the operator's ulp budget for bf16 outputs
 *   scaled_budget = 8             override the operator's scaled budget (units of u_w * s)
 *   mutant  = weight_mult_fp32    run a known-bug variant (reproducers of mutant findings)
 *   padding = 0, 5                rows of garbage past the tokens: a CUDA-graph batch (padding.h)
 *
 * Every error names file:line and, where a name is close, suggests it; docs/cases.md is the
 * user's page. A corpus is the cases of a set of files, in a stable order: files sorted by
 * path (directories contribute every *.ini below them), sections in file order, each
 * section's cases in ud_spec_expand order — so case indices, and therefore --shard, are
 * deterministic. */
#ifndef UD_CASEFILE_H
#define UD_CASEFILE_H

#include <stdio.h>

#include "harness/cases/spec.h"

typedef struct {
    char **files;          /* sorted, owned */
    size_t nfiles;
    ud_spec *specs;        /* one per section; strings point into `pool` */
    size_t nspecs;
    char **pool;           /* every string the specs point to */
    size_t npool;
    uint64_t seed0;        /* defaults for sections without seed = / seeds = */
    int seeds;
    int nerrors;
    int allow_empty;       /* a directory without case files is not an error (--allow-empty) */
} ud_corpus;

void ud_corpus_init(ud_corpus *c);
void ud_corpus_free(ud_corpus *c);

/* Adds files and directories (every *.ini below a directory, recursively), sorts the whole
 * list by path and parses each file. Errors go to `err` as "file:line: message" lines.
 * Only regular files are read (a FIFO would block); a directory is walked once however many
 * symlinks lead back into it, and a file reached by two paths is read once. A directory with
 * no case files is an error unless c->allow_empty. Returns the number of errors (0: all files
 * parsed). */
int ud_corpus_load(ud_corpus *c, char *const *paths, int npaths, FILE *err);

/* Parses one case file's text (path is used for messages and for ud_case.file). Returns the
 * number of errors found in it. Exposed for tests. */
int ud_casefile_parse_text(ud_corpus *c, const char *path, const char *text, FILE *err);

/* Expands every section into cases (appended to *cases). Bad values and impossible shapes are
 * reported here (ud_spec_expand). The sections' case counts are added up first: a corpus of
 * more than UD_MAX_CASES cases is refused before any is built. Returns the number of errors. */
int ud_corpus_expand(const ud_corpus *c, ud_case **cases, size_t *ncases, FILE *err);

/* The keys a section may hold besides the operator's parameters. */
extern const char *const ud_casefile_keys[];

#endif
