/* fault_probe.cu — cuda backend of the fault probe (gpu/fault_probe.h). A grid-stride copy;
 * each variant adds the one defect it is named after. NDEBUG is undone here so that the
 * device_assert variant asserts in every build type. */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>

#include "gpu/fault_probe.h"
#include "gpu/ud_cuda.h"

#define FP_THREADS 128

__device__ unsigned fp_calls;   /* nondeterministic: counts launches */

template <int VARIANT>
__global__ void __launch_bounds__(FP_THREADS) fault_probe_kernel(const float *x, float *out, int64_t n,
                                                                 const float *scratch, volatile int *flag)
{
    __shared__ float smem[FP_THREADS];
    const int64_t i0 = blockIdx.x * (int64_t)FP_THREADS + threadIdx.x;
    float extra = 0.0f;
    if (VARIANT == FP_ILLEGAL_ADDRESS && i0 == 0)   /* 1 TiB past the output: unmapped */
        *(volatile float *)((char *)out + ((int64_t)1 << 40)) = 1.0f;
    if (VARIANT == FP_MISALIGNED && i0 == 0) *(volatile uint64_t *)((char *)out + 1) = 0;
    if (VARIANT == FP_DEVICE_ASSERT) assert(i0 < 0 && "fault_probe.device_assert: deliberate device-side assert");
    if (VARIANT == FP_HANG && i0 == 0)
        while (*flag == 0) {}   /* nothing ever sets it */
    /* Volatile loads: the compiler may not drop a read whose value is unused. */
    if (VARIANT == FP_OOB_READ && i0 == 0) extra = *(volatile const float *)&x[n];   /* one past the end */
    if (VARIANT == FP_UNINIT_READ && i0 == 0) extra = *(volatile const float *)scratch;   /* never written */
    if (VARIANT == FP_SMEM_RACE) {   /* every thread writes, then reads, with no barrier between */
        ((volatile float *)smem)[0] = (float)threadIdx.x;
        extra = ((volatile float *)smem)[0];
    }
    /* Half of warp 0 reaches a barrier the rest of the block never does. Divergence inside a
     * warp is what synccheck reports on sm_70 and later ("Divergent thread(s) in warp"); whole
     * warps that skip a barrier and exit are not reported there. Run it only under synccheck:
     * on its own the barrier's behaviour is undefined. */
    if (VARIANT == FP_DIVERGENT_SYNC && threadIdx.x < 16) __syncthreads();
    (void)extra;
    for (int64_t i = i0; i < n; i += (int64_t)gridDim.x * FP_THREADS) {
        float v = x[i];
        out[i] = v;
    }
    if (VARIANT == FP_NONDETERMINISTIC && i0 == 0 && (atomicAdd(&fp_calls, 1u) & 1u))
        out[0] = __int_as_float(__float_as_int(x[0]) ^ 1);   /* same thread wrote out[0] above */
}

template <int V>
static int launch(const float *x, float *out, int64_t n, const float *scratch, int *flag)
{
    int64_t blocks = (n + FP_THREADS - 1) / FP_THREADS;
    unsigned grid = (unsigned)(blocks < 1 ? 1 : blocks > 1024 ? 1024 : blocks);
    fault_probe_kernel<V><<<grid, FP_THREADS>>>(x, out, n, scratch, flag);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

extern "C" int fault_probe_cuda(const float *x, float *out, int64_t n, int variant)
{
    float *scratch = NULL;
    int *flag = NULL;
    UD_CUDA_CHECK(cudaMalloc(&scratch, 256));
    UD_CUDA_CHECK(cudaMalloc(&flag, sizeof *flag));
    UD_CUDA_CHECK(cudaMemset(flag, 0, sizeof *flag));
    int rc;
    switch (variant) {
    case FP_NONE: rc = launch<FP_NONE>(x, out, n, scratch, flag); break;
    case FP_ILLEGAL_ADDRESS: rc = launch<FP_ILLEGAL_ADDRESS>(x, out, n, scratch, flag); break;
    case FP_MISALIGNED: rc = launch<FP_MISALIGNED>(x, out, n, scratch, flag); break;
    case FP_DEVICE_ASSERT: rc = launch<FP_DEVICE_ASSERT>(x, out, n, scratch, flag); break;
    case FP_HANG: rc = launch<FP_HANG>(x, out, n, scratch, flag); break;
    case FP_OOB_READ: rc = launch<FP_OOB_READ>(x, out, n, scratch, flag); break;
    case FP_SMEM_RACE: rc = launch<FP_SMEM_RACE>(x, out, n, scratch, flag); break;
    case FP_UNINIT_READ: rc = launch<FP_UNINIT_READ>(x, out, n, scratch, flag); break;
    case FP_DIVERGENT_SYNC: rc = launch<FP_DIVERGENT_SYNC>(x, out, n, scratch, flag); break;
    case FP_NONDETERMINISTIC: rc = launch<FP_NONDETERMINISTIC>(x, out, n, scratch, flag); break;
    case FP_BACKEND_MISMATCH: rc = launch<FP_NONE>(x, out, n, scratch, flag); break;   /* cuda is exact */
    default: ud_error("fault_probe: unknown variant %d", variant); rc = UD_EINTERNAL; break;
    }
    /* Synchronise before freeing the scratch the kernel may still read; a fault surfaces here
     * (or in the harness's own sync) as UD_EDEVICE. */
    if (rc == UD_OK) UD_CUDA_CHECK(cudaDeviceSynchronize());
    UD_CUDA_CHECK(cudaFree(scratch));
    UD_CUDA_CHECK(cudaFree(flag));
    return rc;
}
