/* module.c — a module instance of the cache checker (module.h): the case's tensors, the
 * parameters as handles in a pool, the cache, and one checked call. Also the ud_call helpers
 * (cache_check.h) an operator's forward() uses to reach the call's device.
 *
 * A call runs the module's cached instance, then a fresh uncached instance on the same device
 * with the same parameters, and compares the outputs bit for bit: the fresh instance is the
 * oracle, so a cache is judged only by whether it changes what the operator computes. */
#include "harness/cache/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"

/* ------------------------------------------------------------------ calls */

static int is_param_input(const ud_call *x, int k) { return (x->param_mask >> k) & 1u; }

static void drop_device_buffers(ud_tensor *t)
{
    if (t->dev) ud_device_free(t->dev);
    t->dev = NULL;
}

int ud_call_begin(const ud_call *x)
{
    if (ud_dev_is_host(x->device)) return UD_OK;
    UD_TRY(ud_dev_select(x->device));
    for (int k = 0; k < x->nin; k++) {
        drop_device_buffers(&x->in[k]);   /* a buffer left by a failed call may be on another GPU */
        if (!is_param_input(x, k)) UD_TRY(ud_tensor_to_device(&x->in[k]));
    }
    for (int k = 0; k < x->nout; k++) {
        drop_device_buffers(&x->out[k]);
        UD_TRY(ud_tensor_poison_device(&x->out[k]));
    }
    return UD_OK;
}

int ud_call_end(const ud_call *x)
{
    if (ud_dev_is_host(x->device)) return UD_OK;
    UD_TRY(ud_dev_sync(x->device));
    for (int k = 0; k < x->nout; k++) UD_TRY(ud_tensor_to_host(&x->out[k]));
    for (int k = 0; k < x->nin; k++) drop_device_buffers(&x->in[k]);
    for (int k = 0; k < x->nout; k++) drop_device_buffers(&x->out[k]);
    return UD_OK;
}

void *ud_call_in(const ud_call *x, int k) { return ud_dev_is_host(x->device) ? x->in[k].host : x->in[k].dev; }
void *ud_call_out(const ud_call *x, int k) { return ud_dev_is_host(x->device) ? x->out[k].host : x->out[k].dev; }

/* ------------------------------------------------------------------ the module */

static void free_tensors(ud_module *m)
{
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&m->in[k]);
        ud_tensor_free(&m->out[k]);
        free(m->got[k]);
        m->got[k] = NULL;
    }
    memset(m->in, 0, sizeof m->in);
    memset(m->out, 0, sizeof m->out);
}

int ud_module_make_tensors(ud_module *m)
{
    free_tensors(m);
    const ud_op *op = m->c.op;
    char msg[256] = "";
    if (ud_case_validate(&m->c, msg, sizeof msg)) {
        ud_error("cache check: %s: %s", m->c.label, msg);
        return UD_EUSAGE;
    }
    UD_TRY(ud_case_make_tensors(&m->c, m->in, m->out));
    UD_TRY(op->generate(&m->c, m->in));
    for (int k = 0; k < m->nout; k++) {
        m->got[k] = malloc(ud_tensor_bytes(&m->out[k]) + 1);
        UD_ALLOC_CHECK(m->got[k]);
    }
    return UD_OK;
}

void ud_module_free(ud_module *m)
{
    for (int k = 0; k < m->np; k++)
        if (m->p[k].block) ud_phandle_free(m->pool, &m->p[k]);
    ud_pool_destroy(m->pool);
    m->pool = NULL;
    if (m->cache.pool) ud_cache_release(&m->cache);
    free_tensors(m);
}

int ud_module_init(ud_module *m, const ud_case *c, ud_cache_policy policy, const ud_cache_check_opts *o)
{
    memset(m, 0, sizeof *m);
    m->cop = c->op->cached;
    if (!m->cop) { ud_error("cache check: %s keeps no derived state", c->op->name); return UD_EUSAGE; }
    m->c0 = m->c = *c;
    m->nin = ud_case_ninputs(c);
    m->nout = ud_case_noutputs(c);
    m->gpus = o->backend == UD_BACKEND_CUDA ? ud_dev_count() : 0;
    m->home = o->backend == UD_BACKEND_CUDA ? 0 : UD_DEV_CPU;
    m->device = m->home;
    UD_TRY(ud_pool_create(&m->pool));
    UD_TRY(ud_cache_init(&m->cache, policy));
    UD_TRY(ud_module_make_tensors(m));
    m->np = ud_cache_names_len(m->cop->params);
    if (m->np > UD_CACHE_MAX_PARAMS) { ud_error("cache check: too many parameters"); return UD_EINTERNAL; }
    for (int k = 0; k < m->np; k++) {
        m->pidx[k] = -1;
        for (int j = 0; j < m->nin; j++)
            if (strcmp(c->op->inputs[j], m->cop->params[k]) == 0) m->pidx[k] = j;
        if (m->pidx[k] < 0) {
            ud_error("cache check: %s has no input '%s'", c->op->name, m->cop->params[k]);
            return UD_EINTERNAL;
        }
        m->param_mask |= 1u << m->pidx[k];
        const ud_tensor *t = &m->in[m->pidx[k]];
        UD_TRY(ud_phandle_new(m->pool, &m->p[k], m->cop->params[k], t->dtype, t->numel, m->home, t->host));
    }
    return UD_OK;
}

