/* jobs.c — the case pool (jobs.h). Workers claim the next index under a mutex; the calling
 * thread hands finished results to the caller in index order and draws the progress line. */
#include "harness/exec/jobs.h"

#include <errno.h>
#include <mpfr.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ud_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const ud_case *cases;
    size_t n, next;
    const ud_run_opts *ro;
    ud_result *res;
    int *status;
    ud_case_state *state;
    double deadline;          /* 0: none */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pool;

/* Claims index i and runs it (or marks it not run after the deadline). Returns 0 when no
 * index is left. */
static int step(pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t i = p->next < p->n ? p->next++ : p->n;
    pthread_mutex_unlock(&p->mu);
    if (i == p->n) return 0;
    ud_case_state st = UD_CASE_NOT_RUN;
    int rc = 0;
    if (!(p->deadline > 0 && now_s() > p->deadline)) {
        rc = ud_run_case(&p->cases[i], p->ro, &p->res[i]);
        st = UD_CASE_DONE;
    }
    pthread_mutex_lock(&p->mu);
    p->status[i] = rc;
    p->state[i] = st;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 1;
}

static void *worker(void *arg)
{
    while (step(arg)) {}
    /* MPFR keeps per-thread caches of constants (pi, log 2) that only the thread can free. */
    mpfr_free_cache();
    return NULL;
}

static void progress(size_t done, size_t total, size_t failing, double elapsed)
{
    double eta = done ? elapsed / (double)done * (double)(total - done) : 0.0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %zu failing, %.1fs elapsed, ETA %.0fs", done, total, failing, elapsed, eta);
    fflush(stderr);
}

size_t ud_run_cases(const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                    ud_result *res, int *status, ud_case_state *state, ud_case_done_fn done, void *user)
{
    pool p;
    memset(&p, 0, sizeof p);
    p.cases = cases;
    p.n = n;
    p.ro = ro;
    p.res = res;
    p.status = status;
    p.state = state;
    double t0 = now_s();
    p.deadline = po->budget_seconds > 0 ? t0 + po->budget_seconds : 0.0;
    for (size_t i = 0; i < n; i++) state[i] = UD_CASE_PENDING;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);

    int nthreads = po->jobs > 1 ? po->jobs : 0;
    if ((size_t)nthreads > n) nthreads = (int)n;
    pthread_t *tids = nthreads ? calloc((size_t)nthreads, sizeof *tids) : NULL;
    if (nthreads && !tids) return (size_t)-1;
    int started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&tids[started], NULL, worker, &p)) break;
    if (nthreads && started == 0) { free(tids); return (size_t)-1; }

    /* The progress line is redrawn at most every 0.2 s, and cleared before the caller prints
     * a case so that stdout and stderr sharing a terminal do not interleave. */
    size_t emitted = 0, ran = 0, failing = 0;
    double last_draw = -1.0;
    int shown = 0;
    while (emitted < n) {
        if (!started) step(&p);   /* jobs <= 1: run on this thread */
        pthread_mutex_lock(&p.mu);
        while (started && p.state[emitted] == UD_CASE_PENDING) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&p.cv, &p.mu, &until);
            if (po->progress && (last_draw < 0 || now_s() - last_draw > 0.2)) {
                last_draw = now_s();
                progress(emitted, n, failing, last_draw - t0);
                shown = 1;
            }
        }
        pthread_mutex_unlock(&p.mu);
        while (emitted < n) {
            pthread_mutex_lock(&p.mu);
            ud_case_state st = p.state[emitted];
            pthread_mutex_unlock(&p.mu);
            if (st == UD_CASE_PENDING) break;
            if (st == UD_CASE_DONE) {
                if (shown) { fputs("\r\033[K", stderr); fflush(stderr); shown = 0; }
                ran++;
                if (res[emitted].nfindings) failing++;
                if (done) done(user, emitted, &res[emitted], status[emitted]);
            }
            emitted++;
        }
        if (po->progress && emitted < n && (last_draw < 0 || now_s() - last_draw > 0.2)) {
            last_draw = now_s();
            progress(emitted, n, failing, last_draw - t0);
            shown = 1;
        }
    }
    if (shown) { fputs("\r\033[K", stderr); fflush(stderr); }
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return ran;
}
