/* tp_allreduce.cu — CUDA launchers for the simulated-rank all-reduce (body and spec:
 * gpu/tp_allreduce.h). All R ranks' partials live on one device; the kernels do what each rank
 * would, in the order the cpu backend emulates, and write every rank's copy of the result.
 *
 * Plain form: one block of TPA_THREADS threads per token; thread i owns chunks i, i +
 * TPA_THREADS, ... of V = 16 bytes of the row; per chunk it walks the ranks in the algorithm's
 * order (tpa_rank_at), one 16-byte load of moe and of shared per rank (scalar loads when rows are
 * not 16-byte aligned: hidden * sizeof(T) % 16 != 0), pushes V partials, and stores the result
 * to the R copies. The production order is the same for every rank, so it is computed once; a
 * variant whose ranks compute different things (rotated_order, norm_before_reduce) computes
 * each rank's copy on its own.
 *
 * Fused form: one block of RMS_LANES (128) threads per token, lane l owning chunks l, l + 128,
 * ... exactly as rmsnorm_fused_add's kernel (gpu/rmsnorm.cu): the first pass computes the
 * all-reduce result, h = RN_T(sigma + residual), writes residual_out and sums h^2 per lane; lanes
 * and warps combine by the same butterflies; the second pass re-reads h from residual_out (the
 * thread's own writes) and writes out = rms_out(h, inv, w).
 *
 * Napkin math (plain, bf16, ranks 8, tokens 1024, hidden 7168): read moe and shared
 * 2 * 8 * 1024 * 7168 * 2 B = 235 MB, write 8 copies 117 MB: 352 MB, ~117 us at an H100's
 * ~3 TB/s. `ulpdiff bench --op tp_allreduce` measures it. */
#include <stdint.h>

#include "gpu/tp_allreduce.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

#define TPA_THREADS 256

/* The all-reduce result for chunk c of token t as output rank q holds it. */
template <int DT, int BUG>
__device__ __forceinline__ void reduce_chunk(const tpa_args &a, int64_t t, int64_t c, int64_t q, int64_t shard,
                                             bool vec, float *sigma)
{
    constexpr int V = ud_vec<DT>::V;
    const int64_t n = a.hidden, esz = ud_dt_size(DT);
    const bool second = tpa_second(a.spec, BUG);
    tpa_red ra[V], rb[V];
    float sta[V][TPA_STACK], stb[V][TPA_STACK];   /* the tree's stacks: local memory, touched by the tree only */
    float res[V];
#pragma unroll
    for (int j = 0; j < V; j++) {
        tpa_red_init(&ra[j]);
        tpa_red_init(&rb[j]);
        res[j] = 0.0f;
    }
    if (BUG == TPA_BUG_RESIDUAL_EVERY_RANK) ud_load_chunk<DT>((const char *)a.res + t * n * esz, c, n, vec, res);
    for (int64_t k = 0; k < a.ranks; k++) {
        const int64_t r = tpa_rank_at(a.alg, BUG, a.ranks, shard, q, k);
        const int64_t row = (r * a.tokens + t) * n * esz;
        float m[V], s[V];
        ud_load_chunk<DT>((const char *)a.moe + row, c, n, vec, m);
        ud_load_chunk<DT>((const char *)a.shared + row, c, n, vec, s);
#pragma unroll
        for (int j = 0; j < V; j++) {
            tpa_red_push(a.alg, DT, &ra[j], sta[j], tpa_partial(DT, a.spec, BUG, m[j], s[j], res[j]));
            if (second) tpa_red_push(a.alg, DT, &rb[j], stb[j], s[j]);
        }
    }
#pragma unroll
    for (int j = 0; j < V; j++) {
        float va = tpa_red_finish(a.alg, DT, &ra[j], sta[j]), vb = second ? tpa_red_finish(a.alg, DT, &rb[j], stb[j]) : 0.0f;
        sigma[j] = tpa_join(a.alg, DT, a.spec, BUG, a.ranks, va, vb);
    }
}

