/* rmsnorm.c — cpu backend of the RMSNorm family: the body of gpu/rmsnorm.h run on the host
 * in the kernel's exact reduction order (lanes, chunks, butterflies), so cpu and cuda agree
 * bit for bit. Rows are independent; this loop is the CUDA grid, the lane loop its block. */
#include "gpu/rmsnorm.h"

#include "numerics/status.h"

/* Xor butterfly over `width` consecutive values, as __shfl_xor_sync does: every position
 * ends with the same sum, built in the same order as on the GPU. */
static void butterfly(int dt, int bug, float *v, int width)
{
    float tmp[32];
    for (int off = width / 2; off >= 1; off /= 2) {
        for (int i = 0; i < width; i++) tmp[i] = rms_add(dt, bug, v[i], v[i ^ off]);
        for (int i = 0; i < width; i++) v[i] = tmp[i];
    }
}

static float row_sumsq(const rms_args *a, int bug, int64_t row)
{
    const int v = rms_vec(a->dt);
    const int64_t n = a->n, chunks = (n + v - 1) / v, base = row * n;
    float lanes[RMS_LANES];
    for (int l = 0; l < RMS_LANES; l++) {
        float acc = 0.0f;
        for (int64_t c = l; c < chunks; c += RMS_LANES)
            for (int j = 0; j < v && c * v + j < n; j++) {
                int64_t i = base + c * v + j;
                float x = ud_ld(a->dt, a->x, i), r = a->fused ? ud_ld(a->dt, a->res, i) : 0.0f;
                acc = rms_acc_sq(a->dt, bug, acc, rms_input(a->dt, a->fused, a->spec, bug, x, r));
            }
        lanes[l] = acc;
    }
    float warps[RMS_WARPS];
    for (int w = 0; w < RMS_WARPS; w++) {
        butterfly(a->dt, bug, lanes + 32 * w, 32);
        warps[w] = lanes[32 * w];
    }
    butterfly(a->dt, bug, warps, RMS_WARPS);
    return warps[0];
}

int rmsnorm_cpu(const rms_args *a, int bug)
{
    for (int64_t row = 0; row < a->rows; row++) {
        float inv = rms_inv(bug, row_sumsq(a, bug, row), a->n, a->eps);
        for (int64_t j = 0; j < a->n; j++) {
            int64_t i = row * a->n + j;
            float x = ud_ld(a->dt, a->x, i), r = a->fused ? ud_ld(a->dt, a->res, i) : 0.0f;
            float v = rms_input(a->dt, a->fused, a->spec, bug, x, r);
            ud_st(a->dt, a->out, i, rms_out(a->dt, a->kind, a->spec, bug, v, inv, ud_ld(a->dt, a->w, j)));
            if (a->fused) ud_st(a->dt, a->res_out, i, rms_residual_out(a->dt, bug, x, r));
        }
    }
    return UD_OK;
}
