/* isolate.c — worker processes (isolate.h). The parent is one thread around poll(); a worker
 * is `ulpdiff __worker`, the same binary, fed over a pipe.
 *
 * Wire format (one machine, one binary: host byte order, raw structs): a record is a header
 * {type, payload length, case index} and a payload. Parent -> worker: CASE (the operator's
 * name and the ud_case; pointers are re-resolved by name on arrival). Worker -> parent: HELLO
 * (backend usable? device name), BEGIN, KERNEL, KDONE (the kernel phase of a case opens and
 * closes), RESULT (status, output names, ud_result; pointers are re-resolved by the parent). */
#include "harness/exec/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/core/tensor.h"

enum { M_CASE = 1, M_HELLO, M_BEGIN, M_KERNEL, M_KDONE, M_RESULT };
/* A worker that hit a device error exits with this code after sending that case's RESULT:
 * its CUDA context may be unusable, so the parent starts a fresh one. */
enum { EXIT_DEVICE_ERROR = 86 };

typedef struct { uint32_t type, len; uint64_t index; } msg_hdr;
typedef struct { char op[64]; ud_case c; } wire_case;
typedef struct { int32_t ok, pad; char name[256]; char why[256]; } wire_hello;
typedef struct { int32_t status; char out_names[UD_MAX_TENSORS][48]; ud_result r; } wire_result;
_Static_assert(sizeof(msg_hdr) % 8 == 0 && sizeof(wire_case) % 8 == 0 && sizeof(wire_hello) % 8 == 0 &&
               sizeof(wire_result) % 8 == 0, "records must keep headers 8-byte aligned");

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ================================================================== worker */

typedef struct slot {
    uint64_t index;
    ud_case c;
    struct slot *next;
} slot;

static struct {
    int fd;                       /* records to the parent */
    pthread_mutex_t wmu;          /* one record at a time */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    slot *head, *tail;
    int closed;                   /* no more cases will arrive */
    int dead;                     /* a device error happened: start no other kernel */
    ud_run_opts ro;
} W = {.wmu = PTHREAD_MUTEX_INITIALIZER, .qmu = PTHREAD_MUTEX_INITIALIZER, .qcv = PTHREAD_COND_INITIALIZER};

static void send_msg(uint32_t type, uint64_t index, const void *payload, uint32_t len)
{
    msg_hdr h = {type, len, index};
    pthread_mutex_lock(&W.wmu);
    int bad = write_all(W.fd, &h, sizeof h) || (len && write_all(W.fd, payload, len));
    pthread_mutex_unlock(&W.wmu);
    if (bad) _exit(EXIT_DEVICE_ERROR + 1);   /* the parent is gone: nobody to report to */
}

static uint64_t slot_index(const ud_case *c)
{
    return ((const slot *)(const void *)((const char *)c - offsetof(slot, c)))->index;
}

/* Called with the device lock held (cuda), so `dead` and the kernel phase are serialised. */
static void hook_before(void *user, const ud_case *c)
{
    (void)user;
    while (W.dead) pause();   /* the context is broken: the thread that broke it exits us */
    send_msg(M_KERNEL, slot_index(c), NULL, 0);
}

static void hook_after(void *user, const ud_case *c, int rc)
{
    (void)user;
    if (rc == UD_EDEVICE) W.dead = 1;
    send_msg(M_KDONE, slot_index(c), NULL, 0);
}

