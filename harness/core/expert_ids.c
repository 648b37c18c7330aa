/* expert_ids.c — expert-ID generators and src2dst (see expert_ids.h). */
#include "harness/core/expert_ids.h"

#include <stdio.h>
#include <stdlib.h>

#include "numerics/ud_portable.h"

const char *const ud_ids_names[] = {
    "uniform", "with_zero", "all_zero", "padded", "largest", "all_padded", "out_of_range", NULL,
};
_Static_assert(sizeof ud_ids_names / sizeof ud_ids_names[0] == UD_IDS_COUNT + 1,
               "every expert-ID generator needs a name");

int ud_ids_validate(ud_ids_kind kind, int64_t topk, int64_t experts, char *msg, size_t n)
{
    if (kind != UD_IDS_ALL_ZERO && topk > experts) {
        snprintf(msg, n, "ids = %s draws %lld distinct experts per token from only %lld (use topk <= experts, "
                 "or ids = all_zero)", ud_ids_names[kind], (long long)topk, (long long)experts);
        return -1;
    }
    return 0;
}

/* Expert in [0, experts) for (token, slot, attempt): attempts redraw on a duplicate. */
static int32_t draw(uint64_t seed, uint64_t stream, int64_t t, int64_t k, int64_t topk, int attempt,
                    int64_t experts)
{
    uint64_t idx = ((uint64_t)t * (uint64_t)topk + (uint64_t)k) * 64u + (uint64_t)attempt;
    return (int32_t)(ud_rng_u64(seed, stream, idx) % (uint64_t)experts);
}

static int taken(const int32_t *row, int64_t upto, int32_t e)
{
    for (int64_t j = 0; j < upto; j++)
        if (row[j] == e) return 1;
    return 0;
}

void ud_ids_fill(int32_t *ids, int64_t tokens, int64_t topk, int64_t experts, ud_ids_kind kind,
                 uint64_t seed, uint64_t stream)
{
    for (int64_t t = 0; t < tokens; t++) {
        int32_t *row = ids + t * topk;
        if (kind == UD_IDS_ALL_ZERO) {
            for (int64_t k = 0; k < topk; k++) row[k] = 0;
            continue;
        }
        /* A forced expert (0 or the largest id) sits at slot t mod topk, so over topk
         * consecutive tokens it occupies every slot position. */
        int64_t fslot = -1;
        int32_t forced = 0;
        if (kind == UD_IDS_WITH_ZERO || kind == UD_IDS_LARGEST) {
            fslot = t % topk;
            forced = kind == UD_IDS_WITH_ZERO ? 0 : (int32_t)(experts - 1);
            row[fslot] = forced;
        }
        for (int64_t k = 0; k < topk; k++) {
            if (k == fslot) continue;
            int32_t e = 0;
            for (int a = 0;; a++) {
                if (a < 64) e = draw(seed, stream, t, k, topk, a, experts);
                else e = (int32_t)((e + 1) % experts);   /* deterministic fallback, rarely needed */
                if (!taken(row, k, e) && !(fslot > k && e == forced)) break;
            }
            row[k] = e;
        }
        if (kind == UD_IDS_OUT_OF_RANGE) {
            /* One id outside [-1, experts) per token, at slot t mod topk (every position over
             * topk tokens): the first id past the end, the first below -1, then far ones and
             * the int32 extremes; about a quarter of the other slots -1. */
            uint64_t r = ud_rng_u64(seed, stream ^ 0x00fu, (uint64_t)t) % 1000000u;
            int64_t bad[6] = {experts, -2, experts + 1 + (int64_t)r, INT32_MAX, -3 - (int64_t)r, INT32_MIN};
            for (int64_t k = 0; k < topk; k++)
                if (ud_rng_unit(seed, stream ^ 0x9adu, (uint64_t)(t * topk + k)) < 0.25) row[k] = -1;
            row[t % topk] = (int32_t)bad[t % 6];
            continue;
        }
        int all_pad = kind == UD_IDS_ALL_PADDED &&
                      (t == 0 || ud_rng_unit(seed, stream ^ 0xa11u, (uint64_t)t) < 0.5);
        if (kind == UD_IDS_PADDED || kind == UD_IDS_ALL_PADDED)
            for (int64_t k = 0; k < topk; k++)
                if (all_pad || ud_rng_unit(seed, stream ^ 0x9adu, (uint64_t)(t * topk + k)) < 0.5) row[k] = -1;
    }
}

/* A slot whose id is outside [-1, experts), ordered by id, then by slot (a stable sort). */
typedef struct { int32_t id; int64_t slot; } id_slot;
static int by_id_then_slot(const void *pa, const void *pb)
{
    const id_slot *a = pa, *b = pb;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

int ud_ids_src2dst(const int32_t *ids, int64_t n, int64_t experts, int32_t *src2dst)
{
    /* Counting sort on id + 1 in [0, experts]: stable, so equal ids keep source order. The few
     * slots outside that range are sorted apart and placed before (ids < -1) or after (ids >=
     * experts) it, as the dispatch's stable sort of the whole tensor places them. */
    int64_t *start = calloc((size_t)experts + 2, sizeof *start);
    id_slot *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    if (!start || !out) { free(start); free(out); return -1; }
    int64_t nout = 0, nlow = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < -1 || ids[i] >= experts) {
            out[nout].id = ids[i];
            out[nout++].slot = i;
            nlow += ids[i] < -1;
        } else {
            start[ids[i] + 2]++;
        }
    }
    start[0] = nlow;   /* the in-range slots follow the ids below -1 */
    for (int64_t b = 1; b <= experts + 1; b++) start[b] += start[b - 1];
    for (int64_t i = 0; i < n; i++)
        if (ids[i] >= -1 && ids[i] < experts) src2dst[i] = (int32_t)start[ids[i] + 1]++;
    qsort(out, (size_t)nout, sizeof *out, by_id_then_slot);
    for (int64_t j = 0; j < nout; j++)   /* below -1: rows 0 .. nlow-1; >= experts: the last rows */
        src2dst[out[j].slot] = (int32_t)(j < nlow ? j : n - nout + j);
    free(start);
    free(out);
    return 0;
}
