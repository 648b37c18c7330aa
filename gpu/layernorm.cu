/* layernorm.cu — CUDA launcher for the LayerNorm family (body and spec: gpu/layernorm.h).
 *
 * One block of LN_LANES threads per row. Thread l owns chunks l, l + LN_LANES, ... of
 * V = 16 bytes each: one 16-byte load per chunk when the row is 16-byte aligned (x and out
 * aligned and n * sizeof(T) % 16 == 0), else V scalar loads of the same chunk, so the
 * reduction order never depends on alignment. Each thread keeps its first CACHE_FLOATS / V
 * chunks in registers, packed (4 registers a chunk), across the three passes (sum, sum of
 * squared deviations, output): rows of up to LN_LANES * CACHE_FLOATS = 8192 elements are read
 * from memory once, in every dtype; longer rows re-read the rest (from L2 for the row sizes
 * models use). The cached loads are all issued before the first is used. w and b are loaded
 * as 16-byte words when aligned (two for fp32 parameters of a 2-byte x), element by element
 * otherwise; they are small and stay cached. 64 registers a thread: 4 blocks per SM.
 *
 * Napkin math (bf16, 4096 x 7168): read x 58.7 MB + write out 58.7 MB = 117 MB (w and b:
 * 28 KB, cached); at ~3.0 TB/s copy bandwidth on an H100 that is ~39 us, at ~4 TB/s on an
 * H200 ~29 us. `ulpdiff bench` measures it. The two block-wide reductions per row (sum,
 * squared deviations) cost two __syncthreads each, hidden by the 4096 independent blocks.
 */
#include <stdint.h>

#include "gpu/layernorm.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

namespace {

constexpr int CACHE_FLOATS = 32;

/* Chunk c of a row (elements c*V .. c*V+V-1) as raw element bits: one 16-byte load, or V
 * element loads (zero bits past n) when the row is not 16-byte aligned. The register cache
 * holds chunks in this packed form: 4 registers a chunk in every dtype. */
template <int DT>
__device__ __forceinline__ uint4 load_raw(const void *row, int64_t c, int64_t n, bool vec)
{
    if (vec) return reinterpret_cast<const uint4 *>(row)[c];
    uint4 r = make_uint4(0u, 0u, 0u, 0u);
    if (DT == UD_DT_F32) {
        uint32_t *w = reinterpret_cast<uint32_t *>(&r);
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (c * 4 + j < n) w[j] = reinterpret_cast<const uint32_t *>(row)[c * 4 + j];
    } else {
        uint16_t *h = reinterpret_cast<uint16_t *>(&r);
#pragma unroll
        for (int j = 0; j < 8; j++)
            if (c * 8 + j < n) h[j] = reinterpret_cast<const uint16_t *>(row)[c * 8 + j];
    }
    return r;
}

/* Parameters for x's chunk c (x's chunk geometry: V elements), stored in PDT: V * sizeof(PDT)
 * bytes, loaded as one or two 16-byte words (8 bytes for fp32 x with 2-byte parameters) when
 * pvec, element by element otherwise. */
template <int DT, int PDT>
__device__ __forceinline__ void load_params(const void *p, int64_t c, int64_t n, bool pvec, float *dst)
{
    constexpr int V = ud_vec<DT>::V, PB = V * (PDT == UD_DT_F32 ? 4 : 2);
    if (pvec) {
        if constexpr (PB == 8) {
            uint2 r = reinterpret_cast<const uint2 *>(p)[c];
            const uint16_t *h = reinterpret_cast<const uint16_t *>(&r);
#pragma unroll
            for (int j = 0; j < V; j++) dst[j] = ud_to_f32(PDT, h[j]);
        } else {
            uint4 r[PB / 16];
#pragma unroll
            for (int q = 0; q < PB / 16; q++) r[q] = reinterpret_cast<const uint4 *>(p)[c * (PB / 16) + q];
            if (PDT == UD_DT_F32) {
                const float *f = reinterpret_cast<const float *>(r);
#pragma unroll
                for (int j = 0; j < V; j++) dst[j] = f[j];
            } else {
                const uint16_t *h = reinterpret_cast<const uint16_t *>(r);
#pragma unroll
                for (int j = 0; j < V; j++) dst[j] = ud_to_f32(PDT, h[j]);
            }
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++) dst[j] = c * V + j < n ? ud_ld(PDT, p, c * V + j) : 0.0f;
}

/* Block-wide sum in the order gpu/layernorm.c emulates; every thread gets the result.
 * red: LN_WARPS + 1 floats of shared memory owned by this one reduction. */
template <int DT, int BUG>
__device__ __forceinline__ float block_sum(float v, float *red)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) v = ln_sum_add(DT, BUG, v, __shfl_xor_sync(0xffffffffu, v, off));
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < LN_WARPS ? red[lane] : 0.0f;
#pragma unroll
        for (int off = LN_WARPS / 2; off >= 1; off >>= 1) t = ln_sum_add(DT, BUG, t, __shfl_xor_sync(0xffffffffu, t, off));
        if (lane == 0) red[LN_WARPS] = t;
    }
    __syncthreads();
    return red[LN_WARPS];
}

