/* upcast.h — the fp32 copy of a parameter stored in bf16 or fp16: the derived state the cached
 * operators keep (gate_proj's fp32 router weight, fp32_layernorm's weight and bias; harness/
 * cache.h holds it, docs/cache-checks.md describes the checks).
 *
 *   dst[i] = fp32(src[i])        exact: every bf16 and fp16 value is an fp32 value
 *
 * The conversion is ud_ld's, on both backends, so a cached copy holds the bits the production
 * kernels compute from the stored parameter themselves. */
#ifndef UD_GPU_UPCAST_H
#define UD_GPU_UPCAST_H

#include <stdint.h>

#include "numerics/ud_portable.h"

#ifdef __cplusplus
extern "C" {
#endif
int ud_upcast_f32_cpu(int dt, const void *src, float *dst, int64_t n);
int ud_upcast_f32_cuda(int dt, const void *src, float *dst, int64_t n);   /* current device; asynchronous */
#ifdef __cplusplus
}
#endif

#endif
