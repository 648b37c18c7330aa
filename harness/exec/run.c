/* run.c — one case, one backend: inputs, reference, the kernel or an implementation source
 * (optionally repeated, and cross-checked against the cpu kernel), comparison, the operator's
 * own checks and the post-run checks the caller attached. */
#include "harness/exec/run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numerics/status.h"
#include "harness/core/measure.h"
#include "harness/exec/padding.h"

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

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

static int run_kernel(const ud_case *c, ud_backend be, const ud_impl *impl, ud_tensor *in, int nin,
                      ud_tensor *out, int nout, char *why, size_t whyn);

/* run_kernel's arguments other than the case and its tensors, for a padded batch. */
typedef struct {
    ud_backend be;
    const ud_impl *impl;
    char *why;
    size_t whyn;
} padded_call;

static int run_padded(void *user, const ud_case *padded, ud_tensor *in, ud_tensor *out)
{
    const padded_call *p = user;
    return run_kernel(padded, p->be, p->impl, in, ud_case_ninputs(padded), out, ud_case_noutputs(padded), p->why,
                      p->whyn);
}

/* Poisons the outputs and fills them: the implementation source's function, or the registry
 * kernel (production or the case's variant). On cuda through device buffers. A padded case
 * runs on its padded batch, and its outputs are that batch's valid rows (harness/exec/padding.h). */
static int run_kernel(const ud_case *c, ud_backend be, const ud_impl *impl, ud_tensor *in, int nin,
                      ud_tensor *out, int nout, char *why, size_t whyn)
{
    for (int k = 0; k < nout; k++) ud_tensor_poison(&out[k]);
    if (c->padding > 0) {
        padded_call p = {be, impl, why, whyn};
        return ud_padding_run(c, in, out, run_padded, &p);
    }
    if (be != UD_BACKEND_CUDA) {   /* cpu, and external (host buffers, read from files) */
        if (impl) return impl->outputs(impl, c, in, out, 0);
        if (!c->op->run_cpu) { snprintf(why, whyn, "no cpu implementation"); return UD_EINTERNAL; }
        return c->op->run_cpu(c, c->mutant, in, out);
    }
    if (!impl && !c->op->run_cuda) { snprintf(why, whyn, "no cuda implementation compiled in"); return UD_ENODEV; }
    /* Inputs are uploaded on every run: a kernel that writes an input in place must not feed
     * its own output to a repeat run. */
    for (int k = 0; k < nin; k++) UD_TRY(ud_tensor_to_device(&in[k]));
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_poison_device(&out[k]));
    UD_TRY(impl ? impl->outputs(impl, c, in, out, 1) : c->op->run_cuda(c, c->mutant, in, out));
    UD_TRY(ud_device_sync());
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_to_host(&out[k]));
    return UD_OK;
}

/* One CUDA context serves every thread; its kernel phases run one at a time (library handles
 * with per-call state, and a fault must be attributable to exactly one case). */
static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER;

static void phase_begin(const ud_case *c, const ud_run_opts *o)
{
    if (o->backend == UD_BACKEND_CUDA) pthread_mutex_lock(&device_lock);
    if (o->hooks && o->hooks->before) o->hooks->before(o->hooks->user, c);
}

static void phase_end(const ud_case *c, const ud_run_opts *o, int rc)
{
    if (o->hooks && o->hooks->after) o->hooks->after(o->hooks->user, c, rc);
    if (o->backend == UD_BACKEND_CUDA) pthread_mutex_unlock(&device_lock);
}

/* *seconds (when not NULL): the kernel phase's wall time once the device is ours. */
static int run_kernel_hooked(const ud_case *c, const ud_run_opts *o, ud_tensor *in, int nin,
                             ud_tensor *out, int nout, char *why, size_t whyn, double *seconds)
{
    phase_begin(c, o);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run_kernel(c, o->backend, o->impl, in, nin, out, nout, why, whyn);
    if (seconds) *seconds = since(&t0);
    phase_end(c, o, rc);
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
        UD_TRY(run_kernel_hooked(c, o, in, nin, out, nout, why, whyn, NULL));
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
    if (rc == UD_OK) rc = run_kernel(c, UD_BACKEND_CPU, NULL, in, nin, cpu_out, nout, why, whyn);
    if (rc == UD_OK) bitwise_diff(res, UD_F_BACKEND_MISMATCH, "cuda vs cpu kernel", cuda_out, cpu_out, nout);
    snapshot_free(cpu_out, nout);
    return rc;
}

/* A post-run check runs kernels of its own: as a kernel phase (device lock, hooks). */
static int run_post_check(const ud_post_check *pc, const ud_case *c, const ud_run_opts *o, ud_result *res)
{
    phase_begin(c, o);
    int rc = pc->run(c, o->backend, res);
    phase_end(c, o, rc);
    return rc;
}

/* The post-run check that owns the case's variant, or NULL. */
static const ud_post_check *owner_of(const ud_case *c, const ud_run_opts *o)
{
    for (int k = 0; k < o->npost; k++)
        if (o->post[k]->owns && o->post[k]->applies(c) && o->post[k]->owns(c)) return o->post[k];
    return NULL;
}

