/* post_checks.h — the post-run checks (ud_post_check, harness/exec/run.h) the commands attach
 * to a run: today the cache scenarios of operators with derived state. */
#ifndef UD_POST_CHECKS_H
#define UD_POST_CHECKS_H

#include "harness/exec/run.h"

/* The cache scenarios on a reduced copy of every case of an operator with derived state
 * (ud_cache_check_result: `cache-stale` findings, a metric), and the judge of a known-bug
 * cache variant, which runs the production kernels with a wrongly keyed cache. */
extern const ud_post_check ud_cache_post_check;

/* Every post-run check, for worker processes, which attach them by name (NULL-terminated). */
extern const ud_post_check *const ud_post_checks[];

/* Attaches the checks a run of ulpdiff's own kernels wants (run, mutants, shrinking). */
void ud_attach_post_checks(ud_run_opts *ro);

#endif
