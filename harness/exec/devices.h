/* devices.h — `ulpdiff run --devices LIST|all`: the cases of one run spread over several GPUs of
 * one host, each GPU served by its own isolated workers.
 *
 * Per listed GPU, a runner process (a fork of this one, which never touched CUDA) sets
 * CUDA_VISIBLE_DEVICES to that GPU alone and runs its share of the cases through
 * ud_run_cases_isolated (isolate.h): its workers inherit the variable, so each worker process
 * sees exactly one GPU, as device 0, and a fault on one GPU costs one case on that GPU only.
 * Case i of the selection goes to the (i mod N)-th listed GPU (each operator's cases spread
 * over every GPU); runners send each finished result back, and this process delivers them in
 * case order, so every report is the one a single-GPU run writes (timings aside). --jobs is
 * shared out: each GPU's worker gets max(1, jobs / N) threads.
 *
 * GPU numbers are those CUDA gives the visible devices: with CUDA_VISIBLE_DEVICES already set
 * (a CI runner's slice of a host), GPU k is its k-th entry, and a runner narrows the variable to
 * that entry. `all`: every visible GPU. The count is read in a forked child, so this process
 * still never initialises CUDA. Errors: a malformed LIST, --backend cpu or --no-isolate exit 2;
 * no GPU visible, a listed GPU that does not exist or does not answer a probe worker exit 3.
 *
 * Test hook (tests/cli/devices.sh only): UD_TEST_FAKE_GPUS=N pretends N GPUs are visible, runs
 * the runners' workers on the cpu backend, and UD_TEST_WORKER=PATH starts PATH in place of
 * ulpdiff as the worker (a wrapper that records the environment it was given). */
#ifndef UD_DEVICES_H
#define UD_DEVICES_H

#include <stddef.h>

#include "harness/exec/isolate.h"

#define UD_MAX_DEVICES 64

typedef struct {
    int n;                                 /* GPUs in use; 0: --devices not given */
    int ordinal[UD_MAX_DEVICES];           /* their numbers among the visible GPUs, as listed */
    char visible[UD_MAX_DEVICES][128];     /* each runner's CUDA_VISIBLE_DEVICES */
    int fake;                              /* UD_TEST_FAKE_GPUS: cpu workers stand in */
} ud_device_set;

/* LIST: "all", or GPU numbers separated by commas ("0,2,3"), each once. Returns 0 (*all set
 * for "all", else ds->ordinal / ds->n), or UD_EXIT_USAGE after a message naming --devices. */
int ud_devices_parse(const char *list, ud_device_set *ds, int *all);

/* Resolves LIST against the visible GPUs and probes each (its name goes into `device`, for
 * reports). backend: --backend (cpu refused); isolate: --isolate / --no-isolate / -1.
 * io->self may be set (test hook). Returns -1 when ready (*be: cuda, or cpu for fake GPUs),
 * else an exit code (message on stderr, prefixed by who). */
int ud_devices_open(const char *who, const char *list, const char *backend, int isolate, ud_isolate_opts *io,
                    ud_device_set *ds, ud_backend *be, char *device, size_t dn);

/* ud_run_cases_isolated's contract over the GPUs of ds (ro->backend as opened). */
size_t ud_run_cases_devices(const ud_device_set *ds, const ud_case *cases, size_t n, const ud_run_opts *ro,
                            const ud_pool_opts *po, const ud_isolate_opts *io, ud_result *res, int *status,
                            ud_case_state *state, ud_case_done_fn done, void *user);

#endif
