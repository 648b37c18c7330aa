/* rmsnorm.cu — CUDA launcher for the RMSNorm family (body and spec: gpu/rmsnorm.h).
 *
 * One block of RMS_LANES threads per row. Thread l owns chunks l, l + RMS_LANES, ... of
 * V = 16 bytes each: one 16-byte load per chunk when the row is 16-byte aligned (every base
 * pointer aligned and n * sizeof(T) % 16 == 0), else V scalar loads of the same chunk, so the
 * reduction order never depends on alignment. The first MAXC chunks stay in registers
 * between the sum-of-squares pass and the output pass (one read of x from memory for rows up
 * to MAXC * RMS_LANES * V elements: 8192 for bf16/fp16, 4096 for fp32); longer rows re-read.
 *
 * Napkin math (bf16, 4096 x 7168): read x 58.7 MB + w (cached) + write out 58.7 MB = 117 MB;
 * at ~3.0 TB/s copy bandwidth on an H100 that is ~39 us. Fused add reads x and residual and
 * writes out and residual_out: 235 MB, ~78 us. `ulpdiff bench` measures it.
 */
#include <stdint.h>

#include "rmsnorm.h"
#include "ud_cuda.h"

#define MAXC 4

template <int DT>
struct rms_chunk {
    static constexpr int V = 16 / (DT == UD_DT_F32 ? 4 : 2);
    float v[V];
};

/* Loads chunk c of a row (elements c*V .. c*V+V-1, those below n) as fp32. */
template <int DT>
__device__ __forceinline__ void load_chunk(const void *row, int64_t c, int64_t n, bool vec, float *dst)
{
    constexpr int V = rms_chunk<DT>::V;
    if (vec) {
        uint4 raw = reinterpret_cast<const uint4 *>(row)[c];
        if (DT == UD_DT_F32) {
            const float *f = reinterpret_cast<const float *>(&raw);
#pragma unroll
            for (int j = 0; j < V; j++) dst[j] = f[j];
        } else {
            const uint16_t *h = reinterpret_cast<const uint16_t *>(&raw);
#pragma unroll
            for (int j = 0; j < V; j++) dst[j] = ud_to_f32(DT, h[j]);
        }
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++) dst[j] = c * V + j < n ? ud_ld(DT, row, c * V + j) : 0.0f;
}

template <int DT>
__device__ __forceinline__ void store_chunk(void *row, int64_t c, int64_t n, bool vec, const float *src)
{
    constexpr int V = rms_chunk<DT>::V;
    if (vec) {
        uint4 raw;
        if (DT == UD_DT_F32) {
            float *f = reinterpret_cast<float *>(&raw);
#pragma unroll
            for (int j = 0; j < V; j++) f[j] = src[j];
        } else {
            uint16_t *h = reinterpret_cast<uint16_t *>(&raw);
#pragma unroll
            for (int j = 0; j < V; j++) h[j] = (uint16_t)ud_from_f32(DT, src[j]);
        }
        reinterpret_cast<uint4 *>(row)[c] = raw;
        return;
    }
#pragma unroll
    for (int j = 0; j < V; j++)
        if (c * V + j < n) ud_st(DT, row, c * V + j, src[j]);
}

/* The normalised input of chunk c (fused: h = x + residual, written back as residual_out
 * when write_res is set). */
template <int DT, int BUG>
__device__ __forceinline__ void input_chunk(const rms_args &a, int64_t row, int64_t c, bool vec,
                                            bool write_res, float *v)
{
    constexpr int V = rms_chunk<DT>::V;
    const int64_t off = row * a.n;
    const int esz = ud_dt_size(DT);
    load_chunk<DT>((const char *)a.x + off * esz, c, a.n, vec, v);
    if (!a.fused) return;
    float r[V], ro[V];
    load_chunk<DT>((const char *)a.res + off * esz, c, a.n, vec, r);
#pragma unroll
    for (int j = 0; j < V; j++) {
        ro[j] = rms_residual_out(DT, BUG, v[j], r[j]);
        v[j] = rms_input(DT, 1, a.spec, BUG, v[j], r[j]);
    }
    if (write_res) store_chunk<DT>((char *)a.res_out + off * esz, c, a.n, vec, ro);
}

