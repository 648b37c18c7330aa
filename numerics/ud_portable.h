/* ud_portable.h — arithmetic shared by the CUDA kernels and the cpu backend.
 *
 * Everything here compiles as C11 (host) and as CUDA C (host and device), so a kernel body
 * written against it computes the same bits on both backends. It holds:
 *   - scalar format conversions with round-to-nearest-even (IEEE 754-2019 roundTiesToEven):
 *     fp32 <-> bf16, fp16, fp8 e4m3 (OCP OFP8 E4M3FN: no infinities, NaN 0x7F/0xFF, max 448)
 *     and fp8 e5m2 (IEEE-like, max 57344); FP8 narrowing optionally saturating the way
 *     CUDA's __nv_cvt_float_to_fp8(x, __NV_SATFINITE, ...) does;
 *   - the counter-based RNG (SplitMix64 finaliser over (seed, stream, index)).
 * Storage types are raw bit patterns (uint16_t / uint8_t) so C and CUDA agree on layout.
 * Correctness of every conversion is established by tests/test_formats.c (exhaustive, against
 * MPFR) and tests/test_cuda_conv.cu (against cuda_fp16.h / cuda_bf16.h / cuda_fp8.h).
 */
#ifndef UD_PORTABLE_H
#define UD_PORTABLE_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define UD_HD __host__ __device__ __forceinline__
#else
#define UD_HD static inline
#endif

/* ---- uncontracted fp32 arithmetic ----
 * nvcc contracts a plain a * b + c in device code into one fma by default; the host (ISO C11,
 * which compiles with -ffp-contract=off) rounds the product first, so the backends would differ
 * in the last bit. Kernel bodies whose cpu and cuda results must agree bit for bit do every fp32
 * step through these: on the device the _rn intrinsics, which nvcc never contracts; on the host
 * the plain operators and the correctly rounded fmaf/sqrtf. An fma is written as one. */
#ifdef __CUDA_ARCH__
UD_HD float ud_fadd(float a, float b) { return __fadd_rn(a, b); }
UD_HD float ud_fsub(float a, float b) { return __fsub_rn(a, b); }
UD_HD float ud_fmul(float a, float b) { return __fmul_rn(a, b); }
UD_HD float ud_ffma(float a, float b, float c) { return __fmaf_rn(a, b, c); }
UD_HD float ud_fdiv(float a, float b) { return __fdiv_rn(a, b); }
UD_HD float ud_fsqrt(float a) { return __fsqrt_rn(a); }
#else
UD_HD float ud_fadd(float a, float b) { return a + b; }
UD_HD float ud_fsub(float a, float b) { return a - b; }
UD_HD float ud_fmul(float a, float b) { return a * b; }
UD_HD float ud_ffma(float a, float b, float c) { return fmaf(a, b, c); }
UD_HD float ud_fdiv(float a, float b) { return a / b; }
UD_HD float ud_fsqrt(float a) { return sqrtf(a); }
#endif

/* ---- bit casts (memcpy is the portable, UB-free way; compilers emit a register move) ---- */
UD_HD uint32_t ud_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
UD_HD float ud_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ldexpf(x, n): exact scaling by 2^n, so every correct implementation returns the same bits.
 * When x and the result are normal (the common case) it is an add to the exponent field —
 * a few instructions, where the CUDA library's ldexpf handles every range in a call. */
UD_HD float ud_ldexpf(float x, int n)
{
    uint32_t b = ud_f32_bits(x), e = (b >> 23) & 0xffu;
    if (e != 0u && e != 0xffu && n >= 1 - (int)e && n <= 254 - (int)e)
        return ud_bits_f32(b + ((uint32_t)n << 23));
    return ldexpf(x, n);
}

/* ---- bf16: the top half of an fp32 ---- */
UD_HD float ud_bf16_to_f32(uint16_t h) { return ud_bits_f32((uint32_t)h << 16); }

UD_HD uint16_t ud_f32_to_bf16(float f)
{
#ifdef __CUDA_ARCH__
    /* The hardware conversion (cvt.rn.bf16.f32): the same RN-even and canonical NaN 0x7FFF as
     * the bit manipulation below (tests/test_cuda_conv.cu; the nightly's cpu/cuda cross-check),
     * one instruction instead of five. */
    return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#else
    uint32_t u = ud_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: canonical quiet 0x7FFF, as CUDA */
        return 0x7fffu;
    /* Adding 0x7fff plus the lsb of the kept part rounds to nearest, ties to even; a carry out
     * of the mantissa bumps the exponent, and out of the largest finite value gives Inf. */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
#endif
}

