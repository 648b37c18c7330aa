/* test_ulp.c — ULP size, ULP error and lattice distance, against MPFR.
 *
 * Under test: harness/core/ulp.c — ud_ulp, ud_ulp_err, ud_lattice_dist (and through it ud_ordinal
 * and ud_round) for fp64, fp32, fp16, bf16, fp8 e4m3 and fp8 e5m2.
 *
 * Against: the definition (docs/metrics.md) ulp_T(r) = 2^(max(floor(log2|r|), emin_T) - p_T + 1), with
 * the largest finite value's ulp above it, evaluated with MPFR (floor(log2|r|) from
 * mpfr_get_exp, the power of two by mpfr_set_ui_2exp); RN_T(r) by MPFR at precision p with the
 * format's exponent range (mpfr_set_emin/emax + mpfr_subnormalize, MPFR_RNDN) and each format's
 * overflow rule; |y - r| / ulp exactly in MPFR; the neighbours of RN_T(r) from an independent
 * table of each small format's values decoded from the bit-field definitions, nextafterf() for
 * fp32 and nextafter() for fp64. The code under test never computes an expectation.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <float.h>
#include <math.h>
#include <mpfr.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/dtype.h"
#include "harness/core/ulp.h"
#include "numerics/ud_portable.h"

/* ------------------------------------------------------------------ format specs (independent) */

typedef struct {
    ud_dtype t;
    const char *name;
    int ebits, mbits, bias;
    int fn; /* E4M3FN: no Inf, the only NaN is S.1111.111 */
} spec_t;

static const spec_t S_F64 = {UD_F64, "fp64", 11, 52, 1023, 0};
static const spec_t S_F32 = {UD_F32, "fp32", 8, 23, 127, 0};
static const spec_t S_F16 = {UD_F16, "fp16", 5, 10, 15, 0};
static const spec_t S_BF16 = {UD_BF16, "bf16", 8, 7, 127, 0};
static const spec_t S_E4M3 = {UD_E4M3, "e4m3", 4, 3, 7, 1};
static const spec_t S_E5M2 = {UD_E5M2, "e5m2", 5, 2, 15, 0};

static const spec_t *ALL[] = {&S_F64, &S_F32, &S_F16, &S_BF16, &S_E4M3, &S_E5M2};

static int sp_p(const spec_t *S) { return S->mbits + 1; }
static int sp_nbits(const spec_t *S) { return 1 + S->ebits + S->mbits; }
static int sp_emin(const spec_t *S) { return 1 - S->bias; }
static int sp_emax(const spec_t *S) { return ((1 << S->ebits) - (S->fn ? 1 : 2)) - S->bias; }
static double sp_max(const spec_t *S)
{
    if (S->t == UD_F64) return DBL_MAX;
    int top = (1 << (S->mbits + 1)) - (S->fn ? 2 : 1);
    return ldexp((double)top, sp_emax(S) - S->mbits);
}
static double sp_min_sub(const spec_t *S) { return ldexp(1.0, sp_emin(S) - S->mbits); }

static double spec_decode(const spec_t *S, uint32_t b)
{
    int nb = sp_nbits(S);
    uint32_t s = (b >> (nb - 1)) & 1u;
    uint32_t emask = (1u << S->ebits) - 1u, mmask = (1u << S->mbits) - 1u;
    uint32_t E = (b >> S->mbits) & emask, M = b & mmask;
    double v;
    if (E == emask && !S->fn) v = M ? NAN : INFINITY;
    else if (E == emask && S->fn && M == mmask) v = NAN;
    else if (E == 0) v = ldexp((double)M, 1 - S->bias - S->mbits);
    else v = ldexp((double)((1u << S->mbits) + M), (int)E - S->bias - S->mbits);
    return s ? -v : v;
}

/* ------------------------------------------------------------------ MPFR references */

