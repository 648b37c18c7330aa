/* rope.h — partial rotary position embedding (RoPE): the kernel body and the cos/sin table
 * builder, shared by the CUDA kernels (gpu/rope.cu) and the cpu backend (gpu/rope.c).
 * Spec, rounding points, budgets: docs/ops/rope.md.
 *
 *   rotary_dim = int(head_dim * partial_rotary_factor)                  (HF: `dim = int(...)`)
 *   inv_freq_i = RN_32(1 / RN_32(base ^ RN_32(2i / rotary_dim)))        i < rotary_dim / 2
 *   theta      = RN_32(position * inv_freq_i)                          fp32, as HF computes it
 *   table[p]   = [cos(theta_0..), sin(theta_0..)]: rotary_dim columns, in the table dtype
 *                (vLLM's cos_sin_cache layout; HF casts cos/sin to the activation dtype)
 *   neox (rotate halves of the rotary part): pair i = (x_i, x_{i + rotary_dim/2})
 *   gptj (interleaved):                       pair i = (x_{2i}, x_{2i+1})
 *   out_first  = RN_T(x1 cos - x2 sin),  out_second = RN_T(x2 cos + x1 sin)
 *   dims >= rotary_dim are copied bit for bit (raw bits: NaN payloads and -0 survive).
 *
 * The table is derived state: rope_table_build_cpu / rope_table_build_cuda fill it from a
 * rope_table_spec alone (rotary_dim, the inv_freq exponent's dim, base, max_position, style,
 * dtype), identically on both backends, and the kernels only read it. inv_freq is computed on
 * the host (one function, rope_inv_freq) and handed to both builders, so both tables hold the
 * same bits; cos and sin come from rope_sincos below — double precision, written only with
 * uncontracted IEEE operations, so host and device agree bit for bit — and are rounded once
 * to fp32 and then to the table dtype (HF computes cos in fp32 and casts it).
 *
 * A position outside [0, max_position) is an error, never a read outside the table: the
 * kernels skip such a token (its outputs stay unwritten) and the launchers report it.
 *
 * Known-bug variants are model-configuration bugs, as they were in the engines, so they live
 * in rope_setup() (the mapping from a model's config to the kernel's): production never takes
 * those branches. One of them (rotary_dim_ignored) makes the kernel read its table with a row
 * stride (table_cols) other than its rotation width, as vLLM #43676's kernel did, and so past
 * the table's last row: the harness puts ROPE_GUARD_ROWS rows of NaN after every table, so
 * that such a read is a finding, never a read of memory outside the tensor. */
#ifndef UD_GPU_ROPE_H
#define UD_GPU_ROPE_H

#include "numerics/ud_portable.h"
#include "spec/rope.h"   /* ROPE_NEOX/GPTJ, ROPE_MAX_HEAD_DIM/PAIRS: shared with the reference */

/* theta < 2^21 keeps rope_sincos's argument reduction exact (k < 2^21, 32-bit pieces of pi/2);
 * inv_freq <= 1, so positions below 2^21 suffice, and they are exact in fp32. */
#define ROPE_MAX_POSITION ((int64_t)1 << 21)

/* Known-bug variants of the kernel, declared once: X(ENUM, "name", "finding that must catch it",
 * "the bug"). The enum below and the registry's variant table (harness/ops/rope.c, which adds the
 * cos/sin table cache's variants) come from it. */
#define ROPE_VARIANTS(X)                                                                          \
    X(FACTOR_TWICE, "factor_applied_twice", "tolerance",                                          \
      "partial_rotary_factor applied to an already scaled rotary_dim (GLM-4-0414; "               \
      "vLLM #29966, #30384, #30389)")                                                             \
    X(STYLE_SWAPPED, "style_swapped", "tolerance",                                                \
      "neox (rotate halves) and gptj (interleaved pairs) layouts swapped")                        \
    X(TABLE_HEAD_DIM, "table_for_head_dim", "tolerance",                                          \
      "cos/sin table built with inv_freq over head_dim instead of rotary_dim")                    \
    X(PARTIAL_TABLE_DOWNCAST, "partial_table_downcast", "tolerance",                              \
      "the fp32 cos/sin cache downcast to the activation dtype on the partial-rotary fallback "   \
      "path (sglang #27653)")                                                                     \
    X(ROTARY_DIM_IGNORED, "rotary_dim_ignored", "tolerance",                                      \
      "rotary_dim not passed to the kernel, which defaults it to head_dim: every dim rotates, "   \
      "cos/sin read head_dim/2 apart from a table row rotary_dim wide, past the table's end at "  \
      "its last rows (vLLM #43676)")

