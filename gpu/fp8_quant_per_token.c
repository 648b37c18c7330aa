/* fp8_quant_per_token.c — cpu backend of the FP8 per-token / per-group quantization: the body
 * of gpu/fp8_quant_per_token.h, group by group. Max is order-free and the rest is one IEEE
 * operation per step, so cpu and cuda agree bit for bit. */
#include "gpu/fp8_quant_per_token.h"

#include "numerics/status.h"

int fp8_quant_per_token_cpu(const fq_args *a, int bug)
{
    int64_t gpr = (a->hidden + a->group - 1) / a->group;
    for (int64_t r = 0; r < a->tokens; r++)
        for (int64_t j = 0; j < gpr; j++) {
            int64_t lo = r * a->hidden + j * a->group;
            int64_t len = a->hidden - j * a->group < a->group ? a->hidden - j * a->group : a->group;
            float amax = 0.0f;
            for (int64_t i = 0; i < len; i++) amax = fq_absmax(amax, ud_ld(a->dt, a->x, lo + i));
            float s = fq_scale(bug, a->fmt, amax, a->scale_ub, a->min_scale);
            a->scales[r * gpr + j] = s;
            for (int64_t i = 0; i < len; i++) a->q[lo + i] = fq_quant(bug, ud_ld(a->dt, a->x, lo + i), s);
        }
    return UD_OK;
}
