/* registry.h — the operator descriptor and the case type.
 *
 * One ud_op per operator (or semantic variant such as rmsnorm_gemma). It names the
 * operator's parameters, builds its input tensors, computes the exact reference with its
 * per-element candidates and condition scale, runs the production kernel (or a known-bug
 * variant) on either backend, and states the budgets. It holds no comparison logic: the one
 * loop in harness/core/measure.c serves every operator. An entry is built from the kit
 * (harness/ops/kit.h) and registered by its UD_OPERATOR line (docs/adding-an-operator.md). */
#ifndef UD_REGISTRY_H
#define UD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "numerics/dtype.h"
#include "numerics/ref.h"   /* ud_ref: exact reference of one output tensor */
#include "harness/core/tensor.h"

#define UD_MAX_PARAMS 16
#define UD_MAX_TENSORS 6

typedef enum { UD_P_INT, UD_P_REAL, UD_P_CHOICE, UD_P_DTYPE } ud_param_kind;

typedef struct {
    const char *name;
    ud_param_kind kind;
    const char *def;              /* default, written as in a case file: "bf16, fp16, fp32" */
    const char *help;
    const char *const *choices;   /* UD_P_CHOICE / UD_P_DTYPE: NULL-terminated allowed names */
    double lo, hi;                /* UD_P_INT / UD_P_REAL: inclusive range */
} ud_param;

typedef union { int64_t i; double d; } ud_pval;   /* CHOICE/DTYPE: index / ud_dtype in i */

/* A known-bug variant. Declared once, in the operator's variant table (harness/ops/kit.h:
 * UD_KERNEL_VARIANT from the kernel's X-macro table in gpu/<op>.h, UD_CACHE_VARIANT for a
 * cache key that misses something); everything else (names, the kernel's bug code, the cache
 * checker's policy and scenario) is read from here. */
typedef struct {
    const char *name;             /* the part after "<op>." */
    const char *what;             /* the historical bug, one line */
    const char *expect;           /* the finding kind that must catch it: "tolerance", ... */
    int bug;                      /* kernel variant: the kernel's bug code (<OP>_BUG_*); 0 for a cache variant */
    /* Cache variant (scenario != NULL): production kernels, the cache keyed by `cache_policy`
     * (a ud_cache_policy) with the operator's own key defect `cache_key_bug` (0: none), which
     * the scenario named `scenario` must catch (docs/cache-checks.md). */
    int cache_policy;
    int cache_key_bug;
    const char *scenario;
} ud_mutant;

typedef struct {
    double ulp;                   /* allowed ulp_T part (0.5 = correctly rounded) */
    double scaled;                /* allowed multiple of u_w * s */
    double u_w;                   /* unit roundoff of the kernel's working precision */
    double abs;                   /* absolute allowance: underflow in the working precision
                                   * (gradual underflow adds up to half its smallest subnormal
                                   * per rounding, which no relative bound covers) */
} ud_budget;

struct ud_case;
struct ud_result;

/* UD_BACKEND_EXTERNAL: outputs computed outside ulpdiff, read from files (`ulpdiff check`,
 * harness/external/exchange.h); its cases run on the host path like cpu. */
typedef enum { UD_BACKEND_CPU, UD_BACKEND_CUDA, UD_BACKEND_REF, UD_BACKEND_EXTERNAL } ud_backend;

