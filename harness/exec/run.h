/* run.h — running one case on one backend: build inputs, reference, poison outputs, run the
 * kernel (production or a known-bug variant), compare. */
#ifndef UD_RUN_H
#define UD_RUN_H

#include "harness/core/result.h"

/* Called around the kernel phase of a case (upload, kernel, sync, download) — on the cuda
 * backend with the device lock held, so at most one case is in it — by the isolating worker
 * (harness/isolate.c) to tell its parent which case a crash belongs to. `after` gets the
 * kernel's status. */
typedef struct {
    void (*before)(void *user, const ud_case *c);
    void (*after)(void *user, const ud_case *c, int rc);
    void *user;
} ud_kernel_hooks;

typedef struct {
    ud_backend backend;
    int exact_mpfr;        /* reference through MPFR instead of the fast path */
    const char *artifact_dir;   /* where a failing case leaves its full tensors (NULL: none) */
    /* Determinism: run the kernel this many times (<= 1: once) on the same inputs and compare
     * the outputs bit for bit; a difference is a `nondeterminism` finding. */
    int repeat;
    /* On the cuda backend, for operators with bitwise_backends: also run the cpu kernel on the
     * same inputs; outputs must agree bit for bit, else a `backend-mismatch` finding. */
    int cross_check;
    const ud_kernel_hooks *hooks;
} ud_run_opts;

/* Fills *res. Returns UD_OK when the case ran (pass or findings); a device or internal error
 * is recorded as an `error` finding and returned as UD_EDEVICE / UD_EINTERNAL. Thread-safe:
 * on the cuda backend the kernel phases of concurrent cases are serialised by one device lock
 * (one CUDA context, shared library handles), while inputs, references and comparisons run
 * in parallel. */
int ud_run_case(const ud_case *c, const ud_run_opts *o, ud_result *res);

/* Reference arrays for n elements (ud_ref_free releases them). */
int ud_ref_alloc(ud_ref *r, size_t n);
void ud_ref_free(ud_ref *r);

#endif