static double mp_round(const spec_t *S, double x)
{
    mpfr_exp_t omin = mpfr_get_emin(), omax = mpfr_get_emax();
    int p = sp_p(S);
    mpfr_set_emin(sp_emin(S) - p + 2); /* MPFR exponents are IEEE's + 1 */
    mpfr_set_emax(sp_emax(S) + 1);
    mpfr_t y;
    mpfr_init2(y, p);
    int tern = mpfr_set_d(y, x, MPFR_RNDN);
    tern = mpfr_subnormalize(y, tern, MPFR_RNDN);
    double r = mpfr_get_d(y, MPFR_RNDN);
    mpfr_clear(y);
    mpfr_set_emin(omin);
    mpfr_set_emax(omax);
    return r;
}

/* RN_T(x), non-saturating: IEEE-like formats overflow to +-Inf, E4M3FN to NaN. */
static double ref_rn(const spec_t *S, double x)
{
    if (isnan(x)) return NAN;
    double r = isinf(x) ? x : mp_round(S, x);
    if (fabs(r) > sp_max(S)) return S->fn ? NAN : copysign(INFINITY, x);
    return r;
}

static double mp_ulp(const spec_t *S, double r)
{
    double a = fabs(r);
    if (isnan(a)) return NAN;
    if (a > sp_max(S)) a = sp_max(S);
    long e = sp_emin(S);
    if (a != 0.0) {
        mpfr_t x;
        mpfr_init2(x, 64);
        mpfr_set_d(x, a, MPFR_RNDN);
        long fl = (long)mpfr_get_exp(x) - 1;
        mpfr_clear(x);
        if (fl > e) e = fl;
    }
    mpfr_t u;
    mpfr_init2(u, 8);
    mpfr_set_ui_2exp(u, 1, e - sp_p(S) + 1, MPFR_RNDN);
    double d = mpfr_get_d(u, MPFR_RNDN);
    mpfr_clear(u);
    return d;
}

/* |y - r| / ulp_T(r) exactly (y finite), rounded once to double. */
static double mp_err(const spec_t *S, double y, double r)
{
    /* Enough bits for y - r to be exact: from the larger exponent down to the lower lsb. */
    int ey = y == 0.0 ? ilogb(r) : ilogb(y), er = r == 0.0 ? ey : ilogb(r);
    if (y == 0.0 && r == 0.0) ey = er = 0;
    int hi = ey > er ? ey : er, lo = (ey < er ? ey : er) - 53;
    mpfr_t a, b;
    mpfr_inits2(hi - lo + 4, a, b, (mpfr_ptr)0);
    mpfr_set_d(a, y, MPFR_RNDN);
    mpfr_set_d(b, r, MPFR_RNDN);
    mpfr_sub(a, a, b, MPFR_RNDN); /* exact at 2200 bits */
    mpfr_abs(a, a, MPFR_RNDN);
    mpfr_set_d(b, mp_ulp(S, r), MPFR_RNDN);
    mpfr_div(a, a, b, MPFR_RNDN); /* exact: a power of two */
    double d = mpfr_get_d(a, MPFR_RNDN);
    mpfr_clears(a, b, (mpfr_ptr)0);
    return d;
}

#define CHECK(fails, cond, ...)                                                            \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            if ((fails)++ < 12) cr_log_error(__VA_ARGS__);                                 \
        }                                                                                  \
    } while (0)

/* Random double, |x| = 1.m * 2^e with e uniform in [lo, hi], random sign. */
static double rand_double(uint64_t seed, uint64_t stream, uint64_t i, int lo, int hi)
{
    uint64_t r = ud_rng_u64(seed, stream, i);
    int e = lo + (int)((r >> 53) % (uint64_t)(hi - lo + 1));
    double x = ldexp(1.0 + (double)(r & ((1ull << 52) - 1)) * 0x1p-52, e);
    return (r & (1ull << 52)) ? -x : x;
}

/* ------------------------------------------------------------------ ud_ulp */

