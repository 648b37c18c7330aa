/* gate_proj.c — cpu backend of the router gate projection (spec: gpu/gate_proj.h).
 *
 * Every path is one OpenBLAS cblas_sgemm on fp32 operands, as the model's F.linear on the
 * host would be: fp32 mode upcasts x (and a bf16-stored weight) exactly; tf32 emulates the
 * tensor cores' operand rounding (gate_tf32_round) and then accumulates in fp32; bf16 feeds
 * bf16-valued operands (products are exact in fp32) and rounds the logits once to bf16.
 * OpenBLAS's reduction order is its own, like cuBLAS's: the budgets do not depend on it. */
#include "gpu/gate_proj.h"

#include <cblas.h>
#include <limits.h>
#include <stdlib.h>

#include "numerics/status.h"

static float *operands(int path, int dt, const void *src, size_t n)
{
    float *dst = malloc((n ? n : 1) * sizeof *dst);
    if (dst)
        for (size_t i = 0; i < n; i++) dst[i] = gate_operand(path, ud_ld(dt, src, (int64_t)i));
    return dst;
}

int gate_proj_cpu(const gate_args *a, int bug)
{
    const int path = gate_path(a->mode, bug);
    const int64_t t = a->tokens, h = a->hidden, e = a->experts;
    if (t > INT_MAX || h > INT_MAX || e > INT_MAX) {
        ud_error("gate_proj: shape %lld x %lld x %lld exceeds the BLAS int range", (long long)t, (long long)h,
                 (long long)e);
        return UD_EINTERNAL;
    }
    float *x = operands(path, a->xdt, a->x, (size_t)(t * h));
    float *w = operands(path, a->wdt, a->w, (size_t)(e * h));
    /* fp32 logits go straight into the (poisoned) output, as cuBLAS writes them: beta = 0
     * must not read C. Other outputs need a conversion pass. */
    int direct = a->odt == UD_DT_F32 && path != GATE_MODE_BF16;
    float *l = direct ? (float *)a->logits : malloc((size_t)(t * e) * sizeof *l);
    if (!x || !w || !l) {
        free(x);
        free(w);
        if (!direct) free(l);
        UD_ALLOC_CHECK(NULL);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)e, (int)h, 1.0f, x, (int)h, w, (int)h,
                0.0f, l, (int)e);
    if (!direct) {
        for (int64_t i = 0; i < t * e; i++) ud_st(a->odt, a->logits, i, gate_logit(path, l[i]));
        free(l);
    }
    free(x);
    free(w);
    return UD_OK;
}