static void *worker_thread(void *arg)
{
    (void)arg;
    wire_result *wr = malloc(sizeof *wr);
    if (!wr) _exit(EXIT_DEVICE_ERROR + 2);
    for (;;) {
        pthread_mutex_lock(&W.qmu);
        while (!W.head && !W.closed) pthread_cond_wait(&W.qcv, &W.qmu);
        slot *s = W.head;
        if (s) { W.head = s->next; if (!W.head) W.tail = NULL; }
        pthread_mutex_unlock(&W.qmu);
        if (!s) break;
        send_msg(M_BEGIN, s->index, NULL, 0);
        memset(wr, 0, sizeof *wr);
        wr->status = ud_run_case(&s->c, &W.ro, &wr->r);
        for (int k = 0; k < wr->r.nout && k < UD_MAX_TENSORS; k++)
            snprintf(wr->out_names[k], sizeof wr->out_names[k], "%s", wr->r.out[k].name ? wr->r.out[k].name : "?");
        send_msg(M_RESULT, s->index, wr, (uint32_t)sizeof *wr);
        if (wr->status == UD_EDEVICE) {
            fflush(stderr);
            _exit(EXIT_DEVICE_ERROR);
        }
        free(s);
    }
    free(wr);
    return NULL;
}

/* The post-run check named `name` among `known`, attached to W.ro; -1 when unknown. */
static int attach_check(const ud_post_check *const *known, const char *name)
{
    for (int k = 0; known && known[k]; k++)
        if (strcmp(known[k]->name, name) == 0 && W.ro.npost < UD_MAX_POST_CHECKS) {
            W.ro.post[W.ro.npost++] = known[k];
            return 0;
        }
    return -1;
}

int ud_isolate_worker_main(int argc, char **argv, const ud_post_check *const *known)
{
    int jobs = 1, probe = 0;
    memset(&W.ro, 0, sizeof W.ro);
    W.fd = -1;
    W.ro.backend = UD_BACKEND_CPU;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--probe") == 0) probe = 1;
        else if (strcmp(a, "--mpfr") == 0) W.ro.exact_mpfr = 1;
        else if (strcmp(a, "--cross-check") == 0) W.ro.cross_check = 1;
        else if (strcmp(a, "--fd") == 0) { W.fd = atoi(v); i++; }
        else if (strcmp(a, "--jobs") == 0) { jobs = atoi(v); i++; }
        else if (strcmp(a, "--repeat") == 0) { W.ro.repeat = atoi(v); i++; }
        else if (strcmp(a, "--backend") == 0) { W.ro.backend = strcmp(v, "cuda") == 0 ? UD_BACKEND_CUDA : UD_BACKEND_CPU; i++; }
        else if (strcmp(a, "--post-check") == 0) {
            if (attach_check(known, v)) { fprintf(stderr, "ulpdiff __worker: unknown post-run check '%s'\n", v); return UD_EXIT_USAGE; }
            i++;
        }
        else { fprintf(stderr, "ulpdiff __worker: unknown argument '%s' (started only by ulpdiff itself)\n", a); return UD_EXIT_USAGE; }
    }
    if (W.fd < 0 || fcntl(W.fd, F_GETFD) < 0) {
        fprintf(stderr, "ulpdiff __worker: this command is internal: `ulpdiff run` starts it\n");
        return UD_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    static const ud_kernel_hooks hooks = {hook_before, hook_after, NULL};
    W.ro.hooks = &hooks;

    wire_hello h;
    memset(&h, 0, sizeof h);
    h.ok = 1;
    snprintf(h.name, sizeof h.name, "cpu (host)");
    if (W.ro.backend == UD_BACKEND_CUDA) {
        h.ok = ud_device_available(h.why, sizeof h.why);
        snprintf(h.name, sizeof h.name, "%s", ud_device_name());
    }
    send_msg(M_HELLO, 0, &h, (uint32_t)sizeof h);
    if (probe || !h.ok) return UD_EXIT_PASS;

    if (jobs < 1) jobs = 1;
    pthread_t *tids = calloc((size_t)jobs, sizeof *tids);
    if (!tids) return UD_EXIT_INTERNAL;
    int started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&tids[started], NULL, worker_thread, NULL)) break;
    if (!started) return UD_EXIT_INTERNAL;
    /* This thread feeds the queue until the parent closes the pipe. */
    for (;;) {
        msg_hdr hd;
        wire_case wc;
        if (read_all(0, &hd, sizeof hd)) break;
        if (hd.type != M_CASE || hd.len != sizeof wc || read_all(0, &wc, sizeof wc)) {
            fprintf(stderr, "ulpdiff __worker: malformed record from the parent\n");
            return UD_EXIT_INTERNAL;
        }
        slot *s = malloc(sizeof *s);
        if (!s) return UD_EXIT_INTERNAL;
        s->index = hd.index;
        s->c = wc.c;
        wc.op[sizeof wc.op - 1] = 0;
        s->c.op = ud_op_find(wc.op);
        s->c.file = NULL;
        s->c.source = NULL;
        s->next = NULL;
        if (!s->c.op) { fprintf(stderr, "ulpdiff __worker: unknown operator '%s'\n", wc.op); return UD_EXIT_INTERNAL; }
        pthread_mutex_lock(&W.qmu);
        if (W.tail) W.tail->next = s; else W.head = s;
        W.tail = s;
        pthread_cond_signal(&W.qcv);
        pthread_mutex_unlock(&W.qmu);
    }
    pthread_mutex_lock(&W.qmu);
    W.closed = 1;
    pthread_cond_broadcast(&W.qcv);
    pthread_mutex_unlock(&W.qmu);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
    return UD_EXIT_PASS;
}

