/* routing.c — the routing-flip metric (definitions: routing.h, docs/ops/gate_proj.md). Scores
 * are evaluated here in double from the spec (softmax: the logit, which orders experts as
 * softmax does; sigmoid_bias: 1 / (1 + e^-l) + b); exact ties between reference logits are
 * settled by the reference's exact comparison (ref_gate_cmp). */
#include "harness/core/routing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"

double ud_route_score(int scoring, double logit, double bias)
{
    if (scoring == GATE_SCORE_SOFTMAX) return logit;   /* softmax is monotone in the logit */
    return 1.0 / (1.0 + exp(-logit)) + bias;
}

typedef struct { double s; int64_t e; } ranked;

/* Descending score, then ascending expert: a total order, so qsort's result is unique. */
static int by_score_desc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->e > b->e) - (a->e < b->e);
}

/* Bound on |score(got) - score(ref)| for a logit known to within tol, plus the double
 * evaluation error of both scores (sigmoid: a few ulps of a value below 1, then + bias). */
static double score_bound(int scoring, double r, double tol, double bias)
{
    if (scoring == GATE_SCORE_SOFTMAX) return tol;
    double lo = r - tol, hi = r + tol, d = 0.25;   /* max of sigmoid' = s(1 - s), at 0 */
    if (!(lo <= 0.0 && hi >= 0.0)) {
        double m = exp(-fmin(fabs(lo), fabs(hi)));
        d = m / ((1.0 + m) * (1.0 + m)) * (1.0 + 0x1p-40);
    }
    return d * tol + 0x1p-48 * (1.0 + fabs(bias));
}

int ud_route_flips(const ref_gate_args *a, const ud_ref *ref, const ud_route_args *r, ud_route_stats *st)
{
    const int64_t E = a->experts, k = r->topk;
    memset(st, 0, sizeof *st);
    st->first_flip = st->first_in = st->first_out = -1;
    ranked *ord = malloc((size_t)E * sizeof *ord);
    double *ks = malloc((size_t)E * sizeof *ks), *d = malloc((size_t)E * sizeof *d), *rs = malloc((size_t)E * sizeof *rs);
    unsigned char *in = malloc((size_t)E);
    if (!ord || !ks || !d || !rs || !in) {
        free(ord); free(ks); free(d); free(rs); free(in);
        UD_ALLOC_CHECK(NULL);
    }
    int rc = UD_OK;
    for (int64_t t = 0; t < a->tokens; t++) {
        st->tokens++;
        for (int64_t e = 0; e < E; e++) {
            size_t i = (size_t)(t * E + e);
            double b = r->scoring == GATE_SCORE_SIGMOID_BIAS ? (double)r->bias[e] : 0.0;
            rs[e] = ud_route_score(r->scoring, ref->r0[i], b);
            ks[e] = ud_route_score(r->scoring, r->got[i], b);
            d[e] = score_bound(r->scoring, ref->r0[i], r->tol[i], b);
            ord[e] = (ranked){rs[e], e};
        }
        if (k >= E) { st->decidable++; continue; }
        qsort(ord, (size_t)E, sizeof *ord, by_score_desc);
        int64_t ea = ord[k - 1].e, eb = ord[k].e;
        /* Exact tie at the boundary: equal logits (and equal biases when they count). Exactly
         * equal logits have reference values within 2^-30 of each other (each is within 2^-31
         * of exact), so only such pairs go to the exact comparison. */
        double la = ref->r0[t * E + ea], lb = ref->r0[t * E + eb];
        if (fabs(la - lb) <= 0x1p-29 * (fabs(la) + fabs(lb)) &&
            (r->scoring == GATE_SCORE_SOFTMAX || r->bias[ea] == r->bias[eb])) {
            int c = ref_gate_cmp(a, t, ea, eb);
            if (c == -2) { rc = UD_EINTERNAL; break; }
            if (c == 0) { st->ties++; continue; }
        }
        memset(in, 0, (size_t)E);
        for (int64_t j = 0; j < k; j++) in[ord[j].e] = 1;
        double lo_in = INFINITY, hi_out = -INFINITY, kmin_in = INFINITY, kmax_out = -INFINITY;
        int nan = 0;
        for (int64_t e = 0; e < E; e++) {
            if (isnan(ks[e])) nan = 1;
            if (in[e]) { lo_in = fmin(lo_in, rs[e] - d[e]); kmin_in = fmin(kmin_in, ks[e]); }
            else { hi_out = fmax(hi_out, rs[e] + d[e]); kmax_out = fmax(kmax_out, ks[e]); }
        }
        int flip = nan || !(kmin_in > kmax_out);
        st->flips_all += (size_t)flip;
        if (lo_in > hi_out) {
            st->decidable++;
            if (flip && st->flips++ == 0) { st->first_flip = t; st->first_in = ea; st->first_out = eb; }
        } else {
            st->undecidable++;
        }
    }
    free(ord); free(ks); free(d); free(rs); free(in);
    return rc;
}
