/* ops/tp_allreduce.c — registry entries for the tensor-parallel all-reduce of the MoE block,
 * ranks simulated on one device: tp_allreduce (the all-reduce alone) and tp_allreduce_rmsnorm
 * (fused with the residual add and RMSNorm that follow). Spec, rounding points, orders and
 * budget derivations: docs/ops/tp_allreduce.md. Reference: reference/tp_allreduce.c. Kernel
 * body: gpu/tp_allreduce.h. */
#include "harness/ops/tp_allreduce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/tp_allreduce.h"
#include "harness/core/gen.h"
#include "harness/core/measure.h"
#include "harness/core/result.h"
#include "harness/ops/kit.h"
#include "numerics/status.h"
#include "spec/rmsnorm.h"
#include "spec/tp_allreduce.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const algorithms[] = {"oneshot", "ring", "tree", NULL};   /* TPA_ALG_* order */
static const char *const specs[] = {"combined", "unfused", NULL};            /* TPA_SPEC_* */
static const char *const partials[] = {"independent", "cancel", NULL};       /* TPA_PARTIALS_* */
static const char *const weights[] = {"act", "fp32", NULL};                  /* TPA_WEIGHT_* */

/* The fused form's parameters come last, so the plain form's table is a prefix of it. */
enum { P_DTYPE, P_RANKS, P_TOKENS, P_HIDDEN, P_ALG, P_SPEC, P_PARTIALS, P_VALUES, P_SCALE, P_PLAIN_COUNT,
       P_EPS = P_PLAIN_COUNT, P_WEIGHT, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "dtype of the partials, the residual and the outputs", dtypes, 0, 0},
    [P_RANKS] = {"ranks", UD_P_INT, "1, 2, 3, 8", "tensor-parallel ranks (simulated on one device)", NULL, 1, TPA_MAX_RANKS},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 7", "tokens (rows); the ring scatters them in shards of ceil(tokens / ranks)", NULL, 0, 1 << 20},
    [P_HIDDEN] = {"hidden", UD_P_INT, "1, 127, 1000", "row length", NULL, 1, 1 << 18},
    [P_ALG] = {"algorithm", UD_P_CHOICE, "oneshot, ring, tree",
               "oneshot: fp32 sum in rank order, one rounding; ring: reduce-scatter + all-gather, one rounding "
               "to dtype per hop; tree: pairwise levels, one rounding per addition", algorithms, 0, 0},
    [P_SPEC] = {"spec", UD_P_CHOICE, "combined",
                "combined: RN(moe + shared) on each rank, one all-reduce (sglang Step3p5); unfused: each "
                "partial all-reduced on its own, then added", specs, 0, 0},
    [P_PARTIALS] = {"partials", UD_P_CHOICE, "independent",
                    "independent: every rank's partials drawn on their own; cancel: the last rank's cancel "
                    "the others' (sums far below their magnitudes)", partials, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal", "generator for the partials (and the residual)", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of the generated partials", NULL, 1e-30, 1e30},
    [P_EPS] = {"eps", UD_P_REAL, "1e-6", "RMSNorm variance epsilon (added in fp32)", NULL, 1e-12, 1.0},
    [P_WEIGHT] = {"weight", UD_P_CHOICE, "act, fp32", "dtype of the RMSNorm weight: the activation dtype, or fp32",
                  weights, 0, 0},
};

static const char *const in_plain[] = {"moe", "shared", NULL};
static const char *const in_fused[] = {"moe", "shared", "residual", "weight", NULL};
static const char *const out_plain[] = {"out", NULL};
static const char *const out_fused[] = {"out", "residual_out", NULL};
enum { IN_MOE, IN_SHARED, IN_RES, IN_W };
enum { OUT_MAIN, OUT_RES };