/* Adds chunk c's valid elements to the sums of pass 1. */
template <int DT, int BUG>
__device__ __forceinline__ void sum_chunk(uint4 raw, int64_t c, int64_t n, float &acc, float &acc2)
{
    constexpr int V = ud_vec<DT>::V;
    float v[V];
    ud_unpack<DT>(raw, v);
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) {
            acc = ln_sum_add(DT, BUG, acc, v[j]);
            if (BUG == LN_BUG_ONE_PASS_VAR) acc2 = ln_sq_add(acc2, v[j]);
        }
}

template <int DT>
__device__ __forceinline__ void dev_chunk(uint4 raw, int64_t c, int64_t n, float mean, float &acc2)
{
    constexpr int V = ud_vec<DT>::V;
    float v[V];
    ud_unpack<DT>(raw, v);
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) acc2 = ln_sq_add(acc2, ud_fsub(v[j], mean));
}

/* Writes chunk c of the output row from x's chunk. */
template <int DT, int PDT, int BUG>
__device__ __forceinline__ void out_chunk(const ln_args &a, void *orow, int64_t c, bool vec, bool pvec,
                                          uint4 raw, float mean, float rstd)
{
    constexpr int V = ud_vec<DT>::V;
    float x[V], w[V], b[V], o[V];
    ud_unpack<DT>(raw, x);
#pragma unroll
    for (int j = 0; j < V; j++) { w[j] = 1.0f; b[j] = 0.0f; }
    if (a.affine != LN_AFFINE_NONE) load_params<DT, PDT>(a.w, c, a.n, pvec, w);
    if (a.affine == LN_AFFINE_WEIGHT_BIAS) load_params<DT, PDT>(a.b, c, a.n, pvec, b);
#pragma unroll
    for (int j = 0; j < V; j++)
        o[j] = ln_out(a.affine, x[j], mean, rstd, ln_param(DT, BUG, w[j]), ln_param(DT, BUG, b[j]));
    ud_store_chunk<DT>(orow, c, a.n, vec, o);
}

template <int DT, int PDT, int BUG>
__global__ void __launch_bounds__(LN_LANES) layernorm_kernel(ln_args a, bool vec, bool pvec)
{
    constexpr int V = ud_vec<DT>::V, MAXC = CACHE_FLOATS / V;
    const int64_t row = blockIdx.x, n = a.n, chunks = (n + V - 1) / V;
    const int tid = threadIdx.x;
    const int esz = ud_dt_size(DT);
    const char *xrow = (const char *)a.x + row * n * esz;
    __shared__ float red_sum[LN_WARPS + 1], red_sq[LN_WARPS + 1];
    uint4 cache[MAXC];

    /* Pass 1: the sum for the mean (and, in the one-pass variant, the sum of squares). All
     * of a thread's cached loads are issued before any is used, so they overlap. */
#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * LN_LANES;
        if (c < chunks) cache[k] = load_raw<DT>(xrow, c, n, vec);
    }
    float acc = 0.0f, acc2 = 0.0f;
