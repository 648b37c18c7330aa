/* post_reorder_sum.cu — CUDA launcher for the MoE combine (body and spec:
 * gpu/post_reorder_sum.h): one token per block, each thread holding CU chunks of the output row
 * and the loads of up to KU slots' chunks in flight at once; the additions in ascending k, as
 * the body fixes, so every configuration and the cpu backend compute the same bits.
 *
 * Napkin math (bf16, tokens 4096, topk 8, hidden 7168): read down 470 MB (each row once) +
 * write out 58.7 MB = 529 MB; ~176 us at ~3.0 TB/s copy bandwidth on an H100, ~126 us at
 * ~4.2 TB/s on an H200. Configurations and measured times: docs/performance.md. */
#include <stdint.h>

#include "gpu/post_reorder_sum.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

namespace {

struct prs_slot {
    int32_t id;
    float w;
    int32_t row;
};

constexpr int KU = 8;   /* slots whose chunk loads are in flight together */

/* One token per block of THREADS threads. The token's (id, weight, row) triples are staged in
 * shared memory once. Thread i owns chunks i, i + THREADS, ..., CU at a time; for each it loads
 * the chunk of up to KU taken slots at once (all loads in flight before the first is used),
 * then accumulates them in ascending k with prs_acc() — the body's order — and rounds and stores
 * the chunk. A chunk is one 16-byte load per taken slot when rows are 16-byte aligned, else V
 * scalar loads; either way each element's order of additions is the same. */
template <int DT, int BUG, int THREADS, int CU>
__global__ void __launch_bounds__(THREADS) post_reorder_sum_kernel(prs_args a, bool vec, int rbug)
{
    const int bug = BUG >= 0 ? BUG : rbug;   /* -1: a known-bug variant, its code at run time */
    constexpr int V = ud_vec<DT>::V;
    extern __shared__ prs_slot slots[];
    const int64_t t = blockIdx.x, n = a.hidden, chunks = (n + V - 1) / V;
    const int esz = ud_dt_size(DT);
    for (int64_t k = threadIdx.x; k < a.topk; k += THREADS) {
        const int64_t s = t * a.topk + k;
        slots[k].id = a.ids[s];
        slots[k].w = a.w[s];
        slots[k].row = a.src2dst[s];
    }
    __syncthreads();
    char *orow = (char *)a.out + t * n * esz;
    const char *down = (const char *)a.down;
    for (int64_t c0 = threadIdx.x; c0 < chunks; c0 += (int64_t)THREADS * CU) {
        float acc[CU][V];
#pragma unroll
        for (int u = 0; u < CU; u++)
#pragma unroll
            for (int j = 0; j < V; j++) acc[u][j] = 0.0f;
        for (int64_t k0 = 0; k0 < a.topk; k0 += KU) {
            uint4 d[KU][CU];
#pragma unroll
            for (int q = 0; q < KU; q++) {
                const int64_t k = k0 + q;
                const bool take = k < a.topk && prs_take(bug, slots[k < a.topk ? k : 0].id, a.experts);
#pragma unroll
                for (int u = 0; u < CU; u++) {
                    const int64_t c = c0 + (int64_t)u * THREADS;
                    if (take && c < chunks) d[q][u] = ud_load_raw<DT>(down + (int64_t)slots[k].row * n * esz, c, n, vec);
                }
            }
#pragma unroll
            for (int q = 0; q < KU; q++) {
                const int64_t k = k0 + q;
                if (!(k < a.topk && prs_take(bug, slots[k < a.topk ? k : 0].id, a.experts))) continue;
                const float w = slots[k].w;
#pragma unroll
                for (int u = 0; u < CU; u++) {
                    float x[V];
                    ud_unpack<DT>(d[q][u], x);
#pragma unroll
                    for (int j = 0; j < V; j++) acc[u][j] = prs_acc(DT, bug, acc[u][j], w, x[j]);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < CU; u++) {
            const int64_t c = c0 + (int64_t)u * THREADS;
            if (c < chunks) ud_store_chunk<DT>(orow, c, n, vec, acc[u]);
        }
    }
}

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

/* Production's choice first; the others with -DUD_KERNEL_CONFIGS=ON (the performance runs). */
const char *const config_names[] = {"t256_c1",
#if UD_KERNEL_CONFIGS
                                    "t128_c1", "t128_c2", "t64_c2",
#endif
};
constexpr int NCONFIGS = sizeof config_names / sizeof config_names[0];

template <int DT, int BUG, int THREADS, int CU>
int launch(const prs_args *a, bool vec, int bug = 0)
{
    const size_t smem = (size_t)a->topk * sizeof(prs_slot);
    post_reorder_sum_kernel<DT, BUG, THREADS, CU><<<(unsigned)a->tokens, THREADS, smem>>>(*a, vec, bug);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

template <int DT>
int launch_dt(const prs_args *a, int bug, int k, bool vec)
{
    if (bug != PRS_BUG_NONE) {   /* known-bug variants: one instantiation, the code at run time */
        if (bug < 0 || bug >= PRS_BUG_COUNT) { ud_error("post_reorder_sum: unknown variant %d", bug); return UD_EINTERNAL; }
        return launch<DT, -1, 256, 1>(a, vec, bug);
    }
    switch (k) {
    case 0: return launch<DT, 0, 256, 1>(a, vec);
#if UD_KERNEL_CONFIGS
    case 1: return launch<DT, 0, 128, 1>(a, vec);
    case 2: return launch<DT, 0, 128, 2>(a, vec);
    case 3: return launch<DT, 0, 64, 2>(a, vec);
#endif
    default: ud_error("post_reorder_sum: no launch configuration %d", k); return UD_EUSAGE;
    }
}

int run(const prs_args *a, int bug, int k)
{
    if (a->tokens == 0) return UD_OK;
    if (a->tokens > 0x7fffffff) {
        ud_error("post_reorder_sum: %lld tokens exceed the grid limit", (long long)a->tokens);
        return UD_EINTERNAL;
    }
    if ((size_t)a->topk * sizeof(prs_slot) > 48 * 1024) {
        ud_error("post_reorder_sum: topk %lld needs more than 48 KiB of shared memory", (long long)a->topk);
        return UD_EINTERNAL;
    }
    bool vec = (a->hidden * ud_dt_size(a->dt)) % 16 == 0 && aligned16(a->down) && aligned16(a->out);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, k, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, k, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, k, vec);
    default: ud_error("post_reorder_sum: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

}  // namespace

/* Production: 256 threads a token, one chunk at a time (t256_c1): 99.0% of copy bandwidth at the
 * bench shape and 8.2 us at one token, the best of the configurations measured (docs/performance.md,
 * H100, 2026-12-07). */
extern "C" int post_reorder_sum_cuda(const prs_args *a, int bug) { return run(a, bug, 0); }

extern "C" int post_reorder_sum_cuda_tune(const prs_args *a, int cfg, const char **name)
{
    if (cfg < 0 || cfg >= NCONFIGS) return UD_EUSAGE;
    *name = config_names[cfg];
    return run(a, PRS_BUG_NONE, cfg);
}
