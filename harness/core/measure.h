/* measure.h — the one comparison loop that serves every operator, and the budget it applies. */
#ifndef UD_COMPARE_H
#define UD_COMPARE_H

#include "harness/core/result.h"

/* Element i passes when, for some candidate r in {r0[i], r1[i]},
 *     |y - r| <= b.ulp * ulp_T(|r| + b.scaled*u_w*s) + b.scaled * u_w * s + b.abs.
 * This is the bound a kernel meets when it computes z with |z - r| <= b.scaled*u_w*s in its
 * working precision and then rounds z to T; the first design's "ulp_err <= budget OR scaled_err <=
 * budget" leaves a band of correct results failing both tests (docs/metrics.md shows one). */
int ud_compare_output(const ud_tensor *out, const ud_ref *ref, ud_budget b,
                      const ud_case *c, const ud_tensor *in, int out_index, ud_out_stats *st);
/* The budget output out_index (of dtype t) of case c is held to: the operator's, with the
 * overrides a case file sets (budget.<dtype> = ..., scaled_budget = ...). */
ud_budget ud_case_budget(const ud_case *c, int out_index, ud_dtype t);
/* Adds the findings the statistics imply (tolerance / nan-mismatch / unwritten-output). */
void ud_findings_from_stats(ud_result *r);
/* Exact tolerance used above (exposed for tests and docs). */
double ud_tolerance(ud_dtype t, double r, double s, ud_budget b);

#endif
