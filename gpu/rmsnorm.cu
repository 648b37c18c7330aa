/* rmsnorm.cu — CUDA launcher for the RMSNorm family (body, spec and reduction order:
 * gpu/rmsnorm.h).
 *
 * The reduction order is the body's, fixed by RMS_LANES = 128 virtual lanes: lane l sums
 * chunks l, l + 128, ... (V = 16 bytes of T each), then xor butterflies within each group of 32
 * lanes and across the 4 groups. A row is given to T = 32, 64 or 128 threads: thread t holds
 * the S = 128 / T virtual lanes t + T*j (j < S), i.e. chunks t, t + T, t + 2T, ... with chunk
 * t + T*i accumulated into lane j = i mod S. Groups of 32 virtual lanes are then always 32
 * lanes of one real warp, so every butterfly is a warp shuffle or an in-register add in the
 * body's order, whatever T is: every configuration computes the same bits, and so does the cpu
 * backend (gpu/rmsnorm.c).
 *
 * Each thread keeps up to NC chunks of its row in registers as raw T bits between the sum of
 * squares and the output pass, so rows up to NC * T * V elements are read from memory once
 * (all NC loads are issued before the first is used); longer rows, and the flashinfer fused
 * add whose normalised value is an fp32 sum, re-read the rest (from L2). A warp per row needs
 * no block barrier; R rows share a block.
 *
 * Napkin math (bf16, 4096 x 7168): read x 58.7 MB + write out 58.7 MB = 117 MB (w: 14 KB,
 * cached); at ~3.0 TB/s copy bandwidth on an H100 ~39 us, ~28 us at ~4.2 TB/s on an H200.
 * The fused add moves twice that. Configurations and their measured times:
 * docs/performance.md (`ulpdiff bench --op rmsnorm --configs`). */
#include <stdint.h>

#include "gpu/rmsnorm.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"
#include "gpu/ud_rowreduce.cuh"

namespace {

/* Raw bits of chunk c of a row: one 16-byte load when vec, else V scalar loads (zero bits past
 * n). Activations are streamed (read once: evict first); the weight, shared by every row, takes
 * the default path so it stays cached. */
template <int DT>
__device__ __forceinline__ uint4 load_raw(const void *row, int64_t c, int64_t n, bool vec, bool stream)
{
    constexpr int V = ud_vec<DT>::V;
    if (vec) {
        const uint4 *p = reinterpret_cast<const uint4 *>(row) + c;
        return stream ? __ldcs(p) : __ldg(p);
    }
    uint4 raw = make_uint4(0, 0, 0, 0);
    if (DT == UD_DT_F32) {
        uint32_t *r = reinterpret_cast<uint32_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) r[j] = reinterpret_cast<const uint32_t *>(row)[c * V + j];
    } else {
        uint16_t *r = reinterpret_cast<uint16_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) r[j] = reinterpret_cast<const uint16_t *>(row)[c * V + j];
    }
    return raw;
}

template <int DT>
__device__ __forceinline__ void store_raw(void *row, int64_t c, int64_t n, bool vec, uint4 raw)
{
    constexpr int V = ud_vec<DT>::V;
    if (vec) {
        __stcs(reinterpret_cast<uint4 *>(row) + c, raw);   /* written once, never re-read here */
        return;
    }
    if (DT == UD_DT_F32) {
        const uint32_t *r = reinterpret_cast<const uint32_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) reinterpret_cast<uint32_t *>(row)[c * V + j] = r[j];
    } else {
        const uint16_t *r = reinterpret_cast<const uint16_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) reinterpret_cast<uint16_t *>(row)[c * V + j] = r[j];
    }
}

/* The normalised input of chunk c as fp32 (fused: h = x + residual, and residual_out is
 * written when write_res is set). */
