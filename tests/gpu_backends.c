/* gpu_backends.c — needs a CUDA device (ctest label gpu; exit 77 = skipped without one).
 * Checks that the counter-based RNG gives the same values on host and device, and that the
 * cuda backend of every operator passes its default sweep. Exit 0 pass, 1 fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/ud_portable.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"

static int failures = 0, passes = 0;

static void expect(int ok, const char *what)
{
    if (ok) passes++;
    else { failures++; fprintf(stderr, "FAIL: %s\n", what); }
}

int main(void)
{
    char why[256];
    if (!ud_device_available(why, sizeof why)) {
        printf("skipped: %s\n", why);
        return 77;
    }
    enum { N = 1 << 20 };
    uint64_t *dev = malloc(N * sizeof *dev);
    if (!dev) return 1;
    expect(ud_device_rng(42, 7, N, dev) == UD_OK, "device rng ran");
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) bad += dev[i] != ud_rng_u64(42, 7, i);
    expect(bad == 0, "host and device RNG agree on 2^20 values");
    free(dev);

    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        ud_spec s;
        ud_spec_init(&s, op);
        ud_case *cases = NULL;
        size_t n = 0;
        char err[600];
        if (ud_spec_expand(&s, &cases, &n, err, sizeof err)) { expect(0, err); continue; }
        for (size_t k = 0; k < n; k++) {
            ud_run_opts o = {UD_BACKEND_CUDA, 0, NULL};
            ud_result r;
            int rc = ud_run_case(&cases[k], &o, &r);
            char msg[800];
            snprintf(msg, sizeof msg, "%s on cuda: %s", r.c.label, r.nfindings ? r.findings[0].msg : "ran");
            expect(rc == UD_OK && r.nfindings == 0, msg);
        }
        free(cases);
    }
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
