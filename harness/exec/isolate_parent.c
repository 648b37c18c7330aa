/* isolate_parent.c — the parent side of isolation (isolate.h): starting worker processes
 * (`ulpdiff __worker`, isolate_worker.c), handing them cases and reading their records
 * (isolate_wire.h), and turning a worker's death into one `error` case.
 *
 * The parent is one thread around poll(). Each round of ud_run_cases_isolated: make sure a
 * worker runs while work is left, hand out cases up to a window, read what the worker sent
 * (and kill it when a kernel phase overruns --case-timeout), handle its death, and deliver
 * finished cases in case order. When a death cannot be pinned on one case, the cases it had
 * begun are re-run one at a time ("suspects"), which pins it. */
#include "harness/exec/isolate_wire.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "numerics/status.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ================================================================== worker processes */

typedef struct {
    pid_t pid;
    int to, from;            /* pipe ends: cases out, records in */
    char *buf;               /* partial records */
    size_t have, cap;
    long timed_out;          /* index killed by --case-timeout, -1 none */
} worker;

static const char *self_path(const ud_isolate_opts *io, char *buf, size_t n)
{
    if (io && io->self) return io->self;
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    if (k <= 0) return NULL;
    buf[k] = 0;
    return buf;
}

/* Close-on-exec, so one worker never holds another's pipe open (EOF must mean "it died"). The
 * parent is single-threaded while it spawns, so pipe + fcntl is not racy. */
static int cloexec_pipe(int p[2])
{
    if (pipe(p)) return -1;
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) || fcntl(p[1], F_SETFD, FD_CLOEXEC)) { close(p[0]); close(p[1]); return -1; }
    return 0;
}

