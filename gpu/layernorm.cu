/* layernorm.cu — CUDA launcher for the LayerNorm family (body and spec: gpu/layernorm.h).
 *
 * The reduction order is the body's: LN_LANES = 256 virtual lanes, lane l summing chunks
 * l, l + 256, ... (V = 16 bytes of T each), then butterflies within groups of 32 lanes and
 * across the 8 groups. A row is given to T = 32 .. 256 threads, each holding 256 / T lanes
 * (gpu/ud_rowreduce.cuh), so every configuration computes the same bits, as the cpu backend
 * does. Chunks are one 16-byte load when the row is 16-byte aligned (x and out aligned and
 * n * sizeof(T) % 16 == 0), else V scalar loads of the same chunk, so the order never depends
 * on alignment. Each thread keeps its first NC chunks in registers across the three passes
 * (sum, sum of squared deviations, output), all loads issued before the first is used; w and b
 * are 16-byte words when aligned, and small enough to stay cached.
 *
 * Napkin math (bf16, 4096 x 7168): read x 58.7 MB + write out 58.7 MB = 117 MB (w and b:
 * 28 KB, cached); at ~3.0 TB/s copy bandwidth on an H100 ~39 us, ~28 us at ~4.2 TB/s on an
 * H200. Configurations and measured times: docs/performance.md. */
#include <stdint.h>

#include "gpu/layernorm.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"
#include "gpu/ud_rowreduce.cuh"

namespace {

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

/* Parameters for x's chunk c (x's chunk geometry: V elements), stored in pdt (a run-time value:
 * one instantiation serves every parameter dtype, and the branch is uniform): V * sizeof(pdt)
 * bytes, loaded as one or two 16-byte words (8 bytes for fp32 x with 2-byte parameters) when
 * pvec, element by element otherwise. w and b are shared by every row and stay cached. */
template <int DT, int PDT>
__device__ __forceinline__ void load_params_as(const void *p, int64_t c, float *dst)
{
    constexpr int V = ud_vec<DT>::V, PB = V * (PDT == UD_DT_F32 ? 4 : 2);
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
}

template <int DT>
__device__ __forceinline__ void load_params(int pdt, const void *p, int64_t c, int64_t n, bool pvec, float *dst)
{
    constexpr int V = ud_vec<DT>::V;
    if (pvec) {
        if (pdt == UD_DT_F32) load_params_as<DT, UD_DT_F32>(p, c, dst);
        else if (pdt == UD_DT_BF16) load_params_as<DT, UD_DT_BF16>(p, c, dst);
        else load_params_as<DT, UD_DT_F16>(p, c, dst);
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++) dst[j] = c * V + j < n ? ud_ld(pdt, p, c * V + j) : 0.0f;
}

/* Adds chunk c's valid elements to the sums of pass 1. */
template <int DT>
__device__ __forceinline__ void sum_chunk(int bug, uint4 raw, int64_t c, int64_t n, float &acc, float &acc2)
{
    constexpr int V = ud_vec<DT>::V;
    float v[V];
    ud_unpack<DT>(raw, v);
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) {
            acc = ln_sum_add(DT, bug, acc, v[j]);
            if (bug == LN_BUG_ONE_PASS_VAR) acc2 = ln_sq_add(acc2, v[j]);
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
template <int DT>
__device__ __forceinline__ void out_chunk(int bug, const ln_args &a, void *orow, int64_t c, bool vec, bool pvec,
                                          uint4 raw, float mean, float rstd)
{
    constexpr int V = ud_vec<DT>::V;
    float x[V], w[V], b[V], o[V];
    ud_unpack<DT>(raw, x);
#pragma unroll
    for (int j = 0; j < V; j++) { w[j] = 1.0f; b[j] = 0.0f; }
    if (a.affine != LN_AFFINE_NONE) load_params<DT>(a.pdt, a.w, c, a.n, pvec, w);
    if (a.affine == LN_AFFINE_WEIGHT_BIAS) load_params<DT>(a.pdt, a.b, c, a.n, pvec, b);
#pragma unroll
    for (int j = 0; j < V; j++)
        o[j] = ln_out(a.affine, x[j], mean, rstd, ln_param(DT, bug, w[j]), ln_param(DT, bug, b[j]));
    ud_store_chunk<DT>(orow, c, a.n, vec, o);
}

/* One row per T threads (32 .. 256), R rows a block; thread t holds lanes t + T j of the body's
 * LN_LANES = 256 (gpu/ud_rowreduce.cuh), i.e. chunks t, t + T, ... with chunk t + T i summed into
 * lane i mod S, and caches its first NC chunks in registers (4 registers a chunk) across the
 * three passes (sum, squared deviations, output): rows up to NC * T chunks are read once. */
/* BUG: 0 for production (no bug code on its path), -1 for the known-bug variants, whose code
 * comes at run time (rbug): one instantiation serves them all. */
template <int DT, int BUG, int T, int NC, int R, bool SL = false>
__global__ void __launch_bounds__(T * R) layernorm_kernel(ln_args a, bool vec, bool pvec, int rbug)
{
    const int bug = BUG >= 0 ? BUG : rbug;
    constexpr int V = ud_vec<DT>::V, S = LN_LANES / T;
    static_assert(NC % S == 0, "whole rounds of the thread's lanes");
    __shared__ float part[R * LN_WARPS];
    const int tid = threadIdx.x % T, rloc = threadIdx.x / T;
    const int64_t row = (int64_t)blockIdx.x * R + rloc, n = a.n, chunks = (n + V - 1) / V;
    const bool live = row < a.rows;   /* no early return before the last barrier */
    const int esz = ud_dt_size(DT);
    const char *xrow = (const char *)a.x + (live ? row : 0) * n * esz;
    const auto sum_add = [bug](float x, float y) { return ln_sum_add(DT, bug, x, y); };
    const auto plain_add = [](float x, float y) { return ln_sum_add(DT, LN_BUG_NONE, x, y); };
    uint4 cache[NC];
    float acc[S], acc2[S];

    /* Pass 1: the sum for the mean (and, in the one-pass variant, the sum of squares). All of
     * a thread's cached loads are issued before any is used, so they overlap. */
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        /* SL (straight-line candidates, aligned rows only): a predicated 16-byte load, so all NC
         * are in flight at once; load_raw's run-time `vec` test puts each in a branch of its own. */
        if constexpr (SL) { if (live && c < chunks) cache[i] = __ldcs(reinterpret_cast<const uint4 *>(xrow) + c); }
        else if (live && c < chunks) cache[i] = load_raw<DT>(xrow, c, n, vec);
    }
#pragma unroll
    for (int j = 0; j < S; j++) acc[j] = acc2[j] = 0.0f;
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (live && c < chunks) sum_chunk<DT>(bug, cache[i], c, n, acc[i % S], acc2[i % S]);
    }
    for (int64_t i0 = NC; live && tid + T * i0 < chunks; i0 += S)
#pragma unroll
        for (int j = 0; j < S; j++) {
            const int64_t c = tid + T * (i0 + j);
            if (c < chunks) sum_chunk<DT>(bug, load_raw<DT>(xrow, c, n, vec), c, n, acc[j], acc2[j]);
        }
    const float sum = ud_lanes_total<T, LN_WARPS>(acc, part, rloc, sum_add);

