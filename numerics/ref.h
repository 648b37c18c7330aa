/* ref.h — the exact reference of one output tensor, the type every layer shares: the
 * references (reference/<op>.c) fill it, the harness compares kernel outputs against it.
 *
 * An element's acceptable exact values are r0[i] and r1[i] (equal when there is one: a spec
 * rounding point within the kernel's error bound of a boundary has two correct roundings);
 * s[i] >= 0 is its condition scale (docs/design.md "Numerics"). It lives in numerics/ because references may
 * depend on numerics/ only, never on the harness that consumes their results. */
#ifndef UD_REF_H
#define UD_REF_H

#include <stddef.h>

typedef struct {
    size_t n;
    double *r0, *r1, *s;
} ud_ref;

#endif
