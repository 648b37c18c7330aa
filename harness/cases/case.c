/* case.c — parameter access and labels for cases (separate from the registry table so the
 * core library does not depend on the operators). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/ops/registry.h"

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
        const ud_param *p = &c->op->params[i];
        const char *sep = i ? ", " : "";
        switch (p->kind) {
        case UD_P_INT: off += (size_t)snprintf(c->label + off, n - off, "%s%s=%lld", sep, p->name, (long long)c->p[i].i); break;
        case UD_P_REAL: off += (size_t)snprintf(c->label + off, n - off, "%s%s=%g", sep, p->name, c->p[i].d); break;
        case UD_P_CHOICE: off += (size_t)snprintf(c->label + off, n - off, "%s%s=%s", sep, p->name, p->choices[c->p[i].i]); break;
        case UD_P_DTYPE: off += (size_t)snprintf(c->label + off, n - off, "%s%s=%s", sep, p->name, ud_dtype_name((ud_dtype)c->p[i].i)); break;
        }
    }
    if (off < n) snprintf(c->label + off, n - off, ", seed=%llu)", (unsigned long long)c->seed);
}