    /* Pass 2: the sum of squared deviations from the fp32 mean. */
    float mean, rstd;
    if (bug == LN_BUG_ONE_PASS_VAR) {
        mean = ln_mean(DT, LN_BUG_NONE, sum, n);
        rstd = ln_rstd_one_pass(sum, ud_lanes_total<T, LN_WARPS>(acc2, part, rloc, plain_add), n, a.eps);
    } else {
        mean = ln_mean(DT, bug, sum, n);
#pragma unroll
        for (int j = 0; j < S; j++) acc2[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < NC; i++) {
            const int64_t c = tid + (int64_t)T * i;
            if (live && c < chunks) dev_chunk<DT>(cache[i], c, n, mean, acc2[i % S]);
        }
        for (int64_t i0 = NC; live && tid + T * i0 < chunks; i0 += S)
#pragma unroll
            for (int j = 0; j < S; j++) {
                const int64_t c = tid + T * (i0 + j);
                if (c < chunks) dev_chunk<DT>(load_raw<DT>(xrow, c, n, vec), c, n, mean, acc2[j]);
            }
        rstd = ln_rstd(ud_lanes_total<T, LN_WARPS>(acc2, part, rloc, plain_add), n, a.eps);
    }
    if (!live) return;

    /* Pass 3: out = RN_T((x - mean) * rstd * w + b). */
    char *orow = (char *)a.out + row * n * esz;
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (c < chunks) out_chunk<DT>(bug, a, orow, c, vec, pvec, cache[i], mean, rstd);
    }
    for (int64_t c = tid + (int64_t)T * NC; c < chunks; c += T)
        out_chunk<DT>(bug, a, orow, c, vec, pvec, load_raw<DT>(xrow, c, n, vec), mean, rstd);
}

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

