/* test_cache.c — parameter handles, the pool, the derived-state cache and the cache checker
 * (harness/param.c, harness/cache/cache.c, harness/cache/scenarios.c).
 *
 * The checker is tested on a synthetic cached operator defined here, `axpt`:
 *     out[t, j] = x[t, j] * fp32(w[j]) + table[j],   table[j] = RN_dtype(j * shift)
 * whose derived state has both kinds the production operators have: an fp32 copy of a
 * parameter stored in bf16/fp16 (gate_proj's weight, fp32_layernorm's weight and bias) and a
 * table derived from a configuration (shift) in the activation dtype (rope's cos/sin table).
 * Every cache policy must be caught by the scenario named for it, production must pass, the
 * randomized mode must shrink a failure to a minimal reproducer that round-trips through its
 * file format, and a derived copy must never be among the parameters a model would save. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cache/cache.h"
#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/cache/param.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"
#include "harness/cases/spec.h"

/* ------------------------------------------------------------------ the synthetic operator */

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const bugs[] = {"none", "saves_copy", NULL};
enum { P_DTYPE, P_WDTYPE, P_TOKENS, P_HIDDEN, P_SHIFT, P_BUG, P_COUNT };
static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16", "activation dtype (and the table's)", dtypes, 0, 0},
    [P_WDTYPE] = {"wdtype", UD_P_DTYPE, "bf16", "storage dtype of w", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "3", "rows", NULL, 1, 64},
    [P_HIDDEN] = {"hidden", UD_P_INT, "16", "row length", NULL, 1, 4096},
    [P_SHIFT] = {"shift", UD_P_REAL, "0.25", "the table's configuration", NULL, 1e-3, 10.0},
    [P_BUG] = {"bug", UD_P_CHOICE, "none", "saves_copy: replaces w by its fp32 copy (self.w.data = w.float())", bugs, 0, 0},
};
static const char *const inputs[] = {"x", "w", NULL};
static const char *const outputs[] = {"out", NULL};
static const char *const wnames[] = {"w", NULL};

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t xs[2] = {c->p[P_TOKENS].i, c->p[P_HIDDEN].i}, ws[1] = {c->p[P_HIDDEN].i};
    UD_TRY(ud_tensor_shape(&in[0], "x", (ud_dtype)c->p[P_DTYPE].i, 2, xs));
    UD_TRY(ud_tensor_shape(&in[1], "w", (ud_dtype)c->p[P_WDTYPE].i, 1, ws));
    UD_TRY(ud_tensor_shape(&out[0], "out", UD_F32, 2, xs));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_fill(&in[0], UD_GEN_NORMAL, c->seed, 1, c->p[P_HIDDEN].i, 1.0);
    ud_gen_fill(&in[1], UD_GEN_NORMAL, c->seed, 2, c->p[P_HIDDEN].i, 1.0);
    return UD_OK;
}

static int derive_upcast(void *arg, int device, void *dst)
{
    const ud_phandle *h = arg;
    cr_assert(ud_dev_is_host(device));
    for (size_t i = 0; i < h->numel; i++) ((float *)dst)[i] = (float)ud_get(h->dtype, ud_phandle_data(h), i);
    return UD_OK;
}

typedef struct { double shift; ud_dtype dt; int64_t n; } table_args;

static int derive_table(void *arg, int device, void *dst)
{
    const table_args *t = arg;
    (void)device;
    for (int64_t j = 0; j < t->n; j++) ud_set(t->dt, dst, (size_t)j, (double)j * t->shift);
    return UD_OK;
}

