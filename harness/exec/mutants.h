/* mutants.h — mutation scoring: every known-bug variant must be caught on its operator's
 * cases, and the production kernel must pass them.
 *
 * The matrix is every (case, variant) pair of the selected operators: for each operator in
 * registry order, its production rows (mutant 0) and then each variant's, every row one of the
 * operator's cases in corpus order. A variant is caught when some row of it shows its expected
 * finding (ud_mutant.expect: "tolerance", "cache-stale", ...); a finding of another kind does
 * not count. Production passes when none of its rows has a finding. */
#ifndef UD_MUTANTS_H
#define UD_MUTANTS_H

#include <stddef.h>

#include "harness/core/result.h"

/* Builds the matrix of base[0..nbase) for every operator (only == NULL) or one; *all is
 * malloc'd (labels name the variant). Returns UD_OK or UD_ENOMEM-like UD_EINTERNAL. */
int ud_mutants_matrix(const ud_case *base, size_t nbase, const ud_op *only, ud_case **all, size_t *nall);

/* One variant's (or production's) rows [first, first + ncases) of the matrix. */
typedef struct {
    const ud_op *op;
    int mutant;                     /* 0: production */
    const char *expect;             /* the finding that catches the variant; NULL for production */
    size_t first, ncases;
    size_t failed;                  /* rows with any finding */
    size_t hits;                    /* rows with the expected finding */
    size_t other[UD_F_KINDS];       /* findings of other kinds, counted per finding */
    const ud_result *first_hit;     /* the first row with the expected finding */
    const ud_result *first_fail;    /* the first row with any finding */
    int errors;                     /* rows whose run did not return UD_OK */
} ud_variant_score;

typedef struct {
    ud_variant_score *v;            /* in matrix order */
    size_t nv;
    int total, caught;              /* variants, and those caught */
    int prod_fail;                  /* operators whose production kernel has findings */
    int errors;                     /* rows whose run did not return UD_OK */
} ud_mutation_score;

/* Scores the matrix all[0..n) with its results and ud_run_case statuses. Returns UD_OK or
 * UD_EINTERNAL (out of memory); free with ud_mutation_score_free. */
int ud_mutants_score(const ud_case *all, const ud_result *res, const int *status, size_t n, ud_mutation_score *s);
void ud_mutation_score_free(ud_mutation_score *s);

/* Every variant caught and every production kernel passing. */
int ud_mutation_passed(const ud_mutation_score *s);

#endif
