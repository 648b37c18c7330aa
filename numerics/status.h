/* check.h — one check macro per kind of failure: allocation, CUDA, cuBLAS, MPFR-free logic.
 * Each reports the failed statement, file:line (and the device for CUDA) and makes the
 * enclosing function return UD_EINTERNAL / UD_EDEVICE; callers propagate, nothing is ignored. */
#ifndef UD_CHECK_H
#define UD_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Process exit codes (docs/design.md "Case files, reports, exit codes"). */
enum { UD_EXIT_PASS = 0, UD_EXIT_FINDINGS = 1, UD_EXIT_USAGE = 2, UD_EXIT_INTERNAL = 3 };
/* Function status codes. */
enum { UD_OK = 0, UD_EINTERNAL = -1, UD_EDEVICE = -2, UD_EUSAGE = -3, UD_ENODEV = -4 };

void ud_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#define UD_ALLOC_CHECK(ptr) do {                                                        \
        if ((ptr) == NULL) {                                                              \
            ud_error("allocation failed: %s at %s:%d", #ptr, __FILE__, __LINE__);        \
            return UD_EINTERNAL;                                                          \
        }                                                                                 \
    } while (0)

#define UD_TRY(stmt) do { int ud_rc_ = (stmt); if (ud_rc_ != UD_OK) return ud_rc_; } while (0)

#endif
