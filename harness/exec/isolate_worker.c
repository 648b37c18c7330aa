/* isolate_worker.c — the worker side of isolation (isolate.h): `ulpdiff __worker`, started by
 * the parent (isolate_parent.c) with cases on stdin and records to fd 3 (isolate_wire.h).
 *
 * The main thread reads cases into a queue; --jobs threads run them with ud_run_case, whose
 * kernel hooks report when a case's kernel phase opens and closes, so that the parent can
 * blame a crash on the one case whose kernel was running. After a device error the worker
 * sends that case's result and exits: its CUDA context may be unusable. */
#include "harness/exec/isolate_wire.h"

#include <fcntl.h>
#include <mpfr.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/core/tensor.h"

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
    mpfr_free_cache();   /* this thread's MPFR constant caches: only it can free them */
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

/* The arguments spawn() passes, into W.ro, *jobs and *probe; 0, or the exit code for bad ones. */
static int parse_args(int argc, char **argv, const ud_post_check *const *known, int *jobs, int *probe)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--probe") == 0) *probe = 1;
        else if (strcmp(a, "--mpfr") == 0) W.ro.exact_mpfr = 1;
        else if (strcmp(a, "--cross-check") == 0) W.ro.cross_check = 1;
        else if (strcmp(a, "--fd") == 0) { W.fd = atoi(v); i++; }
        else if (strcmp(a, "--jobs") == 0) { *jobs = atoi(v); i++; }
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
    return 0;
}

/* HELLO: can this process use the backend, and on which device? Returns whether it can. */
static int say_hello(void)
{
    wire_hello h;
    memset(&h, 0, sizeof h);
    h.ok = 1;
    snprintf(h.name, sizeof h.name, "cpu (host)");
    if (W.ro.backend == UD_BACKEND_CUDA) {
        h.ok = ud_device_available(h.why, sizeof h.why);
        snprintf(h.name, sizeof h.name, "%s", ud_device_name());
    }
    send_msg(M_HELLO, 0, &h, (uint32_t)sizeof h);
    return h.ok;
}

/* Reads CASE records from stdin into the queue until the parent closes the pipe; 0, or the
 * exit code for a record that cannot be a case. */
static int feed_queue(void)
{
    for (;;) {
        msg_hdr hd;
        wire_case wc;
        if (read_all(0, &hd, sizeof hd)) return 0;
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
}

int ud_isolate_worker_main(int argc, char **argv, const ud_post_check *const *known)
{
    int jobs = 1, probe = 0;
    memset(&W.ro, 0, sizeof W.ro);
    W.fd = -1;
    W.ro.backend = UD_BACKEND_CPU;
    int rc = parse_args(argc, argv, known, &jobs, &probe);
    if (rc) return rc;
    signal(SIGPIPE, SIG_IGN);
    static const ud_kernel_hooks hooks = {hook_before, hook_after, NULL};
    W.ro.hooks = &hooks;
    if (!say_hello() || probe) return UD_EXIT_PASS;

    if (jobs < 1) jobs = 1;
    pthread_t *tids = calloc((size_t)jobs, sizeof *tids);
    if (!tids) return UD_EXIT_INTERNAL;
    int started = 0;
    for (; started < jobs; started++)
        if (pthread_create(&tids[started], NULL, worker_thread, NULL)) break;
    if (!started) return UD_EXIT_INTERNAL;
    rc = feed_queue();   /* this thread feeds the queue until the parent closes the pipe */
    if (rc) return rc;
    pthread_mutex_lock(&W.qmu);
    W.closed = 1;
    pthread_cond_broadcast(&W.qcv);
    pthread_mutex_unlock(&W.qmu);
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
    return UD_EXIT_PASS;
}
