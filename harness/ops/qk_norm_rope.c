/* ops/qk_norm_rope.c — registry entry for the fused per-head QK RMSNorm + partial RoPE (Qwen3 /
 * GLM-4.5 attention): q [tokens, q_heads, head_dim] and k [tokens, kv_heads, head_dim], each
 * head normalised over head_dim with its own weight (q_weight, k_weight [head_dim]), then
 * rotated by positions [tokens] through the cos/sin table (cos_sin_cache [max_position,
 * rotary_dim], vLLM's layout, built by rope's builder, then ROPE_GUARD_ROWS rows of NaN that no
 * correct kernel reads). Spec, rounding points and budgets: docs/ops/qk_norm_rope.md.
 * Reference: reference/qk_norm_rope.c. Kernel body: gpu/qk_norm_rope.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/qk_norm_rope.h"
#include "gpu/rope.h"
#include "spec/qk_norm_rope.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const styles[] = {"neox", "gptj", NULL};                /* ROPE_NEOX/GPTJ */
static const char *const specs[] = {"hf", "fused", NULL};                  /* QKR_SPEC_* */
static const char *const positions[] = {"edges", "uniform", "sequential", "out_of_table", NULL};
static const char *const tables[] = {"fp32", "model", NULL};

enum { POS_EDGES, POS_UNIFORM, POS_SEQUENTIAL, POS_OUT_OF_TABLE };
enum { TABLE_FP32, TABLE_MODEL };

enum {
    P_DTYPE, P_TOKENS, P_QHEADS, P_KVHEADS, P_HEAD_DIM, P_FACTOR, P_STYLE, P_SPEC, P_BASE, P_EPS, P_MAXPOS,
    P_POSITIONS, P_TABLE, P_VALUES, P_SCALE, P_COUNT
};

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "q, k, weights and output dtype", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "1, 17", "tokens (rows of q and k, entries of positions)", NULL, 1, 1 << 20},
    [P_QHEADS] = {"q_heads", UD_P_INT, "8", "query heads", NULL, 1, 1024},
    [P_KVHEADS] = {"kv_heads", UD_P_INT, "2", "key heads (grouped-query attention: fewer than q_heads)", NULL, 1, 1024},
    [P_HEAD_DIM] = {"head_dim", UD_P_INT, "64, 128, 256", "head size: 64, 128 or 256 (the fused engines' set)",
                    NULL, 64, QKR_MAX_HEAD_DIM},
    [P_FACTOR] = {"factor", UD_P_REAL, "1, 0.5, 0.25",
                  "partial_rotary_factor: rotary_dim = int(head_dim * factor), a multiple of 16", NULL, 1e-6, 1.0},
    [P_STYLE] = {"style", UD_P_CHOICE, "neox, gptj", "neox: rotate halves of the rotary part; gptj: interleaved pairs",
                 styles, 0, 0},
    [P_SPEC] = {"spec", UD_P_CHOICE, "hf, fused",
                "hf: round n, then w * n, to dtype before the rotation (HF Qwen3RMSNorm; vLLM's unfused q_norm + "
                "rotary_embedding); fused: n * w in fp32 into the rotation (the fused engines' kernels)", specs, 0, 0},
    [P_BASE] = {"base", UD_P_REAL, "1e6", "rope_theta", NULL, 1.0001, 1e12},
    [P_EPS] = {"eps", UD_P_REAL, "1e-6", "RMSNorm epsilon (added in fp32)", NULL, 1e-12, 1.0},
    [P_MAXPOS] = {"max_position", UD_P_INT, "4096", "rows of the cos/sin table (max_position_embeddings)", NULL, 1,
                  (double)ROPE_MAX_POSITION},
    [P_POSITIONS] = {"positions", UD_P_CHOICE, "edges",
                     "edges: max_position-1, 0, 1, max/2, then uniform; uniform; sequential (prefill from 0); "
                     "out_of_table: a position = max_position and one = -1 (must be reported as an error)",
                     positions, 0, 0},
    [P_TABLE] = {"table", UD_P_CHOICE, "fp32, model", "cos/sin table dtype: fp32, or the model dtype", tables, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal", "generator for q and k", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of generated q and k", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"q", "k", "q_weight", "k_weight", "positions", "cos_sin_cache", NULL};
static const char *const outputs[] = {"q_out", "k_out", NULL};
enum { IN_Q, IN_K, IN_QW, IN_KW, IN_POS, IN_TABLE };

