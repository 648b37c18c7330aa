/* rope.cu — CUDA kernels for partial RoPE (body, table and spec: gpu/rope.h).
 *
 * rope_kernel: one block per token. Vector path (whole 16-byte chunks per head, aligned
 * tensors, rotary halves a multiple of the chunk): each thread takes 16-byte chunks of the
 * token's q heads then k heads; a chunk past rotary_dim is copied as raw bits, a rotary chunk
 * is rotated element by element (neox loads the partner chunk rotary_dim/2 away, which the
 * neighbouring thread also loads: one DRAM read, two L1 hits). Element path otherwise:
 * (head, pair) units, then the pass-through elements. Every output element is computed by
 * rope_rotate() exactly as gpu/rope.c computes it; there is no reduction, so the two
 * backends agree bit for bit. cos/sin come from the token's table row, which every head of
 * the token reads (L1). A token whose position is outside [0, max_position) returns before
 * touching the table.
 *
 * rope_table_kernel: one thread per (position, pair) table entry, grid-stride;
 * rope_table_entry() is the host builder's arithmetic (uncontracted double operations), and
 * inv_freq comes from the host (rope_inv_freq), passed by value, so the two tables agree.
 *
 * Napkin math (the bench shape: bf16, 4096 tokens, 32 q heads + 8 kv heads, head_dim 128,
 * factor 0.5, bf16 table): read q and k 41.9 MB + write 41.9 MB, plus one table row per token
 * (rotary_dim * 2 B = 128 B: 0.5 MB) = 84 MB; at ~3.0 TB/s copy bandwidth on an H100 that is
 * ~28 us, at ~4 TB/s on an H200 ~21 us. An fp32 table at factor 1 reads 512 B a token (2.1 MB).
 */
#include <stdint.h>

#include "gpu/rope.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

