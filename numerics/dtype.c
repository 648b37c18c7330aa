/* dtype.c — format table, rounding and element access. Narrowing conversions of single
 * elements go through numerics/ud_portable.h, the same code the kernels use, so host and device
 * agree by construction; tests/test_formats.c checks all of it against MPFR. */
#include "numerics/dtype.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "numerics/ud_portable.h"

_Static_assert((int)UD_F32 == (int)UD_DT_F32 && (int)UD_F16 == (int)UD_DT_F16 && (int)UD_BF16 == (int)UD_DT_BF16,
               "kernel bodies pass ud_dtype values as UD_DT_*");

static const ud_format_info formats[UD_NDTYPES] = {
    [UD_F64]  = {"fp64", 8, 1, 52, -1022, 1023, 1, 0x1.fffffffffffffp+1023, 0x1p-53},
    [UD_F32]  = {"fp32", 4, 1, 23, -126, 127, 1, 0x1.fffffep+127, 0x1p-24},
    [UD_F16]  = {"fp16", 2, 1, 10, -14, 15, 1, 65504.0, 0x1p-11},
    [UD_BF16] = {"bf16", 2, 1, 7, -126, 127, 1, 0x1.fep+127, 0x1p-8},
    [UD_E4M3] = {"e4m3", 1, 1, 3, -6, 8, 0, 448.0, 0x1p-4},
    [UD_E5M2] = {"e5m2", 1, 1, 2, -14, 15, 1, 57344.0, 0x1p-3},
    [UD_I32]  = {"i32", 4, 0, 0, 0, 0, 0, 2147483647.0, 0.0},
};

const ud_format_info *ud_format(ud_dtype t) { return &formats[t]; }
const char *ud_dtype_name(ud_dtype t) { return formats[t].name; }

int ud_dtype_parse(const char *s, ud_dtype *out)
{
    static const struct { const char *alias; ud_dtype t; } aliases[] = {
        {"float64", UD_F64}, {"float32", UD_F32}, {"float16", UD_F16}, {"half", UD_F16},
        {"bfloat16", UD_BF16}, {"fp8_e4m3", UD_E4M3}, {"fp8e4m3", UD_E4M3},
        {"fp8_e5m2", UD_E5M2}, {"fp8e5m2", UD_E5M2}, {"int32", UD_I32},
    };
    for (int t = 0; t < UD_NDTYPES; t++)
        if (strcmp(s, formats[t].name) == 0) { *out = (ud_dtype)t; return 0; }
    for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
        if (strcmp(s, aliases[k].alias) == 0) { *out = aliases[k].t; return 0; }
    return -1;
}

int ud_exp2_floor(double a)
{
    uint64_t u;
    memcpy(&u, &a, 8);
    int be = (int)((u >> 52) & 0x7ff);
    if (be == 0) {   /* a double subnormal: rare, take the library's word for it */
        int ex;
        (void)frexp(a, &ex);
        return ex - 1;
    }
    return be - 1023;
}