/* ---- fp16 (binary16): bit manipulation, identical to __float2half_rn (tested) ---- */
UD_HD float ud_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {                                   /* zero or subnormal: m * 2^-24, exact */
        float v = (float)m * 5.9604644775390625e-08f;
        return ud_bits_f32(ud_f32_bits(v) | s);
    }
    if (e == 31) return ud_bits_f32(m ? 0x7fffffffu : (s | 0x7f800000u)); /* NaN: as CUDA */
    return ud_bits_f32(s | ((e + 112u) << 23) | (m << 13));
}

UD_HD uint16_t ud_f32_to_f16(float f)
{
#ifdef __CUDA_ARCH__
    return __half_as_ushort(__float2half_rn(f));   /* cvt.rn.f16.f32: RN-even, NaN -> 0x7FFF */
#else
    uint32_t x = ud_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return 0x7fffu;                       /* NaN: canonical, as CUDA */
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  /* >= 65520: ties up to Inf */
    if (x <= 0x33000000u) return sign;                         /* <= 2^-25: ties down to 0 */
    int e = (int)(x >> 23) - 127;
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    if (e < -14) {                                   /* fp16 subnormal: units of 2^-24 */
        int sh = -e - 1;                             /* value = m * 2^(e-23) = (m >> sh) units */
        uint32_t r = m >> sh, rem = m & ((1u << sh) - 1u), half = 1u << (sh - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((uint32_t)(e + 15) << 10) | ((m & 0x7fffffu) >> 13);
    uint32_t rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;   /* carry may reach Inf: fine */
    return (uint16_t)(sign | r);
#endif
}

/* ---- small formats (fp8) by lattice index ----
 * A non-negative value of a format with `mbits` mantissa bits and minimum normal exponent
 * `emin` has code ((E - emin) << mbits) + n when it equals n * 2^(E - mbits) with
 * E = max(floor(log2 v), emin): subnormals and normals share one formula, and rounding to
 * nearest even is rint() of v / 2^(E - mbits) (an exact power-of-two scaling). */
UD_HD uint32_t ud_lattice_code(double a, int mbits, int emin)
{
    int e;
    (void)frexp(a, &e);                     /* a = f * 2^e, f in [0.5, 1): floor(log2 a) = e-1 */
    int E = (a == 0.0 || e - 1 < emin) ? emin : e - 1;
    double n = rint(ldexp(a, mbits - E));   /* default rounding mode: ties to even */
    return ((uint32_t)(E - emin) << mbits) + (uint32_t)n;
}

UD_HD double ud_lattice_value(uint32_t code, int mbits, int emin)
{
    uint32_t E = code >> mbits, M = code & ((1u << mbits) - 1u);
    if (E == 0) return ldexp((double)M, emin - mbits);
    return ldexp((double)((1u << mbits) + M), (int)E - 1 + emin - mbits);
}

/* E4M3FN: 1-4-3, bias 7 (emin -6), max 0x7E = 448, NaN 0x7F/0xFF, no Inf.
 * satfinite: finite overflow and +-Inf become +-448, as __NV_SATFINITE does; without it
 * they become NaN (0x7F with the sign bit) — as __NV_NOSAT does. NaN in -> 0x7F, as
 * __nv_cvt_float_to_fp8 gives; __nv_cvt_double_to_fp8 keeps a NaN's sign (0xFF), which we do
 * not: 0xFF is the harness's e4m3 poison pattern (dtype.c), and ud_set encodes through here. */
UD_HD uint8_t ud_f64_to_e4m3(double x, int satfinite)
{
    if (x != x) return 0x7f;
    uint8_t sign = signbit(x) ? 0x80 : 0x00;
    double a = fabs(x);
    uint32_t code = isinf(a) ? 0x7fu : ud_lattice_code(a, 3, -6);
    if (code > 0x7eu) code = satfinite ? 0x7eu : 0x7fu;
    return (uint8_t)(sign | code);
}

UD_HD double ud_e4m3_to_f64(uint8_t b)
{
    uint32_t c = b & 0x7fu;
    if (c == 0x7fu) return NAN;
    double v = ud_lattice_value(c, 3, -6);
    return (b & 0x80u) ? -v : v;
}

/* E5M2: 1-5-2, bias 15 (emin -14), max 0x7B = 57344, Inf 0x7C, NaN 0x7D..0x7F.
 * satfinite clamps finite overflow and +-Inf to +-57344. NaN in -> sign | 0x7E | the double's
 * mantissa bit 50, as __nv_cvt_double_to_fp8 does (0x7E | top two mantissa bits); from fp32
 * (ud_f32_to_e5m2) always 0x7F. */
UD_HD uint8_t ud_f64_to_e5m2(double x, int satfinite)
{
    if (x != x) {
        uint64_t u;
        memcpy(&u, &x, 8);
        return (uint8_t)(((u >> 56) & 0x80u) | 0x7eu | ((u >> 50) & 1u));
    }
    uint8_t sign = signbit(x) ? 0x80 : 0x00;
    double a = fabs(x);
    uint32_t code = isinf(a) ? 0x7cu : ud_lattice_code(a, 2, -14);
    if (code > 0x7bu) code = satfinite ? 0x7bu : 0x7cu;
    return (uint8_t)(sign | code);
}

UD_HD double ud_e5m2_to_f64(uint8_t b)
{
    uint32_t c = b & 0x7fu;
    if (c > 0x7cu) return NAN;
    double v = (c == 0x7cu) ? INFINITY : ud_lattice_value(c, 2, -14);
    return (b & 0x80u) ? -v : v;
}

UD_HD uint8_t ud_f32_to_e4m3(float x, int satfinite) { return ud_f64_to_e4m3((double)x, satfinite); }
/* fp32 NaN -> 0x7F in both formats, as __nv_cvt_float_to_fp8 (it canonicalises first). */
UD_HD uint8_t ud_f32_to_e5m2(float x, int satfinite)
{
    return x != x ? (uint8_t)0x7f : ud_f64_to_e5m2((double)x, satfinite);
}
/* NaN -> 0x7FFFFFFF, the fp32 NaN CUDA's fp8 -> half -> float path gives. */
UD_HD float ud_e4m3_to_f32(uint8_t b)
{
    return (b & 0x7fu) == 0x7fu ? ud_bits_f32(0x7fffffffu) : (float)ud_e4m3_to_f64(b);
}
UD_HD float ud_e5m2_to_f32(uint8_t b)
{
    return (b & 0x7fu) > 0x7cu ? ud_bits_f32(0x7fffffffu) : (float)ud_e5m2_to_f64(b);
}

/* ---- counter-based RNG ----
 * Every random value is a pure function of (seed, stream, index): tensors are reproducible
 * element by element, on any backend and any thread count. SplitMix64's finaliser is a
 * bijection on 64 bits with full avalanche; two rounds over a mixed key are plenty for test
 * data (this is not a cryptographic generator). */
UD_HD uint64_t ud_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

UD_HD uint64_t ud_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t k = ud_mix64(seed + 0x9e3779b97f4a7c15ull * (stream + 1));
    return ud_mix64(k ^ (index * 0xd1342543de82ef95ull + 0x2545f4914f6cdd1dull));
}

/* Uniform in [0, 1) with 53 random bits. */
UD_HD double ud_rng_unit(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(ud_rng_u64(seed, stream, index) >> 11) * 0x1p-53;
}

#endif

#ifndef UD_PORTABLE_ACCESS
#define UD_PORTABLE_ACCESS
/* ---- dtype-generic element access for kernel bodies ----
 * dt takes ud_dtype's values (numerics/dtype.h); kernel bodies call these with a constant dt,
 * so after inlining the switch disappears. Values travel as fp32: every kernel in ulpdiff
 * computes in fp32 and rounds once where its spec rounds. */
enum { UD_DT_F32 = 1, UD_DT_F16 = 2, UD_DT_BF16 = 3 };

UD_HD float ud_to_f32(int dt, uint32_t bits)
{
    return dt == UD_DT_F32 ? ud_bits_f32(bits) : dt == UD_DT_F16 ? ud_f16_to_f32((uint16_t)bits)
                                                                 : ud_bf16_to_f32((uint16_t)bits);
}

UD_HD uint32_t ud_from_f32(int dt, float v)
{
    return dt == UD_DT_F32 ? ud_f32_bits(v) : dt == UD_DT_F16 ? ud_f32_to_f16(v) : ud_f32_to_bf16(v);
}

/* RN_dt(v) as an fp32 value (identity for fp32). */
UD_HD float ud_round_f32(int dt, float v) { return dt == UD_DT_F32 ? v : ud_to_f32(dt, ud_from_f32(dt, v)); }

UD_HD float ud_ld(int dt, const void *p, int64_t i)
{
    return dt == UD_DT_F32 ? ((const float *)p)[i] : ud_to_f32(dt, ((const uint16_t *)p)[i]);
}

UD_HD void ud_st(int dt, void *p, int64_t i, float v)
{
    if (dt == UD_DT_F32) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = (uint16_t)ud_from_f32(dt, v);
}

UD_HD int ud_dt_size(int dt) { return dt == UD_DT_F32 ? 4 : 2; }
#endif