template <int DT>
__device__ __forceinline__ void input_chunk(const rms_args &a, int bug, int64_t row, int64_t c, bool vec, bool write_res,
                                            float *v)
{
    constexpr int V = ud_vec<DT>::V;
    const int64_t off = row * a.n * ud_dt_size(DT);
    ud_unpack<DT>(load_raw<DT>((const char *)a.x + off, c, a.n, vec, true), v);
    if (!a.fused) return;
    float r[V], ro[V];
    ud_unpack<DT>(load_raw<DT>((const char *)a.res + off, c, a.n, vec, true), r);
#pragma unroll
    for (int j = 0; j < V; j++) {
        ro[j] = rms_residual_out(DT, bug, v[j], r[j]);
        v[j] = rms_input(DT, 1, a.spec, bug, v[j], r[j]);
    }
    if (write_res) store_raw<DT>((char *)a.res_out + off, c, a.n, vec, ud_pack<DT>(ro));
}

template <int DT>
__device__ __forceinline__ float sumsq_chunk(int bug, float acc, const float *v, int64_t c, int64_t n)
{
    constexpr int V = ud_vec<DT>::V;
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) acc = rms_acc_sq(DT, bug, acc, v[j]);
    return acc;
}

template <int DT>
__device__ __forceinline__ void out_chunk(const rms_args &a, int bug, int64_t row, int64_t c, bool vec, float inv, const float *v)
{
    constexpr int V = ud_vec<DT>::V;
    float w[V], o[V];
    ud_unpack<DT>(load_raw<DT>(a.w, c, a.n, vec, false), w);
#pragma unroll
    for (int j = 0; j < V; j++) o[j] = rms_out(DT, a.kind, a.spec, bug, v[j], inv, w[j]);
    store_raw<DT>((char *)a.out + row * a.n * ud_dt_size(DT), c, a.n, vec, ud_pack<DT>(o));
}

/* BUG: 0 for production (no bug code on its path), -1 for the known-bug variants, whose code
 * comes at run time (rbug): one instantiation serves them all. */
template <int DT, int BUG, int T, int NC, int R>
__global__ void __launch_bounds__(T * R) rmsnorm_kernel(rms_args a, bool vec, int rbug)
{
    const int bug = BUG >= 0 ? BUG : rbug;
    constexpr int V = ud_vec<DT>::V, S = RMS_LANES / T;
    static_assert(NC % S == 0, "whole rounds of the thread's lanes");
    __shared__ float part[R * RMS_WARPS];
    const int tid = threadIdx.x % T, rloc = threadIdx.x / T;
    const int64_t row = (int64_t)blockIdx.x * R + rloc, n = a.n, chunks = (n + V - 1) / V;
    const bool live = row < a.rows;   /* no early return: T > 32 rows meet at a barrier */
    /* The normalised input is a T value except for the flashinfer fused add (an fp32 sum):
     * then it is recomputed from x and residual in the second pass instead of cached. */
    const bool cache_ok = !(a.fused && (a.spec == RMS_SPEC_FLASHINFER || bug == RMS_BUG_UNROUNDED_SUM));
    /* The fused add's residual_out is RN_T(x + residual), the cached h itself (but for the
     * pre_add_residual variant): it is stored in the output pass, so that the first pass holds
     * no store — a store to residual_out, which may alias x for all the compiler knows, would
     * keep every later chunk's loads from being issued before it, one DRAM latency a chunk. */
    const bool defer_res = a.fused && cache_ok && bug != RMS_BUG_PRE_ADD_RESIDUAL;
    uint4 cache[NC];
    float acc[S];
#pragma unroll
    for (int j = 0; j < S; j++) acc[j] = 0.0f;

#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (live && c < chunks) {
            float v[V];
            input_chunk<DT>(a, bug, row, c, vec, !defer_res, v);
            acc[i % S] = sumsq_chunk<DT>(bug, acc[i % S], v, c, n);
            cache[i] = ud_pack<DT>(v);   /* exact: v is a T value when cache_ok */
        }
    }
    for (int64_t i0 = NC; live && tid + T * i0 < chunks; i0 += S)
