/* layernorm.c — cpu backend of the LayerNorm family: the body of gpu/layernorm.h run on the
 * host in the CUDA kernel's exact reduction order (lanes, chunks, butterflies), so cpu and
 * cuda agree bit for bit. Rows are independent; the row loop is the CUDA grid, the lane loop
 * its block. */
#include "gpu/layernorm.h"

#include "numerics/status.h"

/* Xor butterfly over `width` consecutive values, as __shfl_xor_sync does: every position ends
 * with the same sum (fp addition is commutative), built in the GPU's order. */
static void butterfly(int dt, int bug, float *v, int width)
{
    float tmp[32];
    for (int off = width / 2; off >= 1; off /= 2) {
        for (int i = 0; i < width; i++) tmp[i] = ln_sum_add(dt, bug, v[i], v[i ^ off]);
        for (int i = 0; i < width; i++) v[i] = tmp[i];
    }
}

/* Block-wide sum of the per-lane values, in the kernel's order. */
static float block_sum(int dt, int bug, float *lanes)
{
    float warps[LN_WARPS];
    for (int w = 0; w < LN_WARPS; w++) {
        butterfly(dt, bug, lanes + 32 * w, 32);
        warps[w] = lanes[32 * w];
    }
    butterfly(dt, bug, warps, LN_WARPS);
    return warps[0];
}

static void row_stats(const ln_args *a, int bug, int64_t row, float *mean, float *rstd)
{
    const int v = ln_vec(a->dt);
    const int64_t chunks = (a->n + v - 1) / v;
    const int64_t base = row * a->n;
    float s1[LN_LANES], s2[LN_LANES];
    for (int l = 0; l < LN_LANES; l++) {
        float acc = 0.0f, acc2 = 0.0f;
        for (int64_t c = l; c < chunks; c += LN_LANES)      /* lane l's chunks, in order */
            for (int64_t j = c * v; j < c * v + v && j < a->n; j++) {
                float x = ud_ld(a->dt, a->x, base + j);
                acc = ln_sum_add(a->dt, bug, acc, x);
                if (bug == LN_BUG_ONE_PASS_VAR) acc2 = ln_sq_add(acc2, x);
            }
        s1[l] = acc;
        s2[l] = acc2;
    }
    float sum = block_sum(a->dt, bug, s1);
    if (bug == LN_BUG_ONE_PASS_VAR) {
        float sumsq = block_sum(a->dt, LN_BUG_NONE, s2);
        *mean = ln_mean(a->dt, LN_BUG_NONE, sum, a->n);
        *rstd = ln_rstd_one_pass(sum, sumsq, a->n, a->eps);
        return;
    }
    float m = ln_mean(a->dt, bug, sum, a->n);
    for (int l = 0; l < LN_LANES; l++) {
        float acc = 0.0f;
        for (int64_t c = l; c < chunks; c += LN_LANES)
            for (int64_t j = c * v; j < c * v + v && j < a->n; j++)
                acc = ln_sq_add(acc, ud_fsub(ud_ld(a->dt, a->x, base + j), m));
        s2[l] = acc;
    }
    *mean = m;
    *rstd = ln_rstd(block_sum(a->dt, LN_BUG_NONE, s2), a->n, a->eps);
}

int layernorm_cpu(const ln_args *a, int bug)
{
    if (bug < 0 || bug >= LN_BUG_COUNT) { ud_error("layernorm: unknown variant %d", bug); return UD_EINTERNAL; }
    for (int64_t row = 0; row < a->rows; row++) {
        float mean, rstd;
        row_stats(a, bug, row, &mean, &rstd);
        for (int64_t j = 0; j < a->n; j++) {
            int64_t i = row * a->n + j;
            float w = a->affine != LN_AFFINE_NONE ? ln_param(a->dt, bug, ud_ld(a->pdt, a->w, j)) : 1.0f;
            float b = a->affine == LN_AFFINE_WEIGHT_BIAS ? ln_param(a->dt, bug, ud_ld(a->pdt, a->b, j)) : 0.0f;
            ud_st(a->dt, a->out, i, ln_out(a->affine, ud_ld(a->dt, a->x, i), mean, rstd, w, b));
        }
    }
    return UD_OK;
}
