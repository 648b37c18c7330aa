/* run.c — one case, one backend: inputs, reference, the kernel (optionally repeated, and
 * cross-checked against the cpu kernel), comparison. */
#include "harness/exec/run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/core/measure.h"

int ud_ref_alloc(ud_ref *r, size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(double);
    r->n = n;
    r->r0 = malloc(bytes);
    r->r1 = malloc(bytes);
    r->s = malloc(bytes);
    if (!r->r0 || !r->r1 || !r->s) { ud_ref_free(r); UD_ALLOC_CHECK(NULL); }
    for (size_t i = 0; i < n; i++) { r->r0[i] = r->r1[i] = NAN; r->s[i] = 0.0; }
    return UD_OK;
}

void ud_ref_free(ud_ref *r)
{
    free(r->r0); free(r->r1); free(r->s);
    r->r0 = r->r1 = r->s = NULL;
}

static int run_kernel(const ud_case *c, ud_backend be, ud_tensor *in, int nin,
                      ud_tensor *out, int nout, char *why, size_t whyn)
{
    for (int k = 0; k < nout; k++) ud_tensor_poison(&out[k]);
    if (be != UD_BACKEND_CUDA) {   /* cpu, and external (host buffers, read from files) */
        if (!c->op->run_cpu) { snprintf(why, whyn, "no cpu implementation"); return UD_EINTERNAL; }
        return c->op->run_cpu(c, c->mutant, in, out);
    }
    if (!c->op->run_cuda) { snprintf(why, whyn, "no cuda implementation compiled in"); return UD_ENODEV; }
    /* Inputs are uploaded on every run: a kernel that writes an input in place must not feed
     * its own output to a repeat run. */
    for (int k = 0; k < nin; k++) UD_TRY(ud_tensor_to_device(&in[k]));
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_poison_device(&out[k]));
    UD_TRY(c->op->run_cuda(c, c->mutant, in, out));
    UD_TRY(ud_device_sync());
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_to_host(&out[k]));
    return UD_OK;
}

/* One CUDA context serves every thread; its kernel phases run one at a time (library handles
 * with per-call state, and a fault must be attributable to exactly one case). */
static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER;

static int run_kernel_hooked(const ud_case *c, const ud_run_opts *o, ud_tensor *in, int nin,
                             ud_tensor *out, int nout, char *why, size_t whyn)
{
    int locked = o->backend == UD_BACKEND_CUDA;
    if (locked) pthread_mutex_lock(&device_lock);
    if (o->hooks && o->hooks->before) o->hooks->before(o->hooks->user, c);
    int rc = run_kernel(c, o->backend, in, nin, out, nout, why, whyn);
    if (o->hooks && o->hooks->after) o->hooks->after(o->hooks->user, c, rc);
    if (locked) pthread_mutex_unlock(&device_lock);
    return rc;
}

/* Host copies of tensors (outputs of a first run, inputs before it); NULL host = not taken. */
static int snapshot(const ud_tensor *t, int n, ud_tensor *copy)
{
    for (int k = 0; k < n; k++) {
        copy[k] = t[k];
        copy[k].dev = NULL;
        copy[k].host = malloc(ud_tensor_bytes(&t[k]) + 1);
        UD_ALLOC_CHECK(copy[k].host);
        memcpy(copy[k].host, t[k].host, ud_tensor_bytes(&t[k]));
    }
    return UD_OK;
}

static void snapshot_free(ud_tensor *copy, int n)
{
    for (int k = 0; k < n; k++) { free(copy[k].host); copy[k].host = NULL; }
}

/* Adds a finding when a and b (same shapes) differ in any bit: where, and how many. */
static void bitwise_diff(ud_result *res, ud_finding_kind kind, const char *what, const ud_tensor *a,
                         const ud_tensor *b, int n)
{
    for (int k = 0; k < n; k++) {
        size_t first, count = ud_tensor_bitwise_diff(&a[k], &b[k], &first);
        if (count == 0) continue;
        char coords[64];
        ud_tensor_coords(&a[k], first, coords, sizeof coords);
        double x = ud_get(a[k].dtype, a[k].host, first), y = ud_get(b[k].dtype, b[k].host, first);
        ud_result_add_finding(res, kind, "%s: %s: %zu of %zu elements differ bitwise; first at %s: %a (%.9g) vs %a (%.9g)",
                              a[k].name, what, count, a[k].numel, coords, x, x, y, y);
    }
}

/* Runs the kernel again on the same inputs (restored from `saved`) and compares with `first`. */
static int check_repeat(const ud_case *c, const ud_run_opts *o, ud_tensor *in, int nin, const ud_tensor *saved,
                        ud_tensor *out, int nout, const ud_tensor *first, ud_result *res, char *why, size_t whyn)
{
    for (int r = 1; r < o->repeat; r++) {
        for (int k = 0; k < nin; k++) memcpy(in[k].host, saved[k].host, ud_tensor_bytes(&in[k]));
        UD_TRY(run_kernel_hooked(c, o, in, nin, out, nout, why, whyn));
        char what[64];
        snprintf(what, sizeof what, "run %d vs run 1 on the same inputs", r + 1);
        int before = res->nfindings;
        bitwise_diff(res, UD_F_NONDETERMINISM, what, out, first, nout);
        if (res->nfindings != before) break;
    }
    return UD_OK;
}

