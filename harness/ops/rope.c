/* ops/rope.c — registry entry for partial RoPE: q [tokens, q_heads, head_dim] and
 * k [tokens, kv_heads, head_dim] rotated by positions [tokens] through a cos/sin table
 * (cos_sin_cache [max_position, rotary_dim], vLLM's layout, then ROPE_GUARD_ROWS rows of NaN
 * that no correct kernel reads). Spec, rounding points and the budget derivation:
 * docs/ops/rope.md. Reference: reference/rope.c. Kernel body and table
 * builder: gpu/rope.h.
 *
 * The table is an input of the kernel, as in vLLM's rotary_embedding(positions, q, k,
 * head_size, cos_sin_cache, is_neox): generate() builds it once from the model's config with
 * rope_table_build_cpu (a known-bug variant builds it the way that bug did), and the
 * reference never reads it — it recomputes every angle from the spec. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gpu/rope.h"
#include "spec/rope.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/kit.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"

static const char *const dtypes[] = {"bf16", "fp16", "fp32", NULL};
static const char *const styles[] = {"neox", "gptj", NULL};                       /* ROPE_NEOX/GPTJ */
static const char *const positions[] = {"edges", "uniform", "sequential", "out_of_table", NULL};
static const char *const tables[] = {"fp32", "model", NULL};
static const char *const angles[] = {"fp32", "exact", NULL};

enum { POS_EDGES, POS_UNIFORM, POS_SEQUENTIAL, POS_OUT_OF_TABLE };
enum { TABLE_FP32, TABLE_MODEL };
enum { ANGLES_FP32, ANGLES_EXACT };

enum {
    P_DTYPE, P_TOKENS, P_QHEADS, P_KVHEADS, P_HEAD_DIM, P_FACTOR, P_STYLE, P_BASE, P_MAXPOS,
    P_POSITIONS, P_TABLE, P_ANGLES, P_VALUES, P_SCALE, P_COUNT
};

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "bf16, fp16, fp32", "q, k and output dtype", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "17", "tokens (rows of q and k, entries of positions)", NULL, 1, 1 << 20},
    [P_QHEADS] = {"q_heads", UD_P_INT, "8", "query heads", NULL, 1, 1024},
    [P_KVHEADS] = {"kv_heads", UD_P_INT, "2", "key heads (grouped-query attention: fewer than q_heads)", NULL, 1, 1024},
    [P_HEAD_DIM] = {"head_dim", UD_P_INT, "64, 128, 256", "head size", NULL, 2, ROPE_MAX_HEAD_DIM},
    [P_FACTOR] = {"factor", UD_P_REAL, "1, 0.5, 0.25",
                  "partial_rotary_factor: rotary_dim = int(head_dim * factor) must be even", NULL, 1e-6, 1.0},
    [P_STYLE] = {"style", UD_P_CHOICE, "neox, gptj", "neox: rotate halves of the rotary part; gptj: "
                 "interleaved pairs", styles, 0, 0},
    [P_BASE] = {"base", UD_P_REAL, "1e4, 1e6", "rope_theta", NULL, 1.0001, 1e12},
    [P_MAXPOS] = {"max_position", UD_P_INT, "4096", "rows of the cos/sin table (max_position_embeddings)",
                  NULL, 1, (double)ROPE_MAX_POSITION},
    [P_POSITIONS] = {"positions", UD_P_CHOICE, "edges",
                     "edges: max_position-1, 0, 1e6 (when in the table), 1, max/2, then uniform; uniform; "
                     "sequential (prefill); out_of_table: a position = max_position and one = -1 "
                     "(must be reported as an error)", positions, 0, 0},
    [P_TABLE] = {"table", UD_P_CHOICE, "fp32, model", "cos/sin table dtype: fp32 (FlashInfer, as sglang uses "
                 "it), or the model dtype (vLLM's cache.to(dtype); HF casts cos and sin to the activation dtype)",
                 tables, 0, 0},
    [P_ANGLES] = {"angles", UD_P_CHOICE, "fp32", "fp32: the spec (HF's fp32 inv_freq and angle); exact: "
                  "measure against exact angles (documented bound, not a spec)", angles, 0, 0},
    [P_VALUES] = {"values", UD_P_CHOICE, "normal", "generator for q and k", ud_gen_names, 0, 0},
    [P_SCALE] = {"scale", UD_P_REAL, "1", "magnitude of generated q and k", NULL, 1e-30, 1e30},
};

static const char *const inputs[] = {"q", "k", "positions", "cos_sin_cache", NULL};
static const char *const outputs[] = {"q_out", "k_out", NULL};

static ud_dtype dtype_of(const ud_case *c) { return (ud_dtype)c->p[P_DTYPE].i; }
static ud_dtype table_dtype(const ud_case *c) { return c->p[P_TABLE].i == TABLE_FP32 ? UD_F32 : dtype_of(c); }