static int forward(const ud_call *x)
{
    cr_assert(ud_dev_is_host(x->device), "the synthetic operator runs on host devices only");
    const ud_case *c = x->c;
    ud_phandle *w = &x->params[0];
    const int64_t T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    const ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    const float *w32 = ud_phandle_data(w);
    if (w->dtype != UD_F32) {
        ud_cache_key k = ud_cache_key_param(w);
        const void *d;
        UD_TRY(ud_cache_get(x->cache, 0, "fp32 copy of w", &k, (size_t)H * 4, derive_upcast, w, &d));
        w32 = d;
    }
    double shift = c->p[P_SHIFT].d;
    table_args ta = {shift, dt, H};
    ud_cache_key tk = ud_cache_key_config(ud_cache_hash(&shift, sizeof shift, 0), dt, x->device);
    const void *table;
    UD_TRY(ud_cache_get(x->cache, 1, "table", &tk, (size_t)H * ud_format(dt)->size, derive_table, &ta, &table));
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < H; j++) {
            float v = (float)ud_get(dt, x->in[0].host, (size_t)(t * H + j)) * w32[j] + (float)ud_get(dt, table, (size_t)j);
            ((float *)x->out[0].host)[t * H + j] = v;
        }
    if (c->p[P_BUG].i == 1 && w->dtype != UD_F32) {
        /* the bug: the module keeps its fp32 copy as the parameter itself */
        for (int s = 0; s < UD_CACHE_SLOTS; s++)
            if (x->cache->slot[s].data && x->cache->slot[s].data->ptr == (const void *)w32) {
                w->block = x->cache->slot[s].data;
                w->dtype = UD_F32;
            }
    }
    return UD_OK;
}

static int applies(const ud_case *c, int p) { return p < 0 || (ud_dtype)c->p[P_WDTYPE].i != UD_F32; }

static int alt_config(ud_case *c, int k)
{
    if (k != 1) return -1;
    c->p[P_SHIFT].d = c->p[P_SHIFT].d * 2.0 + 0.125;   /* another layer's table */
    return 0;
}

static const ud_mutant mutants[] = {
    UD_CACHE_VARIANT("cache_lazy_never_invalidated", "", UD_CACHE_LAZY, 0, "replace"),
    UD_CACHE_VARIANT("cache_key_misses_version", "", UD_CACHE_PTR_ONLY, 0, "inplace_bump"),
    UD_CACHE_VARIANT("cache_key_misses_aba", "", UD_CACHE_NO_ALLOC_ID, 0, "aba"),
    UD_CACHE_VARIANT("cache_key_misses_device", "", UD_CACHE_NO_DEVICE, 0, "device_change"),
    UD_CACHE_VARIANT("cache_key_misses_dtype", "", UD_CACHE_NO_DTYPE, 0, "dtype_change"),
};

static const ud_cached_op axpt_cached = {
    .params = wnames,
    .param_dtypes = dtypes,
    .act_dtype_param = "dtype",
    .derived = "fp32 copy of w",
    .when = "wdtype bf16 or fp16",
    .applies = applies,
    .alt_config = alt_config,
    .forward = forward,
    .check_case = "dtype=bf16 wdtype=bf16 tokens=3 hidden=16",
};

static const ud_op axpt = {
    .name = "axpt",
    .summary = "out = x * fp32(w) + table(shift)  (test operator)",
    .params = params,
    .nparams = P_COUNT,
    .inputs = inputs,
    .outputs = outputs,
    .shapes = shapes,
    .generate = generate,
    .mutants = mutants,
    .nmutants = 5,
    .cached = &axpt_cached,
};

static const ud_op *find_axpt(const char *name) { return strcmp(name, "axpt") == 0 ? &axpt : NULL; }

static ud_case axpt_case(const char *bug)
{
    ud_spec s;
    ud_spec_init(&s, &axpt);
    if (bug) s.vals[P_BUG] = bug;
    ud_case *cs = NULL;
    size_t n = 0;
    char err[256];
    cr_assert_eq(ud_spec_expand(&s, &cs, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 1);
    ud_case c = cs[0];
    free(cs);
    return c;
}

static const ud_cache_check_opts cpu = {UD_BACKEND_CPU};

static void check(ud_cache_policy p, ud_scenario_result *res)
{
    ud_case c = axpt_case(NULL);
    cr_assert_eq(ud_cache_check_case(&c, p, &cpu, res), UD_OK);
}

/* ------------------------------------------------------------------ pool and handles */

Test(pool, a_freed_block_goes_to_the_next_allocation_of_its_size)
{
    ud_pool *p;
    cr_assert_eq(ud_pool_create(&p), UD_OK);
    ud_block *a, *b, *c, *d;
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 256, &a), UD_OK);
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 512, &b), UD_OK);
    void *addr = a->ptr;
    uint64_t id = a->alloc_id;
    ud_pool_free(p, a);
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 512 + 64, &c), UD_OK);   /* another size: not a's block */
    cr_assert_neq(c->ptr, addr);
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU1, 256, &d), UD_OK);        /* cpu:1 shares host memory */
    cr_assert_eq(d->ptr, addr, "the ABA the checker relies on: same size, same address");
    cr_assert_gt(d->alloc_id, id, "allocation ids are never reused");
    cr_assert_eq(d->version, 0);
    cr_assert_eq(ud_pool_live(p), 3);
    ud_pool_destroy(p);
}

