/* param_text.h — a case's parameter values written out: as text (labels, case files,
 * reproducers, cache-check messages) and as JSON (reports, the exchange manifest). The one
 * place that turns a ud_pval into something a person or a file reads. */
#ifndef UD_PARAM_TEXT_H
#define UD_PARAM_TEXT_H

#include <stddef.h>

#include "harness/ops/registry.h"

/* The shortest decimal that reads back as exactly d ("%.6g" .. "%.17g"). */
void ud_real_text(double d, char *buf, size_t n);

/* Parameter k of c as text: integers in decimal, choices and dtypes by name, reals with "%g"
 * (exact = 0: labels) or as ud_real_text (exact = 1: case files read it back unchanged). */
void ud_param_value_text(const ud_case *c, int k, int exact, char *buf, size_t n);

/* {"name": value, ...} in declaration order: integers and reals as JSON numbers (a
 * non-finite real as null), choices and dtypes as strings. A new reference (jansson). */
struct json_t;
struct json_t *ud_params_json(const ud_case *c);

#endif
