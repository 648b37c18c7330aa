/* param_text.c — parameter values as text and JSON (param_text.h). */
#include "harness/cases/param_text.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void ud_real_text(double d, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) return;
    }
}

void ud_param_value_text(const ud_case *c, int k, int exact, char *buf, size_t n)
{
    const ud_param *p = &c->op->params[k];
    switch (p->kind) {
    case UD_P_INT: snprintf(buf, n, "%lld", (long long)c->p[k].i); break;
    case UD_P_REAL:
        if (exact) ud_real_text(c->p[k].d, buf, n);
        else snprintf(buf, n, "%g", c->p[k].d);
        break;
    case UD_P_CHOICE: snprintf(buf, n, "%s", p->choices[c->p[k].i]); break;
    case UD_P_DTYPE: snprintf(buf, n, "%s", ud_dtype_name((ud_dtype)c->p[k].i)); break;
    }
}

json_t *ud_params_json(const ud_case *c)
{
    json_t *o = json_object();
    for (int k = 0; k < c->op->nparams; k++) {
        const ud_param *p = &c->op->params[k];
        json_t *v = NULL;
        switch (p->kind) {
        case UD_P_INT: v = json_integer((json_int_t)c->p[k].i); break;
        case UD_P_REAL: v = isfinite(c->p[k].d) ? json_real(c->p[k].d) : json_null(); break;   /* 17 digits: round-trips */
        case UD_P_CHOICE: v = json_string(p->choices[c->p[k].i]); break;
        case UD_P_DTYPE: v = json_string(ud_dtype_name((ud_dtype)c->p[k].i)); break;
        }
        json_object_set_new(o, p->name, v);
    }
    return o;
}
