/* npy.c — fuzz target: .npy files, as `ulpdiff check --dir D` reads an implementation's
 * outputs (harness/external/npy.c): the header, then the check against a tensor of the shape
 * and dtype the header claims (when small) and the load of its data. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/external/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = ud_fuzz_file("t.npy", data, size);
    if (!path) return 0;
    ud_npy_header h;
    char err[512];
    if (ud_npy_read_header(path, &h, err, sizeof err)) return 0;
    /* Load into the tensor the header describes when it is one ulpdiff writes (and small). */
    static const ud_dtype dts[] = {UD_F32, UD_F16, UD_BF16, UD_E4M3};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        if (strcmp(h.descr, ud_npy_descr(dts[d])) != 0 || h.ndim < 1 || h.ndim > 4) continue;
        int64_t shape[4], numel = 1;
        for (int k = 0; k < h.ndim; k++) {
            shape[k] = h.shape[k];
            if (shape[k] < 0 || shape[k] > 4096) return 0;
            numel *= shape[k];
        }
        if (numel > 65536) return 0;
        ud_tensor t;
        memset(&t, 0, sizeof t);
        if (ud_tensor_shape(&t, "fuzz", dts[d], h.ndim, shape) != 0 || ud_tensor_alloc_host(&t) != 0) {
            ud_tensor_free(&t);
            return 0;
        }
        ud_npy_load(path, &t, "fuzz tensor", err, sizeof err);
        ud_tensor_free(&t);
        break;
    }
    return 0;
}