/* The cpu kernel on the inputs the cuda kernel saw, bit for bit against its outputs. */
static int check_cross(const ud_case *c, ud_tensor *in, int nin, const ud_tensor *saved, const ud_tensor *cuda_out,
                       int nout, ud_result *res, char *why, size_t whyn)
{
    ud_tensor cpu_out[UD_MAX_TENSORS];
    int rc = snapshot(cuda_out, nout, cpu_out);
    for (int k = 0; rc == UD_OK && k < nin; k++) memcpy(in[k].host, saved[k].host, ud_tensor_bytes(&in[k]));
    if (rc == UD_OK) rc = run_kernel(c, UD_BACKEND_CPU, in, nin, cpu_out, nout, why, whyn);
    if (rc == UD_OK) bitwise_diff(res, UD_F_BACKEND_MISMATCH, "cuda vs cpu kernel", cuda_out, cpu_out, nout);
    snapshot_free(cpu_out, nout);
    return rc;
}

/* Operators with derived state: the cache scenarios on this case (harness/cache_check.h), as
 * `cache-stale` findings. They run kernels on every device, so on the cuda backend they hold
 * the device lock and tell the hooks, as a kernel phase does. */
static int check_cache(const ud_case *c, const ud_run_opts *o, ud_result *res)
{
    int locked = o->backend == UD_BACKEND_CUDA;
    if (locked) pthread_mutex_lock(&device_lock);
    if (o->hooks && o->hooks->before) o->hooks->before(o->hooks->user, c);
    int rc = ud_cache_check_result(c, o->backend, res);
    if (o->hooks && o->hooks->after) o->hooks->after(o->hooks->user, c, rc);
    if (locked) pthread_mutex_unlock(&device_lock);
    return rc;
}

int ud_run_case(const ud_case *c, const ud_run_opts *o, ud_result *res)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    res->c = *c;
    res->backend = o->backend;
    const ud_op *op = c->op;
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    ud_ref ref[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    memset(ref, 0, sizeof ref);
    char why[256] = "";
    if (op->cached && ud_cache_is_variant(c)) {
        /* A known-bug cache variant runs the production kernels: only its cache differs. */
        int crc = check_cache(c, o, res);
        if (crc != UD_OK) ud_result_add_finding(res, UD_F_ERROR, "cache check on %s: see the message above", ud_backend_name(o->backend));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        res->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        return crc;
    }
    int rc = ud_case_make_tensors(c, in, out);
    if (rc == UD_OK) rc = op->generate(c, in);
    for (int k = 0; rc == UD_OK && k < nout; k++) rc = ud_ref_alloc(&ref[k], out[k].numel);
    if (rc == UD_OK) rc = op->reference(c, in, ref, o->exact_mpfr);
    /* Inputs as generated, for repeat runs and the cross-check (a kernel may write in place). */
    ud_tensor saved_in[UD_MAX_TENSORS], first_out[UD_MAX_TENSORS];
    int want_repeat = o->repeat > 1;
    int want_cross = o->cross_check && o->backend == UD_BACKEND_CUDA && op->bitwise_backends;
    int nsaved = 0, nfirst = 0;
    if (rc == UD_OK && (want_repeat || want_cross) && (rc = snapshot(in, nin, saved_in)) == UD_OK) nsaved = nin;
    if (rc == UD_OK) rc = run_kernel_hooked(c, o, in, nin, out, nout, why, sizeof why);
    if (rc == UD_OK && (want_repeat || want_cross) && (rc = snapshot(out, nout, first_out)) == UD_OK) nfirst = nout;
    if (rc == UD_OK && want_repeat) rc = check_repeat(c, o, in, nin, saved_in, out, nout, first_out, res, why, sizeof why);
    if (rc == UD_OK && want_cross) rc = check_cross(c, in, nin, saved_in, first_out, nout, res, why, sizeof why);
    /* The statistics describe the first run's outputs. */
    for (int k = 0; k < nfirst; k++) memcpy(out[k].host, first_out[k].host, ud_tensor_bytes(&out[k]));
    for (int k = 0; k < nsaved; k++) memcpy(in[k].host, saved_in[k].host, ud_tensor_bytes(&in[k]));
    snapshot_free(first_out, nfirst);
    snapshot_free(saved_in, nsaved);
    if (rc == UD_OK) {
        res->nout = nout;
        for (int k = 0; rc == UD_OK && k < nout; k++)
            rc = ud_compare_output(&out[k], &ref[k], ud_case_budget(c, k, out[k].dtype), c, in, k, &res->out[k]);
        if (rc == UD_OK && op->extra) rc = op->extra(c, in, out, ref, res);
        if (rc == UD_OK && op->cached) rc = check_cache(c, o, res);
        ud_findings_from_stats(res);
    }
    if (rc != UD_OK)
        ud_result_add_finding(res, UD_F_ERROR, "%s on %s: %s", rc == UD_EDEVICE ? "device error" :
                              rc == UD_ENODEV ? "backend unavailable" :
                              rc == UD_EUSAGE ? "input the kernel refuses" : "internal error",
                              ud_backend_name(o->backend), why[0] ? why : "see the message above");
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&in[k]);
        ud_tensor_free(&out[k]);
        ud_ref_free(&ref[k]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return rc;
}
