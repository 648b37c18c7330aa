/* moe_dispatch.cu — CUDA launcher for the expert-parallel MoE dispatch (body and spec:
 * gpu/moe_dispatch.h). Three kernels on the default stream:
 *
 *   rank     one block per share of the flattened slots (256 a pass, at most 1024 blocks): each
 *            slot's rank among the same bucket's earlier slots of the block (a comparison over
 *            the 256 slots of the pass in shared memory, plus the block's running count of the
 *            bucket), written to src2dst for now; the block's count of every bucket to hist
 *   scan     one block: for every bucket the exclusive prefix of its counts over the blocks
 *            (a warp a bucket), the buckets' totals (tokens_per_expert), and their exclusive
 *            prefix (each expert's first row)
 *   scatter  one block per token: its slots = first row + block prefix + rank (src2dst, -1 when
 *            not taken), then its row into every slot: 16-byte copies (bf16 weights), or a warp
 *            per group computing amax, the scale and q with the fp8 body (fp8 weights)
 *
 * The slots are the stable counting sort's (source order within an expert), computed without
 * atomics, so the cuda and cpu backends write the same rows in the same places: bit for bit.
 * (Kernels that claim rows with atomics, as sglang's ep_scatter, write another order; the judge
 * accepts any order with a consistent src2dst.)
 *
 * Napkin math (bf16 in, fp8 weights, tokens 4096, topk 8 of 32 local experts, every slot local,
 * hidden 7168, group 128): read x 58.7 MB + ids; write q 235 MB + scales 7.3 MB + src2dst =
 * ~301 MB, ~100 us at ~3.0 TB/s copy bandwidth on an H100; bf16 weights write 470 MB instead
 * (~176 us). The rank and scan kernels touch kilobytes. `ulpdiff bench --op moe_dispatch`. */
#include <stdint.h>

#include <mutex>

#include "gpu/moe_dispatch.h"
#include "gpu/ud_cuda.h"

namespace {

constexpr int RANK_THREADS = 256;     /* slots a pass of the rank kernel */
constexpr int MAX_RANK_BLOCKS = 1024;
constexpr int SCAN_THREADS = 1024;    /* 32 warps */
constexpr int SCATTER_THREADS = 256;
constexpr int WARPS = SCATTER_THREADS / 32;
constexpr unsigned FULL = 0xffffffffu;

/* Exclusive prefix of v over the warp; *total gets the warp's sum. */
__device__ __forceinline__ int32_t warp_exclusive(int32_t v, int lane, int32_t *total)
{
    int32_t x = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        int32_t y = __shfl_up_sync(FULL, x, o);
        if (lane >= o) x += y;
    }
    *total = __shfl_sync(FULL, x, 31);
    return x - v;
}

/* BUG >= 0: that variant fixed at compile time (0: production); -1: the code at run time. */
template <int BUG>
__global__ void __launch_bounds__(RANK_THREADS) rank_kernel(md_args a, int rbug, int64_t per, int nb, int32_t *hist)
{
    const int bug = BUG >= 0 ? BUG : rbug;
    extern __shared__ int32_t cnt[];   /* experts + 1 buckets */
    __shared__ int32_t bucket[RANK_THREADS];
    const int64_t E = a.experts, n = a.tokens * a.topk;
    const int tid = threadIdx.x;
    for (int64_t e = tid; e <= E; e += RANK_THREADS) cnt[e] = 0;
    __syncthreads();
    const int64_t lo = (int64_t)blockIdx.x * per, hi = lo + per < n ? lo + per : n;
    for (int64_t base = lo; base < hi; base += RANK_THREADS) {
        const int64_t i = base + tid;
        const int32_t b = i < hi ? (int32_t)md_bucket(bug, a.ids[i], E) : -1;
        bucket[tid] = b;
        __syncthreads();
        int before = 0, after = 0;
        if (b >= 0) {
            for (int j = 0; j < RANK_THREADS; j++) {
                const int same = bucket[j] == b;
                before += same & (j < tid);
                after += same & (j > tid);
            }
            a.src2dst[i] = cnt[b] + before;   /* rank within this block's slots of bucket b */
        }
        __syncthreads();   /* every read of cnt before the pass's update */
        if (b >= 0 && after == 0) cnt[b] += before + 1;
        __syncthreads();
    }
    for (int64_t e = tid; e <= E; e += RANK_THREADS) hist[e * nb + blockIdx.x] = cnt[e];
}

/* hist[e][b] becomes the count of bucket e in blocks before b; off[e] the first row of bucket
 * e; counts[e] its total (experts only: bucket `experts` is no expert). */