/* ================================================================== parent */

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

/* Starts a worker; extra: NULL-terminated arguments after the fixed ones. */
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

typedef struct {
    const ud_case *cases;
    size_t n;
    ud_result *res;
    int *status;
    ud_case_state *state;
    ud_backend backend;
    /* queue of indices still to run: front = next */
    size_t *queue;
    size_t qhead, qtail, qcap;
    char *inflight, *begun, *suspect;
    double *kt0;             /* when its kernel phase opened; 0: not in it */
    size_t nsuspect;
} sched;

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

static void progress(size_t done, size_t total, size_t failing, double elapsed, int restarts)
{
    double eta = done ? elapsed / (double)done * (double)(total - done) : 0.0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %zu failing, %d worker restarts, %.1fs elapsed, ETA %.0fs", done, total,
            failing, restarts, elapsed, eta);
    fflush(stderr);
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
    memset(&s, 0, sizeof s);
    s.cases = cases;
    s.n = n;
    s.res = res;
    s.status = status;
    s.state = state;
    s.backend = ro->backend;
    s.qcap = n + 1;
    s.queue = malloc(s.qcap * sizeof *s.queue);
    s.inflight = calloc(n + 1, 1);
    s.begun = calloc(n + 1, 1);
    s.suspect = calloc(n + 1, 1);
    s.kt0 = calloc(n + 1, sizeof *s.kt0);
    wire_result *wr = malloc(sizeof *wr);
    if (!s.queue || !s.inflight || !s.begun || !s.suspect || !s.kt0 || !wr) {
        free(s.queue); free(s.inflight); free(s.begun); free(s.suspect); free(s.kt0); free(wr);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) { s.queue[s.qtail++] = i; state[i] = UD_CASE_PENDING; status[i] = UD_OK; }
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    int jobs = po->jobs > 1 ? po->jobs : 1;
    double t0 = now_s(), deadline = po->budget_seconds > 0 ? t0 + po->budget_seconds : 0.0, last_draw = -1.0;
    size_t emitted = 0, ran = 0, failing = 0, ninflight = 0;
    int have_worker = 0, fruitless = 0, restarts = 0, shown = 0;
    worker w;
    memset(&w, 0, sizeof w);
    w.to = w.from = -1;

    while (emitted < n) {
        /* ---- a worker for the remaining work */
        int work_left = s.qhead < s.qtail || ninflight;
        if (!have_worker && work_left) {
            if (fruitless >= 3) {   /* workers die before running anything: give up, visibly */
                char msg[200];
                snprintf(msg, sizeof msg, "not run on %s: three worker processes in a row ended before finishing "
                         "a case (see the messages above)", ud_backend_name(s.backend));
                while (s.qhead < s.qtail) mark_error(&s, s.queue[s.qhead++], msg);
                work_left = 0;
            } else if (spawn(io, ro, jobs, 0, &w) == UD_OK) {
                have_worker = 1;
            } else {
                fruitless = 3;
                continue;
            }
        }
        /* ---- hand out cases: one at a time while suspects remain, so a crash is pinned */
        size_t window = s.nsuspect ? 1 : (size_t)jobs + 2;
        while (have_worker && w.to >= 0 && ninflight < window && s.qhead < s.qtail) {
            size_t i = s.queue[s.qhead];
            if (deadline > 0 && now_s() > deadline) {   /* start no case after the budget */
                s.qhead++;
                state[i] = UD_CASE_NOT_RUN;
                if (s.suspect[i]) { s.suspect[i] = 0; s.nsuspect--; }
                continue;
            }
            wire_case wc;
            memset(&wc, 0, sizeof wc);
            snprintf(wc.op, sizeof wc.op, "%s", cases[i].op->name);
            wc.c = cases[i];
            msg_hdr h = {M_CASE, (uint32_t)sizeof wc, i};
            if (write_all(w.to, &h, sizeof h) || write_all(w.to, &wc, sizeof wc)) break;   /* dead: EOF follows */
            s.qhead++;
            s.inflight[i] = 1;
            ninflight++;
        }
        if (have_worker && w.to >= 0 && !ninflight && s.qhead == s.qtail) { close(w.to); w.to = -1; }   /* done: let it exit */

        /* ---- read records */
        if (have_worker) {
            struct pollfd pfd = {w.from, POLLIN, 0};
            int pr = poll(&pfd, 1, 200);
            int eof = 0;
            if (pr > 0) eof = fill(&w) != 0;
            size_t used = 0;
            const msg_hdr *h;
            while ((h = next_msg(&w, &used)) != NULL) {
                size_t i = (size_t)h->index;
                if (h->type == M_HELLO) {
                    wire_hello hello;
                    if (h->len == sizeof hello) {
                        memcpy(&hello, h + 1, sizeof hello);
                        hello.why[sizeof hello.why - 1] = 0;
                        if (!hello.ok) ud_error("isolation: the worker cannot use the backend: %s", hello.why);
                    }
                    continue;
                }
                if (i >= n || !s.inflight[i]) continue;
                if (h->type == M_BEGIN) s.begun[i] = 1;
                else if (h->type == M_KERNEL) s.kt0[i] = now_s();
                else if (h->type == M_KDONE) s.kt0[i] = 0.0;
                else if (h->type == M_RESULT && h->len == sizeof *wr) {
                    memcpy(wr, h + 1, sizeof *wr);
                    fix_pointers(&s, i, wr);
                    status[i] = wr->status;
                    state[i] = UD_CASE_DONE;
                    s.inflight[i] = s.begun[i] = 0;
                    s.kt0[i] = 0.0;
                    ninflight--;
                    if (s.suspect[i]) { s.suspect[i] = 0; s.nsuspect--; }
                    fruitless = 0;
                }
            }
            if (used) { memmove(w.buf, w.buf + used, w.have - used); w.have -= used; }
            /* A kernel phase over the time limit: kill the worker; the case is reported below. */
            for (size_t i = 0; !eof && io->case_timeout > 0 && w.timed_out < 0 && ninflight && i < n; i++)
                if (s.inflight[i] && s.kt0[i] > 0 && now_s() - s.kt0[i] > io->case_timeout) {
                    w.timed_out = (long)i;
                    kill(w.pid, SIGKILL);
                }
            if (eof) {
                int st = 0;
                while (waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {}
                char how[160];
                describe_exit(st, how, sizeof how);
                int devexit = WIFEXITED(st) && WEXITSTATUS(st) == EXIT_DEVICE_ERROR;
                int clean = devexit || (WIFEXITED(st) && WEXITSTATUS(st) == 0);
                /* Whom to blame: the timed-out case; else the one case in its kernel phase; else
                 * the one case begun. Several candidates: run them again one at a time. */
                size_t nkernel = 0, nbegun = 0, last_kernel = 0, last_begun = 0;
                for (size_t i = 0; i < n && ninflight; i++) {
                    if (!s.inflight[i]) continue;
                    if (s.kt0[i] > 0) { nkernel++; last_kernel = i; }
                    if (s.begun[i]) { nbegun++; last_begun = i; }
                }
                long culprit = -1;
                if (w.timed_out >= 0) culprit = w.timed_out;
                else if (!clean && nkernel == 1) culprit = (long)last_kernel;
                else if (!clean && nkernel == 0 && nbegun == 1) culprit = (long)last_begun;
                if (culprit >= 0) {
                    size_t i = (size_t)culprit;
                    char msg[500];
                    if (w.timed_out >= 0)
                        snprintf(msg, sizeof msg, "kernel still running after --case-timeout %g s on %s: worker killed; "
                                 "the run went on in a fresh worker", io->case_timeout, ud_backend_name(s.backend));
                    else
                        snprintf(msg, sizeof msg, "worker process %s while running this case%s on %s; the run went on "
                                 "in a fresh worker", how, s.kt0[i] > 0 ? "'s kernel" : "", ud_backend_name(s.backend));
                    mark_error(&s, i, msg);
                    s.inflight[i] = s.begun[i] = 0;
                    s.kt0[i] = 0.0;
                    ninflight--;
                    if (s.suspect[i]) { s.suspect[i] = 0; s.nsuspect--; }
                    fruitless = 0;
                }
                /* Unfinished cases go back to the front of the queue, in order. */
                int pin = culprit < 0 && !clean && nbegun > 1;
                size_t requeued = 0;
                for (size_t k = n; k-- > 0 && ninflight;) {
                    if (!s.inflight[k]) continue;
                    if (pin && s.begun[k] && !s.suspect[k]) { s.suspect[k] = 1; s.nsuspect++; }
                    s.inflight[k] = s.begun[k] = 0;
                    s.kt0[k] = 0.0;
                    ninflight--;
                    requeued++;
                    if (q_push_front(&s, k)) mark_error(&s, k, "out of memory re-queueing the case");
                }
                if (culprit < 0 && requeued && !devexit) {
                    fruitless++;
                    ud_error("isolation: worker %d %s with %zu unfinished case%s and none to blame%s", (int)w.pid, how,
                             requeued, requeued == 1 ? "" : "s", pin ? ": re-running them one at a time" : "");
                }
                if (requeued || culprit >= 0) restarts++;
                worker_close(&w);
                have_worker = 0;
            }
        }

        /* ---- deliver finished cases in order */
        while (emitted < n && (state[emitted] == UD_CASE_DONE || state[emitted] == UD_CASE_NOT_RUN)) {
            if (state[emitted] == UD_CASE_DONE) {
                if (shown) { fputs("\r\033[K", stderr); fflush(stderr); shown = 0; }
                ran++;
                if (res[emitted].nfindings) failing++;
                if (done) done(user, emitted, &res[emitted], status[emitted]);
            }
            emitted++;
        }
        if (po->progress && emitted < n && (last_draw < 0 || now_s() - last_draw > 0.2)) {
            last_draw = now_s();
            progress(emitted, n, failing, last_draw - t0, restarts);
            shown = 1;
        }
        if (!have_worker && !(s.qhead < s.qtail) && !ninflight) {
            /* nothing left to run: anything still pending was never handed out */
            for (size_t i = emitted; i < n; i++)
                if (state[i] == UD_CASE_PENDING) state[i] = UD_CASE_NOT_RUN;
        }
    }
    if (shown) { fputs("\r\033[K", stderr); fflush(stderr); }
    if (have_worker) {
        if (w.to >= 0) close(w.to);
        w.to = -1;
        int st;
        while (waitpid(w.pid, &st, 0) < 0 && errno == EINTR) {}
        worker_close(&w);
    }
    signal(SIGPIPE, old_pipe);
    free(s.queue);
    free(s.inflight);
    free(s.begun);
    free(s.suspect);
    free(s.kt0);
    free(wr);
    return ran;
}
