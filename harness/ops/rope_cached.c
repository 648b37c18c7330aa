/* ops/rope_cached.c — rope as a module with derived state: the cos/sin table. Engines build
 * cos_sin_cache once per configuration and device and reuse it for every call (vLLM's
 * RotaryEmbedding buffer, HF's cached cos/sin):
 *     table[p] = [cos(p inv_freq_i), sin(p inv_freq_i)],  inv_freq_i = 1 / base^(2i / rotary_dim)
 * so the table depends on no parameter, only on the configuration (rotary_dim, base,
 * max_position, style — the layout ignores style, a key includes it) and the table dtype,
 * and it lives on one device. A model whose layers differ in any of those (Gemma 3's local
 * layers use rope_theta 1e4 and its global layers 1e6; partial-rotary models mix widths)
 * needs one table each. The production module keys the table on all of them plus the device
 * through harness/cache/cache.h; the known-bug variants leave one field out of the key (base,
 * rotary_dim) or the device. The table builders and the kernels are rope's production code
 * (gpu/rope.h), so the module's outputs are the registry's bits. Checks and scenarios:
 * docs/cache-checks.md; the config_change scenario walks the configurations alt_config()
 * writes, one changed field each. */
#include <stdio.h>
#include <string.h>

#include "gpu/rope.h"
#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"

static const char *const no_params[] = {NULL};

/* Fields the case's cache variant leaves out of the table's key (ROPE_KEY_OMITS_*; 0: none). */
static int omitted(const ud_case *c)
{
    const ud_mutant *m = ud_case_variant(c);
    return m ? m->cache_key_bug : 0;
}

static int table_spec(const ud_case *c, rope_table_spec *t, int *rotary_dim, int *style)
{
    rope_config m;
    memset(&m, 0, sizeof m);
    m.head_dim = (int)ud_case_int(c, "head_dim");
    m.factor = ud_case_real(c, "factor");
    m.base = ud_case_real(c, "base");
    m.max_position = ud_case_int(c, "max_position");
    m.style = strcmp(ud_case_choice(c, "style"), "gptj") == 0 ? ROPE_GPTJ : ROPE_NEOX;
    m.table_dt = strcmp(ud_case_choice(c, "table"), "fp32") == 0 ? UD_DT_F32 : (int)ud_case_dtype(c, "dtype");
    return rope_setup(&m, ROPE_BUG_NONE, t, rotary_dim, style);
}

/* Everything the table depends on besides its dtype and device (those are key fields of
 * their own), minus what a known-bug key leaves out. freq_dim is rotary_dim in production. */
static uint64_t config_hash(const rope_table_spec *t, int omit)
{
    uint64_t h = ud_cache_hash("rope", 4, 0);
    if (!(omit & ROPE_KEY_OMITS_ROTARY_DIM)) {
        h = ud_cache_hash(&t->rotary_dim, sizeof t->rotary_dim, h);
        h = ud_cache_hash(&t->freq_dim, sizeof t->freq_dim, h);
    }
    if (!(omit & ROPE_KEY_OMITS_BASE)) h = ud_cache_hash(&t->base, sizeof t->base, h);
    h = ud_cache_hash(&t->max_position, sizeof t->max_position, h);
    return ud_cache_hash(&t->style, sizeof t->style, h);
}

static int derive_table(void *arg, int device, void *dst)
{
    const rope_table_spec *t = arg;
    if (ud_dev_is_host(device)) return rope_table_build_cpu(t, dst);
#ifdef UD_HAVE_CUDA
    return rope_table_build_cuda(t, dst);   /* the cache made `device` current */
#else
    return UD_ENODEV;
#endif
}

