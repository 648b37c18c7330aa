/* sequence.c — the randomized stateful mode of the cache checker (cache_check.h): running a
 * sequence of steps on a fresh module (module.h), drawing random sequences, and shrinking a
 * failing one to a short reproducer (seqfile.c writes it down).
 *
 * Random steps come from the counter-based RNG (numerics/ud_portable.h) keyed by (seed,
 * sequence number), so a seed names the same sequences on every machine. Shrinking relies on
 * steps.c's rule that a step which cannot apply does nothing: every subsequence runs. */
#include "harness/cache/module.h"

#include <stdio.h>
#include <string.h>

#include "numerics/ud_portable.h"
#include "numerics/status.h"
#include "harness/exec/jobs.h"

/* A passing call right after another call (nothing changed in between) that derived again:
 * the cache is not reused. */
static void flag_rederive(const ud_module *m, int prev_call, ud_outcome *oc)
{
    if (oc->called && oc->verdict == UD_VERDICT_PASS && prev_call && oc->conversions) {
        oc->verdict = UD_VERDICT_NOT_REUSED;
        snprintf(oc->msg, sizeof oc->msg, "call %d repeats the call before it and derived the %s again: the cache is not reused",
                 m->ncalls, m->cop->derived);
    }
}

int ud_cache_seq_run(const ud_cache_seq *s, const ud_cache_check_opts *o, int *failed_at, char *msg, size_t n)
{
    ud_module m;
    *failed_at = -1;
    if (n) msg[0] = 0;
    int dev0 = -1;
    if (o->backend == UD_BACKEND_CUDA) UD_TRY(ud_dev_current(&dev0));
    int rc = ud_module_init(&m, &s->c, s->policy, o);
    int prev_call = 0;
    for (int i = 0; rc == UD_OK && i < s->nsteps; i++) {
        ud_outcome oc;
        rc = ud_module_step(&m, &s->steps[i], &oc);
        if (rc != UD_OK) break;
        char text[64];
        ud_step_text(m.cop, &s->steps[i], text, sizeof text);
        flag_rederive(&m, prev_call, &oc);
        if (oc.verdict != UD_VERDICT_PASS || oc.moved_address) {
            *failed_at = i;
            snprintf(msg, n, "step %d (`%s`): %s", i + 1, text, oc.moved_address ? "the pool did not reuse the freed address" : oc.msg);
            break;
        }
        prev_call = oc.called;
    }
    ud_module_free(&m);
    if (dev0 >= 0) {
        int r2 = ud_dev_select(dev0);
        if (rc == UD_OK) rc = r2;
    }
    return rc;
}

/* ------------------------------------------------------------------ random sequences */

/* A parameter step (x: the random draw picking parameter and dtype); kind index r of the table. */
static void random_param_step(const ud_module *m, const int *live, int np_live, uint64_t r, uint64_t x, ud_step *s)
{
    static const ud_step_kind kinds[] = {UD_STEP_WRITE, UD_STEP_WRITE, UD_STEP_LOAD, UD_STEP_REALLOC, UD_STEP_REALLOC,
                                         UD_STEP_REPLACE, UD_STEP_CAST};
    s->kind = kinds[r];
    s->param = live[x % (uint64_t)np_live];
    if (s->kind == UD_STEP_CAST) {
        int nd = ud_cache_names_len(m->cop->param_dtypes);
        ud_dtype d = UD_BF16;
        if (nd) (void)ud_dtype_parse(m->cop->param_dtypes[(x >> 8) % (uint64_t)nd], &d);
        s->arg = (int)d;
    }
}

/* A config step: back to the case's own (0) or one of the others that exist. */
static ud_step random_config_step(const ud_module *m, uint64_t x)
{
    int ks[UD_CACHE_MAX_CONFIGS + 1], nk = 0;
    ks[nk++] = 0;
    for (int k = 1; k <= UD_CACHE_MAX_CONFIGS; k++) {
        ud_case alt = m->c0;
        if (m->cop->alt_config(&alt, k) == 0) ks[nk++] = k;
    }
    return UD_STEP(UD_STEP_CONFIG, -1, ks[x % (uint64_t)nk]);
}

