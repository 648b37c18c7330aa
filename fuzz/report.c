/* report.c — fuzz target: JSON reports as `ulpdiff compare OLD NEW` reads them
 * (reports/compare.c): the input is compared with itself, so every case is matched, keyed and
 * diffed. */
#include "fuzz/fuzz.h"

#include "reports/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = ud_fuzz_file("report.json", data, size);
    if (!path) return 0;
    ud_compare_opts o = {0};
    o.all = 1;
    ud_compare_reports(path, path, &o, ud_fuzz_null());
    return 0;
}