static void check_ulp_at(const spec_t *S, double r, long *fails)
{
    for (int s = 0; s < 2; s++) {
        double x = s ? -r : r;
        double want = mp_ulp(S, x), got = ud_ulp(S->t, x);
        CHECK(*fails, got == want, "%s ud_ulp(%a) = %a, MPFR %a", S->name, x, got, want);
    }
}

Test(ulp, matches_mpfr_at_zero_subnormals_powers_of_two_and_past_max)
{
    long fails = 0;
    for (int k = 0; k < 6; k++) {
        const spec_t *S = ALL[k];
        double ms = sp_min_sub(S), mn = ldexp(1.0, sp_emin(S)), max = sp_max(S);
        double pts[] = {0.0, ms, 2 * ms, 3 * ms, 0.5 * ms, mn, mn - ms, nextafter(mn, 0.0),
                        nextafter(mn, INFINITY), max, nextafter(max, 0.0), nextafter(max, INFINITY),
                        2 * max, 1e300, DBL_MAX, INFINITY, DBL_TRUE_MIN, 1.0, 3.0, 0.75};
        for (size_t j = 0; j < sizeof pts / sizeof pts[0]; j++) check_ulp_at(S, pts[j], &fails);
        for (int e = -1074; e <= 1023; e++) {
            double t = ldexp(1.0, e);
            check_ulp_at(S, t, &fails);
            check_ulp_at(S, nextafter(t, 0.0), &fails);
            check_ulp_at(S, nextafter(t, INFINITY), &fails);
            check_ulp_at(S, 1.5 * t, &fails);
        }
        for (uint64_t i = 0; i < 20000; i++) {
            int lo = sp_emin(S) - S->mbits - 12, hi = sp_emax(S) + 12;
            if (lo < -1074) lo = -1074;
            if (hi > 1023) hi = 1023;
            check_ulp_at(S, rand_double(3, (uint64_t)k, i, lo, hi), &fails);
        }
        CHECK(fails, isnan(ud_ulp(S->t, NAN)), "%s ud_ulp(NaN) is not NaN", S->name);
    }
    /* Landmarks stated in docs/metrics.md terms. */
    cr_expect_eq(ud_ulp(UD_F16, 0.0), 0x1p-24);
    cr_expect_eq(ud_ulp(UD_F16, 1e-7), 0x1p-24);      /* subnormal range: clamped at emin */
    cr_expect_eq(ud_ulp(UD_F16, 1.0), 0x1p-10);
    cr_expect_eq(ud_ulp(UD_F16, 65504.0), 32.0);
    cr_expect_eq(ud_ulp(UD_F16, 1e9), 32.0);          /* above max: the largest finite's ulp */
    cr_expect_eq(ud_ulp(UD_F16, INFINITY), 32.0);
    cr_expect_eq(ud_ulp(UD_BF16, 1e-40), 0x1p-133);
    cr_expect_eq(ud_ulp(UD_E4M3, 0.0), 0x1p-9);
    cr_expect_eq(ud_ulp(UD_E4M3, 464.0), 32.0);
    cr_expect_eq(ud_ulp(UD_E4M3, 1e6), 32.0);
    cr_expect_eq(ud_ulp(UD_E5M2, 1e-9), 0x1p-16);
    cr_expect_eq(ud_ulp(UD_E5M2, 1e9), 8192.0);
    cr_expect_eq(ud_ulp(UD_F32, 0.0), 0x1p-149);
    cr_expect_eq(ud_ulp(UD_F64, 0.0), 0x1p-1074);
    cr_assert_eq(fails, 0, "%ld ud_ulp mismatches against MPFR", fails);
}

/* ------------------------------------------------------------------ neighbours of RN */

/* Distinct values of a small format in ascending order (+-0 merged, +-Inf at the ends for
 * formats with infinities). */
typedef struct { double *v; long n; } lattice_t;

