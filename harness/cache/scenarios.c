/* scenarios.c — the scenarios of the cache checker (cache_check.h ud_cache_check_case): for
 * each, the short step sequences that exercise one way an engine changes a layer (repeat,
 * in-place write with and without a version bump, ABA realloc, replacement, dtype, device and
 * configuration changes, state dict), each run on a fresh module (module.h), and the folding
 * of their verdicts into one per scenario. docs/cache-checks.md describes them for users.
 *
 * A scenario runs once per parameter with derived state (so a finding names the parameter),
 * and the worst verdict of those runs is the scenario's. */
#include "harness/cache/module.h"

#include <stdio.h>
#include <string.h>

#include "numerics/status.h"

const char *const ud_scenario_names[] = {
    "repeat", "inplace_bump", "inplace_nobump", "aba", "replace", "dtype_change", "device_change",
    "config_change", "state_dict", NULL,
};
_Static_assert(sizeof ud_scenario_names / sizeof ud_scenario_names[0] == UD_SC_COUNT + 1, "every scenario needs a name");

const char *const ud_verdict_names[] = {"n/a", "pass", "unobservable", "NOT-REUSED", "SAVED", "CACHE-STALE", "ERROR", NULL};

int ud_verdict_is_finding(ud_verdict v)
{
    return v == UD_VERDICT_NOT_REUSED || v == UD_VERDICT_SAVED || v == UD_VERDICT_STALE || v == UD_VERDICT_ERROR;
}

