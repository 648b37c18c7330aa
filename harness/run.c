/* run.c — one case, one backend. */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "compare.h"

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

static int count_names(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

static ud_budget effective_budget(const ud_case *c, int k, ud_dtype t)
{
    ud_budget b = c->op->budget(c, k);
    if (!isnan(c->budget_ulp[t])) b.ulp = c->budget_ulp[t];
    if (!isnan(c->budget_scaled)) b.scaled = c->budget_scaled;
    return b;
}

static int run_kernel(const ud_case *c, const ud_run_opts *o, ud_tensor *in, int nin,
                      ud_tensor *out, int nout, char *why, size_t whyn)
{
    for (int k = 0; k < nout; k++) ud_tensor_poison(&out[k]);
    if (o->backend == UD_BACKEND_CPU) {
        if (!c->op->run_cpu) { snprintf(why, whyn, "no cpu implementation"); return UD_EINTERNAL; }
        return c->op->run_cpu(c, c->mutant, in, out);
    }
    if (!c->op->run_cuda) { snprintf(why, whyn, "no cuda implementation compiled in"); return UD_ENODEV; }
    for (int k = 0; k < nin; k++) UD_TRY(ud_tensor_to_device(&in[k]));
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_poison_device(&out[k]));
    UD_TRY(c->op->run_cuda(c, c->mutant, in, out));
    UD_TRY(ud_device_sync());
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_to_host(&out[k]));
    return UD_OK;
}

int ud_run_case(const ud_case *c, const ud_run_opts *o, ud_result *res)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    res->c = *c;
    res->backend = o->backend;
    const ud_op *op = c->op;
    int nin = count_names(op->inputs), nout = count_names(op->outputs);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    ud_ref ref[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    memset(ref, 0, sizeof ref);
    char why[256] = "";
    int rc = op->make_tensors(c, in, out);
    if (rc == UD_OK) rc = op->generate(c, in);
    for (int k = 0; rc == UD_OK && k < nout; k++) rc = ud_ref_alloc(&ref[k], out[k].numel);
    if (rc == UD_OK) rc = op->reference(c, in, ref, o->exact_mpfr);
    if (rc == UD_OK) rc = run_kernel(c, o, in, nin, out, nout, why, sizeof why);
    if (rc == UD_OK) {
        res->nout = nout;
        for (int k = 0; rc == UD_OK && k < nout; k++)
            rc = ud_compare_output(&out[k], &ref[k], effective_budget(c, k, out[k].dtype), c, in, k, &res->out[k]);
        if (rc == UD_OK && op->extra) rc = op->extra(c, in, out, ref, res);
        ud_findings_from_stats(res);
    }
    if (rc != UD_OK)
        ud_result_add_finding(res, UD_F_ERROR, "%s on %s: %s", rc == UD_EDEVICE ? "device error" :
                              rc == UD_ENODEV ? "backend unavailable" : "internal error",
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
