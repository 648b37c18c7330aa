/* measure.c — per-element error measurement against the reference candidates, statistics
 * and findings, and the budget a case is held to. Operators hold no comparison logic;
 * everything lands here. */
#include "harness/core/measure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/core/ulp.h"

ud_budget ud_case_budget(const ud_case *c, int out_index, ud_dtype t)
{
    ud_budget b = c->op->budget(c, out_index);
    if (!isnan(c->budget_ulp[t])) b.ulp = c->budget_ulp[t];
    if (!isnan(c->budget_scaled)) b.scaled = c->budget_scaled;
    return b;
}

double ud_tolerance(ud_dtype t, double r, double s, ud_budget b)
{
    double noise = b.scaled * b.u_w * s;
    /* + |r| 2^-48: the reference is a double within 2^-50 relative of the exact value. */
    return b.ulp * ud_ulp(t, fabs(r) + noise) + noise + b.abs + fabs(r) * 0x1p-48;
}

/* |y - r| with the overflow convention of ulp.h (Inf counts as max(2^(emax+1), |r|)); NAN when y and r cannot be compared
 * (a NaN/Inf mismatch). 0 when both are the same special. */
static double abs_err(ud_dtype t, double y, double r)
{
    const ud_format_info *f = ud_format(t);
    if (isnan(r) || isnan(y)) return (isnan(r) && isnan(y)) ? 0.0 : NAN;
    if (isinf(r)) return y == r ? 0.0 : NAN;
    if (isinf(y)) {
        if (!f->has_inf || signbit(y) != signbit(r)) return NAN;
        y = copysign(fmax(ldexp(1.0, f->emax + 1), fabs(r)), y);
    }
    return fabs(y - r);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* k-th smallest of v[0..n) (0-based), partially reordering v. */
static float select_kth(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo + 16) {
        float pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) { float tmp = v[i]; v[i] = v[j]; v[j] = tmp; i++; if (j) j--; }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    qsort(v + lo, hi - lo + 1, sizeof *v, cmp_float);
    return v[k];
}

static double percentile(float *v, size_t n, double q)
{
    if (n == 0) return 0.0;
    size_t k = (size_t)floor(q * (double)(n - 1) + 0.5);
    return select_kth(v, n, k);
}

static int hist_bin(double e)
{
    if (e == 0.0) return 0;
    if (!isfinite(e)) return UD_HIST_BINS - 1;
    int b = (int)floor(log2(e)) + UD_HIST_BIAS + 1;
    return b < 1 ? 1 : b >= UD_HIST_BINS ? UD_HIST_BINS - 1 : b;
}

