/* run.h — running one case on one backend: build inputs, reference, poison outputs, run the
 * kernel (production or a known-bug variant), compare. */
#ifndef UD_RUN_H
#define UD_RUN_H

#include "harness/core/result.h"

/* Called around the kernel phase of a case (upload, kernel, sync, download) — on the cuda
 * backend with the device lock held, so at most one case is in it — by the isolating worker
 * (harness/exec/isolate_worker.c) to tell its parent which case a crash belongs to. `after` gets the
 * kernel's status. */
typedef struct {
    void (*before)(void *user, const ud_case *c);
    void (*after)(void *user, const ud_case *c, int rc);
    void *user;
} ud_kernel_hooks;

/* An implementation source: what fills a case's outputs in place of the registry kernel —
 * a plugin's function (`run --impl`, harness/external/plugin.h) or the files an external
 * implementation wrote (`check`, harness/external/exchange.h). Everything else about the case
 * (reference, budgets, comparison, the operator's metrics and findings) is the registry
 * operator's, so results are exactly those of a production run. */
typedef struct ud_impl {
    /* Optional: fills the inputs' host buffers in place of op->generate (check: the exported
     * files, so the reference is computed from the inputs the implementation read). */
    int (*inputs)(const struct ud_impl *im, const ud_case *c, ud_tensor *in);
    /* Fills the outputs: on the cuda backend through device buffers (inputs uploaded, outputs
     * poisoned there: `device` = 1), else through the host buffers (outputs poisoned). */
    int (*outputs)(const struct ud_impl *im, const ud_case *c, ud_tensor *in, ud_tensor *out, int device);
    /* The outputs come from outside the process (files), where ulpdiff's poison never was: the
     * operator's own `unwritten-output` findings (op->extra) do not apply. */
    int outputs_from_files;
    void *user;
} ud_impl;

/* A check run on a case after its comparison (the cache scenarios of operators with derived
 * state, registered by the commands that want them: harness/cli/post_checks.c). It runs as a
 * kernel phase does: with the device lock held on cuda, between the hooks. */
typedef struct ud_post_check {
    const char *name;     /* how a worker process is told to attach it (isolate_worker.c) */
    const char *what;     /* for the error finding when it fails: "cache check" */
    int (*applies)(const ud_case *c);
    /* Optional: is the case's known-bug variant this check's own (one that only it can see)?
     * Then neither kernel nor comparison runs: the check alone judges the case. */
    int (*owns)(const ud_case *c);
    /* Adds findings and metrics to res; UD_OK, or an error status (message on stderr). */
    int (*run)(const ud_case *c, ud_backend backend, ud_result *res);
} ud_post_check;

#define UD_MAX_POST_CHECKS 4

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
    /* NULL: the registry kernel (production or the case's variant). Else the implementation
     * source that fills the outputs; no cross-check (it has no cpu twin). */
    const ud_impl *impl;
    /* Checks after the comparison, in this order. */
    const ud_post_check *post[UD_MAX_POST_CHECKS];
    int npost;
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
