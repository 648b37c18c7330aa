/* ops/gate_proj_cached.c — the gate projection as a module with derived state: the fp32 router
 * of GLM-4.5 / DeepSeek-V3 keeps its weight in bf16 and computes F.linear(x.float(),
 * W.float()); engines cache W.float() to save the conversion on every call (GLM's gate, with
 * a FIXME that the copy is never invalidated when the weight changes at run time: expert
 * rebalancing, RL weight sync). The production module here keys its fp32 copy on the
 * weight's (data pointer, version, device, dtype, allocation id) through harness/cache/cache.h;
 * the known-bug variants are the keys engines used, each named by what it misses. Checks and
 * scenarios: docs/cache-checks.md. The kernels are gate_proj's production kernels (fp32
 * weight operand = the cached copy); only fp32 mode with a bf16-stored weight caches. */
#include <string.h>

#include "gpu/gate_proj.h"
#include "harness/cache/derive.h"
#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"

static const char *const params[] = {"weight", NULL};
static const char *const weight_dtypes[] = {"bf16", "fp32", NULL};

static int mode_of(const ud_case *c) { return (int)c->p[ud_param_index(c->op, "mode")].i; }   /* GATE_MODE_* */

static int applies(const ud_case *c, int p)
{
    (void)p;
    return mode_of(c) == GATE_MODE_FP32 && strcmp(ud_case_choice(c, "weight"), "bf16") == 0;
}

static void reduce(ud_case *c)
{
    int k = ud_param_index(c->op, "tokens");
    if (c->p[k].i > 4) c->p[k].i = 4;   /* the cache does not depend on the activations' size */
}

static int forward(const ud_call *x)
{
    const ud_case *c = x->c;
    ud_phandle *w = &x->params[0];
    const int mode = mode_of(c);
    UD_TRY(ud_call_begin(x));
    const void *wd = ud_phandle_data(w);
    int wdt = (int)w->dtype;
    if (mode == GATE_MODE_FP32 && w->dtype != UD_F32) {
        ud_cache_key k = ud_cache_key_param(w);
        UD_TRY(ud_cache_get(x->cache, 0, "fp32 copy of weight", &k, w->numel * sizeof(float), ud_derive_f32, w, &wd));
        wdt = UD_DT_F32;
    }
    gate_args a;
    memset(&a, 0, sizeof a);
    a.mode = mode;
    a.xdt = (int)x->in[0].dtype;
    a.wdt = wdt;
    a.odt = (int)x->out[0].dtype;
    a.tokens = ud_case_int(c, "tokens");
    a.hidden = ud_case_int(c, "hidden");
    a.experts = ud_case_int(c, "experts");
    a.x = ud_call_in(x, 0);
    a.w = wd;
    a.logits = ud_call_out(x, 0);
    if (ud_dev_is_host(x->device)) UD_TRY(gate_proj_cpu(&a, GATE_BUG_NONE));
    else {
#ifdef UD_HAVE_CUDA
        UD_TRY(gate_proj_cuda(&a, GATE_BUG_NONE));
#else
        return UD_ENODEV;
#endif
    }
    return ud_call_end(x);
}

/* The registry's mutants of the same names (harness/ops/gate_proj.c) select these. */
const ud_cached_op ud_cached_gate_proj = {
    .params = params,
    .param_dtypes = weight_dtypes,
    .derived = "fp32 copy of weight",
    .when = "mode=fp32 with weight=bf16",
    .applies = applies,
    .reduce = reduce,
    .forward = forward,
    .check_case = "mode=fp32 dtype=bf16 weight=bf16 tokens=3 hidden=512 experts=16 topk=4 scoring=softmax values=router",
};
