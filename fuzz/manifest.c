/* manifest.c — fuzz target: export manifests, as `ulpdiff check --dir D` reads D/manifest.json
 * (harness/external/exchange.c): schema, cases, operators, parameters with the checks a case
 * file gets, budgets, and the files each case names (none exist here but the manifest). */
#include "fuzz/fuzz.h"

#include <stdlib.h>

#include "harness/external/exchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ud_fuzz_file("manifest.json", data, size)) return 0;
    ud_exchange *ex = NULL;
    ud_case *cases = NULL;
    size_t n = 0, skipped = 0;
    ud_exchange_open(ud_fuzz_dir(), 1, &ex, &cases, &n, &skipped, ud_fuzz_null());
    free(cases);
    ud_exchange_free(ex);
    return 0;
}
