/* run.h — running one case on one backend: build inputs, reference, poison outputs, run the
 * kernel (production or a known-bug variant), compare. */
#ifndef UD_RUN_H
#define UD_RUN_H

#include "result.h"

typedef struct {
    ud_backend backend;
    int exact_mpfr;        /* reference through MPFR instead of the fast path */
    const char *artifact_dir;   /* where a failing case leaves its full tensors (NULL: none) */
} ud_run_opts;

/* Fills *res. Returns UD_OK when the case ran (pass or findings); a device or internal error
 * is recorded as an `error` finding and returned as UD_EDEVICE / UD_EINTERNAL. */
int ud_run_case(const ud_case *c, const ud_run_opts *o, ud_result *res);

/* Reference arrays for n elements (ud_ref_free releases them). */
int ud_ref_alloc(ud_ref *r, size_t n);
void ud_ref_free(ud_ref *r);

#endif
