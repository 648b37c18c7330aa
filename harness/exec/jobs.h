/* jobs.h — running a list of cases on N threads, with results delivered in case order.
 *
 * Determinism: a case's inputs, reference and kernel output depend only on the case (the RNG
 * is counter-based, kernels have a fixed reduction order), each worker writes only its own
 * result slot, and the caller sees results strictly in index order; so text, JSON, JUnit and
 * HTML reports are identical for every --jobs N (timings aside). --budget-seconds is the one
 * exception by nature: cases that start after the deadline are marked not run.
 *
 * Sharding is selection's (harness/cases/select.h). */
#ifndef UD_JOBS_H
#define UD_JOBS_H

#include <stddef.h>

#include "harness/cases/select.h"   /* ud_shard_has, ud_shard_parse */
#include "harness/exec/run.h"

typedef enum { UD_CASE_PENDING = 0, UD_CASE_DONE, UD_CASE_NOT_RUN } ud_case_state;

/* Called on the calling thread, in index order, for every case that ran. */
typedef void (*ud_case_done_fn)(void *user, size_t i, const ud_result *r, int status);

typedef struct {
    int jobs;                 /* worker threads; <= 1 runs on the calling thread */
    double budget_seconds;    /* > 0: start no case after this many seconds */
    int progress;             /* draw a progress line on stderr */
} ud_pool_opts;

/* Runs cases[0..n): res[i], status[i] (ud_run_case's return) and state[i] are filled.
 * Returns the number of cases run, or (size_t)-1 when threads could not be started. */
size_t ud_run_cases(const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                    ud_result *res, int *status, ud_case_state *state, ud_case_done_fn done, void *user);

/* Online processor count (at least 1). */
int ud_default_jobs(void);

#endif
