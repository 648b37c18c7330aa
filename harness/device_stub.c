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

struct ud_timer { int unused; };
int ud_timer_create(ud_timer **t) { *t = NULL; return UD_ENODEV; }
int ud_timer_start(ud_timer *t) { (void)t; return UD_ENODEV; }
int ud_timer_stop(ud_timer *t, float *ms) { (void)t; *ms = 0.0f; return UD_ENODEV; }
void ud_timer_destroy(ud_timer *t) { (void)t; }
int ud_device_l2_bytes(size_t *bytes) { *bytes = 0; return UD_ENODEV; }
int ud_device_copy_gbps(size_t bytes, int iters, double *gbps) { (void)bytes; (void)iters; *gbps = 0.0; return UD_ENODEV; }
int ud_device_rng(uint64_t seed, uint64_t stream, size_t n, uint64_t *host_out)
{
    (void)seed; (void)stream; (void)n; (void)host_out;
    return UD_ENODEV;
}
