/* ud_cuda.h — CUDA and cuBLAS check macros for launchers. Each reports the failed statement,
 * file:line and the current device, and returns UD_EDEVICE from the enclosing function.
 * After a launch, UD_CUDA_LAUNCH_CHECK() catches configuration errors at once. */
#ifndef UD_CUDA_H
#define UD_CUDA_H

#include <cuda_runtime.h>

#include <type_traits>
#include <utility>

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

/* A kernel templated on its known-bug variant code (0: production, so no bug code is on the
 * production path) is instantiated for every code of its table, 0 .. N-1, and the one asked for
 * is chosen at run time: ud_dispatch_bug<OP_BUG_COUNT>(bug, [&](auto B) {
 * kernel<decltype(B)::value><<<...>>>(...); }) calls the lambda with std::integral_constant<int, bug>
 * and returns its status (UD_OK for a lambda returning nothing). */
template <int B, typename F>
static int ud_call_bug_(F &f)
{
    using K = std::integral_constant<int, B>;
    if constexpr (std::is_void_v<decltype(f(K{}))>) {
        f(K{});
        return UD_OK;
    } else {
        return f(K{});
    }
}

template <typename F, int... B>
static int ud_dispatch_bug_(int bug, F &f, std::integer_sequence<int, B...>)
{
    int rc = UD_OK;
    bool hit = ((bug == B ? (rc = ud_call_bug_<B>(f), true) : false) || ...);
    if (!hit) {
        ud_error("unknown known-bug variant code %d", bug);
        return UD_EINTERNAL;
    }
    return rc;
}

template <int N, typename F>
static int ud_dispatch_bug(int bug, F &&f)
{
    return ud_dispatch_bug_(bug, f, std::make_integer_sequence<int, N>{});
}

#endif
