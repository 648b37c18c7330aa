/* device.cu — device buffers for ud_tensor (compiled only when CUDA is found). */
#include <stdio.h>
#include <string.h>

extern "C" {
#include "tensor.h"
}
#include "../gpu/ud_cuda.h"

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
