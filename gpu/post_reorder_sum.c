/* post_reorder_sum.c — cpu backend of the MoE combine: the body of gpu/post_reorder_sum.h in
 * the kernel's order (slots in ascending k for every element), so cpu and cuda agree bit for
 * bit. The token loop is the CUDA grid; the element loop its threads. */
#include <stdlib.h>

#include "gpu/post_reorder_sum.h"

#include "numerics/status.h"

int post_reorder_sum_cpu(const prs_args *a, int bug)
{
    float *acc = malloc((size_t)(a->hidden ? a->hidden : 1) * sizeof *acc);
    UD_ALLOC_CHECK(acc);
    for (int64_t t = 0; t < a->tokens; t++) {
        for (int64_t h = 0; h < a->hidden; h++) acc[h] = 0.0f;
        /* k outer, h inner: each element still sees the slots in ascending k. */
        for (int64_t k = 0; k < a->topk; k++) {
            int64_t s = t * a->topk + k;
            if (!prs_take(bug, a->ids[s], a->experts)) continue;
            float w = a->w[s];
            int64_t base = (int64_t)a->src2dst[s] * a->hidden;
            for (int64_t h = 0; h < a->hidden; h++)
                acc[h] = prs_acc(a->dt, bug, acc[h], w, ud_ld(a->dt, a->down, base + h));
        }
        for (int64_t h = 0; h < a->hidden; h++) ud_st(a->dt, a->out, t * a->hidden + h, acc[h]);
    }
    free(acc);
    return UD_OK;
}
