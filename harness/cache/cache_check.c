/* cache_check.c — the cache-invalidation checker (cache_check.h): a module (parameters as
 * handles, a cache), the steps that mutate it, the scenarios, the randomized stateful mode with
 * shrinking, and reproducer files. docs/cache-checks.md describes all of it for users. */
#include "harness/cache/cache_check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "numerics/ud_portable.h"
#include "numerics/status.h"
#include "harness/cases/spec.h"

const char *const ud_scenario_names[] = {
    "repeat", "inplace_bump", "inplace_nobump", "aba", "replace", "dtype_change", "device_change",
    "config_change", "state_dict", NULL,
};
_Static_assert(sizeof ud_scenario_names / sizeof ud_scenario_names[0] == UD_SC_COUNT + 1, "every scenario needs a name");

const char *const ud_verdict_names[] = {"n/a", "pass", "unobservable", "NOT-REUSED", "SAVED", "CACHE-STALE", "ERROR", NULL};

const char *const ud_step_names[] = {
    "call", "write", "write_nobump", "load", "realloc", "replace", "cast", "move", "view", "act_dtype", "config",
    "invalidate", NULL,
};
_Static_assert(sizeof ud_step_names / sizeof ud_step_names[0] == UD_STEP_KINDS + 1, "every step needs a name");

int ud_verdict_is_finding(ud_verdict v)
{
    return v == UD_VERDICT_NOT_REUSED || v == UD_VERDICT_SAVED || v == UD_VERDICT_STALE || v == UD_VERDICT_ERROR;
}

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
} module;

typedef struct {
    int called;
    ud_verdict verdict;        /* PASS or what failed */
    uint64_t conversions;      /* derivations the call performed */
    int moved_address;         /* realloc: 1 when the new storage is NOT at the freed address */
    char msg[440];
} outcome;

static int count_names(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

static void free_tensors(module *m)
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

/* The case's inputs and outputs (host), for the current activation dtype and configuration. */
static int make_tensors(module *m)
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

static void module_free(module *m)
{
    for (int k = 0; k < m->np; k++)
        if (m->p[k].block) ud_phandle_free(m->pool, &m->p[k]);
    ud_pool_destroy(m->pool);
    m->pool = NULL;
    if (m->cache.pool) ud_cache_release(&m->cache);
    free_tensors(m);
}

static int module_init(module *m, const ud_case *c, ud_cache_policy policy, const ud_cache_check_opts *o)
{
    memset(m, 0, sizeof *m);
    m->cop = c->op->cached;
    if (!m->cop) { ud_error("cache check: %s keeps no derived state", c->op->name); return UD_EUSAGE; }
    m->c0 = m->c = *c;
    m->nin = count_names(c->op->inputs);
    m->nout = count_names(c->op->outputs);
    m->gpus = o->backend == UD_BACKEND_CUDA ? ud_dev_count() : 0;
    m->home = o->backend == UD_BACKEND_CUDA ? 0 : UD_DEV_CPU;
    m->device = m->home;
    UD_TRY(ud_pool_create(&m->pool));
    UD_TRY(ud_cache_init(&m->cache, policy));
    UD_TRY(make_tensors(m));
    m->np = count_names(m->cop->params);
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

/* New contents for parameter k in its current dtype: the operator's own generator with a seed
 * of its own per generation, so every write holds values the parameter has not held before. */
static int new_contents(module *m, int k, void **buf)
{
    ud_case t = m->c;
    t.seed = ud_mix64(m->c0.seed ^ (0x9e3779b97f4a7c15ull * ++m->gen));
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    int rc = ud_case_make_tensors(&t, in, out);
    if (rc == UD_OK) rc = t.op->generate(&t, in);
    const ud_phandle *h = &m->p[k];
    *buf = malloc(ud_phandle_bytes(h) + 1);
    if (!*buf && rc == UD_OK) { ud_error("cache check: out of memory"); rc = UD_EINTERNAL; }
    if (rc == UD_OK) {
        const ud_tensor *src = &in[m->pidx[k]];
        for (size_t i = 0; i < h->numel; i++) ud_set(h->dtype, *buf, i, ud_get(src->dtype, src->host, i));
    }
    for (int j = 0; j < UD_MAX_TENSORS; j++) {
        ud_tensor_free(&in[j]);
        ud_tensor_free(&out[j]);
    }
    if (rc != UD_OK) { free(*buf); *buf = NULL; }
    return rc;
}

static int forward(module *m, ud_cache *cache)
{
    for (int k = 0; k < m->nout; k++) ud_tensor_poison(&m->out[k]);
    ud_call x = {&m->c, m->p, m->device, m->in, m->out, m->nin, m->nout, m->param_mask, cache};
    return m->cop->forward(&x);
}

typedef struct { ud_block *block; uint64_t id, version; int device; ud_dtype dtype; } pstate;

/* One call: the module's cached instance, then a fresh uncached one on the same device with
 * the same parameters, compared bit for bit; the cache's residency events; the parameters
 * unchanged by the call and disjoint from the derived copies. */
static int module_call(module *m, outcome *oc)
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
            return UD_OK;
        }
    }

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
        return UD_OK;
    }
    return UD_OK;
}

/* Is dt one of the storage dtypes the operator's parameters may take? */
static int param_dtype_ok(const module *m, ud_dtype dt)
{
    for (int i = 0; m->cop->param_dtypes && m->cop->param_dtypes[i]; i++) {
        ud_dtype d;
        if (ud_dtype_parse(m->cop->param_dtypes[i], &d) == 0 && d == dt) return 1;
    }
    return 0;
}

static int act_param_index(const module *m)
{
    const ud_op *op = m->c.op;
    if (!m->cop->act_dtype_param) return -1;
    for (int i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, m->cop->act_dtype_param) == 0 && op->params[i].kind == UD_P_DTYPE) return i;
    return -1;
}

static int act_dtype_ok(const module *m, ud_dtype dt)
{
    int a = act_param_index(m);
    if (a < 0) return 0;
    for (int i = 0; m->c.op->params[a].choices[i]; i++) {
        ud_dtype d;
        if (ud_dtype_parse(m->c.op->params[a].choices[i], &d) == 0 && d == dt) return 1;
    }
    return 0;
}

