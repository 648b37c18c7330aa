/* identity.h — which corpus a run's cases came from, so that the reports of the shards of one
 * run can be merged into the report the unsharded run would have written (`ulpdiff merge`,
 * reports/merge.h).
 *
 * The corpus list is the selection without its last step (select.h, step 3): the source's
 * cases after the operator / variant filter, before the shard, --per-op and --max-cases. Every
 * shard of a run sees the same list. Its fingerprint is FNV-1a (64 bits) over each case's
 * label, exact parameter values, seed and budget overrides, in order: two lists with the same
 * fingerprint hold the same cases in the same order (file paths are left out, so checkouts in
 * different folders agree). Each selected case records its position in the list, which is how
 * merge restores the unsharded order whatever the shard and the limits left out. */
#ifndef UD_IDENTITY_H
#define UD_IDENTITY_H

#include <stddef.h>

#include "harness/cases/select.h"

typedef struct {
    char fingerprint[32];   /* "fnv1a64:" and 16 hex digits */
    size_t ncorpus;         /* cases in the corpus list */
    ud_case *corpus;        /* a copy of it, for ud_identity_index */
    size_t *index;          /* per selected case: its position in the list (ud_identity_index) */
} ud_identity;

/* Call between ud_select_load and ud_select_filter: takes the corpus list (the filter without
 * shard and limits, applied to s in place; filtering again with them selects the same cases as
 * filtering once) and its fingerprint. Returns 0 or an exit code (the filter's). */
int ud_identity_take(const ud_select_opts *o, ud_selection *s, ud_identity *id);

/* After ud_select_filter: id->index[j] for each of s's selected cases. Returns 0, or
 * UD_EXIT_INTERNAL when a selected case is not in the list in order (a bug; message printed). */
int ud_identity_index(ud_identity *id, const ud_selection *s);

void ud_identity_free(ud_identity *id);

#endif
