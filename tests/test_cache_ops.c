/* test_cache_ops.c — the registry's cached operators (gate_proj fp32 mode, fp32_layernorm,
 * rope: harness/ops/OP_cached.c) under the cache checker (docs/cache-checks.md):
 *   - every known-bug cache variant is caught by the scenario named for it, as a `cache-stale`
 *     finding in the result `ulpdiff run` reports, and production passes every scenario;
 *   - the cached module is the production operator: its outputs are the registry kernel's
 *     bits, a repeated call converts nothing, a weight update converts that weight again;
 *   - the derived copies never show up among the parameters a model would save;
 *   - the randomized mode shrinks each variant's failure to [call, the mutation its key misses,
 *     call], whose reproducer round-trips through its file format and replays. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cache/cache.h"
#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/cache/param.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/exec/run.h"
#include "harness/cli/post_checks.h"
#include "harness/cases/spec.h"

static const ud_cache_check_opts cpu = {UD_BACKEND_CPU};

/* Derivations one call of the check case performs: one per derived copy. */
static const struct { const char *op; int conversions; } cached_ops[] = {
    {"gate_proj", 1},        /* fp32 copy of the bf16 weight */
    {"fp32_layernorm", 2},   /* fp32 copies of weight and bias */
    {"rope", 1},             /* the cos/sin table */
};
#define NOPS (sizeof cached_ops / sizeof cached_ops[0])

static const ud_op *op_named(const char *name)
{
    const ud_op *op = ud_op_find(name);
    cr_assert_not_null(op, "%s", name);
    cr_assert_not_null(op->cached, "%s keeps derived state but has no `cached` entry", name);
    return op;
}

/* The operator's check case ("name=value ..."), with `extra` overriding some values. */
static ud_case case_of(const ud_op *op, const char *extra, int mutant)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s %s", op->cached->check_case, extra ? extra : "");
    ud_spec s;
    ud_spec_init(&s, op);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq, "%s", tok);
        *eq = 0;
        s.vals[ud_param_index(op, tok)] = eq + 1;
    }
    ud_case *cs = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cs, &n, err, sizeof err), 0, "%s: %s", op->name, err);
    cr_assert_eq(n, 1);
    ud_case c = cs[0];
    free(cs);
    c.mutant = mutant;
    ud_case_format_label(&c);
    return c;
}

static int mutant_of(const ud_op *op, const char *name)
{
    char full[200];
    snprintf(full, sizeof full, "%s.%s", op->name, name);
    const ud_op *o;
    int m;
    cr_assert_eq(ud_mutant_find(full, &o, &m), 0, "%s is not a registry mutant", full);
    cr_assert_eq(o, op);
    return m;
}

static int scenario_of(const char *name)
{
    for (int s = 0; s < UD_SC_COUNT; s++)
        if (strcmp(ud_scenario_names[s], name) == 0) return s;
    cr_assert_fail("no scenario '%s'", name);
    return -1;
}

/* ------------------------------------------------------------------ variants and registry */

Test(cached_ops, every_cache_variant_is_a_registry_mutant_expecting_cache_stale)
{
    for (size_t i = 0; i < NOPS; i++) {
        const ud_op *op = op_named(cached_ops[i].op);
        int ncache = 0;
        for (int m = 1; m <= op->nmutants; m++) {
            const ud_mutant *var = &op->mutants[m - 1];
            if (!var->scenario) continue;
            ncache++;
            cr_assert_str_eq(var->expect, "cache-stale", "%s.%s", op->name, var->name);
            (void)scenario_of(var->scenario);
            ud_case c = case_of(op, NULL, m);
            cr_assert(ud_cache_is_variant(&c));
            cr_assert_str_eq(ud_cache_case_scenario(&c), var->scenario);
        }
        cr_assert_gt(ncache, 0, "%s: no known-bug cache variant", op->name);
        /* and the reverse: a mutant expecting cache-stale is a cache variant */
        for (int m = 1; m <= op->nmutants; m++) {
            if (strcmp(op->mutants[m - 1].expect, "cache-stale")) continue;
            ud_case c = case_of(op, NULL, m);
            cr_assert(ud_cache_is_variant(&c), "%s.%s expects cache-stale but is no cache variant", op->name,
                      op->mutants[m - 1].name);
        }
    }
}

