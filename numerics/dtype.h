/* dtype.h — the number formats ulpdiff measures in, and exact conversions between them.
 *
 * Formats: fp64, fp32, fp16 (IEEE binary16), bf16, fp8 e4m3 (OCP OFP8 E4M3FN) and fp8 e5m2,
 * plus i32 for index tensors. A value is "in format T" when it is exactly representable;
 * ud_round() maps any double to RN_T(x) (round to nearest, ties to even, no double rounding).
 * Overflow follows each format's own rule: IEEE-like formats go to +-Inf, E4M3FN to NaN
 * unless saturating (then +-448, as CUDA's __NV_SATFINITE). */
#ifndef UD_DTYPE_H
#define UD_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { UD_F64, UD_F32, UD_F16, UD_BF16, UD_E4M3, UD_E5M2, UD_I32, UD_NDTYPES } ud_dtype;

typedef struct {
    const char *name;     /* as written in case files and reports: "bf16" */
    unsigned size;        /* bytes per element */
    int is_float;
    int mbits;            /* stored mantissa bits: precision p = mbits + 1 */
    int emin, emax;       /* exponent of the smallest normal / of the largest finite */
    int has_inf;
    double max_finite;
    double unit_roundoff; /* u = 2^-p */
} ud_format_info;

const ud_format_info *ud_format(ud_dtype t);
const char *ud_dtype_name(ud_dtype t);
/* Returns 0 and sets *out when s names a dtype ("bf16", "fp32", "e4m3", ...), else -1. */
int ud_dtype_parse(const char *s, ud_dtype *out);

/* RN_T(x) as a double. sat != 0: finite overflow and +-Inf clamp to +-max_finite. */
double ud_round(ud_dtype t, double x);
double ud_round_sat(ud_dtype t, double x);

/* Element access on raw storage: get is exact; set stores RN_T(v) (non-saturating). */
double ud_get(ud_dtype t, const void *base, size_t i);
void ud_set(ud_dtype t, void *base, size_t i, double v);
uint64_t ud_get_bits(ud_dtype t, const void *base, size_t i);
void ud_set_bits(ud_dtype t, void *base, size_t i, uint64_t bits);

/* The bit pattern used to poison outputs before a kernel runs: a NaN with a payload no
 * arithmetic produces (fp8 e4m3 has only two NaNs; harness/core/tensor.h ud_unwritten_bits says
 * what the pattern proves). */
uint64_t ud_poison_bits(ud_dtype t);

/* floor(log2 a) for finite a > 0, and 2^e, read and built from the bits (frexp/ldexp are
 * the slow part of rounding and ULP measurement over tensors of 10^7 elements). */
int ud_exp2_floor(double a);
double ud_pow2(int e);

#endif
