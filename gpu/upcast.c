/* upcast.c — cpu backend of the fp32 parameter copy (gpu/upcast.h) and the cache's derive
 * function, which picks the backend by the device the copy is made for. */
#include "gpu/upcast.h"

#include "numerics/status.h"
#include "harness/cache/param.h"

int ud_upcast_f32_cpu(int dt, const void *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = ud_ld(dt, src, i);
    return UD_OK;
}

int ud_derive_f32(void *arg, int device, void *dst)
{
    const ud_phandle *h = arg;
    if (h->device != device) {   /* the cache derives for the call's device, where the parameter is */
        ud_error("upcast: parameter %s is on device %d, the copy is for %d", h->name, h->device, device);
        return UD_EINTERNAL;
    }
    if (ud_dev_is_host(device)) return ud_upcast_f32_cpu((int)h->dtype, ud_phandle_data(h), dst, (int64_t)h->numel);
#ifdef UD_HAVE_CUDA
    return ud_upcast_f32_cuda((int)h->dtype, ud_phandle_data(h), dst, (int64_t)h->numel);
#else
    return UD_ENODEV;
#endif
}
