/* ops/fp32_layernorm_cached.c — fp32_layernorm as a module with derived state. diffusers'
 * FP32LayerNorm computes
 *     out = RN_T(layer_norm(x.float(), w.float(), b.float(), eps))
 * and a module whose weight and bias are stored in bf16 or fp16 pays two conversions per call
 * for w.float() and b.float(); diffusion models cache those fp32 copies, keyed on the
 * parameter's (data pointer, version, device, dtype) — a key that a new parameter allocated at
 * a freed address with the same version fools (ABA). The production module here keys each
 * copy on (data pointer, version, device, dtype, allocation id) through harness/cache/cache.h; the
 * known-bug variants are the keys engines used, each named by what it misses. Parameters
 * stored in fp32 are used as they are (.float() of an fp32 tensor is the tensor itself: no
 * copy, nothing cached). The kernel is layernorm's production kernel (gpu/layernorm.h) with
 * fp32 parameters: ud_ld widens bf16/fp16 exactly, so a copy holds the values the kernel
 * reads from the stored parameter itself, and the module's outputs are the registry's bits.
 * Checks and scenarios: docs/cache-checks.md. */
#include <string.h>

#include "gpu/layernorm.h"
#include "harness/cache/derive.h"
#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"

static const char *const params[] = {"weight", "bias", NULL};
static const char *const param_dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const what[] = {"fp32 copy of weight", "fp32 copy of bias"};

static int affine_of(const ud_case *c) { return (int)c->p[ud_param_index(c->op, "affine")].i; }   /* LN_AFFINE_* */

/* Is parameter p (0 weight, 1 bias) used by the case's affine mode? */
static int uses(int affine, int p)
{
    return affine == LN_AFFINE_WEIGHT_BIAS || (affine == LN_AFFINE_WEIGHT && p == 0);
}

static int applies(const ud_case *c, int p)
{
    if (ud_case_dtype(c, "pdtype") == UD_F32) return 0;
    int affine = affine_of(c);
    return p < 0 ? affine != LN_AFFINE_NONE : uses(affine, p);
}

static void reduce(ud_case *c)
{
    int k = ud_param_index(c->op, "tokens");
    if (c->p[k].i > 2) c->p[k].i = 2;   /* the copies depend on the parameters only */
}

static int forward(const ud_call *x)
{
    const ud_case *c = x->c;
    ln_args a;
    memset(&a, 0, sizeof a);
    a.dt = (int)x->in[0].dtype;
    a.pdt = UD_DT_F32;
    a.affine = affine_of(c);
    a.rows = ud_case_int(c, "tokens");
    a.n = ud_case_int(c, "hidden");
    a.eps = (float)ud_case_real(c, "eps");
    UD_TRY(ud_call_begin(x));
    const void *p32[2] = {NULL, NULL};
    for (int p = 0; p < 2; p++) {
        if (!uses(a.affine, p)) continue;
        ud_phandle *h = &x->params[p];
        if (h->dtype == UD_F32) {
            p32[p] = ud_phandle_data(h);
            continue;
        }
        ud_cache_key k = ud_cache_key_param(h);
        UD_TRY(ud_cache_get(x->cache, p, what[p], &k, h->numel * sizeof(float), ud_derive_f32, h, &p32[p]));
    }
    a.w = p32[0];
    a.b = p32[1];
    a.x = ud_call_in(x, 0);
    a.out = ud_call_out(x, 0);
    if (ud_dev_is_host(x->device)) UD_TRY(layernorm_cpu(&a, LN_BUG_NONE));
    else {
#ifdef UD_HAVE_CUDA
        UD_TRY(layernorm_cuda(&a, LN_BUG_NONE));
#else
        return UD_ENODEV;
#endif
    }
    return ud_call_end(x);
}

/* The registry's mutants of the same names (harness/ops/layernorm.c) select these. */
const ud_cached_op ud_cached_fp32_layernorm = {
    .params = params,
    .param_dtypes = param_dtypes,
    .derived = "fp32 copies of weight and bias",
    .when = "pdtype=bf16 or fp16 with affine=weight_bias or weight",
    .applies = applies,
    .reduce = reduce,
    .forward = forward,
    .check_case = "dtype=bf16 pdtype=bf16 tokens=3 hidden=127 eps=1e-6 affine=weight_bias values=normal scale=1",
};
