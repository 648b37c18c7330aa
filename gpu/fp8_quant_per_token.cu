/* fp8_quant_per_token.cu — CUDA launcher for FP8 per-token / per-group quantization (body and
 * spec: gpu/fp8_quant_per_token.h).
 *
 * A team of TEAM threads quantises one group: a warp (TEAM 32, eight groups per block) when
 * the group fits in FQ_MAXC chunks per lane, else the whole block of 256 (per-token rows of
 * thousands of columns). Lane l owns chunks l, l + TEAM, ... of V = 16 bytes; the first FQ_MAXC
 * stay in registers between the amax pass and the quantise pass, so x is read from memory
 * once for groups up to TEAM * FQ_MAXC * V elements (8192 bf16 per-token, 1024 per warp).
 * amax combines by an xor-shuffle max within the warp and, for TEAM 256, across warps through
 * shared memory; max is exact, so the order does not matter. Loads are 16-byte vectors and
 * stores V-byte vectors when every group start is 16-byte aligned (x, q aligned;
 * hidden * sizeof(T) and group * sizeof(T) multiples of 16), else scalar; the arithmetic is
 * the body's either way.
 *
 * Napkin math (bf16, tokens 4096, hidden 7168, per-token): read x 58.7 MB + write q 29.4 MB +
 * scales 16 KB = 88 MB; at ~3.0 TB/s copy bandwidth on an H100, ~29 us. `ulpdiff bench --op
 * fp8_quant_per_token` measures it.
 */
#include <stdint.h>
#include <string.h>

#include "gpu/fp8_quant_per_token.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

#define FQ_THREADS 256
#define FQ_MAXC 4

/* Quantises and stores chunk c: one V-byte store when aligned. */
template <int DT, int BUG>
__device__ __forceinline__ void quant_chunk(uint8_t *q, int64_t c, int64_t n, bool vec, const float *v, float s)
{
    constexpr int V = ud_vec<DT>::V;
    uint8_t b[V];
#pragma unroll
    for (int j = 0; j < V; j++) b[j] = fq_quant(BUG, v[j], s);
    if (vec) {
        if constexpr (V == 8) {
            uint2 w;
            memcpy(&w, b, sizeof w);
            reinterpret_cast<uint2 *>(q)[c] = w;
        } else {
            uint32_t w;
            memcpy(&w, b, sizeof w);
            reinterpret_cast<uint32_t *>(q)[c] = w;
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) q[c * V + j] = b[j];
}

template <int DT, int BUG, int TEAM>
__global__ void __launch_bounds__(FQ_THREADS) fq_kernel(fq_args a, int64_t ngroups, bool vec)
{
    constexpr int V = ud_vec<DT>::V;
    constexpr int TEAMS = FQ_THREADS / TEAM;
    const int esz = ud_dt_size(DT);
    const int lane = threadIdx.x % TEAM;
    const int64_t grp = (int64_t)blockIdx.x * TEAMS + threadIdx.x / TEAM;
    const bool active = grp < ngroups;               /* uniform per team */
    const int64_t gpr = (a.hidden + a.group - 1) / a.group, r = grp / gpr, j = grp % gpr;
    const int64_t n = active ? (a.hidden - j * a.group < a.group ? a.hidden - j * a.group : a.group) : 0;
    const int64_t chunks = (n + V - 1) / V, start = r * a.hidden + j * a.group;
    const char *src = (const char *)a.x + start * esz;

    float cache[FQ_MAXC][V];
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < FQ_MAXC; k++) {
        int64_t c = lane + (int64_t)k * TEAM;
        if (c < chunks) {
            ud_load_chunk<DT>(src, c, n, vec, cache[k]);
#pragma unroll
            for (int i = 0; i < V; i++) amax = fq_absmax(amax, cache[k][i]);
        }
    }
    for (int64_t c = lane + (int64_t)FQ_MAXC * TEAM; c < chunks; c += TEAM) {
        float v[V];
        ud_load_chunk<DT>(src, c, n, vec, v);
#pragma unroll
        for (int i = 0; i < V; i++) amax = fq_absmax(amax, v[i]);
    }
    if (BUG == FQ_BUG_AMAX_SPANS_GROUP_PAIR && active) {
        /* The known bug: the reduction also covers the neighbouring group of the pair (what a
         * 32-lane butterfly over two 16-lane groups computes); its elements are read here. */
        const int64_t pg = fq_pair_group(grp, ngroups);
        if (pg >= 0) {
            const int64_t pr = pg / gpr, pj = pg % gpr;
            const int64_t pn = a.hidden - pj * a.group < a.group ? a.hidden - pj * a.group : a.group;
            const char *psrc = (const char *)a.x + (pr * a.hidden + pj * a.group) * esz;
            for (int64_t c = lane; c < (pn + V - 1) / V; c += TEAM) {
                float v[V];
                ud_load_chunk<DT>(psrc, c, pn, vec, v);
#pragma unroll
                for (int i = 0; i < V; i++) amax = fq_absmax(amax, v[i]);
            }
        }
    }
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) amax = fq_absmax(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    if (TEAM > 32) {
        __shared__ float warp_max[FQ_THREADS / 32];
        if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = amax;
        __syncthreads();
#pragma unroll
        for (int w = 0; w < TEAM / 32; w++) amax = fq_absmax(amax, warp_max[w]);
    }
    if (!active) return;
    const float s = fq_scale(BUG, a.fmt, amax, a.scale_ub, a.min_scale);
    if (lane == 0) a.scales[grp] = s;
    uint8_t *q = a.q + start;
#pragma unroll
    for (int k = 0; k < FQ_MAXC; k++) {
        int64_t c = lane + (int64_t)k * TEAM;
        if (c < chunks) quant_chunk<DT, BUG>(q, c, n, vec, cache[k], s);
    }
    for (int64_t c = lane + (int64_t)FQ_MAXC * TEAM; c < chunks; c += TEAM) {
        float v[V];
        ud_load_chunk<DT>(src, c, n, vec, v);
        quant_chunk<DT, BUG>(q, c, n, vec, v, s);
    }
}

static bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT, int BUG>
static void launch_bug(const fq_args *a, int64_t ngroups, bool vec)
{
    constexpr int V = ud_vec<DT>::V;
    int64_t chunks = (a->group + V - 1) / V;
    if (chunks <= 32 * FQ_MAXC) {
        unsigned blocks = (unsigned)((ngroups + FQ_THREADS / 32 - 1) / (FQ_THREADS / 32));
        fq_kernel<DT, BUG, 32><<<blocks, FQ_THREADS>>>(*a, ngroups, vec);
    } else {
        fq_kernel<DT, BUG, FQ_THREADS><<<(unsigned)ngroups, FQ_THREADS>>>(*a, ngroups, vec);
    }
}

template <int DT>
static int launch_dt(const fq_args *a, int bug, int64_t ngroups, bool vec)
{
    UD_TRY(ud_dispatch_bug<FQ_BUG_COUNT>(bug, [&](auto B) { launch_bug<DT, decltype(B)::value>(a, ngroups, vec); }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

extern "C" int fp8_quant_per_token_cuda(const fq_args *a, int bug)
{
    if (a->tokens == 0) return UD_OK;
    int64_t ngroups = a->tokens * ((a->hidden + a->group - 1) / a->group);
    if (ngroups > 0x7fffffffLL) {
        ud_error("fp8_quant_per_token: %lld groups exceed the grid limit", (long long)ngroups);
        return UD_EINTERNAL;
    }
    int esz = ud_dt_size(a->dt);
    bool vec = (a->hidden * esz) % 16 == 0 && (a->group * esz) % 16 == 0 && aligned16(a->x) && aligned16(a->q);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, ngroups, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, ngroups, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, ngroups, vec);
    default: ud_error("fp8_quant_per_token: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
