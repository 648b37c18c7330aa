/* replay.c — fuzz target: cache-check reproducer files, as `ulpdiff cache-check --replay F`
 * reads them (harness/cache/seqfile.c): header, keys, the case line through the case-file
 * machinery, and the steps. */
#include "fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "harness/cache/cache_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 16) || memchr(data, 0, size)) return 0;   /* refused before parsing (cache_cli.c) */
    char *text = ud_fuzz_text(data, size);
    ud_cache_seq s;
    char err[800];
    ud_cache_seq_parse(text, "fuzz.steps", ud_op_find, &s, err, sizeof err);
    free(text);
    return 0;
}
