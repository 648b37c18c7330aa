/* plugin.c — implementation plugins for `ulpdiff run --impl` (plugin.h, the ABI in
 * include/ulpdiff_plugin.h). */
#include "harness/external/plugin.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "include/ulpdiff_plugin.h"
#include "numerics/status.h"
#include "harness/cases/spec.h"

_Static_assert((int)UD_F64 == UDP_F64 && (int)UD_F32 == UDP_F32 && (int)UD_F16 == UDP_F16 &&
               (int)UD_BF16 == UDP_BF16 && (int)UD_E4M3 == UDP_E4M3 && (int)UD_E5M2 == UDP_E5M2 &&
               (int)UD_I32 == UDP_I32, "the plugin ABI's dtype values are ud_dtype's");
_Static_assert(UD_MAX_DIMS <= 4, "udp_tensor holds 4 dimensions");

/* One operator the plugin implements. */
typedef struct {
    const udp_op *impl;
    const ud_plugin *owner;
    pthread_mutex_t serial;
} plug_op;

struct ud_plugin {
    char *path;
    void *lib;
    const udp_plugin *table;
    int nops;
    plug_op *ops;
    ud_impl source;          /* the implementation source a run uses (ud_plugin_impl) */
};

static int call_plugin(const ud_impl *im, const ud_case *c, ud_tensor *in, ud_tensor *out, int dev);

static void set_err(char *err, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(err, n, fmt, a, b);
}

ud_plugin *ud_plugin_load(const char *path, char *err, size_t errn)
{
    /* RTLD_LOCAL: two plugins (or a plugin and ulpdiff) may use the same symbol names. A path
     * without a slash would be searched for in the library path; say what the user meant. */
    char buf[4096];
    if (!strchr(path, '/')) { snprintf(buf, sizeof buf, "./%s", path); path = buf; }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) { snprintf(err, errn, "--impl %s: cannot load: %s", path, dlerror()); return NULL; }
    udp_entry_fn entry;
    void *sym = dlsym(lib, ULPDIFF_PLUGIN_ENTRY);
    memcpy(&entry, &sym, sizeof entry);   /* object pointer -> function pointer, as POSIX allows */
    if (!sym) {
        set_err(err, errn, "--impl %s: no function '%s' exported (include/ulpdiff_plugin.h: the plugin defines "
                           "const udp_plugin *ulpdiff_plugin(void) with C linkage)", path, ULPDIFF_PLUGIN_ENTRY);
        dlclose(lib);
        return NULL;
    }
    const udp_plugin *t = entry();
    if (!t) { set_err(err, errn, "--impl %s: %s() returned NULL", path, ULPDIFF_PLUGIN_ENTRY); dlclose(lib); return NULL; }
    if (t->abi != ULPDIFF_PLUGIN_ABI) {
        snprintf(err, errn, "--impl %s: plugin ABI version %u, this ulpdiff speaks version %d: rebuild the plugin "
                            "against this ulpdiff's include/ulpdiff_plugin.h", path, (unsigned)t->abi, ULPDIFF_PLUGIN_ABI);
        dlclose(lib);
        return NULL;
    }
    if (t->size < sizeof(udp_plugin)) {
        snprintf(err, errn, "--impl %s: plugin table is %u bytes, version %d's is %zu: rebuild the plugin", path,
                 (unsigned)t->size, ULPDIFF_PLUGIN_ABI, sizeof(udp_plugin));
        dlclose(lib);
        return NULL;
    }
    if (t->nops < 1 || !t->ops) { set_err(err, errn, "--impl %s: the plugin implements no operator%s", path, ""); dlclose(lib); return NULL; }
    ud_plugin *p = calloc(1, sizeof *p);
    plug_op *ops = calloc((size_t)t->nops, sizeof *ops);
    char *pc = strdup(path);
    if (!p || !ops || !pc) { free(p); free(ops); free(pc); snprintf(err, errn, "out of memory"); dlclose(lib); return NULL; }
    p->path = pc;
    p->lib = lib;
    p->table = t;
    p->ops = ops;
    for (int k = 0; k < t->nops; k++) {
        const udp_op *u = &t->ops[k];
        const ud_op *reg = u->op ? ud_op_find(u->op) : NULL;
        if (!reg) {
            const char *names[256];
            size_t nn = 0;
            for (int i = 0; i < ud_op_count() && nn < 256; i++) names[nn++] = ud_op_at(i)->name;
            const char *dym = u->op ? ud_did_you_mean(u->op, names, nn) : NULL;
            snprintf(err, errn, "--impl %s: operator %d '%s' is not one of ulpdiff's (`ulpdiff list ops`)%s%s%s", path, k,
                     u->op ? u->op : "(null)", dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
            goto fail;
        }
        for (int j = 0; j < k; j++)
            if (strcmp(t->ops[j].op, u->op) == 0) { set_err(err, errn, "--impl %s: operator '%s' listed twice", path, u->op); goto fail; }
        if (!u->run) { set_err(err, errn, "--impl %s: operator '%s' has no run function", path, u->op); goto fail; }
        if (!(u->memory & (UDP_MEM_HOST | UDP_MEM_CUDA)) || (u->memory & ~(uint32_t)(UDP_MEM_HOST | UDP_MEM_CUDA))) {
            set_err(err, errn, "--impl %s: operator '%s': memory must be UDP_MEM_HOST, UDP_MEM_CUDA or both", path, u->op);
            goto fail;
        }
    }
    p->nops = t->nops;
    p->source = (ud_impl){NULL, call_plugin, 0, p};
    for (int k = 0; k < p->nops; k++) {
        ops[k].impl = &t->ops[k];
        ops[k].owner = p;
        pthread_mutex_init(&ops[k].serial, NULL);
    }
    return p;
fail:
    free(ops);
    free(pc);
    free(p);
    dlclose(lib);
    return NULL;
}