static int is_fused(const ud_case *c) { return strcmp(c->op->name, "tp_allreduce_rmsnorm") == 0; }
static int kdt(const ud_case *c)   /* ud_dtype and UD_DT_* share values (dtype.c) */
{
    return (int)c->p[P_DTYPE].i;
}
static int wfp32(const ud_case *c) { return is_fused(c) && c->p[P_WEIGHT].i == TPA_WEIGHT_FP32; }
static ud_dtype wdtype(const ud_case *c) { return wfp32(c) ? UD_F32 : (ud_dtype)c->p[P_DTYPE].i; }

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    int64_t R = c->p[P_RANKS].i, T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    int64_t part[3] = {R, T, H}, row[2] = {T, H}, w[1] = {H};
    UD_TRY(ud_tensor_shape(&in[IN_MOE], "moe", dt, 3, part));
    UD_TRY(ud_tensor_shape(&in[IN_SHARED], "shared", dt, 3, part));
    UD_TRY(ud_tensor_shape(&out[OUT_MAIN], "out", dt, 3, part));
    if (is_fused(c)) {
        UD_TRY(ud_tensor_shape(&in[IN_RES], "residual", dt, 2, row));
        UD_TRY(ud_tensor_shape(&in[IN_W], "weight", wdtype(c), 1, w));
        UD_TRY(ud_tensor_shape(&out[OUT_RES], "residual_out", dt, 3, part));
    }
    return UD_OK;
}

/* partials = cancel: the last rank's moe (and shared) partial is the negated sum of the others'
 * plus a small term 2^-12 * scale * N(0, 1), rounded to T: the all-reduce result is a small
 * fraction of the magnitudes it sums (and with one rank, just the small term). */
static void cancel_last_rank(const ud_case *c, ud_tensor *t, uint64_t stream)
{
    int64_t R = c->p[P_RANKS].i, T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    for (int64_t i = 0; i < T * H; i++) {
        double s = 0.0;
        for (int64_t r = 0; r + 1 < R; r++) s += ud_get(t->dtype, t->host, (size_t)(r * T * H + i));
        double small = ldexp(ud_gen_normal(c->seed, stream, (uint64_t)i), -12) * c->p[P_SCALE].d;
        ud_set(t->dtype, t->host, (size_t)((R - 1) * T * H + i), small - s);
    }
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_kind g = (ud_gen_kind)c->p[P_VALUES].i;
    double scale = c->p[P_SCALE].d;
    int64_t H = c->p[P_HIDDEN].i;
    ud_gen_fill(&in[IN_MOE], g, c->seed, 1, H, scale);
    ud_gen_fill(&in[IN_SHARED], g, c->seed, 2, H, scale);
    if (c->p[P_PARTIALS].i == TPA_PARTIALS_CANCEL) {
        cancel_last_rank(c, &in[IN_MOE], 5);
        cancel_last_rank(c, &in[IN_SHARED], 6);
    }
    if (!is_fused(c)) return UD_OK;
    ud_gen_fill(&in[IN_RES], g, c->seed, 3, H, scale);
    /* Trained norm weights sit near 1; kept within 1 of it (|w| <= 2, which the absolute part
     * of out's budget relies on). */
    ud_tensor *w = &in[IN_W];
    for (size_t i = 0; i < w->numel; i++) {
        double d = 0.25 * ud_gen_normal(c->seed, 4, i);
        ud_set(w->dtype, w->host, i, 1.0 + (d > 1.0 ? 1.0 : d < -1.0 ? -1.0 : d));
    }
    return UD_OK;
}

/* The norm's relative error bound on n (docs/ops/rmsnorm.md), the candidate margin. */
static double norm_kappa(const ud_case *c) { return rmsnorm_bound_u(kdt(c), c->p[P_HIDDEN].i); }

static ref_tpa_args ref_args(const ud_case *c, const ud_tensor *in, int alg, int spec)
{
    ref_tpa_args a;
    memset(&a, 0, sizeof a);
    a.dt = (ud_dtype)c->p[P_DTYPE].i;
    a.spec = spec;
    a.ranks = c->p[P_RANKS].i;
    a.tokens = c->p[P_TOKENS].i;
    a.hidden = c->p[P_HIDDEN].i;
    a.moe = in[IN_MOE].host;
    a.shared = in[IN_SHARED].host;
    if (is_fused(c)) {
        a.residual = in[IN_RES].host;
        a.weight = in[IN_W].host;
        a.wdt = wdtype(c);
        a.eps32 = (double)(float)c->p[P_EPS].d;
        a.norm_margin_rel = norm_kappa(c) * 0x1p-24 + 0x1p-48;
        tpa_h_bound(alg, kdt(c), spec, a.ranks, &a.h_rel, &a.h_abs);
    }
    return a;
}