/* ------------------------------------------------------------------ verdicts */

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
    ud_module m;
    int rc = ud_module_init(&m, c, pol, o), failed = 0;
    ud_outcome oc;
    char text[64], last[64] = "", detail[sizeof r->detail];
    for (int i = 0; rc == UD_OK && i < n && !failed; i++) {
        rc = ud_module_step(&m, &st[i], &oc);
        if (rc != UD_OK) break;
        ud_step_text(m.cop, &st[i], text, sizeof text);
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
    ud_module_free(&m);
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

/* ------------------------------------------------------------------ the scenarios */

/* What scenarios that cover every parameter at once call the module. */
static const char *all_params(const ud_cached_op *cop)
{
    return ud_cache_names_len(cop->params) ? "all parameters" : "the module";
}

/* inplace_bump, aba, replace, dtype_change (of a parameter's storage): per parameter, a call,
 * the mutation, a call. */
static int scenario_params(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario sc,
                           ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    int np = ud_cache_names_len(cop->params), any = 0;
    for (int k = 0; k < np; k++) {
        if (cop->applies && !cop->applies(c, k)) continue;
        any = 1;
        ud_step st[8];
        int n = 0;
        const char *who = cop->params[k];
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
        switch (sc) {
        case UD_SC_INPLACE_BUMP: st[n++] = UD_STEP(UD_STEP_WRITE, k, 0); break;
        case UD_SC_ABA: st[n++] = UD_STEP(UD_STEP_REALLOC, k, 0); break;
        case UD_SC_REPLACE: st[n++] = UD_STEP(UD_STEP_REPLACE, k, 0); break;
        default: break;
        }
        if (sc == UD_SC_DTYPE_CHANGE) {
            ud_module m;
            int rc = ud_module_init(&m, c, pol, o);
            ud_dtype now = m.p[k].dtype, to;
            ud_module_free(&m);
            UD_TRY(rc);
            if (other_dtype(cop->param_dtypes, now, &to)) continue;
            st[n++] = UD_STEP(UD_STEP_CAST, k, (int)to);
            st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
            st[n++] = UD_STEP(UD_STEP_CAST, k, (int)now);
        }
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
        UD_TRY(run_scenario(c, pol, o, st, n, who, r));
    }
    if (!any) fold(r, UD_VERDICT_NA, np ? "no parameter of this case has derived state" : "the operator holds no parameters");
    return UD_OK;
}

/* dtype_change of the activations the derived state depends on: there and back. */
static int scenario_act_dtype(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    if (!cop->act_dtype_param) return UD_OK;
    int a = ud_param_index(c->op, cop->act_dtype_param);
    ud_dtype now = (ud_dtype)c->p[a].i, to;
    if (other_dtype(c->op->params[a].choices, now, &to)) return UD_OK;
    ud_step st[] = {UD_STEP(UD_STEP_CALL, -1, 0), UD_STEP(UD_STEP_ACT_DTYPE, -1, (int)to), UD_STEP(UD_STEP_CALL, -1, 0),
                    UD_STEP(UD_STEP_ACT_DTYPE, -1, (int)now), UD_STEP(UD_STEP_CALL, -1, 0)};
    return run_scenario(c, pol, o, st, 5, cop->act_dtype_param, r);
}

/* repeat: the second of two identical calls must derive nothing. */
static int scenario_repeat(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    ud_module m;
    ud_outcome o1, o2;
    int rc = ud_module_init(&m, c, pol, o);
    if (rc == UD_OK) rc = ud_module_call(&m, &o1);
    if (rc == UD_OK && o1.verdict == UD_VERDICT_PASS) rc = ud_module_call(&m, &o2);
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
    ud_module_free(&m);
    return rc;
}

/* The verdict of inplace_nobump on parameter pn from its five steps' outcomes (rc: how they ran). */
static void fold_nobump(ud_scenario_result *r, const char *pn, int rc, const ud_outcome oc[5])
{
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
}

/* A write without a version bump: stale for every key (reported, not a finding); the explicit
 * invalidation must then refresh the cache (a finding when it does not). */
static int scenario_nobump(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    int np = ud_cache_names_len(cop->params), any = 0;
    for (int k = 0; k < np; k++) {
        if (cop->applies && !cop->applies(c, k)) continue;
        any = 1;
        ud_module m;
        ud_outcome oc[5];
        memset(oc, 0, sizeof oc);
        ud_step st[] = {UD_STEP(UD_STEP_CALL, -1, 0), UD_STEP(UD_STEP_WRITE_NOBUMP, k, 0), UD_STEP(UD_STEP_CALL, -1, 0),
                        UD_STEP(UD_STEP_INVALIDATE, -1, 0), UD_STEP(UD_STEP_CALL, -1, 0)};
        int rc = ud_module_init(&m, c, pol, o);
        for (int i = 0; rc == UD_OK && i < 5; i++) rc = ud_module_step(&m, &st[i], &oc[i]);
        fold_nobump(r, cop->params[k], rc, oc);
        ud_module_free(&m);
        UD_TRY(rc);
    }
    if (!any) fold(r, UD_VERDICT_NA, np ? "no parameter of this case has derived state" : "the operator holds no parameters");
    return UD_OK;
}

/* device_change: the home device, both host devices by view and by move, and the GPUs. */
static int scenario_device(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    ud_step st[24];
    int n = 0;
    int home = o->backend == UD_BACKEND_CUDA ? 0 : UD_DEV_CPU;
    int gpus = o->backend == UD_BACKEND_CUDA ? ud_dev_count() : 0;
    st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    if (home != UD_DEV_CPU) {
        st[n++] = UD_STEP(UD_STEP_MOVE, -1, UD_DEV_CPU);
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    }
    /* The same storage seen from the second host device: a key without the device hits. */
    st[n++] = UD_STEP(UD_STEP_VIEW, -1, UD_DEV_CPU1);
    st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    st[n++] = UD_STEP(UD_STEP_VIEW, -1, UD_DEV_CPU);
    st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    st[n++] = UD_STEP(UD_STEP_MOVE, -1, UD_DEV_CPU1);
    st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    st[n++] = UD_STEP(UD_STEP_MOVE, -1, UD_DEV_CPU);
    st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    if (gpus >= 1) {
        st[n++] = UD_STEP(UD_STEP_MOVE, -1, 0);
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    }
    if (gpus >= 2) {
        st[n++] = UD_STEP(UD_STEP_MOVE, -1, 1);
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
        st[n++] = UD_STEP(UD_STEP_MOVE, -1, 0);
        st[n++] = UD_STEP(UD_STEP_CALL, -1, 0);
    }
    UD_TRY(run_scenario(c, pol, o, st, n, all_params(c->op->cached), r));
    if (r->verdict == UD_VERDICT_PASS) {
        snprintf(r->detail, sizeof r->detail, "%s",
                 o->backend != UD_BACKEND_CUDA ? "cpu <-> cpu:1 (view and move); cuda steps skipped: backend cpu"
                 : gpus >= 2 ? "cuda:0 <-> cpu <-> cpu:1 (view and move), cuda:0 <-> cuda:1"
                             : "cuda:0 <-> cpu <-> cpu:1 (view and move); cuda:0 <-> cuda:1 skipped: one CUDA device");
    }
    return UD_OK;
}

/* config_change: each other layer's configuration in turn, then back: a key that misses any
 * one field the derived state depends on serves the other layer's copy. */
static int scenario_config(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    const ud_cached_op *cop = c->op->cached;
    if (!cop->alt_config) {
        fold(r, UD_VERDICT_NA, "the derived state depends on no configuration beyond the parameters");
        return UD_OK;
    }
    int rc = UD_OK;
    for (int k = 1; rc == UD_OK && k <= UD_CACHE_MAX_CONFIGS; k++) {
        ud_case alt = *c;
        if (cop->alt_config(&alt, k)) continue;
        char who[160];
        int len = snprintf(who, sizeof who, "configuration %d (", k);
        ud_cache_config_diff(c, &alt, who + len, sizeof who - (size_t)len - 1);
        strcat(who, ")");
        ud_step st[] = {UD_STEP(UD_STEP_CALL, -1, 0), UD_STEP(UD_STEP_CONFIG, -1, k), UD_STEP(UD_STEP_CALL, -1, 0),
                        UD_STEP(UD_STEP_CONFIG, -1, 0), UD_STEP(UD_STEP_CALL, -1, 0)};
        rc = run_scenario(c, pol, o, st, 5, who, r);
    }
    return rc;
}

/* state_dict: after calls, no derived copy among (or in place of) the parameters. */
static int scenario_state_dict(const ud_case *c, ud_cache_policy pol, const ud_cache_check_opts *o, ud_scenario_result *r)
{
    ud_step st[] = {UD_STEP(UD_STEP_CALL, -1, 0), UD_STEP(UD_STEP_CALL, -1, 0)};
    return run_scenario(c, pol, o, st, 2, all_params(c->op->cached), r);
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
    if (rc == UD_OK) rc = scenario_config(c, policy, o, &res[UD_SC_CONFIG_CHANGE]);
    if (rc == UD_OK) rc = scenario_state_dict(c, policy, o, &res[UD_SC_STATE_DICT]);
    if (dev0 >= 0) {
        int r2 = ud_dev_select(dev0);
        if (rc == UD_OK) rc = r2;
    }
    return rc;
}
