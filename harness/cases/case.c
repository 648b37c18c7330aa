/* case.c — parameter access, labels, and the tensors of a case: their shapes come from the
 * operator (ud_op.shapes), the element cap and the allocation from here, for every operator
 * alike (separate from the registry table so the core library does not depend on the
 * operators). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/ops/registry.h"
#include "harness/cases/padding.h"
#include "harness/cases/param_text.h"
#include "numerics/status.h"

int ud_param_index(const ud_op *op, const char *name)
{
    for (int i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, name) == 0) return i;
    fprintf(stderr, "ulpdiff: internal error: operator %s has no parameter '%s'\n", op->name, name);
    abort();
}

int64_t ud_case_int(const ud_case *c, const char *name) { return c->p[ud_param_index(c->op, name)].i; }
double ud_case_real(const ud_case *c, const char *name) { return c->p[ud_param_index(c->op, name)].d; }
ud_dtype ud_case_dtype(const ud_case *c, const char *name) { return (ud_dtype)c->p[ud_param_index(c->op, name)].i; }

const char *ud_case_choice(const ud_case *c, const char *name)
{
    int k = ud_param_index(c->op, name);
    return c->op->params[k].choices[c->p[k].i];
}

void ud_case_format_label(ud_case *c)
{
    size_t n = sizeof c->label, off = 0;
    off += (size_t)snprintf(c->label, n, "%s", c->op->name);
    if (c->mutant && off < n)
        off += (size_t)snprintf(c->label + off, n - off, ".%s", c->op->mutants[c->mutant - 1].name);
    if (off < n) off += (size_t)snprintf(c->label + off, n - off, "(");
    for (int i = 0; i < c->op->nparams && off < n; i++) {
        char v[128];
        ud_param_value_text(c, i, 0, v, sizeof v);
        off += (size_t)snprintf(c->label + off, n - off, "%s%s=%s", i ? ", " : "", c->op->params[i].name, v);
    }
    if (c->padding > 0 && off < n) off += (size_t)snprintf(c->label + off, n - off, ", padding=%d", c->padding);
    if (off < n) snprintf(c->label + off, n - off, ", seed=%llu)", (unsigned long long)c->seed);
}

/* ---- the case's tensors: one owner for their sizes ---- */

static int count_tensors(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

int ud_case_ninputs(const ud_case *c) { return count_tensors(c->op->inputs); }
int ud_case_noutputs(const ud_case *c) { return count_tensors(c->op->outputs); }

/* Shapes of every tensor of the case (no buffers), and the first one over the element cap. */
static int case_shapes(const ud_case *c, ud_tensor *in, ud_tensor *out, char *msg, size_t n)
{
    memset(in, 0, UD_MAX_TENSORS * sizeof *in);
    memset(out, 0, UD_MAX_TENSORS * sizeof *out);
    int rc = c->op->shapes(c, in, out);
    if (rc != UD_OK) {
        snprintf(msg, n, "the tensors' shapes do not fit in memory");
        return rc;
    }
    for (int io = 0; io < 2; io++) {
        const ud_tensor *t = io ? out : in;
        int nt = io ? ud_case_noutputs(c) : ud_case_ninputs(c);
        for (int k = 0; k < nt; k++) {
            if ((double)t[k].numel <= UD_MAX_ELEMENTS) continue;
            int off = snprintf(msg, n, "%s %s [", io ? "output" : "input", t[k].name);
            for (int d = 0; d < t[k].ndim && off > 0 && (size_t)off < n; d++)
                off += snprintf(msg + off, n - (size_t)off, "%s%lld", d ? ", " : "", (long long)t[k].shape[d]);
            if (off > 0 && (size_t)off < n)
                snprintf(msg + off, n - (size_t)off, "] has %.4g elements, more than this tool allocates for one tensor (%.2g)",
                         (double)t[k].numel, UD_MAX_ELEMENTS);
            return UD_EUSAGE;
        }
    }
    return UD_OK;
}

int ud_case_validate(const ud_case *c, char *msg, size_t n)
{
    if (c->op->validate && c->op->validate(c, msg, n)) return -1;
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    if (case_shapes(c, in, out, msg, n) != UD_OK) return -1;
    return c->padding ? ud_padding_check(c, msg, n) : 0;
}

double ud_case_footprint(const ud_case *c)
{
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    char msg[256];
    if (case_shapes(c, in, out, msg, sizeof msg) != UD_OK) return INFINITY;
    double bytes = 0.0;
    /* Inputs: the tensors and one saved copy (repeat runs, cross-check). Outputs: the tensor,
     * two snapshots (first run, cpu run), the reference's two candidates and condition scale
     * (doubles), and the comparison's per-element error (float). */
    for (int k = 0; k < ud_case_ninputs(c); k++) bytes += 2.0 * (double)ud_tensor_bytes(&in[k]);
    for (int k = 0; k < ud_case_noutputs(c); k++)
        bytes += 3.0 * (double)ud_tensor_bytes(&out[k]) + (3 * 8 + 4) * (double)out[k].numel;
    /* A padded run also holds the padded batch's inputs and outputs while its kernel runs. */
    ud_case pc;
    if (c->padding > 0 && ud_padding_case(c, &pc) == UD_OK) {
        if (case_shapes(&pc, in, out, msg, sizeof msg) != UD_OK) return INFINITY;
        for (int k = 0; k < ud_case_ninputs(c); k++) bytes += (double)ud_tensor_bytes(&in[k]);
        for (int k = 0; k < ud_case_noutputs(c); k++) bytes += (double)ud_tensor_bytes(&out[k]);
    }
    return bytes;
}

int ud_case_make_tensors(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    char msg[512];
    int rc = case_shapes(c, in, out, msg, sizeof msg);
    if (rc != UD_OK) { ud_error("%s: %s", c->label, msg); return rc; }
    for (int k = 0; k < ud_case_ninputs(c); k++)
        if ((rc = ud_tensor_alloc_host(&in[k])) != UD_OK) goto fail;
    for (int k = 0; k < ud_case_noutputs(c); k++)
        if ((rc = ud_tensor_alloc_host(&out[k])) != UD_OK) goto fail;
    return UD_OK;
fail:
    for (int k = 0; k < UD_MAX_TENSORS; k++) { ud_tensor_free(&in[k]); ud_tensor_free(&out[k]); }
    return rc;
}