void ud_plugin_describe(const ud_plugin *p, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "plugin '%s' (%s):", p->table->name ? p->table->name : "?", p->path);
    for (int k = 0; k < p->nops && off < n; k++) {
        const udp_op *u = p->ops[k].impl;
        off += (size_t)snprintf(buf + off, n - off, "%s %s [%s%s%s]", k ? "," : "", u->op,
                                (u->memory & UDP_MEM_HOST) ? "host" : "", u->memory == (UDP_MEM_HOST | UDP_MEM_CUDA) ? ", " : "",
                                (u->memory & UDP_MEM_CUDA) ? "cuda" : "");
    }
}

static uint32_t memory_of(ud_backend be) { return be == UD_BACKEND_CUDA ? UDP_MEM_CUDA : UDP_MEM_HOST; }

int ud_plugin_serves(const ud_plugin *p, ud_backend be)
{
    for (int k = 0; k < p->nops; k++)
        if (p->ops[k].impl->memory & memory_of(be)) return 1;
    return 0;
}

/* The case's parameters as the ABI passes them. */
static void fill_params(const ud_case *c, udp_param *out)
{
    for (int k = 0; k < c->op->nparams; k++) {
        const ud_param *d = &c->op->params[k];
        udp_param *q = &out[k];
        memset(q, 0, sizeof *q);
        q->name = d->name;
        switch (d->kind) {
        case UD_P_INT: q->kind = UDP_PARAM_INT; q->i = c->p[k].i; q->d = (double)c->p[k].i; break;
        case UD_P_REAL: q->kind = UDP_PARAM_REAL; q->d = c->p[k].d; break;
        case UD_P_CHOICE: q->kind = UDP_PARAM_NAME; q->s = d->choices[c->p[k].i]; break;
        case UD_P_DTYPE: q->kind = UDP_PARAM_NAME; q->s = ud_dtype_name((ud_dtype)c->p[k].i); break;
        }
    }
}

static void fill_tensors(const ud_tensor *t, int n, int dev, udp_tensor *out)
{
    for (int k = 0; k < n; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].name = t[k].name;
        out[k].dtype = (int32_t)t[k].dtype;
        out[k].ndim = t[k].ndim;
        for (int d = 0; d < t[k].ndim; d++) out[k].shape[d] = t[k].shape[d];
        out[k].numel = (int64_t)t[k].numel;
        out[k].data = dev ? t[k].dev : t[k].host;
    }
}

