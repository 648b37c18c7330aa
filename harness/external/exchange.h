/* exchange.h — testing an implementation that runs outside ulpdiff (Python, PyTorch, Triton
 * ...) through files: `ulpdiff export` writes every case's inputs as .npy files plus a
 * manifest.json; the external implementation writes its outputs next to the inputs;
 * `ulpdiff check` reads them back and runs the comparison and reports of `ulpdiff run`.
 * Format (schema "ulpdiff-exchange/1"): docs/external.md.
 *
 * A checked case is a case of the registry operator whose inputs and outputs come from an
 * implementation source (ud_impl, harness/exec/run.h) that reads the exported inputs and the
 * external outputs (backend "external"); the reference is recomputed from the inputs as read,
 * and budgets, comparison, metrics and findings are the operator's own — exactly what `run`
 * does with its own kernel, less what needs ulpdiff's own kernel in the process: known-bug
 * variants, cache-invalidation scenarios (`check` attaches no post-run check), and the
 * operator's own `unwritten-output` findings (a file holds only what the implementation
 * wrote). */
#ifndef UD_EXCHANGE_H
#define UD_EXCHANGE_H

#include <stdio.h>

#include "harness/exec/run.h"

#define UD_EXCHANGE_SCHEMA "ulpdiff-exchange/1"

typedef struct {
    const char *version, *commit, *command;
} ud_export_meta;

/* Writes cases[0..n) (inputs and manifest) into dir, which must not exist or be empty.
 * Returns UD_OK, UD_EUSAGE (dir not empty, a known-bug variant selected: message on stderr) or
 * UD_EINTERNAL. Progress and the summary line go to log. */
int ud_export_cases(const ud_case *cases, size_t n, const char *dir, const ud_export_meta *m, FILE *log);

typedef struct ud_exchange ud_exchange;

/* Reads dir/manifest.json and checks every input and output file against the case's tensors
 * (present, .npy, dtype, shape). On success returns 0 with *cases (malloc'd, n of them) ready
 * for ud_run_case on UD_BACKEND_EXTERNAL with ud_exchange_impl(ex) as the run's impl. Otherwise returns the number of problems, each
 * printed to err as one line naming the file. skip_missing: a case none of whose outputs
 * exists is left out (counted in *skipped) instead of being an error. */
int ud_exchange_open(const char *dir, int skip_missing, ud_exchange **ex, ud_case **cases, size_t *n,
                     size_t *skipped, FILE *err);
/* The implementation source of the cases: their inputs and outputs read from the files. */
const ud_impl *ud_exchange_impl(ud_exchange *ex);
/* Frees what ud_exchange_open made (the cases' files are named in it: free it last). */
void ud_exchange_free(ud_exchange *ex);

#endif