static int forward(const ud_call *x)
{
    const ud_case *c = x->c;
    rope_table_spec ts;
    int rd, style;
    UD_TRY(table_spec(c, &ts, &rd, &style));
    const int64_t tokens = ud_case_int(c, "tokens");
    if (!ud_dev_is_host(x->device)) {   /* the CUDA kernel skips such tokens; say so first */
        char msg[200];
        if (rope_bad_positions(x->in[2].host, tokens, ts.max_position, msg, sizeof msg)) {
            ud_error("rope: %s", msg);
            return UD_EUSAGE;
        }
    }
    UD_TRY(ud_call_begin(x));
    ud_cache_key k = ud_cache_key_config(config_hash(&ts, omitted(c)), (ud_dtype)ts.dt, x->device);
    const void *table;
    UD_TRY(ud_cache_get(x->cache, 0, "cos/sin table", &k, rope_table_bytes(&ts), derive_table, &ts, &table));
    rope_args a;
    memset(&a, 0, sizeof a);
    a.dt = (int)x->in[0].dtype;
    a.style = style;
    a.tokens = tokens;
    a.q_heads = ud_case_int(c, "q_heads");
    a.kv_heads = ud_case_int(c, "kv_heads");
    a.head_dim = ud_case_int(c, "head_dim");
    a.rotary_dim = rd;
    a.q = ud_call_in(x, 0);
    a.k = ud_call_in(x, 1);
    a.pos = ud_call_in(x, 2);
    a.table = table;
    a.tdt = ts.dt;
    a.max_position = ts.max_position;
    a.q_out = ud_call_out(x, 0);
    a.k_out = ud_call_out(x, 1);
    if (ud_dev_is_host(x->device)) UD_TRY(rope_cpu(&a));
    else {
#ifdef UD_HAVE_CUDA
        UD_TRY(rope_cuda(&a));
#else
        return UD_ENODEV;
#endif
    }
    return ud_call_end(x);
}

static int applies(const ud_case *c, int p)
{
    (void)c;
    return p < 0;   /* every case keeps a table; there is no parameter */
}

/* The table does not depend on the activations: few tokens and heads, and a short table
 * (max_position 1000001 tables take ~0.1 s to build, and the scenarios build dozens). */
static void reduce(ud_case *c)
{
    static const struct { const char *name; int64_t max; } caps[] = {
        {"tokens", 4}, {"q_heads", 2}, {"kv_heads", 1}, {"max_position", 64},
    };
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        int i = ud_param_index(c->op, caps[k].name);
        if (c->p[i].i > caps[k].max) c->p[i].i = caps[k].max;
    }
    int pos = ud_param_index(c->op, "positions");
    if (strcmp(c->op->params[pos].choices[c->p[pos].i], "out_of_table") == 0) c->p[pos].i = 0;   /* edges */
}

/* rotary_dim' != rotary_dim as a partial_rotary_factor: half the width (twice when half is
 * not an even width), the factor written exactly when int(head_dim * factor) gives it. */
static int other_factor(int head_dim, int rd, double *factor)
{
    int want = (rd / 2) & ~1;
    if (want < 2) want = 2 * rd;
    if (want == rd || want > head_dim) return -1;
    double f = (double)want / head_dim;
    if (rope_rotary_dim(head_dim, f) != want) f = (want + 0.5) / head_dim;
    if (f > 1.0 || rope_rotary_dim(head_dim, f) != want) return -1;
    *factor = f;
    return 0;
}

/* Another layer's configuration, one field changed: 1 base (rope_theta), 2 rotary_dim
 * (partial_rotary_factor), 3 max_position, 4 style. */
static int alt_config(ud_case *c, int k)
{
    ud_pval *v;
    switch (k) {
    case 1:
        v = &c->p[ud_param_index(c->op, "base")];
        v->d = v->d == 1e4 ? 1e6 : 1e4;   /* Gemma 3: global layers 1e6, local layers 1e4 */
        break;
    case 2: {
        int hd = (int)ud_case_int(c, "head_dim");
        v = &c->p[ud_param_index(c->op, "factor")];
        if (other_factor(hd, rope_rotary_dim(hd, v->d), &v->d)) return -1;
        break;
    }
    case 3:
        v = &c->p[ud_param_index(c->op, "max_position")];
        v->i = v->i * 2 <= ROPE_MAX_POSITION ? v->i * 2 : v->i / 2;
        if (v->i < 1) return -1;
        break;
    case 4:
        v = &c->p[ud_param_index(c->op, "style")];
        v->i = v->i == ROPE_NEOX ? ROPE_GPTJ : ROPE_NEOX;   /* choices are in ROPE_* order */
        break;
    default: return -1;
    }
    char msg[256];
    return ud_case_validate(c, msg, sizeof msg);
}

/* The registry's mutants of the same names (harness/ops/rope.c) select these. The first two
 * keep the production policy: their key is short of a field, which the policy cannot see. */
const ud_cached_op ud_cached_rope = {
    .params = no_params,
    .act_dtype_param = "dtype",   /* table = model: the table is in the activation dtype */
    .derived = "cos/sin table",
    .when = "every case",
    .applies = applies,
    .alt_config = alt_config,
    .reduce = reduce,
    .forward = forward,
    .check_case = "dtype=bf16 tokens=3 q_heads=2 kv_heads=1 head_dim=64 factor=0.5 style=neox base=1e4 "
                  "max_position=64 positions=edges table=model angles=fp32 values=normal scale=1",
};
