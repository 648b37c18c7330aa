/* casefile.c — fuzz target: case files (harness/cases/casefile.c, spec.c), as `ulpdiff validate`
 * and `run FILES` read them: parse the text, then expand the sections into cases when there
 * are few enough to build in a moment (the count itself is computed for every input). */
#include "fuzz/fuzz.h"

#include <stdlib.h>

#include "harness/cases/casefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = ud_fuzz_text(data, size);
    ud_corpus c;
    ud_corpus_init(&c);
    int errs = ud_casefile_parse_text(&c, "fuzz.ini", text, ud_fuzz_null());
    size_t total = 0;
    char msg[1024];
    for (size_t i = 0; !errs && i < c.nspecs; i++) {
        size_t k;
        if (ud_spec_count(&c.specs[i], &k, msg, sizeof msg)) errs++;
        else total += k;
    }
    if (!errs && total <= 256) {
        ud_case *cases = NULL;
        size_t n = 0;
        ud_corpus_expand(&c, &cases, &n, ud_fuzz_null());
        free(cases);
    }
    ud_corpus_free(&c);
    free(text);
    return 0;
}
