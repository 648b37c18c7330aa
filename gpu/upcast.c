/* upcast.c — cpu backend of the fp32 parameter copy (gpu/upcast.h); the cache's derive function
 * that picks the backend lives with the cache (harness/cache/derive.c). */
#include "gpu/upcast.h"

#include "numerics/status.h"

int ud_upcast_f32_cpu(int dt, const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = ud_ld(dt, src, i);
    return UD_OK;
}
