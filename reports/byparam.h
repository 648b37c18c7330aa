/* byparam.h — failures grouped by parameter value: for each operator (and known-bug variant)
 * with failures, each parameter's values with the share of their cases that failed, so that
 * where a bug lives shows before any finding is read:
 *
 *   post_reorder_sum.skip_expert_0: 20 of 40 cases failed
 *     ids    with_zero 100% (8/8), all_zero 100% (4/4), uniform 12% (1/8), padded 0% (0/8)
 *
 * Numeric parameters with many distinct values (ranges drawn per seed) are bucketed by
 * powers of two. A parameter whose every value fails at the same rate says nothing about
 * where the bug is and is left out. Used by the text summary and the HTML report. */
#ifndef UD_REPORT_BYPARAM_H
#define UD_REPORT_BYPARAM_H

#include <stddef.h>
#include <stdio.h>

#include "harness/core/result.h"

#define UD_BP_VALUES 24           /* values (or buckets) kept per parameter */

typedef struct {
    char text[48];                /* the value as a label prints it, or a bucket "64..127" */
    size_t cases, failed;
} ud_bp_value;

typedef struct {
    int param;                    /* index into op->params */
    int nvalues;
    ud_bp_value values[UD_BP_VALUES];   /* by failure rate, highest first */
} ud_bp_param;

typedef struct {
    const ud_op *op;
    int mutant;                   /* 0: production */
    size_t cases, failed;
    int nparams;                  /* the parameters that tell something */
    ud_bp_param params[UD_MAX_PARAMS];
} ud_bp_group;

/* The groups of the results that ran (ran: NULL for all) and failed somewhere, in order of
 * first appearance; *groups is malloc'd (free it). Returns 0, or -1 when out of memory. */
int ud_byparam(const ud_result *r, const int *ran, size_t n, ud_bp_group **groups, size_t *ngroups);

/* The name "op" or "op.variant" of a group. */
void ud_bp_name(const ud_bp_group *g, char *buf, size_t n);

/* The text block (nothing when no case failed). */
void ud_byparam_text(FILE *f, const ud_result *r, const int *ran, size_t n);

#endif