static int device_ok(const module *m, int dev) { return ud_dev_is_host(dev) ? dev >= UD_DEV_CPU1 : dev < m->gpus; }

static int params_on_host(const module *m)
{
    for (int k = 0; k < m->np; k++)
        if (m->p[k].block->space >= 0) return 0;
    return ud_dev_is_host(m->device);
}

/* Applies one step. A step that cannot apply in the state it meets (a view of device memory,
 * a cast to the dtype the parameter has) does nothing, so every subsequence of a sequence is a
 * sequence: shrinking needs that. */
static int module_step(module *m, const ud_step *s, outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    oc->verdict = UD_VERDICT_PASS;
    int k = s->param;
    int needs_param = s->kind >= UD_STEP_WRITE && s->kind <= UD_STEP_CAST;
    if (needs_param && (k < 0 || k >= m->np)) return UD_OK;
    void *buf = NULL;
    switch (s->kind) {
    case UD_STEP_CALL: return module_call(m, oc);
    case UD_STEP_WRITE:
    case UD_STEP_WRITE_NOBUMP:
    case UD_STEP_LOAD:
        UD_TRY(new_contents(m, k, &buf));
        {
            int rc = ud_phandle_write(&m->p[k], buf, s->kind == UD_STEP_WRITE);
            free(buf);
            UD_TRY(rc);
        }
        if (s->kind == UD_STEP_LOAD) ud_cache_invalidate(&m->cache);
        return UD_OK;
    case UD_STEP_REALLOC:
    case UD_STEP_REPLACE: {
        UD_TRY(new_contents(m, k, &buf));
        ud_phandle *h = &m->p[k], nh;
        void *old = ud_phandle_data(h);
        int rc;
        if (s->kind == UD_STEP_REALLOC) {   /* free, then allocate: the pool hands back the address */
            ud_phandle_free(m->pool, h);
            rc = ud_phandle_new(m->pool, &nh, m->cop->params[k], h->dtype, h->numel, h->device, buf);
            oc->moved_address = rc == UD_OK && ud_phandle_data(&nh) != old;
        } else {                            /* allocate while the old one lives: a new address */
            rc = ud_phandle_new(m->pool, &nh, m->cop->params[k], h->dtype, h->numel, h->device, buf);
            if (rc == UD_OK) ud_phandle_free(m->pool, h);
        }
        free(buf);
        UD_TRY(rc);
        *h = nh;
        return UD_OK;
    }
    case UD_STEP_CAST:
        if ((ud_dtype)s->arg == m->p[k].dtype || !param_dtype_ok(m, (ud_dtype)s->arg)) return UD_OK;
        return ud_phandle_cast(m->pool, &m->p[k], (ud_dtype)s->arg);
    case UD_STEP_MOVE:
        if (!device_ok(m, s->arg) || s->arg == m->device) return UD_OK;
        for (int j = 0; j < m->np; j++) UD_TRY(ud_phandle_move(m->pool, &m->p[j], s->arg));
        m->device = s->arg;
        return UD_OK;
    case UD_STEP_VIEW:
        if (!ud_dev_is_host(s->arg) || !device_ok(m, s->arg) || !params_on_host(m)) return UD_OK;
        for (int j = 0; j < m->np; j++) UD_TRY(ud_phandle_view(&m->p[j], s->arg));
        m->device = s->arg;
        return UD_OK;
    case UD_STEP_ACT_DTYPE: {
        int a = act_param_index(m);
        if (a < 0 || !act_dtype_ok(m, (ud_dtype)s->arg) || m->c.p[a].i == s->arg) return UD_OK;
        m->c.p[a].i = s->arg;
        ud_case_format_label(&m->c);
        return make_tensors(m);
    }
    case UD_STEP_CONFIG: {
        if (!m->cop->alt_config || s->arg < 0) return UD_OK;
        ud_case t = m->c0;
        int a = act_param_index(m);
        if (a >= 0) t.p[a] = m->c.p[a];
        if (s->arg > 0 && m->cop->alt_config(&t, s->arg)) return UD_OK;
        ud_case_format_label(&t);
        m->c = t;
        return make_tensors(m);
    }
    case UD_STEP_INVALIDATE: ud_cache_invalidate(&m->cache); return UD_OK;
    default: break;
    }
    ud_error("cache check: unknown step kind %d", (int)s->kind);
    return UD_EINTERNAL;
}

/* "write weight", "cast bias fp16", "move cuda:1", "config 1" */
static void step_text(const ud_cached_op *cop, const ud_step *s, char *buf, size_t n)
{
    char dev[16];
    const char *pn = s->param >= 0 && s->param < count_names(cop->params) ? cop->params[s->param] : "?";
    switch (s->kind) {
    case UD_STEP_WRITE: case UD_STEP_WRITE_NOBUMP: case UD_STEP_LOAD: case UD_STEP_REALLOC: case UD_STEP_REPLACE:
        snprintf(buf, n, "%s %s", ud_step_names[s->kind], pn);
        break;
    case UD_STEP_CAST: snprintf(buf, n, "cast %s %s", pn, ud_dtype_name((ud_dtype)s->arg)); break;
    case UD_STEP_MOVE: case UD_STEP_VIEW:
        snprintf(buf, n, "%s %s", ud_step_names[s->kind], ud_dev_name(s->arg, dev, sizeof dev));
        break;
    case UD_STEP_ACT_DTYPE: snprintf(buf, n, "act_dtype %s", ud_dtype_name((ud_dtype)s->arg)); break;
    case UD_STEP_CONFIG: snprintf(buf, n, "config %d", s->arg); break;
    default: snprintf(buf, n, "%s", ud_step_names[s->kind]); break;
    }
}

/* ------------------------------------------------------------------ scenarios */

static void real_text(double v, char *buf, size_t n);

/* Parameter k of c as a case file writes it. */
static void param_text(const ud_case *c, int k, char *v, size_t n)
{
    const ud_param *p = &c->op->params[k];
    switch (p->kind) {
    case UD_P_INT: snprintf(v, n, "%lld", (long long)c->p[k].i); break;
    case UD_P_REAL: real_text(c->p[k].d, v, n); break;
    case UD_P_CHOICE: snprintf(v, n, "%s", p->choices[c->p[k].i]); break;
    case UD_P_DTYPE: snprintf(v, n, "%s", ud_dtype_name((ud_dtype)c->p[k].i)); break;
    }
}

