/* steps.c — the steps of the cache checker (cache_check.h ud_step): calls and the mutations an
 * inference engine performs on a layer at run time, applied to a module (module.h), and the
 * text a step or a configuration change is written as in messages and reproducers.
 *
 * A step that cannot apply in the state it meets (a view of device memory, a cast to the dtype
 * the parameter already has, a device that does not exist) does nothing, so that every
 * subsequence of a sequence is a sequence: shrinking (sequence.c) depends on that. */
#include "harness/cache/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/ud_portable.h"
#include "numerics/status.h"
#include "harness/cases/param_text.h"

const char *const ud_step_names[] = {
    "call", "write", "write_nobump", "load", "realloc", "replace", "cast", "move", "view", "act_dtype", "config",
    "invalidate", NULL,
};
_Static_assert(sizeof ud_step_names / sizeof ud_step_names[0] == UD_STEP_KINDS + 1, "every step needs a name");

/* ------------------------------------------------------------------ what a step may do */

/* New contents for parameter k in its current dtype: the operator's own generator with a seed
 * of its own per generation, so every write holds values the parameter has not held before. */
static int new_contents(ud_module *m, int k, void **buf)
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

/* Is dt one of the storage dtypes the operator's parameters may take? */
static int param_dtype_ok(const ud_module *m, ud_dtype dt)
{
    for (int i = 0; m->cop->param_dtypes && m->cop->param_dtypes[i]; i++) {
        ud_dtype d;
        if (ud_dtype_parse(m->cop->param_dtypes[i], &d) == 0 && d == dt) return 1;
    }
    return 0;
}

int ud_module_act_param(const ud_module *m)
{
    const ud_op *op = m->c.op;
    if (!m->cop->act_dtype_param) return -1;
    for (int i = 0; i < op->nparams; i++)
        if (strcmp(op->params[i].name, m->cop->act_dtype_param) == 0 && op->params[i].kind == UD_P_DTYPE) return i;
    return -1;
}

static int act_dtype_ok(const ud_module *m, ud_dtype dt)
{
    int a = ud_module_act_param(m);
    if (a < 0) return 0;
    for (int i = 0; m->c.op->params[a].choices[i]; i++) {
        ud_dtype d;
        if (ud_dtype_parse(m->c.op->params[a].choices[i], &d) == 0 && d == dt) return 1;
    }
    return 0;
}

static int device_ok(const ud_module *m, int dev) { return ud_dev_is_host(dev) ? dev >= UD_DEV_CPU1 : dev < m->gpus; }

static int params_on_host(const ud_module *m)
{
    for (int k = 0; k < m->np; k++)
        if (m->p[k].block->space >= 0) return 0;
    return ud_dev_is_host(m->device);
}

/* ------------------------------------------------------------------ applying a step */

/* write / write_nobump / load: new contents in place (load also invalidates, as loaders do). */
static int step_write(ud_module *m, const ud_step *s)
{
    void *buf = NULL;
    int k = s->param;
    UD_TRY(new_contents(m, k, &buf));
    int rc = ud_phandle_write(&m->p[k], buf, s->kind == UD_STEP_WRITE);
    free(buf);
    UD_TRY(rc);
    if (s->kind == UD_STEP_LOAD) ud_cache_invalidate(&m->cache);
    return UD_OK;
}

/* realloc / replace: new storage with new contents, at the freed address or beside it. */
static int step_new_storage(ud_module *m, const ud_step *s, ud_outcome *oc)
{
    void *buf = NULL;
    int k = s->param;
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

/* config k: configuration k of the case as given (0: its own), keeping the activation dtype. */
static int step_config(ud_module *m, const ud_step *s)
{
    if (!m->cop->alt_config || s->arg < 0) return UD_OK;
    ud_case t = m->c0;
    int a = ud_module_act_param(m);
    if (a >= 0) t.p[a] = m->c.p[a];
    if (s->arg > 0 && m->cop->alt_config(&t, s->arg)) return UD_OK;
    ud_case_format_label(&t);
    m->c = t;
    return ud_module_make_tensors(m);
}

int ud_module_step(ud_module *m, const ud_step *s, ud_outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    oc->verdict = UD_VERDICT_PASS;
    int k = s->param;
    int needs_param = s->kind >= UD_STEP_WRITE && s->kind <= UD_STEP_CAST;
    if (needs_param && (k < 0 || k >= m->np)) return UD_OK;
    switch (s->kind) {
    case UD_STEP_CALL: return ud_module_call(m, oc);
    case UD_STEP_WRITE:
    case UD_STEP_WRITE_NOBUMP:
    case UD_STEP_LOAD: return step_write(m, s);
    case UD_STEP_REALLOC:
    case UD_STEP_REPLACE: return step_new_storage(m, s, oc);
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
        int a = ud_module_act_param(m);
        if (a < 0 || !act_dtype_ok(m, (ud_dtype)s->arg) || m->c.p[a].i == s->arg) return UD_OK;
        m->c.p[a].i = s->arg;
        ud_case_format_label(&m->c);
        return ud_module_make_tensors(m);
    }
    case UD_STEP_CONFIG: return step_config(m, s);
    case UD_STEP_INVALIDATE: ud_cache_invalidate(&m->cache); return UD_OK;
    default: break;
    }
    ud_error("cache check: unknown step kind %d", (int)s->kind);
    return UD_EINTERNAL;
}

/* ------------------------------------------------------------------ text */

void ud_step_text(const ud_cached_op *cop, const ud_step *s, char *buf, size_t n)
{
    char dev[16];
    const char *pn = s->param >= 0 && s->param < ud_cache_names_len(cop->params) ? cop->params[s->param] : "?";
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

void ud_cache_config_diff(const ud_case *a, const ud_case *b, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (int k = 0; k < a->op->nparams && off < n; k++) {
        if (memcmp(&a->p[k], &b->p[k], sizeof a->p[k]) == 0) continue;
        char v[64];
        ud_param_value_text(b, k, 1, v, sizeof v);
        off += (size_t)snprintf(buf + off, n - off, "%s%s=%s", off ? " " : "", a->op->params[k].name, v);
    }
}