namespace {

constexpr int THREADS = 256;

/* Raw copy of element e (2- or 4-byte dtypes). */
template <int DT>
__device__ __forceinline__ void copy_raw(const void *src, void *dst, int64_t e)
{
    if (DT == UD_DT_F32) reinterpret_cast<uint32_t *>(dst)[e] = reinterpret_cast<const uint32_t *>(src)[e];
    else reinterpret_cast<uint16_t *>(dst)[e] = reinterpret_cast<const uint16_t *>(src)[e];
}

/* The vector path: thread work units are 16-byte chunks of V elements of one head (q heads,
 * then k heads). A chunk past rotary_dim is copied as it is; a rotary chunk is rotated element
 * by element with rope_rotate — neox reads the partner chunk half a rotary part away (the
 * chunk never straddles the halves: half % V == 0), gptj finds each pair inside the chunk. */
template <int DT, int TDT>
__device__ __forceinline__ void rope_token_vec(const rope_args &a, int64_t t, const void *row)
{
    constexpr int V = 16 / (DT == UD_DT_F32 ? 4 : 2);
    const int rd = a.rotary_dim, half = rd / 2, hd = (int)a.head_dim, cpr = hd / V;
    const int qh = (int)a.q_heads, heads = qh + (int)a.kv_heads;
    for (int u = threadIdx.x; u < heads * cpr; u += THREADS) {
        const int h = u / cpr, c0 = (u - h * cpr) * V;
        const bool isq = h < qh;
        const uint4 *x = reinterpret_cast<const uint4 *>(isq ? a.q : a.k);
        uint4 *o = reinterpret_cast<uint4 *>(isq ? a.q_out : a.k_out);
        const int64_t head0 = (isq ? t * qh + h : t * a.kv_heads + (h - qh)) * (hd / V);   /* in chunks */
        const uint4 raw = x[head0 + c0 / V];
        if (c0 >= rd) { o[head0 + c0 / V] = raw; continue; }
        float self[V], out[V];
        ud_unpack<DT>(raw, self);
        if (a.style == ROPE_NEOX) {
            const bool first = c0 < half;
            const int i0 = first ? c0 : c0 - half;
            float part[V];
            ud_unpack<DT>(x[head0 + (first ? c0 + half : c0 - half) / V], part);
#pragma unroll
            for (int j = 0; j < V; j++)
                out[j] = rope_rotate(self[j], part[j], ud_ld(TDT, row, i0 + j), ud_ld(TDT, row, half + i0 + j), first);
        } else {
#pragma unroll
            for (int j = 0; j < V; j += 2) {
                const int i = (c0 + j) / 2;
                const float c = ud_ld(TDT, row, i), s = ud_ld(TDT, row, half + i);
                out[j] = rope_rotate(self[j], self[j + 1], c, s, 1);
                out[j + 1] = rope_rotate(self[j + 1], self[j], c, s, 0);
            }
        }
        o[head0 + c0 / V] = ud_pack<DT>(out);
    }
}

/* The element path, for shapes and pointers the vector path cannot take. */
template <int DT, int TDT>
__device__ __forceinline__ void rope_token_scalar(const rope_args &a, int64_t t, const void *row)
{
    const int rd = a.rotary_dim, half = rd / 2, hd = (int)a.head_dim, rest = hd - rd;
    const int qh = (int)a.q_heads, heads = qh + (int)a.kv_heads;
    for (int u = threadIdx.x; u < heads * half; u += THREADS) {
        const int h = u / half, i = u - h * half;
        const bool isq = h < qh;
        const void *x = isq ? a.q : a.k;
        void *o = isq ? a.q_out : a.k_out;
        const int64_t off = isq ? (t * qh + h) * hd : (t * a.kv_heads + (h - qh)) * hd;
        const int d1 = a.style == ROPE_NEOX ? i : 2 * i, d2 = a.style == ROPE_NEOX ? i + half : 2 * i + 1;
        const float x1 = ud_ld(DT, x, off + d1), x2 = ud_ld(DT, x, off + d2);
        const float c = ud_ld(TDT, row, i), s = ud_ld(TDT, row, half + i);
        ud_st(DT, o, off + d1, rope_rotate(x1, x2, c, s, 1));
        ud_st(DT, o, off + d2, rope_rotate(x2, x1, c, s, 0));
    }
    if (rest == 0) return;
    for (int u = threadIdx.x; u < heads * rest; u += THREADS) {
        const int h = u / rest, d = rd + (u - h * rest);
        if (h < qh) copy_raw<DT>(a.q, a.q_out, (t * qh + h) * hd + d);
        else copy_raw<DT>(a.k, a.k_out, (t * a.kv_heads + (h - qh)) * hd + d);
    }
}

template <int DT, int TDT>
__global__ void __launch_bounds__(THREADS) rope_kernel(rope_args a, bool vec)
{
    const int64_t t = blockIdx.x;
    const int32_t p = a.pos[t];
    if (p < 0 || p >= a.max_position) return;
    const int cols = a.table_cols ? a.table_cols : a.rotary_dim;
    const void *row = (const char *)a.table + (size_t)p * (size_t)cols * (size_t)ud_dt_size(TDT);
    if (vec) rope_token_vec<DT, TDT>(a, t, row);
    else rope_token_scalar<DT, TDT>(a, t, row);
}

template <int TDT>
__global__ void rope_table_kernel(rope_table_spec t, rope_freqs f, void *table)
{
    const int half = t.rotary_dim / 2;
    const int64_t total = t.max_position * half;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t p = e / half;
        const int i = (int)(e - p * half);
        float c, s;
        rope_table_entry(TDT, f.inv[i], p, &c, &s);
        ud_st(TDT, table, p * t.rotary_dim + i, c);
        ud_st(TDT, table, p * t.rotary_dim + half + i, s);
    }
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

template <int DT>
int launch_tdt(const rope_args *a)
{
    /* The vector path needs whole 16-byte chunks per head, rotary chunks that stay inside one
     * half (neox) or hold whole pairs (gptj: V is even), and 16-byte aligned tensors. */
    const int V = 16 / ud_dt_size(DT), half = a->rotary_dim / 2;
    const bool vec = a->head_dim % V == 0 && (a->style == ROPE_NEOX ? half % V == 0 : a->rotary_dim % V == 0) &&
                     aligned16(a->q) && aligned16(a->k) && aligned16(a->q_out) && aligned16(a->k_out);
    dim3 grid((unsigned)a->tokens), block(THREADS);
    switch (a->tdt) {
    case UD_DT_F32: rope_kernel<DT, UD_DT_F32><<<grid, block>>>(*a, vec); break;
    case UD_DT_F16: rope_kernel<DT, UD_DT_F16><<<grid, block>>>(*a, vec); break;
    case UD_DT_BF16: rope_kernel<DT, UD_DT_BF16><<<grid, block>>>(*a, vec); break;
    default: ud_error("rope: unsupported table dtype %d", a->tdt); return UD_EINTERNAL;
    }
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

} // namespace

extern "C" int rope_cuda(const rope_args *a)
{
    if (a->tokens == 0) return UD_OK;
    if (a->tokens > 0x7fffffff) { ud_error("rope: %lld tokens exceed the grid limit", (long long)a->tokens); return UD_EINTERNAL; }
    if (a->rotary_dim < 2 || a->rotary_dim > a->head_dim || a->rotary_dim % 2 ||
        (a->q_heads + a->kv_heads) * a->head_dim > 0x7fffffff) {
        ud_error("rope: rotary_dim %d, head_dim %lld, %lld + %lld heads out of range", a->rotary_dim,
                 (long long)a->head_dim, (long long)a->q_heads, (long long)a->kv_heads);
        return UD_EINTERNAL;
    }
    switch (a->dt) {
    case UD_DT_F32: return launch_tdt<UD_DT_F32>(a);
    case UD_DT_F16: return launch_tdt<UD_DT_F16>(a);
    case UD_DT_BF16: return launch_tdt<UD_DT_BF16>(a);
    default: ud_error("rope: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

extern "C" int rope_table_build_cuda(const rope_table_spec *t, void *dev_table)
{
    rope_freqs f;
    UD_TRY(rope_inv_freq(t, &f));
    const int64_t total = t->max_position * (t->rotary_dim / 2);
    if (total == 0) return UD_OK;
    const int64_t want = (total + THREADS - 1) / THREADS;
    dim3 grid((unsigned)(want < 4096 ? want : 4096)), block(THREADS);
    switch (t->dt) {
    case UD_DT_F32: rope_table_kernel<UD_DT_F32><<<grid, block>>>(*t, f, dev_table); break;
    case UD_DT_F16: rope_table_kernel<UD_DT_F16><<<grid, block>>>(*t, f, dev_table); break;
    case UD_DT_BF16: rope_table_kernel<UD_DT_BF16><<<grid, block>>>(*t, f, dev_table); break;
    default: ud_error("rope: unsupported table dtype %d", t->dt); return UD_EINTERNAL;
    }
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}
