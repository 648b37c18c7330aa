/* fp8_quant_per_token.c — cpu backend of the FP8 per-token / per-group quantization: the body
 * of gpu/fp8_quant_per_token.h, group by group. Max is order-free and the rest is one IEEE
 * operation per step, so cpu and cuda agree bit for bit. */
#include "gpu/fp8_quant_per_token.h"

#include "numerics/status.h"

/* max |x| over flat group g of [tokens, gpr] groups. */
static float group_amax(const fq_args *a, int64_t gpr, int64_t g)
{
    int64_t r = g / gpr, j = g % gpr, lo = r * a->hidden + j * a->group;
    int64_t len = a->hidden - j * a->group < a->group ? a->hidden - j * a->group : a->group;
    float amax = 0.0f;
    for (int64_t i = 0; i < len; i++) amax = fq_absmax(amax, ud_ld(a->dt, a->x, lo + i));
    return amax;
}

int fp8_quant_per_token_cpu(const fq_args *a, int bug)
{
    int64_t gpr = (a->hidden + a->group - 1) / a->group, ngroups = a->tokens * gpr;
    for (int64_t r = 0; r < a->tokens; r++)
        for (int64_t j = 0; j < gpr; j++) {
            int64_t lo = r * a->hidden + j * a->group;
            int64_t len = a->hidden - j * a->group < a->group ? a->hidden - j * a->group : a->group;
            float amax = group_amax(a, gpr, r * gpr + j);
            int64_t pair = fq_pair_group(r * gpr + j, ngroups);
            if (bug == FQ_BUG_AMAX_SPANS_GROUP_PAIR && pair >= 0) amax = fq_absmax(amax, group_amax(a, gpr, pair));
            float s = fq_scale(bug, a->fmt, amax, a->scale_ub, a->min_scale);
            a->scales[r * gpr + j] = s;
            for (int64_t i = 0; i < len; i++) a->q[lo + i] = fq_quant(bug, ud_ld(a->dt, a->x, lo + i), s);
        }
    return UD_OK;
}