double ud_pow2(int e)
{
    if (e < -1022 || e > 1023) return ldexp(1.0, e);
    uint64_t u = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static double round_generic(ud_dtype t, double x, int sat)
{
    const ud_format_info *f = &formats[t];
    if (isnan(x)) return x;
    if (isinf(x)) {
        if (sat) return copysign(f->max_finite, x);
        return f->has_inf ? x : NAN;
    }
    double a = fabs(x);
    /* Past twice the largest finite value every format overflows. */
    if (a > 2 * f->max_finite) a = 2 * f->max_finite;
    if (a == 0.0) return x;
    /* The format's spacing at a is q = 2^(max(e, emin) - mbits). With c = 2^52 q, a + c lies in
     * [c, 2c) (a < 2^(e+1) <= c since mbits <= 51), where double's spacing is exactly q: the one
     * rounding of the sum is a's round-to-nearest-even onto the format's lattice (c is an even
     * multiple of q, so ties go to the even format value), and subtracting c is exact. Needs
     * double arithmetic without contraction or reassociation (C11, no fast-math). */
    int e = ud_exp2_floor(a);
    if (e < f->emin) e = f->emin;
    double c = ud_pow2(e - f->mbits + 52);
    double v = (a + c) - c;
    if (v > f->max_finite) v = sat ? f->max_finite : (f->has_inf ? INFINITY : NAN);
    return copysign(v, x);
}

double ud_round(ud_dtype t, double x)
{
    switch (t) {
    case UD_F64: return x;
    case UD_F32: return (double)(float)x;   /* C's double->float conversion is RN-even */
    case UD_I32: return nearbyint(x);
    default: return round_generic(t, x, 0);
    }
}

double ud_round_sat(ud_dtype t, double x)
{
    if (t == UD_F64) return x;
    if (t == UD_I32) return nearbyint(x);
    return round_generic(t, x, 1);
}

double ud_get(ud_dtype t, const void *base, size_t i)
{
    switch (t) {
    case UD_F64: return ((const double *)base)[i];
    case UD_F32: return ((const float *)base)[i];
    case UD_F16: return ud_f16_to_f32(((const uint16_t *)base)[i]);
    case UD_BF16: return ud_bf16_to_f32(((const uint16_t *)base)[i]);
    case UD_E4M3: return ud_e4m3_to_f64(((const uint8_t *)base)[i]);
    case UD_E5M2: return ud_e5m2_to_f64(((const uint8_t *)base)[i]);
    case UD_I32: return ((const int32_t *)base)[i];
    default: return NAN;
    }
}

/* Encodes an already representable value (r == ud_round(t, r)) into t's bits. */
static uint64_t encode(ud_dtype t, double r)
{
    switch (t) {
    case UD_F64: { uint64_t u; memcpy(&u, &r, 8); return u; }
    case UD_F32: return ud_f32_bits((float)r);
    /* r is exact in fp32, so the fp32 -> narrow conversion is exact as well. */
    case UD_F16: return ud_f32_to_f16((float)r);
    case UD_BF16: return ud_f32_to_bf16((float)r);
    case UD_E4M3: return ud_f64_to_e4m3(r, 0);
    case UD_E5M2: return ud_f64_to_e5m2(r, 0);
    case UD_I32: return (uint32_t)(int32_t)r;
    default: return 0;
    }
}

void ud_set(ud_dtype t, void *base, size_t i, double v)
{
    ud_set_bits(t, base, i, encode(t, ud_round(t, v)));
}

uint64_t ud_get_bits(ud_dtype t, const void *base, size_t i)
{
    switch (formats[t].size) {
    case 8: return ((const uint64_t *)base)[i];
    case 4: return ((const uint32_t *)base)[i];
    case 2: return ((const uint16_t *)base)[i];
    default: return ((const uint8_t *)base)[i];
    }
}

void ud_set_bits(ud_dtype t, void *base, size_t i, uint64_t bits)
{
    switch (formats[t].size) {
    case 8: ((uint64_t *)base)[i] = bits; break;
    case 4: ((uint32_t *)base)[i] = (uint32_t)bits; break;
    case 2: ((uint16_t *)base)[i] = (uint16_t)bits; break;
    default: ((uint8_t *)base)[i] = (uint8_t)bits; break;
    }
}

uint64_t ud_poison_bits(ud_dtype t)
{
    switch (t) {
    case UD_F64: return 0x7ff4dead0000beefull;  /* signalling-NaN payload: never computed */
    case UD_F32: return 0x7fa5dead;
    case UD_F16: return 0x7d5a;
    case UD_BF16: return 0x7fa5;
    case UD_E4M3: return 0xff;                  /* the negative NaN; kernels emit 0x7F */
    case UD_E5M2: return 0xfd;
    case UD_I32: return 0x7eadbeef;
    default: return 0;
    }
}
