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

double ud_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
}

int ud_cases_fit_memory(const char *who, const ud_case *cases, size_t n, int jobs)
{
    double mem = ud_physical_memory(), worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double b = ud_case_footprint(&cases[i]);
        if (b > worst) { worst = b; at = i; }
    }
    if (!n || mem <= 0.0) return 0;
    size_t conc = jobs > 1 ? (size_t)jobs : 1;
    if (conc > n) conc = n;
    if (worst * (double)conc <= mem) return 0;
    const ud_case *c = &cases[at];
    char where[600] = "";
    if (c->file) snprintf(where, sizeof where, " (%s:%d)", c->file, c->line);
    if (worst > mem) {
        fprintf(stderr, "%s: %s%s needs %.3g GB while it runs, more than this machine's %.3g GB of memory; "
                        "nothing was run (make the case smaller)\n", who, c->label, where, worst / 1e9, mem / 1e9);
    } else {
        size_t fit = (size_t)(mem / worst);
        fprintf(stderr, "%s: %s%s needs %.3g GB while it runs; %zu such cases at once (--jobs %d) need %.3g GB, "
                        "more than this machine's %.3g GB of memory; nothing was run (--jobs %zu fits)\n",
                who, c->label, where, worst / 1e9, conc, jobs, worst * (double)conc / 1e9, mem / 1e9, fit);
    }
    return -1;
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

/* "42s", "3m05s", "1h02m" */
static void dur_text(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t < 60) snprintf(buf, n, "%lds", t);
    else if (t < 3600) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
}

static ud_progress *on_screen;   /* the live line now drawn, for ud_progress_hide */

int ud_progress_mode(int quiet, int verbose)
{
    if (isatty(STDERR_FILENO)) return UD_PROGRESS_LIVE;
    return quiet || verbose ? UD_PROGRESS_NONE : UD_PROGRESS_PLAIN;
}

void ud_progress_init(ud_progress *p, int mode, size_t total)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->total = total;
    p->t0 = now_s();
    p->last = -1.0;
}

void ud_progress_init_what(ud_progress *p, int mode, size_t total, const char *noun)
{
    ud_progress_init(p, mode, total);
    p->noun = noun;
}

void ud_progress_draw(ud_progress *p, size_t done, size_t failing, const char *extra)
{
    if (p->mode == UD_PROGRESS_NONE || done >= p->total) return;
    double t = now_s(), elapsed = t - p->t0;
    if (p->mode == UD_PROGRESS_LIVE && p->last >= 0 && t - p->last <= 0.2) return;
    if (p->mode == UD_PROGRESS_PLAIN && (elapsed < 10.0 || (p->last >= 0 && t - p->last < 30.0))) return;
    p->last = t;
    char el[32], eta[32];
    dur_text(elapsed, el, sizeof el);
    if (done) dur_text(elapsed / (double)done * (double)(p->total - done), eta, sizeof eta);
    else snprintf(eta, sizeof eta, "?");
    char what[96];
    if (p->noun) snprintf(what, sizeof what, "%s]", p->noun);
    else snprintf(what, sizeof what, "cases] %zu failing,", failing);
    fprintf(stderr, "%s[%zu/%zu %s%s%s %s elapsed, ETA %s%s", p->mode == UD_PROGRESS_LIVE ? "\r\033[K" : "", done,
            p->total, what, extra ? " " : "", extra ? extra : "", el, eta, p->mode == UD_PROGRESS_LIVE ? "" : "\n");
    fflush(stderr);
    p->shown = p->mode == UD_PROGRESS_LIVE;
    if (p->shown) on_screen = p;
}

void ud_progress_clear(ud_progress *p)
{
    if (on_screen == p) on_screen = NULL;
    if (!p->shown) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->shown = 0;
}

void ud_progress_hide(void)
{
    if (on_screen) ud_progress_clear(on_screen);
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

    /* The progress line is cleared before the caller prints a case, so that stdout and stderr
     * sharing a terminal do not interleave. */
    size_t emitted = 0, ran = 0, failing = 0;
    ud_progress pr;
    ud_progress_init(&pr, po->progress, n);
    while (emitted < n) {
        if (!started) step(&p);   /* jobs <= 1: run on this thread */
        pthread_mutex_lock(&p.mu);
        while (started && p.state[emitted] == UD_CASE_PENDING) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&p.cv, &p.mu, &until);
            ud_progress_draw(&pr, emitted, failing, NULL);
        }
        pthread_mutex_unlock(&p.mu);
        while (emitted < n) {
            pthread_mutex_lock(&p.mu);
            ud_case_state st = p.state[emitted];
            pthread_mutex_unlock(&p.mu);
            if (st == UD_CASE_PENDING) break;
            if (st == UD_CASE_DONE) {
                ran++;
                if (res[emitted].nfindings) failing++;
                if (done) done(user, emitted, &res[emitted], status[emitted]);   /* it hides the line to print */
            }
            emitted++;
        }
        ud_progress_draw(&pr, emitted, failing, NULL);
    }
    ud_progress_clear(&pr);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return ran;
}
