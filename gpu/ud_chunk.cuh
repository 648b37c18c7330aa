/* ud_chunk.cuh — 16-byte chunk plumbing shared by the CUDA launchers of the elementwise and
 * row-wise operators: a row of a 2- or 4-byte dtype is walked in chunks of V = 16 / sizeof(T)
 * elements, each moved with one 16-byte access when the row is 16-byte aligned (vec) and
 * element by element otherwise (a tail chunk, odd hidden sizes, hidden = 1).
 *
 * Only memory movement lives here: every value is converted to fp32 exactly on load and rounded
 * to T once (RN, ud_from_f32) on store, so the kernel bodies (gpu/<op>.h) see the arithmetic
 * the cpu backend sees. */
#ifndef UD_CHUNK_CUH
#define UD_CHUNK_CUH

#include <stdint.h>

#include "numerics/ud_portable.h"

template <int DT>
struct ud_vec {
    static constexpr int V = 16 / (DT == UD_DT_F32 ? 4 : 2);
};

/* A 16-byte word of V elements of T as fp32 (exact). */
template <int DT>
__device__ __forceinline__ void ud_unpack(uint4 raw, float *dst)
{
    constexpr int V = ud_vec<DT>::V;
    if (DT == UD_DT_F32) {
        const float *f = reinterpret_cast<const float *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) dst[j] = f[j];
    } else {
        const uint16_t *h = reinterpret_cast<const uint16_t *>(&raw);
#pragma unroll
        for (int j = 0; j < V; j++) dst[j] = ud_to_f32(DT, h[j]);
    }
}

/* V fp32 values rounded to T (RN) and packed into a 16-byte word. */
template <int DT>
__device__ __forceinline__ uint4 ud_pack(const float *src)
{
    constexpr int V = ud_vec<DT>::V;
    uint4 raw;
    uint32_t *w = reinterpret_cast<uint32_t *>(&raw);
    if (DT == UD_DT_F32) {
#pragma unroll
        for (int j = 0; j < V; j++) w[j] = __float_as_uint(src[j]);
    } else if (DT == UD_DT_BF16) {
        /* cvt.rn.bf16x2.f32: two values a conversion, the same bits as ud_f32_to_bf16 */
#pragma unroll
        for (int j = 0; j < V / 2; j++) {
            __nv_bfloat162 p = __floats2bfloat162_rn(src[2 * j], src[2 * j + 1]);
            w[j] = *reinterpret_cast<uint32_t *>(&p);
        }
    } else {
#pragma unroll
        for (int j = 0; j < V / 2; j++) {
            __half2 p = __floats2half2_rn(src[2 * j], src[2 * j + 1]);
            w[j] = *reinterpret_cast<uint32_t *>(&p);
        }
    }
    return raw;
}

/* Raw bits of chunk c of a row of n (zero bits past n): one 16-byte load when vec, else element
 * loads. Kept raw (4 registers a chunk in every dtype) while many chunks are in flight. */
template <int DT>
__device__ __forceinline__ uint4 ud_load_raw(const void *row, int64_t c, int64_t n, bool vec)
{
    constexpr int V = ud_vec<DT>::V;
    if (vec) return reinterpret_cast<const uint4 *>(row)[c];
    uint4 raw = make_uint4(0u, 0u, 0u, 0u);
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

/* Elements c*V .. c*V+V-1 of a row of n as fp32; 0 past n (neutral for sums and max |x|). */
template <int DT>
__device__ __forceinline__ void ud_load_chunk(const void *row, int64_t c, int64_t n, bool vec, float *dst)
{
    constexpr int V = ud_vec<DT>::V;
    if (vec) {
        ud_unpack<DT>(reinterpret_cast<const uint4 *>(row)[c], dst);
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++) dst[j] = c * V + j < n ? ud_ld(DT, row, c * V + j) : 0.0f;
}

/* Stores chunk c of a row of n, rounding each value to T once; nothing past n. */
template <int DT>
__device__ __forceinline__ void ud_store_chunk(void *row, int64_t c, int64_t n, bool vec, const float *src)
{
    constexpr int V = ud_vec<DT>::V;
    if (vec) {
        reinterpret_cast<uint4 *>(row)[c] = ud_pack<DT>(src);
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) ud_st(DT, row, c * V + j, src[j]);
}

#endif