static ud_dtype dtype_of(const ud_case *c) { return (ud_dtype)c->p[P_DTYPE].i; }
static ud_dtype table_dtype(const ud_case *c) { return c->p[P_TABLE].i == TABLE_FP32 ? UD_F32 : dtype_of(c); }
static int rotary_dim_of(const ud_case *c) { return rope_rotary_dim((int)c->p[P_HEAD_DIM].i, c->p[P_FACTOR].d); }

/* The table, as rope's builder makes it for this model (rope's production configuration: the
 * operator's variants are the kernel's, not the table's). */
static int table_spec(const ud_case *c, rope_table_spec *ts)
{
    rope_config m;
    memset(&m, 0, sizeof m);
    m.head_dim = (int)c->p[P_HEAD_DIM].i;
    m.factor = c->p[P_FACTOR].d;
    m.base = c->p[P_BASE].d;
    m.max_position = c->p[P_MAXPOS].i;
    m.style = (int)c->p[P_STYLE].i;
    m.table_dt = (int)table_dtype(c);
    m.act_dt = (int)dtype_of(c);
    int rd, style;
    return rope_setup(&m, ROPE_BUG_NONE, ts, &rd, &style);
}

static int validate(const ud_case *c, char *msg, size_t n)
{
    int hd = (int)c->p[P_HEAD_DIM].i, rd = rotary_dim_of(c);
    if (hd != 64 && hd != 128 && hd != 256) {
        snprintf(msg, n, "head_dim %d: the fused kernel takes 64, 128 or 256", hd);
        return -1;
    }
    if (!rd || rd % 16) {
        snprintf(msg, n, "rotary_dim = int(head_dim %d * factor %g) = %d must be a positive multiple of 16 (try factor "
                 "%g)", hd, c->p[P_FACTOR].d, rd, 0.25);
        return -1;
    }
    double table = (double)(c->p[P_MAXPOS].i + ROPE_GUARD_ROWS(hd, rd)) * rd * ud_format(table_dtype(c))->size;
    if (table > 2147483648.0) {
        snprintf(msg, n, "the cos/sin table (max_position %lld x rotary_dim %d) would take %.3g GB; the limit is 2 GiB",
                 (long long)c->p[P_MAXPOS].i, rd, table / 1e9);
        return -1;
    }
    return 0;
}

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    ud_dtype dt = dtype_of(c);
    int64_t T = c->p[P_TOKENS].i, hd = c->p[P_HEAD_DIM].i, rd = rotary_dim_of(c);
    int64_t qs[3] = {T, c->p[P_QHEADS].i, hd}, ks[3] = {T, c->p[P_KVHEADS].i, hd}, ws[1] = {hd}, ps[1] = {T};
    int64_t tshape[2] = {c->p[P_MAXPOS].i + ROPE_GUARD_ROWS(hd, rd), rd};
    UD_TRY(ud_tensor_shape(&in[IN_Q], "q", dt, 3, qs));
    UD_TRY(ud_tensor_shape(&in[IN_K], "k", dt, 3, ks));
    UD_TRY(ud_tensor_shape(&in[IN_QW], "q_weight", dt, 1, ws));
    UD_TRY(ud_tensor_shape(&in[IN_KW], "k_weight", dt, 1, ws));
    UD_TRY(ud_tensor_shape(&in[IN_POS], "positions", UD_I32, 1, ps));
    UD_TRY(ud_tensor_shape(&in[IN_TABLE], "cos_sin_cache", table_dtype(c), 2, tshape));
    UD_TRY(ud_tensor_shape(&out[0], "q_out", dt, 3, qs));
    UD_TRY(ud_tensor_shape(&out[1], "k_out", dt, 3, ks));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_kind g = (ud_gen_kind)c->p[P_VALUES].i;
    int64_t hd = c->p[P_HEAD_DIM].i, T = c->p[P_TOKENS].i, maxp = c->p[P_MAXPOS].i;
    ud_gen_fill(&in[IN_Q], g, c->seed, 1, hd, c->p[P_SCALE].d);
    ud_gen_fill(&in[IN_K], g, c->seed, 2, hd, c->p[P_SCALE].d);
    /* Trained q_norm / k_norm weights sit near 1; kept within 1 of it (the underflow
     * allowance in budget() relies on |w| <= 2). q and k get different weights. */
    for (int k = 0; k < 2; k++) {
        ud_tensor *w = &in[k ? IN_KW : IN_QW];
        for (size_t i = 0; i < w->numel; i++) {
            double d = 0.25 * ud_gen_normal(c->seed, 3 + (uint64_t)k, i);
            ud_set(w->dtype, w->host, i, 1.0 + (d > 1.0 ? 1.0 : d < -1.0 ? -1.0 : d));
        }
    }
    int32_t *pos = in[IN_POS].host;
    const int64_t edges[] = {maxp - 1, 0, 1, maxp / 2};
    for (int64_t t = 0; t < T; t++) {
        int64_t p = (int64_t)(ud_rng_u64(c->seed, 5, (uint64_t)t) % (uint64_t)maxp);
        switch (c->p[P_POSITIONS].i) {
        case POS_EDGES:
            if (t < 4) p = edges[t];
            break;
        case POS_SEQUENTIAL: p = t % maxp; break;
        case POS_OUT_OF_TABLE:
            if (t == T / 2) p = maxp;
            else if (T > 2 && t == T - 1) p = -1;
            break;
        default: break;
        }
        pos[t] = (int32_t)p;
    }
    rope_table_spec ts;
    UD_TRY(table_spec(c, &ts));
    ud_tensor *tab = &in[IN_TABLE];
    UD_TRY(rope_table_build_cpu(&ts, tab->host));
    for (size_t i = (size_t)(ts.max_position * ts.rotary_dim); i < tab->numel; i++) ud_set(tab->dtype, tab->host, i, NAN);
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ud_dtype dt = dtype_of(c);
    ref_qkr_args a;
    memset(&a, 0, sizeof a);
    a.dt = dt;
    a.tdt = table_dtype(c);
    a.spec = (int)c->p[P_SPEC].i;
    a.style = (int)c->p[P_STYLE].i;
    a.tokens = c->p[P_TOKENS].i;
    a.q_heads = c->p[P_QHEADS].i;
    a.kv_heads = c->p[P_KVHEADS].i;
    a.head_dim = c->p[P_HEAD_DIM].i;
    a.rotary_dim = rotary_dim_of(c);
    a.base = c->p[P_BASE].d;
    a.eps32 = (double)(float)c->p[P_EPS].d;
    /* The kernel's bounds (docs/ops/qk_norm_rope.md): n within qkr_bound_u u (plus the fast
     * reference's 2^-48 for the candidate margin), y = n * w one more rounding, the rotation
     * rope's bound, the table producer rope's margin. */
    double k_n = qkr_bound_u((int)dt, a.head_dim);
    a.margin_rel = k_n * 0x1p-24 + 0x1p-48;
    a.y_bound_u = k_n + 1.0;
    a.bound_u = ROPE_BOUND_U;
    a.table_margin = ROPE_TABLE_MARGIN;
    a.q = in[IN_Q].host;
    a.k = in[IN_K].host;
    a.q_w = in[IN_QW].host;
    a.k_w = in[IN_KW].host;
    a.pos = in[IN_POS].host;
    return ref_qk_norm_rope(&a, &ref[0], &ref[1], exact_mpfr);
}

