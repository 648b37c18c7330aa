/* text.h — the human-readable report: one line a case, details for failures, a summary. */
#ifndef UD_REPORT_TEXT_H
#define UD_REPORT_TEXT_H

#include <stdio.h>
#include "harness/core/result.h"

void ud_text_case(FILE *f, const ud_result *r, int verbose);
/* Summary table by op x dtype x backend over n results. */
void ud_text_summary(FILE *f, const ud_result *r, size_t n);

#endif