template <int DT, int BUG>
__global__ void __launch_bounds__(RMS_LANES) rmsnorm_kernel(rms_args a, bool vec)
{
    constexpr int V = rms_chunk<DT>::V;
    const int64_t row = blockIdx.x, n = a.n, chunks = (n + V - 1) / V;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int esz = ud_dt_size(DT);
    float cache[MAXC][V];
    float acc = 0.0f;

#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * RMS_LANES;
        if (c < chunks) {
            input_chunk<DT, BUG>(a, row, c, vec, true, cache[k]);
#pragma unroll
            for (int j = 0; j < V; j++)
                if (c * V + j < n) acc = rms_acc_sq(DT, BUG, acc, cache[k][j]);
        }
    }
    for (int64_t c = tid + (int64_t)MAXC * RMS_LANES; c < chunks; c += RMS_LANES) {
        float v[V];
        input_chunk<DT, BUG>(a, row, c, vec, true, v);
#pragma unroll
        for (int j = 0; j < V; j++)
            if (c * V + j < n) acc = rms_acc_sq(DT, BUG, acc, v[j]);
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

    const char *wrow = (const char *)a.w;
    char *orow = (char *)a.out + row * n * esz;
#pragma unroll
    for (int k = 0; k < MAXC; k++) {
        int64_t c = tid + (int64_t)k * RMS_LANES;
        if (c < chunks) {
            float w[V], o[V];
            load_chunk<DT>(wrow, c, n, vec, w);
#pragma unroll
            for (int j = 0; j < V; j++) o[j] = rms_out(DT, a.kind, a.spec, BUG, cache[k][j], inv, w[j]);
            store_chunk<DT>(orow, c, n, vec, o);
        }
    }
    for (int64_t c = tid + (int64_t)MAXC * RMS_LANES; c < chunks; c += RMS_LANES) {
        float v[V], w[V], o[V];
        input_chunk<DT, BUG>(a, row, c, vec, false, v);
        load_chunk<DT>(wrow, c, n, vec, w);
#pragma unroll
        for (int j = 0; j < V; j++) o[j] = rms_out(DT, a.kind, a.spec, BUG, v[j], inv, w[j]);
        store_chunk<DT>(orow, c, n, vec, o);
    }
}

static bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int DT>
static int launch_dt(const rms_args *a, int bug, bool vec)
{
    dim3 grid((unsigned)a->rows), block(RMS_LANES);
    switch (bug) {
    case RMS_BUG_NONE: rmsnorm_kernel<DT, RMS_BUG_NONE><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_VAR_INPUT_DTYPE: rmsnorm_kernel<DT, RMS_BUG_VAR_INPUT_DTYPE><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_EPS_AFTER_SQRT: rmsnorm_kernel<DT, RMS_BUG_EPS_AFTER_SQRT><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_PRE_ADD_RESIDUAL: rmsnorm_kernel<DT, RMS_BUG_PRE_ADD_RESIDUAL><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_UNROUNDED_SUM: rmsnorm_kernel<DT, RMS_BUG_UNROUNDED_SUM><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_WEIGHT_FP32: rmsnorm_kernel<DT, RMS_BUG_WEIGHT_FP32><<<grid, block>>>(*a, vec); break;
    case RMS_BUG_GEMMA_NO_ONE: rmsnorm_kernel<DT, RMS_BUG_GEMMA_NO_ONE><<<grid, block>>>(*a, vec); break;
    default: ud_error("rmsnorm: unknown variant %d", bug); return UD_EINTERNAL;
    }
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