int ud_compare_output(const ud_tensor *out, const ud_ref *ref, ud_budget b,
                      const ud_case *c, const ud_tensor *in, int out_index, ud_out_stats *st)
{
    ud_dtype t = out->dtype;
    memset(st, 0, sizeof *st);
    st->name = out->name;
    st->dtype = t;
    st->n = out->numel;
    st->budget = b;
    float *errs = malloc((out->numel ? out->numel : 1) * sizeof *errs);
    UD_ALLOC_CHECK(errs);
    size_t nerr = 0;
    double sum = 0.0, worst_ratio = -1.0;
    int worst_special = 0;

    for (size_t i = 0; i < out->numel; i++) {
        uint64_t bits = ud_get_bits(t, out->host, i);
        double y = ud_get(t, out->host, i);
        /* E4M3's poison proves nothing (ud_unwritten_bits): such an element is compared as the
         * NaN it also is. */
        int unwritten = ud_unwritten_bits(t, bits);
        double best_ratio = INFINITY, best_ulp = INFINITY, best_scaled = INFINITY, best_r = ref->r0[i];
        int64_t best_lat = INT64_MAX;
        int mismatch = 1;
        for (int k = 0; k < 2; k++) {
            double r = k ? ref->r1[i] : ref->r0[i];
            if (k && (r == ref->r0[i] || (isnan(r) && isnan(ref->r0[i])))) break;
            double e = abs_err(t, y, r);
            if (isnan(e)) continue;
            mismatch = 0;
            double tol = ud_tolerance(t, r, ref->s[i], b);
            double ratio = e == 0.0 ? 0.0 : tol > 0.0 ? e / tol : INFINITY;
            double ue = e == 0.0 ? 0.0 : e / ud_ulp(t, r);   /* NaN == NaN: exact, not ulp(NaN) */
            if (ratio < best_ratio || (ratio == best_ratio && ue < best_ulp)) {
                best_ratio = ratio;
                best_ulp = ue;
                best_r = r;
                best_scaled = ref->s[i] > 0.0 ? e / (b.u_w * ref->s[i]) : (e == 0.0 ? 0.0 : INFINITY);
                int64_t lat = ud_lattice_dist(t, y, r);
                best_lat = lat == INT64_MAX ? lat : llabs(lat);
            }
        }
        int special = unwritten || mismatch;
        if (unwritten) st->n_unwritten++;
        else if (mismatch) st->n_nan_mismatch++;
        if (special) st->budget_frac = INFINITY;
        else {
            errs[nerr++] = (float)best_ulp;
            sum += best_ulp;
            if (best_ulp > st->max_ulp) st->max_ulp = best_ulp;
            if (isfinite(best_scaled) && best_scaled > st->max_scaled) st->max_scaled = best_scaled;
            if (best_lat != INT64_MAX && best_lat > st->max_lattice) st->max_lattice = best_lat;
            if (best_ratio > 1.0) st->n_over++;
            if (best_ratio > st->budget_frac) st->budget_frac = best_ratio;
        }
        st->hist[special ? UD_HIST_BINS - 1 : hist_bin(best_ulp)]++;
        /* Worst element: the first special, else the largest excess over tolerance. */
        double ratio = special ? INFINITY : best_ratio;
        if (!st->has_worst || (special && !worst_special) || (!worst_special && ratio > worst_ratio)) {
            st->has_worst = 1;
            worst_special = special;
            worst_ratio = ratio;
            st->worst_index = i;
            st->worst_got = y;
            st->worst_exact = best_r;
            st->worst_ulp = special ? INFINITY : best_ulp;
            st->worst_scale = ref->s[i];
        }
    }
    st->mean_ulp = nerr ? sum / (double)nerr : 0.0;
    st->p50 = percentile(errs, nerr, 0.50);
    st->p99 = percentile(errs, nerr, 0.99);
    st->p999 = percentile(errs, nerr, 0.999);
    free(errs);
    if (st->has_worst) {
        ud_tensor_coords(out, st->worst_index, st->worst_coords, sizeof st->worst_coords);
        if (c->op->describe)
            c->op->describe(c, in, out_index, st->worst_index, st->worst_inputs, sizeof st->worst_inputs);
    }
    return UD_OK;
}

void ud_findings_from_stats(ud_result *r)
{
    for (int k = 0; k < r->nout; k++) {
        const ud_out_stats *st = &r->out[k];
        const char *dt = ud_dtype_name(st->dtype);
        if (st->n_unwritten)
            ud_result_add_finding(r, UD_F_UNWRITTEN, "%s: %zu of %zu elements never written (first %s)",
                                  st->name, st->n_unwritten, st->n, st->worst_coords);
        if (st->n_nan_mismatch)
            ud_result_add_finding(r, UD_F_NAN_MISMATCH,
                                  "%s: %zu NaN/Inf mismatches; at %s got %a (%.9g) exact %a (%.9g)",
                                  st->name, st->n_nan_mismatch, st->worst_coords,
                                  st->worst_got, st->worst_got, st->worst_exact, st->worst_exact);
        if (st->n_over && !st->n_nan_mismatch && !st->n_unwritten)
            ud_result_add_finding(r, UD_F_TOLERANCE,
                                  "%s: %zu of %zu over budget (%g ulp_%s + %g u_w*s); worst at %s got %a (%.9g) exact %a (%.17g) = %.3f ulp",
                                  st->name, st->n_over, st->n, st->budget.ulp, dt, st->budget.scaled,
                                  st->worst_coords, st->worst_got, st->worst_got, st->worst_exact,
                                  st->worst_exact, st->worst_ulp);
    }
}
