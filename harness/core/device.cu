/* device.cu — device buffers for ud_tensor (compiled only when CUDA is found). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "harness/core/tensor.h"
}
#include "gpu/ud_cuda.h"

static char dev_name[256] = "none";

extern "C" int ud_device_available(char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        if (why) snprintf(why, n, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        (void)cudaGetLastError();
        return 0;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) snprintf(dev_name, sizeof dev_name, "%s", prop.name);
    return 1;
}

extern "C" const char *ud_device_name(void) { return dev_name; }

extern "C" void ud_device_free(void *p) { if (p) cudaFree(p); }

extern "C" int ud_tensor_to_device(ud_tensor *t)
{
    size_t bytes = ud_tensor_bytes(t);
    if (!t->dev) UD_CUDA_CHECK(cudaMalloc(&t->dev, bytes ? bytes : 16));
    if (bytes) UD_CUDA_CHECK(cudaMemcpy(t->dev, t->host, bytes, cudaMemcpyHostToDevice));
    return UD_OK;
}

/* The host buffer already holds the poison pattern (run.c poisons it first). */
extern "C" int ud_tensor_poison_device(ud_tensor *t)
{
    ud_tensor_poison(t);
    return ud_tensor_to_device(t);
}

extern "C" int ud_tensor_to_host(ud_tensor *t)
{
    size_t bytes = ud_tensor_bytes(t);
    if (bytes) UD_CUDA_CHECK(cudaMemcpy(t->host, t->dev, bytes, cudaMemcpyDeviceToHost));
    return UD_OK;
}

extern "C" int ud_device_sync(void)
{
    UD_CUDA_CHECK(cudaGetLastError());
    UD_CUDA_CHECK(cudaDeviceSynchronize());
    return UD_OK;
}

struct ud_timer { cudaEvent_t start, stop; };

extern "C" int ud_timer_create(ud_timer **t)
{
    *t = (ud_timer *)calloc(1, sizeof **t);
    UD_ALLOC_CHECK(*t);
    UD_CUDA_CHECK(cudaEventCreate(&(*t)->start));
    UD_CUDA_CHECK(cudaEventCreate(&(*t)->stop));
    return UD_OK;
}

extern "C" int ud_timer_start(ud_timer *t)
{
    UD_CUDA_CHECK(cudaEventRecord(t->start));
    return UD_OK;
}

extern "C" int ud_timer_stop(ud_timer *t, float *ms)
{
    UD_CUDA_CHECK(cudaEventRecord(t->stop));
    UD_CUDA_CHECK(cudaEventSynchronize(t->stop));
    UD_CUDA_CHECK(cudaGetLastError());
    UD_CUDA_CHECK(cudaEventElapsedTime(ms, t->start, t->stop));
    return UD_OK;
}

extern "C" void ud_timer_destroy(ud_timer *t)
{
    if (!t) return;
    cudaEventDestroy(t->start);
    cudaEventDestroy(t->stop);
    free(t);
}

extern "C" int ud_device_l2_bytes(size_t *bytes)
{
    int dev = 0, l2 = 0;
    UD_CUDA_CHECK(cudaGetDevice(&dev));
    UD_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    *bytes = (size_t)l2;
    return UD_OK;
}

