/* spec.h — a case specification (from a case file section or the command line) and its
 * expansion into concrete cases: the product of every parameter's value list, times seeds.
 * A list item "lo..hi" is drawn per seed, log-uniformly with edge bias (lo and hi each a
 * quarter of the time), reproducibly from the case seed. */
#ifndef UD_SPEC_H
#define UD_SPEC_H

#include <stddef.h>
#include "harness/ops/registry.h"

typedef struct {
    const ud_op *op;
    int mutant;
    const char *vals[UD_MAX_PARAMS];   /* NULL: the parameter's default */
    int lines[UD_MAX_PARAMS];          /* source line of each value (0: CLI/default) */
    int seeds;                         /* number of seeds, >= 1 */
    uint64_t seed0;
    double budget_ulp[UD_NDTYPES];     /* NaN: operator's own */
    double budget_scaled;
    const char *padding;               /* list of paddings (harness/cases/padding.h); NULL: "0" */
    int padding_line;                  /* its source line (0: CLI/default) */
    const char *file;                  /* NULL for the command line */
    int line;
    const char *section;
} ud_spec;

void ud_spec_init(ud_spec *s, const ud_op *op);
/* The most cases one run holds (a section, or all of a corpus together): a case takes about
 * half a kilobyte before it runs, and a product of lists grows fast. */
#define UD_MAX_CASES 1000000
/* The number of cases s expands to, counted without building them and without wrapping
 * around (more than UD_MAX_CASES is an error). Returns 0, or -1 with a message in err. */
int ud_spec_count(const ud_spec *s, size_t *count, char *err, size_t errn);
/* `padding` is one more list of the product (outermost: a section's unpadded cases come first).
 * Appends the expanded cases to *cases (realloc'd). Returns 0, or -1 with a message
 * "file:line: ..." (or "--param: ...") in err; also when *ncases plus the new ones would be
 * more than UD_MAX_CASES. On error *cases may have been reallocated: the caller frees it. */
int ud_spec_expand(const ud_spec *s, ud_case **cases, size_t *ncases, char *err, size_t errn);
/* A parameter's allowed range as text: integers in full ("0..1048576"), reals with %g. */
void ud_param_range_text(const ud_param *p, char *buf, size_t n);
/* Largest number of elements any single tensor of a case may have (guards typos such as
 * tokens = 40960000). */
#define UD_MAX_TENSOR_ELEMS ((int64_t)1 << 31)

/* The closest of `names` to `word` by edit distance, or NULL when nothing is close. */
const char *ud_did_you_mean(const char *word, const char *const *names, size_t n);

#endif
