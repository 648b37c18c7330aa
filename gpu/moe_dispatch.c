/* moe_dispatch.c — cpu backend of the expert-parallel MoE dispatch: the body of
 * gpu/moe_dispatch.h. Slots come from the same stable counting sort the CUDA kernels compute in
 * parallel (source order within an expert), and every value from the same body functions, so
 * cpu and cuda agree bit for bit. The token loop is the CUDA scatter's grid. */
#include <stdlib.h>
#include <string.h>

#include "gpu/moe_dispatch.h"

#include "numerics/status.h"

/* Token t's group scales (per (token, group) source, md_scale_source) into s[groups]. */
static void token_scales(const md_args *a, int bug, int64_t t, int64_t groups, float *s)
{
    for (int64_t g = 0; g < groups; g++) {
        int64_t st, sg;
        md_scale_source(bug, t, g, a->tokens, &st, &sg);
        float amax = 0.0f;
        const int64_t lo = st * a->hidden + sg * a->group, len = md_group_len(a->hidden, a->group, sg);
        for (int64_t i = 0; i < len; i++) amax = fq_absmax(amax, ud_ld(a->dt, a->x, lo + i));
        s[g] = md_scale(a->fmt, amax, a->min_scale);
    }
}

int moe_dispatch_cpu(const md_args *a, int bug)
{
    const int64_t n = a->tokens * a->topk, E = a->experts, H = a->hidden;
    const int64_t groups = (H + a->group - 1) / a->group;
    const int mode = md_mode(bug, a->weights);
    int64_t *next = calloc((size_t)E + 2, sizeof *next);
    /* Per token: the scales its own rows are quantised with, and the ones stored (they differ
     * only under SCALE_WRONG_ROW); the row as stored in the buffer (esz bytes an element). */
    float *own = malloc((size_t)(2 * groups + 1) * sizeof *own);
    const size_t esz = mode == MD_COPY || mode == MD_QUANT_DEQ ? (size_t)ud_dt_size(a->dt) : 1;
    unsigned char *row = malloc((size_t)(H ? H : 1) * esz);
    if (!next || !own || !row) {
        free(next);
        free(own);
        free(row);
        UD_ALLOC_CHECK(NULL);
    }
    float *stored = own + groups;
    /* Count (buckets 0 .. E; bucket E only under SIGN_CHECK_ONLY), offsets, slots in order. */
    for (int64_t i = 0; i < n; i++) {
        int64_t b = md_bucket(bug, a->ids[i], E);
        if (b >= 0) next[b + 1]++;
    }
    for (int64_t e = 0; e < E; e++) a->counts[e] = (int32_t)next[e + 1];
    for (int64_t e = 1; e <= E + 1; e++) next[e] += next[e - 1];
    for (int64_t i = 0; i < n; i++) {
        int64_t b = md_bucket(bug, a->ids[i], E);
        a->src2dst[i] = b >= 0 ? (int32_t)next[b]++ : -1;
    }
    for (int64_t t = 0; t < a->tokens; t++) {
        int any = 0;
        for (int64_t k = 0; k < a->topk; k++) any |= a->src2dst[t * a->topk + k] >= 0;
        if (!any) continue;
        const int64_t x0 = t * H;
        if (mode == MD_COPY) {
            memcpy(row, (const char *)a->x + (size_t)x0 * esz, (size_t)H * esz);
        } else if (mode == MD_CAST) {
            for (int64_t h = 0; h < H; h++) row[h] = md_q(mode, ud_ld(a->dt, a->x, x0 + h), 1.0f);
        } else {
            token_scales(a, MD_BUG_NONE, t, groups, own);
            token_scales(a, bug, t, groups, stored);
            for (int64_t h = 0; h < H; h++) {
                float x = ud_ld(a->dt, a->x, x0 + h), s = own[h / a->group];
                if (mode == MD_QUANT) row[h] = md_q(mode, x, s);
                else ud_st(a->dt, row, h, md_dequant(x, s));
            }
        }
        for (int64_t k = 0; k < a->topk; k++) {
            int64_t s = a->src2dst[t * a->topk + k];
            if (s < 0) continue;
            memcpy((char *)a->buf + (size_t)(s * H) * esz, row, (size_t)H * esz);
            if (mode == MD_QUANT) memcpy(a->scales + s * groups, stored, (size_t)groups * sizeof *stored);
        }
    }
    free(next);
    free(own);
    free(row);
    return UD_OK;
}