#pragma unroll
        for (int j = 0; j < S; j++) {
            const int64_t c = tid + T * (i0 + j);
            if (c < chunks) {
                float v[V];
                input_chunk<DT>(a, bug, row, c, vec, true, v);
                acc[j] = sumsq_chunk<DT>(bug, acc[j], v, c, n);
            }
        }

    const float total = ud_lanes_total<T, RMS_WARPS>(acc, part, rloc, [bug](float x, float y) { return rms_add(DT, bug, x, y); });
    const float inv = rms_inv(bug, total, n, a.eps);
    if (!live) return;

#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (c < chunks) {
            float v[V];
            if (cache_ok) ud_unpack<DT>(cache[i], v);
            else input_chunk<DT>(a, bug, row, c, vec, false, v);
            if (defer_res) store_raw<DT>((char *)a.res_out + row * a.n * ud_dt_size(DT), c, a.n, vec, cache[i]);
            out_chunk<DT>(a, bug, row, c, vec, inv, v);
        }
    }
    for (int64_t c = tid + (int64_t)T * NC; c < chunks; c += T) {
        float v[V];
        input_chunk<DT>(a, bug, row, c, vec, false, v);
        out_chunk<DT>(a, bug, row, c, vec, inv, v);
    }
}

#if UD_KERNEL_CONFIGS
/* Straight-line candidates ("sl_*" configurations, not production until measured): the same
 * arithmetic and order as rmsnorm_kernel, for 16-byte aligned rows and production code only, with
 * the fused add a compile-time choice. In rmsnorm_kernel the run-time `vec` and `fused` tests put
 * every chunk's load in its own branch (SASS: BRA, one LDG.E.EF.128, BRA per chunk), so a thread
 * has one load in flight at a time, and the H100 run of 2026-12-07 scaled inversely with the
 * chunks a thread holds. Here every load of the first pass is a predicated LDG issued before the
 * first is used: NC (and, fused, 2 NC) 16-byte loads in flight per thread. */
template <int DT, int T, int NC, int R, bool FUSED>
__global__ void __launch_bounds__(T * R) rmsnorm_sl_kernel(rms_args a)
{
    constexpr int V = ud_vec<DT>::V, S = RMS_LANES / T;
    static_assert(NC % S == 0, "whole rounds of the thread's lanes");
    __shared__ float part[R * RMS_WARPS];
    const int tid = threadIdx.x % T, rloc = threadIdx.x / T;
    const int64_t row = (int64_t)blockIdx.x * R + rloc, n = a.n, chunks = (n + V - 1) / V;
    const bool live = row < a.rows;
    const int64_t off = (live ? row : 0) * n * ud_dt_size(DT);
    const uint4 *x = reinterpret_cast<const uint4 *>((const char *)a.x + off);
    const uint4 *r = reinterpret_cast<const uint4 *>((const char *)(FUSED ? a.res : a.x) + off);
    /* flashinfer's fused add normalises the unrounded fp32 sum: not cacheable as T bits */
    const bool cache_ok = !(FUSED && a.spec == RMS_SPEC_FLASHINFER);
    uint4 cache[NC], rcache[FUSED ? NC : 1];
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        cache[i] = make_uint4(0u, 0u, 0u, 0u);
        if (live && c < chunks) cache[i] = __ldcs(x + c);
        if constexpr (FUSED) {
            rcache[i] = make_uint4(0u, 0u, 0u, 0u);
            if (live && c < chunks) rcache[i] = __ldcs(r + c);
        }
    }
    float acc[S];
#pragma unroll
    for (int j = 0; j < S; j++) acc[j] = 0.0f;
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (!(live && c < chunks)) continue;
        float v[V];
        ud_unpack<DT>(cache[i], v);
        if constexpr (FUSED) {
            float res[V];
            ud_unpack<DT>(rcache[i], res);
#pragma unroll
            for (int j = 0; j < V; j++) v[j] = rms_input(DT, 1, a.spec, 0, v[j], res[j]);
            if (cache_ok) cache[i] = ud_pack<DT>(v);   /* h = RN_T(x + residual): residual_out */
        }
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) acc[i % S] = rms_acc_sq(DT, 0, acc[i % S], v[j]);
    }
    /* Chunks past the cache (rows longer than NC * T * V): the general path, re-read from memory. */
    for (int64_t i0 = NC; live && tid + T * i0 < chunks; i0 += S)