/* Starts a worker for ro's backend with `jobs` threads (probe: it only says HELLO). */
static int spawn(const ud_isolate_opts *io, const ud_run_opts *ro, int jobs, int probe, worker *w)
{
    char self[4096];
    const char *exe = self_path(io, self, sizeof self);
    if (!exe) { ud_error("isolation: cannot find the ulpdiff binary (/proc/self/exe)"); return UD_EINTERNAL; }
    int tp[2], fp[2];
    if (cloexec_pipe(tp)) { ud_error("isolation: pipe: %s", strerror(errno)); return UD_EINTERNAL; }
    if (cloexec_pipe(fp)) { close(tp[0]); close(tp[1]); ud_error("isolation: pipe: %s", strerror(errno)); return UD_EINTERNAL; }
    char jbuf[16], rbuf[16];
    snprintf(jbuf, sizeof jbuf, "%d", jobs);
    snprintf(rbuf, sizeof rbuf, "%d", ro->repeat);
    const char *argv[16 + 2 * UD_MAX_POST_CHECKS];
    int k = 0;
    argv[k++] = exe;
    argv[k++] = "__worker";
    argv[k++] = "--fd";
    argv[k++] = "3";
    argv[k++] = "--backend";
    argv[k++] = ro->backend == UD_BACKEND_CUDA ? "cuda" : "cpu";
    argv[k++] = "--jobs";
    argv[k++] = jbuf;
    argv[k++] = "--repeat";
    argv[k++] = rbuf;
    if (ro->exact_mpfr) argv[k++] = "--mpfr";
    if (ro->cross_check) argv[k++] = "--cross-check";
    for (int p = 0; p < ro->npost; p++) { argv[k++] = "--post-check"; argv[k++] = ro->post[p]->name; }
    if (probe) argv[k++] = "--probe";
    argv[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        ud_error("isolation: fork: %s", strerror(errno));
        close(tp[0]); close(tp[1]); close(fp[0]); close(fp[1]);
        return UD_EINTERNAL;
    }
    if (pid == 0) {
        /* stdin: cases; fd 3: records; stdout joins stderr so stray prints cannot reach the
         * parent's report. Only async-signal-safe calls until exec. */
        if (dup2(tp[0], 0) < 0 || dup2(fp[1], 3) < 0 || dup2(2, 1) < 0) _exit(127);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    close(tp[0]);
    close(fp[1]);
    memset(w, 0, sizeof *w);
    w->pid = pid;
    w->to = tp[1];
    w->from = fp[0];
    w->timed_out = -1;
    return UD_OK;
}

static void worker_close(worker *w)
{
    if (w->to >= 0) close(w->to);
    if (w->from >= 0) close(w->from);
    free(w->buf);
    w->to = w->from = -1;
    w->buf = NULL;
}

/* Reads what is available; returns 0, or -1 at end of stream. */
static int fill(worker *w)
{
    if (w->cap - w->have < 65536) {
        size_t cap = w->cap ? w->cap * 2 : 262144;
        char *b = realloc(w->buf, cap);
        if (!b) return -1;
        w->buf = b;
        w->cap = cap;
    }
    ssize_t r;
    do r = read(w->from, w->buf + w->have, w->cap - w->have);
    while (r < 0 && errno == EINTR);
    if (r <= 0) return -1;
    w->have += (size_t)r;
    return 0;
}

/* Next complete record, or NULL. The payload follows the header. */
static const msg_hdr *next_msg(worker *w, size_t *used)
{
    if (w->have < *used + sizeof(msg_hdr)) return NULL;
    /* Every record is a multiple of 8 bytes long (the payloads are structs with 8-byte
     * members), so headers stay aligned in the 16-aligned buffer. */
    const msg_hdr *h = (const msg_hdr *)(const void *)(w->buf + *used);
    if (w->have < *used + sizeof *h + h->len) return NULL;
    *used += sizeof *h + h->len;
    return h;
}

static void describe_exit(int st, char *buf, size_t n)
{
    if (WIFSIGNALED(st)) snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_DEVICE_ERROR) snprintf(buf, n, "stopped after a device error");
    else if (WIFEXITED(st)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    else snprintf(buf, n, "ended (wait status %#x)", st);
}

int ud_isolate_probe(const ud_isolate_opts *io, ud_backend be, char *name, size_t n, char *why, size_t whyn)
{
    ud_run_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.backend = be;
    worker w;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    if (spawn(io, &ro, 1, 1, &w)) {
        signal(SIGPIPE, old);
        snprintf(why, whyn, "cannot start a worker process");
        return -1;
    }
    close(w.to);
    w.to = -1;
    int ok = -1;
    size_t used = 0;
    while (ok < 0 && fill(&w) == 0) {
        const msg_hdr *h;
        while ((h = next_msg(&w, &used)) != NULL)
            if (h->type == M_HELLO && h->len == sizeof(wire_hello)) {
                wire_hello hello;
                memcpy(&hello, h + 1, sizeof hello);
                hello.name[sizeof hello.name - 1] = hello.why[sizeof hello.why - 1] = 0;
                snprintf(name, n, "%s", hello.name);
                snprintf(why, whyn, "%s", hello.why);
                ok = hello.ok ? 1 : 0;
            }
    }
    int st = 0;
    while (waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {}
    if (ok < 0) {
        char d[128];
        describe_exit(st, d, sizeof d);
        snprintf(why, whyn, "the probe worker %s before reporting", d);
    }
    worker_close(&w);
    signal(SIGPIPE, old);
    return ok;
}

/* ================================================================== running cases */

/* The state of one ud_run_cases_isolated call. */
typedef struct {
    const ud_case *cases;
    size_t n;
    ud_result *res;
    int *status;
    ud_case_state *state;
    ud_backend backend;
    const ud_run_opts *ro;
    const ud_pool_opts *po;
    const ud_isolate_opts *io;
    ud_case_done_fn done;
    void *user;
    int jobs;                /* threads per worker */
    /* queue of indices still to run: front = next */
    size_t *queue;
    size_t qhead, qtail, qcap;
    char *inflight, *begun, *suspect;
    double *kt0;             /* when its kernel phase opened; 0: not in it */
    size_t nsuspect, ninflight;
    wire_result *wr;         /* a RESULT payload, copied out of the read buffer */
    worker w;
    int have_worker;
    int fruitless;           /* workers in a row that ended before finishing a case */
    int restarts;
    double t0, deadline;
    size_t emitted, ran, failing;
    ud_progress pr;          /* the progress line (jobs.h) */
} sched;

/* Case i to the front of the queue (it runs next). */
static int q_push_front(sched *s, size_t i)
{
    if (s->qhead == 0) {   /* make room at the front */
        size_t len = s->qtail - s->qhead, room = len + 64;
        size_t *q = malloc((room + s->qcap) * sizeof *q);
        if (!q) return -1;
        memcpy(q + room, s->queue + s->qhead, len * sizeof *q);
        free(s->queue);
        s->queue = q;
        s->qhead = room;
        s->qtail = room + len;
        s->qcap = room + s->qcap;
    }
    s->queue[--s->qhead] = i;
    return 0;
}

/* The worker's result of case i into res[i], its pointers re-resolved in this process. */
static void fix_pointers(sched *s, size_t i, const wire_result *wr)
{
    ud_result *r = &s->res[i];
    *r = wr->r;
    r->c = s->cases[i];
    const ud_op *op = r->c.op;
    for (int k = 0; k < r->nout && k < UD_MAX_TENSORS; k++) {
        r->out[k].name = "?";
        for (int j = 0; op->outputs[j]; j++)
            if (strncmp(op->outputs[j], wr->out_names[k], sizeof wr->out_names[k]) == 0) r->out[k].name = op->outputs[j];
    }
}

/* Case i is done as one `error` finding (its worker died, or it could not run). */
static void mark_error(sched *s, size_t i, const char *msg)
{
    ud_result *r = &s->res[i];
    memset(r, 0, sizeof *r);
    r->c = s->cases[i];
    r->backend = s->backend;
    ud_result_add_finding(r, UD_F_ERROR, "%s", msg);
    s->status[i] = s->backend == UD_BACKEND_CUDA ? UD_EDEVICE : UD_EINTERNAL;
    s->state[i] = UD_CASE_DONE;
}

/* No longer a suspect (finished, or not run after all). */
static void unsuspect(sched *s, size_t i)
{
    if (s->suspect[i]) { s->suspect[i] = 0; s->nsuspect--; }
}

/* Case i has its result (reported or blamed): out of flight; its worker was not fruitless. */
static void retire(sched *s, size_t i)
{
    s->inflight[i] = s->begun[i] = 0;
    s->kt0[i] = 0.0;
    s->ninflight--;
    unsuspect(s, i);
    s->fruitless = 0;
}

static int sched_init(sched *s, const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                      const ud_isolate_opts *io, ud_result *res, int *status, ud_case_state *state)
{
    memset(s, 0, sizeof *s);
    s->cases = cases;
    s->n = n;
    s->res = res;
    s->status = status;
    s->state = state;
    s->backend = ro->backend;
    s->ro = ro;
    s->po = po;
    s->io = io;
    s->qcap = n + 1;
    s->queue = malloc(s->qcap * sizeof *s->queue);
    s->inflight = calloc(n + 1, 1);
    s->begun = calloc(n + 1, 1);
    s->suspect = calloc(n + 1, 1);
    s->kt0 = calloc(n + 1, sizeof *s->kt0);
    s->wr = malloc(sizeof *s->wr);
    if (!s->queue || !s->inflight || !s->begun || !s->suspect || !s->kt0 || !s->wr) return -1;
    for (size_t i = 0; i < n; i++) { s->queue[s->qtail++] = i; state[i] = UD_CASE_PENDING; status[i] = UD_OK; }
    s->jobs = po->jobs > 1 ? po->jobs : 1;
    s->w.to = s->w.from = -1;
    return 0;
}

static void sched_free(sched *s)
{
    free(s->queue);
    free(s->inflight);
    free(s->begun);
    free(s->suspect);
    free(s->kt0);
    free(s->wr);
}

/* A worker for the remaining work. After three that ended without finishing a case, the
 * queued cases become errors instead (visibly). Returns -1 when a worker could not be
 * started: the next round gives up. */
static int ensure_worker(sched *s)
{
    int work_left = s->qhead < s->qtail || s->ninflight;
    if (s->have_worker || !work_left) return 0;
    if (s->fruitless >= 3) {   /* workers die before running anything: give up, visibly */
        char msg[200];
        snprintf(msg, sizeof msg, "not run on %s: three worker processes in a row ended before finishing "
                 "a case (see the messages above)", ud_backend_name(s->backend));
        while (s->qhead < s->qtail) mark_error(s, s->queue[s->qhead++], msg);
        return 0;
    }
    if (spawn(s->io, s->ro, s->jobs, 0, &s->w) == UD_OK) {
        s->have_worker = 1;
        return 0;
    }
    s->fruitless = 3;
    return -1;
}

/* The CASE record of case i; -1 when the worker is gone (its EOF follows). */
static int send_case(sched *s, size_t i)
{
    wire_case wc;
    memset(&wc, 0, sizeof wc);
    snprintf(wc.op, sizeof wc.op, "%s", s->cases[i].op->name);
    wc.c = s->cases[i];
    msg_hdr h = {M_CASE, (uint32_t)sizeof wc, i};
    return write_all(s->w.to, &h, sizeof h) || write_all(s->w.to, &wc, sizeof wc) ? -1 : 0;
}

/* Hands out cases: one at a time while suspects remain, so a crash is pinned; none after the
 * time budget. With nothing left in flight or queued, closes the worker's input so it exits. */
static void dispatch(sched *s)
{
    size_t window = s->nsuspect ? 1 : (size_t)s->jobs + 2;
    while (s->have_worker && s->w.to >= 0 && s->ninflight < window && s->qhead < s->qtail) {
        size_t i = s->queue[s->qhead];
        if (s->deadline > 0 && now_s() > s->deadline) {   /* start no case after the budget */
            s->qhead++;
            s->state[i] = UD_CASE_NOT_RUN;
            unsuspect(s, i);
            continue;
        }
        if (send_case(s, i)) break;
        s->qhead++;
        s->inflight[i] = 1;
        s->ninflight++;
    }
    if (s->have_worker && s->w.to >= 0 && !s->ninflight && s->qhead == s->qtail) { close(s->w.to); s->w.to = -1; }
}

/* One record from the worker: its HELLO, or a step of an in-flight case. */
static void on_record(sched *s, const msg_hdr *h)
{
    size_t i = (size_t)h->index;
    if (h->type == M_HELLO) {
        wire_hello hello;
        if (h->len == sizeof hello) {
            memcpy(&hello, h + 1, sizeof hello);
            hello.why[sizeof hello.why - 1] = 0;
            if (!hello.ok) ud_error("isolation: the worker cannot use the backend: %s", hello.why);
        }
        return;
    }
    if (i >= s->n || !s->inflight[i]) return;
    if (h->type == M_BEGIN) s->begun[i] = 1;
    else if (h->type == M_KERNEL) s->kt0[i] = now_s();
    else if (h->type == M_KDONE) s->kt0[i] = 0.0;
    else if (h->type == M_RESULT && h->len == sizeof *s->wr) {
        memcpy(s->wr, h + 1, sizeof *s->wr);
        fix_pointers(s, i, s->wr);
        s->status[i] = s->wr->status;
        s->state[i] = UD_CASE_DONE;
        retire(s, i);
    }
}

/* Waits up to 200 ms for the worker and handles the complete records it sent. Returns 1 at
 * the end of its stream (it died or exited). */
static int read_records(sched *s)
{
    struct pollfd pfd = {s->w.from, POLLIN, 0};
    int pr = poll(&pfd, 1, 200);
    int eof = 0;
    if (pr > 0) eof = fill(&s->w) != 0;
    size_t used = 0;
    const msg_hdr *h;
    while ((h = next_msg(&s->w, &used)) != NULL) on_record(s, h);
    if (used) { memmove(s->w.buf, s->w.buf + used, s->w.have - used); s->w.have -= used; }
    return eof;
}

/* A kernel phase over the time limit: kill the worker; its death reports the case. */
static void check_timeout(sched *s)
{
    for (size_t i = 0; s->io->case_timeout > 0 && s->w.timed_out < 0 && s->ninflight && i < s->n; i++)
        if (s->inflight[i] && s->kt0[i] > 0 && now_s() - s->kt0[i] > s->io->case_timeout) {
            s->w.timed_out = (long)i;
            kill(s->w.pid, SIGKILL);
        }
}

/* Whom to blame for a worker's end: the timed-out case; else (unless it exited cleanly) the
 * one case in its kernel phase; else the one case begun. -1: nobody; *nbegun: cases begun. */
static long pick_culprit(const sched *s, int clean, size_t *nbegun)
{
    size_t nkernel = 0, last_kernel = 0, last_begun = 0;
    *nbegun = 0;
    for (size_t i = 0; i < s->n && s->ninflight; i++) {
        if (!s->inflight[i]) continue;
        if (s->kt0[i] > 0) { nkernel++; last_kernel = i; }
        if (s->begun[i]) { (*nbegun)++; last_begun = i; }
    }
    if (s->w.timed_out >= 0) return s->w.timed_out;
    if (!clean && nkernel == 1) return (long)last_kernel;
    if (!clean && nkernel == 0 && *nbegun == 1) return (long)last_begun;
    return -1;
}

/* Case i becomes an `error` naming how its worker ended. */
static void blame(sched *s, size_t i, const char *how)
{
    char msg[500];
    if (s->w.timed_out >= 0)
        snprintf(msg, sizeof msg, "kernel still running after --case-timeout %g s on %s: worker killed; "
                 "the run went on in a fresh worker", s->io->case_timeout, ud_backend_name(s->backend));
    else
        snprintf(msg, sizeof msg, "worker process %s while running this case%s on %s; the run went on "
                 "in a fresh worker", how, s->kt0[i] > 0 ? "'s kernel" : "", ud_backend_name(s->backend));
    mark_error(s, i, msg);
    retire(s, i);
}

/* Unfinished cases go back to the front of the queue, in order; with pin, the begun ones
 * become suspects (run one at a time). Returns how many went back. */
static size_t requeue_unfinished(sched *s, int pin)
{
    size_t requeued = 0;
    for (size_t k = s->n; k-- > 0 && s->ninflight;) {
        if (!s->inflight[k]) continue;
        if (pin && s->begun[k] && !s->suspect[k]) { s->suspect[k] = 1; s->nsuspect++; }
        s->inflight[k] = s->begun[k] = 0;
        s->kt0[k] = 0.0;
        s->ninflight--;
        requeued++;
        if (q_push_front(s, k)) mark_error(s, k, "out of memory re-queueing the case");
    }
    return requeued;
}

/* The worker's stream ended: reap it, blame a case when one can be, requeue the rest. */
static void worker_ended(sched *s)
{
    int st = 0;
    while (waitpid(s->w.pid, &st, 0) < 0 && errno == EINTR) {}
    char how[160];
    describe_exit(st, how, sizeof how);
    int devexit = WIFEXITED(st) && WEXITSTATUS(st) == EXIT_DEVICE_ERROR;
    int clean = devexit || (WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t nbegun;
    long culprit = pick_culprit(s, clean, &nbegun);
    if (culprit >= 0) blame(s, (size_t)culprit, how);
    /* Several candidates: run them again one at a time. */
    int pin = culprit < 0 && !clean && nbegun > 1;
    size_t requeued = requeue_unfinished(s, pin);
    if (culprit < 0 && requeued && !devexit) {
        s->fruitless++;
        ud_error("isolation: worker %d %s with %zu unfinished case%s and none to blame%s", (int)s->w.pid, how,
                 requeued, requeued == 1 ? "" : "s", pin ? ": re-running them one at a time" : "");
    }
    if (requeued || culprit >= 0) s->restarts++;
    worker_close(&s->w);
    s->have_worker = 0;
}

static void clear_progress(sched *s) { ud_progress_clear(&s->pr); }

/* Finished cases to the caller, in case order. */
static void deliver(sched *s)
{
    while (s->emitted < s->n && (s->state[s->emitted] == UD_CASE_DONE || s->state[s->emitted] == UD_CASE_NOT_RUN)) {
        size_t i = s->emitted;
        if (s->state[i] == UD_CASE_DONE) {   /* the callback hides the progress line to print */
            s->ran++;
            if (s->res[i].nfindings) s->failing++;
            if (s->done) s->done(s->user, i, &s->res[i], s->status[i]);
        }
        s->emitted++;
    }
}

/* The progress line (throttled by ud_progress_draw). */
static void draw_progress(sched *s)
{
    char extra[48];
    snprintf(extra, sizeof extra, "%d worker restart%s,", s->restarts, s->restarts == 1 ? "" : "s");
    ud_progress_draw(&s->pr, s->emitted, s->failing, s->restarts ? extra : NULL);
}

/* Nothing left to run and no worker: anything still pending was never handed out. */
static void mark_never_run(sched *s)
{
    if (s->have_worker || s->qhead < s->qtail || s->ninflight) return;
    for (size_t i = s->emitted; i < s->n; i++)
        if (s->state[i] == UD_CASE_PENDING) s->state[i] = UD_CASE_NOT_RUN;
}

/* The end of the run: the worker's input closed, the worker reaped. */
static void stop_worker(sched *s)
{
    if (!s->have_worker) return;
    if (s->w.to >= 0) close(s->w.to);
    s->w.to = -1;
    int st;
    while (waitpid(s->w.pid, &st, 0) < 0 && errno == EINTR) {}
    worker_close(&s->w);
    s->have_worker = 0;
}

size_t ud_run_cases_isolated(const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                             const ud_isolate_opts *io, ud_result *res, int *status, ud_case_state *state,
                             ud_case_done_fn done, void *user)
{
    if (ro->impl) {   /* a worker process would resolve the cases to ulpdiff's own kernels */
        ud_error("isolation: an implementation source runs in this process only");
        return (size_t)-1;
    }
    sched s;
    if (sched_init(&s, cases, n, ro, po, io, res, status, state)) {
        sched_free(&s);
        return (size_t)-1;
    }
    s.done = done;
    s.user = user;
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    s.t0 = now_s();
    s.deadline = po->budget_seconds > 0 ? s.t0 + po->budget_seconds : 0.0;
    ud_progress_init(&s.pr, po->progress, n);
    while (s.emitted < n) {
        if (ensure_worker(&s)) continue;
        dispatch(&s);
        if (s.have_worker) {
            int eof = read_records(&s);
            if (!eof) check_timeout(&s);
            else worker_ended(&s);
        }
        deliver(&s);
        draw_progress(&s);
        mark_never_run(&s);
    }
    clear_progress(&s);
    stop_worker(&s);
    signal(SIGPIPE, old_pipe);
    size_t ran = s.ran;
    sched_free(&s);
    return ran;
}