static rope_config config_of(const ud_case *c)
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
    return m;
}

/* Mutant index (1-based) -> ROPE_BUG_* */
static int validate(const ud_case *c, char *msg, size_t n)
{
    int hd = (int)c->p[P_HEAD_DIM].i;
    int rd = rope_rotary_dim(hd, c->p[P_FACTOR].d);
    if (!rd) {
        snprintf(msg, n, "rotary_dim = int(head_dim %d * factor %g) must be an even number >= 2 (try factor %g)",
                 hd, c->p[P_FACTOR].d, hd >= 4 ? 0.5 : 1.0);
        return -1;
    }
    double table = (double)c->p[P_MAXPOS].i * rd * ud_format(table_dtype(c))->size;
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
    int64_t T = c->p[P_TOKENS].i, hd = c->p[P_HEAD_DIM].i;
    int64_t qs[3] = {T, c->p[P_QHEADS].i, hd}, ks[3] = {T, c->p[P_KVHEADS].i, hd}, ps[1] = {T};
    rope_config m = config_of(c);
    rope_table_spec ts;
    int rd, style;
    UD_TRY(rope_setup(&m, ud_case_bug(c), &ts, &rd, &style));
    /* The table as the engine (or a known-bug variant's engine) built it, then guard rows of
     * NaN (gpu/rope.h ROPE_GUARD_ROWS): a kernel reading past the last row reads NaN. */
    int64_t tshape[2] = {ts.max_position + ROPE_GUARD_ROWS(hd, ts.rotary_dim), ts.rotary_dim};
    UD_TRY(ud_tensor_shape(&in[0], "q", dt, 3, qs));
    UD_TRY(ud_tensor_shape(&in[1], "k", dt, 3, ks));
    UD_TRY(ud_tensor_shape(&in[2], "positions", UD_I32, 1, ps));
    UD_TRY(ud_tensor_shape(&in[3], "cos_sin_cache", (ud_dtype)ts.dt, 2, tshape));
    UD_TRY(ud_tensor_shape(&out[0], "q_out", dt, 3, qs));
    UD_TRY(ud_tensor_shape(&out[1], "k_out", dt, 3, ks));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_kind g = (ud_gen_kind)c->p[P_VALUES].i;
    int64_t hd = c->p[P_HEAD_DIM].i, T = c->p[P_TOKENS].i, maxp = c->p[P_MAXPOS].i;
    ud_gen_fill(&in[0], g, c->seed, 1, hd, c->p[P_SCALE].d);
    ud_gen_fill(&in[1], g, c->seed, 2, hd, c->p[P_SCALE].d);
    int32_t *pos = in[2].host;
    const int64_t edges[] = {maxp - 1, 0, 1000000, 1, maxp / 2};
    int ne = 0;
    for (int64_t t = 0; t < T; t++) {
        int64_t p = (int64_t)(ud_rng_u64(c->seed, 5, (uint64_t)t) % (uint64_t)maxp);
        switch (c->p[P_POSITIONS].i) {
        case POS_EDGES:
            while (ne < 5 && edges[ne] >= maxp) ne++;   /* 1e6 only when the table has it */
            if (ne < 5) p = edges[ne++];
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
    /* The table, as the engine (or the known-bug variant's engine) builds it. */
    rope_config m = config_of(c);
    rope_table_spec ts;
    int rd, style;
    UD_TRY(rope_setup(&m, ud_case_bug(c), &ts, &rd, &style));
    UD_TRY(rope_table_build_cpu(&ts, in[3].host));
    for (size_t i = (size_t)(ts.max_position * ts.rotary_dim); i < in[3].numel; i++) ud_set(in[3].dtype, in[3].host, i, NAN);
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    ref_rope_args a;
    memset(&a, 0, sizeof a);
    a.dt = dtype_of(c);
    a.tdt = table_dtype(c);
    a.style = (int)c->p[P_STYLE].i;
    a.tokens = c->p[P_TOKENS].i;
    a.q_heads = c->p[P_QHEADS].i;
    a.kv_heads = c->p[P_KVHEADS].i;
    a.head_dim = c->p[P_HEAD_DIM].i;
    a.rotary_dim = rope_rotary_dim((int)a.head_dim, c->p[P_FACTOR].d);
    a.base = c->p[P_BASE].d;
    a.exact_angles = c->p[P_ANGLES].i == ANGLES_EXACT;
    a.bound_u = ROPE_BOUND_U;
    a.table_margin = ROPE_TABLE_MARGIN;   /* the table builder's error before its rounding to T */
    a.q = in[0].host;
    a.k = in[1].host;
    a.pos = in[2].host;
    return ref_rope(&a, &ref[0], &ref[1], exact_mpfr);
}

static int kernel_args(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out, int dev, rope_args *a)
{
    rope_config m = config_of(c);
    rope_table_spec ts;
    int rd, style;
    UD_TRY(rope_setup(&m, ud_op_bug(c->op, mutant), &ts, &rd, &style));
    memset(a, 0, sizeof *a);
    a->dt = (int)dtype_of(c);
    a->style = style;
    a->tokens = c->p[P_TOKENS].i;
    a->q_heads = c->p[P_QHEADS].i;
    a->kv_heads = c->p[P_KVHEADS].i;
    a->head_dim = c->p[P_HEAD_DIM].i;
    a->rotary_dim = rd;
    a->q = dev ? in[0].dev : in[0].host;
    a->k = dev ? in[1].dev : in[1].host;
    a->pos = dev ? in[2].dev : in[2].host;
    a->table = dev ? in[3].dev : in[3].host;
    a->table_cols = ts.rotary_dim;
    a->tdt = ts.dt;
    a->max_position = ts.max_position;
    a->q_out = dev ? out[0].dev : out[0].host;
    a->k_out = dev ? out[1].dev : out[1].host;
    return UD_OK;
}

static int run_cpu(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    rope_args a;
    UD_TRY(kernel_args(c, mutant, in, out, 0, &a));
    return rope_cpu(&a);
}

#ifdef UD_HAVE_CUDA
static int run_cuda(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    rope_args a;
    UD_TRY(kernel_args(c, mutant, in, out, 1, &a));
    UD_TRY(rope_cuda(&a));
    /* The kernel skips tokens whose position is outside the table; say so here (the host
     * holds the same positions) rather than after a synchronising flag read-back. */
    char msg[200];
    int64_t bad = rope_bad_positions(in[2].host, a.tokens, a.max_position, msg, sizeof msg);
    if (bad) {
        ud_error("rope: %s (%lld such tokens; their outputs are not written)", msg, (long long)bad);
        return UD_EUSAGE;
    }
    return UD_OK;
}
#define RUN_CUDA run_cuda
#else
#define RUN_CUDA NULL
#endif

static ud_budget budget(const ud_case *c, int k)
{
    (void)k;
    /* fp32 angles: 0.5 ulp of the one rounding to T plus ROPE_BOUND_U u_w s (docs/ops/rope.md).
     * exact angles: s already holds the whole documented bound in units of u_w. abs: the
     * product partner * sin and the fma can each round in fp32's subnormal range (2 * 2^-150). */
    ud_budget b = {.ulp = 0.5, .scaled = ROPE_BOUND_U, .u_w = 0x1p-24, .abs = 0x1p-148};
    if (c->p[P_ANGLES].i == ANGLES_EXACT) b.scaled = 1.0;
    return b;
}

/* Pass-through dims must be the input's bits exactly (NaN payloads, -0): the comparison's
 * half-ulp rule would accept the neighbour below a power of two, so check the bits here. In
 * angles = exact also report the largest fp32-angle error the case met. */
static int extra(const ud_case *c, const ud_tensor *in, const ud_tensor *out, const ud_ref *ref, ud_result *res)
{
    (void)ref;
    int64_t hd = c->p[P_HEAD_DIM].i;
    int rd = rope_rotary_dim((int)hd, c->p[P_FACTOR].d);
    size_t mismatches = 0;
    for (int k = 0; k < 2; k++) {
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < out[k].numel; i++) {
            if ((int64_t)(i % (size_t)hd) < rd) continue;
            if (ud_get_bits(out[k].dtype, out[k].host, i) != ud_get_bits(in[k].dtype, in[k].host, i) && !bad++) first = i;
        }
        if (bad) {
            char at[64];
            ud_tensor_coords(&out[k], first, at, sizeof at);
            ud_result_add_finding(res, UD_F_TOLERANCE,
                                  "%s: %zu pass-through elements (dims >= rotary_dim %d) differ from the input's bits; "
                                  "first at %s: got 0x%llx, input 0x%llx", out[k].name, bad, rd, at,
                                  (unsigned long long)ud_get_bits(out[k].dtype, out[k].host, first),
                                  (unsigned long long)ud_get_bits(in[k].dtype, in[k].host, first));
        }
        mismatches += bad;
    }
    if (res->nmetrics < UD_MAX_METRICS && hd > rd) {
        ud_metric *m = &res->metrics[res->nmetrics++];
        snprintf(m->name, sizeof m->name, "passthrough_bits_differing");
        m->value = (double)mismatches;
        m->budget = 0.0;
    }
    if (c->p[P_ANGLES].i == ANGLES_EXACT && res->nmetrics + 1 < UD_MAX_METRICS) {
        const int32_t *pos = in[2].host;
        double worst = 0.0, bound = 0.0;
        for (int i = 0; i < rd / 2; i++) {
            float inv[2];
            ref_rope_inv_freq(c->p[P_BASE].d, rd, i, inv);
            for (int64_t t = 0; t < c->p[P_TOKENS].i; t++) {
                double ex = ref_rope_exact_angle(c->p[P_BASE].d, rd, i, pos[t]);
                double err = fabs((double)((float)pos[t] * inv[0]) - ex);
                if (err > worst) {
                    worst = err;
                    bound = ref_rope_angle_err_bound(c->p[P_BASE].d, rd, i, ex);
                }
            }
        }
        ud_metric *m = &res->metrics[res->nmetrics++];
        snprintf(m->name, sizeof m->name, "max |theta32 - theta*| rad");
        m->value = worst;
        m->budget = bound;
    }
    return UD_OK;
}

static void describe(const ud_case *c, const ud_tensor *in, int k, size_t i, char *buf, size_t n)
{
    int64_t hd = c->p[P_HEAD_DIM].i, heads = k == 0 ? c->p[P_QHEADS].i : c->p[P_KVHEADS].i;
    int rd = rope_rotary_dim((int)hd, c->p[P_FACTOR].d);
    int d = (int)(i % (size_t)hd);
    int64_t t = (int64_t)(i / (size_t)(hd * heads));
    const int32_t *pos = in[2].host;
    double x = ud_get(in[k].dtype, in[k].host, i);
    if (d >= rd) {
        snprintf(buf, n, "position %d, dim %d >= rotary_dim %d (pass-through), x=%a", (int)pos[t], d, rd, x);
        return;
    }
    int partner, first;
    int pair = rope_pair((int)c->p[P_STYLE].i, rd, d, &partner, &first);
    double xp = ud_get(in[k].dtype, in[k].host, i - (size_t)d + (size_t)partner);
    snprintf(buf, n, "position %d, pair %d of rotary_dim %d (%s), x[%d]=%a (%.9g) x[%d]=%a (%.9g)", (int)pos[t], pair,
             rd, first ? "x1" : "x2", d, x, x, partner, xp, xp);
}

/* The padding tokens of a CUDA-graph batch (padding = N; harness/cases/padding.h): their
 * positions are what the positions buffer held from an earlier step, positions of the table
 * (the padded rows are computed, so an index outside it would fault). */
static int pad_inputs(const ud_case *padded, int64_t valid, ud_tensor *in)
{
    int32_t *pos = in[2].host;
    for (int64_t t = valid; t < padded->p[P_TOKENS].i; t++)
        pos[t] = (int32_t)(ud_rng_u64(padded->seed, 6, (uint64_t)t) % (uint64_t)padded->p[P_MAXPOS].i);
    return UD_OK;
}

extern const struct ud_cached_op ud_cached_rope;   /* ops/rope_cached.c */

/* The kernel's variants (gpu/rope.h), then the cos/sin table cache's (ops/rope_cached.c,
 * docs/cache-checks.md): production kernels, a table cache key that misses something. */
#define V(E, N, EXPECT, WHAT) UD_KERNEL_VARIANT(ROPE_BUG_##E, N, EXPECT, WHAT),
static const ud_mutant mutants[] = {
    ROPE_VARIANTS(V)
    UD_CACHE_VARIANT("cache_misses_base", "cos/sin table cached without rope_theta in its key: a layer with another "
                     "base (Gemma 3's local 1e4 / global 1e6 layers) gets the other layer's table",
                     UD_CACHE_PRODUCTION, ROPE_KEY_OMITS_BASE, "config_change"),
    UD_CACHE_VARIANT("cache_misses_rotary_dim", "cos/sin table cached without rotary_dim in its key: a layer with a "
                     "narrower partial_rotary_factor reads the wider layer's table",
                     UD_CACHE_PRODUCTION, ROPE_KEY_OMITS_ROTARY_DIM, "config_change"),
    UD_CACHE_VARIANT("cache_misses_device_change", "cos/sin table cached without the device in its key: serves the "
                     "table made for another device", UD_CACHE_NO_DEVICE, 0, "device_change"),
};

UD_OPERATOR(rope) = {
    .name = "rope",
    .summary = "partial rotary embedding: first int(head_dim * factor) dims rotate by RN_32(pos * inv_freq), "
               "the rest pass through  [HF transformers, vLLM cos_sin_cache]",
    .doc = "docs/ops/rope.md",
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
    .extra = extra,
    .mutants = mutants,
    .nmutants = UD_NELEMS(mutants),
    .bench = "dtype=bf16 tokens=4096 q_heads=32 kv_heads=8 head_dim=128 factor=0.5 style=neox base=10000 "
             "max_position=8192 positions=uniform table=model angles=fp32 values=normal",
    .bitwise_backends = 1,
    .cached = &ud_cached_rope,
    .token_param = "tokens",
    .pad_inputs = pad_inputs,
};