/* "base=1000000 style=gptj": the parameters in which b differs from a. */
static void config_diff(const ud_case *a, const ud_case *b, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (int k = 0; k < a->op->nparams && off < n; k++) {
        if (memcmp(&a->p[k], &b->p[k], sizeof a->p[k]) == 0) continue;
        char v[64];
        param_text(b, k, v, sizeof v);
        off += (size_t)snprintf(buf + off, n - off, "%s%s=%s", off ? " " : "", a->op->params[k].name, v);
    }
}

static int verdict_rank(ud_verdict v)
{
    static const int rank[] = {[UD_VERDICT_NA] = 0, [UD_VERDICT_PASS] = 1, [UD_VERDICT_UNOBSERVABLE] = 2,
                               [UD_VERDICT_NOT_REUSED] = 3, [UD_VERDICT_SAVED] = 4, [UD_VERDICT_STALE] = 5,
                               [UD_VERDICT_ERROR] = 6};
    return rank[v];
}

/* Folds one run's verdict into the scenario's (the worst wins; its detail is kept). */
static void fold(ud_scenario_result *r, ud_verdict v, const char *detail)
{
    if (v == UD_VERDICT_PASS && r->verdict == UD_VERDICT_PASS && r->detail[0] && detail && detail[0]) {
        size_t len = strlen(r->detail);   /* passes of several parameters: say each */
        snprintf(r->detail + len, sizeof r->detail - len, "; %s", detail);
        return;
    }
    if (verdict_rank(v) > verdict_rank(r->verdict) || (v == r->verdict && !r->detail[0])) {
        r->verdict = v;
        snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "");
    }
}

/* Runs steps on a fresh module; the first failing call decides (its detail names `who` and
 * the mutation before it); a clean run folds in a pass. */
static int run_scenario(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, const ud_step *st, int n,
                        const char *who, ud_scenario_result *r)
{
    module m;
    int rc = module_init(&m, c, pol, o), failed = 0;
    outcome oc;
    char text[64], last[64] = "", detail[sizeof r->detail];
    for (int i = 0; rc == UD_OK && i < n && !failed; i++) {
        rc = module_step(&m, &st[i], &oc);
        if (rc != UD_OK) break;
        step_text(m.cop, &st[i], text, sizeof text);
        if (oc.moved_address) {
            snprintf(detail, sizeof detail, "%s: `%s` did not reuse the freed address: the pool is broken", who, text);
            fold(r, UD_VERDICT_ERROR, detail);
            failed = 1;
        } else if (oc.called && oc.verdict != UD_VERDICT_PASS) {
            if (last[0]) snprintf(detail, sizeof detail, "%s: after `%s`: %s", who, last, oc.msg);
            else snprintf(detail, sizeof detail, "%s: %s", who, oc.msg);
            fold(r, oc.verdict, detail);
            failed = 1;
        } else if (!oc.called) {
            snprintf(last, sizeof last, "%s", text);
        }
    }
    if (rc != UD_OK) {
        snprintf(detail, sizeof detail, "%s: the check stopped with an error (see the message above)", who);
        fold(r, UD_VERDICT_ERROR, detail);
    } else if (!failed) {
        snprintf(detail, sizeof detail, "%s: %d call%s agree with a fresh uncached instance", who, m.ncalls,
                 m.ncalls == 1 ? "" : "s");
        fold(r, UD_VERDICT_PASS, detail);
    }
    module_free(&m);
    return rc;
}

/* A dtype other than `now` from names: the same element size first (a reload at the same
 * address), else any. */
static int other_dtype(const char *const *names, ud_dtype now, ud_dtype *to)
{
    int found = 0;
    for (int pass = 0; pass < 2 && !found; pass++)
        for (int i = 0; names && names[i] && !found; i++) {
            ud_dtype d;
            if (ud_dtype_parse(names[i], &d) || d == now) continue;
            if (pass == 0 && ud_format(d)->size != ud_format(now)->size) continue;
            *to = d;
            found = 1;
        }
    return found ? 0 : -1;
}

#define STEP(K, P, A) ((ud_step){(K), (P), (A)})

static int scenario_params(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario sc,
                           ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    int np = count_names(cop->params), any = 0;
    for (int k = 0; k < np; k++) {
        if (cop->applies && !cop->applies(c, k)) continue;
        any = 1;
        ud_step st[8];
        int n = 0;
        const char *who = cop->params[k];
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
        switch (sc) {
        case UD_SC_INPLACE_BUMP: st[n++] = STEP(UD_STEP_WRITE, k, 0); break;
        case UD_SC_ABA: st[n++] = STEP(UD_STEP_REALLOC, k, 0); break;
        case UD_SC_REPLACE: st[n++] = STEP(UD_STEP_REPLACE, k, 0); break;
        default: break;
        }
        if (sc == UD_SC_DTYPE_CHANGE) {
            module m;
            int rc = module_init(&m, c, pol, o);
            ud_dtype now = m.p[k].dtype, to;
            module_free(&m);
            UD_TRY(rc);
            if (other_dtype(cop->param_dtypes, now, &to)) continue;
            st[n++] = STEP(UD_STEP_CAST, k, (int)to);
            st[n++] = STEP(UD_STEP_CALL, -1, 0);
            st[n++] = STEP(UD_STEP_CAST, k, (int)now);
        }
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
        UD_TRY(run_scenario(c, pol, o, st, n, who, r));
    }
    if (!any) fold(r, UD_VERDICT_NA, np ? "no parameter of this case has derived state" : "the operator holds no parameters");
    return UD_OK;
}

static int scenario_act_dtype(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    if (!cop->act_dtype_param) return UD_OK;
    int a = ud_param_index(c->op, cop->act_dtype_param);
    ud_dtype now = (ud_dtype)c->p[a].i, to;
    if (other_dtype(c->op->params[a].choices, now, &to)) return UD_OK;
    ud_step st[] = {STEP(UD_STEP_CALL, -1, 0), STEP(UD_STEP_ACT_DTYPE, -1, (int)to), STEP(UD_STEP_CALL, -1, 0),
                    STEP(UD_STEP_ACT_DTYPE, -1, (int)now), STEP(UD_STEP_CALL, -1, 0)};
    return run_scenario(c, pol, o, st, 5, cop->act_dtype_param, r);
}

