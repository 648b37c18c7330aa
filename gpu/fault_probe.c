/* fault_probe.c — cpu backend of the fault probe (gpu/fault_probe.h): the crash variants
 * raise the signal the corresponding GPU fault maps to on a host, so process isolation can be
 * tested on a machine without a GPU. */
#include "gpu/fault_probe.h"

#include <stdatomic.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numerics/status.h"

int fault_probe_cpu(const float *x, float *out, int64_t n, int variant)
{
    switch (variant) {
    case FP_ILLEGAL_ADDRESS: raise(SIGSEGV); break;
    case FP_MISALIGNED: raise(SIGBUS); break;
    case FP_DEVICE_ASSERT: abort();
    case FP_HANG:
        for (;;) sleep(1);   /* ended only by the parent's --case-timeout (SIGKILL) */
    default: break;          /* the sanitizer-only variants compute the right answer */
    }
    if (n > 0) memcpy(out, x, (size_t)n * sizeof *out);
    static atomic_uint calls;
    unsigned k = variant == FP_NONDETERMINISTIC ? atomic_fetch_add(&calls, 1u) : 0u;
    if (n > 0 && (variant == FP_BACKEND_MISMATCH || (k & 1u))) {
        uint32_t u;
        memcpy(&u, &out[0], 4);
        u ^= 1u;
        memcpy(&out[0], &u, 4);
    }
    return UD_OK;
}