static int reference_alg(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr, int alg)
{
    ref_tpa_args a = ref_args(c, in, alg, (int)c->p[P_SPEC].i);
    return ref_tp_allreduce(&a, &ref[OUT_MAIN], is_fused(c) ? &ref[OUT_RES] : NULL, exact_mpfr);
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    return reference_alg(c, in, ref, exact_mpfr, (int)c->p[P_ALG].i);
}

static tpa_args kernel_args(const ud_case *c, ud_tensor *in, ud_tensor *out, int dev)
{
    tpa_args a;
    memset(&a, 0, sizeof a);
    a.dt = kdt(c);
    a.alg = (int)c->p[P_ALG].i;
    a.spec = (int)c->p[P_SPEC].i;
    a.fused = is_fused(c);
    a.ranks = c->p[P_RANKS].i;
    a.tokens = c->p[P_TOKENS].i;
    a.hidden = c->p[P_HIDDEN].i;
    a.moe = ud_buf(&in[IN_MOE], dev);
    a.shared = ud_buf(&in[IN_SHARED], dev);
    a.out = ud_buf(&out[OUT_MAIN], dev);
    if (a.fused) {
        a.wfp32 = wfp32(c);
        a.eps = (float)c->p[P_EPS].d;
        a.res = ud_buf(&in[IN_RES], dev);
        a.w = ud_buf(&in[IN_W], dev);
        a.res_out = ud_buf(&out[OUT_RES], dev);
    }
    return a;
}

UD_KERNEL_RUNNERS(tpa_args, kernel_args, tp_allreduce_cpu, tp_allreduce_cuda)

/* Budgets (derivations: docs/ops/tp_allreduce.md), u_w = u of T throughout:
 *   the all-reduce alone, combined: 0.5 ulp + the order's bound before its final rounding;
 *   unfused: A and B each carry their rounding and their order's bound, then RN_T(A + B);
 *   residual_out: RN_T(sigma + residual) with sigma's whole bound (c, eta);
 *   out: the first-order propagation of |h - h*| <= h_rel a + h_abs through the norm
 *        (the condition scale the reference computes), the rounding of n to T both ways, the
 *        norm's own fp32 error kappa v, and the fp32 weight product. */
static ud_budget budget_alg(const ud_case *c, int k, int alg)
{
    const int dt = kdt(c), spec = (int)c->p[P_SPEC].i;
    const int64_t R = c->p[P_RANKS].i;
    const double u = tpa_unit(dt), hs = tpa_half_sub(dt), v = 0x1p-24;
    ud_budget b = {0.5, 0.0, u, 0.0};
    if (!is_fused(c)) {
        double K, A;
        tpa_reduce_bound(alg, dt, R, &K, &A);
        b.scaled = spec == TPA_SPEC_COMBINED ? K : 1.0 + (1.0 + u) * K;
        b.abs = spec == TPA_SPEC_COMBINED ? A : 2.0 * ((1.0 + u) * A + hs);
        return b;
    }
    if (k == OUT_RES) {
        tpa_sigma_bound(alg, dt, spec, R, &b.scaled, &b.abs);
        return b;
    }
    double h_rel, h_abs, kappa = norm_kappa(c);
    tpa_h_bound(alg, dt, spec, R, &h_rel, &h_abs);
    double kh = h_rel / u;
    double via_h = kh * (1.0 + u) * (1.0 + kappa * v) * (1.0 + v);
    double direct = 2.0 + (1.0 + u) * (kappa * v + v + kappa * v * v) / u;
    b.scaled = via_h > direct ? via_h : direct;
    b.abs = 5.0 * hs + 0x1p-149;   /* |w| <= 2 times two T-subnormal roundings of n, the fp32 product */
    return b;
}

static ud_budget budget(const ud_case *c, int k) { return budget_alg(c, k, (int)c->p[P_ALG].i); }

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    (void)k;
    int64_t R = c->p[P_RANKS].i, T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    int64_t e = (int64_t)(i % (size_t)(T * H)), t = e / H, h = e % H;
    size_t off = (size_t)snprintf(buf, n, "[token %lld, %lld] (moe, shared) by rank:", (long long)t, (long long)h);
    for (int64_t r = 0; r < R && off < n; r++) {
        if (r == 4) { off += (size_t)snprintf(buf + off, n - off, " ..."); break; }
        size_t j = (size_t)(r * T * H + e);
        off += (size_t)snprintf(buf + off, n - off, " (%a, %a)", ud_get(in[IN_MOE].dtype, in[IN_MOE].host, j),
                                ud_get(in[IN_SHARED].dtype, in[IN_SHARED].host, j));
    }
    if (is_fused(c) && off < n)
        snprintf(buf + off, n - off, " residual %a weight %a", ud_get(in[IN_RES].dtype, in[IN_RES].host, (size_t)e),
                 ud_get(in[IN_W].dtype, in[IN_W].host, (size_t)h));
}