static int scenario_repeat(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    module m;
    outcome o1, o2;
    int rc = module_init(&m, c, pol, o);
    if (rc == UD_OK) rc = module_call(&m, &o1);
    if (rc == UD_OK && o1.verdict == UD_VERDICT_PASS) rc = module_call(&m, &o2);
    if (rc != UD_OK) fold(r, UD_VERDICT_ERROR, "the check stopped with an error (see the message above)");
    else if (o1.verdict != UD_VERDICT_PASS) fold(r, o1.verdict, o1.msg);
    else if (o2.verdict != UD_VERDICT_PASS) fold(r, o2.verdict, o2.msg);
    else if (o2.conversions) {
        char d[sizeof r->detail];
        snprintf(d, sizeof d, "call 2 derived the %s again (%llu conversion(s) in call 1, %llu in call 2): the cache is not reused",
                 m.cop->derived, (unsigned long long)o1.conversions, (unsigned long long)o2.conversions);
        fold(r, UD_VERDICT_NOT_REUSED, d);
    } else {
        char d[128];
        snprintf(d, sizeof d, "%llu conversion(s) in call 1, none in call 2", (unsigned long long)o1.conversions);
        fold(r, UD_VERDICT_PASS, d);
    }
    module_free(&m);
    return rc;
}

/* A write without a version bump: stale for every key (reported, not a finding); the explicit
 * invalidation must then refresh the cache (a finding when it does not). */
static int scenario_nobump(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    int np = count_names(cop->params), any = 0;
    for (int k = 0; k < np; k++) {
        if (cop->applies && !cop->applies(c, k)) continue;
        any = 1;
        module m;
        outcome oc[5];
        memset(oc, 0, sizeof oc);
        ud_step st[] = {STEP(UD_STEP_CALL, -1, 0), STEP(UD_STEP_WRITE_NOBUMP, k, 0), STEP(UD_STEP_CALL, -1, 0),
                        STEP(UD_STEP_INVALIDATE, -1, 0), STEP(UD_STEP_CALL, -1, 0)};
        int rc = module_init(&m, c, pol, o);
        for (int i = 0; rc == UD_OK && i < 5; i++) rc = module_step(&m, &st[i], &oc[i]);
        const char *pn = cop->params[k];
        char d[sizeof r->detail];
        if (rc != UD_OK) {
            snprintf(d, sizeof d, "%s: the check stopped with an error (see the message above)", pn);
            fold(r, UD_VERDICT_ERROR, d);
        } else if (oc[0].verdict != UD_VERDICT_PASS) {
            snprintf(d, sizeof d, "%s: %s", pn, oc[0].msg);
            fold(r, oc[0].verdict, d);
        } else if (oc[2].verdict != UD_VERDICT_PASS && oc[2].verdict != UD_VERDICT_STALE) {
            snprintf(d, sizeof d, "%s: after `write_nobump %s`: %s", pn, pn, oc[2].msg);
            fold(r, oc[2].verdict, d);
        } else if (oc[4].verdict != UD_VERDICT_PASS) {
            snprintf(d, sizeof d, "%s: after `write_nobump %s` and ud_cache_invalidate(): %s", pn, pn, oc[4].msg);
            fold(r, UD_VERDICT_STALE, d);
        } else {
            snprintf(d, sizeof d, "%s written without a version bump (param.data.copy_): %s; after ud_cache_invalidate() "
                     "(what weight loaders call): fresh", pn,
                     oc[2].verdict == UD_VERDICT_STALE ? "no key sees it, this cache served stale data"
                                                       : "this cache derived again anyway, not affected");
            fold(r, UD_VERDICT_UNOBSERVABLE, d);
        }
        module_free(&m);
        UD_TRY(rc);
    }
    if (!any) fold(r, UD_VERDICT_NA, np ? "no parameter of this case has derived state" : "the operator holds no parameters");
    return UD_OK;
}

static int scenario_device(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    ud_step st[24];
    int n = 0;
    int home = o->backend == UD_BACKEND_CUDA ? 0 : UD_DEV_CPU;
    int gpus = o->backend == UD_BACKEND_CUDA ? ud_dev_count() : 0;
    st[n++] = STEP(UD_STEP_CALL, -1, 0);
    if (home != UD_DEV_CPU) {
        st[n++] = STEP(UD_STEP_MOVE, -1, UD_DEV_CPU);
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
    }
    /* The same storage seen from the second host device: a key without the device hits. */
    st[n++] = STEP(UD_STEP_VIEW, -1, UD_DEV_CPU1);
    st[n++] = STEP(UD_STEP_CALL, -1, 0);
    st[n++] = STEP(UD_STEP_VIEW, -1, UD_DEV_CPU);
    st[n++] = STEP(UD_STEP_CALL, -1, 0);
    st[n++] = STEP(UD_STEP_MOVE, -1, UD_DEV_CPU1);
    st[n++] = STEP(UD_STEP_CALL, -1, 0);
    st[n++] = STEP(UD_STEP_MOVE, -1, UD_DEV_CPU);
    st[n++] = STEP(UD_STEP_CALL, -1, 0);
    if (gpus >= 1) {
        st[n++] = STEP(UD_STEP_MOVE, -1, 0);
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
    }
    if (gpus >= 2) {
        st[n++] = STEP(UD_STEP_MOVE, -1, 1);
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
        st[n++] = STEP(UD_STEP_MOVE, -1, 0);
        st[n++] = STEP(UD_STEP_CALL, -1, 0);
    }
    UD_TRY(run_scenario(c, pol, o, st, n, count_names(c->op->cached->params) ? "all parameters" : "the module", r));
    if (r->verdict == UD_VERDICT_PASS) {
        snprintf(r->detail, sizeof r->detail, "%s",
                 o->backend != UD_BACKEND_CUDA ? "cpu <-> cpu:1 (view and move); cuda steps skipped: backend cpu"
                 : gpus >= 2 ? "cuda:0 <-> cpu <-> cpu:1 (view and move), cuda:0 <-> cuda:1"
                             : "cuda:0 <-> cpu <-> cpu:1 (view and move); cuda:0 <-> cuda:1 skipped: one CUDA device");
    }
    return UD_OK;
}

