/* rmsnorm_plugin.c — a test plugin for `ulpdiff run --impl` (include/ulpdiff_plugin.h): an
 * independent host implementation of rmsnorm and rmsnorm_fused_add, written the way an outside
 * author would write one — it includes nothing of ulpdiff but the plugin header.
 *
 *   n   = x / sqrt(mean(x^2) + eps32)         the sum of squares in double: far inside the
 *                                             kernel's error bound (docs/ops/rmsnorm.md)
 *   hf:          out = RN_T(RN_T(n) * w)      (HF LlamaRMSNorm, vLLM)
 *   flashinfer:  out = RN_T(n * w)
 *   fused add:   h = RN_T(x + residual); residual_out = h; out = rmsnorm(h)   (hf spec only:
 *                `supports` declines spec = flashinfer, which exercises case filtering)
 *
 * Built three times (tests/tests.cmake), and tests/cli/plugin.sh loads each:
 *   ud_plugin_rmsnorm       correct: every case passes
 *   ud_plugin_rmsnorm_bug   -DPLUGIN_BUG: under the hf spec multiplies by w before rounding n
 *                           (the vLLM #42325 class): ulpdiff must catch it
 *   ud_plugin_rmsnorm_abi2  -DPLUGIN_ABI=2: a plugin built against another ABI: refused */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ulpdiff_plugin.h"

#ifndef PLUGIN_ABI
#define PLUGIN_ABI ULPDIFF_PLUGIN_ABI
#endif

/* ---- formats: values travel as doubles; RN to p bits by exact scaling and rint ---- */

static double round_to(double v, int mbits, int emin, double max_finite)
{
    if (isnan(v) || isinf(v) || v == 0.0) return v;
    int e;
    (void)frexp(fabs(v), &e);
    int E = e - 1 < emin ? emin : e - 1;
    double r = ldexp(rint(ldexp(fabs(v), mbits - E)), E - mbits);   /* ties to even */
    if (r > max_finite) r = INFINITY;
    return copysign(r, v);
}

static double rn(int dt, double v)
{
    switch (dt) {
    case UDP_F32: return (double)(float)v;
    case UDP_BF16: return round_to(v, 7, -126, 0x1.fep127);
    default: return round_to(v, 10, -14, 65504.0);   /* UDP_F16 */
    }
}

static double load(int dt, const void *p, int64_t i)
{
    if (dt == UDP_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    if (dt == UDP_BF16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    double s = (h & 0x8000) ? -1.0 : 1.0;
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) return s * ldexp(m, -24);
    if (e == 31) return m ? NAN : s * INFINITY;
    return s * ldexp(1024 + m, e - 25);
}

/* v must already be representable in dt (rn() was applied). */
static void store(int dt, void *p, int64_t i, double v)
{
    if (dt == UDP_F32) { ((float *)p)[i] = (float)v; return; }
    uint16_t bits;
    if (dt == UDP_BF16) {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        bits = isnan(v) ? 0x7fc0 : (uint16_t)(u >> 16);
    } else {
        uint16_t s = signbit(v) ? 0x8000 : 0;
        double a = fabs(v);
        if (isnan(v)) bits = 0x7e00;
        else if (isinf(a)) bits = s | 0x7c00;
        else if (a < 0x1p-14) bits = s | (uint16_t)(a * 0x1p24);
        else {
            int e;
            double m = frexp(a, &e);
            bits = s | (uint16_t)((e + 14) << 10) | (uint16_t)((m * 2.0 - 1.0) * 1024.0);
        }
    }
    ((uint16_t *)p)[i] = bits;
}

static const char *name_param(const udp_call *c, const char *name)
{
    const udp_param *p = udp_find_param(c, name);
    return p && p->kind == UDP_PARAM_NAME ? p->s : "";
}

static int fail(const udp_call *c, const char *msg)
{
    snprintf(c->error, c->error_size, "%s", msg);
    return UDP_ERROR;
}

static int run(const udp_call *c)
{
    int fused = strcmp(c->op, "rmsnorm_fused_add") == 0;
    const udp_param *eps_p = udp_find_param(c, "eps");
    if (!eps_p || c->nin != (fused ? 3 : 2) || c->nout != (fused ? 2 : 1)) return fail(c, "unexpected call shape");
    const udp_tensor *x = &c->in[0], *res = fused ? &c->in[1] : NULL, *w = &c->in[fused ? 2 : 1];
    const udp_tensor *out = &c->out[0], *res_out = fused ? &c->out[1] : NULL;
    int dt = x->dtype, hf = strcmp(name_param(c, "spec"), "hf") == 0;
    if (dt != UDP_F32 && dt != UDP_BF16 && dt != UDP_F16) return fail(c, "dtype not handled");
    int64_t rows = x->shape[0], n = x->shape[1];
    double eps32 = (double)(float)eps_p->d;   /* the model adds eps to an fp32 tensor */
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0.0;
        for (int64_t j = 0; j < n; j++) {
            double h = load(dt, x->data, r * n + j);
            if (fused) {
                h = rn(dt, h + load(dt, res->data, r * n + j));   /* exact sum, one rounding */
                store(dt, res_out->data, r * n + j, h);
            }
            ss += h * h;
        }
        double inv = 1.0 / sqrt(ss / (double)n + eps32);
        for (int64_t j = 0; j < n; j++) {
            double h = fused ? load(dt, res_out->data, r * n + j) : load(dt, x->data, r * n + j);
            double nv = h * inv, wv = load(dt, w->data, j);
#ifdef PLUGIN_BUG
            double y = rn(dt, nv * wv);                            /* forgets the hf rounding */
            (void)hf;
#else
            double y = hf ? rn(dt, rn(dt, nv) * wv) : rn(dt, nv * wv);
#endif
            store(dt, out->data, r * n + j, y);
        }
    }
    return UDP_OK;
}

static int supports(const udp_call *c)
{
    return !(strcmp(c->op, "rmsnorm_fused_add") == 0 && strcmp(name_param(c, "spec"), "flashinfer") == 0);
}

static const udp_op ops[] = {
    {"rmsnorm", UDP_MEM_HOST, 0, run, NULL},
    {"rmsnorm_fused_add", UDP_MEM_HOST, 0, run, supports},
};

static const udp_plugin plugin = {
    PLUGIN_ABI, sizeof(udp_plugin),
#ifdef PLUGIN_BUG
    "test rmsnorm (weight_mult_fp32 bug)",
#else
    "test rmsnorm",
#endif
    2, ops,
};

const udp_plugin *ulpdiff_plugin(void) { return &plugin; }
