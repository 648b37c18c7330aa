/* upcast.cu — CUDA kernel of the fp32 parameter copy (gpu/upcast.h): one grid-stride pass,
 * ud_ld per element. Napkin math: a 256 x 7168 bf16 router weight is 3.7 MB read + 7.3 MB
 * written, ~4 us at 3 TB/s — once per weight change, which is what the cache saves per call. */
#include <stdint.h>

#include "gpu/upcast.h"
#include "gpu/ud_cuda.h"

namespace {

__global__ void upcast_kernel(int dt, const void *src, float *dst, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = ud_ld(dt, src, i);
}

}  // namespace

extern "C" int ud_upcast_f32_cuda(int dt, const void *src, float *dst, int64_t n)
{
    if (n == 0) return UD_OK;
    int64_t blocks = (n + 255) / 256;
    upcast_kernel<<<(unsigned)(blocks < 4096 ? blocks : 4096), 256>>>(dt, src, dst, n);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}