#pragma unroll
        for (int j = 0; j < S; j++) {
            const int64_t c = tid + T * (i0 + j);
            if (c < chunks) {
                float v[V];
                input_chunk<DT>(a, 0, row, c, true, true, v);
                acc[j] = sumsq_chunk<DT>(0, acc[j], v, c, n);
            }
        }
    const float total = ud_lanes_total<T, RMS_WARPS>(acc, part, rloc, [](float p, float q) { return rms_add(DT, 0, p, q); });
    const float inv = rms_inv(0, total, n, a.eps);
    if (!live) return;
    uint4 *o = reinterpret_cast<uint4 *>((char *)a.out + off);
    uint4 *ro = reinterpret_cast<uint4 *>((char *)a.res_out + off);
#pragma unroll
    for (int i = 0; i < NC; i++) {
        const int64_t c = tid + (int64_t)T * i;
        if (c >= chunks) continue;
        float v[V], w[V], y[V];
        ud_unpack<DT>(cache[i], v);   /* h, or (flashinfer's fused add) x itself */
        if constexpr (FUSED) {
            if (cache_ok) __stcs(ro + c, cache[i]);
            else {   /* normalise the fp32 sum x + residual; residual_out is its rounding */
                float rv[V];
                ud_unpack<DT>(rcache[i], rv);
#pragma unroll
                for (int j = 0; j < V; j++) {
                    y[j] = rms_residual_out(DT, 0, v[j], rv[j]);
                    v[j] = rms_input(DT, 1, a.spec, 0, v[j], rv[j]);
                }
                __stcs(ro + c, ud_pack<DT>(y));
            }
        }
        ud_unpack<DT>(__ldg(reinterpret_cast<const uint4 *>(a.w) + c), w);
#pragma unroll
        for (int j = 0; j < V; j++) y[j] = rms_out(DT, a.kind, a.spec, 0, v[j], inv, w[j]);
        __stcs(o + c, ud_pack<DT>(y));
    }
    for (int64_t c = tid + (int64_t)T * NC; c < chunks; c += T) {
        float v[V];
        input_chunk<DT>(a, 0, row, c, true, false, v);
        out_chunk<DT>(a, 0, row, c, true, inv, v);
    }
}

#endif

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

/* Launch configurations: threads per row, chunks cached per thread, rows per block. */
struct config {
    const char *name;
    int t, nc, r;
};
/* Production's choice first; the others are built with -DUD_KERNEL_CONFIGS=ON (the performance
 * runs: scripts/gpu-perf.sh), so that a default build compiles the few kernels production needs. */
const config configs[] = {
    {"block_nc8", 128, 8, 1},
#if UD_KERNEL_CONFIGS
    {"warp_nc32_r4", 32, 32, 4}, {"warp_nc16_r4", 32, 16, 4}, {"warp_nc8_r4", 32, 8, 4},
    {"2warps_nc16_r2", 64, 16, 2},
    /* straight-line candidates (rmsnorm_sl_kernel), for aligned rows; others fall back to block_nc8 */
    {"sl_warp_nc16_r4", 32, 16, 4}, {"sl_warp_nc32_r4", 32, 32, 4}, {"sl_block_nc8", 128, 8, 1},
#endif
};
constexpr int NCONFIGS = sizeof configs / sizeof configs[0];