extern "C" int ud_time_launches(ud_launch_fn launch, void *user, int n, float *ms)
{
    cudaEvent_t *ev = (cudaEvent_t *)calloc((size_t)(2 * n), sizeof *ev);
    UD_ALLOC_CHECK(ev);
    int made = 0, rc = UD_OK;
    for (; made < 2 * n; made++)
        if (cudaEventCreate(&ev[made]) != cudaSuccess) { rc = UD_EDEVICE; break; }
    for (int i = 0; rc == UD_OK && i < n; i++) {
        if (cudaEventRecord(ev[2 * i]) != cudaSuccess) { rc = UD_EDEVICE; break; }
        rc = launch(user, i);
        if (rc == UD_OK && cudaEventRecord(ev[2 * i + 1]) != cudaSuccess) rc = UD_EDEVICE;
    }
    if (rc == UD_OK && cudaDeviceSynchronize() != cudaSuccess) rc = UD_EDEVICE;
    for (int i = 0; rc == UD_OK && i < n; i++)
        if (cudaEventElapsedTime(&ms[i], ev[2 * i], ev[2 * i + 1]) != cudaSuccess) rc = UD_EDEVICE;
    if (rc == UD_EDEVICE) {
        cudaError_t e = cudaGetLastError();
        ud_error("benchmark timing: CUDA error %s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
    }
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    free(ev);
    return rc;
}

extern "C" int ud_warm_up(ud_launch_fn launch, void *user, double ms, int min_calls)
{
    double done = 0.0;
    int calls = 0;
    float t[32];
    while (done < ms || calls < min_calls) {
        UD_TRY(ud_time_launches(launch, user, 32, t));
        for (int i = 0; i < 32; i++) done += t[i];
        calls += 32;
        if (calls > 1000000) break;   /* a kernel of nanoseconds: enough */
    }
    return UD_OK;
}

extern "C" int ud_device_describe(char *buf, size_t n)
{
    int dev = 0;
    cudaDeviceProp p;
    UD_CUDA_CHECK(cudaGetDevice(&dev));
    UD_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    snprintf(buf, n, "%s, %d SMs, sm_%d%d, %.0f GiB, L2 %.0f MB", p.name, p.multiProcessorCount, p.major, p.minor,
             (double)p.totalGlobalMem / (1u << 30), p.l2CacheSize / 1e6);
    return UD_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

extern "C" int ud_device_copy_gbps(size_t bytes, int iters, double *gbps)
{
    void *src = NULL, *dst = NULL;
    UD_CUDA_CHECK(cudaMalloc(&src, bytes));
    UD_CUDA_CHECK(cudaMalloc(&dst, bytes));
    /* Random-ish, non-zero contents: a copy of zeros can run faster than real data. */
    UD_CUDA_CHECK(cudaMemset(src, 0x5b, bytes));
    float *ms = (float *)calloc((size_t)iters, sizeof *ms);
    UD_ALLOC_CHECK(ms);
    ud_timer *t;
    UD_TRY(ud_timer_create(&t));
    for (int i = 0; i < 3; i++) UD_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
    for (int i = 0; i < iters; i++) {
        UD_TRY(ud_timer_start(t));
        UD_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice));
        UD_TRY(ud_timer_stop(t, &ms[i]));
    }
    qsort(ms, (size_t)iters, sizeof *ms, cmp_float);
    *gbps = 2.0 * (double)bytes / (ms[iters / 2] * 1e-3) / 1e9;
    ud_timer_destroy(t);
    free(ms);
    UD_CUDA_CHECK(cudaFree(src));
    UD_CUDA_CHECK(cudaFree(dst));
    return UD_OK;
}

#include "numerics/ud_portable.h"

/* The counter-based RNG evaluated on the device, for the test that host and device agree. */
__global__ void rng_kernel(uint64_t seed, uint64_t stream, size_t n, uint64_t *out)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = ud_rng_u64(seed, stream, i);
}

extern "C" int ud_device_rng(uint64_t seed, uint64_t stream, size_t n, uint64_t *host_out)
{
    uint64_t *d = NULL;
    UD_CUDA_CHECK(cudaMalloc(&d, n * sizeof *d));
    rng_kernel<<<(unsigned)((n + 255) / 256), 256>>>(seed, stream, n, d);
    UD_CUDA_LAUNCH_CHECK();
    UD_CUDA_CHECK(cudaMemcpy(host_out, d, n * sizeof *d, cudaMemcpyDeviceToHost));
    UD_CUDA_CHECK(cudaFree(d));
    return UD_OK;
}

/* ---- raw device memory for parameter pools (harness/cache/param.h) ---- */
extern "C" {
#include "harness/cache/param.h"
}

extern "C" int ud_dev_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

extern "C" int ud_dev_select(int ordinal)
{
    UD_CUDA_CHECK(cudaSetDevice(ordinal));
    return UD_OK;
}

extern "C" int ud_dev_current(int *ordinal)
{
    UD_CUDA_CHECK(cudaGetDevice(ordinal));
    return UD_OK;
}

extern "C" int ud_dev_malloc(int ordinal, size_t bytes, void **p)
{
    UD_CUDA_CHECK(cudaSetDevice(ordinal));
    UD_CUDA_CHECK(cudaMalloc(p, bytes));
    return UD_OK;
}

extern "C" int ud_dev_free(int ordinal, void *p)
{
    (void)ordinal;   /* cudaFree takes a pointer of any device (unified addressing) */
    UD_CUDA_CHECK(cudaFree(p));
    return UD_OK;
}

extern "C" int ud_dev_copy(void *dst, int dst_dev, const void *src, int src_dev, size_t bytes)
{
    cudaMemcpyKind kind = dst_dev < 0 ? (src_dev < 0 ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost)
                                      : (src_dev < 0 ? cudaMemcpyHostToDevice : cudaMemcpyDefault);
    /* Device to device between GPUs: cudaMemcpyDefault copies peer to peer (or stages through
     * the host) under unified addressing; a plain cudaMemcpy is synchronous either way. */
    UD_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
    return UD_OK;
}

extern "C" int ud_dev_sync(int ordinal)
{
    UD_CUDA_CHECK(cudaSetDevice(ordinal));
    UD_CUDA_CHECK(cudaGetLastError());
    UD_CUDA_CHECK(cudaDeviceSynchronize());
    return UD_OK;
}
