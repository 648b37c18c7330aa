/* tp_allreduce.c — cpu backend of the simulated-rank all-reduce: the body of gpu/tp_allreduce.h
 * run on the host in the kernels' exact order (partials pushed in the algorithm's rank order
 * for every element; the fused form's sum of squares in rmsnorm's lanes and butterflies), so cpu
 * and cuda agree bit for bit. The token loop is the CUDA grid; the element loop its threads. */
#include <stdlib.h>
#include <string.h>

#include "gpu/tp_allreduce.h"

#include "numerics/status.h"

static size_t at(const tpa_args *a, int64_t r, int64_t t, int64_t h)
{
    return (size_t)((r * a->tokens + t) * a->hidden + h);
}

/* The all-reduce result rank q holds for element (t, h). */
static float element(const tpa_args *a, int bug, int64_t t, int64_t h, int64_t q, int64_t shard)
{
    tpa_red ra, rb;
    float sta[TPA_STACK], stb[TPA_STACK];
    tpa_red_init(&ra);
    tpa_red_init(&rb);
    const int second = tpa_second(a->spec, bug);
    const float res = a->fused ? ud_ld(a->dt, a->res, t * a->hidden + h) : 0.0f;
    for (int64_t k = 0; k < a->ranks; k++) {
        int r = tpa_rank_at(a->alg, bug, a->ranks, shard, q, k);
        float m = ud_ld(a->dt, a->moe, (int64_t)at(a, r, t, h)), s = ud_ld(a->dt, a->shared, (int64_t)at(a, r, t, h));
        tpa_red_push(a->alg, a->dt, &ra, sta, tpa_partial(a->dt, a->spec, bug, m, s, res));
        if (second) tpa_red_push(a->alg, a->dt, &rb, stb, s);
    }
    float va = tpa_red_finish(a->alg, a->dt, &ra, sta), vb = second ? tpa_red_finish(a->alg, a->dt, &rb, stb) : 0.0f;
    return tpa_join(a->alg, a->dt, a->spec, bug, a->ranks, va, vb);
}

/* Xor butterfly over `width` consecutive values, as __shfl_xor_sync does (gpu/rmsnorm.c). */
static void butterfly(int dt, float *v, int width)
{
    float tmp[32];
    for (int off = width / 2; off >= 1; off /= 2) {
        for (int i = 0; i < width; i++) tmp[i] = rms_add(dt, RMS_BUG_NONE, v[i], v[i ^ off]);
        for (int i = 0; i < width; i++) v[i] = tmp[i];
    }
}

/* Sum of squares of a row in rmsnorm's order: lane l of RMS_LANES takes chunks l, l + RMS_LANES,
 * ... of V = rms_vec(dt) elements; warps and then warp sums combine by butterflies. */
static float row_sumsq(int dt, const float *v, int64_t n)
{
    const int V = rms_vec(dt);
    const int64_t chunks = (n + V - 1) / V;
    float lanes[RMS_LANES], warps[RMS_WARPS];
    for (int l = 0; l < RMS_LANES; l++) {
        float acc = 0.0f;
        for (int64_t c = l; c < chunks; c += RMS_LANES)
            for (int j = 0; j < V && c * V + j < n; j++) acc = rms_acc_sq(dt, RMS_BUG_NONE, acc, v[c * V + j]);
        lanes[l] = acc;
    }
    for (int w = 0; w < RMS_WARPS; w++) {
        butterfly(dt, lanes + 32 * w, 32);
        warps[w] = lanes[32 * w];
    }
    butterfly(dt, warps, RMS_WARPS);
    return warps[0];
}

/* Stores v at [q, t, h], or at every rank's copy when the ranks computed one value (q < 0). */
static void store(const tpa_args *a, void *dst, int64_t q, int64_t t, int64_t h, float v)
{
    for (int64_t r = q < 0 ? 0 : q; r < (q < 0 ? a->ranks : q + 1); r++) ud_st(a->dt, dst, (int64_t)at(a, r, t, h), v);
}

int tp_allreduce_cpu(const tpa_args *a, int bug)
{
    const int64_t n = a->hidden, nq = tpa_rank_dependent(bug) ? a->ranks : 1;
    float *ro = malloc(2 * (size_t)(n ? n : 1) * sizeof *ro);
    UD_ALLOC_CHECK(ro);
    float *hn = ro + n;
    for (int64_t t = 0; t < a->tokens; t++) {
        if (tpa_token_lost(a->alg, bug, t, a->tokens, a->ranks)) continue;
        const int64_t shard = tpa_shard_of(a->alg, bug, t, a->tokens, a->ranks);
        for (int64_t q = 0; q < nq; q++) {
            const int64_t dst = nq == 1 ? -1 : q;
            if (!a->fused) {
                for (int64_t h = 0; h < n; h++) store(a, a->out, dst, t, h, element(a, bug, t, h, q, shard));
                continue;
            }
            for (int64_t h = 0; h < n; h++) {
                float sigma = element(a, bug, t, h, q, shard), r = ud_ld(a->dt, a->res, t * n + h), own = 0.0f;
                if (bug == TPA_BUG_NORM_BEFORE_REDUCE)
                    own = tpa_hop(a->dt, ud_ld(a->dt, a->moe, (int64_t)at(a, q, t, h)), ud_ld(a->dt, a->shared, (int64_t)at(a, q, t, h)));
                ro[h] = tpa_residual_out(a->dt, bug, sigma, r);
                hn[h] = tpa_norm_input(a->dt, bug, sigma, r, own);
            }
            float inv = rms_inv(RMS_BUG_NONE, row_sumsq(a->dt, hn, n), n, a->eps);
            for (int64_t h = 0; h < n; h++) {
                float w = tpa_weight(a->dt, a->wfp32, bug, a->w, h);
                store(a, a->out, dst, t, h, rms_out(a->dt, RMS_KIND_LLAMA, RMS_SPEC_HF, RMS_BUG_NONE, hn[h], inv, w));
                store(a, a->res_out, dst, t, h, ro[h]);
            }
        }
    }
    free(ro);
    return UD_OK;
}
