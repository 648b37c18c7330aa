/* rmsnorm.cu — CUDA launcher for the RMSNorm family (body and spec: gpu/rmsnorm.h).
 *
 * One block of RMS_LANES (128) threads per row. Thread l owns chunks l, l + RMS_LANES, ... of
 * V = 16 bytes each: one 16-byte load per chunk when the row is 16-byte aligned (every base
 * pointer aligned and n * sizeof(T) % 16 == 0), else V scalar loads of the same chunk, so the
 * reduction order never depends on alignment. The first MAXC chunks stay in registers as raw
 * T bits between the sum-of-squares pass and the output pass (one read of x from memory for
 * rows up to MAXC * RMS_LANES * V elements: 8192 for bf16/fp16, 4096 for fp32); longer rows,
 * and the flashinfer fused add whose normalised value is an fp32 sum, re-read.
 *
 * Napkin math (bf16, 4096 x 7168): read x 58.7 MB + w (cached) + write out 58.7 MB = 117 MB;
 * at ~3.0 TB/s copy bandwidth on an H100 that is ~39 us. Fused add reads x and residual and
 * writes out and residual_out: 235 MB, ~78 us. `ulpdiff bench` measures it.
 */
#include <stdint.h>

#include "gpu/rmsnorm.h"
#include "gpu/ud_cuda.h"

/* Chunks per thread kept in registers between the passes, as raw 16-byte vectors of T: a row
 * of up to MAXC * RMS_LANES * V elements (8192 bf16/fp16, 4096 fp32) is read from memory once. */
#define MAXC 8

template <int DT>
struct rms_chunk {
    static constexpr int V = 16 / (DT == UD_DT_F32 ? 4 : 2);
};

/* Raw bits of chunk c of a row: one 16-byte load when vec, else V scalar loads (zeros past n).
 * Activations are streamed (evict-first: each is read once); the weight, shared by every row,
 * takes the default path so it stays cached. */
template <int DT>
__device__ __forceinline__ uint4 load_raw(const void *row, int64_t c, int64_t n, bool vec, bool stream)
{
    constexpr int V = rms_chunk<DT>::V;
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
__device__ __forceinline__ void unpack(uint4 raw, float *dst)
{
    constexpr int V = rms_chunk<DT>::V;
    if (DT == UD_DT_F32) {
        const uint32_t *r = reinterpret_cast<const uint32_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) dst[j] = ud_bits_f32(r[j]);
    } else {
        const uint16_t *r = reinterpret_cast<const uint16_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) dst[j] = ud_to_f32(DT, r[j]);
    }
}

/* Rounds V fp32 values to T (RN) and packs their bits. */
template <int DT>
__device__ __forceinline__ uint4 pack(const float *src)
{
    constexpr int V = rms_chunk<DT>::V;
    uint4 raw;
    if (DT == UD_DT_F32) {
        uint32_t *r = reinterpret_cast<uint32_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) r[j] = ud_f32_bits(src[j]);
    } else {
        uint16_t *r = reinterpret_cast<uint16_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) r[j] = (uint16_t)ud_from_f32(DT, src[j]);
    }
    return raw;
}

template <int DT>
__device__ __forceinline__ void store_raw(void *row, int64_t c, int64_t n, bool vec, uint4 raw)
{
    constexpr int V = rms_chunk<DT>::V;
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

/* The normalised input of chunk c as fp32 (fused: h = x + residual, and residual_out is written
 * when write_res is set). */
template <int DT, int BUG>
__device__ __forceinline__ void input_chunk(const rms_args &a, int64_t row, int64_t c, bool vec,
                                            bool write_res, float *v)
{
    constexpr int V = rms_chunk<DT>::V;
    const int64_t off = row * a.n * ud_dt_size(DT);
    unpack<DT>(load_raw<DT>((const char *)a.x + off, c, a.n, vec, true), v);
    if (!a.fused) return;
    float r[V], ro[V];
    unpack<DT>(load_raw<DT>((const char *)a.res + off, c, a.n, vec, true), r);
#pragma unroll
    for (int j = 0; j < V; j++) {
        ro[j] = rms_residual_out(DT, BUG, v[j], r[j]);
        v[j] = rms_input(DT, 1, a.spec, BUG, v[j], r[j]);
    }
    if (write_res) store_raw<DT>((char *)a.res_out + off, c, a.n, vec, pack<DT>(ro));
}

template <int DT, int BUG>
__device__ __forceinline__ float sumsq_chunk(float acc, const float *v, int64_t c, int64_t n)
{
    constexpr int V = rms_chunk<DT>::V;
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) acc = rms_acc_sq(DT, BUG, acc, v[j]);
    return acc;
}

