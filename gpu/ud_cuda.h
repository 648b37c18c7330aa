/* ud_cuda.h — CUDA and cuBLAS check macros for launchers. Each reports the failed statement,
 * file:line and the current device, and returns UD_EDEVICE from the enclosing function.
 * After a launch, UD_CUDA_LAUNCH_CHECK() catches configuration errors at once. */
#ifndef UD_CUDA_H
#define UD_CUDA_H

#include <cuda_runtime.h>
#include "numerics/status.h"

#define UD_CUDA_CHECK(stmt) do {                                                          \
        cudaError_t ud_e_ = (stmt);                                                         \
        if (ud_e_ != cudaSuccess) {                                                         \
            int ud_d_ = -1; cudaGetDevice(&ud_d_);                                          \
            ud_error("CUDA error %s (%s) in %s at %s:%d on device %d", cudaGetErrorName(ud_e_), \
                     cudaGetErrorString(ud_e_), #stmt, __FILE__, __LINE__, ud_d_);          \
            return UD_EDEVICE;                                                              \
        }                                                                                   \
    } while (0)

#define UD_CUDA_LAUNCH_CHECK() UD_CUDA_CHECK(cudaGetLastError())

#define UD_CUBLAS_CHECK(stmt) do {                                                        \
        cublasStatus_t ud_s_ = (stmt);                                                      \
        if (ud_s_ != CUBLAS_STATUS_SUCCESS) {                                               \
            int ud_d_ = -1; cudaGetDevice(&ud_d_);                                          \
            ud_error("cuBLAS error %d in %s at %s:%d on device %d", (int)ud_s_, #stmt,       \
                     __FILE__, __LINE__, ud_d_);                                            \
            return UD_EDEVICE;                                                              \
        }                                                                                   \
    } while (0)

#endif