enum {
    ROPE_BUG_NONE = 0,
#define X(E, ...) ROPE_BUG_##E,
    ROPE_VARIANTS(X)
#undef X
    ROPE_BUG_COUNT
};

/* ---- uncontracted double arithmetic (fp32: ud_fmul/ud_ffma, numerics/ud_portable.h) ---- */
#ifdef __CUDA_ARCH__
UD_HD double rope_dmul(double a, double b) { return __dmul_rn(a, b); }
UD_HD double rope_dadd(double a, double b) { return __dadd_rn(a, b); }
UD_HD double rope_dsub(double a, double b) { return __dsub_rn(a, b); }
#else
/* ISO C11 compiles with -ffp-contract=off. */
UD_HD double rope_dmul(double a, double b) { return a * b; }
UD_HD double rope_dadd(double a, double b) { return a + b; }
UD_HD double rope_dsub(double a, double b) { return a - b; }
#endif

/* sin and cos of x, 0 <= |x| < 2^21, to within ROPE_SINCOS_REL_ERR relative (tests/
 * test_rope.c checks it against MPFR on random and on the fp32 arguments closest to multiples
 * of pi/2). Cody-Waite reduction r = x - k pi/2 with pi/2 = P1 + P2 + P3: P1 and P2 have 32
 * significant bits, so k P1 and k P2 are exact for k < 2^21 and x - k P1 is exact (Sterbenz);
 * then Taylor polynomials on |r| <= pi/4 (truncation below 2^-60), cos with fdlibm's
 * w = 1 - z/2 correction. */
#define ROPE_SINCOS_REL_ERR 0x1p-50
UD_HD void rope_sincos(double x, double *sn, double *cs)
{
    const double two_over_pi = 0x1.45f306dc9c883p-1;
    const double P1 = 0x1.921fb544p+0, P2 = 0x1.0b4611a6p-34, P3 = 0x1.3198a2e037073p-69;
    /* k = rint(x 2/pi) by the 1.5 * 2^52 trick (ties to even, |x 2/pi| < 2^51): two IEEE
     * additions, the same on both backends and no libm call in the table builder's loop. */
    const double round_magic = 0x1.8p52;
    double k = rope_dsub(rope_dadd(rope_dmul(x, two_over_pi), round_magic), round_magic);
    double r = rope_dsub(rope_dsub(rope_dsub(x, rope_dmul(k, P1)), rope_dmul(k, P2)), rope_dmul(k, P3));
    double z = rope_dmul(r, r);
    /* sin r = r + r z (-1/3! + z (1/5! - ... - z/19!)) */
    double ps = -0x1.2f49b46814157p-57;
    ps = rope_dadd(rope_dmul(ps, z), 0x1.952c77030ad4ap-49);
    ps = rope_dadd(rope_dmul(ps, z), -0x1.ae7f3e733b81fp-41);
    ps = rope_dadd(rope_dmul(ps, z), 0x1.6124613a86d09p-33);
    ps = rope_dadd(rope_dmul(ps, z), -0x1.ae64567f544e4p-26);
    ps = rope_dadd(rope_dmul(ps, z), 0x1.71de3a556c734p-19);
    ps = rope_dadd(rope_dmul(ps, z), -0x1.a01a01a01a01ap-13);
    ps = rope_dadd(rope_dmul(ps, z), 0x1.1111111111111p-7);
    ps = rope_dadd(rope_dmul(ps, z), -0x1.5555555555555p-3);
    double s = rope_dadd(r, rope_dmul(rope_dmul(r, z), ps));
    /* cos r = w + ((1 - w) - z/2) + z^2 (1/4! - z/6! + ... - z^7/18!), w = 1 - z/2 */
    double pc = -0x1.6827863b97d97p-53;
    pc = rope_dadd(rope_dmul(pc, z), 0x1.ae7f3e733b81fp-45);
    pc = rope_dadd(rope_dmul(pc, z), -0x1.93974a8c07c9dp-37);
    pc = rope_dadd(rope_dmul(pc, z), 0x1.1eed8eff8d898p-29);
    pc = rope_dadd(rope_dmul(pc, z), -0x1.27e4fb7789f5cp-22);
    pc = rope_dadd(rope_dmul(pc, z), 0x1.a01a01a01a01ap-16);
    pc = rope_dadd(rope_dmul(pc, z), -0x1.6c16c16c16c17p-10);
    pc = rope_dadd(rope_dmul(pc, z), 0x1.5555555555555p-5);
    double hz = rope_dmul(0.5, z), w = rope_dsub(1.0, hz);
    double c = rope_dadd(w, rope_dadd(rope_dsub(rope_dsub(1.0, w), hz), rope_dmul(rope_dmul(z, z), pc)));
    switch ((int)((long long)k & 3)) {
    case 0: *sn = s; *cs = c; break;
    case 1: *sn = c; *cs = -s; break;
    case 2: *sn = -s; *cs = -c; break;
    default: *sn = -c; *cs = s; break;
    }
}