/* Rank q's copy of output t as a [tokens, hidden] tensor of its own. */
static ud_tensor rank_view(const ud_case *c, const ud_tensor *t, int64_t q)
{
    ud_tensor v = *t;
    int64_t T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    v.ndim = 2;
    v.shape[0] = T;
    v.shape[1] = H;
    v.numel = (size_t)(T * H);
    v.host = (char *)t->host + (size_t)q * v.numel * ud_format(t->dtype)->size;
    v.dev = NULL;
    return v;
}

static void add_metric(ud_result *res, const char *name, double value, double budget_value)
{
    if (res->nmetrics >= UD_MAX_METRICS) return;
    ud_metric *m = &res->metrics[res->nmetrics++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = value;
    m->budget = budget_value;
}

/* Every rank must hold the same bits (two NaNs agree, the poison excepted: ud_tensor_bitwise_diff).
 * Returns the number of ranks whose copy of some output differs from rank 0's. */
static int64_t check_ranks_agree(const ud_case *c, const ud_tensor *out, int nout, ud_result *res)
{
    int64_t R = c->p[P_RANKS].i, bad = 0;
    for (int64_t q = 1; q < R; q++) {
        int differs = 0;
        for (int k = 0; k < nout; k++) {
            ud_tensor a = rank_view(c, &out[k], q), b = rank_view(c, &out[k], 0);
            size_t first, count = ud_tensor_bitwise_diff(&a, &b, &first);
            if (!count) continue;
            if (!differs && bad == 0) {
                char coords[64];
                ud_tensor_coords(&a, first, coords, sizeof coords);
                double x = ud_get(a.dtype, a.host, first), y = ud_get(b.dtype, b.host, first);
                ud_result_add_finding(res, UD_F_RANK_MISMATCH,
                                      "%s: ranks disagree: rank %lld differs from rank 0 in %zu of %zu elements; "
                                      "first at %s: %a (%.9g) vs %a (%.9g)", out[k].name, (long long)q, count,
                                      a.numel, coords, x, x, y, y);
            }
            differs = 1;
        }
        bad += differs;
    }
    return bad;
}

/* How far the result lies from the other spec (combined vs unfused: both legitimate, not the same
 * numbers): rank 0's all-reduce result (the plain form's out, the fused form's residual_out)
 * judged against the other spec's reference and budget, as if it were that spec's kernel: the
 * elements over that budget and the largest |y - r| / (u s) (u of T, s the sum of magnitudes). */
static int spec_gap(const ud_case *c, const ud_tensor *in, const ud_tensor *out, ud_result *res)
{
    const int fused = is_fused(c), k = fused ? OUT_RES : OUT_MAIN;
    ud_case other = *c;
    other.p[P_SPEC].i ^= 1;
    /* The reference covers every rank's copy (the same values); rank 0's is compared. */
    size_t n = out[k].numel ? out[k].numel : 1;
    ud_ref all = {out[k].numel, malloc(n * sizeof(double)), malloc(n * sizeof(double)), malloc(n * sizeof(double))};
    int rc = UD_OK;
    if (!all.r0 || !all.r1 || !all.s) {
        ud_error("tp_allreduce: out of memory for the other spec's reference");
        rc = UD_EINTERNAL;
    } else {
        ref_tpa_args a = ref_args(&other, in, (int)c->p[P_ALG].i, (int)other.p[P_SPEC].i);
        rc = fused ? ref_tp_allreduce(&a, NULL, &all, 0) : ref_tp_allreduce(&a, &all, NULL, 0);
    }
    if (rc == UD_OK) {
        ud_tensor y = rank_view(c, &out[k], 0);
        ud_ref r0 = {y.numel, all.r0, all.r1, all.s};
        ud_out_stats st;
        memset(&st, 0, sizeof st);
        rc = ud_compare_output(&y, &r0, other.op->budget(&other, k), &other, in, k, &st);
        if (rc == UD_OK) {
            int unf = other.p[P_SPEC].i == TPA_SPEC_UNFUSED;
            add_metric(res, unf ? "vs_spec_unfused_over_budget" : "vs_spec_combined_over_budget", (double)st.n_over, NAN);
            add_metric(res, unf ? "vs_spec_unfused_max_scaled" : "vs_spec_combined_max_scaled", st.max_scaled, NAN);
        }
    }
    free(all.r0);
    free(all.r1);
    free(all.s);
    return rc;
}

/* The fused form's out must be the RMSNorm (hf) of the residual_out the same rank returned,
 * correctly rounded up to the norm's own budget (docs/ops/rmsnorm.md) — the tight check of the
 * norm half, whatever error the all-reduce half carries. Checked on rank 0 and on every rank
 * whose copy differs from rank 0's. */
static int norm_of_residual_out(const ud_case *c, const ud_tensor *in, const ud_tensor *out, ud_result *res)
{
    const int64_t R = c->p[P_RANKS].i, T = c->p[P_TOKENS].i, H = c->p[P_HIDDEN].i;
    const ud_dtype dt = (ud_dtype)c->p[P_DTYPE].i;
    const size_t n = (size_t)(T * H);
    double kappa = norm_kappa(c);
    ud_budget b = {0.5, 0.0, 0x1p-24, 0x1p-148};
    if (dt == UD_F32) b.scaled = kappa + 1.0;   /* n from the fp32 pipeline, one more product */
    else if (wfp32(c)) b.scaled = 1.0;          /* RN_T(n) * w32 rounds once in fp32 */
    void *ones = malloc((size_t)(H ? H : 1) * ud_format(dt)->size);
    ud_ref r = {n, malloc((n ? n : 1) * sizeof(double)), malloc((n ? n : 1) * sizeof(double)),
                malloc((n ? n : 1) * sizeof(double))};
    int rc = UD_OK;
    if (!ones || !r.r0 || !r.r1 || !r.s) {
        ud_error("tp_allreduce_rmsnorm: out of memory for the norm check");
        rc = UD_EINTERNAL;
        goto done;
    }
    for (int64_t j = 0; j < H; j++) ud_set(dt, ones, (size_t)j, 1.0);
    double worst = 0.0;
    size_t over = 0, mism = 0, total = 0;
    ud_out_stats first_bad;
    int64_t first_q = -1;
    for (int64_t q = 0; q < R && rc == UD_OK; q++) {
        ud_tensor h = rank_view(c, &out[OUT_RES], q), y = rank_view(c, &out[OUT_MAIN], q);
        if (q > 0) {
            ud_tensor h0 = rank_view(c, &out[OUT_RES], 0), y0 = rank_view(c, &out[OUT_MAIN], 0);
            size_t f;
            if (!ud_tensor_bitwise_diff(&h, &h0, &f) && !ud_tensor_bitwise_diff(&y, &y0, &f)) continue;
        }
        ref_rms_args ra;
        memset(&ra, 0, sizeof ra);
        ra.dt = dt;
        ra.kind = RMS_KIND_LLAMA;
        ra.spec = RMS_SPEC_HF;
        ra.rows = T;
        ra.n = H;
        ra.eps32 = (double)(float)c->p[P_EPS].d;
        ra.x = h.host;
        ra.w = ones;
        ra.margin_rel = kappa * 0x1p-24 + 0x1p-48;
        if ((rc = ref_rmsnorm(&ra, &r, NULL, 0)) != UD_OK) break;
        for (size_t i = 0; i < n; i++) {
            double w = ud_get(in[IN_W].dtype, in[IN_W].host, i % (size_t)H);
            r.r0[i] *= w;
            r.r1[i] *= w;
            r.s[i] = fabs(r.r0[i]);
        }
        ud_out_stats st;
        memset(&st, 0, sizeof st);
        if ((rc = ud_compare_output(&y, &r, b, c, in, OUT_MAIN, &st)) != UD_OK) break;
        if (st.max_ulp > worst) worst = st.max_ulp;
        total += n;
        if ((st.n_over || st.n_nan_mismatch) && first_q < 0) {
            first_q = q;
            first_bad = st;
        }
        over += st.n_over;
        mism += st.n_nan_mismatch;
    }
    if (rc == UD_OK) {
        /* 0.5 where the norm is held to a correct rounding of a candidate (bf16/fp16, weight in T) */
        add_metric(res, "out_vs_norm_of_residual_out_ulp", worst, b.scaled == 0.0 ? 0.5 : NAN);
        if (first_q >= 0)
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "out: %zu of %zu elements are not the RMSNorm of the residual_out their rank "
                                  "returned (%zu NaN/Inf mismatches); rank %lld worst at %s got %a (%.9g), the norm "
                                  "of its residual_out %a (%.9g) = %.3f ulp",
                                  over + mism, total, mism, (long long)first_q, first_bad.worst_coords,
                                  first_bad.worst_got, first_bad.worst_got, first_bad.worst_exact,
                                  first_bad.worst_exact, first_bad.worst_ulp);
    }
done:
    free(ones);
    free(r.r0);
    free(r.r1);
    free(r.s);
    return rc;
}