static qkr_args kernel_args(const ud_case *c, int bug, ud_tensor *in, ud_tensor *out, int dev)
{
    qkr_args a;
    memset(&a, 0, sizeof a);
    int rd = rotary_dim_of(c);
    a.dt = (int)dtype_of(c);
    a.spec = (int)c->p[P_SPEC].i;
    a.style = (int)c->p[P_STYLE].i;
    a.tokens = c->p[P_TOKENS].i;
    a.q_heads = c->p[P_QHEADS].i;
    a.kv_heads = c->p[P_KVHEADS].i;
    a.head_dim = c->p[P_HEAD_DIM].i;
    /* vLLM #43676: rotary_dim not passed, the kernel's default head_dim used; the table stays
     * the model's, rotary_dim wide. */
    a.rotary_dim = bug == QKR_BUG_ROTARY_DIM_IGNORED ? (int)a.head_dim : rd;
    a.table_cols = rd;
    a.eps = (float)c->p[P_EPS].d;
    a.q = ud_buf(&in[IN_Q], dev);
    a.k = ud_buf(&in[IN_K], dev);
    a.q_w = ud_buf(&in[IN_QW], dev);
    a.k_w = ud_buf(&in[IN_KW], dev);
    a.pos = ud_buf(&in[IN_POS], dev);
    a.table = ud_buf(&in[IN_TABLE], dev);
    a.tdt = (int)table_dtype(c);
    a.max_position = c->p[P_MAXPOS].i;
    a.q_out = ud_buf(&out[0], dev);
    a.k_out = ud_buf(&out[1], dev);
    return a;
}

static int run_cpu(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    int bug = ud_op_bug(c->op, mutant);
    qkr_args a = kernel_args(c, bug, in, out, 0);
    return qk_norm_rope_cpu(&a, bug);
}