/* The rank's own partial RN_T(moe_q + shared_q) of chunk c (the norm-before-reduce bug). */
template <int DT>
__device__ __forceinline__ void own_chunk(const tpa_args &a, int64_t t, int64_t c, int64_t q, bool vec, float *own)
{
    constexpr int V = ud_vec<DT>::V;
    const int64_t n = a.hidden, row = (q * a.tokens + t) * n * ud_dt_size(DT);
    float m[V], s[V];
    ud_load_chunk<DT>((const char *)a.moe + row, c, n, vec, m);
    ud_load_chunk<DT>((const char *)a.shared + row, c, n, vec, s);
#pragma unroll
    for (int j = 0; j < V; j++) own[j] = tpa_hop(DT, m[j], s[j]);
}

template <int DT>
__device__ __forceinline__ void store_copies(void *base, const tpa_args &a, int64_t qlo, int64_t qhi, int64_t t,
                                             int64_t c, bool vec, const float *v)
{
    const int64_t n = a.hidden, esz = ud_dt_size(DT);
    for (int64_t r = qlo; r < qhi; r++) ud_store_chunk<DT>((char *)base + (r * a.tokens + t) * n * esz, c, n, vec, v);
}

template <int DT, int BUG>
__global__ void __launch_bounds__(TPA_THREADS) tpa_plain_kernel(tpa_args a, bool vec)
{
    constexpr int V = ud_vec<DT>::V;
    const int64_t t = blockIdx.x, chunks = (a.hidden + V - 1) / V;
    if (tpa_token_lost(a.alg, BUG, t, a.tokens, a.ranks)) return;   /* nothing reduces or gathers it */
    const int64_t shard = tpa_shard_of(a.alg, BUG, t, a.tokens, a.ranks);
    const int64_t nq = tpa_rank_dependent(BUG) ? a.ranks : 1;
    for (int64_t c = threadIdx.x; c < chunks; c += TPA_THREADS)
        for (int64_t q = 0; q < nq; q++) {
            float s[V];
            reduce_chunk<DT, BUG>(a, t, c, q, shard, vec, s);
            store_copies<DT>(a.out, a, nq == 1 ? 0 : q, nq == 1 ? a.ranks : q + 1, t, c, vec, s);
        }
}

