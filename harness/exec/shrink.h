/* shrink.h — reducing a failing case and writing it out as a reproducer case file.
 *
 * Shrinking is greedy over the operator's integer parameters (UD_P_INT: tokens, hidden,
 * topk, experts, ...), in declaration order: for each, try the smallest values first — the
 * parameter's lower bound, 1, 2, 3, then the current value minus a half, a quarter, ... of
 * the distance to the bound, down to one less — and keep the first that
 * the operator accepts (ud_op.validate) and that still fails with the same finding kind;
 * repeat until no parameter shrinks or the run limit is reached. A padded case's padding shrinks
 * after them the same way, down to 0. Everything else (dtype, generator, seed, mutant, budgets)
 * is kept, so the reproducer fails for the same reason. */
#ifndef UD_SHRINK_H
#define UD_SHRINK_H

#include "harness/exec/run.h"

/* Shrinks c, which fails with a finding of `kind` under o. *best receives the smallest
 * failing case found (c itself when nothing smaller fails) and *best_res its result.
 * Returns the number of cases run. */
int ud_shrink_case(const ud_case *c, const ud_run_opts *o, ud_finding_kind kind, int max_runs,
                   ud_case *best, ud_result *best_res);

/* The case-file text of c: one section named <op>-<hash>, with `why` as a leading comment.
 * Returns the hash (FNV-1a of the section body) through *hash. */
int ud_reproducer_text(const ud_case *c, const char *why, char *buf, size_t n, uint32_t *hash);

/* Writes c to DIR/<op>-<hash>.ini (created atomically; DIR is created when missing) with a
 * comment saying what it reproduces. path receives the file's path. Returns UD_OK or
 * UD_EINTERNAL (message on stderr). */
int ud_reproducer_write(const char *dir, const ud_case *c, const ud_result *r, const char *origin,
                        char *path, size_t pathn);

#endif