struct config {
    const char *name;
};
/* Launch configurations (threads per row, chunks cached per thread, rows per block). */
/* Production's choice first; the others with -DUD_KERNEL_CONFIGS=ON (the performance runs). */
const config configs[] = {{"block256_nc4"},
#if UD_KERNEL_CONFIGS
                          {"warp_nc32_r4"}, {"warp_nc16_r4"}, {"4warps_nc8_r1"},
                          /* straight-line candidates (SL), not production until measured */
                          {"sl_warp_nc32_r4"}, {"sl_4warps_nc8_r1"},
#endif
};
constexpr int NCONFIGS = sizeof configs / sizeof configs[0];

template <int DT, int BUG, int T, int NC, int R, bool SL = false>
int launch(const ln_args *a, bool vec, bool pvec, int bug = 0)
{
    if (SL && !vec) return launch<DT, BUG, 256, 4, 1>(a, vec, pvec, bug);   /* candidates need aligned rows */
    layernorm_kernel<DT, BUG, T, NC, R, SL><<<(unsigned)((a->rows + R - 1) / R), T * R>>>(*a, vec, pvec, bug);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

template <int DT>
int launch_config(const ln_args *a, int k, bool vec, bool pvec)
{
    switch (k) {
    case 0: return launch<DT, 0, 256, 4, 1>(a, vec, pvec);
#if UD_KERNEL_CONFIGS
    case 1: return launch<DT, 0, 32, 32, 4>(a, vec, pvec);
    case 2: return launch<DT, 0, 32, 16, 4>(a, vec, pvec);
    case 3: return launch<DT, 0, 128, 8, 1>(a, vec, pvec);
    case 4: return launch<DT, 0, 32, 32, 4, true>(a, vec, pvec);
    case 5: return launch<DT, 0, 128, 8, 1, true>(a, vec, pvec);
#endif
    default: ud_error("layernorm: no launch configuration %d", k); return UD_EUSAGE;
    }
}

/* The production choice, by measurement (docs/performance.md, H100, 2026-12-07): a block of 256
 * threads a row with 4 chunks cached each (block256_nc4) was the fastest configuration at the
 * bench shape (54.2 us against 66-296 us) and at one token (7.4 us). */
int pick(const ln_args *a)
{
    (void)a;
    return 0;
}

template <int DT>
int launch_bug(const ln_args *a, int bug, int k, bool vec, bool pvec)
{
    if (bug == LN_BUG_NONE) return launch_config<DT>(a, k, vec, pvec);
    /* Known-bug variants: one instantiation, the code at run time, in one configuration. */
    if (bug < 0 || bug >= LN_BUG_COUNT) { ud_error("layernorm: unknown variant %d", bug); return UD_EINTERNAL; }
    return launch<DT, -1, 256, 4, 1>(a, vec, pvec, bug);
}

int run(const ln_args *a, int bug, int k)
{
    if (a->rows == 0 || a->n == 0) return UD_OK;
    if (a->rows > 0x7fffffff) { ud_error("layernorm: %lld rows exceed the grid limit", (long long)a->rows); return UD_EINTERNAL; }
    const bool whole = (a->n * ud_dt_size(a->dt)) % 16 == 0;
    const bool vec = whole && aligned16(a->x) && aligned16(a->out);
    const bool pvec = whole && (a->n * ud_dt_size(a->pdt)) % 16 == 0 && aligned16(a->w) && aligned16(a->b);
    if (a->pdt != UD_DT_F32 && a->pdt != UD_DT_F16 && a->pdt != UD_DT_BF16) {
        ud_error("layernorm: unsupported parameter dtype %d", a->pdt);
        return UD_EINTERNAL;
    }
    switch (a->dt) {
    case UD_DT_F32: return launch_bug<UD_DT_F32>(a, bug, k, vec, pvec);
    case UD_DT_F16: return launch_bug<UD_DT_F16>(a, bug, k, vec, pvec);
    case UD_DT_BF16: return launch_bug<UD_DT_BF16>(a, bug, k, vec, pvec);
    default: ud_error("layernorm: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

} // namespace

extern "C" int layernorm_cuda(const ln_args *a, int bug) { return run(a, bug, pick(a)); }

extern "C" int layernorm_cuda_tune(const ln_args *a, int cfg, const char **name)
{
    if (cfg < 0 || cfg >= NCONFIGS) return UD_EUSAGE;
    *name = configs[cfg].name;
    return run(a, LN_BUG_NONE, cfg);
}
