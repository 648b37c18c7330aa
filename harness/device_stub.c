/* device_stub.c — the device API when ulpdiff is built without CUDA: every call says so. */
#include <stdio.h>

#include "check.h"
#include "tensor.h"

int ud_device_available(char *why, size_t n)
{
    if (why) snprintf(why, n, "this build of ulpdiff has no CUDA support (nvcc was not found at configure time)");
    return 0;
}
const char *ud_device_name(void) { return "none"; }
void ud_device_free(void *p) { (void)p; }
int ud_tensor_to_device(ud_tensor *t) { (void)t; return UD_ENODEV; }
int ud_tensor_poison_device(ud_tensor *t) { (void)t; return UD_ENODEV; }
int ud_tensor_to_host(ud_tensor *t) { (void)t; return UD_ENODEV; }
int ud_device_sync(void) { return UD_ENODEV; }
