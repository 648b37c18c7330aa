/* execute.c — backend choice and running a batch of cases (execute.h). */
#include "harness/exec/execute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numerics/status.h"

int ud_exec_pick_backend(const char *who, const char *backend, ud_backend *be)
{
    char why[256];
    if (strcmp(backend, "cpu") == 0) { *be = UD_BACKEND_CPU; return -1; }
    int have = ud_device_available(why, sizeof why);
    if (strcmp(backend, "cuda") == 0 && !have) {
        fprintf(stderr, "%s: --backend cuda: %s\n", who, why);
        return UD_EXIT_INTERNAL;
    }
    *be = have ? UD_BACKEND_CUDA : UD_BACKEND_CPU;
    if (!have) fprintf(stderr, "%s: cuda backend skipped: %s; running on cpu\n", who, why);
    return -1;
}

int ud_exec_open(const ud_exec_request *rq, ud_executor *ex)
{
    memset(ex, 0, sizeof *ex);
    ex->io.case_timeout = rq->case_timeout;
    if (rq->devices) {   /* several GPUs: isolated by construction */
        ex->isolate = 1;
        return ud_devices_open(rq->who, rq->devices, rq->backend, rq->isolate, &ex->io, &ex->devs, &ex->backend,
                               ex->device, sizeof ex->device);
    }
    int want = rq->isolate < 0 ? strcmp(rq->backend, "cpu") != 0 : rq->isolate;
    ex->isolate = want;
    if (!want) {
        int rc = ud_exec_pick_backend(rq->who, rq->backend, &ex->backend);
        if (rc < 0) snprintf(ex->device, sizeof ex->device, "%s", ex->backend == UD_BACKEND_CUDA ? ud_device_name() : "cpu (host)");
        return rc;
    }
    snprintf(ex->device, sizeof ex->device, "cpu (host)");
    if (strcmp(rq->backend, "cpu") == 0) { ex->backend = UD_BACKEND_CPU; return -1; }
    char why[512] = "";
    int have = ud_isolate_probe(&ex->io, UD_BACKEND_CUDA, ex->device, sizeof ex->device, why, sizeof why);
    if (have == 1) { ex->backend = UD_BACKEND_CUDA; return -1; }
    snprintf(ex->device, sizeof ex->device, "cpu (host)");
    if (strcmp(rq->backend, "cuda") == 0) { fprintf(stderr, "%s: --backend cuda: %s\n", rq->who, why); return UD_EXIT_INTERNAL; }
    fprintf(stderr, "%s: cuda backend skipped: %s; running on cpu\n", rq->who, why);
    ex->backend = UD_BACKEND_CPU;
    ex->isolate = rq->isolate == 1;   /* auto fell back to cpu: isolate only when asked to */
    return -1;
}

void ud_exec_fixed(ud_executor *ex, ud_backend be, const char *device)
{
    memset(ex, 0, sizeof *ex);
    ex->backend = be;
    snprintf(ex->device, sizeof ex->device, "%s", device);
}

static int batch_alloc(ud_batch *b, size_t n)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    size_t m = n ? n : 1;
    b->res = calloc(m, sizeof *b->res);
    b->status = calloc(m, sizeof *b->status);
    b->state = calloc(m, sizeof *b->state);
    b->ran = calloc(m, sizeof *b->ran);
    if (b->res && b->status && b->state && b->ran) return UD_OK;
    ud_batch_free(b);
    fprintf(stderr, "ulpdiff: out of memory for %zu cases\n", n);
    return UD_EINTERNAL;
}

int ud_exec_run(const ud_executor *ex, const ud_case *cases, size_t n, const ud_run_opts *ro,
                const ud_pool_opts *po, ud_case_done_fn done, void *user, ud_batch *b)
{
    UD_TRY(batch_alloc(b, n));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t nran = ex->devs.n ? ud_run_cases_devices(&ex->devs, cases, n, ro, po, &ex->io, b->res, b->status, b->state, done, user)
                  : ex->isolate ? ud_run_cases_isolated(cases, n, ro, po, &ex->io, b->res, b->status, b->state, done, user)
                                : ud_run_cases(cases, n, ro, po, b->res, b->status, b->state, done, user);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (nran == (size_t)-1) { fprintf(stderr, "ulpdiff: cannot start worker threads\n"); return UD_EINTERNAL; }
    b->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    for (size_t i = 0; i < n; i++) {
        b->ran[i] = b->state[i] == UD_CASE_DONE;
        if (!b->ran[i]) { b->not_run++; continue; }
        b->nran++;
        if (b->status[i] != UD_OK) b->any_error = 1;
        if (b->res[i].nfindings) b->any_findings = 1;
    }
    return UD_OK;
}

void ud_batch_free(ud_batch *b)
{
    free(b->res);
    free(b->status);
    free(b->state);
    free(b->ran);
    memset(b, 0, sizeof *b);
}