__global__ void __launch_bounds__(SCAN_THREADS) scan_kernel(int64_t E, int nb, int32_t *hist, int32_t *off, int32_t *counts)
{
    extern __shared__ int32_t total[];   /* experts + 1 */
    __shared__ int32_t warp_base[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int per = (nb + 31) / 32;
    for (int64_t e = warp; e <= E; e += SCAN_THREADS / 32) {
        int32_t *col = hist + e * nb;
        const int b0 = lane * per < nb ? lane * per : nb, b1 = b0 + per < nb ? b0 + per : nb;
        int32_t s = 0;
        for (int b = b0; b < b1; b++) s += col[b];
        int32_t sum;
        int32_t run = warp_exclusive(s, lane, &sum);
        for (int b = b0; b < b1; b++) {
            const int32_t v = col[b];
            col[b] = run;
            run += v;
        }
        if (lane == 0) total[e] = sum;
    }
    __syncthreads();
    /* Exclusive prefix of total[0 .. E]: a contiguous run per thread, then warps, then the block. */
    const int64_t m = E + 1, chunk = (m + SCAN_THREADS - 1) / SCAN_THREADS;
    const int64_t c0 = threadIdx.x * chunk < m ? threadIdx.x * chunk : m, c1 = c0 + chunk < m ? c0 + chunk : m;
    int32_t s = 0;
    for (int64_t e = c0; e < c1; e++) s += total[e];
    int32_t wsum;
    const int32_t in_warp = warp_exclusive(s, lane, &wsum);
    if (lane == 0) warp_base[warp] = wsum;
    __syncthreads();
    if (warp == 0) {
        int32_t all;
        warp_base[lane] = warp_exclusive(warp_base[lane], lane, &all);
    }
    __syncthreads();
    int32_t run = warp_base[warp] + in_warp;
    for (int64_t e = c0; e < c1; e++) {
        const int32_t v = total[e];
        off[e] = run;
        if (e < E) counts[e] = v;
        run += v;
    }
}

/* max |x| over columns lo .. lo+len-1 of row `tok`, reduced over the warp (exact, order-free).
 * VEC: 4 elements a lane at a time (8-byte loads; len and lo multiples of 4). */
template <bool VEC>
__device__ __forceinline__ float warp_amax(const md_args &a, int64_t tok, int64_t lo, int64_t len, int lane)
{
    float m = 0.0f;
    const int64_t base = tok * a.hidden + lo;
    if (VEC) {
        const uint2 *p = reinterpret_cast<const uint2 *>((const uint16_t *)a.x + base);
        for (int64_t u = lane; 4 * u < len; u += 32) {
            const uint2 w = p[u];
            m = fq_absmax(m, ud_to_f32(a.dt, w.x & 0xffffu));
            m = fq_absmax(m, ud_to_f32(a.dt, w.x >> 16));
            m = fq_absmax(m, ud_to_f32(a.dt, w.y & 0xffffu));
            m = fq_absmax(m, ud_to_f32(a.dt, w.y >> 16));
        }
    } else {
        for (int64_t j = lane; j < len; j += 32) m = fq_absmax(m, ud_ld(a.dt, a.x, base + j));
    }
#pragma unroll
    for (int o = 16; o >= 1; o >>= 1) m = fq_absmax(m, __shfl_xor_sync(FULL, m, o));
    return m;
}

/* One block per token: its slots, then its row into each of them in the mode's form. */
template <int MODE, bool VEC, int BUG>
__global__ void __launch_bounds__(SCATTER_THREADS) scatter_kernel(md_args a, int rbug, int64_t per, int nb,
                                                                   const int32_t *hist, const int32_t *off)
{
    const int bug = BUG >= 0 ? BUG : rbug;
    extern __shared__ int32_t slot[];   /* topk */
    __shared__ int any;
    const int64_t t = blockIdx.x, E = a.experts, H = a.hidden, K = a.topk;
    const int tid = threadIdx.x;
    if (tid == 0) any = 0;
    __syncthreads();
    for (int64_t k = tid; k < K; k += SCATTER_THREADS) {
        const int64_t i = t * K + k;
        const int64_t b = md_bucket(bug, a.ids[i], E);
        int32_t s = -1;
        if (b >= 0) {
            s = off[b] + hist[b * nb + i / per] + a.src2dst[i];
            any = 1;   /* every writer writes 1 */
        }
        a.src2dst[i] = s;
        slot[k] = s;
    }
    __syncthreads();
    if (!any) return;
    const uint16_t *x16 = (const uint16_t *)a.x + t * H;
    if (MODE == MD_COPY) {   /* raw bits: a 16-byte chunk read once, written to every slot */
        if (VEC) {
            const uint4 *src = reinterpret_cast<const uint4 *>(x16);
            for (int64_t c = tid; c < H / 8; c += SCATTER_THREADS) {
                const uint4 v = src[c];
                for (int64_t k = 0; k < K; k++)
                    if (slot[k] >= 0) reinterpret_cast<uint4 *>((uint16_t *)a.buf + (int64_t)slot[k] * H)[c] = v;
            }
        } else {
            for (int64_t h = tid; h < H; h += SCATTER_THREADS) {
                const uint16_t v = x16[h];
                for (int64_t k = 0; k < K; k++)
                    if (slot[k] >= 0) ((uint16_t *)a.buf)[(int64_t)slot[k] * H + h] = v;
            }
        }
        return;
    }
    if (MODE == MD_CAST) {   /* the bf16 path into the e4m3 buffer: no scale, none written */
        for (int64_t h = tid; h < H; h += SCATTER_THREADS) {
            const uint8_t q = md_q(MD_CAST, ud_ld(a.dt, a.x, t * H + h), 1.0f);
            for (int64_t k = 0; k < K; k++)
                if (slot[k] >= 0) ((uint8_t *)a.buf)[(int64_t)slot[k] * H + h] = q;
        }
        return;
    }
    /* MD_QUANT, MD_QUANT_DEQ: a warp per group. */
    const int lane = tid & 31, warp = tid >> 5;
    const int64_t G = a.group, groups = (H + G - 1) / G;
    for (int64_t g = warp; g < groups; g += WARPS) {
        const int64_t lo = g * G, len = md_group_len(H, G, g);
        const float s = md_scale(a.fmt, warp_amax<VEC>(a, t, lo, len, lane), a.min_scale);
        float stored = s;
        int64_t st, sg;
        md_scale_source(bug, t, g, a.tokens, &st, &sg);
        if (st != t || sg != g)
            stored = md_scale(a.fmt, warp_amax<false>(a, st, sg * G, md_group_len(H, G, sg), lane), a.min_scale);
        if (MODE == MD_QUANT && VEC) {   /* 4 elements a lane: an 8-byte load, a 4-byte store a slot */
            const uint2 *p = reinterpret_cast<const uint2 *>(x16 + lo);
            for (int64_t u = lane; 4 * u < len; u += 32) {
                const uint2 w = p[u];
                const uint32_t q = (uint32_t)md_q(MD_QUANT, ud_to_f32(a.dt, w.x & 0xffffu), s) |
                                   (uint32_t)md_q(MD_QUANT, ud_to_f32(a.dt, w.x >> 16), s) << 8 |
                                   (uint32_t)md_q(MD_QUANT, ud_to_f32(a.dt, w.y & 0xffffu), s) << 16 |
                                   (uint32_t)md_q(MD_QUANT, ud_to_f32(a.dt, w.y >> 16), s) << 24;
                for (int64_t k = 0; k < K; k++)
                    if (slot[k] >= 0) reinterpret_cast<uint32_t *>((uint8_t *)a.buf + (int64_t)slot[k] * H + lo)[u] = q;
            }
        } else {
            for (int64_t j = lane; j < len; j += 32) {
                const float v = ud_ld(a.dt, a.x, t * H + lo + j);
                for (int64_t k = 0; k < K; k++) {
                    if (slot[k] < 0) continue;
                    const int64_t at = (int64_t)slot[k] * H + lo + j;
                    if (MODE == MD_QUANT) ((uint8_t *)a.buf)[at] = md_q(MD_QUANT, v, s);
                    else ud_st(a.dt, a.buf, at, md_dequant(v, s));
                }
            }
        }
        if (MODE == MD_QUANT && lane == 0)
            for (int64_t k = 0; k < K; k++)
                if (slot[k] >= 0) a.scales[(int64_t)slot[k] * groups + g] = stored;
    }
}

/* Scratch for the per-block counts and the offsets: kept per device and grown, never freed per
 * call (a cudaFree would synchronise the host). The stream is the default one, so a later call
 * cannot overwrite what an earlier one still reads; the mutex guards the pool. */
constexpr int MAX_DEVICES = 64;
std::mutex g_mutex;
void *g_scratch[MAX_DEVICES];
size_t g_cap[MAX_DEVICES];

int scratch(size_t bytes, int32_t **out)
{
    int dev = -1;
    UD_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev < 0 || dev >= MAX_DEVICES) { ud_error("moe_dispatch: device %d out of range", dev); return UD_EINTERNAL; }
    if (g_cap[dev] < bytes) {
        if (g_scratch[dev]) UD_CUDA_CHECK(cudaFree(g_scratch[dev]));
        g_scratch[dev] = nullptr;
        g_cap[dev] = 0;
        UD_CUDA_CHECK(cudaMalloc(&g_scratch[dev], bytes));
        g_cap[dev] = bytes;
    }
    *out = (int32_t *)g_scratch[dev];
    return UD_OK;
}

