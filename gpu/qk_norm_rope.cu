/* qk_norm_rope.cu — CUDA kernel for the fused per-head QK RMSNorm + partial RoPE (body, layout
 * and reduction order: gpu/qk_norm_rope.h; spec: docs/ops/qk_norm_rope.md).
 *
 * Blocks of 256 threads (8 warps). A warp holds G = 32 / L heads side by side, L lanes a head,
 * each lane one 16-byte chunk of the head (two for fp32 heads of 256): bf16 heads of 128 are 16
 * lanes, two heads a warp, and a warp's access is 512 contiguous bytes. At decode (fewer than
 * QKR_MULTI_MIN_UNITS (token, head) units) a warp takes one head group, so 40 heads of one token
 * already spread over 20 warps; at prefill it takes QKR_ITERS = 4 consecutive groups and issues
 * all their loads before computing the first (four independent 16-byte loads in flight per
 * lane), then normalises, rotates and stores them in order. The sum of squares: each lane's own
 * chunks in order, then an xor butterfly of offsets L/2..1 (__shfl_xor_sync, every lane of the
 * warp). The neox partner of a rotary element is fetched from the lane that holds its chunk
 * (half a rotary part away) by __shfl_sync that every lane executes — the lanes outside the
 * rotary part ask their own lane and ignore the answer; gptj pairs lie inside a chunk. cos and
 * sin come from the token's table row (L1: every head of the token reads it). A token whose
 * position is outside [0, max_position) is computed but not stored and its table row is never
 * read. The known-bug variant QKR_BUG_DIVERGENT_SHUFFLE is the model of gpu/qk_norm_rope.h,
 * realised with shuffles every lane executes (well defined, and the same bits as the cpu).
 *
 * Napkin math (the bench shape, Qwen3-8B: bf16, 4096 tokens, 32 q + 8 kv heads of 128): read q
 * and k 41.9 MB, write 41.9 MB, weights and one table row per token (cached) ≈ 84 MB: ~28 us
 * at an H100's ~3 TB/s copy bandwidth, ~21 us at ~4 TB/s on an H200. At decode (one token) the
 * 20 KB moved take a launch's latency (a few us).
 */
#include <stdint.h>

#include "gpu/qk_norm_rope.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

