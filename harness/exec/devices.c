/* devices.c — one run over several GPUs: a runner process per GPU, results in case order
 * (devices.h). */
#include "harness/exec/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numerics/status.h"
#include "harness/cache/param.h"   /* ud_dev_count, with the raw device memory API */

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

/* ================================================================== choosing the GPUs */

int ud_devices_parse(const char *list, ud_device_set *ds, int *all)
{
    memset(ds, 0, sizeof *ds);
    *all = strcmp(list, "all") == 0;
    if (*all) return 0;
    const char *p = list;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *p == '-' || *p == '+' || *p == ' ' || v > 4096 || (*end && *end != ',')) {
            fprintf(stderr, "ulpdiff: --devices: '%s' is not a list of GPU numbers (0,1,3) or all\n", list);
            return UD_EXIT_USAGE;
        }
        for (int k = 0; k < ds->n; k++)
            if (ds->ordinal[k] == (int)v) {
                fprintf(stderr, "ulpdiff: --devices: GPU %ld is listed twice in '%s'\n", v, list);
                return UD_EXIT_USAGE;
            }
        if (ds->n == UD_MAX_DEVICES) {
            fprintf(stderr, "ulpdiff: --devices: more than %d GPUs in '%s'\n", UD_MAX_DEVICES, list);
            return UD_EXIT_USAGE;
        }
        ds->ordinal[ds->n++] = (int)v;
        if (!*end) return 0;
        p = end + 1;
    }
}

/* The number of visible GPUs, read in a forked child so that this process never initialises
 * CUDA (a worker forked later must not inherit a CUDA context). Returns the count (0 with
 * `why` set), or -1 when the child could not tell. */
static int count_gpus(char *why, size_t whyn)
{
    typedef struct { int count; char why[256]; } answer;
    int p[2];
    if (pipe(p)) { snprintf(why, whyn, "pipe: %s", strerror(errno)); return -1; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(p[0]); close(p[1]); snprintf(why, whyn, "fork: %s", strerror(errno)); return -1; }
    if (pid == 0) {
        close(p[0]);
        answer a;
        memset(&a, 0, sizeof a);
        a.count = ud_dev_count();
        if (a.count <= 0) ud_device_available(a.why, sizeof a.why);
        _exit(write_all(p[1], &a, sizeof a) ? 1 : 0);
    }
    close(p[1]);
    answer a;
    int got = read_all(p[0], &a, sizeof a) == 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!got) { snprintf(why, whyn, "the process counting GPUs ended without an answer (status %#x)", st); return -1; }
    a.why[sizeof a.why - 1] = 0;
    snprintf(why, whyn, "%s", a.why);
    return a.count;
}

/* GPU k's value of CUDA_VISIBLE_DEVICES: the k-th entry of the one this process was given, or k. */
static void visible_entry(int k, char *buf, size_t n)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    if (cvd && *cvd) {
        const char *s = cvd;
        for (int i = 0; i < k && s; i++) {
            s = strchr(s, ',');
            if (s) s++;
        }
        if (s) {
            size_t len = strcspn(s, ",");
            snprintf(buf, n, "%.*s", (int)len, s);
            return;
        }
    }
    snprintf(buf, n, "%d", k);
}

/* Probes GPU k alone (a worker started with CUDA_VISIBLE_DEVICES narrowed to it). Returns 1
 * with its name, else 0 with why. */
static int probe_gpu(const ud_isolate_opts *io, const char *visible, char *name, size_t nn, char *why, size_t whyn)
{
    const char *old = getenv("CUDA_VISIBLE_DEVICES");
    char *saved = old ? strdup(old) : NULL;
    setenv("CUDA_VISIBLE_DEVICES", visible, 1);   /* one thread: nothing else reads the environment now */
    int ok = ud_isolate_probe(io, UD_BACKEND_CUDA, name, nn, why, whyn);
    if (saved) setenv("CUDA_VISIBLE_DEVICES", saved, 1);
    else unsetenv("CUDA_VISIBLE_DEVICES");
    free(saved);
    return ok == 1;
}

