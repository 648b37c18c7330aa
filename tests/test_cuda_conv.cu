/* test_cuda_conv.cu — our conversions (numerics/ud_portable.h) against CUDA's own, in host code.
 *
 * Under test: ud_f32_to_bf16, ud_f32_to_f16, ud_f32_to_e4m3 / ud_f32_to_e5m2 (saturating and
 * not), ud_f64_to_e4m3 / ud_f64_to_e5m2, and the widening ud_bf16_to_f32, ud_f16_to_f32,
 * ud_e4m3_to_f32 / ud_e5m2_to_f32.
 * Against: the host-side implementations in cuda_bf16.h (__float2bfloat16_rn, __bfloat162float),
 * cuda_fp16.h (__float2half_rn, __half2float) and cuda_fp8.h (__nv_cvt_float_to_fp8,
 * __nv_cvt_double_to_fp8 with __NV_SATFINITE / __NV_NOSAT, __nv_cvt_fp8_to_halfraw), which
 * nvcc compiles for the host: no GPU and no CUDA runtime call is involved.
 * Inputs: every bf16 and fp16 pattern widened, every midpoint between consecutive bf16, fp16,
 * e4m3 and e5m2 values and +-1 fp32 ulp around it (+-1 double ulp on the double path), the
 * overflow thresholds, a few million random fp32 bit patterns and random doubles in the fp8
 * range, NaNs with assorted payloads and signs.
 * Verdict: non-NaN results must be bit-identical; where either side is NaN both must be NaN,
 * and whether the NaN bit patterns agree is reported per conversion (not a failure).
 * Exit status 0 when nothing failed, 1 otherwise; the last line reads "N passed, M failed".
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "numerics/ud_portable.h"

namespace {

enum Fmt { F32, F16, BF16, E4M3, E5M2 };

bool is_nan_bits(Fmt f, uint32_t b)
{
    switch (f) {
    case F32: return (b & 0x7fffffffu) > 0x7f800000u;
    case F16: return (b & 0x7fffu) > 0x7c00u;
    case BF16: return (b & 0x7fffu) > 0x7f80u;
    case E4M3: return (b & 0x7fu) == 0x7fu;
    case E5M2: return (b & 0x7fu) > 0x7cu;
    }
    return false;
}

struct Tally {
    const char *name;
    Fmt out;
    long checked = 0, failed = 0, nan_both = 0, nan_same = 0, nan_diff = 0;
    int shown = 0, nan_shown = 0;
    Tally(const char *n, Fmt o) : name(n), out(o) {}

    void check(const char *in_desc, uint32_t ours, uint32_t cuda)
    {
        checked++;
        bool on = is_nan_bits(out, ours), cn = is_nan_bits(out, cuda);
        if (on || cn) {
            if (on && cn) {
                nan_both++;
                if (ours == cuda) nan_same++;
                else if (nan_diff++ < 1 && nan_shown++ < 1)
                    std::printf("  note %-28s NaN bits differ: in %s ours 0x%x, CUDA 0x%x\n", name,
                                in_desc, ours, cuda);
                return;
            }
        } else if (ours == cuda) {
            return;
        }
        failed++;
        if (shown++ < 8)
            std::printf("  FAIL %-28s in %s: ours 0x%x, CUDA 0x%x\n", name, in_desc, ours, cuda);
    }
};

const char *desc_f32(float x)
{
    static char buf[64];
    uint32_t u;
    std::memcpy(&u, &x, 4);
    std::snprintf(buf, sizeof buf, "f32 0x%08x (%a)", u, (double)x);
    return buf;
}

const char *desc_f64(double x)
{
    static char buf[80];
    uint64_t u;
    std::memcpy(&u, &x, 8);
    std::snprintf(buf, sizeof buf, "f64 0x%016llx (%a)", (unsigned long long)u, x);
    return buf;
}

Tally t_bf16("f32->bf16 rn", BF16), t_f16("f32->f16 rn", F16);
Tally t_e4_ns("f32->e4m3 nosat", E4M3), t_e4_s("f32->e4m3 satfinite", E4M3);
Tally t_e5_ns("f32->e5m2 nosat", E5M2), t_e5_s("f32->e5m2 satfinite", E5M2);
Tally d_e4_ns("f64->e4m3 nosat", E4M3), d_e4_s("f64->e4m3 satfinite", E4M3);
Tally d_e5_ns("f64->e5m2 nosat", E5M2), d_e5_s("f64->e5m2 satfinite", E5M2);
Tally w_bf16("bf16->f32", F32), w_f16("f16->f32", F32);
Tally w_e4_h("e4m3->f16 (halfraw)", F16), w_e5_h("e5m2->f16 (halfraw)", F16);
Tally w_e4_f("e4m3->f32 (via halfraw)", F32), w_e5_f("e5m2->f32 (via halfraw)", F32);

uint32_t cuda_bf16(float x)
{
    __nv_bfloat16_raw r = __float2bfloat16_rn(x);
    return r.x;
}

uint32_t cuda_f16(float x)
{
    __half_raw r = __float2half_rn(x);
    return r.x;
}

void check_double(double d)
{
    const char *s = desc_f64(d);
    d_e4_ns.check(s, ud_f64_to_e4m3(d, 0), __nv_cvt_double_to_fp8(d, __NV_NOSAT, __NV_E4M3));
    d_e4_s.check(s, ud_f64_to_e4m3(d, 1), __nv_cvt_double_to_fp8(d, __NV_SATFINITE, __NV_E4M3));
    d_e5_ns.check(s, ud_f64_to_e5m2(d, 0), __nv_cvt_double_to_fp8(d, __NV_NOSAT, __NV_E5M2));
    d_e5_s.check(s, ud_f64_to_e5m2(d, 1), __nv_cvt_double_to_fp8(d, __NV_SATFINITE, __NV_E5M2));
}

/* One fp32 input through every narrowing conversion, both signs; and as a double. */
void check_float1(float x)
{
    const char *s = desc_f32(x);
    t_bf16.check(s, ud_f32_to_bf16(x), cuda_bf16(x));
    t_f16.check(s, ud_f32_to_f16(x), cuda_f16(x));
    t_e4_ns.check(s, ud_f32_to_e4m3(x, 0), __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3));
    t_e4_s.check(s, ud_f32_to_e4m3(x, 1), __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3));
    t_e5_ns.check(s, ud_f32_to_e5m2(x, 0), __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2));
    t_e5_s.check(s, ud_f32_to_e5m2(x, 1), __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2));
    check_double((double)x);
}