bool aligned(const void *p, uintptr_t n) { return p == NULL || ((uintptr_t)p & (n - 1)) == 0; }

template <int MODE, int BUG>
void launch_scatter(const md_args *a, int bug, bool vec, int64_t per, int nb, const int32_t *hist, const int32_t *off)
{
    const size_t smem = (size_t)a->topk * sizeof(int32_t);
    if (vec) scatter_kernel<MODE, true, BUG><<<(unsigned)a->tokens, SCATTER_THREADS, smem>>>(*a, bug, per, nb, hist, off);
    else scatter_kernel<MODE, false, BUG><<<(unsigned)a->tokens, SCATTER_THREADS, smem>>>(*a, bug, per, nb, hist, off);
}

template <int BUG>
int launch(const md_args *a, int bug, int64_t per, int nb, int32_t *hist, int32_t *off)
{
    const size_t esmem = (size_t)(a->experts + 1) * sizeof(int32_t);
    rank_kernel<BUG><<<(unsigned)nb, RANK_THREADS, esmem>>>(*a, bug, per, nb, hist);
    UD_CUDA_LAUNCH_CHECK();
    scan_kernel<<<1, SCAN_THREADS, esmem>>>(a->experts, nb, hist, off, a->counts);
    UD_CUDA_LAUNCH_CHECK();
    const int mode = md_mode(bug, a->weights);
    bool vec;
    if (mode == MD_COPY)   /* 16-byte chunks: rows of a multiple of 8 elements, aligned tensors */
        vec = a->hidden % 8 == 0 && aligned(a->x, 16) && aligned(a->buf, 16);
    else                   /* 4 elements a lane: groups and rows of a multiple of 4 */
        vec = a->hidden % 4 == 0 && a->group % 4 == 0 && aligned(a->x, 8) && aligned(a->buf, 4);
    switch (mode) {
    case MD_COPY: launch_scatter<MD_COPY, BUG>(a, bug, vec, per, nb, hist, off); break;
    case MD_QUANT: launch_scatter<MD_QUANT, BUG>(a, bug, vec, per, nb, hist, off); break;
    case MD_QUANT_DEQ: launch_scatter<MD_QUANT_DEQ, BUG>(a, bug, false, per, nb, hist, off); break;
    default: launch_scatter<MD_CAST, BUG>(a, bug, false, per, nb, hist, off); break;
    }
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

}  // namespace

