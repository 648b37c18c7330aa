/* gen.c — value generators (see gen.h). */
#include "harness/core/gen.h"

#include <math.h>

#include "numerics/ud_portable.h"

const char *const ud_gen_names[] = {
    "normal", "uniform", "logu", "rowscale", "subnormal", "zero_rows", "const_rows",
    "cancel", "near_overflow", "nan_inf", "pow2_amax", NULL,
};
_Static_assert(sizeof ud_gen_names / sizeof ud_gen_names[0] == UD_GEN_COUNT + 1,
               "every generator needs a name");

double ud_gen_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double u1 = ud_rng_unit(seed, stream, 2 * index), u2 = ud_rng_unit(seed, stream, 2 * index + 1);
    return sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586 * u2);   /* 1-u1 in (0, 1] */
}

/* Row-level draws use their own stream so they do not correlate with element draws. */
#define ROW_STREAM(s) ((s) ^ 0x5bd1e9955bd1e995ull)

/* 448 * 2^k for row `row` of generator pow2_amax: 448 = 1.75 * 2^8 is E4M3's largest value, so
 * a row whose max |x| is this has max / 448 = 2^k exactly. 2^k > scale / 8 keeps it above every
 * normal draw of the row (56 sigma); k is clamped so that the value is a normal number of dt. */
static double pow2_amax_value(ud_dtype dt, uint64_t seed, uint64_t stream, size_t row, double scale)
{
    const ud_format_info *f = ud_format(dt);
    int e = scale > 0.0 && isfinite(scale) ? ilogb(scale) : 0;   /* 2^e <= scale < 2^(e+1) */
    int k = e + (int)(ud_rng_u64(seed, ROW_STREAM(stream) ^ 3, row) % 8) - 2;
    while (448.0 * ldexp(1.0, k) > f->max_finite) k--;
    while (448.0 * ldexp(1.0, k) < ldexp(1.0, f->emin)) k++;
    double sign = (ud_rng_u64(seed, ROW_STREAM(stream) ^ 4, row) & 1) ? -1.0 : 1.0;
    return sign * 448.0 * ldexp(1.0, k);
}

static double gen_one(ud_dtype dt, ud_gen_kind kind, uint64_t seed, uint64_t stream,
                      size_t i, size_t row, size_t row_len, double scale)
{
    const ud_format_info *f = ud_format(dt);
    double u = ud_rng_unit(seed, stream, i);
    double rowu = ud_rng_unit(seed, ROW_STREAM(stream), row);
    double sign = (ud_rng_u64(seed, stream ^ 0x1234567ull, i) & 1) ? -1.0 : 1.0;
    switch (kind) {
    case UD_GEN_NORMAL: return scale * ud_gen_normal(seed, stream, i);
    case UD_GEN_UNIFORM: return scale * (2.0 * u - 1.0);
    case UD_GEN_LOGU: return sign * scale * exp2(-12.0 + 16.0 * u);
    case UD_GEN_ROWSCALE: return scale * exp2(-16.0 + 24.0 * rowu) * ud_gen_normal(seed, stream, i);
    case UD_GEN_SUBNORMAL: {
        if (u < 0.5) {
            /* uniform over the subnormal range of the dtype */
            double tiny = ldexp(1.0, f->emin);
            return sign * tiny * ud_rng_unit(seed, stream ^ 0x77ull, i);
        }
        return scale * ud_gen_normal(seed, stream, i);
    }
    case UD_GEN_ZERO_ROWS:
        if (rowu < 0.25) return (row & 1) ? -0.0 : 0.0;
        return scale * ud_gen_normal(seed, stream, i);
    case UD_GEN_CONST_ROWS:
        if (rowu < 0.25) return scale * ud_gen_normal(seed, ROW_STREAM(stream) ^ 1, row);
        return scale * ud_gen_normal(seed, stream, i);
    case UD_GEN_CANCEL: {
        double mean = scale * 1024.0 * (rowu < 0.5 ? -1.0 : 1.0) * (1.0 + rowu);
        return mean + scale * ud_gen_normal(seed, stream, i);
    }
    case UD_GEN_NEAR_OVERFLOW: {
        /* fp16/fp8 overflow is the hazard worth testing; wider formats get fp16's range so that
         * squares and products stay finite in fp32. */
        double m = (dt == UD_F16 || dt == UD_E4M3 || dt == UD_E5M2) ? f->max_finite : 65504.0;
        return sign * m * (0.25 + 0.75 * u);
    }
    case UD_GEN_NAN_INF: {
        double v = ud_rng_unit(seed, stream ^ 0x99ull, i);
        if (v < 0.0033) return NAN;
        if (v < 0.0066) return INFINITY;
        if (v < 0.01) return -INFINITY;
        return scale * ud_gen_normal(seed, stream, i);
    }
    case UD_GEN_POW2_AMAX: {
        size_t at = (size_t)(ud_rng_u64(seed, ROW_STREAM(stream) ^ 2, row) % (uint64_t)row_len);
        if (i - row * row_len == at) return pow2_amax_value(dt, seed, stream, row, scale);
        return scale * ud_gen_normal(seed, stream, i);
    }
    default: return 0.0;
    }
}

void ud_gen_fill(ud_tensor *t, ud_gen_kind kind, uint64_t seed, uint64_t stream,
                 int64_t row_len, double scale)
{
    size_t rl = row_len > 0 ? (size_t)row_len : t->numel;
    for (size_t i = 0; i < t->numel; i++) {
        double v = gen_one(t->dtype, kind, seed, stream, i, i / rl, rl, scale);
        /* Saturate so that a generator never produces Inf by rounding (only nan_inf does). */
        double r = isfinite(v) ? ud_round_sat(t->dtype, v) : v;
        if (isnan(r) && !isnan(v)) r = ud_round_sat(t->dtype, v);
        ud_set(t->dtype, t->host, i, r);
    }
}