Test(pool, the_most_recently_freed_block_is_reused_first)
{
    ud_pool *p;
    cr_assert_eq(ud_pool_create(&p), UD_OK);
    ud_block *a, *b, *c;
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 64, &a), UD_OK);
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 64, &b), UD_OK);
    void *pb = b->ptr;
    ud_pool_free(p, a);
    ud_pool_free(p, b);
    cr_assert_eq(ud_pool_alloc(p, UD_DEV_CPU, 64, &c), UD_OK);
    cr_assert_eq(c->ptr, pb);
    ud_pool_destroy(p);
}

Test(param, versions_views_moves_and_casts_behave_like_torch_tensors)
{
    ud_pool *p;
    cr_assert_eq(ud_pool_create(&p), UD_OK);
    uint16_t src[8], back[8];
    for (int i = 0; i < 8; i++) src[i] = (uint16_t)(0x3f80 + i);   /* bf16 1, 1.0078125, ... */
    ud_phandle h;
    cr_assert_eq(ud_phandle_new(p, &h, "w", UD_BF16, 8, UD_DEV_CPU, src), UD_OK);
    cr_assert_eq(ud_phandle_version(&h), 0, "a constructor does not bump");
    cr_assert_eq(ud_phandle_write(&h, src, 1), UD_OK);
    cr_assert_eq(ud_phandle_version(&h), 1, "param.copy_ bumps");
    cr_assert_eq(ud_phandle_write(&h, src, 0), UD_OK);
    cr_assert_eq(ud_phandle_version(&h), 1, "param.data.copy_ does not");
    void *addr = ud_phandle_data(&h);
    uint64_t id = ud_phandle_alloc_id(&h);
    cr_assert_eq(ud_phandle_view(&h, UD_DEV_CPU1), UD_OK);
    cr_assert(ud_phandle_data(&h) == addr && ud_phandle_alloc_id(&h) == id && ud_phandle_version(&h) == 1);
    cr_assert_eq(h.device, UD_DEV_CPU1);
    cr_assert_eq(ud_phandle_view(&h, 0), UD_EUSAGE, "host storage has no CUDA view here");
    cr_assert_eq(ud_phandle_move(p, &h, UD_DEV_CPU), UD_OK);
    cr_assert(ud_phandle_data(&h) != addr && ud_phandle_version(&h) == 0 && h.device == UD_DEV_CPU);
    cr_assert_eq(ud_phandle_read(&h, back), UD_OK);
    cr_assert_eq(memcmp(src, back, sizeof src), 0);
    void *before = ud_phandle_data(&h);
    cr_assert_eq(ud_phandle_cast(p, &h, UD_F16), UD_OK);
    cr_assert_eq(ud_phandle_data(&h), before, "a same-size reload lands on the freed address");
    cr_assert_eq(h.dtype, UD_F16);
    cr_assert_eq(ud_get(UD_F16, ud_phandle_data(&h), 3), ud_get(UD_BF16, src, 3));
    ud_phandle_free(p, &h);
    cr_assert_eq(ud_pool_live(p), 0);
    ud_pool_destroy(p);
}

/* ------------------------------------------------------------------ the cache */

static int count_derive(void *arg, int device, void *dst)
{
    (void)device;
    ++*(int *)arg;
    memset(dst, 0x11, 8);
    return UD_OK;
}

