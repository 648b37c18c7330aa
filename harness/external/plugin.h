/* plugin.h — loading an implementation plugin (include/ulpdiff_plugin.h) for `ulpdiff run
 * --impl lib.so`.
 *
 * The plugin is an implementation source (ud_impl, harness/exec/run.h): a run with
 * ud_plugin_impl(p) as its impl calls the plugin's function for the case's operator in place of
 * the registry kernel, on host or device buffers by backend. ud_plugin_apply keeps the cases
 * the plugin serves. Everything else about a case (generators, reference, budgets, comparison,
 * operator-specific metrics) is the registry operator's, so results and reports are exactly
 * those of a production run; known-bug variants, the cuda/cpu cross-check and the cache
 * scenarios (ulpdiff's own modules) do not apply. */
#ifndef UD_PLUGIN_H
#define UD_PLUGIN_H

#include <stdio.h>

#include "harness/exec/run.h"

typedef struct ud_plugin ud_plugin;

/* dlopen()s path and validates its table: the entry symbol, the ABI version and table size,
 * operator names (each must be a registry operator, at most once), memory kinds and
 * functions. NULL with a message in err (a usage error: exit 2) when anything is wrong. */
ud_plugin *ud_plugin_load(const char *path, char *err, size_t errn);

/* "plugin 'NAME' (path): rmsnorm [host], rmsnorm_fused_add [host, cuda]" */
void ud_plugin_describe(const ud_plugin *p, char *buf, size_t n);

/* 1 when some operator of the plugin accepts the memory of backend be (cpu: host memory,
 * cuda: device memory). */
int ud_plugin_serves(const ud_plugin *p, ud_backend be);

/* Keeps the cases of the plugin's operators that accept be's memory and that the plugin
 * supports (udp_op.supports); removes the others. *n is
 * updated. Writes one line per operator left out or skipped to log. Returns UD_OK, or
 * UD_EUSAGE when a case has a known-bug variant selected (the plugin replaces the kernel). */
int ud_plugin_apply(ud_plugin *p, ud_backend be, ud_case *cases, size_t *n, FILE *log);

/* The implementation source that runs the plugin's functions (valid until ud_plugin_free). */
const ud_impl *ud_plugin_impl(ud_plugin *p);

/* Frees the plugin's tables; the library stays loaded: a plugin's static data may still be
 * referenced by output already written. */
void ud_plugin_free(ud_plugin *p);

#endif
