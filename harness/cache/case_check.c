/* case_check.c — the cache checks as part of a case (cache_check.h): which cache policy a case's
 * variant selects (production, or a known-bug cache variant's key; kernel variants are left to
 * the numeric checks), and what `ulpdiff run` adds to a case of an operator with derived state:
 * every scenario on a reduced copy of the case, each failure a `cache-stale` finding. Kept apart
 * from the scenarios themselves because run.c, the reports and the mutant table reach the
 * cache checker only through these functions. */
#include "harness/cache/cache_check.h"

#include <stdio.h>

#include "numerics/status.h"

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

/* The case with the activations the operator's reduce() makes small (the checks run every
 * scenario, each several calls, twice per call); the case itself when reduce() has nothing to
 * do or its result would not be a valid case. */
static ud_case reduced(const ud_case *c)
{
    const ud_cached_op *cop = c->op->cached;
    ud_case r = *c;
    if (cop->reduce) {
        char msg[256];
        cop->reduce(&r);
        if (ud_case_validate(&r, msg, sizeof msg)) r = *c;
        ud_case_format_label(&r);
    }
    return r;
}

int ud_cache_check_result(const ud_case *c, ud_backend backend, ud_result *res)
{
    const ud_cached_op *cop = c->op->cached;
    ud_cache_policy pol;
    if (!cop || ud_cache_case_policy(c, &pol)) return UD_OK;
    if (backend != UD_BACKEND_CPU && backend != UD_BACKEND_CUDA) return UD_OK;   /* external outputs: no module */
    if (cop->applies && !cop->applies(c, -1)) return UD_OK;
    ud_case r = reduced(c);
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
