/* tensor.h — a dense row-major tensor with a host buffer and, on the cuda backend, a device
 * buffer. Element values live in the dtype's raw bit format (see dtype.h). */
#ifndef UD_TENSOR_H
#define UD_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "numerics/dtype.h"

#define UD_MAX_DIMS 4

typedef struct {
    const char *name;
    ud_dtype dtype;
    int ndim;
    int64_t shape[UD_MAX_DIMS];
    size_t numel;
    void *host;
    void *dev;      /* NULL unless on a device */
} ud_tensor;

/* Name, dtype and shape only; no buffer (an operator's `shapes` callback declares its tensors
 * so; ud_case_make_tensors checks the sizes and allocates). UD_EUSAGE when the element count
 * overflows. */
int ud_tensor_shape(ud_tensor *t, const char *name, ud_dtype dtype, int ndim, const int64_t *shape);
/* The host buffer of a shaped tensor (64-byte aligned). */
int ud_tensor_alloc_host(ud_tensor *t);
/* ud_tensor_shape, then ud_tensor_alloc_host. */
int ud_tensor_alloc(ud_tensor *t, const char *name, ud_dtype dtype, int ndim, const int64_t *shape);
void ud_tensor_free(ud_tensor *t);
size_t ud_tensor_bytes(const ud_tensor *t);
/* Writes dtype's poison NaN pattern into every element of the host buffer. */
void ud_tensor_poison(ud_tensor *t);
/* Was an element of dtype t holding `bits` never written? It still holds the poison pattern,
 * and the pattern is one no write produces. Not so for E4M3, which has two NaN encodings: its
 * poison 0xFF is also the NaN that a non-saturating conversion of a negative overflow writes
 * (and PyTorch's conversion of -NaN), so there it proves nothing and the element is compared
 * as the NaN it is. The one owner of this rule (comparison, bitwise comparison). */
int ud_unwritten_bits(ud_dtype t, uint64_t bits);
/* "[3, 17]" style coordinates of flat index i. */
void ud_tensor_coords(const ud_tensor *t, size_t i, char *buf, size_t n);
/* Elements of a and b (same dtype and shape, host buffers) whose bits differ; the index of the
 * first in *first ((size_t)-1 when none). Two NaNs count as equal whatever their sign and
 * payload — IEEE 754 leaves the payload of a NaN an operation creates to the implementation
 * (x86 makes 0xFFC00000, CUDA 0x7FFFFFFF), so "bit for bit" means every other value — unless
 * one marks an element nothing wrote (ud_unwritten_bits). */
size_t ud_tensor_bitwise_diff(const ud_tensor *a, const ud_tensor *b, size_t *first);

/* Device side (harness/core/device.cu; device_stub.c when CUDA is not compiled in). */
int ud_device_available(char *why, size_t n);       /* 1 when a usable GPU is present */
const char *ud_device_name(void);
int ud_tensor_to_device(ud_tensor *t);               /* allocates t->dev, copies host->dev */
int ud_tensor_poison_device(ud_tensor *t);           /* allocates t->dev, writes poison */
int ud_tensor_to_host(ud_tensor *t);                 /* copies dev->host */
int ud_device_sync(void);
void ud_device_free(void *p);

/* Timing and device facts for `ulpdiff bench` (CUDA events; stubs fail without CUDA). */
typedef struct ud_timer ud_timer;
int ud_timer_create(ud_timer **t);
int ud_timer_start(ud_timer *t);
int ud_timer_stop(ud_timer *t, float *ms);      /* records, synchronises, elapsed since start */
void ud_timer_destroy(ud_timer *t);
int ud_device_l2_bytes(size_t *bytes);
/* Benchmark timing: `launch(user, i)` enqueues call i (asynchronously, on the default stream).
 * ud_time_launches enqueues n calls back to back, each between its own pair of events, and
 * synchronises once at the end: ms[i] is call i's device time, free of host launch gaps.
 * ud_warm_up enqueues calls until at least `ms` milliseconds of device time have passed and
 * `min_calls` were made, so that clocks have ramped up and caches and handles are warm. */
typedef int (*ud_launch_fn)(void *user, int i);
int ud_time_launches(ud_launch_fn launch, void *user, int n, float *ms);
int ud_warm_up(ud_launch_fn launch, void *user, double ms, int min_calls);
/* Device name, SM count, memory and L2 for benchmark reports ("NVIDIA H100 80GB HBM3, 132 SMs, ..."). */
int ud_device_describe(char *buf, size_t n);
/* Median device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written. */
int ud_device_copy_gbps(size_t bytes, int iters, double *gbps);
/* ud_rng_u64(seed, stream, 0..n-1) computed on the device. */
int ud_device_rng(uint64_t seed, uint64_t stream, size_t n, uint64_t *host_out);

#endif