/* "2 x NVIDIA H100 80GB HBM3 (GPUs 0,1)" when every name is the same, else one per GPU. */
static void describe(const ud_device_set *ds, char names[][256], char *device, size_t dn)
{
    int same = 1;
    for (int k = 1; k < ds->n; k++) same &= strcmp(names[k], names[0]) == 0;
    size_t off = 0;
    if (same) off += (size_t)snprintf(device, dn, "%d x %s (GPUs ", ds->n, names[0]);
    for (int k = 0; k < ds->n && off < dn; k++) {
        if (same) off += (size_t)snprintf(device + off, dn - off, "%s%d", k ? "," : "", ds->ordinal[k]);
        else off += (size_t)snprintf(device + off, dn - off, "%sGPU %d: %s", k ? "; " : "", ds->ordinal[k], names[k]);
    }
    if (same && off < dn) snprintf(device + off, dn - off, ")");
}

int ud_devices_open(const char *who, const char *list, const char *backend, int isolate, ud_isolate_opts *io,
                    ud_device_set *ds, ud_backend *be, char *device, size_t dn)
{
    int all;
    if (ud_devices_parse(list, ds, &all)) return UD_EXIT_USAGE;
    if (strcmp(backend, "cpu") == 0) {
        fprintf(stderr, "%s: --devices spreads cases over GPUs; it does not go with --backend cpu\n", who);
        return UD_EXIT_USAGE;
    }
    if (isolate == 0) {
        fprintf(stderr, "%s: --devices runs worker processes, one set per GPU; it does not go with --no-isolate\n", who);
        return UD_EXIT_USAGE;
    }
    char why[512] = "";
    const char *fake = getenv("UD_TEST_FAKE_GPUS");
    int count = fake ? atoi(fake) : count_gpus(why, sizeof why);
    if (count < 0) { fprintf(stderr, "%s: --devices: cannot count the GPUs: %s\n", who, why); return UD_EXIT_INTERNAL; }
    if (count == 0) { fprintf(stderr, "%s: --devices %s: no GPU visible (%s)\n", who, list, fake ? "test hook" : why); return UD_EXIT_INTERNAL; }
    if (all) {
        ds->n = count < UD_MAX_DEVICES ? count : UD_MAX_DEVICES;
        for (int k = 0; k < ds->n; k++) ds->ordinal[k] = k;
    }
    for (int k = 0; k < ds->n; k++)
        if (ds->ordinal[k] >= count) {
            fprintf(stderr, "%s: --devices %s: GPU %d does not exist: %d GPU%s visible (0..%d)\n", who, list, ds->ordinal[k],
                    count, count == 1 ? "" : "s", count - 1);
            return UD_EXIT_INTERNAL;
        }
    char (*names)[256] = calloc(UD_MAX_DEVICES, sizeof *names);
    if (!names) { ud_error("out of memory"); return UD_EXIT_INTERNAL; }
    int rc = -1;
    ds->fake = fake != NULL;
    if (ds->fake && getenv("UD_TEST_WORKER")) io->self = getenv("UD_TEST_WORKER");
    for (int k = 0; k < ds->n && rc < 0; k++) {
        visible_entry(ds->ordinal[k], ds->visible[k], sizeof ds->visible[k]);
        if (ds->fake) snprintf(names[k], sizeof names[k], "test GPU (cpu workers)");
        else if (!probe_gpu(io, ds->visible[k], names[k], sizeof names[k], why, sizeof why)) {
            fprintf(stderr, "%s: --devices: GPU %d (CUDA_VISIBLE_DEVICES=%s) does not answer: %s\n", who, ds->ordinal[k],
                    ds->visible[k], why);
            rc = UD_EXIT_INTERNAL;
        }
    }
    if (rc < 0) {
        describe(ds, names, device, dn);
        *be = ds->fake ? UD_BACKEND_CPU : UD_BACKEND_CUDA;
    }
    free(names);
    return rc;
}

/* ================================================================== running on them */

/* What a runner sends for each of its cases. A runner is a fork of this process: the case and
 * the output names its result points to are this process's too. */
typedef struct {
    uint64_t index;        /* in the whole run */
    int32_t state;         /* UD_CASE_DONE or UD_CASE_NOT_RUN */
    int32_t status;        /* ud_run_case's */
    ud_result r;           /* DONE only */
} record;

