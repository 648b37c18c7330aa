/* fault_probe.h — the fault probe: a copy kernel (out = x, fp32) whose variants break on
 * purpose, so that process isolation and the compute-sanitizer tools can be shown to catch
 * what they exist to catch (docs/nightly.md). It is a probe, not an operator: reachable by
 * name (`--op fault_probe`, `--mutant fault_probe.illegal_address`, case files) but not in the
 * registry table, so no corpus, default sweep or mutation score ever runs it.
 *
 * Variants (cuda / cpu):
 *   illegal_address  store far outside any allocation: cudaErrorIllegalAddress (sticky) / SIGSEGV
 *   misaligned       8-byte store at an odd address: cudaErrorMisalignedAddress (sticky) / SIGBUS
 *   device_assert    a failing device-side assert: cudaErrorAssert (sticky) / abort()
 *   hang             spins forever: ended by --case-timeout / same on the host
 *   oob_read         reads one element past x, result unused: only memcheck sees it / plain copy
 *   smem_race        unsynchronised shared-memory write/read: only racecheck sees it / plain copy
 *   uninit_read      reads never-written device memory: only initcheck sees it / plain copy
 *   divergent_sync   __syncthreads() that half a warp reaches: only synccheck sees it (run it
 *                    only under synccheck: elsewhere the barrier is undefined) / plain copy
 *   nondeterministic every second call flips the last bit of out[0]: --repeat 2 sees it
 *   backend_mismatch the cpu kernel flips the last bit of out[0], cuda is exact: --cross-check
 * oob_read .. uninit_read produce the right output, so an ordinary run passes them. */
#ifndef UD_GPU_FAULT_PROBE_H
#define UD_GPU_FAULT_PROBE_H

#include <stdint.h>

enum {
    FP_NONE = 0, FP_ILLEGAL_ADDRESS, FP_MISALIGNED, FP_DEVICE_ASSERT, FP_HANG,
    FP_OOB_READ, FP_SMEM_RACE, FP_UNINIT_READ, FP_DIVERGENT_SYNC, FP_NONDETERMINISTIC, FP_BACKEND_MISMATCH,
    FP_COUNT
};

#ifdef __cplusplus
extern "C" {
#endif
int fault_probe_cpu(const float *x, float *out, int64_t n, int variant);
int fault_probe_cuda(const float *x, float *out, int64_t n, int variant);   /* device pointers */
#ifdef __cplusplus
}
#endif

#endif