int ud_cache_check_case(const ud_case *c, ud_cache_policy policy, const ud_cache_check_opts *o,
                        ud_scenario_result res[UD_SC_COUNT])
{
    const ud_cached_op *cop = c->op->cached;
    memset(res, 0, UD_SC_COUNT * sizeof *res);
    if (!cop) { ud_error("cache check: %s keeps no derived state", c->op->name); return UD_EUSAGE; }
    if (cop->applies && !cop->applies(c, -1)) {
        for (int s = 0; s < UD_SC_COUNT; s++)
            snprintf(res[s].detail, sizeof res[s].detail, "this case keeps no derived state (only %s does)", cop->when);
        return UD_OK;
    }
    int dev0 = -1;
    if (o->backend == UD_BACKEND_CUDA) UD_TRY(ud_dev_current(&dev0));
    int rc = scenario_repeat(c, policy, o, &res[UD_SC_REPEAT]);
    if (rc == UD_OK) rc = scenario_params(c, policy, o, UD_SC_INPLACE_BUMP, &res[UD_SC_INPLACE_BUMP]);
    if (rc == UD_OK) rc = scenario_nobump(c, policy, o, &res[UD_SC_INPLACE_NOBUMP]);
    if (rc == UD_OK) rc = scenario_params(c, policy, o, UD_SC_ABA, &res[UD_SC_ABA]);
    if (rc == UD_OK) rc = scenario_params(c, policy, o, UD_SC_REPLACE, &res[UD_SC_REPLACE]);
    if (rc == UD_OK) rc = scenario_params(c, policy, o, UD_SC_DTYPE_CHANGE, &res[UD_SC_DTYPE_CHANGE]);
    if (rc == UD_OK) rc = scenario_act_dtype(c, policy, o, &res[UD_SC_DTYPE_CHANGE]);
    if (rc == UD_OK) rc = scenario_device(c, policy, o, &res[UD_SC_DEVICE_CHANGE]);
    if (rc == UD_OK && cop->alt_config) {
        /* Each other layer's configuration in turn, then back: a key that misses any one field
         * the derived state depends on serves the other layer's copy. */
        for (int k = 1; rc == UD_OK && k <= UD_CACHE_MAX_CONFIGS; k++) {
            ud_case alt = *c;
            if (cop->alt_config(&alt, k)) continue;
            char who[160];
            int len = snprintf(who, sizeof who, "configuration %d (", k);
            config_diff(c, &alt, who + len, sizeof who - (size_t)len - 1);
            strcat(who, ")");
            ud_step st[] = {STEP(UD_STEP_CALL, -1, 0), STEP(UD_STEP_CONFIG, -1, k), STEP(UD_STEP_CALL, -1, 0),
                            STEP(UD_STEP_CONFIG, -1, 0), STEP(UD_STEP_CALL, -1, 0)};
            rc = run_scenario(c, policy, o, st, 5, who, &res[UD_SC_CONFIG_CHANGE]);
        }
    } else if (rc == UD_OK) {
        fold(&res[UD_SC_CONFIG_CHANGE], UD_VERDICT_NA, "the derived state depends on no configuration beyond the parameters");
    }
    if (rc == UD_OK) {
        ud_step st[] = {STEP(UD_STEP_CALL, -1, 0), STEP(UD_STEP_CALL, -1, 0)};
        rc = run_scenario(c, policy, o, st, 2, count_names(cop->params) ? "all parameters" : "the module",
                          &res[UD_SC_STATE_DICT]);
    }
    if (dev0 >= 0) {
        int r2 = ud_dev_select(dev0);
        if (rc == UD_OK) rc = r2;
    }
    return rc;
}

int ud_cache_case_policy(const ud_case *c, ud_cache_policy *p)
{
    const ud_mutant *m = ud_case_variant(c);
    if (!m) { *p = UD_CACHE_PRODUCTION; return 0; }
    if (!c->op->cached || !m->scenario) return -1;   /* a kernel variant */
    *p = (ud_cache_policy)m->cache_policy;
    return 0;
}

int ud_cache_is_variant(const ud_case *c)
{
    ud_cache_policy p;
    return c->mutant && c->op->cached && ud_cache_case_policy(c, &p) == 0;
}

const char *ud_cache_case_scenario(const ud_case *c)
{
    const ud_mutant *m = ud_case_variant(c);
    return m && c->op->cached && m->scenario ? m->scenario : "";
}

int ud_cache_check_result(const ud_case *c, ud_backend backend, ud_result *res)
{
    const ud_cached_op *cop = c->op->cached;
    ud_cache_policy pol;
    if (!cop || ud_cache_case_policy(c, &pol)) return UD_OK;
    if (backend != UD_BACKEND_CPU && backend != UD_BACKEND_CUDA) return UD_OK;   /* external outputs: no module */
    if (cop->applies && !cop->applies(c, -1)) return UD_OK;
    ud_case r = *c;
    if (cop->reduce) {
        char msg[256];
        cop->reduce(&r);
        if (ud_case_validate(&r, msg, sizeof msg)) r = *c;
        ud_case_format_label(&r);
    }
    ud_cache_check_opts o = {backend};
    ud_scenario_result sr[UD_SC_COUNT];
    UD_TRY(ud_cache_check_case(&r, pol, &o, sr));
    int failed = 0, checked = 0;
    for (int s = 0; s < UD_SC_COUNT; s++) {
        checked += sr[s].verdict != UD_VERDICT_NA;
        if (!ud_verdict_is_finding(sr[s].verdict)) continue;
        failed++;
        ud_result_add_finding(res, UD_F_CACHE_STALE, "%s: %s", ud_scenario_names[s], sr[s].detail);
    }
    if (res->nmetrics < UD_MAX_METRICS) {
        ud_metric *m = &res->metrics[res->nmetrics++];
        snprintf(m->name, sizeof m->name, "cache scenarios failed (of %d)", checked);
        m->value = failed;
        m->budget = 0.0;
    }
    return UD_OK;
}

/* ------------------------------------------------------------------ sequences */

