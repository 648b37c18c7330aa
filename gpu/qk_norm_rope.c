/* qk_norm_rope.c — cpu backend of the fused QK RMSNorm + partial RoPE: the body of
 * gpu/qk_norm_rope.h run on the host in the CUDA kernel's exact structure (warps of G heads
 * side by side, I head groups one after another, L lanes a head, the lanes' sums of squares
 * and their xor butterfly), so cpu and cuda agree bit for bit — also for the known-bug variant
 * whose lanes disagree on a head's sum. */
#include "gpu/qk_norm_rope.h"

#include <stdio.h>
#include <string.h>

#include "numerics/status.h"

typedef struct {
    float sent[32];   /* per lane: the value it offered to the rotary exchange (its first element) */
} seg_state;

/* Unit u's head: its input, weight and output, and the offset of its head_dim values. */
static int64_t head_of(const qkr_args *a, int64_t u, const void **x, const void **w, void **out)
{
    const int64_t hd = a->head_dim, heads = a->q_heads + a->kv_heads, t = u / heads, h = u % heads;
    const int isq = h < a->q_heads;
    *x = isq ? a->q : a->k;
    *w = isq ? a->q_w : a->k_w;
    *out = isq ? a->q_out : a->k_out;
    return isq ? (t * a->q_heads + h) * hd : (t * a->kv_heads + (h - a->q_heads)) * hd;
}

/* Lane j's sum of the squares of its chunks, in order, for unit u's L lanes. */
static void lane_sums(const qkr_args *a, int64_t u, float *acc)
{
    const int dt = a->dt, V = qkr_vec(dt), L = qkr_lanes(dt, a->head_dim), K = qkr_slots(dt, a->head_dim);
    const void *x, *w;
    void *out;
    const int64_t off = head_of(a, u, &x, &w, &out);
    for (int j = 0; j < L; j++) {
        acc[j] = 0.0f;
        for (int k = 0; k < K; k++)
            for (int e = 0; e < V; e++) acc[j] = qkr_sq_acc(acc[j], ud_ld(dt, x, off + (int64_t)(j + k * L) * V + e));
    }
}

/* Under QKR_BUG_WARP_SUM_ZERO_MASKED: the butterfly steps o = 16 .. L of head group g, which pair
 * lanes of different heads (lane sg * L + j holds head sg's lane j; a unit past the last holds
 * zeros, as the kernel loads them). warp[] gets every lane's sum after them. */
static void cross_head_steps(const qkr_args *a, int bug, int64_t g, int64_t units, float *warp)
{
    const int L = qkr_lanes(a->dt, a->head_dim), G = 32 / L;
    float tmp[32];
    for (int sg = 0; sg < G; sg++) {
        if (g * G + sg < units) lane_sums(a, g * G + sg, warp + sg * L);
        else for (int j = 0; j < L; j++) warp[sg * L + j] = 0.0f;
    }
    for (int o = qkr_first_offset(bug, L); o >= L; o /= 2) {
        for (int l = 0; l < 32; l++) tmp[l] = ud_fadd(warp[l], qkr_recv(bug, L, o, warp[l ^ o]));
        for (int l = 0; l < 32; l++) warp[l] = tmp[l];
    }
}

/* One (token, head) unit: normalise and rotate, in the kernel's order. r: the head group's
 * iteration within its warp; st: what this segment's lanes offered in the previous iteration;
 * pre: the lanes' sums after the cross-head butterfly steps of a variant (NULL: none). */