/* ------------------------------------------------------------------ scenarios */

Test(cached_ops, every_variant_is_caught_by_the_scenario_named_for_it)
{
    for (size_t i = 0; i < NOPS; i++) {
        const ud_op *op = op_named(cached_ops[i].op);
        for (int m = 1; m <= op->nmutants; m++) {
            const ud_mutant *var = &op->mutants[m - 1];
            if (!var->scenario) continue;
            ud_case c = case_of(op, NULL, m);
            ud_cache_policy pol;
            cr_assert_eq(ud_cache_case_policy(&c, &pol), 0);
            cr_assert_eq(pol, (ud_cache_policy)var->cache_policy);
            ud_scenario_result r[UD_SC_COUNT];
            cr_assert_eq(ud_cache_check_case(&c, pol, &cpu, r), UD_OK, "%s", c.label);
            int s = scenario_of(var->scenario);
            cr_assert_eq(r[s].verdict, UD_VERDICT_STALE, "%s.%s: %s is %s: %s", op->name, var->name, var->scenario,
                         ud_verdict_names[r[s].verdict], r[s].detail);
            /* what `ulpdiff run` reports for the case: a cache-stale finding naming the scenario */
            ud_result res;
            memset(&res, 0, sizeof res);
            cr_assert_eq(ud_cache_check_result(&c, UD_BACKEND_CPU, &res), UD_OK);
            char prefix[64];
            snprintf(prefix, sizeof prefix, "%s: ", var->scenario);
            int named = 0;
            for (int f = 0; f < res.nfindings; f++)
                named |= res.findings[f].kind == UD_F_CACHE_STALE && strncmp(res.findings[f].msg, prefix, strlen(prefix)) == 0;
            cr_assert(named, "%s.%s: no cache-stale finding starting with '%s' (%d findings)", op->name, var->name, prefix,
                      res.nfindings);
        }
    }
}