int ud_cache_seq_run(const ud_cache_seq *s, const ud_cache_check_opts *o, int *failed_at, char *msg, size_t n)
{
    module m;
    *failed_at = -1;
    if (n) msg[0] = 0;
    int dev0 = -1;
    if (o->backend == UD_BACKEND_CUDA) UD_TRY(ud_dev_current(&dev0));
    int rc = module_init(&m, &s->c, s->policy, o);
    int prev_call = 0;
    for (int i = 0; rc == UD_OK && i < s->nsteps; i++) {
        outcome oc;
        rc = module_step(&m, &s->steps[i], &oc);
        if (rc != UD_OK) break;
        char text[64];
        step_text(m.cop, &s->steps[i], text, sizeof text);
        if (oc.called && oc.verdict == UD_VERDICT_PASS && prev_call && oc.conversions) {
            oc.verdict = UD_VERDICT_NOT_REUSED;
            snprintf(oc.msg, sizeof oc.msg, "call %d repeats the call before it and derived the %s again: the cache is not reused",
                     m.ncalls, m.cop->derived);
        }
        if (oc.verdict != UD_VERDICT_PASS || oc.moved_address) {
            *failed_at = i;
            snprintf(msg, n, "step %d (`%s`): %s", i + 1, text, oc.moved_address ? "the pool did not reuse the freed address" : oc.msg);
            break;
        }
        prev_call = oc.called;
    }
    module_free(&m);
    if (dev0 >= 0) {
        int r2 = ud_dev_select(dev0);
        if (rc == UD_OK) rc = r2;
    }
    return rc;
}

static void random_step(const module *m, uint64_t seed, uint64_t stream, uint64_t *ctr, ud_step *s)
{
    /* Weights: calls are frequent so that each mutation is observed; param steps only when the
     * operator has parameters with derived state. */
    enum { W_CALL = 5, W_PARAM = 7, W_DEV = 2, W_ACT = 1, W_CONFIG = 1, W_INVAL = 1 };
    int np_live = 0, live[UD_CACHE_MAX_PARAMS];
    for (int k = 0; k < m->np; k++)
        if (!m->cop->applies || m->cop->applies(&m->c0, k)) live[np_live++] = k;
    int wp = np_live ? W_PARAM : 0, wa = act_param_index(m) >= 0 ? W_ACT : 0, wc = m->cop->alt_config ? W_CONFIG : 0;
    uint64_t total = W_CALL + wp + W_DEV + wa + wc + W_INVAL;
    uint64_t r = ud_rng_u64(seed, stream, (*ctr)++) % total;
    uint64_t x = ud_rng_u64(seed, stream, (*ctr)++);
    *s = STEP(UD_STEP_CALL, -1, 0);
    if (r < W_CALL) return;
    r -= W_CALL;
    if (r < (uint64_t)wp) {
        static const ud_step_kind kinds[] = {UD_STEP_WRITE, UD_STEP_WRITE, UD_STEP_LOAD, UD_STEP_REALLOC, UD_STEP_REALLOC,
                                             UD_STEP_REPLACE, UD_STEP_CAST};
        s->kind = kinds[r];
        s->param = live[x % (uint64_t)np_live];
        if (s->kind == UD_STEP_CAST) {
            int nd = count_names(m->cop->param_dtypes);
            ud_dtype d = UD_BF16;
            if (nd) (void)ud_dtype_parse(m->cop->param_dtypes[(x >> 8) % (uint64_t)nd], &d);
            s->arg = (int)d;
        }
        return;
    }
    r -= (uint64_t)wp;
    if (r < W_DEV) {
        s->kind = r == 0 ? UD_STEP_MOVE : UD_STEP_VIEW;
        int ndev = 2 + (s->kind == UD_STEP_MOVE ? m->gpus : 0);
        int d = (int)(x % (uint64_t)ndev);
        s->arg = d == 0 ? UD_DEV_CPU : d == 1 ? UD_DEV_CPU1 : d - 2;
        return;
    }
    r -= W_DEV;
    if (r < (uint64_t)wa) {
        int a = act_param_index(m);
        int nd = count_names(m->c0.op->params[a].choices);
        ud_dtype d = UD_BF16;
        (void)ud_dtype_parse(m->c0.op->params[a].choices[x % (uint64_t)nd], &d);
        *s = STEP(UD_STEP_ACT_DTYPE, -1, (int)d);
        return;
    }
    r -= (uint64_t)wa;
    if (r < (uint64_t)wc) {   /* back to the case's own (0) or one of the others that exist */
        int ks[UD_CACHE_MAX_CONFIGS + 1], nk = 0;
        ks[nk++] = 0;
        for (int k = 1; k <= UD_CACHE_MAX_CONFIGS; k++) {
            ud_case alt = m->c0;
            if (m->cop->alt_config(&alt, k) == 0) ks[nk++] = k;
        }
        *s = STEP(UD_STEP_CONFIG, -1, ks[x % (uint64_t)nk]);
        return;
    }
    *s = STEP(UD_STEP_INVALIDATE, -1, 0);
}

int ud_cache_random(const ud_case *c, ud_cache_policy policy, const char *variant, const ud_cache_check_opts *o,
                    int nseq, int len, uint64_t seed, ud_cache_seq *fail, int *found, char *msg, size_t n)
{
    *found = 0;
    if (len < 2) len = 2;
    if (len > UD_MAX_STEPS) len = UD_MAX_STEPS;
    module env;   /* only its shape: parameters, devices, activation dtype, configurations */
    int rc = module_init(&env, c, policy, o);
    for (int q = 0; rc == UD_OK && q < nseq && !*found; q++) {
        memset(fail, 0, sizeof *fail);
        fail->c = *c;
        fail->policy = policy;
        snprintf(fail->variant, sizeof fail->variant, "%s", variant);
        uint64_t ctr = 0;
        for (int i = 0; i < len - 1; i++) random_step(&env, seed, (uint64_t)q, &ctr, &fail->steps[i]);
        fail->steps[len - 1] = STEP(UD_STEP_CALL, -1, 0);   /* end by observing */
        fail->nsteps = len;
        int at;
        rc = ud_cache_seq_run(fail, o, &at, msg, n);
        if (rc == UD_OK && at >= 0) {
            fail->nsteps = at + 1;
            *found = 1;
        }
    }
    module_free(&env);
    return rc;
}