static void unit(const qkr_args *a, int bug, int64_t u, int r, seg_state *st, const float *pre)
{
    const int dt = a->dt, V = qkr_vec(dt), L = qkr_lanes(dt, a->head_dim);
    const int64_t hd = a->head_dim, t = u / (a->q_heads + a->kv_heads);
    const void *x, *w;
    void *out;
    const int64_t off = head_of(a, u, &x, &w, &out);

    float acc[32], tmp[32], inv[32], y[QKR_MAX_HEAD_DIM];
    lane_sums(a, u, acc);
    if (pre)
        for (int j = 0; j < L; j++) acc[j] = pre[j];
    for (int o = L / 2; o >= 1; o /= 2) {   /* __shfl_xor_sync butterfly within the segment */
        for (int j = 0; j < L; j++) {
            float recv = acc[j ^ o];
            if (o == L / 2 && qkr_leaks(bug, a->style, a->rotary_dim, hd, r, j, L, V)) recv = st->sent[j ^ o];
            tmp[j] = ud_fadd(acc[j], recv);
        }
        for (int j = 0; j < L; j++) acc[j] = tmp[j];
    }
    for (int j = 0; j < L; j++) inv[j] = qkr_inv(acc[j], hd, a->eps);
    for (int64_t d = 0; d < hd; d++) {
        int lane = (int)((d / V) % L);
        y[d] = qkr_y(dt, a->spec, ud_ld(dt, x, off + d), inv[lane], ud_ld(dt, w, d));
    }
    for (int j = 0; j < L; j++) st->sent[j] = y[j * V];

    int64_t p = qkr_position(bug, a->pos, t);
    if (p < 0 || p >= a->max_position) return;   /* never read outside the table; reported */
    const void *row = (const char *)a->table + (size_t)p * (size_t)a->table_cols * (size_t)ud_dt_size(a->tdt);
    const int rd = a->rotary_dim, half = rd / 2;
    for (int64_t d = 0; d < hd; d++) {
        float v = y[d];
        if (d < rd) {
            int partner, first;
            int i = rope_pair(a->style, rd, (int)d, &partner, &first);
            v = rope_rotate(y[d], y[partner], ud_ld(a->tdt, row, i), ud_ld(a->tdt, row, half + i), first);
        }
        ud_st(dt, out, off + d, v);
    }
}

static int check_shape(const qkr_args *a)
{
    const int64_t hd = a->head_dim;
    if ((hd != 64 && hd != 128 && hd != 256) || a->rotary_dim < 2 || a->rotary_dim > hd || a->rotary_dim % 16 ||
        a->table_cols < 2) {
        ud_error("qk_norm_rope: head_dim %lld, rotary_dim %d, table width %d out of range", (long long)hd,
                 a->rotary_dim, a->table_cols);
        return UD_EINTERNAL;
    }
    return UD_OK;
}

int qk_norm_rope_cpu(const qkr_args *a, int bug)
{
    UD_TRY(check_shape(a));
    const int L = qkr_lanes(a->dt, a->head_dim), G = 32 / L;
    const int64_t units = a->tokens * (a->q_heads + a->kv_heads), groups = (units + G - 1) / G;
    const int iters = qkr_iters(units);
    seg_state st[32];
    memset(st, 0, sizeof st);
    float warp[32];
    const int cross = qkr_first_offset(bug, L) >= L;   /* butterfly steps between heads (a variant) */
    for (int64_t g = 0; g < groups; g++) {   /* warp g / iters, iteration g % iters */
        if (cross) cross_head_steps(a, bug, g, units, warp);
        for (int sg = 0; sg < G; sg++) {
            int64_t u = g * G + sg;
            if (u < units) unit(a, bug, u, (int)(g % iters), &st[sg], cross ? warp + sg * L : NULL);
        }
    }
    int64_t bad = 0, first = -1;
    for (int64_t t = 0; t < a->tokens; t++)
        if (a->pos[t] < 0 || a->pos[t] >= a->max_position) {
            if (!bad++) first = t;
        }
    if (bad) {
        ud_error("qk_norm_rope: position %d of token %lld is outside the cos/sin table [0, %lld) (%lld such tokens; "
                 "their outputs are not written)", (int)a->pos[first], (long long)first, (long long)a->max_position,
                 (long long)bad);
        return UD_EUSAGE;
    }
    return UD_OK;
}