typedef struct {
    int fd;
    const size_t *global;  /* runner case j -> index in the run */
    record *rec;
} runner_ctx;

static void send_done(void *user, size_t j, const ud_result *r, int status)
{
    runner_ctx *x = user;
    x->rec->index = x->global[j];
    x->rec->state = UD_CASE_DONE;
    x->rec->status = status;
    x->rec->r = *r;
    if (write_all(x->fd, x->rec, sizeof *x->rec)) _exit(3);   /* the parent is gone */
}

/* The runner of GPU d (a child process): its cases, its GPU, then exit. */
static void runner_main(const ud_device_set *ds, int d, int fd, const ud_case *cases, size_t n, const ud_run_opts *ro,
                        const ud_pool_opts *po, const ud_isolate_opts *io)
{
    setenv("CUDA_VISIBLE_DEVICES", ds->visible[d], 1);   /* inherited by every worker it starts */
    size_t m = 0;
    for (size_t i = (size_t)d; i < n; i += (size_t)ds->n) m++;
    ud_case *mine = malloc((m ? m : 1) * sizeof *mine);
    size_t *global = malloc((m ? m : 1) * sizeof *global);
    ud_result *res = calloc(m ? m : 1, sizeof *res);
    int *status = calloc(m ? m : 1, sizeof *status);
    ud_case_state *state = calloc(m ? m : 1, sizeof *state);
    record *rec = calloc(1, sizeof *rec);
    if (!mine || !global || !res || !status || !state || !rec) _exit(3);
    for (size_t i = (size_t)d, j = 0; i < n; i += (size_t)ds->n, j++) { mine[j] = cases[i]; global[j] = i; }
    ud_pool_opts mpo = *po;
    mpo.jobs = po->jobs / ds->n > 1 ? po->jobs / ds->n : 1;
    mpo.progress = 0;   /* one progress line, the parent's */
    runner_ctx x = {fd, global, rec};
    size_t ran = ud_run_cases_isolated(mine, m, ro, &mpo, io, res, status, state, send_done, &x);
    if (ran == (size_t)-1) _exit(3);
    for (size_t j = 0; j < m; j++) {
        if (state[j] == UD_CASE_DONE) continue;
        memset(rec, 0, sizeof *rec);
        rec->index = global[j];
        rec->state = UD_CASE_NOT_RUN;
        if (write_all(fd, rec, sizeof *rec)) _exit(3);
    }
    _exit(0);
}

typedef struct {
    pid_t pid;
    int fd;                /* records from it; -1 once it ended */
} runner;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runner d ended (end of its stream): its cases without a record become `error` cases. */
static void runner_ended(const ud_device_set *ds, int d, runner *rn, const ud_case *cases, size_t n, ud_result *res,
                         int *status, ud_case_state *state, ud_backend be)
{
    if (rn->fd >= 0) close(rn->fd);
    rn->fd = -1;
    int st = 0;
    while (rn->pid > 0 && waitpid(rn->pid, &st, 0) < 0 && errno == EINTR) {}
    char how[96];
    if (rn->pid <= 0) snprintf(how, sizeof how, "could not be started");
    else if (WIFSIGNALED(st)) snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(st));
    else snprintf(how, sizeof how, "exited with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    for (size_t i = (size_t)d; i < n; i += (size_t)ds->n) {
        if (state[i] != UD_CASE_PENDING) continue;
        memset(&res[i], 0, sizeof res[i]);
        res[i].c = cases[i];
        res[i].backend = be;
        ud_result_add_finding(&res[i], UD_F_ERROR, "the runner of GPU %d (CUDA_VISIBLE_DEVICES=%s) %s before this case "
                              "finished", ds->ordinal[d], ds->visible[d], how);
        status[i] = UD_EINTERNAL;
        state[i] = UD_CASE_DONE;
    }
}