void check_float(float x)
{
    check_float1(x);
    check_float1(-x);
}

/* The midpoint of a < b and +-1 fp32 ulp around it, and +-1 double ulp on the double path. */
void check_midpoint(double a, double b)
{
    double m = 0.5 * (a + b);
    check_double(m);
    check_double(-m);
    check_double(std::nextafter(m, 0.0));
    check_double(std::nextafter(m, INFINITY));
    check_double(-std::nextafter(m, 0.0));
    check_double(-std::nextafter(m, INFINITY));
    if ((double)(float)m != m) return;
    float f = (float)m;
    check_float(f);
    check_float(std::nextafterf(f, 0.0f));
    check_float(std::nextafterf(f, INFINITY));
}

float bits_f(uint32_t u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

uint32_t f_bits(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

}  // namespace

int main()
{
    /* ---- widening: every bf16 / fp16 pattern, every fp8 pattern ---- */
    for (uint32_t h = 0; h < 65536; h++) {
        char s[32];
        std::snprintf(s, sizeof s, "0x%04x", h);
        __nv_bfloat16_raw br;
        br.x = (unsigned short)h;
        w_bf16.check(s, f_bits(ud_bf16_to_f32((uint16_t)h)), f_bits(__bfloat162float(br)));
        __half_raw hr;
        hr.x = (unsigned short)h;
        w_f16.check(s, f_bits(ud_f16_to_f32((uint16_t)h)), f_bits(__half2float(__half(hr))));
    }
    for (uint32_t b = 0; b < 256; b++) {
        char s[32];
        std::snprintf(s, sizeof s, "0x%02x", b);
        __half_raw c4 = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)b, __NV_E4M3);
        __half_raw c5 = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t)b, __NV_E5M2);
        float o4 = ud_e4m3_to_f32((uint8_t)b), o5 = ud_e5m2_to_f32((uint8_t)b);
        w_e4_h.check(s, ud_f32_to_f16(o4), c4.x);
        w_e5_h.check(s, ud_f32_to_f16(o5), c5.x);
        w_e4_f.check(s, f_bits(o4), f_bits(__half2float(__half(c4))));
        w_e5_f.check(s, f_bits(o5), f_bits(__half2float(__half(c5))));
    }

    /* ---- every bf16 pattern widened, the bf16 midpoints and +-1 fp32 ulp around them ---- */
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t u = h << 16;
        static const uint32_t low[] = {0x0000u, 0x7fffu, 0x8000u, 0x8001u, 0x0001u, 0xffffu,
                                       0x4000u, 0xc000u};
        for (uint32_t l : low) check_float1(bits_f(u | l));
    }

    /* ---- every fp16 pattern widened, fp16 midpoints +-1 ulp, and past the largest ---- */
    for (uint32_t h = 0; h < 0x7c00u; h++) {
        double a = ud_f16_to_f32((uint16_t)h);
        double b = (h + 1 == 0x7c00u) ? 65536.0 : (double)ud_f16_to_f32((uint16_t)(h + 1));
        check_float((float)a);
        check_midpoint(a, b);
    }
    for (uint32_t h = 0x7c00u; h < 0x10000u; h++) check_float1(ud_f16_to_f32((uint16_t)h));

    /* ---- every fp8 value, fp8 midpoints +-1 ulp, thresholds past the largest ---- */
    for (uint32_t c = 0; c < 0x7eu; c++) /* e4m3 0x00..0x7e, next of 0x7e is 480 */
        check_midpoint(ud_e4m3_to_f64((uint8_t)c),
                       c + 1 == 0x7fu ? 480.0 : ud_e4m3_to_f64((uint8_t)(c + 1)));
    check_midpoint(448.0, 480.0);
    check_midpoint(480.0, 512.0);
    for (uint32_t c = 0; c < 0x7cu; c++)
        check_midpoint(ud_e5m2_to_f64((uint8_t)c),
                       c + 1 == 0x7cu ? 65536.0 : ud_e5m2_to_f64((uint8_t)(c + 1)));
    check_midpoint(65536.0, 81920.0);
    static const double named[] = {448.0, 464.0, 465.0, 480.0, 500.0, 512.0, 57344.0, 61440.0,
                                   61441.0, 65536.0, 1e10, 1e38, 1e300, 0x1p-10, 0x1p-17,
                                   0x1p-150, 0x1p-1074, 0.0, INFINITY};
    for (double d : named) {
        check_double(d);
        check_double(-d);
        if (std::fabs(d) <= 3.4028234663852886e38 || std::isinf(d)) check_float((float)d);
    }

    /* ---- NaNs: assorted payloads and signs, float and double ---- */
    static const uint32_t nanf[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                                    0x7fa5deadu, 0x7fffffffu, 0xffffffffu, 0x7fbfffffu,
                                    0x7fe00000u, 0x7f900000u};
    for (uint32_t u : nanf) check_float1(bits_f(u));
    static const uint64_t nand[] = {0x7ff8000000000000ull, 0xfff8000000000000ull,
                                    0x7ff0000000000001ull, 0xfff0000000000001ull,
                                    0x7ff4000000000000ull, 0x7ffc000000000000ull,
                                    0xfffc000000000000ull, 0x7fffffffffffffffull};
    for (uint64_t u : nand) {
        double d;
        std::memcpy(&d, &u, 8);
        check_double(d);
    }

    /* ---- random fp32 bit patterns (all exponents, NaNs included) ---- */
    for (uint64_t i = 0; i < 3000000; i++) check_float1(bits_f((uint32_t)ud_rng_u64(2024, 1, i)));
    /* ---- random fp32 and doubles in the fp16 / fp8 range, every mantissa bit random ---- */
    for (uint64_t i = 0; i < 1000000; i++) {
        uint64_t r = ud_rng_u64(2024, 2, i);
        int e = -30 + (int)((r >> 53) % 50u);
        double m = 1.0 + (double)(r & ((1ull << 52) - 1)) * 0x1p-52;
        double d = std::ldexp((r >> 52) & 1 ? -m : m, e);
        check_double(d);
        check_float1((float)d);
    }

    Tally *all[] = {&t_bf16, &t_f16, &t_e4_ns, &t_e4_s, &t_e5_ns, &t_e5_s, &d_e4_ns,
                    &d_e4_s, &d_e5_ns, &d_e5_s, &w_bf16, &w_f16, &w_e4_h, &w_e5_h,
                    &w_e4_f, &w_e5_f};
    long passed = 0, failed = 0;
    std::printf("%-28s %10s %8s %10s %14s\n", "conversion", "checked", "failed", "NaN both",
                "NaN bits same");
    for (Tally *t : all) {
        std::printf("%-28s %10ld %8ld %10ld %8ld/%-6ld%s\n", t->name, t->checked, t->failed,
                    t->nan_both, t->nan_same, t->nan_both,
                    t->nan_diff ? "  (NaN bit patterns differ)" : "");
        passed += t->checked - t->failed;
        failed += t->failed;
    }
    std::printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