/* Does t (steps idx[0..L) of `from`) still fail? On success *s becomes it, truncated. */
static int try_subsequence(const ud_cache_seq *from, const int *idx, int L, const ud_cache_check_opts *o, ud_cache_seq *s,
                           char *msg, size_t n, int *hit)
{
    ud_cache_seq t = *from;
    char tmsg[600];
    for (int i = 0; i < L; i++) t.steps[i] = from->steps[idx[i]];
    t.nsteps = L;
    int at;
    UD_TRY(ud_cache_seq_run(&t, o, &at, tmsg, sizeof tmsg));
    *hit = at >= 0;
    if (*hit) {
        t.nsteps = at + 1;
        *s = t;
        snprintf(msg, n, "%s", tmsg);
    }
    return UD_OK;
}

enum { SHRINK_MAX_RUNS = 4000 };

int ud_cache_shrink(ud_cache_seq *s, const ud_cache_check_opts *o, char *msg, size_t n, int *runs)
{
    *runs = 0;
    const ud_cache_seq orig = *s;
    int idx[UD_MAX_STEPS], hit;
    /* 1. Delta debugging: drop chunks of halving size while the rest still fails, until no
     *    single step can go (1-minimal). */
    int changed = 1;
    while (changed && *runs < SHRINK_MAX_RUNS) {
        changed = 0;
        for (int chunk = s->nsteps / 2 > 0 ? s->nsteps / 2 : 1; chunk >= 1; chunk /= 2)
            for (int i = 0; i + chunk <= s->nsteps && *runs < SHRINK_MAX_RUNS;) {
                int L = 0;
                for (int j = 0; j < s->nsteps; j++)
                    if (j < i || j >= i + chunk) idx[L++] = j;
                (*runs)++;
                ud_cache_seq cur = *s;
                UD_TRY(try_subsequence(&cur, idx, L, o, s, msg, n, &hit));
                if (hit) changed = 1;
                else i++;
            }
    }
    /* 2. 1-minimal is not always shortest (a write before the first call and another after an
     *    ABA realloc make versions agree too). Search the failing sequence's subsequences by
     *    increasing length, each ending with a call (failures are observed at calls). */
    for (int L = 2; L < s->nsteps && *runs < SHRINK_MAX_RUNS; L++) {
        for (int i = 0; i < L; i++) idx[i] = i;
        while (*runs < SHRINK_MAX_RUNS) {
            if (orig.steps[idx[L - 1]].kind == UD_STEP_CALL) {
                (*runs)++;
                UD_TRY(try_subsequence(&orig, idx, L, o, s, msg, n, &hit));
                if (hit) return UD_OK;
            }
            int k = L - 1;   /* next combination of L of orig.nsteps indices */
            while (k >= 0 && idx[k] == orig.nsteps - L + k) k--;
            if (k < 0) break;
            idx[k]++;
            for (int j = k + 1; j < L; j++) idx[j] = idx[j - 1] + 1;
        }
    }
    return UD_OK;
}

/* ------------------------------------------------------------------ reproducers */

