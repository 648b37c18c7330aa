/* rope.c — RoPE host side: the model-config -> kernel-config mapping (where the known-bug
 * variants live), inv_freq, the cpu table builder and the cpu backend of the rotation. The
 * body is gpu/rope.h; the CUDA kernels (gpu/rope.cu) compute the same bits. */
#include "gpu/rope.h"

#include <stdio.h>
#include <string.h>

#include "numerics/status.h"

int rope_rotary_dim(int head_dim, double factor)
{
    double d = (double)head_dim * factor;   /* Python's int() truncates toward zero */
    if (!(d >= 2.0) || d > (double)head_dim) return 0;
    int rd = (int)d;
    return (rd % 2 == 0) ? rd : 0;
}

int rope_setup(const rope_config *m, int bug, rope_table_spec *t, int *rotary_dim, int *style)
{
    int rd = rope_rotary_dim(m->head_dim, m->factor);
    if (!rd || m->head_dim > ROPE_MAX_HEAD_DIM) {
        ud_error("rope: head_dim %d * partial_rotary_factor %g is not an even rotary_dim in [2, head_dim <= %d]",
                 m->head_dim, m->factor, ROPE_MAX_HEAD_DIM);
        return UD_EUSAGE;
    }
    memset(t, 0, sizeof *t);
    *style = m->style;
    switch (bug) {
    case ROPE_BUG_NONE: break;
    case ROPE_BUG_FACTOR_TWICE: {
        /* GLM-4-0414 in vLLM (#29966, #30384, #30389): the model passed an already scaled
         * rotary_dim and get_rope scaled it by partial_rotary_factor again; the table and the
         * rotation both use the twice-scaled width. */
        int twice = (int)((double)rd * m->factor) & ~1;
        rd = twice < 2 ? 2 : twice;
        break;
    }
    case ROPE_BUG_STYLE_SWAPPED: *style = m->style == ROPE_NEOX ? ROPE_GPTJ : ROPE_NEOX; break;
    case ROPE_BUG_TABLE_HEAD_DIM: break;
    case ROPE_BUG_PARTIAL_TABLE_DOWNCAST: break;
    case ROPE_BUG_ROTARY_DIM_IGNORED: break;
    default: ud_error("rope: unknown variant %d", bug); return UD_EINTERNAL;
    }
    t->rotary_dim = rd;
    t->freq_dim = bug == ROPE_BUG_TABLE_HEAD_DIM ? m->head_dim : rd;
    t->base = m->base;
    t->max_position = m->max_position;
    t->style = m->style;
    t->dt = m->table_dt;
    /* sglang #27653: the partial-rotary fallback used the cache cast to the model dtype, though
     * the fused path (and the spec) keep it fp32: the table holds RN_T(RN_32(cos)). */
    if (bug == ROPE_BUG_PARTIAL_TABLE_DOWNCAST && rd < m->head_dim && m->table_dt == UD_DT_F32) t->dt = m->act_dt;
    /* vLLM #43676: the fused kernel's rotary_dim defaulted to head_dim; the table stays the
     * model's [max_position, rotary_dim]. */
    *rotary_dim = bug == ROPE_BUG_ROTARY_DIM_IGNORED ? m->head_dim : rd;
    return UD_OK;
}

/* HF: inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)),
 * all in fp32: e = RN_32(2i / dim) (an fp32 division), P = base ** e (torch's fp32 pow; here
 * the double pow rounded to fp32, i.e. the correctly rounded fp32 power except within 2^-52 of
 * a rounding boundary, which the reference covers with a second candidate), then the fp32
 * reciprocal. base is a Python float, applied to an fp32 tensor: fp32. */