static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref,
                 struct ud_result *res)
{
    (void)ref;
    const int fused = is_fused(c);
    add_metric(res, "ranks_disagreeing", (double)check_ranks_agree(c, out, fused ? 2 : 1, res), 0.0);
    UD_TRY(spec_gap(c, in, out, res));
    if (fused) UD_TRY(norm_of_residual_out(c, in, out, res));
    return UD_OK;
}

/* Each operator's rows of the family's variant table (gpu/tp_allreduce.h). */
#define IN_PLAIN(E, N, P, F, EXPECT, WHAT) UD_WHEN(P, UD_KERNEL_VARIANT(TPA_BUG_##E, N, EXPECT, WHAT),)
#define IN_FUSED(E, N, P, F, EXPECT, WHAT) UD_WHEN(F, UD_KERNEL_VARIANT(TPA_BUG_##E, N, EXPECT, WHAT),)
static const ud_mutant mut_plain[] = {TPA_VARIANTS(IN_PLAIN)};
static const ud_mutant mut_fused[] = {TPA_VARIANTS(IN_FUSED)};

#define TPA_OP(NAME, SUMMARY, NPARAMS, IN, OUT, MUT)                                              \
    {                                                                                           \
        .name = #NAME, .summary = SUMMARY, .doc = "docs/ops/tp_allreduce.md",                   \
        .params = params, .nparams = NPARAMS, .inputs = IN, .outputs = OUT,                     \
        .shapes = shapes, .generate = generate, .reference = reference,                         \
        .run_cpu = run_cpu, .run_cuda = UD_RUN_CUDA, .budget = budget,                          \
        .describe = describe, .extra = extra, .mutants = MUT, .nmutants = UD_NELEMS(MUT),       \
        .bench = "dtype=bf16 ranks=8 tokens=1024 hidden=7168 algorithm=oneshot",                \
        .bitwise_backends = 1,                                                                  \
        .token_param = "tokens",                                                                \
    }

