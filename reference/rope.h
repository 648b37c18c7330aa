/* rope.h — exact reference for partial RoPE (spec: docs/ops/rope.md).
 *
 * angles = fp32 (the spec, HF transformers):
 *   e_i   = RN_32(2i / rotary_dim)                deterministic fp32 division
 *   P_i   = RN_32(base ^ e_i)                     spec rounding point (torch's fp32 pow): the
 *           exact power by MPFR, correctly rounded; when it lies within 2^-51 of an fp32
 *           rounding boundary the other neighbour is a second candidate
 *   inv_i = RN_32(1 / P_i), theta = RN_32(pos * inv_i)        deterministic fp32 operations
 *   c, s  = cos theta, sin theta exactly (fp32 table: the table's fp32 rounding is kernel
 *           error, in the budget), or RN_T(cos theta), RN_T(sin theta) for a table in the
 *           activation dtype T — a spec rounding point: when the exact value is within
 *           ROPE_TABLE_MARGIN of a T rounding boundary both neighbours are candidates
 *   out   = x1 c - x2 s  |  x2 c + x1 s, exact, rounded once by the comparison
 *   s_j   = |self c| + |partner s| (+ an allowance for two simultaneous ambiguous entries,
 *           which two candidates per element cannot list: probability ~2^-30 per entry)
 *   dims >= rotary_dim: the input itself, s = 0 (the harness also checks the bits).
 * angles = exact (a measurement of what the fp32 angle costs): theta* = pos * base^(-2i/rd)
 *   exactly, exact cos/sin, no table rounding; s_j is the whole documented error bound in
 *   u_w = 2^-24 (budget scaled = 1): the kernel's ROPE_BOUND_U (|self c| + |partner s|) plus
 *   (|x1| + |x2|) (|theta_32 - theta*| bound + table rounding) / u_w.
 *
 * Fast path: libm cos/sin of the fp32 angle and a double-double rotation; MPFR (128 bits)
 * decides every table rounding the double cannot, and recomputes an output whose exact value
 * cancels below 2^-16 of its scale. MPFR path: everything at 128 bits (inv_freq and exact
 * angles always use MPFR; they are few). tests/test_rope.c checks that the two agree. */
#ifndef UD_REF_ROPE_H
#define UD_REF_ROPE_H

#include <stdint.h>
#include "harness/ops/registry.h"

typedef struct {
    ud_dtype dt;            /* q, k, outputs */
    ud_dtype tdt;           /* cos/sin table dtype */
    int style;              /* ROPE_NEOX / ROPE_GPTJ (gpu/rope.h) */
    int64_t tokens, q_heads, kv_heads, head_dim;
    int rotary_dim;         /* the spec's: int(head_dim * partial_rotary_factor) */
    double base;
    int exact_angles;
    double bound_u;         /* the kernel's scaled budget (ROPE_BOUND_U) */
    const void *q, *k;
    const int32_t *pos;
} ref_rope_args;

int ref_rope(const ref_rope_args *a, ud_ref *q_out, ud_ref *k_out, int use_mpfr);

/* The spec's inv_freq_i: inv[0] from the correctly rounded fp32 power, inv[1] the other
 * candidate (equal to inv[0] unless base^e_i is within 2^-51 of an fp32 rounding boundary). */
void ref_rope_inv_freq(double base, int rotary_dim, int i, float inv[2]);

/* theta* = pos * base^(-2i/rotary_dim) exactly (to double), and the bound on |theta_32 -
 * theta*| documented in docs/ops/rope.md: 1.01 theta* (ln(base) 2i/rd + 3) 2^-24. */
double ref_rope_exact_angle(double base, int rotary_dim, int i, int64_t pos);
double ref_rope_angle_err_bound(double base, int rotary_dim, int i, double theta_exact);

#endif