namespace {

constexpr int THREADS = 256;
constexpr unsigned FULL = 0xffffffffu;

template <int DT, int HD, int BUG>
__global__ void __launch_bounds__(THREADS) qkr_kernel(qkr_args a, int64_t units, int iters, bool vec)
{
    constexpr int V = ud_vec<DT>::V, C = HD / V, L = C < 32 ? C : 32, K = C / L, G = 32 / L;
    const int lane = threadIdx.x & 31, sg = lane / L, j = lane % L;
    const int64_t warp = (int64_t)blockIdx.x * (THREADS / 32) + (threadIdx.x >> 5);
    const int64_t heads = a.q_heads + a.kv_heads;
    const int rd = a.rotary_dim, half = rd / 2, P = half / V;

    /* Loads of every head group of this warp first. */
    float xv[QKR_ITERS][K][V];
#pragma unroll
    for (int r = 0; r < QKR_ITERS; r++) {
        const int64_t u = (warp * iters + r) * G + sg;
        const bool active = r < iters && u < units;
        const int64_t t = active ? u / heads : 0, h = active ? u % heads : 0;
        const bool isq = h < a.q_heads;
        const char *src = (const char *)(isq ? a.q : a.k) +
                          (isq ? t * a.q_heads + h : t * a.kv_heads + (h - a.q_heads)) * HD * ud_dt_size(DT);
#pragma unroll
        for (int k = 0; k < K; k++) {
            if (active) ud_load_chunk<DT>(src, j + k * L, HD, vec, xv[r][k]);
            else {
#pragma unroll
                for (int e = 0; e < V; e++) xv[r][k][e] = 0.0f;
            }
        }
    }

    float sent = 0.0f;   /* what this lane offered to the previous head's rotary exchange */
#pragma unroll
    for (int r = 0; r < QKR_ITERS; r++) {
        if (r >= iters) break;   /* uniform: iters is the launch's */
        const int64_t u = (warp * iters + r) * G + sg;
        const bool active = u < units;
        const int64_t t = active ? u / heads : 0, h = active ? u % heads : 0;
        const bool isq = h < a.q_heads;

        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++)
#pragma unroll
            for (int e = 0; e < V; e++) acc = qkr_sq_acc(acc, xv[r][k][e]);
#pragma unroll
        for (int o = qkr_first_offset(BUG, L); o >= 1; o >>= 1) {   /* L / 2 but for a variant */
            float recv = qkr_recv(BUG, L, o, __shfl_xor_sync(FULL, acc, o));
            if (BUG == QKR_BUG_DIVERGENT_SHUFFLE && o == L / 2) {
                const float leak = __shfl_xor_sync(FULL, sent, o);
                if (qkr_leaks(BUG, a.style, rd, HD, r, j, L, V)) recv = leak;
            }
            acc = ud_fadd(acc, recv);
        }
        const float inv = qkr_inv(acc, HD, a.eps);

        float y[K][V];
        const void *w = isq ? a.q_w : a.k_w;
#pragma unroll
        for (int k = 0; k < K; k++) {
            float wv[V];
            ud_load_chunk<DT>(w, j + k * L, HD, vec, wv);
#pragma unroll
            for (int e = 0; e < V; e++) y[k][e] = qkr_y(DT, a.spec, xv[r][k][e], inv, wv[e]);
        }
        sent = y[0][0];

        /* neox: each rotary chunk's partner chunk, half a rotary part away, from its lane. */
        float pv[K][V];
        if (a.style == ROPE_NEOX) {
#pragma unroll
            for (int k = 0; k < K; k++) {
                const int c = j + k * L;
                const int cp = c * V < rd ? (c < P ? c + P : c - P) : c;
                const int src = sg * L + cp % L, slot = cp / L;
#pragma unroll
                for (int s = 0; s < K; s++)
#pragma unroll
                    for (int e = 0; e < V; e++) {
                        const float v = __shfl_sync(FULL, y[s][e], src);
                        if (slot == s) pv[k][e] = v;
                    }
            }
        }

        if (!active) continue;
        const int64_t p = qkr_position(BUG, a.pos, t);
        if (p < 0 || p >= a.max_position) continue;   /* reported by the launcher's caller */
        const void *row = (const char *)a.table + (size_t)p * (size_t)a.table_cols * (size_t)ud_dt_size(a.tdt);
        char *dst = (char *)(isq ? a.q_out : a.k_out) +
                    (isq ? t * a.q_heads + h : t * a.kv_heads + (h - a.q_heads)) * HD * ud_dt_size(DT);
#pragma unroll
        for (int k = 0; k < K; k++) {
            const int c = j + k * L;
            float o[V];
#pragma unroll
            for (int e = 0; e < V; e++) {
                const int d = c * V + e;
                o[e] = y[k][e];
                if (d < rd) {
                    int first, i;
                    float partner;
                    if (a.style == ROPE_NEOX) {
                        first = d < half;
                        i = first ? d : d - half;
                        partner = pv[k][e];
                    } else {
                        first = (e & 1) == 0;
                        i = d >> 1;
                        partner = y[k][e ^ 1];
                    }
                    o[e] = rope_rotate(y[k][e], partner, ud_ld(a.tdt, row, i), ud_ld(a.tdt, row, half + i), first);
                }
            }
            ud_store_chunk<DT>(dst, c, HD, vec, o);
        }
    }
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

template <int DT, int HD>
int launch_hd(const qkr_args *a, int bug, int64_t units, int iters, unsigned blocks, bool vec)
{
    UD_TRY(ud_dispatch_bug<QKR_BUG_COUNT>(bug, [&](auto B) {
        qkr_kernel<DT, HD, decltype(B)::value><<<blocks, THREADS>>>(*a, units, iters, vec);
    }));
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

template <int DT>
int launch_dt(const qkr_args *a, int bug, int64_t units, int iters, unsigned blocks, bool vec)
{
    switch (a->head_dim) {
    case 64: return launch_hd<DT, 64>(a, bug, units, iters, blocks, vec);
    case 128: return launch_hd<DT, 128>(a, bug, units, iters, blocks, vec);
    case 256: return launch_hd<DT, 256>(a, bug, units, iters, blocks, vec);
    default: ud_error("qk_norm_rope: head_dim %lld is not 64, 128 or 256", (long long)a->head_dim); return UD_EINTERNAL;
    }
}

} // namespace

extern "C" int qk_norm_rope_cuda(const qkr_args *a, int bug)
{
    const int64_t hd = a->head_dim;
    if ((hd != 64 && hd != 128 && hd != 256) || a->rotary_dim < 2 || a->rotary_dim > hd || a->rotary_dim % 16 ||
        a->table_cols < 2) {
        ud_error("qk_norm_rope: head_dim %lld, rotary_dim %d, table width %d out of range", (long long)hd, a->rotary_dim,
                 a->table_cols);
        return UD_EINTERNAL;
    }
    const int64_t units = a->tokens * (a->q_heads + a->kv_heads);
    if (units == 0) return UD_OK;
    const int L = qkr_lanes(a->dt, hd), G = 32 / L, iters = qkr_iters(units);
    const int64_t groups = (units + G - 1) / G, warps = (groups + iters - 1) / iters;
    const int64_t blocks = (warps + THREADS / 32 - 1) / (THREADS / 32);
    if (blocks > 0x7fffffff) { ud_error("qk_norm_rope: %lld blocks exceed the grid limit", (long long)blocks); return UD_EINTERNAL; }
    const bool vec = aligned16(a->q) && aligned16(a->k) && aligned16(a->q_w) && aligned16(a->k_w) &&
                     aligned16(a->q_out) && aligned16(a->k_out);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, units, iters, (unsigned)blocks, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, units, iters, (unsigned)blocks, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, units, iters, (unsigned)blocks, vec);
    default: ud_error("qk_norm_rope: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}