UD_OPERATOR(tp_allreduce) = TPA_OP(tp_allreduce,
    "out[r] = allreduce_r RN(moe_r + shared_r) on every rank r, in the algorithm's order  [sglang Step3p5 TP MoE]",
    P_PLAIN_COUNT, in_plain, out_plain, mut_plain);
UD_OPERATOR(tp_allreduce_rmsnorm) = TPA_OP(tp_allreduce_rmsnorm,
    "h = RN(allreduce + residual); residual_out = h; out = rmsnorm(h)  [FlashInfer/TRT-LLM allreduce fusion]",
    P_COUNT, in_fused, out_fused, mut_fused);

/* ---- the NCCL path: the same operators with the order left open ---- */
static int reference_any(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    return reference_alg(c, in, ref, exact_mpfr, TPA_ALG_ANY);
}

static ud_budget budget_any(const ud_case *c, int k) { return budget_alg(c, k, TPA_ALG_ANY); }

int tpa_any_order_op(const ud_op *base, ud_op *out)
{
    if (base != &ud_op_tp_allreduce && base != &ud_op_tp_allreduce_rmsnorm) return -1;
    *out = *base;
    out->reference = reference_any;
    out->budget = budget_any;
    out->run_cpu = NULL;
    out->run_cuda = NULL;
    out->bitwise_backends = 0;
    return 0;
}