/* ---- the cos/sin table ---- */
typedef struct {
    int rotary_dim;          /* columns: rotary_dim/2 cos, then rotary_dim/2 sin */
    int freq_dim;            /* d in inv_freq_i = 1/base^(2i/d): rotary_dim (the spec) */
    double base;             /* rope_theta */
    int64_t max_position;    /* rows */
    int style;               /* ROPE_NEOX/GPTJ: part of a cache key; the layout ignores it */
    int dt;                  /* table dtype, UD_DT_* */
} rope_table_spec;

/* NaN rows after a table of rows `cols` wide, enough for a kernel that reads a head_dim-wide
 * row from the last position (the rotary_dim_ignored class): cols * guard >= head_dim. */
#define ROPE_GUARD_ROWS(head_dim, cols) (((head_dim) + (cols) - 1) / (cols))

/* A table cache keys on every field above plus the device; the cache variants of rope
 * (harness/ops/rope.c, rope_cached.c) leave one out of the key: */
enum { ROPE_KEY_OMITS_BASE = 1, ROPE_KEY_OMITS_ROTARY_DIM = 2 };

typedef struct { float inv[ROPE_MAX_PAIRS]; } rope_freqs;

/* Row p, pair i of the table, as the fp32 values the table stores after rounding to dt. */
UD_HD void rope_table_entry(int dt, float inv, int64_t p, float *c, float *s)
{
    float theta = ud_fmul((float)p, inv);   /* p < 2^24: exact in fp32 */
    double sn, cs;
    rope_sincos((double)theta, &sn, &cs);
    *c = ud_round_f32(dt, (float)cs);
    *s = ud_round_f32(dt, (float)sn);
}

/* How far a table entry may lie from the exact cos/sin before its rounding to the table
 * dtype T: the builder rounds rope_sincos's double to fp32 first (HF's fp32 cos, then the
 * cast), 2^-24 relative, plus rope_sincos's 2^-50, with room to spare. When the exact value is
 * within this distance of a rounding boundary of T, either neighbour is a correct table entry
 * (the reference's two candidates). */
#define ROPE_TABLE_MARGIN (0x1p-24 + 0x1p-48)

/* The kernel's error bound in units of u = 2^-24 times s = |x1 cos| + |x2 sin| (docs/ops/
 * rope.md): partner * sin rounds once (<= u |x2 sin|), the fma once (<= u (|x1 cos| +
 * |x2 sin|)(1 + u)), and an fp32 table adds its own rounding (RN_32 of a double within 2^-50:
 * <= (1 + 2^-26) u s, against exact cos and sin in the reference); 3 u plus 2^-26 u and the
 * second-order terms (< 4 u^2): 3.25. A table in the activation dtype holds exactly the
 * reference's candidates, so its entries add nothing (2 u). */
