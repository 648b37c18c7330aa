/* post_reorder_sum.cu — CUDA launcher for the MoE combine (body and spec:
 * gpu/post_reorder_sum.h).
 *
 * One block of PRS_THREADS threads per token. The token's topk (id, weight, row) triples are
 * staged in shared memory once. Thread i owns chunks i, i + PRS_THREADS, ... of V = 16 bytes
 * of the output row; for each chunk it walks the slots in ascending k and accumulates V fp32
 * sums with prs_acc(), then rounds and stores the chunk. A chunk is one 16-byte load per
 * taken slot when rows are 16-byte aligned (every base pointer aligned and
 * hidden * sizeof(T) % 16 == 0), else V scalar loads; either way each element's order of
 * additions is the same, so the result never depends on alignment.
 *
 * Napkin math (bf16, tokens 4096, topk 8, hidden 7168): read down 4096*8*7168*2 = 470 MB
 * (each row once) + write out 58.7 MB = 529 MB; at ~3.0 TB/s copy bandwidth on an H100 that
 * is ~176 us. `ulpdiff bench --op post_reorder_sum` measures it.
 */
#include <stdint.h>

#include "gpu/post_reorder_sum.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

#define PRS_THREADS 256

struct prs_slot {
    int32_t id;
    float w;
    int32_t row;
};

template <int DT, int BUG>
__global__ void __launch_bounds__(PRS_THREADS) post_reorder_sum_kernel(prs_args a, bool vec)
{
    constexpr int V = ud_vec<DT>::V;
    extern __shared__ prs_slot slots[];
    const int64_t t = blockIdx.x, n = a.hidden, chunks = (n + V - 1) / V;
    const int esz = ud_dt_size(DT);
    for (int64_t k = threadIdx.x; k < a.topk; k += PRS_THREADS) {
        int64_t s = t * a.topk + k;
        slots[k].id = a.ids[s];
        slots[k].w = a.w[s];
        slots[k].row = a.src2dst[s];
    }
    __syncthreads();
    char *orow = (char *)a.out + t * n * esz;
    for (int64_t c = threadIdx.x; c < chunks; c += PRS_THREADS) {
        float acc[V];
#pragma unroll
        for (int j = 0; j < V; j++) acc[j] = 0.0f;
        for (int64_t k = 0; k < a.topk; k++) {
            const prs_slot sl = slots[k];
            if (!prs_take(BUG, sl.id)) continue;
            float d[V];
            ud_load_chunk<DT>((const char *)a.down + (int64_t)sl.row * n * esz, c, n, vec, d);
#pragma unroll
            for (int j = 0; j < V; j++) acc[j] = prs_acc(DT, BUG, acc[j], sl.w, d[j]);
        }
        ud_store_chunk<DT>(orow, c, n, vec, acc);
    }
}

static bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT>
static int launch_dt(const prs_args *a, int bug, bool vec)
{
    dim3 grid((unsigned)a->tokens), block(PRS_THREADS);
    size_t smem = (size_t)a->topk * sizeof(prs_slot);
    UD_TRY(ud_dispatch_bug<PRS_BUG_COUNT>(bug, [&](auto B) {
        post_reorder_sum_kernel<DT, decltype(B)::value><<<grid, block, smem>>>(*a, vec);
    }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

extern "C" int post_reorder_sum_cuda(const prs_args *a, int bug)
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
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, vec);
    default: ud_error("post_reorder_sum: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
