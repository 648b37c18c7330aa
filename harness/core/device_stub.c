/* device_stub.c — the device API when ulpdiff is built without CUDA: every call says so. */
#include <stdio.h>

#include "numerics/status.h"
#include "harness/cache/param.h"
#include "harness/core/tensor.h"

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
int ud_time_launches(ud_launch_fn launch, void *user, int n, float *ms) { (void)launch; (void)user; (void)n; (void)ms; return UD_ENODEV; }
int ud_warm_up(ud_launch_fn launch, void *user, double ms, int min_calls) { (void)launch; (void)user; (void)ms; (void)min_calls; return UD_ENODEV; }
int ud_device_describe(char *buf, size_t n) { snprintf(buf, n, "no CUDA device (built without CUDA)"); return UD_ENODEV; }
int ud_device_copy_gbps(size_t bytes, int iters, double *gbps) { (void)bytes; (void)iters; *gbps = 0.0; return UD_ENODEV; }
int ud_device_rng(uint64_t seed, uint64_t stream, size_t n, uint64_t *host_out)
{
    (void)seed; (void)stream; (void)n; (void)host_out;
    return UD_ENODEV;
}

/* Raw device memory for parameter pools (harness/cache/param.h). */
int ud_dev_count(void) { return 0; }
int ud_dev_select(int ordinal) { (void)ordinal; return UD_ENODEV; }
int ud_dev_current(int *ordinal) { *ordinal = -1; return UD_ENODEV; }
int ud_dev_malloc(int ordinal, size_t bytes, void **p) { (void)ordinal; (void)bytes; *p = NULL; return UD_ENODEV; }
int ud_dev_free(int ordinal, void *p) { (void)ordinal; (void)p; return UD_ENODEV; }
int ud_dev_copy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{
    (void)dst; (void)dst_dev; (void)src; (void)src_dev; (void)bytes;
    return UD_ENODEV;
}
int ud_dev_sync(int ordinal) { (void)ordinal; return UD_ENODEV; }
