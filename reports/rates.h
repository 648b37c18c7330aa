/* rates.h — where a run's time goes: per operator, checked output elements per second of the
 * exact reference, of the kernel (with its transfers) and of the comparison, from the phase
 * timings every result carries (result.h). `ulpdiff run --rates`, `ulpdiff rates REPORT.json`
 * and `ulpdiff merge --rates` print it; the nightly prints it after the corpus. */
#ifndef UD_REPORT_RATES_H
#define UD_REPORT_RATES_H

#include <stddef.h>
#include <stdio.h>

#include "harness/core/result.h"

/* The table over the cases that ran (ran[i]; NULL: all) and were compared. Each phase's rate
 * is its elements over its summed seconds: the throughput of one case at a time on one
 * thread (on cuda, kernel phases run one at a time anyway; --jobs multiplies the host
 * phases' throughput of a whole run, not these numbers). */
void ud_rates_print(FILE *f, const ud_result *res, const int *ran, size_t n);

#endif