/* The plugin's entry for operator `name`, or NULL. */
static plug_op *op_of(const ud_plugin *p, const char *name)
{
    for (int k = 0; k < p->nops; k++)
        if (strcmp(p->ops[k].impl->op, name) == 0) return &p->ops[k];
    return NULL;
}

static int call_plugin(const ud_impl *im, const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    const ud_plugin *p = im->user;
    plug_op *po = op_of(p, c->op->name);
    if (!po) { ud_error("plugin '%s': %s: not an operator of the plugin", p->table->name ? p->table->name : "?", c->label); return UD_EINTERNAL; }
    if (c->mutant) { ud_error("%s: known-bug variants do not apply to a plugin's implementation", c->label); return UD_EUSAGE; }
    udp_param params[UD_MAX_PARAMS];
    udp_tensor tin[UD_MAX_TENSORS], tout[UD_MAX_TENSORS];
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    fill_params(c, params);
    fill_tensors(in, nin, dev, tin);
    fill_tensors(out, nout, dev, tout);
    char msg[1024] = "";
    udp_call call = {ULPDIFF_PLUGIN_ABI, c->op->name, c->label, c->seed, dev ? UDP_MEM_CUDA : UDP_MEM_HOST,
                     c->op->nparams, params, nin, nout, tin, tout, NULL, msg, sizeof msg};
    int serial = (po->impl->flags & UDP_SERIAL) != 0;
    if (serial) pthread_mutex_lock(&po->serial);
    int rc = po->impl->run(&call);
    if (serial) pthread_mutex_unlock(&po->serial);
    if (rc != UDP_OK) {
        msg[sizeof msg - 1] = 0;
        ud_error("plugin '%s': %s failed (%d): %s", p->table->name ? p->table->name : "?", c->label, rc,
                 msg[0] ? msg : "no message");
        return UD_EINTERNAL;
    }
    return UD_OK;
}

const ud_impl *ud_plugin_impl(ud_plugin *p) { return &p->source; }

int ud_plugin_apply(ud_plugin *p, ud_backend be, ud_case *cases, size_t *n, FILE *log)
{
    uint32_t mem = memory_of(be);
    size_t kept = 0, other = 0, wrong_mem = 0, unsupported = 0;
    for (size_t i = 0; i < *n; i++) {
        ud_case *c = &cases[i];
        plug_op *po = op_of(p, c->op->name);
        if (!po) { other++; continue; }
        if (c->mutant) {
            fprintf(log, "ulpdiff: --impl: %s: known-bug variants do not apply to a plugin's implementation\n", c->label);
            return UD_EUSAGE;
        }
        if (!(po->impl->memory & mem)) { wrong_mem++; continue; }
        if (po->impl->supports) {
            udp_param params[UD_MAX_PARAMS];
            fill_params(c, params);
            udp_call q = {ULPDIFF_PLUGIN_ABI, c->op->name, c->label, c->seed, (int32_t)mem, c->op->nparams, params,
                          0, 0, NULL, NULL, NULL, NULL, 0};
            if (!po->impl->supports(&q)) { unsupported++; continue; }
        }
        cases[kept++] = *c;
    }
    if (other) fprintf(log, "ulpdiff: --impl: %zu cases of operators the plugin does not implement left out\n", other);
    if (wrong_mem)
        fprintf(log, "ulpdiff: --impl: %zu cases left out: their operators take no %s memory in this plugin\n", wrong_mem,
                be == UD_BACKEND_CUDA ? "device" : "host");
    if (unsupported) fprintf(log, "ulpdiff: --impl: %zu cases left out: the plugin does not support them\n", unsupported);
    *n = kept;
    return UD_OK;
}

void ud_plugin_free(ud_plugin *p)
{
    if (!p) return;
    for (int k = 0; k < p->nops; k++) pthread_mutex_destroy(&p->ops[k].serial);
    free(p->ops);
    free(p->path);
    free(p);
}