template <int DT, int BUG, int T, int NC, int R>
int launch(const rms_args *a, bool vec, int bug = 0)
{
    dim3 grid((unsigned)((a->rows + R - 1) / R)), block(T * R);
    rmsnorm_kernel<DT, BUG, T, NC, R><<<grid, block>>>(*a, vec, bug);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

#if UD_KERNEL_CONFIGS
template <int DT, int T, int NC, int R>
int launch_sl(const rms_args *a, bool vec)
{
    if (!vec) return launch<DT, 0, 128, 8, 1>(a, vec);
    dim3 grid((unsigned)((a->rows + R - 1) / R)), block(T * R);
    if (a->fused) rmsnorm_sl_kernel<DT, T, (NC > 16 ? 16 : NC), R, true><<<grid, block>>>(*a);   /* 2 NC chunks held */
    else rmsnorm_sl_kernel<DT, T, NC, R, false><<<grid, block>>>(*a);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

#endif

template <int DT>
int launch_config(const rms_args *a, int k, bool vec)
{
    switch (k) {
    case 0: return launch<DT, 0, 128, 8, 1>(a, vec);
#if UD_KERNEL_CONFIGS
    case 1: return launch<DT, 0, 32, 32, 4>(a, vec);
    case 2: return launch<DT, 0, 32, 16, 4>(a, vec);
    case 3: return launch<DT, 0, 32, 8, 4>(a, vec);
    case 4: return launch<DT, 0, 64, 16, 2>(a, vec);
    case 5: return launch_sl<DT, 32, 16, 4>(a, vec);
    case 6: return launch_sl<DT, 32, 32, 4>(a, vec);
    case 7: return launch_sl<DT, 128, 8, 1>(a, vec);
#endif
    default: ud_error("rmsnorm: no launch configuration %d", k); return UD_EUSAGE;
    }
}

/* The production choice, by measurement (docs/performance.md, H100, 2026-12-07): a block of 128
 * threads a row with 8 chunks cached each (block_nc8) was the fastest configuration at the bench
 * shape (89.4 us against 103-251 us for the warp-per-row ones, whose loads the compiler issues one
 * at a time) and at one token (8.8 us). */
int pick(const rms_args *a)
{
    (void)a;
    return 0;
}

int check(const rms_args *a, bool *vec)
{
    if (a->rows > 0x7fffffffLL) { ud_error("rmsnorm: %lld rows exceed the grid limit", (long long)a->rows); return UD_EINTERNAL; }
    *vec = (a->n * ud_dt_size(a->dt)) % 16 == 0 && aligned16(a->x) && aligned16(a->res) && aligned16(a->w) &&
           aligned16(a->out) && aligned16(a->res_out);
    return UD_OK;
}

int run_config(const rms_args *a, int k)
{
    bool vec;
    UD_TRY(check(a, &vec));
    switch (a->dt) {
    case UD_DT_F32: return launch_config<UD_DT_F32>(a, k, vec);
    case UD_DT_F16: return launch_config<UD_DT_F16>(a, k, vec);
    case UD_DT_BF16: return launch_config<UD_DT_BF16>(a, k, vec);
    default: ud_error("rmsnorm: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

/* Known-bug variants: one instantiation, the code at run time, in the block configuration. */
template <int DT>
int launch_variant(const rms_args *a, int bug, bool vec)
{
    if (bug <= RMS_BUG_NONE || bug >= RMS_BUG_COUNT) { ud_error("rmsnorm: unknown variant %d", bug); return UD_EINTERNAL; }
    return launch<DT, -1, 128, 8, 1>(a, vec, bug);
}

}  // namespace

extern "C" int rmsnorm_cuda(const rms_args *a, int bug)
{
    if (a->rows == 0) return UD_OK;
    if (bug == RMS_BUG_NONE) return run_config(a, pick(a));
    bool vec;
    UD_TRY(check(a, &vec));
    switch (a->dt) {
    case UD_DT_F32: return launch_variant<UD_DT_F32>(a, bug, vec);
    case UD_DT_F16: return launch_variant<UD_DT_F16>(a, bug, vec);
    case UD_DT_BF16: return launch_variant<UD_DT_BF16>(a, bug, vec);
    default: ud_error("rmsnorm: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

extern "C" int rmsnorm_cuda_tune(const rms_args *a, int cfg, const char **name)
{
    if (cfg < 0 || cfg >= NCONFIGS) return UD_EUSAGE;
    *name = configs[cfg].name;
    return a->rows == 0 ? UD_OK : run_config(a, cfg);
}
