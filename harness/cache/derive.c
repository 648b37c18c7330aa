/* derive.c — derive functions for parameter handles (derive.h): the harness side of a derived
 * copy, picking the kernel layer's backend (gpu/upcast.h) by the device the copy is made for. */
#include "harness/cache/derive.h"

#include "gpu/upcast.h"
#include "harness/cache/param.h"
#include "numerics/status.h"

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