/* The shortest "%.*g" that reads back as v. */
static void real_text(double v, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

int ud_cache_seq_format(const ud_cache_seq *s, const char *header, char *buf, size_t n)
{
    const ud_case *c = &s->c;
    size_t off = 0;
#define PUT(...) do { if (off < n) off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__); } while (0)
    PUT("# ulpdiff cache-check reproducer (format: docs/cache-checks.md, \"Reproducers\")\n");
    for (const char *h = header; h && *h;) {
        const char *e = strchr(h, '\n');
        int len = e ? (int)(e - h) : (int)strlen(h);
        PUT("# %.*s\n", len, h);
        h = e ? e + 1 : h + len;
    }
    PUT("op = %s\nvariant = %s\ncase =", c->op->name, s->variant);
    for (int k = 0; k < c->op->nparams; k++) {
        char v[64];
        param_text(c, k, v, sizeof v);
        PUT(" %s=%s", c->op->params[k].name, v);
    }
    PUT("\nseed = %llu\nsteps:\n", (unsigned long long)c->seed);
    for (int i = 0; i < s->nsteps; i++) {
        char t[64], diff[160] = "";
        step_text(c->op->cached, &s->steps[i], t, sizeof t);
        ud_case alt = *c;   /* say what another layer's configuration changes */
        if (s->steps[i].kind == UD_STEP_CONFIG && s->steps[i].arg > 0 && c->op->cached->alt_config &&
            c->op->cached->alt_config(&alt, s->steps[i].arg) == 0)
            config_diff(c, &alt, diff, sizeof diff);
        PUT("%s%s%s\n", t, diff[0] ? "   # " : "", diff);
    }
#undef PUT
    return off < n ? UD_OK : UD_EINTERNAL;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = 0;
    return p;
}

static int parse_step(const ud_cached_op *cop, char *line, ud_step *s, char *why, size_t n)
{
    char *save = NULL, *verb = strtok_r(line, " \t", &save), *a1 = strtok_r(NULL, " \t", &save),
         *a2 = strtok_r(NULL, " \t", &save), *extra = strtok_r(NULL, " \t", &save);
    int kind = -1;
    for (int k = 0; k < UD_STEP_KINDS; k++)
        if (strcmp(verb, ud_step_names[k]) == 0) kind = k;
    if (kind < 0) { snprintf(why, n, "unknown step '%s'", verb); return -1; }
    *s = STEP((ud_step_kind)kind, -1, 0);
    int want = kind == UD_STEP_CAST ? 2 : (kind == UD_STEP_CALL || kind == UD_STEP_INVALIDATE) ? 0 : 1;
    if ((want >= 1 && !a1) || (want >= 2 && !a2) || (want < 2 && a2) || (want < 1 && a1) || extra) {
        snprintf(why, n, "step '%s' takes %d argument%s", verb, want, want == 1 ? "" : "s");
        return -1;
    }
    if (kind >= UD_STEP_WRITE && kind <= UD_STEP_CAST) {
        for (int k = 0; cop->params[k]; k++)
            if (strcmp(cop->params[k], a1) == 0) s->param = k;
        if (s->param < 0) { snprintf(why, n, "'%s' is not a parameter of the operator", a1); return -1; }
    }
    ud_dtype d;
    if (kind == UD_STEP_CAST || kind == UD_STEP_ACT_DTYPE) {
        const char *dn = kind == UD_STEP_CAST ? a2 : a1;
        if (ud_dtype_parse(dn, &d)) { snprintf(why, n, "'%s' is not a dtype", dn); return -1; }
        s->arg = (int)d;
    }
    if ((kind == UD_STEP_MOVE || kind == UD_STEP_VIEW) && ud_dev_parse(a1, &s->arg)) {
        snprintf(why, n, "'%s' is not a device (cpu, cpu:1, cuda:N)", a1);
        return -1;
    }
    if (kind == UD_STEP_CONFIG) {
        char *end;
        long k = strtol(a1, &end, 10);
        if (*end || k < 0 || k > 64) { snprintf(why, n, "'%s' is not a configuration index", a1); return -1; }
        s->arg = (int)k;
    }
    return 0;
}

int ud_cache_seq_parse(const char *text, const char *path, const ud_op *(*find)(const char *name), ud_cache_seq *s,
                       char *err, size_t errn)
{
    memset(s, 0, sizeof *s);
    char *copy = strdup(text);
    UD_ALLOC_CHECK(copy);
    char *save = NULL, *line, variant[64] = "production", casebuf[2048] = "";
    unsigned long long seed = 1;
    int lineno = 0, in_steps = 0, rc = 0, case_line = 0;
    const ud_op *op = NULL;
    char why[700], swhy[200];
#define FAIL(...) do { snprintf(why, sizeof why, __VA_ARGS__); snprintf(err, errn, "%s:%d: %s", path, lineno, why); rc = -1; goto out; } while (0)
    for (char *p = copy; (line = strtok_r(p, "\n", &save)); p = NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        line = trim(line);
        if (!*line) continue;
        if (in_steps) {
            if (!op) FAIL("steps before `op =`");
            if (s->nsteps == UD_MAX_STEPS) FAIL("more than %d steps", UD_MAX_STEPS);
            if (parse_step(op->cached, line, &s->steps[s->nsteps], swhy, sizeof swhy)) FAIL("%s", swhy);
            s->nsteps++;
            continue;
        }
        if (strcmp(line, "steps:") == 0) { in_steps = 1; continue; }
        char *eq = strchr(line, '=');
        if (!eq) FAIL("expected `key = value` or `steps:`");
        *eq = 0;
        char *key = trim(line), *val = trim(eq + 1);
        if (strcmp(key, "op") == 0) {
            op = find(val);
            if (!op) FAIL("unknown operator '%s'", val);
            if (!op->cached) FAIL("operator %s keeps no derived state: nothing to replay", val);
        } else if (strcmp(key, "variant") == 0) {
            snprintf(variant, sizeof variant, "%s", val);
        } else if (strcmp(key, "case") == 0) {
            snprintf(casebuf, sizeof casebuf, "%s", val);
            case_line = lineno;
        } else if (strcmp(key, "seed") == 0) {
            char *end;
            seed = strtoull(val, &end, 10);
            if (!*val || *end) FAIL("seed '%s' is not a non-negative integer", val);
        } else {
            FAIL("unknown key '%s' (op, variant, case, seed, steps:)", key);
        }
    }
    lineno = 0;
    if (!op) FAIL("no `op =` line");
    if (!in_steps) FAIL("no `steps:` section");
    /* The case: every parameter name=value, through the case-file machinery (validation included). */
    ud_spec sp;
    ud_spec_init(&sp, op);
    sp.seed0 = seed;
    sp.seeds = 1;
    lineno = case_line;
    char *cs = NULL;
    for (char *tok = strtok_r(casebuf, " \t", &cs); tok; tok = strtok_r(NULL, " \t", &cs)) {
        char *e = strchr(tok, '=');
        if (!e) FAIL("case: '%s' is not name=value", tok);
        *e = 0;
        int idx = -1;
        for (int k = 0; k < op->nparams; k++)
            if (strcmp(op->params[k].name, tok) == 0) idx = k;
        if (idx < 0) FAIL("case: %s has no parameter '%s'", op->name, tok);
        sp.vals[idx] = e + 1;
        sp.lines[idx] = case_line;
    }
    ud_case *cases = NULL;
    size_t nc = 0;
    char serr[512];
    if (ud_spec_expand(&sp, &cases, &nc, serr, sizeof serr)) FAIL("case: %s", serr);
    if (nc != 1) { free(cases); FAIL("case: one value per parameter expected (%zu cases)", nc); }
    s->c = cases[0];
    free(cases);
    /* The variant: production, a cache variant of the operator, or a policy by name. */
    snprintf(s->variant, sizeof s->variant, "%s", variant);
    s->policy = UD_CACHE_PRODUCTION;
    if (strcmp(variant, "production") != 0) {
        int found = 0;
        for (int m = 0; m < op->nmutants && !found; m++)
            if (op->mutants[m].scenario && strcmp(op->mutants[m].name, variant) == 0) {
                s->policy = (ud_cache_policy)op->mutants[m].cache_policy;
                s->c.mutant = m + 1;
                found = 1;
            }
        if (!found && ud_cache_policy_parse(variant, &s->policy) == 0) found = 1;
        if (!found) FAIL("variant '%s' is neither production, a cache variant of %s nor a cache policy", variant, op->name);
    }
    ud_case_format_label(&s->c);
#undef FAIL
out:
    free(copy);
    return rc;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
            *p = '/';
        }
    return (mkdir(tmp, 0777) && errno != EEXIST) ? -1 : 0;
}

int ud_cache_seq_write(const char *dir, const ud_cache_seq *s, const char *header, char *path, size_t pathn)
{
    char body[8192], text[12288];
    UD_TRY(ud_cache_seq_format(s, NULL, body, sizeof body));
    uint32_t h = (uint32_t)ud_cache_hash(body, strlen(body), 0);
    UD_TRY(ud_cache_seq_format(s, header, text, sizeof text));
    if (mkdir_p(dir)) { ud_error("cannot create %s: %s", dir, strerror(errno)); return UD_EINTERNAL; }
    snprintf(path, pathn, "%s/%s-cache-%08x.steps", dir, s->c.op->name, h);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) { ud_error("cannot write %s: %s", tmp, strerror(errno)); return UD_EINTERNAL; }
    int bad = fputs(text, fp) < 0;
    bad |= fclose(fp) != 0;
    if (bad || rename(tmp, path)) { ud_error("cannot write %s: %s", path, strerror(errno)); unlink(tmp); return UD_EINTERNAL; }
    return UD_OK;
}
