/* result.c — the result of one case (result.h): findings, their names, backend names. */
#include "harness/core/result.h"

#include <stdarg.h>
#include <stdio.h>

const char *const ud_finding_names[] = {
    "tolerance", "nan-mismatch", "unwritten-output", "nondeterminism", "cache-stale", "error",
    "backend-mismatch", "rank-mismatch",
};
_Static_assert(sizeof ud_finding_names / sizeof ud_finding_names[0] == UD_F_KINDS,
               "every finding kind needs a name");

const char *ud_backend_name(ud_backend b)
{
    return b == UD_BACKEND_CUDA ? "cuda" : b == UD_BACKEND_CPU ? "cpu" : b == UD_BACKEND_EXTERNAL ? "external" : "ref";
}

void ud_result_add_finding(ud_result *r, ud_finding_kind kind, const char *fmt, ...)
{
    if (r->nfindings >= (int)(sizeof r->findings / sizeof r->findings[0])) return;
    ud_finding *f = &r->findings[r->nfindings++];
    f->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
}

int ud_result_failed(const ud_result *r) { return r->nfindings > 0; }

int ud_result_has(const ud_result *r, ud_finding_kind kind)
{
    for (int i = 0; i < r->nfindings; i++)
        if (r->findings[i].kind == kind) return 1;
    return 0;
}