/* The operator's own metrics and findings; outputs read from files drop its `unwritten-output`
 * findings (nothing there was poisoned by ulpdiff). */
static int run_extra(const ud_case *c, const ud_run_opts *o, const ud_tensor *in, const ud_tensor *out,
                     const ud_ref *ref, ud_result *res)
{
    int before = res->nfindings;
    int rc = c->op->extra(c, in, out, ref, res);
    if (o->impl && o->impl->outputs_from_files) {
        int kept = before;
        for (int k = before; k < res->nfindings; k++)
            if (res->findings[k].kind != UD_F_UNWRITTEN) res->findings[kept++] = res->findings[k];
        res->nfindings = kept;
    }
    return rc;
}

/* Inputs (generated, or the implementation source's), reference arrays and the reference. */
static int prepare(const ud_case *c, const ud_run_opts *o, ud_tensor *in, ud_tensor *out, ud_ref *ref, int nout,
                   ud_result *res)
{
    int rc = ud_case_make_tensors(c, in, out);
    if (rc == UD_OK) rc = (o->impl && o->impl->inputs) ? o->impl->inputs(o->impl, c, in) : c->op->generate(c, in);
    for (int k = 0; rc == UD_OK && k < nout; k++) rc = ud_ref_alloc(&ref[k], out[k].numel);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == UD_OK) rc = c->op->reference(c, in, ref, o->exact_mpfr);
    res->ref_seconds = since(&t0);
    return rc;
}

/* The kernel, its repeats and the cross-check; out holds the first run's outputs after. */
static int kernel_phases(const ud_case *c, const ud_run_opts *o, ud_tensor *in, int nin, ud_tensor *out, int nout,
                         ud_result *res, char *why, size_t whyn)
{
    /* Inputs as generated, for repeat runs and the cross-check (a kernel may write in place). */
    ud_tensor saved_in[UD_MAX_TENSORS], first_out[UD_MAX_TENSORS];
    int want_repeat = o->repeat > 1;
    int want_cross = o->cross_check && o->backend == UD_BACKEND_CUDA && c->op->bitwise_backends && !o->impl;
    int nsaved = 0, nfirst = 0, rc = UD_OK;
    if ((want_repeat || want_cross) && (rc = snapshot(in, nin, saved_in)) == UD_OK) nsaved = nin;
    if (rc == UD_OK) rc = run_kernel_hooked(c, o, in, nin, out, nout, why, whyn, &res->kernel_seconds);
    if (rc == UD_OK && (want_repeat || want_cross) && (rc = snapshot(out, nout, first_out)) == UD_OK) nfirst = nout;
    if (rc == UD_OK && want_repeat) rc = check_repeat(c, o, in, nin, saved_in, out, nout, first_out, res, why, whyn);
    if (rc == UD_OK && want_cross) rc = check_cross(c, in, nin, saved_in, first_out, nout, res, why, whyn);
    /* The statistics describe the first run's outputs. */
    for (int k = 0; k < nfirst; k++) memcpy(out[k].host, first_out[k].host, ud_tensor_bytes(&out[k]));
    for (int k = 0; k < nsaved; k++) memcpy(in[k].host, saved_in[k].host, ud_tensor_bytes(&in[k]));
    snapshot_free(first_out, nfirst);
    snapshot_free(saved_in, nsaved);
    return rc;
}

/* Comparison of every output, the operator's extra checks, the post-run checks, findings. */
static int judge(const ud_case *c, const ud_run_opts *o, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                 int nout, ud_result *res)
{
    int rc = UD_OK;
    res->nout = nout;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; rc == UD_OK && k < nout; k++) {
        rc = ud_compare_output(&out[k], &ref[k], ud_case_budget(c, k, out[k].dtype), c, in, k, &res->out[k]);
        if (rc == UD_OK) res->checked_elements += out[k].numel;
    }
    if (rc == UD_OK && c->op->extra) rc = run_extra(c, o, in, out, ref, res);
    res->compare_seconds = since(&t0);
    for (int k = 0; rc == UD_OK && k < o->npost; k++)
        if (o->post[k]->applies(c)) rc = run_post_check(o->post[k], c, o, res);
    ud_findings_from_stats(res);
    return rc;
}

int ud_run_case(const ud_case *c, const ud_run_opts *o, ud_result *res)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    res->c = *c;
    res->backend = o->backend;
    const ud_post_check *owner = owner_of(c, o);
    if (owner) {
        /* A variant only this check sees (a cache keyed wrongly) runs the production kernels
         * inside the check: it alone judges the case. */
        int crc = run_post_check(owner, c, o, res);
        if (crc != UD_OK) ud_result_add_finding(res, UD_F_ERROR, "%s on %s: see the message above", owner->what, ud_backend_name(o->backend));
        res->seconds = since(&t0);
        return crc;
    }
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    ud_ref ref[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    memset(ref, 0, sizeof ref);
    char why[256] = "";
    int rc = prepare(c, o, in, out, ref, nout, res);
    if (rc == UD_OK) rc = kernel_phases(c, o, in, nin, out, nout, res, why, sizeof why);
    if (rc == UD_OK) rc = judge(c, o, in, out, ref, nout, res);
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
    res->seconds = since(&t0);
    return rc;
}