typedef struct ud_op {
    const char *name;
    const char *summary;          /* one line: formula */
    const char *doc;              /* docs page, relative to the repository root */
    const ud_param *params;
    int nparams;
    const char *const *inputs;    /* tensor names, NULL-terminated */
    const char *const *outputs;
    /* Shape/parameter constraints beyond per-parameter ranges; writes a message, returns -1. */
    int (*validate)(const struct ud_case *c, char *msg, size_t n);
    /* Declares (ud_tensor_shape: name, dtype, shape, no buffers) inputs and outputs in the
     * order of `inputs` and `outputs`; ud_case_make_tensors checks sizes and allocates. */
    int (*shapes)(const struct ud_case *c, ud_tensor *in, ud_tensor *out);
    /* Fills the host buffers of the inputs, reproducibly from c->seed. */
    int (*generate)(const struct ud_case *c, ud_tensor *in);
    /* Exact reference for every output (ref[k].n == out[k].numel, arrays allocated by the
     * harness). exact_mpfr != 0 asks for the MPFR path instead of the fast path. */
    int (*reference)(const struct ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr);
    /* Production kernel (mutant 0) or known-bug variant k (1-based into mutants[]). */
    int (*run_cpu)(const struct ud_case *c, int mutant, ud_tensor *in, ud_tensor *out);
    int (*run_cuda)(const struct ud_case *c, int mutant, ud_tensor *in, ud_tensor *out);
    /* Optional, for `ulpdiff bench --configs`: the production cuda kernel with launch
     * configuration `cfg` (0-based) in place of the one it picks for the case; *name gets the
     * configuration's name. UD_EUSAGE when cfg is past the last. Every configuration computes
     * the same bits (the reduction order does not depend on it; the bench checks). */
    int (*tune_cuda)(const struct ud_case *c, int cfg, ud_tensor *in, ud_tensor *out, const char **name);
    ud_budget (*budget)(const struct ud_case *c, int out_index);
    /* Optional: input values behind output element i, for the worst-element line. */
    void (*describe)(const struct ud_case *c, const ud_tensor *in, int out_index, size_t i,
                     char *buf, size_t n);
    /* Optional: operator-specific metrics/findings (routing flips, dequant error ...). */
    int (*extra)(const struct ud_case *c, const ud_tensor *in, const ud_tensor *out,
                 const ud_ref *ref, struct ud_result *res);
    const ud_mutant *mutants;
    int nmutants;
    /* Benchmark shape for `ulpdiff bench`: "key=value" pairs separated by spaces, e.g.
     * "dtype=bf16 tokens=4096 hidden=7168" (the model shapes of docs/performance.md). */
    const char *bench;
    /* 1 when the cpu and cuda kernels share one reduction order and must agree bit for bit
     * (the operator's docs page says so); `ulpdiff run --cross-check` holds them to it. */
    int bitwise_backends;
    /* Optional: the operator keeps derived state (a cached fp32 weight copy, a cos/sin table);
     * the cache checker drives it through this (harness/cache/cache_check.h, docs/cache-checks.md). */
    const struct ud_cached_op *cached;
    /* Optional: the token dimension, for a case's `padding` (a CUDA-graph batch: the kernel runs
     * on tokens + padding rows, the padding rows garbage; harness/cases/padding.h). The integer
     * parameter that counts tokens; NULL: the operator cannot be padded, and a case that asks
     * is refused. Which tensors carry the token dimension is derived from the shapes. */
    const char *token_param;
    /* Optional, with token_param: makes the padding part of the inputs (every element that is no
     * valid token's, already filled with garbage) hold what a padded batch holds where garbage
     * would not do — indices the kernel follows (expert ids, positions) must stay in range.
     * `padded` is the padded case (tokens + padding), `valid` the case's own token count. An
     * operator with an integer input that has a token dimension must have one. */
    int (*pad_inputs)(const struct ud_case *padded, int64_t valid, ud_tensor *in);
} ud_op;

typedef struct ud_case {
    const ud_op *op;
    int mutant;                   /* 0: production */
    /* Rows past the token count that the kernel also sees, holding garbage, as in a CUDA-graph
     * batch (0: none; only for operators with a token_param). Judged: the valid rows alone. */
    int padding;
    ud_pval p[UD_MAX_PARAMS];
    uint64_t seed;
    double budget_ulp[UD_NDTYPES];   /* NaN: the operator's own */
    double budget_scaled;            /* NaN: the operator's own */
    char label[320];              /* "rmsnorm(dtype=bf16, tokens=7, ...)" */
    const char *file;             /* case file and section line, or NULL for the CLI */
    int line;
    /* Where an implementation source (ud_impl, harness/exec/run.h) finds this case's data, e.g.
     * `check`'s exported files; NULL for ulpdiff's own kernels. Never crosses a process. */
    const void *source;
} ud_case;

/* The registry. */
int ud_op_count(void);
const ud_op *ud_op_at(int i);
const ud_op *ud_op_find(const char *name);
/* Finds a registry operator or, by name only, a probe operator (ud_probe_*: e.g. fault_probe,
 * whose variants crash on purpose to test process isolation); probes are not in the table,
 * so no corpus, default sweep, mutation score or registry-wide test runs them. */
/* "rmsnorm_fused_add.pre_add_residual" -> op and 1-based mutant index; -1 when unknown. */
int ud_mutant_find(const char *full, const ud_op **op, int *mutant);
/* The case's variant (NULL for production) and the bug code its kernels run with (0: production
 * kernels, which cache variants run too). */
const ud_mutant *ud_case_variant(const struct ud_case *c);
int ud_case_bug(const struct ud_case *c);
/* The kernels' bug code of variant `mutant` (1-based) of op; 0 for production. */
int ud_op_bug(const ud_op *op, int mutant);

/* Parameter access by name (aborts on a name the operator does not declare: a programming
 * error, caught by the unit tests). */
int ud_param_index(const ud_op *op, const char *name);
int64_t ud_case_int(const ud_case *c, const char *name);
double ud_case_real(const ud_case *c, const char *name);
ud_dtype ud_case_dtype(const ud_case *c, const char *name);
const char *ud_case_choice(const ud_case *c, const char *name);

/* The case's tensors. One tensor holds at most UD_MAX_ELEMENTS elements (the comparison keeps
 * doubles per output element; see ud_case_footprint). */
#define UD_MAX_ELEMENTS 1.5e9
int ud_case_ninputs(const ud_case *c);
int ud_case_noutputs(const ud_case *c);
/* The operator's own constraints (ud_op.validate), then the element cap of every tensor.
 * Returns 0, or -1 with msg set. */
int ud_case_validate(const ud_case *c, char *msg, size_t n);
/* Shapes, cap, host buffers (freed again on failure). */
int ud_case_make_tensors(const ud_case *c, ud_tensor *in, ud_tensor *out);
/* Host memory one running case needs, in bytes (tensors, snapshots, reference, errors). */
double ud_case_footprint(const ud_case *c);
void ud_case_format_label(ud_case *c);

#endif