#define ROPE_BOUND_U 3.25

/* ---- the rotation ---- */

/* For dim d < rotary_dim of a head: returns the pair index i; *partner is the other dim of the
 * pair and *first says whether d is the pair's first element (x1). */
UD_HD int rope_pair(int style, int rotary_dim, int d, int *partner, int *first)
{
    int half = rotary_dim / 2;
    if (style == ROPE_NEOX) {
        *first = d < half;
        *partner = *first ? d + half : d - half;
        return *first ? d : d - half;
    }
    *first = (d & 1) == 0;
    *partner = d ^ 1;
    return d >> 1;
}

/* first: x1 cos - x2 sin (self = x1); second: x2 cos + x1 sin (self = x2). Two roundings in
 * fp32 (the product partner * sin, then one fma), then the caller's one rounding to T. */
UD_HD float rope_rotate(float self, float partner, float c, float s, int first)
{
    float ps = ud_fmul(partner, s);
    return ud_ffma(self, c, first ? -ps : ps);
}

/* ---- configuration, launchers (gpu/rope.c: cpu backend and host helpers; gpu/rope.cu) ---- */
typedef struct {
    int head_dim;
    double factor;           /* partial_rotary_factor */
    double base;
    int64_t max_position;
    int style;
    int table_dt;            /* UD_DT_* */
    int act_dt;              /* UD_DT_* of q and k (a known-bug variant casts the table to it) */
} rope_config;

typedef struct {
    int dt;                  /* q, k and outputs: UD_DT_* */
    int style;               /* the pairing the kernel uses */
    int64_t tokens, q_heads, kv_heads, head_dim;
    int rotary_dim;          /* dims [0, rotary_dim) rotate; cos at row[i], sin at row[rotary_dim/2 + i] */
    const void *q, *k;       /* [tokens, heads, head_dim] */
    const int32_t *pos;      /* [tokens] */
    const void *table;       /* [max_position, table_cols] in tdt */
    int table_cols;          /* the table's row stride in elements; 0: rotary_dim (production:
                              * always the table's own width, which rotary_dim equals) */
    int tdt;
    int64_t max_position;
    void *q_out, *k_out;
} rope_args;

#ifdef __cplusplus
extern "C" {
#endif
/* HF's rotary_dim = int(head_dim * factor); 0 when it is not an even number in [2, head_dim]. */
int rope_rotary_dim(int head_dim, double factor);
/* The kernel's configuration (table spec, rotary_dim, style) for a model's; bug != 0 applies
 * a known-bug variant (ROPE_BUG_*) the way the engines did. The kernel's row stride is the
 * table's width, t->rotary_dim; its rotation width *rotary_dim equals it except under
 * ROPE_BUG_ROTARY_DIM_IGNORED (head_dim). */
int rope_setup(const rope_config *m, int bug, rope_table_spec *t, int *rotary_dim, int *style);
/* inv_freq as the spec computes it, on the host (rope.c). */
int rope_inv_freq(const rope_table_spec *t, rope_freqs *f);
size_t rope_table_bytes(const rope_table_spec *t);
int rope_table_build_cpu(const rope_table_spec *t, void *table);
int rope_table_build_cuda(const rope_table_spec *t, void *dev_table);   /* asynchronous */
/* Number of positions outside [0, max_position); the first one is described in msg. */
int64_t rope_bad_positions(const int32_t *pos, int64_t tokens, int64_t max_position, char *msg, size_t n);
/* Apply; UD_EUSAGE when a position is outside the table (those tokens are skipped). */
int rope_cpu(const rope_args *a);
/* Device pointers; asynchronous; tokens with a bad position are skipped (never read out of
 * the table). The caller checks positions on the host (rope_bad_positions) to report them. */
int rope_cuda(const rope_args *a);
#ifdef __cplusplus
}
#endif

#endif