#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * LN_LANES;
        if (c < chunks) sum_chunk<DT, BUG>(cache[k], c, n, acc, acc2);
    }
    for (int64_t c = tid + (int64_t)MAXC * LN_LANES; c < chunks; c += LN_LANES)
        sum_chunk<DT, BUG>(load_raw<DT>(xrow, c, n, vec), c, n, acc, acc2);
    const float sum = block_sum<DT, BUG>(acc, red_sum);

    /* Pass 2: the sum of squared deviations from the fp32 mean. */
    float mean, rstd;
    if (BUG == LN_BUG_ONE_PASS_VAR) {
        mean = ln_mean(DT, LN_BUG_NONE, sum, n);
        rstd = ln_rstd_one_pass(sum, block_sum<DT, LN_BUG_NONE>(acc2, red_sq), n, a.eps);
    } else {
        mean = ln_mean(DT, BUG, sum, n);
        acc2 = 0.0f;
#pragma unroll
        for (int k = 0; k < MAXC; k++) {
            int64_t c = tid + (int64_t)k * LN_LANES;
            if (c < chunks) dev_chunk<DT>(cache[k], c, n, mean, acc2);
        }
        for (int64_t c = tid + (int64_t)MAXC * LN_LANES; c < chunks; c += LN_LANES)
            dev_chunk<DT>(load_raw<DT>(xrow, c, n, vec), c, n, mean, acc2);
        rstd = ln_rstd(block_sum<DT, LN_BUG_NONE>(acc2, red_sq), n, a.eps);
    }

    /* Pass 3: out = RN_T((x - mean) * rstd * w + b). */
    char *orow = (char *)a.out + row * n * esz;
#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * LN_LANES;
        if (c < chunks) out_chunk<DT, PDT, BUG>(a, orow, c, vec, pvec, cache[k], mean, rstd);
    }
    for (int64_t c = tid + (int64_t)MAXC * LN_LANES; c < chunks; c += LN_LANES)
        out_chunk<DT, PDT, BUG>(a, orow, c, vec, pvec, load_raw<DT>(xrow, c, n, vec), mean, rstd);
}

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT, int PDT>
int launch_bug(const ln_args *a, int bug, bool vec, bool pvec)
{
    dim3 grid((unsigned)a->rows), block(LN_LANES);
    UD_TRY(ud_dispatch_bug<LN_BUG_COUNT>(bug, [&](auto B) {
        layernorm_kernel<DT, PDT, decltype(B)::value><<<grid, block>>>(*a, vec, pvec);
    }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

template <int DT>
int launch_pdt(const ln_args *a, int bug, bool vec, bool pvec)
{
    switch (a->pdt) {
    case UD_DT_F32: return launch_bug<DT, UD_DT_F32>(a, bug, vec, pvec);
    case UD_DT_F16: return launch_bug<DT, UD_DT_F16>(a, bug, vec, pvec);
    case UD_DT_BF16: return launch_bug<DT, UD_DT_BF16>(a, bug, vec, pvec);
    default: ud_error("layernorm: unsupported parameter dtype %d", a->pdt); return UD_EINTERNAL;
    }
}

} // namespace

extern "C" int layernorm_cuda(const ln_args *a, int bug)
{
    if (a->rows == 0 || a->n == 0) return UD_OK;
    if (a->rows > 0x7fffffff) { ud_error("layernorm: %lld rows exceed the grid limit", (long long)a->rows); return UD_EINTERNAL; }
    const bool whole = (a->n * ud_dt_size(a->dt)) % 16 == 0;
    const bool vec = whole && aligned16(a->x) && aligned16(a->out);
    const bool pvec = whole && (a->n * ud_dt_size(a->pdt)) % 16 == 0 && aligned16(a->w) && aligned16(a->b);
    switch (a->dt) {
    case UD_DT_F32: return launch_pdt<UD_DT_F32>(a, bug, vec, pvec);
    case UD_DT_F16: return launch_pdt<UD_DT_F16>(a, bug, vec, pvec);
    case UD_DT_BF16: return launch_pdt<UD_DT_BF16>(a, bug, vec, pvec);
    default: ud_error("layernorm: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