/* Which key changes each policy notices, field by field. */
Test(cache, each_policy_matches_exactly_the_fields_it_names)
{
    const ud_cache_key base = {0x1000, 3, UD_DEV_CPU, UD_BF16, 77, 5};
    ud_cache_key var[6];
    for (int f = 0; f < 6; f++) var[f] = base;
    var[0].ptr++;
    var[1].version++;
    var[2].device = UD_DEV_CPU1;
    var[3].dtype = UD_F16;
    var[4].alloc_id++;
    var[5].config++;
    /* expected hit (1) per policy and changed field: ptr version device dtype alloc config */
    static const int hit[UD_CACHE_NPOLICIES][6] = {
        [UD_CACHE_PRODUCTION] = {0, 0, 0, 0, 0, 0},
        [UD_CACHE_LAZY] = {1, 1, 1, 1, 1, 1},
        [UD_CACHE_PTR_ONLY] = {0, 1, 1, 1, 1, 1},
        [UD_CACHE_NO_ALLOC_ID] = {0, 0, 0, 0, 1, 0},
        [UD_CACHE_NO_DEVICE] = {0, 0, 1, 0, 0, 0},
        [UD_CACHE_NO_DTYPE] = {0, 0, 0, 1, 0, 0},
        [UD_CACHE_NO_REUSE] = {0, 0, 0, 0, 0, 0},
    };
    for (int p = 0; p < UD_CACHE_NPOLICIES; p++)
        for (int f = 0; f < 6; f++) {
            ud_cache c;
            cr_assert_eq(ud_cache_init(&c, (ud_cache_policy)p), UD_OK);
            int n = 0;
            const void *d;
            cr_assert_eq(ud_cache_get(&c, 0, "x", &base, 8, count_derive, &n, &d), UD_OK);
            cr_assert_eq(ud_cache_get(&c, 0, "x", &var[f], 8, count_derive, &n, &d), UD_OK);
            cr_assert_eq(n, 2 - hit[p][f], "policy %s, field %d: %d derivations", ud_cache_policy_names[p], f, n);
            cr_assert_eq(c.conversions, (uint64_t)n);
            cr_assert_eq(c.wrong_device, f == 2 && hit[p][f], "a hit across devices is recorded");
            ud_cache_release(&c);
        }
}

Test(cache, same_key_hits_invalidate_refills_a_larger_size_misses)
{
    const ud_cache_key k = {0x1000, 0, UD_DEV_CPU, UD_BF16, 1, 0};
    ud_cache c;
    cr_assert_eq(ud_cache_init(&c, UD_CACHE_LAZY), UD_OK);
    int n = 0;
    const void *d;
    cr_assert_eq(ud_cache_get(&c, 0, "x", &k, 8, count_derive, &n, &d), UD_OK);
    cr_assert_eq(ud_cache_get(&c, 0, "x", &k, 8, count_derive, &n, &d), UD_OK);
    cr_assert_eq(n, 1);
    ud_cache_invalidate(&c);
    cr_assert_eq(ud_cache_get(&c, 0, "x", &k, 8, count_derive, &n, &d), UD_OK);
    cr_assert_eq(n, 2, "the explicit invalidation refills even a lazy cache");
    cr_assert_eq(ud_cache_get(&c, 0, "x", &k, 16, count_derive, &n, &d), UD_OK);
    cr_assert_eq(n, 3, "a larger size never hits (it would read out of bounds)");
    cr_assert_eq(ud_cache_get(&c, 0, "x", &k, 8, count_derive, &n, &d), UD_OK);
    cr_assert_eq(n, 3, "a smaller size may hit: a wider table served to a narrower layer is staleness, in bounds");
    cr_assert_eq(ud_cache_get(&c, 1, "y", &k, 16, count_derive, &n, &d), UD_OK);
    cr_assert_eq(n, 4, "slots are independent");
    ud_cache_release(&c);
}

/* ------------------------------------------------------------------ scenarios */

