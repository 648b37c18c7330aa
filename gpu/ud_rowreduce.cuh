/* ud_rowreduce.cuh — a row's sum over NW * 32 "virtual lanes" in the fixed order the kernel
 * bodies define (gpu/rmsnorm.h, gpu/layernorm.h), for any number T of threads per row.
 *
 * The order: lane v = 32 w + l (w < NW) holds a partial sum; each group w of 32 lanes combines
 * by an xor butterfly over l (offsets 16 .. 1), then the NW group sums by an xor butterfly over
 * w (offsets NW/2 .. 1). fp addition is commutative, so every position of a butterfly ends with
 * the same value; the cpu backends emulate exactly this.
 *
 * Mapping: a row has T = 32, 64, ..., 32 NW threads; thread t holds S = 32 NW / T lanes
 * v = t + T j (j < S), so lane group w = t / 32 + (T / 32) j is always 32 lanes of one real warp:
 * the first butterfly is warp shuffles on each of the S values, the second is done on the NW
 * group sums in registers — gathered through shared memory when a row spans several warps. */
#ifndef UD_ROWREDUCE_CUH
#define UD_ROWREDUCE_CUH

template <int NW, typename Add>
__device__ __forceinline__ float ud_group_butterfly(float *w, Add add)
{
#pragma unroll
    for (int off = NW / 2; off >= 1; off >>= 1) {
        float t[NW];
#pragma unroll
        for (int i = 0; i < NW; i++) t[i] = add(w[i], w[i ^ off]);
#pragma unroll
        for (int i = 0; i < NW; i++) w[i] = t[i];
    }
    return w[0];
}

/* acc: the thread's S lane sums (overwritten). part: NW floats of shared memory per row of the
 * block, rloc this thread's row in the block. Every thread of the block must call it (a barrier
 * when T > 32); every thread of the row gets the row's sum. */
template <int T, int NW, typename Add>
__device__ __forceinline__ float ud_lanes_total(float *acc, float *part, int rloc, Add add)
{
    constexpr int S = 32 * NW / T;
    static_assert(T % 32 == 0 && S >= 1 && S * T == 32 * NW, "T divides the lane count in whole warps");
#pragma unroll
    for (int j = 0; j < S; j++)
#pragma unroll
        for (int off = 16; off >= 1; off >>= 1) acc[j] = add(acc[j], __shfl_xor_sync(0xffffffffu, acc[j], off));
    float w[NW];
    if constexpr (T == 32) {
#pragma unroll
        for (int j = 0; j < S; j++) w[j] = acc[j];
    } else {
        const int r = (threadIdx.x % T) >> 5;
        if ((threadIdx.x & 31) == 0)
#pragma unroll
            for (int j = 0; j < S; j++) part[rloc * NW + r + (T / 32) * j] = acc[j];
        __syncthreads();
#pragma unroll
        for (int i = 0; i < NW; i++) w[i] = part[rloc * NW + i];
        __syncthreads();   /* part may be reused by the caller's next reduction */
    }
    return ud_group_butterfly<NW>(w, add);
}

#endif
