/* spec/rope.h — what the partial-RoPE kernels (gpu/rope.h) and their exact reference
 * (reference/rope.c) agree on by definition (spec: docs/ops/rope.md, HF transformers' default
 * RoPE with vLLM's cos/sin cache layout):
 *   rotary_dim = int(head_dim * partial_rotary_factor)       h = rotary_dim / 2
 *   inv_freq_i = RN_32(1 / RN_32(base ^ RN_32(2i / rotary_dim))),  theta_i = RN_32(pos * inv_freq_i)
 *   neox: pair i = (x_i, x_{i+h})        gptj: pair i = (x_{2i}, x_{2i+1})     (dims < rotary_dim)
 *   x1' = x1 cos theta_i - x2 sin theta_i,  x2' = x2 cos theta_i + x1 sin theta_i, each RN_T once
 *   dims >= rotary_dim: copied bit for bit.
 * Shared by definition: the pairing-style enum, the largest head the interface accepts, and the
 * reference's interface — no arithmetic here (not even the pairing: a helper both sides called
 * would put one bug in the kernel and in its oracle at once, where no case could see it).
 *
 * The reference, angles = fp32: e_i, P_i = RN_32(base ^ e_i) (a spec rounding point: the exact
 * power by MPFR, correctly rounded; when it lies within 2^-51 of an fp32 rounding boundary the
 * other neighbour is a second candidate), inv_i, theta as above; c, s = cos theta, sin theta
 * exactly (fp32 table: the table's fp32 rounding is kernel error, in the budget), or RN_T(cos),
 * RN_T(sin) for a table in the activation dtype T — a spec rounding point: when the exact value
 * is within table_margin of a T rounding boundary both neighbours are candidates; out exact,
 * rounded once by the comparison; s_j = |self c| + |partner s| (+ an allowance for two
 * simultaneous ambiguous entries, which two candidates per element cannot list: probability
 * ~2^-30 per entry); dims >= rotary_dim: the input itself, s = 0 (the harness also checks the
 * bits). angles = exact (a measurement of what the fp32 angle costs): theta* = pos *
 * base^(-2i/rd) exactly, exact cos/sin, no table rounding; s_j is the whole documented error
 * bound in u_w = 2^-24 (budget scaled = 1): bound_u (|self c| + |partner s|) plus
 * (|x1| + |x2|) (|theta_32 - theta*| bound + table rounding) / u_w.
 * Fast path: libm cos/sin of the fp32 angle and a double-double rotation; MPFR (128 bits)
 * decides every table rounding the double cannot, and recomputes an output whose exact value
 * cancels below 2^-16 of its scale. MPFR path: everything at 128 bits (inv_freq and exact
 * angles always use MPFR; they are few). tests/test_rope.c checks that the two agree. */
#ifndef UD_SPEC_ROPE_H
#define UD_SPEC_ROPE_H

#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"

/* The largest head_dim the operator accepts (kernel tables and reference arrays are sized
 * by it). */
#define ROPE_MAX_HEAD_DIM 512
#define ROPE_MAX_PAIRS (ROPE_MAX_HEAD_DIM / 2)

enum { ROPE_NEOX = 0, ROPE_GPTJ = 1 };

typedef struct {
    ud_dtype dt;            /* q, k, outputs */
    ud_dtype tdt;           /* cos/sin table dtype */
    int style;              /* ROPE_NEOX / ROPE_GPTJ */
    int64_t tokens, q_heads, kv_heads, head_dim;
    int rotary_dim;         /* the spec's: int(head_dim * partial_rotary_factor) */
    double base;
    int exact_angles;
    double bound_u;         /* the kernel's scaled budget (its ROPE_BOUND_U) */
    double table_margin;    /* relative distance from the exact cos/sin within which a table
                             * producer's value may round to either neighbour in T (the
                             * kernel's ROPE_TABLE_MARGIN) */
    const void *q, *k;
    const int32_t *pos;
} ref_rope_args;

#ifdef __cplusplus
extern "C" {
#endif
int ref_rope(const ref_rope_args *a, ud_ref *q_out, ud_ref *k_out, int use_mpfr);

/* The spec's inv_freq_i: inv[0] from the correctly rounded fp32 power, inv[1] the other
 * candidate (equal to inv[0] unless base^e_i is within 2^-51 of an fp32 rounding boundary). */
void ref_rope_inv_freq(double base, int rotary_dim, int i, float inv[2]);

/* theta* = pos * base^(-2i/rotary_dim) exactly (to double), and the bound on |theta_32 -
 * theta*| documented in docs/ops/rope.md: 1.01 theta* (ln(base) 2i/rd + 4) 2^-24. */
double ref_rope_exact_angle(double base, int rotary_dim, int i, int64_t pos);
double ref_rope_angle_err_bound(double base, int rotary_dim, int i, double theta_exact);
#ifdef __cplusplus
}
#endif

#endif
