/* silu_and_mul.cu — CUDA launcher for SiLU(gate) * up (body and spec: gpu/silu_and_mul.h).
 *
 * Elementwise: the output is a flat grid of chunks of V = 16 bytes (cpr chunks a row), each
 * thread taking U of them a THREADS-wide stride apart, all 2 U loads (gate and up chunks) issued
 * before the first is used. A chunk is one 16-byte load when rows are 16-byte aligned (x and out
 * aligned and inter * sizeof(T) % 16 == 0, so the up half starts aligned too), else V scalar
 * loads; any inter, including 1 and odd, takes the scalar path. The arithmetic is silu_mul()
 * for every element either way, so cpu and cuda agree bit for bit in every configuration.
 *
 * Napkin math (bf16, tokens 4096, inter 7168): read x 117 MB + write out 58.7 MB = 176 MB;
 * ~59 us at ~3.0 TB/s copy bandwidth on an H100, ~42 us at ~4.2 TB/s on an H200. SiLU costs ~40
 * fp32 operations an element (exp polynomial, IEEE division): 1.2 G operations, ~35 us of the
 * SMs' fp32 rate, so on an H200 arithmetic and memory must overlap. Measured: docs/performance.md.
 */
#include <stdint.h>

#include "gpu/silu_and_mul.h"
#include "gpu/ud_chunk.cuh"
#include "gpu/ud_cuda.h"

namespace {

constexpr int THREADS = 256;

/* Output chunk g of the flat [tokens, inter / V] chunk grid (cpr chunks a row): its gate and up
 * chunks, SiLU * up, one store. U chunks a thread, their loads issued before any is used. */
template <int DT, int BUG, int U>
__global__ void __launch_bounds__(THREADS) silu_and_mul_kernel(silu_args a, bool vec, uint32_t cpr, uint64_t total, int rbug)
{
    const int bug = BUG >= 0 ? BUG : rbug;   /* -1: a known-bug variant, its code at run time */
    constexpr int V = ud_vec<DT>::V;
    const int esz = ud_dt_size(DT);
    const int64_t n = a.inter;
    const uint64_t base = (uint64_t)blockIdx.x * THREADS * U + threadIdx.x;
    float g[U][V], u[U][V];
#pragma unroll
    for (int k = 0; k < U; k++) {
        const uint64_t q = base + (uint64_t)k * THREADS;
        if (q < total) {
            const uint64_t t = q / cpr, c = q % cpr;
            const char *gate = (const char *)a.x + t * 2 * n * esz;
            ud_load_chunk<DT>(gate, (int64_t)c, n, vec, g[k]);
            ud_load_chunk<DT>(gate + n * esz, (int64_t)c, n, vec, u[k]);
        }
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
        const uint64_t q = base + (uint64_t)k * THREADS;
        if (q < total) {
            const uint64_t t = q / cpr, c = q % cpr;
            float o[V];
#pragma unroll
            for (int j = 0; j < V; j++) o[j] = silu_mul(DT, a.spec, bug, g[k][j], u[k][j]);
            ud_store_chunk<DT>((char *)a.out + t * n * esz, (int64_t)c, n, vec, o);
        }
    }
}

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

/* Production's choice first; the others with -DUD_KERNEL_CONFIGS=ON (the performance runs). */
const char *const config_names[] = {"u1",
#if UD_KERNEL_CONFIGS
                                    "u2", "u4",
#endif
};
constexpr int NCONFIGS = sizeof config_names / sizeof config_names[0];

template <int DT, int BUG, int U>
int launch(const silu_args *a, bool vec, int bug = 0)
{
    constexpr int V = ud_vec<DT>::V;
    const uint32_t cpr = (uint32_t)((a->inter + V - 1) / V);
    const uint64_t total = (uint64_t)a->tokens * cpr, per = (uint64_t)THREADS * U;
    silu_and_mul_kernel<DT, BUG, U><<<(unsigned)((total + per - 1) / per), THREADS>>>(*a, vec, cpr, total, bug);
    UD_CUDA_LAUNCH_CHECK();
    return UD_OK;
}

template <int DT>
int launch_dt(const silu_args *a, int bug, int k, bool vec)
{
    if (bug != SILU_BUG_NONE) {   /* known-bug variants: one instantiation, the code at run time */
        if (bug < 0 || bug >= SILU_BUG_COUNT) { ud_error("silu_and_mul: unknown variant %d", bug); return UD_EINTERNAL; }
        return launch<DT, -1, 2>(a, vec, bug);
    }
    switch (k) {
    case 0: return launch<DT, 0, 1>(a, vec);
#if UD_KERNEL_CONFIGS
    case 1: return launch<DT, 0, 2>(a, vec);
    case 2: return launch<DT, 0, 4>(a, vec);
#endif
    default: ud_error("silu_and_mul: no launch configuration %d", k); return UD_EUSAGE;
    }
}

int run(const silu_args *a, int bug, int k)
{
    if (a->tokens == 0 || a->inter == 0) return UD_OK;
    constexpr int64_t max_chunks = 0x7fffffffLL * THREADS;
    if (a->tokens * ((a->inter + 7) / 8) > max_chunks) {
        ud_error("silu_and_mul: %lld tokens x %lld exceed the grid limit", (long long)a->tokens, (long long)a->inter);
        return UD_EINTERNAL;
    }
    bool vec = (a->inter * ud_dt_size(a->dt)) % 16 == 0 && aligned16(a->x) && aligned16(a->out);
    switch (a->dt) {
    case UD_DT_F32: return launch_dt<UD_DT_F32>(a, bug, k, vec);
    case UD_DT_F16: return launch_dt<UD_DT_F16>(a, bug, k, vec);
    case UD_DT_BF16: return launch_dt<UD_DT_BF16>(a, bug, k, vec);
    default: ud_error("silu_and_mul: unsupported dtype %d", a->dt); return UD_EINTERNAL;
    }
}

}  // namespace

/* Production: one chunk a thread (u1), the fastest configuration measured (docs/performance.md,
 * H100, 2026-12-07: 96.6 us against 115 us for u2 and 149 us for u4 at the bench shape). */
extern "C" int silu_and_mul_cuda(const silu_args *a, int bug) { return run(a, bug, 0); }

extern "C" int silu_and_mul_cuda_tune(const silu_args *a, int cfg, const char **name)
{
    if (cfg < 0 || cfg >= NCONFIGS) return UD_EUSAGE;
    *name = config_names[cfg];
    return run(a, SILU_BUG_NONE, cfg);
}
