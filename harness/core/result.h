/* result.h — what running one case produces: per-output error statistics and findings. */
#ifndef UD_RESULT_H
#define UD_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "harness/ops/registry.h"

/* log2 histogram of ulp_err: bin 0 holds exact results, bin b >= 1 holds
 * 2^(b - UD_HIST_BIAS - 1) <= err < 2^(b - UD_HIST_BIAS), clamped at both ends; the last bin
 * also holds NaN/Inf mismatches. */
#define UD_HIST_BINS 48
#define UD_HIST_BIAS 24

typedef enum {
    UD_F_TOLERANCE, UD_F_NAN_MISMATCH, UD_F_UNWRITTEN, UD_F_NONDETERMINISM,
    UD_F_CACHE_STALE, UD_F_ERROR, UD_F_BACKEND_MISMATCH,
    UD_F_RANK_MISMATCH,    /* an all-reduce whose ranks hold different results (docs/ops/tp_allreduce.md) */
    UD_F_KINDS
} ud_finding_kind;

extern const char *const ud_finding_names[];   /* "tolerance", "nan-mismatch", ... */

typedef struct {
    ud_finding_kind kind;
    char msg[600];
} ud_finding;

typedef struct {
    const char *name;
    ud_dtype dtype;
    size_t n;
    size_t n_over;                 /* elements over budget (finite, both sides) */
    size_t n_nan_mismatch;         /* NaN/Inf where the reference is finite, or the reverse */
    size_t n_unwritten;            /* still holding the poison pattern */
    double max_ulp, mean_ulp, p50, p99, p999;
    double max_scaled;             /* max |y - r| / (u_w * s) over elements with s > 0 */
    int64_t max_lattice;           /* max |lattice distance| to the nearest candidate */
    /* What decides pass or fail: the largest |y - r| / tolerance over the elements (an element
     * passes at <= 1; +Inf for a NaN/Inf mismatch or an unwritten element). A large max_ulp
     * can pass where cancellation makes the condition-scaled budget large. */
    double budget_frac;
    uint64_t hist[UD_HIST_BINS];
    ud_budget budget;
    /* worst element: largest excess over its tolerance (or first mismatch) */
    int has_worst;
    size_t worst_index;
    char worst_coords[64];
    double worst_got, worst_exact, worst_ulp, worst_scale;
    char worst_inputs[400];
} ud_out_stats;

#define UD_MAX_METRICS 8
typedef struct { char name[48]; double value; double budget; } ud_metric;

typedef struct ud_result {
    ud_case c;
    ud_backend backend;
    int nout;
    ud_out_stats out[UD_MAX_TENSORS];
    int nmetrics;
    ud_metric metrics[UD_MAX_METRICS];
    int nfindings;
    ud_finding findings[8];        /* capped: the counts above carry the totals */
    double seconds;
    int skipped;                   /* e.g. backend unavailable */
    /* Where the case's time went (per-operator throughput: reports/rates.c). Wall seconds of
     * the exact reference; of the kernel's first run with its transfers (poison, upload,
     * launch, sync, download; not the wait for the device, nor repeats and the cross-check);
     * of the comparison of every output with the operator's own checks (not post-run checks).
     * checked_elements: the output elements compared (0 when nothing was compared). */
    double ref_seconds, kernel_seconds, compare_seconds;
    uint64_t checked_elements;
} ud_result;

const char *ud_backend_name(ud_backend b);
void ud_result_add_finding(ud_result *r, ud_finding_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ud_result_failed(const ud_result *r);
/* Is any finding of this kind present? */
int ud_result_has(const ud_result *r, ud_finding_kind kind);

#endif