template <int DT, int BUG>
__global__ void __launch_bounds__(RMS_LANES) tpa_fused_kernel(tpa_args a, bool vec)
{
    constexpr int V = ud_vec<DT>::V;   /* = rms_vec(DT): rmsnorm's chunks */
    const int64_t t = blockIdx.x, n = a.hidden, chunks = (n + V - 1) / V, esz = ud_dt_size(DT);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    if (tpa_token_lost(a.alg, BUG, t, a.tokens, a.ranks)) return;   /* uniform over the block */
    const int64_t shard = tpa_shard_of(a.alg, BUG, t, a.tokens, a.ranks);
    const int64_t nq = tpa_rank_dependent(BUG) ? a.ranks : 1;
    __shared__ float warp_sum[RMS_WARPS];
    __shared__ float inv_s;
    for (int64_t q = 0; q < nq; q++) {
        const int64_t qlo = nq == 1 ? 0 : q, qhi = nq == 1 ? a.ranks : q + 1;
        float acc = 0.0f;
        for (int64_t c = tid; c < chunks; c += RMS_LANES) {
            float sg[V], r[V], own[V], ro[V], hn[V];
            reduce_chunk<DT, BUG>(a, t, c, q, shard, vec, sg);
            ud_load_chunk<DT>((const char *)a.res + t * n * esz, c, n, vec, r);
            if (BUG == TPA_BUG_NORM_BEFORE_REDUCE) own_chunk<DT>(a, t, c, q, vec, own);
#pragma unroll
            for (int j = 0; j < V; j++) {
                if (BUG != TPA_BUG_NORM_BEFORE_REDUCE) own[j] = 0.0f;
                ro[j] = tpa_residual_out(DT, BUG, sg[j], r[j]);
                hn[j] = tpa_norm_input(DT, BUG, sg[j], r[j], own[j]);
            }
            store_copies<DT>(a.res_out, a, qlo, qhi, t, c, vec, ro);
#pragma unroll
            for (int j = 0; j < V; j++)
                if (c * V + j < n) acc = rms_acc_sq(DT, RMS_BUG_NONE, acc, hn[j]);
        }
        /* Butterflies in rmsnorm's order (gpu/rmsnorm.cu; tp_allreduce.c emulates them). */
#pragma unroll
        for (int off = 16; off >= 1; off >>= 1)
            acc = rms_add(DT, RMS_BUG_NONE, acc, __shfl_xor_sync(0xffffffffu, acc, off));
        if (lane == 0) warp_sum[warp] = acc;
        __syncthreads();
        if (warp == 0) {
            float s = lane < RMS_WARPS ? warp_sum[lane] : 0.0f;
#pragma unroll
            for (int off = RMS_WARPS / 2; off >= 1; off >>= 1)
                s = rms_add(DT, RMS_BUG_NONE, s, __shfl_xor_sync(0xffffffffu, s, off));
            if (lane == 0) inv_s = rms_inv(RMS_BUG_NONE, s, n, a.eps);
        }
        __syncthreads();
        const float inv = inv_s;
        for (int64_t c = tid; c < chunks; c += RMS_LANES) {
            float hn[V], o[V];
            if (BUG == TPA_BUG_NORM_BEFORE_REDUCE) {
                float r[V], own[V];
                ud_load_chunk<DT>((const char *)a.res + t * n * esz, c, n, vec, r);
                own_chunk<DT>(a, t, c, q, vec, own);
#pragma unroll
                for (int j = 0; j < V; j++) hn[j] = tpa_norm_input(DT, BUG, 0.0f, r[j], own[j]);
            } else {   /* h is what this thread wrote to residual_out in the first pass */
                ud_load_chunk<DT>((const char *)a.res_out + (qlo * a.tokens + t) * n * esz, c, n, vec, hn);
            }
#pragma unroll
            for (int j = 0; j < V; j++) {
                float w = c * V + j < n ? tpa_weight(DT, a.wfp32, BUG, a.w, c * V + j) : 0.0f;
                o[j] = rms_out(DT, RMS_KIND_LLAMA, RMS_SPEC_HF, RMS_BUG_NONE, hn[j], inv, w);
            }
            store_copies<DT>(a.out, a, qlo, qhi, t, c, vec, o);
        }
        __syncthreads();   /* warp_sum and inv_s are the next rank's */
    }
}

static bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT>
static int launch_dt(const tpa_args *a, int bug, bool vec)
{
    dim3 grid((unsigned)a->tokens);
    UD_TRY(ud_dispatch_bug<TPA_BUG_COUNT>(bug, [&](auto B) {
        if (a->fused) tpa_fused_kernel<DT, decltype(B)::value><<<grid, RMS_LANES>>>(*a, vec);
        else tpa_plain_kernel<DT, decltype(B)::value><<<grid, TPA_THREADS>>>(*a, vec);
    }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

extern "C" int tp_allreduce_cuda(const tpa_args *a, int bug)
{
    if (a->tokens == 0) return UD_OK;
    if (a->tokens > 0x7fffffff) {
        ud_error("tp_allreduce: %lld tokens exceed the grid limit", (long long)a->tokens);
        return UD_EINTERNAL;
    }
    if (a->ranks < 1 || a->ranks > TPA_MAX_RANKS) {
        ud_error("tp_allreduce: %lld ranks (1..%d)", (long long)a->ranks, TPA_MAX_RANKS);
        return UD_EINTERNAL;
    }
    /* The residual row and the weight are read with the partials' chunking only when fused; the
     * weight element by element. */
    bool vec = (a->hidden * ud_dt_size(a->dt)) % 16 == 0 && aligned16(a->moe) && aligned16(a->shared) &&
               aligned16(a->res) && aligned16(a->out) && aligned16(a->res_out);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, vec);
    default: ud_error("tp_allreduce: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