Test(cached_ops, production_passes_every_scenario)
{
    for (size_t i = 0; i < NOPS; i++) {
        const ud_op *op = op_named(cached_ops[i].op);
        ud_case c = case_of(op, NULL, 0);
        ud_scenario_result r[UD_SC_COUNT];
        cr_assert_eq(ud_cache_check_case(&c, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
        int passed = 0;
        for (int s = 0; s < UD_SC_COUNT; s++) {
            cr_assert(!ud_verdict_is_finding(r[s].verdict), "%s: %s: %s: %s", op->name, ud_scenario_names[s],
                      ud_verdict_names[r[s].verdict], r[s].detail);
            passed += r[s].verdict == UD_VERDICT_PASS;
        }
        cr_assert_eq(r[UD_SC_REPEAT].verdict, UD_VERDICT_PASS);
        cr_assert(strstr(r[UD_SC_REPEAT].detail, "none in call 2"), "%s", r[UD_SC_REPEAT].detail);
        cr_assert_eq(r[UD_SC_STATE_DICT].verdict, UD_VERDICT_PASS);
        cr_assert_eq(r[UD_SC_DEVICE_CHANGE].verdict, UD_VERDICT_PASS);
        cr_assert_geq(passed, 4, "%s: only %d scenarios applied", op->name, passed);
        ud_result res;
        memset(&res, 0, sizeof res);
        cr_assert_eq(ud_cache_check_result(&c, UD_BACKEND_CPU, &res), UD_OK);
        cr_assert_eq(res.nfindings, 0, "%s: %s", op->name, res.nfindings ? res.findings[0].msg : "");
        cr_assert_eq(res.nmetrics, 1);
        cr_assert(strstr(res.metrics[0].name, "cache scenarios failed"), "%s", res.metrics[0].name);
        cr_assert_eq(res.metrics[0].value, 0.0);
    }
}

Test(cached_ops, fp32_layernorm_checks_both_parameters_and_reports_the_nobump_write)
{
    ud_case c = case_of(op_named("fp32_layernorm"), NULL, 0);
    ud_scenario_result r[UD_SC_COUNT];
    cr_assert_eq(ud_cache_check_case(&c, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
    for (int s = UD_SC_INPLACE_BUMP; s <= UD_SC_DTYPE_CHANGE; s++)
        if (s != UD_SC_INPLACE_NOBUMP)
            cr_assert(strstr(r[s].detail, "weight: ") && strstr(r[s].detail, "bias: "), "%s: %s", ud_scenario_names[s],
                      r[s].detail);
    cr_assert_eq(r[UD_SC_INPLACE_NOBUMP].verdict, UD_VERDICT_UNOBSERVABLE, "%s", r[UD_SC_INPLACE_NOBUMP].detail);
    cr_assert(strstr(r[UD_SC_INPLACE_NOBUMP].detail, "ud_cache_invalidate()"));
    /* bias only with affine=weight_bias; fp32 parameters keep no copy at all */
    ud_case w = case_of(c.op, "affine=weight", 0);
    cr_assert_eq(ud_cache_check_case(&w, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
    cr_assert(!strstr(r[UD_SC_ABA].detail, "bias"), "%s", r[UD_SC_ABA].detail);
    ud_case f = case_of(c.op, "pdtype=fp32", mutant_of(c.op, "cache_never_invalidated"));
    cr_assert_eq(ud_cache_check_case(&f, UD_CACHE_LAZY, &cpu, r), UD_OK);
    for (int s = 0; s < UD_SC_COUNT; s++) cr_assert_eq(r[s].verdict, UD_VERDICT_NA, "%s", ud_scenario_names[s]);
}

/* The table depends on the configuration: the scenario walks another layer's base, rotary_dim,
 * max_position and style, one at a time, and each key bug is caught at its own field. */
Test(cached_ops, rope_config_change_walks_every_field_of_the_table_key)
{
    const ud_op *op = op_named("rope");
    ud_scenario_result r[UD_SC_COUNT];
    ud_case c = case_of(op, NULL, 0);
    cr_assert_eq(ud_cache_check_case(&c, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
    cr_assert_eq(r[UD_SC_CONFIG_CHANGE].verdict, UD_VERDICT_PASS, "%s", r[UD_SC_CONFIG_CHANGE].detail);
    const char *fields[] = {"configuration 1 (base=", "configuration 2 (factor=", "configuration 3 (max_position=",
                            "configuration 4 (style="};
    for (int k = 0; k < 4; k++) cr_assert(strstr(r[UD_SC_CONFIG_CHANGE].detail, fields[k]), "%s", r[UD_SC_CONFIG_CHANGE].detail);
    const struct { const char *mutant; const char *at; } want[] = {
        {"cache_misses_base", "configuration 1 (base="},
        {"cache_misses_rotary_dim", "configuration 2 (factor="},
    };
    for (int k = 0; k < 2; k++) {
        ud_case v = case_of(op, NULL, mutant_of(op, want[k].mutant));
        cr_assert_eq(ud_cache_check_case(&v, UD_CACHE_PRODUCTION, &cpu, r), UD_OK);
        cr_assert_eq(r[UD_SC_CONFIG_CHANGE].verdict, UD_VERDICT_STALE);
        cr_assert(strstr(r[UD_SC_CONFIG_CHANGE].detail, want[k].at), "%s: %s", want[k].mutant, r[UD_SC_CONFIG_CHANGE].detail);
        cr_assert_eq(r[UD_SC_DEVICE_CHANGE].verdict, UD_VERDICT_PASS, "a key short of a config field still has the device");
    }
    /* table = model: the table dtype follows the activations, which the dtype scenario changes */
    ud_case nd = case_of(op, NULL, 0);
    cr_assert_eq(ud_cache_check_case(&nd, UD_CACHE_NO_DTYPE, &cpu, r), UD_OK);
    cr_assert_eq(r[UD_SC_DTYPE_CHANGE].verdict, UD_VERDICT_STALE, "%s", r[UD_SC_DTYPE_CHANGE].detail);
}

/* ------------------------------------------------------------------ the module itself */

typedef struct {
    const ud_op *op;
    ud_case c;
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS], want[UD_MAX_TENSORS];
    int nin, nout, np, pidx[UD_CACHE_MAX_PARAMS];
    unsigned mask;
    ud_pool *pool;
    ud_phandle h[UD_CACHE_MAX_PARAMS];
    ud_cache cache;
} module;

static int count(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

static void module_open(module *m, const ud_op *op)
{
    memset(m, 0, sizeof *m);
    m->op = op;
    m->c = case_of(op, NULL, 0);
    m->nin = count(op->inputs);
    m->nout = count(op->outputs);
    cr_assert_eq(ud_case_make_tensors(&m->c, m->in, m->out), UD_OK);
    ud_tensor scratch[UD_MAX_TENSORS];   /* want: the registry kernel's outputs */
    memset(scratch, 0, sizeof scratch);
    cr_assert_eq(ud_case_make_tensors(&m->c, scratch, m->want), UD_OK);
    for (int k = 0; k < UD_MAX_TENSORS; k++) ud_tensor_free(&scratch[k]);
    cr_assert_eq(op->generate(&m->c, m->in), UD_OK);
    cr_assert_eq(ud_pool_create(&m->pool), UD_OK);
    cr_assert_eq(ud_cache_init(&m->cache, UD_CACHE_PRODUCTION), UD_OK);
    m->np = count(op->cached->params);
    for (int k = 0; k < m->np; k++) {
        m->pidx[k] = -1;
        for (int j = 0; j < m->nin; j++)
            if (strcmp(op->inputs[j], op->cached->params[k]) == 0) m->pidx[k] = j;
        cr_assert_geq(m->pidx[k], 0);
        m->mask |= 1u << m->pidx[k];
        const ud_tensor *t = &m->in[m->pidx[k]];
        cr_assert_eq(ud_phandle_new(m->pool, &m->h[k], op->cached->params[k], t->dtype, t->numel, UD_DEV_CPU, t->host), UD_OK);
    }
}

static void module_close(module *m)
{
    for (int k = 0; k < m->np; k++) ud_phandle_free(m->pool, &m->h[k]);
    cr_assert_eq(ud_pool_live(m->pool), 0);
    ud_pool_destroy(m->pool);
    ud_cache_release(&m->cache);
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&m->in[k]);
        ud_tensor_free(&m->out[k]);
        ud_tensor_free(&m->want[k]);
    }
}

/* One call of the cached module, compared bit for bit with the registry's production cpu
 * kernel on the same inputs (the parameters as the module holds them now). */
static void call_and_compare(module *m, const char *when)
{
    for (int k = 0; k < m->nout; k++) {
        ud_tensor_poison(&m->out[k]);
        ud_tensor_poison(&m->want[k]);
    }
    ud_call x = {&m->c, m->h, UD_DEV_CPU, m->in, m->out, m->nin, m->nout, m->mask, &m->cache};
    cr_assert_eq(m->op->cached->forward(&x), UD_OK, "%s: %s", m->op->name, when);
    for (int k = 0; k < m->np; k++) cr_assert_eq(ud_phandle_read(&m->h[k], m->in[m->pidx[k]].host), UD_OK);
    cr_assert_eq(m->op->run_cpu(&m->c, 0, m->in, m->want), UD_OK);
    for (int k = 0; k < m->nout; k++) {
        size_t nonzero = 0;
        for (size_t i = 0; i < m->out[k].numel; i++) {
            uint64_t got = ud_get_bits(m->out[k].dtype, m->out[k].host, i);
            cr_assert_eq(got, ud_get_bits(m->want[k].dtype, m->want[k].host, i), "%s %s: %s[%zu]", m->op->name, when,
                         m->out[k].name, i);
            nonzero += ud_get(m->out[k].dtype, m->out[k].host, i) != 0.0;
        }
        cr_assert_gt(nonzero, m->out[k].numel / 2, "%s: outputs mostly zero: the comparison shows nothing", m->op->name);
    }
}

Test(cached_ops, a_repeated_call_reuses_the_copies_and_gives_the_registry_kernels_bits)
{
    for (size_t i = 0; i < NOPS; i++) {
        module m;
        module_open(&m, op_named(cached_ops[i].op));
        call_and_compare(&m, "call 1");
        cr_assert_eq(m.cache.conversions, (uint64_t)cached_ops[i].conversions, "%s: %llu conversions in call 1", m.op->name,
                     (unsigned long long)m.cache.conversions);
        call_and_compare(&m, "call 2");
        cr_assert_eq(m.cache.conversions, (uint64_t)cached_ops[i].conversions, "%s: call 2 converted again", m.op->name);
        /* a weight update (param.copy_: the version bumps) converts that parameter again, only it */
        for (int k = 0; k < m.np; k++) {
            ud_case g = m.c;
            g.seed += 1000 + (uint64_t)k;
            ud_tensor in2[UD_MAX_TENSORS], out2[UD_MAX_TENSORS];
            memset(in2, 0, sizeof in2);
            memset(out2, 0, sizeof out2);
            cr_assert_eq(ud_case_make_tensors(&g, in2, out2), UD_OK);
            cr_assert_eq(m.op->generate(&g, in2), UD_OK);
            cr_assert_neq(memcmp(in2[m.pidx[k]].host, m.in[m.pidx[k]].host, ud_tensor_bytes(&in2[m.pidx[k]])), 0);
            cr_assert_eq(ud_phandle_write(&m.h[k], in2[m.pidx[k]].host, 1), UD_OK);
            uint64_t before = m.cache.conversions;
            call_and_compare(&m, "after a weight update");
            cr_assert_eq(m.cache.conversions, before + 1, "%s: update of %s: %llu conversions", m.op->name, m.h[k].name,
                         (unsigned long long)(m.cache.conversions - before));
            for (int j = 0; j < UD_MAX_TENSORS; j++) {
                ud_tensor_free(&in2[j]);
                ud_tensor_free(&out2[j]);
            }
        }
        module_close(&m);
    }
}

/* state_dict(): the parameters keep their storage, dtype, version and contents; no derived
 * copy is one of them (a module that saved `self.weight.data = self.weight.float()` would
 * save fp32 weights and break the checkpoint). */
Test(cached_ops, the_derived_copies_never_appear_among_the_saved_parameters)
{
    for (size_t i = 0; i < NOPS; i++) {
        module m;
        module_open(&m, op_named(cached_ops[i].op));
        ud_block *blk[UD_CACHE_MAX_PARAMS];
        uint64_t id[UD_CACHE_MAX_PARAMS];
        ud_dtype dt[UD_CACHE_MAX_PARAMS];
        for (int k = 0; k < m.np; k++) {
            blk[k] = m.h[k].block;
            id[k] = ud_phandle_alloc_id(&m.h[k]);
            dt[k] = m.h[k].dtype;
            cr_assert_neq(dt[k], UD_F32, "%s: the check case should store %s below fp32", m.op->name, m.h[k].name);
        }
        call_and_compare(&m, "call 1");
        call_and_compare(&m, "call 2");
        int copies = 0;
        for (int s = 0; s < UD_CACHE_SLOTS; s++) {
            if (!m.cache.slot[s].filled) continue;
            copies++;
            for (int k = 0; k < m.np; k++) cr_assert_neq(m.cache.slot[s].data, m.h[k].block);
        }
        cr_assert_eq(copies, cached_ops[i].conversions);
        for (int k = 0; k < m.np; k++) {
            cr_assert_eq(m.h[k].block, blk[k], "%s: %s replaced", m.op->name, m.h[k].name);
            cr_assert_eq(ud_phandle_alloc_id(&m.h[k]), id[k]);
            cr_assert_eq(m.h[k].dtype, dt[k], "%s: %s is now %s", m.op->name, m.h[k].name, ud_dtype_name(m.h[k].dtype));
            cr_assert_eq(ud_phandle_version(&m.h[k]), 0, "a call is not a write");
            cr_assert_not(ud_cache_owns(&m.cache, id[k]));
        }
        module_close(&m);
    }
}

/* ------------------------------------------------------------------ `ulpdiff run` */

Test(cached_ops, run_reports_the_cache_checks_of_a_case)
{
    const ud_op *op = op_named("rope");
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL, 0, 0, NULL};
    ud_attach_post_checks(&o);   /* what `run` attaches to a run of ulpdiff's own kernels */
    ud_result res;
    ud_case c = case_of(op, "max_position=4096 tokens=17", 0);
    cr_assert_eq(ud_run_case(&c, &o, &res), UD_OK);
    cr_assert_eq(res.nfindings, 0, "%s", res.nfindings ? res.findings[0].msg : "");
    int metric = 0;
    for (int k = 0; k < res.nmetrics; k++) metric |= strstr(res.metrics[k].name, "cache scenarios failed") != NULL;
    cr_assert(metric, "the production case carries the cache metric");
    c = case_of(op, "max_position=4096 tokens=17", mutant_of(op, "cache_misses_rotary_dim"));
    cr_assert_eq(ud_run_case(&c, &o, &res), UD_OK);
    cr_assert(ud_result_failed(&res));
    cr_assert_eq(res.findings[0].kind, UD_F_CACHE_STALE);
    cr_assert(strstr(res.findings[0].msg, "config_change: configuration 2"), "%s", res.findings[0].msg);
    /* a case keeping no derived state carries no cache metric */
    const ud_op *ln = op_named("fp32_layernorm");
    c = case_of(ln, "pdtype=fp32", 0);
    cr_assert_eq(ud_run_case(&c, &o, &res), UD_OK);
    for (int k = 0; k < res.nmetrics; k++) cr_assert_null(strstr(res.metrics[k].name, "cache scenarios"));
}

/* ------------------------------------------------------------------ randomized mode */

Test(cached_ops, production_survives_random_sequences)
{
    for (size_t i = 0; i < NOPS; i++) {
        const ud_op *op = op_named(cached_ops[i].op);
        ud_case c = case_of(op, NULL, 0);
        ud_cache_seq fail;
        int found = 1;
        char msg[700];
        cr_assert_eq(ud_cache_random(&c, UD_CACHE_PRODUCTION, "production", &cpu, 30, 16, 5, &fail, &found, msg, sizeof msg),
                     UD_OK);
        cr_assert_eq(found, 0, "%s: %s", op->name, msg);
    }
}

static const ud_op *find_op(const char *name) { return ud_op_find(name); }

/* Each variant's random failure shrinks to [call, a mutation its key misses, call] — for ABA
 * possibly [call, replace, replace, call]: the second replacement lands on the first
 * parameter's freed address, when the sequence holds no realloc — removing any step passes,
 * and the reproducer replays to the same failure while production passes it. */
Test(cached_ops, a_random_failure_shrinks_to_the_mutation_the_key_misses_and_replays)
{
    static const struct {
        const char *op, *mutant;
        ud_step_kind kinds[6];   /* mutations the key misses (UD_STEP_CALL: no more) */
        int config;              /* for config steps: the configuration */
        int max_steps;
    } want[] = {
        {"fp32_layernorm", "cache_misses_aba", {UD_STEP_REALLOC, UD_STEP_REPLACE}, 0, 4},
        {"fp32_layernorm", "cache_misses_inplace_update", {UD_STEP_WRITE, UD_STEP_REALLOC, UD_STEP_VIEW, UD_STEP_CAST}, 0},
        {"fp32_layernorm", "cache_never_invalidated",
         {UD_STEP_WRITE, UD_STEP_REALLOC, UD_STEP_REPLACE, UD_STEP_CAST, UD_STEP_VIEW, UD_STEP_MOVE}, 0},
        {"fp32_layernorm", "cache_misses_device_change", {UD_STEP_VIEW}, 0},
        {"rope", "cache_misses_base", {UD_STEP_CONFIG}, 1},
        {"rope", "cache_misses_rotary_dim", {UD_STEP_CONFIG}, 2},
        {"rope", "cache_misses_device_change", {UD_STEP_VIEW, UD_STEP_MOVE}, 0},
        {"gate_proj", "cache_misses_aba", {UD_STEP_REALLOC, UD_STEP_REPLACE}, 0, 4},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const ud_op *op = op_named(want[w].op);
        ud_case c = case_of(op, NULL, mutant_of(op, want[w].mutant));
        ud_cache_policy pol;
        cr_assert_eq(ud_cache_case_policy(&c, &pol), 0);
        ud_cache_seq s;
        int found = 0, runs = 0, at;
        char msg[700];
        cr_assert_eq(ud_cache_random(&c, pol, want[w].mutant, &cpu, 200, 12, 3, &s, &found, msg, sizeof msg), UD_OK);
        cr_assert(found, "%s.%s: no random sequence failed", want[w].op, want[w].mutant);
        cr_assert_eq(ud_cache_shrink(&s, &cpu, msg, sizeof msg, &runs), UD_OK);
        char text[8192];
        cr_assert_eq(ud_cache_seq_format(&s, "found by a test", text, sizeof text), UD_OK);
        const int max = want[w].max_steps ? want[w].max_steps : 3;
        cr_assert(s.nsteps >= 3 && s.nsteps <= max, "%s.%s: %d steps\n%s", want[w].op, want[w].mutant, s.nsteps, text);
        cr_assert_eq(s.steps[0].kind, UD_STEP_CALL);
        cr_assert_eq(s.steps[s.nsteps - 1].kind, UD_STEP_CALL);
        for (int i = 1; i < s.nsteps - 1; i++) {
            int ok = 0;
            for (int k = 0; k < 6 && (k == 0 || want[w].kinds[k] != UD_STEP_CALL); k++) ok |= s.steps[i].kind == want[w].kinds[k];
            cr_assert(ok, "%s.%s: shrunk to the mutation `%s`\n%s", want[w].op, want[w].mutant, ud_step_names[s.steps[i].kind], text);
            if (s.steps[i].kind == UD_STEP_CONFIG) cr_assert_eq(s.steps[i].arg, want[w].config, "%s", text);
        }
        if (s.nsteps == 4) cr_assert(s.steps[1].kind == UD_STEP_REPLACE && s.steps[2].kind == UD_STEP_REPLACE, "%s", text);
        for (int drop = 0; drop < s.nsteps; drop++) {
            ud_cache_seq t = s;
            memmove(&t.steps[drop], &t.steps[drop + 1], (size_t)(t.nsteps - drop - 1) * sizeof t.steps[0]);
            t.nsteps--;
            cr_assert_eq(ud_cache_seq_run(&t, &cpu, &at, msg, sizeof msg), UD_OK);
            cr_assert_eq(at, -1, "%s.%s: still fails without step %d", want[w].op, want[w].mutant, drop + 1);
        }
        ud_cache_seq back;
        char err[800];
        cr_assert_eq(ud_cache_seq_parse(text, "mem", find_op, &back, err, sizeof err), 0, "%s\n%s", err, text);
        cr_assert_eq(back.c.op, op);
        cr_assert_eq(back.c.mutant, c.mutant);
        cr_assert_eq(back.policy, pol);
        cr_assert_eq(back.nsteps, s.nsteps);
        cr_assert_eq(memcmp(back.steps, s.steps, (size_t)s.nsteps * sizeof s.steps[0]), 0);
        cr_assert_eq(memcmp(back.c.p, c.p, sizeof c.p), 0, "the case round-trips");
        cr_assert_eq(ud_cache_seq_run(&back, &cpu, &at, msg, sizeof msg), UD_OK);
        cr_assert_eq(at, s.nsteps - 1, "%s", text);
        /* the same steps on production pass */
        back.c.mutant = 0;
        back.policy = UD_CACHE_PRODUCTION;
        cr_assert_eq(ud_cache_seq_run(&back, &cpu, &at, msg, sizeof msg), UD_OK);
        cr_assert_eq(at, -1, "%s.%s: production fails the reproducer: %s", want[w].op, want[w].mutant, msg);
    }
}
