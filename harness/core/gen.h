/* gen.h — value generators for input tensors. Every value is a pure function of
 * (seed, stream, index) through the counter-based RNG (numerics/ud_portable.h), so a tensor is
 * reproducible element by element on any backend and for any thread count. Values are
 * rounded to the tensor's dtype when stored. */
#ifndef UD_GEN_H
#define UD_GEN_H

#include <stdint.h>
#include "harness/core/tensor.h"

typedef enum {
    UD_GEN_NORMAL,        /* N(0, scale^2) */
    UD_GEN_UNIFORM,       /* U(-scale, scale) */
    UD_GEN_LOGU,          /* random sign, magnitude log-uniform over scale * [2^-12, 2^4] */
    UD_GEN_ROWSCALE,      /* normal, each row scaled by a log-uniform factor in [2^-16, 2^8] */
    UD_GEN_SUBNORMAL,     /* half the values in the dtype's subnormal range */
    UD_GEN_ZERO_ROWS,     /* normal, with rows that are entirely zero (+-0) */
    UD_GEN_CONST_ROWS,    /* normal, with rows that hold one repeated value */
    UD_GEN_CANCEL,        /* rows with a large mean (2^10 * scale) and a small spread */
    UD_GEN_NEAR_OVERFLOW, /* magnitudes in [max/4, max] of the dtype (fp16: the range that matters) */
    UD_GEN_NAN_INF,       /* normal with about 1% NaN, +Inf and -Inf injected */
    UD_GEN_POW2_AMAX,     /* normal, with one element per row set to +-448 * 2^k (k drawn per row,
                           * 2^k in (scale/8, 32 scale], clamped to the dtype's range): the row's
                           * max |x| / 448 is an exact power of two (FP8 E4M3 scale edges) */
    UD_GEN_COUNT
} ud_gen_kind;

extern const char *const ud_gen_names[];   /* NULL-terminated, in ud_gen_kind order */

/* Fills t->host. row_len groups elements into rows for the row-structured kinds. */
void ud_gen_fill(ud_tensor *t, ud_gen_kind kind, uint64_t seed, uint64_t stream,
                 int64_t row_len, double scale);
/* One standard normal draw (Box-Muller over two counter draws). */
double ud_gen_normal(uint64_t seed, uint64_t stream, uint64_t index);

#endif
