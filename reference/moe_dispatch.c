/* moe_dispatch.c — exact reference of the expert-parallel MoE dispatch in its canonical order
 * (formula: spec/moe_dispatch.h, docs/ops/moe_dispatch.md). Counting and placing are the
 * reference's own loops, written from the spec (a counting sort, stable in source order); the
 * fp8 rows and scales are fp8_quant_per_token's reference itself (reference/fp8_quant_per_token.c),
 * one token at a time, so the two operators cannot disagree about what a quantised row is. */
#include "spec/moe_dispatch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "spec/fp8_quant_per_token.h"

static int taken(const ref_md_args *a, int64_t i) { return a->ids[i] >= 0 && a->ids[i] < a->experts; }

static void set_exact(ud_ref *r, size_t i, double v)
{
    r->r0[i] = r->r1[i] = v;
    r->s[i] = 0.0;
}

/* Row `row` of a [rows, n] reference, from a one-row reference (r0, r1) of n elements. */
static void put_row(ud_ref *dst, int64_t row, const ud_ref *src, int64_t n)
{
    memcpy(dst->r0 + row * n, src->r0, (size_t)n * sizeof(double));
    memcpy(dst->r1 + row * n, src->r1, (size_t)n * sizeof(double));
    memset(dst->s + row * n, 0, (size_t)n * sizeof(double));
}

int ref_moe_dispatch(const ref_md_args *a, ud_ref *buf, ud_ref *scales, ud_ref *counts, ud_ref *src2dst,
                     int use_mpfr)
{
    const int64_t n = a->tokens * a->topk, H = a->hidden;
    const int64_t groups = a->weights == MD_W_FP8 ? (H + a->group - 1) / a->group : 0;
    int64_t *next = calloc((size_t)a->experts + 1, sizeof *next);
    double *row = malloc((size_t)(3 * (H + groups) + 1) * sizeof *row);
    if (!next || !row) {
        free(next);
        free(row);
        UD_ALLOC_CHECK(NULL);
    }
    /* Counts, then each expert's first row (exclusive prefix sum), then the slots in source order. */
    for (int64_t i = 0; i < n; i++)
        if (taken(a, i)) next[a->ids[i] + 1]++;
    for (int64_t e = 0; e < a->experts; e++) set_exact(counts, (size_t)e, (double)next[e + 1]);
    for (int64_t e = 1; e <= a->experts; e++) next[e] += next[e - 1];
    int64_t live = next[a->experts];   /* rows the experts own: 0 .. live-1 */
    for (int64_t i = 0; i < n; i++) set_exact(src2dst, (size_t)i, taken(a, i) ? (double)next[a->ids[i]]++ : -1.0);

    /* Rows nobody owns: NaN (never judged: the judge compares the owned rows only). */
    for (size_t i = (size_t)(live * H); i < buf->n; i++) set_exact(buf, i, NAN);
    for (size_t i = (size_t)(live * groups); i < scales->n; i++) set_exact(scales, i, NAN);

    /* Each token's row once, placed at each of its taken rows. */
    const size_t esz = ud_format(a->dt)->size;
    ud_ref q = {(size_t)H, row, row + H, row + 2 * H};
    ud_ref sc = {(size_t)groups, row + 3 * H, row + 3 * H + groups, row + 3 * H + 2 * groups};
    ref_fq_args fa = {
        .dt = a->dt, .fmt = a->fmt, .tokens = 1, .hidden = H, .group = a->group,
        .min_scale = a->min_scale, .scale_ub = 0.0f, .x = NULL,
    };
    int rc = UD_OK;
    for (int64_t t = 0; t < a->tokens && rc == UD_OK; t++) {
        int any = 0;
        for (int64_t k = 0; k < a->topk; k++) any |= taken(a, t * a->topk + k);
        if (!any) continue;
        const char *x = (const char *)a->x + (size_t)(t * H) * esz;
        if (a->weights == MD_W_FP8) {
            fa.x = x;
            rc = ref_fp8_quant_per_token(&fa, &q, &sc, use_mpfr);
        } else {
            for (int64_t h = 0; h < H; h++) q.r0[h] = q.r1[h] = ud_get(a->dt, x, (size_t)h);
        }
        for (int64_t k = 0; k < a->topk && rc == UD_OK; k++) {
            int64_t i = t * a->topk + k;
            if (!taken(a, i)) continue;
            int64_t r = (int64_t)src2dst->r0[i];
            put_row(buf, r, &q, H);
            if (groups) put_row(scales, r, &sc, groups);
        }
    }
    free(next);
    free(row);
    return rc;
}
