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

/* How a run shows its progress on stderr: not at all; one live line redrawn in place (a
 * terminal); or a plain line now and then (a log file, a CI console). */
enum { UD_PROGRESS_NONE = 0, UD_PROGRESS_LIVE = 1, UD_PROGRESS_PLAIN = 2 };

typedef struct {
    int jobs;                 /* worker threads; <= 1 runs on the calling thread */
    double budget_seconds;    /* > 0: start no case after this many seconds */
    int progress;             /* UD_PROGRESS_* */
} ud_pool_opts;

/* The progress display every runner shares (threads here, worker processes in isolate*.c):
 * "[done/total] F failing, elapsed, ETA". Live: redrawn at most five times a second, and
 * cleared before anything else is printed so lines never interleave. Plain: a line after
 * 10 s and then every 30 s, for a long run in a log. */
typedef struct {
    int mode;
    size_t total;
    double t0, last;
    int shown;                /* a live line is on the terminal */
    const char *noun;         /* NULL: "cases" with failures; else what is counted, no failures */
} ud_progress;

void ud_progress_init(ud_progress *p, int mode, size_t total);
/* The same for a step that counts something else ("cases exported", "random sequences"). */
void ud_progress_init_what(ud_progress *p, int mode, size_t total, const char *noun);
/* extra: more to say ("2 worker restarts"), or NULL. Throttled; does nothing once done == total. */
void ud_progress_draw(ud_progress *p, size_t done, size_t failing, const char *extra);
/* Removes a live line (at the end, before other messages). */
void ud_progress_clear(ud_progress *p);
/* Removes whichever live line is on the terminal: call it before printing to stdout or stderr
 * during a run (a case's report, a message). */
void ud_progress_hide(void);
/* The pool options a command gets: live on a terminal, plain lines elsewhere unless quiet
 * or verbose (every case printed is progress enough). */
int ud_progress_mode(int quiet, int verbose);

/* Runs cases[0..n): res[i], status[i] (ud_run_case's return) and state[i] are filled.
 * Returns the number of cases run, or (size_t)-1 when threads could not be started. */
size_t ud_run_cases(const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                    ud_result *res, int *status, ud_case_state *state, ud_case_done_fn done, void *user);

/* Online processor count (at least 1). */
int ud_default_jobs(void);

/* Bytes of physical memory (0 when unknown). */
double ud_physical_memory(void);

/* Can the run hold its cases? The largest case's footprint (ud_case_footprint), times the cases
 * that run at once (min(jobs, n)), must fit in physical memory. Returns 0, or -1 after a message
 * on stderr (prefixed `who`) naming the case, its footprint, the concurrency and the memory:
 * refused before anything runs, instead of swapping or being killed hours in. */
int ud_cases_fit_memory(const char *who, const ud_case *cases, size_t n, int jobs);

#endif