Test(scenarios, production_passes_and_the_nobump_write_is_reported_unobservable)
{
    ud_scenario_result r[UD_SC_COUNT];
    check(UD_CACHE_PRODUCTION, r);
    for (int s = 0; s < UD_SC_COUNT; s++)
        cr_assert(!ud_verdict_is_finding(r[s].verdict), "%s: %s: %s", ud_scenario_names[s],
                  ud_verdict_names[r[s].verdict], r[s].detail);
    cr_assert_eq(r[UD_SC_REPEAT].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_ABA].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_DEVICE_CHANGE].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_CONFIG_CHANGE].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_DTYPE_CHANGE].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_STATE_DICT].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_INPLACE_NOBUMP].verdict, UD_VERDICT_UNOBSERVABLE);
    cr_assert(strstr(r[UD_SC_INPLACE_NOBUMP].detail, "served stale data"), "%s", r[UD_SC_INPLACE_NOBUMP].detail);
}

/* Each known-bug key is caught by the scenario named for it, as a stale result naming the
 * scenario's mutation and the parameter. */
Test(scenarios, every_key_policy_is_caught_by_the_scenario_named_for_it)
{
    for (int v = 0; v < UD_NELEMS(mutants); v++) {
        ud_scenario_result r[UD_SC_COUNT];
        check((ud_cache_policy)mutants[v].cache_policy, r);
        int s = 0;
        while (ud_scenario_names[s] && strcmp(ud_scenario_names[s], mutants[v].scenario)) s++;
        cr_assert_lt(s, UD_SC_COUNT);
        cr_assert_eq(r[s].verdict, UD_VERDICT_STALE, "%s: %s is %s: %s", mutants[v].name, ud_scenario_names[s],
                     ud_verdict_names[r[s].verdict], r[s].detail);
        cr_assert(strstr(r[s].detail, "differ from a fresh uncached instance") || strstr(r[s].detail, "served the"),
                  "%s", r[s].detail);
    }
}

Test(scenarios, the_named_scenarios_isolate_the_keys)
{
    ud_scenario_result r[UD_SC_COUNT];
    check(UD_CACHE_NO_ALLOC_ID, r);   /* sees version, device, dtype: only ABA fools it */
    cr_assert_eq(r[UD_SC_INPLACE_BUMP].verdict, UD_VERDICT_PASS, "%s", r[UD_SC_INPLACE_BUMP].detail);
    cr_assert_eq(r[UD_SC_REPLACE].verdict, UD_VERDICT_PASS);
    cr_assert_eq(r[UD_SC_DEVICE_CHANGE].verdict, UD_VERDICT_PASS);
    cr_assert(strstr(r[UD_SC_ABA].detail, "w: after `realloc w`: call 2"), "%s", r[UD_SC_ABA].detail);
    check(UD_CACHE_PTR_ONLY, r);
    cr_assert_eq(r[UD_SC_REPLACE].verdict, UD_VERDICT_PASS, "a new address is a miss for a pointer key");
    cr_assert(strstr(r[UD_SC_INPLACE_BUMP].detail, "after `write w`"), "%s", r[UD_SC_INPLACE_BUMP].detail);
    check(UD_CACHE_NO_DEVICE, r);
    cr_assert_eq(r[UD_SC_ABA].verdict, UD_VERDICT_PASS);
    cr_assert(strstr(r[UD_SC_DEVICE_CHANGE].detail, "made for cpu to a call on cpu:1"), "%s", r[UD_SC_DEVICE_CHANGE].detail);
    check(UD_CACHE_LAZY, r);
    cr_assert_eq(r[UD_SC_CONFIG_CHANGE].verdict, UD_VERDICT_STALE, "another layer's configuration");
}

Test(scenarios, repeat_flags_a_cache_that_is_never_reused)
{
    ud_scenario_result r[UD_SC_COUNT];
    check(UD_CACHE_NO_REUSE, r);
    cr_assert_eq(r[UD_SC_REPEAT].verdict, UD_VERDICT_NOT_REUSED, "%s", r[UD_SC_REPEAT].detail);
    cr_assert(strstr(r[UD_SC_REPEAT].detail, "derived the fp32 copy of w again"));
    for (int s = UD_SC_INPLACE_BUMP; s < UD_SC_COUNT; s++)
        cr_assert(r[s].verdict != UD_VERDICT_STALE, "never stale: %s", ud_scenario_names[s]);
}