/* One record from runner d into the run's arrays. Returns -1 at the end of its stream. */
static int take_record(int fd, record *rec, const ud_case *cases, size_t n, ud_result *res, int *status,
                       ud_case_state *state)
{
    if (read_all(fd, rec, sizeof *rec)) return -1;
    size_t i = (size_t)rec->index;
    if (i >= n || state[i] != UD_CASE_PENDING) return 0;
    if (rec->state == UD_CASE_DONE) {
        res[i] = rec->r;
        res[i].c = cases[i];
        status[i] = rec->status;
    }
    state[i] = rec->state == UD_CASE_DONE ? UD_CASE_DONE : UD_CASE_NOT_RUN;
    return 0;
}

size_t ud_run_cases_devices(const ud_device_set *ds, const ud_case *cases, size_t n, const ud_run_opts *ro,
                            const ud_pool_opts *po, const ud_isolate_opts *io, ud_result *res, int *status,
                            ud_case_state *state, ud_case_done_fn done, void *user)
{
    if (ro->impl) { ud_error("--devices: an implementation source runs in this process only"); return (size_t)-1; }
    runner rn[UD_MAX_DEVICES];
    record *rec = malloc(sizeof *rec);
    if (!rec) return (size_t)-1;
    for (size_t i = 0; i < n; i++) { state[i] = UD_CASE_PENDING; status[i] = UD_OK; }
    int live = 0;
    for (int d = 0; d < ds->n; d++) {
        int p[2];
        rn[d].fd = -1;
        /* Close-on-exec: a worker a runner starts must not hold a runner's stream open. */
        if (pipe(p) || fcntl(p[0], F_SETFD, FD_CLOEXEC) || fcntl(p[1], F_SETFD, FD_CLOEXEC)) {
            ud_error("--devices: pipe: %s", strerror(errno));
            continue;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            for (int k = 0; k < d; k++) close(rn[k].fd);   /* the others' streams are the parent's alone */
            runner_main(ds, d, p[1], cases, n, ro, po, io);
        }
        close(p[1]);
        if (pid < 0) { close(p[0]); ud_error("--devices: fork: %s", strerror(errno)); continue; }
        rn[d].pid = pid;
        rn[d].fd = p[0];
        live++;
    }
    for (int d = 0; d < ds->n; d++)   /* a runner that could not start: its cases are errors */
        if (rn[d].fd < 0) { rn[d].pid = -1; runner_ended(ds, d, &rn[d], cases, n, res, status, state, ro->backend); }
    size_t emitted = 0, ran = 0, failing = 0;
    double t0 = now_s(), last = -1.0;
    int shown = 0;
    while (emitted < n) {
        struct pollfd pf[UD_MAX_DEVICES];
        int who[UD_MAX_DEVICES], np = 0;
        for (int d = 0; d < ds->n; d++)
            if (rn[d].fd >= 0) { pf[np] = (struct pollfd){rn[d].fd, POLLIN, 0}; who[np++] = d; }
        if (np && poll(pf, (nfds_t)np, 200) > 0)
            for (int k = 0; k < np; k++)
                if (pf[k].revents && take_record(pf[k].fd, rec, cases, n, res, status, state))
                    runner_ended(ds, who[k], &rn[who[k]], cases, n, res, status, state, ro->backend);
        while (emitted < n && state[emitted] != UD_CASE_PENDING) {   /* in case order */
            if (state[emitted] == UD_CASE_DONE) {
                if (shown) { fputs("\r\033[K", stderr); shown = 0; }
                ran++;
                failing += res[emitted].nfindings > 0;
                if (done) done(user, emitted, &res[emitted], status[emitted]);
            }
            emitted++;
        }
        if (!np) break;   /* every runner ended: nothing more will come */
        if (po->progress && emitted < n && now_s() - last > 0.2) {
            last = now_s();
            fprintf(stderr, "\r\033[K[%zu/%zu] on %d GPUs, %zu failing, %.1fs elapsed", emitted, n, ds->n, failing, last - t0);
            fflush(stderr);
            shown = 1;
        }
    }
    if (shown) fputs("\r\033[K", stderr);
    for (int d = 0; d < ds->n; d++)
        if (rn[d].fd >= 0) runner_ended(ds, d, &rn[d], cases, n, res, status, state, ro->backend);
    free(rec);
    return ran;
}