int rope_inv_freq(const rope_table_spec *t, rope_freqs *f)
{
    int half = t->rotary_dim / 2;
    if (half < 1 || half > ROPE_MAX_PAIRS || t->freq_dim < 2) {
        ud_error("rope: rotary_dim %d / freq_dim %d out of range", t->rotary_dim, t->freq_dim);
        return UD_EUSAGE;
    }
    memset(f, 0, sizeof *f);
    float base = (float)t->base;
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)t->freq_dim;
        float p = (float)pow((double)base, (double)e);
        f->inv[i] = 1.0f / p;
    }
    return UD_OK;
}

size_t rope_table_bytes(const rope_table_spec *t)
{
    return (size_t)t->max_position * (size_t)t->rotary_dim * (size_t)ud_dt_size(t->dt);
}

int rope_table_build_cpu(const rope_table_spec *t, void *table)
{
    rope_freqs f;
    UD_TRY(rope_inv_freq(t, &f));
    const int half = t->rotary_dim / 2;
    for (int64_t p = 0; p < t->max_position; p++)
        for (int i = 0; i < half; i++) {
            float c, s;
            rope_table_entry(t->dt, f.inv[i], p, &c, &s);
            ud_st(t->dt, table, p * t->rotary_dim + i, c);
            ud_st(t->dt, table, p * t->rotary_dim + half + i, s);
        }
    return UD_OK;
}

int64_t rope_bad_positions(const int32_t *pos, int64_t tokens, int64_t max_position, char *msg, size_t n)
{
    int64_t bad = 0;
    for (int64_t t = 0; t < tokens; t++)
        if (pos[t] < 0 || pos[t] >= max_position) {
            if (!bad++ && msg)
                snprintf(msg, n, "position %d of token %lld is outside the cos/sin table [0, %lld)", (int)pos[t],
                         (long long)t, (long long)max_position);
        }
    return bad;
}

/* One head of one token: rotate the first rotary_dim dims, copy the rest's raw bits. */
static void rope_head(const rope_args *a, const void *x, void *out, int64_t off, const void *row)
{
    const int rd = a->rotary_dim, half = rd / 2, esz = ud_dt_size(a->dt);
    for (int d = 0; d < rd; d++) {
        int partner, first;
        int i = rope_pair(a->style, rd, d, &partner, &first);
        float c = ud_ld(a->tdt, row, i), s = ud_ld(a->tdt, row, half + i);
        float v = rope_rotate(ud_ld(a->dt, x, off + d), ud_ld(a->dt, x, off + partner), c, s, first);
        ud_st(a->dt, out, off + d, v);
    }
    memcpy((char *)out + (off + rd) * esz, (const char *)x + (off + rd) * esz, (size_t)(a->head_dim - rd) * esz);
}

int rope_cpu(const rope_args *a)
{
    if (a->rotary_dim < 2 || a->rotary_dim > a->head_dim || a->rotary_dim % 2) {
        ud_error("rope: rotary_dim %d does not fit head_dim %lld", a->rotary_dim, (long long)a->head_dim);
        return UD_EINTERNAL;
    }
    const int tsz = ud_dt_size(a->tdt);
    for (int64_t t = 0; t < a->tokens; t++) {
        int32_t p = a->pos[t];
        if (p < 0 || p >= a->max_position) continue;   /* reported below, never read */
        const int cols = a->table_cols ? a->table_cols : a->rotary_dim;
        const void *row = (const char *)a->table + (size_t)p * (size_t)cols * (size_t)tsz;
        for (int64_t h = 0; h < a->q_heads; h++)
            rope_head(a, a->q, a->q_out, (t * a->q_heads + h) * a->head_dim, row);
        for (int64_t h = 0; h < a->kv_heads; h++)
            rope_head(a, a->k, a->k_out, (t * a->kv_heads + h) * a->head_dim, row);
    }
    char msg[200];
    int64_t bad = rope_bad_positions(a->pos, a->tokens, a->max_position, msg, sizeof msg);
    if (bad) {
        ud_error("rope: %s (%lld such tokens; their outputs are not written)", msg, (long long)bad);
        return UD_EUSAGE;
    }
    return UD_OK;
}
