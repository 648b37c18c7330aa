/* dd.h — double-double arithmetic (error-free transformations, Knuth's TwoSum and Dekker's
 * division step) for the fast reference paths. A dd value is hi + lo with |lo| <= ulp(hi)/2;
 * additions keep about 106 bits, enough that a sum of up to 2^20 exact products stays within
 * 2^-80 of exact. */
#ifndef UD_DD_H
#define UD_DD_H

#include <math.h>

typedef struct { double hi, lo; } dd;

static inline dd dd_two_sum(double a, double b)
{
    double s = a + b, bb = s - a;
    dd r = {s, (a - (s - bb)) + (b - bb)};
    return r;
}

static inline dd dd_add_d(dd a, double b)
{
    dd s = dd_two_sum(a.hi, b);
    s.lo += a.lo;
    return dd_two_sum(s.hi, s.lo);
}

static inline dd dd_add(dd a, dd b)
{
    dd s = dd_two_sum(a.hi, b.hi);
    s.lo += a.lo + b.lo;
    return dd_two_sum(s.hi, s.lo);
}

/* a * b exactly as hi + lo (fma gives the rounding error of the product). */
static inline dd dd_two_prod(double a, double b)
{
    double p = a * b;
    dd r = {p, fma(a, b, -p)};
    return r;
}

static inline dd dd_div_d(dd a, double b)
{
    double q1 = a.hi / b;
    dd p = dd_two_prod(q1, b);
    double q2 = ((a.hi - p.hi) - p.lo + a.lo) / b;
    return dd_two_sum(q1, q2);
}

#endif
