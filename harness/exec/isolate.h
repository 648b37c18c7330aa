/* isolate.h — running cases in worker processes, so that a kernel that faults costs one case.
 *
 * A CUDA fault (illegal address, misaligned access, device-side assert) leaves the context in
 * a sticky error state: every later CUDA call of that process fails. A host crash (SIGSEGV,
 * abort) ends the process. So the parent never touches the device (it does not even call
 * cudaGetDeviceCount, which initialises the runtime): it fork+execs `ulpdiff __worker`, hands
 * it cases over a pipe and reads back, per case, BEGIN, KERNEL (entering the kernel phase),
 * KDONE and RESULT records. When a worker dies or reports a device error, the case whose
 * kernel phase was open becomes one `error` finding (with the signal or the CUDA error), the
 * cases it had not finished go back to the queue, and a fresh worker continues with them.
 * When a crash cannot be pinned on one case (several cases in flight, none in its kernel
 * phase: a crash in host code), those cases are re-run one at a time, which pins it.
 *
 * Inside a worker, cases run on --jobs threads: inputs, references and comparisons in
 * parallel, kernel phases one at a time under run.c's device lock. Results reach the caller in
 * case order, exactly as ud_run_cases (jobs.h) delivers them, so every report is the same as
 * an in-process run's. docs/nightly.md describes the protocol.
 *
 * isolate_parent.c is the parent's side, isolate_worker.c the worker's, isolate_wire.h the
 * records between them. */
#ifndef UD_ISOLATE_H
#define UD_ISOLATE_H

#include <stddef.h>

#include "harness/exec/jobs.h"

typedef struct {
    double case_timeout;   /* > 0: a kernel phase longer than this is killed and reported */
    const char *self;      /* the ulpdiff binary to exec (NULL: /proc/self/exe) */
} ud_isolate_opts;

/* Asks a throw-away worker whether backend `be` works there. Returns 1 (name: the device, or
 * "cpu (host)"), 0 (why: the reason) or -1 when no worker could be started (why says so). */
int ud_isolate_probe(const ud_isolate_opts *io, ud_backend be, char *name, size_t n, char *why, size_t whyn);

/* ud_run_cases in worker processes (same contract; the return value counts cases run). */
size_t ud_run_cases_isolated(const ud_case *cases, size_t n, const ud_run_opts *ro, const ud_pool_opts *po,
                             const ud_isolate_opts *io, ud_result *res, int *status, ud_case_state *state,
                             ud_case_done_fn done, void *user);

/* `ulpdiff __worker --fd N --backend B --jobs N [--repeat N] [--mpfr] [--cross-check]
 * [--post-check NAME ...] [--probe]`: the worker's main (started only by the functions above).
 * The run options' post-run checks travel by name: `known` (NULL-terminated) are the ones the
 * worker can attach. An implementation source (ud_run_opts.impl) does not travel: such runs
 * stay in the process. */
int ud_isolate_worker_main(int argc, char **argv, const ud_post_check *const *known);

#endif