#ifdef UD_HAVE_CUDA
static int run_cuda(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    int bug = ud_op_bug(c->op, mutant);
    qkr_args a = kernel_args(c, bug, in, out, 1);
    UD_TRY(qk_norm_rope_cuda(&a, bug));
    /* The kernel skips tokens whose position is outside the table; say so from the host copy. */
    char msg[200];
    int64_t bad = rope_bad_positions(in[IN_POS].host, a.tokens, a.max_position, msg, sizeof msg);
    if (bad) {
        ud_error("qk_norm_rope: %s (%lld such tokens; their outputs are not written)", msg, (long long)bad);
        return UD_EUSAGE;
    }
    return UD_OK;
}
#define RUN_CUDA run_cuda
#else
#define RUN_CUDA NULL
#endif

/* s holds the whole documented bound in units of u_w (spec/qk_norm_rope.h): scaled 1. abs: n =
 * x * inv may round in fp32's subnormal range (2^-150), times |w| <= 2, y = n * w once more
 * (2^-150): 3 * 2^-150 per y; the rotation adds |c| + |s| <= 2 of two such errors, then the
 * product partner * sin and the fma (2^-150 each): 8 * 2^-150 = 2^-147. */
static ud_budget budget(const ud_case *c, int k)
{
    (void)c;
    (void)k;
    ud_budget b = {.ulp = 0.5, .scaled = 1.0, .u_w = 0x1p-24, .abs = 0x1p-147};
    return b;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    int64_t hd = c->p[P_HEAD_DIM].i, heads = k == 0 ? c->p[P_QHEADS].i : c->p[P_KVHEADS].i;
    int rd = rotary_dim_of(c), d = (int)(i % (size_t)hd);
    int64_t t = (int64_t)(i / (size_t)(hd * heads));
    const int32_t *pos = in[IN_POS].host;
    const ud_tensor *x = &in[k ? IN_K : IN_Q], *w = &in[k ? IN_KW : IN_QW];
    double xv = ud_get(x->dtype, x->host, i), wv = ud_get(w->dtype, w->host, (size_t)d);
    if (d >= rd) {
        snprintf(buf, n, "position %d, dim %d >= rotary_dim %d (normalised, not rotated), x=%a (%.9g) w=%a", (int)pos[t],
                 d, rd, xv, xv, wv);
        return;
    }
    int partner, first;
    int pair = rope_pair((int)c->p[P_STYLE].i, rd, d, &partner, &first);
    double xp = ud_get(x->dtype, x->host, i - (size_t)d + (size_t)partner);
    snprintf(buf, n, "position %d, pair %d of rotary_dim %d (%s), x[%d]=%a (%.9g) x[%d]=%a (%.9g) w[%d]=%a", (int)pos[t],
             pair, rd, first ? "x1" : "x2", d, xv, xv, partner, xp, xp, d, wv);
}

/* The padding tokens of a CUDA-graph batch (padding = N; harness/cases/padding.h): their
 * positions are what the positions buffer held from an earlier step, positions of the table
 * (the padded rows are computed, so an index outside it would fault). */
static int pad_inputs(const ud_case *padded, int64_t valid, ud_tensor *in)
{
    int32_t *pos = in[IN_POS].host;
    for (int64_t t = valid; t < padded->p[P_TOKENS].i; t++)
        pos[t] = (int32_t)(ud_rng_u64(padded->seed, 6, (uint64_t)t) % (uint64_t)padded->p[P_MAXPOS].i);
    return UD_OK;
}

#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(QKR_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {QKR_VARIANTS(V)};

UD_OPERATOR(qk_norm_rope) = {
    .name = "qk_norm_rope",
    .summary = "per head: y = RMSNorm(x) * w over head_dim (hf: RN(RN(n) * w); fused: fp32), then partial RoPE "
               "of y  [Qwen3/GLM-4.5, vLLM/TRT-LLM fused_qk_norm_rope]",
    .doc = "docs/ops/qk_norm_rope.md",
    .params = params,
    .nparams = P_COUNT,
    .inputs = inputs,
    .outputs = outputs,
    .validate = validate,
    .shapes = shapes,
    .generate = generate,
    .reference = reference,
    .run_cpu = run_cpu,
    .run_cuda = RUN_CUDA,
    .budget = budget,
    .describe = describe,
    .mutants = mutants,
    .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 q_heads=32 kv_heads=8 head_dim=128 factor=1 style=neox spec=fused base=1000000 "
             "max_position=40960 positions=uniform table=fp32 values=normal",
    .bitwise_backends = 1,
    .token_param = "tokens",
    .pad_inputs = pad_inputs,
};