static int cmp_d(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static lattice_t build_lattice(const spec_t *S)
{
    long all = 1L << sp_nbits(S), n = 0;
    double *v = malloc(sizeof(double) * (size_t)all);
    for (long i = 0; i < all; i++) {
        double x = spec_decode(S, (uint32_t)i);
        if (isnan(x) || (x == 0.0 && signbit(x))) continue;
        v[n++] = x;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return (lattice_t){v, n};
}

/* Index of y (+-0 alike) in the lattice, or -1. */
static long lattice_index(const lattice_t *L, double y)
{
    long lo = 0, hi = L->n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (L->v[mid] == y) return mid;
        if (L->v[mid] < y) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The value k lattice steps from y in format S (NAN where there is none). */
static double step(const spec_t *S, const lattice_t *L, double y, int k)
{
    if (S->t == UD_F32) {
        float f = (float)y;
        for (int j = 0; j < abs(k); j++) {
            if (isinf(f) && ((k > 0) == (f > 0))) return NAN;
            f = nextafterf(f, k > 0 ? INFINITY : -INFINITY);
            if (f == 0.0f) f = 0.0f; /* one zero on the lattice */
        }
        return f;
    }
    if (S->t == UD_F64) {
        double d = y;
        for (int j = 0; j < abs(k); j++) {
            if (isinf(d) && ((k > 0) == (d > 0))) return NAN;
            d = nextafter(d, k > 0 ? INFINITY : -INFINITY);
            if (d == 0.0) d = 0.0;
        }
        return d;
    }
    long i = lattice_index(L, y);
    if (i < 0 || i + k < 0 || i + k >= L->n) return NAN;
    return L->v[i + k];
}

/* ------------------------------------------------------------------ ud_ulp_err */

/* r: an exact value; RN from MPFR must score <= 0.5, each neighbour > 0.5 (== 0.5 on a tie). */
static void check_err_at(const spec_t *S, const lattice_t *L, double r, long *fails, long *n)
{
    double y = ref_rn(S, r);
    if (isnan(y)) return; /* E4M3 overflow: no correct rounding exists */
    double e = ud_ulp_err(S->t, y, r);
    CHECK(*fails, e <= 0.5, "%s ud_ulp_err(RN=%a, r=%a) = %g > 0.5", S->name, y, r, e);
    if (!isinf(y)) {
        double w = mp_err(S, y, r);
        CHECK(*fails, e == w, "%s ud_ulp_err(%a, %a) = %a, MPFR %a", S->name, y, r, e, w);
    }
    double dy = fabs(y - r);
    if (isinf(y)) dy = fabs(copysign(ldexp(1.0, sp_emax(S) + 1), y) - r);
    for (int k = -1; k <= 1; k += 2) {
        double nb = step(S, L, y, k);
        if (isnan(nb)) continue;
        double en = ud_ulp_err(S->t, nb, r);
        double dn = isinf(nb) ? fabs(copysign(ldexp(1.0, sp_emax(S) + 1), nb) - r) : fabs(nb - r);
        int tie = (dn == dy) && !isinf(dn);
        /* r = +-2^k above the smallest normal binade: the spacing below r is half ulp_T(r), so
         * the neighbour toward zero is exactly half of ulp_T(r) away (a property of measuring in
         * units of ulp_T(r), which lattice_dist disambiguates). */
        int frexp_e;
        double fr = frexp(fabs(r), &frexp_e);
        int pow2_edge = (fr == 0.5) && (frexp_e - 1 > sp_emin(S)) && (fabs(nb) < fabs(r)) &&
                        !isinf(y) && y == r;
        if (tie || pow2_edge)
            CHECK(*fails, en == 0.5, "%s tie: neighbour %a of RN %a for r=%a scores %g", S->name,
                  nb, y, r, en);
        else if (!isinf(nb) && mp_err(S, nb, r) == 0.5) /* exact error 0.5 + tiny rounds */
            CHECK(*fails, en >= 0.5, "%s neighbour %a of RN %a for r=%a scores %g < 0.5",
                  S->name, nb, y, r, en);
        else
            CHECK(*fails, en > 0.5, "%s neighbour %a of RN %a for r=%a scores %g <= 0.5",
                  S->name, nb, y, r, en);
        if (!isinf(nb) && !isinf(en)) {
            double w = mp_err(S, nb, r);
            CHECK(*fails, fabs(en - w) <= 0x1p-50 * w, "%s ud_ulp_err(%a, %a) = %a, MPFR %a",
                  S->name, nb, r, en, w);
        }
    }
    (*n)++;
}

Test(ulp_err, correct_rounding_scores_at_most_half_and_neighbours_more)
{
    long fails = 0, n = 0;
    for (int k = 0; k < 6; k++) {
        const spec_t *S = ALL[k];
        lattice_t L = {NULL, 0};
        if (S->t != UD_F32 && S->t != UD_F64) L = build_lattice(S);
        int lo = sp_emin(S) - S->mbits - 3, hi = sp_emax(S) + 3; /* past overflow too */
        if (lo < -1074) lo = -1074;
        if (hi > 1023) hi = 1023;
        for (uint64_t i = 0; i < 40000; i++)
            check_err_at(S, &L, rand_double(17, (uint64_t)k, i, lo, hi), &fails, &n);
        /* Between the largest finite value and 2^(emax+1): RN may be Inf (IEEE-like). */
        if (S->t != UD_F64) {
            double max = sp_max(S), top = ldexp(1.0, sp_emax(S) + 1);
            for (uint64_t i = 0; i <= 4000; i++) {
                double r = max + (top - max) * (double)i / 4000.0;
                check_err_at(S, &L, r, &fails, &n);
                check_err_at(S, &L, -r, &fails, &n);
            }
        }
        /* Every value and every midpoint of the small formats, +-1 double ulp. */
        for (long j = 0; j + 1 < L.n; j++) {
            double a = L.v[j], b = L.v[j + 1];
            if (isinf(a) || isinf(b)) continue;
            double m = 0.5 * (a + b);
            double pts[] = {a, m, nextafter(m, -INFINITY), nextafter(m, INFINITY)};
            for (int q = 0; q < 4; q++) check_err_at(S, &L, pts[q], &fails, &n);
        }
        free(L.v);
    }
    cr_log_info("%ld (RN, neighbour) checks", n);
    cr_assert_eq(fails, 0, "%ld ulp_err failures", fails);
}

Test(ulp_err, documented_inf_and_nan_conventions)
{
    /* fp16: Inf is RN(65520) and is measured as 65536: |65536 - 65520| / 32 = 0.5. */
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, 65520.0), 0.5);
    cr_expect_eq(ud_ulp_err(UD_F16, -INFINITY, -65520.0), 0.5);
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, 65519.0), 17.0 / 32.0);
    cr_expect_gt(ud_ulp_err(UD_F16, INFINITY, 65519.0), 0.5);
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, 65536.0), 0.0);
    /* ulp.h: Inf is measured as max(2^(emax+1), |r|): beyond 2^(emax+1) it scores 0. */
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, 65537.0), 0.0);
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, 1e6), 0.0);
    cr_expect_eq(ud_ulp_err(UD_F16, -INFINITY, -1e300), 0.0);
    cr_expect_eq(ud_ulp_err(UD_BF16, INFINITY, 1e300), 0.0);
    cr_expect_eq(ud_ulp_err(UD_E5M2, INFINITY, 1e5), 0.0);
    cr_expect_gt(ud_ulp_err(UD_F16, 65504.0, 1e6), 0.5);        /* saturating instead: error */
    cr_expect_eq(ud_ulp_err(UD_F16, 65504.0, 65520.0), 0.5);  /* the other side of the tie */
    cr_expect_eq(ud_ulp_err(UD_F16, 65504.0, 65519.0), 15.0 / 32.0);
    cr_expect(isinf(ud_ulp_err(UD_F16, -INFINITY, 65520.0)));  /* wrong-signed Inf */
    cr_expect(isinf(ud_ulp_err(UD_F16, INFINITY, -65520.0)));
    cr_expect(isinf(ud_ulp_err(UD_F16, 65504.0, INFINITY)));   /* finite y, infinite r */
    cr_expect_eq(ud_ulp_err(UD_F16, INFINITY, INFINITY), 0.0);
    cr_expect(isinf(ud_ulp_err(UD_F16, -INFINITY, INFINITY)));
    /* bf16 / e5m2 / fp32 thresholds. */
    cr_expect_eq(ud_ulp_err(UD_BF16, INFINITY, 0x1.ffp127), 0.5);
    cr_expect_gt(ud_ulp_err(UD_BF16, INFINITY, nextafter(0x1.ffp127, 0.0)), 0.5);
    cr_expect_eq(ud_ulp_err(UD_E5M2, INFINITY, 61440.0), 0.5);
    cr_expect_gt(ud_ulp_err(UD_E5M2, INFINITY, 61439.0), 0.5);
    cr_expect_eq(ud_ulp_err(UD_F32, INFINITY, 0x1.ffffffp127), 0.5);
    /* e4m3 has no Inf: an infinite y is never a correct rounding. */
    cr_expect(isinf(ud_ulp_err(UD_E4M3, INFINITY, 464.0)));
    cr_expect(isinf(ud_ulp_err(UD_E4M3, INFINITY, 500.0)));
    cr_expect_eq(ud_ulp_err(UD_E4M3, 448.0, 464.0), 0.5);
    /* NaN: a mismatch either way is Inf; NaN against NaN is not an error. */
    for (int k = 0; k < 6; k++) {
        ud_dtype t = ALL[k]->t;
        cr_expect(isinf(ud_ulp_err(t, NAN, 1.0)), "%s NaN vs finite", ALL[k]->name);
        cr_expect(isinf(ud_ulp_err(t, 1.0, NAN)), "%s finite vs NaN", ALL[k]->name);
        cr_expect(isinf(ud_ulp_err(t, NAN, INFINITY)), "%s NaN vs Inf", ALL[k]->name);
        cr_expect(isinf(ud_ulp_err(t, INFINITY, NAN)), "%s Inf vs NaN", ALL[k]->name);
        cr_expect_eq(ud_ulp_err(t, NAN, NAN), 0.0, "%s NaN vs NaN", ALL[k]->name);
        cr_expect(isinf(ud_ulp_err(t, 0.0, INFINITY)), "%s 0 vs Inf", ALL[k]->name);
        cr_expect_eq(ud_ulp_err(t, 1.0, 1.0), 0.0);
        cr_expect_eq(ud_ulp_err(t, 0.0, -0.0), 0.0);
        /* An error is a ratio to ulp_T(r): 1 + 2 ulp is exactly 2. */
        double u1 = ldexp(1.0, -ALL[k]->mbits);
        cr_expect_eq(ud_ulp_err(t, 1.0 + 2 * u1, 1.0), 2.0, "%s", ALL[k]->name);
        cr_expect_eq(ud_ulp_err(t, 1.0, 1.0 + 2 * u1), 2.0, "%s", ALL[k]->name);
    }
    /* Subnormal r: the ulp is clamped at emin, so 0 vs the smallest subnormal is 1. */
    cr_expect_eq(ud_ulp_err(UD_F16, 0.0, 0x1p-24), 1.0);
    cr_expect_eq(ud_ulp_err(UD_F16, 0.0, 0x1p-25), 0.5);
    cr_expect_eq(ud_ulp_err(UD_E4M3, 0.0, 0x1p-10), 0.5);
    cr_expect_eq(ud_ulp_err(UD_BF16, 0x1p-133, 0x1p-132), 1.0);
}

