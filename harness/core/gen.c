/* gen.c — value generators (see gen.h). */
#include "harness/core/gen.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

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

typedef struct {
    ud_tensor *t;
    ud_gen_kind kind;
    uint64_t seed, stream;
    size_t rl, lo, hi;
    double scale;
} fill_span;

static void *fill_range(void *arg)
{
    const fill_span *f = arg;
    for (size_t i = f->lo; i < f->hi; i++) {
        double v = gen_one(f->t->dtype, f->kind, f->seed, f->stream, i, i / f->rl, f->rl, f->scale);
        /* Saturate so that a generator never produces Inf by rounding (only nan_inf does). */
        double r = isfinite(v) ? ud_round_sat(f->t->dtype, v) : v;
        if (isnan(r) && !isnan(v)) r = ud_round_sat(f->t->dtype, v);
        ud_set(f->t->dtype, f->t->host, i, r);
    }
    return NULL;
}

/* Every element is a pure function of (seed, stream, index), so large tensors (the model
 * shapes of the nightly and of `ulpdiff bench`: 2e8 elements take ~10 s on one core) are filled
 * by several threads over disjoint ranges with the same result. */
#define FILL_SPLIT ((size_t)1 << 22)
#define FILL_THREADS 16

void ud_gen_fill(ud_tensor *t, ud_gen_kind kind, uint64_t seed, uint64_t stream,
                 int64_t row_len, double scale)
{
    fill_span s = {t, kind, seed, stream, row_len > 0 ? (size_t)row_len : t->numel, 0, t->numel, scale};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = t->numel / FILL_SPLIT + 1;
    if (cores > 0 && nt > (size_t)cores) nt = (size_t)cores;
    if (nt > FILL_THREADS) nt = FILL_THREADS;
    if (nt < 2) { fill_range(&s); return; }
    fill_span part[FILL_THREADS];
    pthread_t th[FILL_THREADS];
    int started[FILL_THREADS] = {0};
    for (size_t k = 0; k < nt; k++) {
        part[k] = s;
        part[k].lo = t->numel / nt * k;
        part[k].hi = k + 1 == nt ? t->numel : t->numel / nt * (k + 1);
        started[k] = k > 0 && pthread_create(&th[k], NULL, fill_range, &part[k]) == 0;
    }
    fill_range(&part[0]);
    for (size_t k = 1; k < nt; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else fill_range(&part[k]);   /* no thread: the caller fills that range itself */
    }
}