template <int DT, int BUG>
__device__ __forceinline__ void out_chunk(const rms_args &a, int64_t row, int64_t c, bool vec, float inv,
                                          const float *v)
{
    constexpr int V = rms_chunk<DT>::V;
    float w[V], o[V];
    unpack<DT>(load_raw<DT>(a.w, c, a.n, vec, false), w);
#pragma unroll
    for (int j = 0; j < V; j++) o[j] = rms_out(DT, a.kind, a.spec, BUG, v[j], inv, w[j]);
    store_raw<DT>((char *)a.out + row * a.n * ud_dt_size(DT), c, a.n, vec, pack<DT>(o));
}

template <int DT, int BUG>
__global__ void __launch_bounds__(RMS_LANES) rmsnorm_kernel(rms_args a, bool vec)
{
    constexpr int V = rms_chunk<DT>::V;
    const int64_t row = blockIdx.x, n = a.n, chunks = (n + V - 1) / V;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    /* The normalised input is a T value except for the flashinfer fused add (an fp32 sum):
     * then it is recomputed from x and residual in the second pass instead of cached. */
    const bool cache_ok = !(a.fused && (a.spec == RMS_SPEC_FLASHINFER || BUG == RMS_BUG_UNROUNDED_SUM));
    uint4 cache[MAXC];
    float acc = 0.0f;

#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * RMS_LANES;
        if (c < chunks) {
            float v[V];
            input_chunk<DT, BUG>(a, row, c, vec, true, v);
            acc = sumsq_chunk<DT, BUG>(acc, v, c, n);
            cache[k] = pack<DT>(v);   /* exact: v is a T value when cache_ok */
        }
    }
    for (int64_t c = tid + (int64_t)MAXC * RMS_LANES; c < chunks; c += RMS_LANES) {
        float v[V];
        input_chunk<DT, BUG>(a, row, c, vec, true, v);
        acc = sumsq_chunk<DT, BUG>(acc, v, c, n);
    }

    /* Butterflies in the order rmsnorm.c emulates. */
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) acc = rms_add(DT, BUG, acc, __shfl_xor_sync(0xffffffffu, acc, off));
    __shared__ float warp_sum[RMS_WARPS];
    __shared__ float inv_s;
    if (lane == 0) warp_sum[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        float t = lane < RMS_WARPS ? warp_sum[lane] : 0.0f;
#pragma unroll
        for (int off = RMS_WARPS / 2; off >= 1; off >>= 1) t = rms_add(DT, BUG, t, __shfl_xor_sync(0xffffffffu, t, off));
        if (lane == 0) inv_s = rms_inv(BUG, t, n, a.eps);
    }
    __syncthreads();
    const float inv = inv_s;

#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * RMS_LANES;
        if (c < chunks) {
            float v[V];
            if (cache_ok) unpack<DT>(cache[k], v);
            else input_chunk<DT, BUG>(a, row, c, vec, false, v);
            out_chunk<DT, BUG>(a, row, c, vec, inv, v);
        }
    }
    for (int64_t c = tid + (int64_t)MAXC * RMS_LANES; c < chunks; c += RMS_LANES) {
        float v[V];
        input_chunk<DT, BUG>(a, row, c, vec, false, v);
        out_chunk<DT, BUG>(a, row, c, vec, inv, v);
    }
}

static bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT>
static int launch_dt(const rms_args *a, int bug, bool vec)
{
    dim3 grid((unsigned)a->rows), block(RMS_LANES);
    UD_TRY(ud_dispatch_bug<RMS_BUG_COUNT>(bug, [&](auto B) {
        rmsnorm_kernel<DT, decltype(B)::value><<<grid, block>>>(*a, vec);
    }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

extern "C" int rmsnorm_cuda(const rms_args *a, int bug)
{
    if (a->rows == 0) return UD_OK;
    if (a->rows > 0x7fffffff) { ud_error("rmsnorm: %lld rows exceed the grid limit", (long long)a->rows); return UD_EINTERNAL; }
    bool vec = (a->n * ud_dt_size(a->dt)) % 16 == 0 && aligned16(a->x) && aligned16(a->res) &&
               aligned16(a->w) && aligned16(a->out) && aligned16(a->res_out);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, vec);
    default: ud_error("rmsnorm: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