/* ------------------------------------------------------------------ ud_lattice_dist */

static void check_dist_at(const spec_t *S, const lattice_t *L, double r, long *fails, long *n)
{
    double y = ref_rn(S, r);
    if (isnan(y)) {
        int64_t d = ud_lattice_dist(S->t, sp_max(S), r);
        CHECK(*fails, d == INT64_MAX, "%s lattice_dist(max, %a) with NaN RN = %lld", S->name, r,
              (long long)d);
        return;
    }
    for (int k = -3; k <= 3; k++) {
        double yk = step(S, L, y, k);
        if (isnan(yk)) continue;
        int64_t d = ud_lattice_dist(S->t, yk, r);
        CHECK(*fails, d == k, "%s lattice_dist(%a, r=%a) = %lld, want %d (RN %a)", S->name, yk,
              r, (long long)d, k, y);
        if (yk == 0.0) { /* the other zero is the same lattice point */
            d = ud_lattice_dist(S->t, -yk, r);
            CHECK(*fails, d == k, "%s lattice_dist(%a, r=%a) = %lld, want %d", S->name, -yk, r,
                  (long long)d, k);
        }
    }
    (*n)++;
}

Test(lattice_dist, zero_for_mpfr_rn_and_k_for_kth_neighbour_across_zero_and_subnormals)
{
    long fails = 0, n = 0;
    for (int k = 0; k < 6; k++) {
        const spec_t *S = ALL[k];
        lattice_t L = {NULL, 0};
        if (S->t != UD_F32 && S->t != UD_F64) L = build_lattice(S);
        int lo = sp_emin(S) - S->mbits - 3, hi = sp_emax(S) + 1;
        if (lo < -1074) lo = -1074;
        if (hi > 1023) hi = 1023;
        for (uint64_t i = 0; i < 20000; i++)
            check_dist_at(S, &L, rand_double(23, (uint64_t)k, i, lo, hi), &fails, &n);
        /* Around zero: multiples of an eighth of the smallest subnormal, both signs. */
        double ms = sp_min_sub(S);
        for (int j = -40; j <= 40; j++) {
            check_dist_at(S, &L, ms * j / 8.0, &fails, &n);
            check_dist_at(S, &L, nextafter(ms * j / 8.0, INFINITY), &fails, &n);
            check_dist_at(S, &L, nextafter(ms * j / 8.0, -INFINITY), &fails, &n);
        }
        check_dist_at(S, &L, -0.0, &fails, &n);
        /* Every value and midpoint of the small formats, +-1 double ulp. */
        for (long j = 0; j + 1 < L.n; j++) {
            double a = L.v[j], b = L.v[j + 1];
            if (isinf(a) || isinf(b)) continue;
            double m = 0.5 * (a + b);
            double pts[] = {a, m, nextafter(m, -INFINITY), nextafter(m, INFINITY)};
            for (int q = 0; q < 4; q++) check_dist_at(S, &L, pts[q], &fails, &n);
        }
        /* Overflow region. */
        if (S->t != UD_F64) {
            double max = sp_max(S), ulpm = ldexp(1.0, sp_emax(S) - S->mbits);
            double pts[] = {max, max + 0.5 * ulpm, nextafter(max + 0.5 * ulpm, 0.0), 2 * max,
                            INFINITY};
            for (int q = 0; q < 5; q++) {
                check_dist_at(S, &L, pts[q], &fails, &n);
                check_dist_at(S, &L, -pts[q], &fails, &n);
            }
        }
        CHECK(fails, ud_lattice_dist(S->t, NAN, 1.0) == INT64_MAX, "%s NaN y", S->name);
        CHECK(fails, ud_lattice_dist(S->t, 1.0, NAN) == INT64_MAX, "%s NaN r", S->name);
        free(L.v);
    }
    /* Landmarks: across zero the step count skips -0/+0 as one point. */
    cr_expect_eq(ud_lattice_dist(UD_F16, -0x1p-24, 0x1p-24), -2);
    cr_expect_eq(ud_lattice_dist(UD_F16, -0.0, 0x1p-24), -1);
    cr_expect_eq(ud_lattice_dist(UD_F16, INFINITY, 65504.0), 1);
    cr_expect_eq(ud_lattice_dist(UD_E4M3, 0x1p-6, 0x1p-9), 7);
    cr_log_info("%ld lattice checks", n);
    cr_assert_eq(fails, 0, "%ld lattice_dist failures", fails);
}
