/* execute.h — the execution half of every command that runs cases (run, check, mutants;
 * cache-check's backend choice): which backend, whether in worker processes, and running a
 * batch of cases there with its results in case order.
 *
 * Backend choice: `cpu`, `cuda` (an error when no device answers) or `auto` (cuda when a device
 * is present, else cpu with a note). With isolation the parent never initialises CUDA (a CUDA
 * fault would end it, and the runtime does not survive fork): a throw-away worker answers
 * whether the device is there. Isolation defaults to on for cuda and auto, off for cpu; when
 * auto falls back to cpu it stays on only when asked for. */
#ifndef UD_EXECUTE_H
#define UD_EXECUTE_H

#include <stddef.h>

#include "harness/exec/devices.h"
#include "harness/exec/isolate.h"
#include "harness/exec/jobs.h"

typedef struct {
    const char *who;          /* message prefix: "ulpdiff", "ulpdiff cache-check" */
    const char *backend;      /* "cpu", "cuda" or "auto" */
    int isolate;              /* 1, 0, or -1: by backend */
    double case_timeout;      /* with isolation: > 0 kills a kernel phase running longer */
    const char *devices;      /* run --devices LIST|all (devices.h), or NULL: one device */
} ud_exec_request;

typedef struct {
    ud_backend backend;
    int isolate;              /* run in worker processes */
    ud_isolate_opts io;
    ud_device_set devs;       /* --devices: the GPUs the cases are spread over (devs.n == 0: none) */
    char device[1400];        /* for reports: "cpu (host)", the GPU's name, or what stands in */
} ud_executor;

/* The backend alone, in this process (no isolation): returns -1 with *be set, or an exit code
 * (UD_EXIT_INTERNAL: --backend cuda without a device; message on stderr). */
int ud_exec_pick_backend(const char *who, const char *backend, ud_backend *be);

/* Backend, isolation and device name for rq. Returns -1 on success, else an exit code. */
int ud_exec_open(const ud_exec_request *rq, ud_executor *ex);

/* An executor for outputs that come from elsewhere (`check`: backend external, in process). */
void ud_exec_fixed(ud_executor *ex, ud_backend be, const char *device);

/* What running n cases leaves: per case its result, ud_run_case status and state; ran[i]
 * when case i finished (not when --budget-seconds left it unstarted). */
typedef struct {
    size_t n, nran, not_run;
    ud_result *res;
    int *status;
    ud_case_state *state;
    int *ran;
    double seconds;           /* wall time of the batch */
    int any_error;            /* some case's status is not UD_OK */
    int any_findings;         /* some case that ran has findings */
} ud_batch;

/* Runs cases[0..n) on ex (threads, or worker processes when isolating): `done` sees every
 * finished case in case order on the calling thread. Returns UD_OK, or UD_EINTERNAL when the
 * batch could not be allocated or started (message on stderr); free with ud_batch_free. */
int ud_exec_run(const ud_executor *ex, const ud_case *cases, size_t n, const ud_run_opts *ro,
                const ud_pool_opts *po, ud_case_done_fn done, void *user, ud_batch *b);
void ud_batch_free(ud_batch *b);

#endif