/* ------------------------------------------------------------------ one checked call */

static int forward(ud_module *m, ud_cache *cache)
{
    for (int k = 0; k < m->nout; k++) ud_tensor_poison(&m->out[k]);
    ud_call x = {&m->c, m->p, m->device, m->in, m->out, m->nin, m->nout, m->param_mask, cache};
    return m->cop->forward(&x);
}

/* What identifies a parameter's storage and contents, to see whether a call touched it. */
typedef struct { ud_block *block; uint64_t id, version; int device; ud_dtype dtype; } pstate;

/* A parameter the call replaced or modified, or one that is a derived copy of the cache: a
 * model would save the derived copy. Returns 1 with oc set when there is one. */
static int derived_copy_saved(const ud_module *m, const pstate *before, const char *dev, ud_outcome *oc)
{
    for (int k = 0; k < m->np; k++) {
        const ud_phandle *h = &m->p[k];
        int changed = h->block != before[k].block || ud_phandle_alloc_id(h) != before[k].id ||
                      ud_phandle_version(h) != before[k].version || h->device != before[k].device ||
                      h->dtype != before[k].dtype;
        if (changed || ud_cache_owns(&m->cache, ud_phandle_alloc_id(h))) {
            oc->verdict = UD_VERDICT_SAVED;
            snprintf(oc->msg, sizeof oc->msg,
                     "call %d on %s: parameter %s %s: the derived copy is among the parameters a model would save "
                     "(now %s, version %llu)", m->ncalls, dev, h->name,
                     changed ? "was replaced or modified by the call" : "is one of the cache's derived copies",
                     ud_dtype_name(h->dtype), (unsigned long long)ud_phandle_version(h));
            return 1;
        }
    }
    return 0;
}

/* The cached instance's outputs (m->got) against the fresh instance's (m->out): the first
 * output that differs makes the call stale. */
static void compare_with_fresh(const ud_module *m, const char *dev, ud_outcome *oc)
{
    for (int k = 0; k < m->nout; k++) {
        const ud_tensor *t = &m->out[k];
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < t->numel; i++)
            if (ud_get_bits(t->dtype, m->got[k], i) != ud_get_bits(t->dtype, t->host, i) && !bad++) first = i;
        if (!bad) continue;
        char at[64];
        ud_tensor_coords(t, first, at, sizeof at);
        double g = ud_get(t->dtype, m->got[k], first), f = ud_get(t->dtype, t->host, first);
        oc->verdict = UD_VERDICT_STALE;
        snprintf(oc->msg, sizeof oc->msg,
                 "call %d on %s: %s: %zu of %zu elements differ from a fresh uncached instance; first at %s: got 0x%llx "
                 "(%.9g) fresh 0x%llx (%.9g)", m->ncalls, dev, t->name, bad, t->numel, at,
                 (unsigned long long)ud_get_bits(t->dtype, m->got[k], first), g,
                 (unsigned long long)ud_get_bits(t->dtype, t->host, first), f);
        return;
    }
}

/* One call: the module's cached instance, then a fresh uncached one on the same device with
 * the same parameters, compared bit for bit; the cache's residency events; the parameters
 * unchanged by the call and disjoint from the derived copies. */
int ud_module_call(ud_module *m, ud_outcome *oc)
{
    char dev[16];
    ud_dev_name(m->device, dev, sizeof dev);
    oc->called = 1;
    oc->verdict = UD_VERDICT_PASS;
    m->ncalls++;
    pstate before[UD_CACHE_MAX_PARAMS];
    for (int k = 0; k < m->np; k++)
        before[k] = (pstate){m->p[k].block, ud_phandle_alloc_id(&m->p[k]), ud_phandle_version(&m->p[k]), m->p[k].device,
                             m->p[k].dtype};
    ud_cache_clear_events(&m->cache);
    uint64_t conv0 = m->cache.conversions;
    UD_TRY(forward(m, &m->cache));
    oc->conversions = m->cache.conversions - conv0;
    for (int k = 0; k < m->nout; k++) memcpy(m->got[k], m->out[k].host, ud_tensor_bytes(&m->out[k]));
    if (derived_copy_saved(m, before, dev, oc)) return UD_OK;

    ud_cache fresh;
    UD_TRY(ud_cache_init(&fresh, UD_CACHE_NO_REUSE));
    int rc = forward(m, &fresh);
    ud_cache_release(&fresh);
    UD_TRY(rc);

    if (m->cache.wrong_device) {
        oc->verdict = UD_VERDICT_STALE;
        snprintf(oc->msg, sizeof oc->msg, "call %d on %s: %s", m->ncalls, dev, m->cache.wrong_device_msg);
        return UD_OK;
    }
    compare_with_fresh(m, dev, oc);
    return UD_OK;
}