static void random_step(const ud_module *m, uint64_t seed, uint64_t stream, uint64_t *ctr, ud_step *s)
{
    /* Weights: calls are frequent so that each mutation is observed; param steps only when the
     * operator has parameters with derived state. */
    enum { W_CALL = 5, W_PARAM = 7, W_DEV = 2, W_ACT = 1, W_CONFIG = 1, W_INVAL = 1 };
    int np_live = 0, live[UD_CACHE_MAX_PARAMS];
    for (int k = 0; k < m->np; k++)
        if (!m->cop->applies || m->cop->applies(&m->c0, k)) live[np_live++] = k;
    int a = ud_module_act_param(m);
    int wp = np_live ? W_PARAM : 0, wa = a >= 0 ? W_ACT : 0, wc = m->cop->alt_config ? W_CONFIG : 0;
    uint64_t total = W_CALL + wp + W_DEV + wa + wc + W_INVAL;
    uint64_t r = ud_rng_u64(seed, stream, (*ctr)++) % total;
    uint64_t x = ud_rng_u64(seed, stream, (*ctr)++);
    *s = UD_STEP(UD_STEP_CALL, -1, 0);
    if (r < W_CALL) return;
    r -= W_CALL;
    if (r < (uint64_t)wp) { random_param_step(m, live, np_live, r, x, s); return; }
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
        int nd = ud_cache_names_len(m->c0.op->params[a].choices);
        ud_dtype d = UD_BF16;
        (void)ud_dtype_parse(m->c0.op->params[a].choices[x % (uint64_t)nd], &d);
        *s = UD_STEP(UD_STEP_ACT_DTYPE, -1, (int)d);
        return;
    }
    r -= (uint64_t)wa;
    if (r < (uint64_t)wc) { *s = random_config_step(m, x); return; }
    *s = UD_STEP(UD_STEP_INVALIDATE, -1, 0);
}

int ud_cache_random(const ud_case *c, ud_cache_policy policy, const char *variant, const ud_cache_check_opts *o,
                    int nseq, int len, uint64_t seed, ud_cache_seq *fail, int *found, char *msg, size_t n)
{
    *found = 0;
    if (len < 2) len = 2;
    if (len > UD_MAX_STEPS) len = UD_MAX_STEPS;
    ud_module env;   /* only its shape: parameters, devices, activation dtype, configurations */
    int rc = ud_module_init(&env, c, policy, o);
    ud_progress pr;   /* thousands of sequences take minutes: say how far (jobs.h) */
    ud_progress_init_what(&pr, ud_progress_mode(1, 0), (size_t)nseq, "random sequences");
    for (int q = 0; rc == UD_OK && q < nseq && !*found; q++) {
        ud_progress_draw(&pr, (size_t)q, 0, NULL);
        memset(fail, 0, sizeof *fail);
        fail->c = *c;
        fail->policy = policy;
        snprintf(fail->variant, sizeof fail->variant, "%s", variant);
        uint64_t ctr = 0;
        for (int i = 0; i < len - 1; i++) random_step(&env, seed, (uint64_t)q, &ctr, &fail->steps[i]);
        fail->steps[len - 1] = UD_STEP(UD_STEP_CALL, -1, 0);   /* end by observing */
        fail->nsteps = len;
        int at;
        rc = ud_cache_seq_run(fail, o, &at, msg, n);
        if (rc == UD_OK && at >= 0) {
            fail->nsteps = at + 1;
            *found = 1;
        }
    }
    ud_progress_clear(&pr);
    ud_module_free(&env);
    return rc;
}

/* ------------------------------------------------------------------ shrinking */

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

/* Delta debugging: drop chunks of halving size while the rest still fails, until no single
 * step can go (1-minimal). */
static int shrink_chunks(ud_cache_seq *s, const ud_cache_check_opts *o, char *msg, size_t n, int *runs)
{
    int idx[UD_MAX_STEPS], hit, changed = 1;
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
    return UD_OK;
}

int ud_cache_shrink(ud_cache_seq *s, const ud_cache_check_opts *o, char *msg, size_t n, int *runs)
{
    *runs = 0;
    const ud_cache_seq orig = *s;
    int idx[UD_MAX_STEPS], hit;
    UD_TRY(shrink_chunks(s, o, msg, n, runs));
    /* 1-minimal is not always shortest (a write before the first call and another after an
     * ABA realloc make versions agree too). Search the failing sequence's subsequences by
     * increasing length, each ending with a call (failures are observed at calls). */
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