extern "C" int moe_dispatch_cuda(const md_args *a, int bug)
{
    if (bug < 0 || bug >= MD_BUG_COUNT) { ud_error("moe_dispatch: unknown variant %d", bug); return UD_EINTERNAL; }
    if (a->dt != UD_DT_BF16 && a->dt != UD_DT_F16) {
        ud_error("moe_dispatch: unsupported activation dtype %d (16-bit only)", a->dt);
        return UD_EINTERNAL;
    }
    const int64_t n = a->tokens * a->topk;
    if (n == 0) {   /* no slot: every expert's count is 0 */
        if (a->experts) UD_CUDA_CHECK(cudaMemsetAsync(a->counts, 0, (size_t)a->experts * sizeof(int32_t)));
        return UD_OK;
    }
    if (n > 0x7fffffffLL || a->tokens > 0x7fffffffLL || a->experts > 4096 || a->topk > 256) {
        ud_error("moe_dispatch: %lld tokens x topk %lld, %lld experts exceed the kernel's limits",
                 (long long)a->tokens, (long long)a->topk, (long long)a->experts);
        return UD_EINTERNAL;
    }
    /* Each rank block takes `per` slots (a multiple of the pass), at most MAX_RANK_BLOCKS blocks. */
    int64_t per = (n + MAX_RANK_BLOCKS - 1) / MAX_RANK_BLOCKS;
    per = (per + RANK_THREADS - 1) / RANK_THREADS * RANK_THREADS;
    const int nb = (int)((n + per - 1) / per);
    std::lock_guard<std::mutex> lock(g_mutex);
    int32_t *hist;
    UD_TRY(scratch((size_t)(a->experts + 1) * (size_t)(nb + 1) * sizeof(int32_t), &hist));
    int32_t *off = hist + (a->experts + 1) * nb;
    return bug == MD_BUG_NONE ? launch<0>(a, bug, per, nb, hist, off) : launch<-1>(a, bug, per, nb, hist, off);
}