Test(scenarios, a_derived_copy_among_the_saved_parameters_is_a_finding)
{
    ud_case c = axpt_case("saves_copy");
    ud_scenario_result r[UD_SC_COUNT];
    cr_assert_eq(ud_cache_check_case(&c, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
    cr_assert_eq(r[UD_SC_STATE_DICT].verdict, UD_VERDICT_SAVED, "%s", r[UD_SC_STATE_DICT].detail);
    cr_assert(strstr(r[UD_SC_STATE_DICT].detail, "among the parameters a model would save"));
}

Test(scenarios, a_case_without_derived_state_is_not_applicable)
{
    ud_spec s;
    ud_spec_init(&s, &axpt);
    s.vals[P_WDTYPE] = "fp32";
    ud_case *cs = NULL;
    size_t n = 0;
    char err[256];
    cr_assert_eq(ud_spec_expand(&s, &cs, &n, err, sizeof err), 0);
    ud_scenario_result r[UD_SC_COUNT];
    /* wdtype fp32: w is used directly, only the table is derived */
    cr_assert_eq(ud_cache_check_case(&cs[0], UD_CACHE_LAZY, &cpu, r), UD_OK);
    cr_assert_eq(r[UD_SC_ABA].verdict, UD_VERDICT_NA, "%s", r[UD_SC_ABA].detail);
    cr_assert_eq(r[UD_SC_CONFIG_CHANGE].verdict, UD_VERDICT_STALE);
    free(cs);
}

/* ------------------------------------------------------------------ randomized mode */

Test(random, production_survives_random_sequences)
{
    ud_case c = axpt_case(NULL);
    ud_cache_seq fail;
    int found = 1;
    char msg[600];
    cr_assert_eq(ud_cache_random(&c, UD_CACHE_PRODUCTION, "production", &cpu, 40, 16, 7, &fail, &found, msg, sizeof msg),
                 UD_OK);
    cr_assert_eq(found, 0, "%s", msg);
}

/* A failing random sequence shrinks to the shortest one that still fails — a call to fill the
 * cache, the mutation the key misses, a call to observe — and removing any step of it passes. */
Test(random, a_failure_shrinks_to_a_minimal_sequence_and_round_trips_through_a_file)
{
    /* The mutations each key misses: a pointer key also serves the table of another
     * configuration or activation dtype (its pointer is always 0); a key without the device
     * serves the table after a move as well as the weight copy after a view. */
    const struct { ud_cache_policy p; const char *variant; ud_step_kind mutation[3]; } want[] = {
        {UD_CACHE_PTR_ONLY, "cache_key_misses_version", {UD_STEP_WRITE, UD_STEP_CONFIG, UD_STEP_ACT_DTYPE}},
        {UD_CACHE_NO_ALLOC_ID, "cache_key_misses_aba", {UD_STEP_REALLOC, UD_STEP_REALLOC, UD_STEP_REALLOC}},
        {UD_CACHE_NO_DEVICE, "cache_key_misses_device", {UD_STEP_VIEW, UD_STEP_MOVE, UD_STEP_MOVE}},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        ud_case c = axpt_case(NULL);
        ud_cache_seq s;
        int found = 0, runs = 0, at;
        char msg[600];
        cr_assert_eq(ud_cache_random(&c, want[w].p, want[w].variant, &cpu, 200, 16, 11, &s, &found, msg, sizeof msg), UD_OK);
        cr_assert(found, "%s: no random sequence failed", want[w].variant);
        cr_assert_eq(ud_cache_shrink(&s, &cpu, msg, sizeof msg, &runs), UD_OK);
        char dbg[4096];
        ud_cache_seq_format(&s, NULL, dbg, sizeof dbg);
        cr_assert_eq(s.nsteps, 3, "%s: shrunk to %d steps:\n%s\n%s", want[w].variant, s.nsteps, dbg, msg);
        cr_assert_eq(s.steps[0].kind, UD_STEP_CALL);
        ud_step_kind k = s.steps[1].kind;
        cr_assert(k == want[w].mutation[0] || k == want[w].mutation[1] || k == want[w].mutation[2], "%s: %s",
                  want[w].variant, ud_step_names[k]);
        cr_assert_eq(s.steps[2].kind, UD_STEP_CALL);
        for (int drop = 0; drop < s.nsteps; drop++) {
            ud_cache_seq t = s;
            memmove(&t.steps[drop], &t.steps[drop + 1], (size_t)(t.nsteps - drop - 1) * sizeof t.steps[0]);
            t.nsteps--;
            cr_assert_eq(ud_cache_seq_run(&t, &cpu, &at, msg, sizeof msg), UD_OK);
            cr_assert_eq(at, -1, "%s: still fails without step %d", want[w].variant, drop + 1);
        }
        /* write, parse, replay: the same sequence, failing at the same step */
        char text[4096], err[512];
        cr_assert_eq(ud_cache_seq_format(&s, "found by a test\nsecond line", text, sizeof text), UD_OK);
        ud_cache_seq back;
        cr_assert_eq(ud_cache_seq_parse(text, "mem", find_axpt, &back, err, sizeof err), 0, "%s\n%s", err, text);
        cr_assert_eq(back.nsteps, s.nsteps);
        cr_assert_eq(back.policy, want[w].p);
        cr_assert_eq(memcmp(back.steps, s.steps, (size_t)s.nsteps * sizeof s.steps[0]), 0);
        cr_assert_eq(back.c.seed, s.c.seed);
        cr_assert_eq(ud_cache_seq_run(&back, &cpu, &at, msg, sizeof msg), UD_OK);
        cr_assert_eq(at, 2, "%s", text);
    }
}

Test(random, the_reproducer_parser_reports_file_and_line)
{
    ud_cache_seq s;
    char err[512];
    const char *bad_step = "op = axpt\ncase = dtype=bf16\nsteps:\ncall\nfrobnicate w\n";
    cr_assert_neq(ud_cache_seq_parse(bad_step, "r.steps", find_axpt, &s, err, sizeof err), 0);
    cr_assert(strstr(err, "r.steps:5: unknown step 'frobnicate'"), "%s", err);
    const char *bad_param = "op = axpt\nsteps:\nwrite v\n";
    cr_assert_neq(ud_cache_seq_parse(bad_param, "r.steps", find_axpt, &s, err, sizeof err), 0);
    cr_assert(strstr(err, "r.steps:3: 'v' is not a parameter"), "%s", err);
    const char *bad_case = "op = axpt\ncase = tokens=0\nsteps:\ncall\n";
    cr_assert_neq(ud_cache_seq_parse(bad_case, "r.steps", find_axpt, &s, err, sizeof err), 0);
    cr_assert(strstr(err, "r.steps:2: case:"), "%s", err);
    const char *bad_variant = "op = axpt\nvariant = nope\nsteps:\ncall\n";
    cr_assert_neq(ud_cache_seq_parse(bad_variant, "r.steps", find_axpt, &s, err, sizeof err), 0);
    cr_assert(strstr(err, "variant 'nope'"), "%s", err);
}

Test(random, a_reproducer_file_is_written_atomically)
{
    ud_case c = axpt_case(NULL);
    ud_cache_seq s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.policy = UD_CACHE_PTR_ONLY;
    snprintf(s.variant, sizeof s.variant, "cache_key_misses_version");
    s.nsteps = 3;
    s.steps[0] = (ud_step){UD_STEP_CALL, -1, 0};
    s.steps[1] = (ud_step){UD_STEP_WRITE, 0, 0};
    s.steps[2] = (ud_step){UD_STEP_CALL, -1, 0};
    char dir[] = "/tmp/ud_cache_testXXXXXX", path[4200];
    cr_assert_not_null(mkdtemp(dir));
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    cr_assert_eq(ud_cache_seq_write(sub, &s, "header", path, sizeof path), UD_OK);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    cr_assert(strstr(text, "steps:\ncall\nwrite w\ncall\n"), "%s", text);
    cr_assert(strstr(path, "/axpt-cache-"), "%s", path);
    unlink(path);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/a", dir);
    rmdir(sub);
    rmdir(dir);
}
