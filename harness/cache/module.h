/* module.h — private to harness/cache/: the module the cache checker drives, shared by its
 * parts (module.c: the instance and one checked call; steps.c: the steps that mutate it and
 * their text; scenarios.c, sequence.c, seqfile.c: what runs steps and what writes them down).
 * cache_check.h is the public interface; nothing outside harness/cache/ includes this.
 *
 * A module is what an inference engine holds for one layer: the parameters as handles in a
 * pool (so that free + allocate reuses an address, as a caching allocator does), the layer's
 * cache, and the case's host tensors for the activation dtype and configuration the steps
 * left. Every call is checked against a fresh uncached instance (ud_module_call). */
#ifndef UD_CACHE_MODULE_H
#define UD_CACHE_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/cache/cache_check.h"

typedef struct {
    const ud_cached_op *cop;
    ud_case c0;                /* the case as given */
    ud_case c;                 /* as the steps left it (activation dtype, configuration) */
    ud_pool *pool;             /* parameters */
    int np;
    int pidx[UD_CACHE_MAX_PARAMS];
    ud_phandle p[UD_CACHE_MAX_PARAMS];
    int device, home, gpus;
    ud_cache cache;
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    void *got[UD_MAX_TENSORS]; /* the cached instance's outputs of the current call */
    int nin, nout;
    unsigned param_mask;
    uint64_t gen;              /* generations of parameter contents handed out */
    int ncalls;
} ud_module;

/* What one step did. */
typedef struct {
    int called;
    ud_verdict verdict;        /* PASS or what failed */
    uint64_t conversions;      /* derivations the call performed */
    int moved_address;         /* realloc: 1 when the new storage is NOT at the freed address */
    char msg[440];
} ud_outcome;

#define UD_STEP(K, P, A) ((ud_step){(K), (P), (A)})

/* Length of a NULL-terminated name list of a ud_cached_op or a parameter (its parameters,
 * their dtypes, a parameter's choices); a case's tensors are counted by ud_case_ninputs /
 * ud_case_noutputs (registry.h). */
static inline int ud_cache_names_len(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

/* module.c */
int ud_module_init(ud_module *m, const ud_case *c, ud_cache_policy policy, const ud_cache_check_opts *o);
void ud_module_free(ud_module *m);
/* The case's host tensors for the current activation dtype and configuration. */
int ud_module_make_tensors(ud_module *m);
/* One call, checked against a fresh uncached instance; the verdict goes to *oc. */
int ud_module_call(ud_module *m, ud_outcome *oc);

/* steps.c */
/* Applies one step; one that cannot apply in the state it meets does nothing. */
int ud_module_step(ud_module *m, const ud_step *s, ud_outcome *oc);
/* Index of the operator's activation-dtype parameter, or -1. */
int ud_module_act_param(const ud_module *m);
/* "write weight", "cast bias fp16", "move cuda:1", "config 1" */
void ud_step_text(const ud_cached_op *cop, const ud_step *s, char *buf, size_t n);
/* "base=1000000 style=gptj": the parameters in which b differs from a. */
void ud_cache_config_diff(const ud_case *a, const ud_case *b, char *buf, size_t n);

#endif
