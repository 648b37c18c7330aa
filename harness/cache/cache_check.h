/* cache_check.h — the cache-invalidation checker: scenarios and a randomized stateful mode
 * for operators that keep derived state (docs/cache-checks.md is the user's page).
 *
 * A cached operator is a module: parameters held as handles (param.h) plus a cache (cache.h).
 * The checker drives it through sequences of steps — calls and the mutations an inference
 * engine performs on weights at run time (in-place writes with and without a version bump,
 * free and reallocate at the same address, replacement, reload in another dtype, moves and
 * views across devices, another layer's configuration) — and compares every call's outputs
 * bit for bit with a fresh, uncached instance of the same operator run on the same device
 * with the parameters as they are now. A difference is a `cache-stale` finding naming the
 * scenario and the parameter; so is a derived copy served to a call on another device than
 * the one it was made for, a repeated call that derives again, and a derived copy that shows
 * up among the parameters a model would save.
 *
 * An operator becomes checkable by filling a ud_cached_op and pointing its registry entry's
 * `cached` member at it; its forward() takes the derived state from ud_cache_get() (never from
 * a private copy) and the parameters from the handles (never from the case's input tensors). */
#ifndef UD_CACHE_CHECK_H
#define UD_CACHE_CHECK_H

#include <stddef.h>

#include "harness/cache/cache.h"
#include "harness/cache/param.h"
#include "harness/core/result.h"

#define UD_CACHE_MAX_PARAMS 4
#define UD_CACHE_MAX_CONFIGS 8

/* One forward call of a module. */
typedef struct {
    const ud_case *c;          /* the case as the scenario left it (activation dtype, config) */
    ud_phandle *params;        /* [n] in ud_cached_op.params order, all on `device` */
    int device;                /* where the module runs */
    ud_tensor *in, *out;       /* host tensors of the case; out poisoned; parameter inputs unused */
    int nin, nout;
    unsigned param_mask;       /* bit k: input k is a parameter (its data comes from a handle) */
    ud_cache *cache;           /* the module's cache, or a fresh no_reuse one */
} ud_call;

/* For a call on a CUDA device: makes it current, copies the non-parameter inputs there and
 * poisons the outputs there. Nothing on a host device. */
int ud_call_begin(const ud_call *x);
/* Waits for the device, copies the outputs back, frees the device buffers. */
int ud_call_end(const ud_call *x);
/* Input / output k as the kernel addresses it on the call's device. */
void *ud_call_in(const ud_call *x, int k);
void *ud_call_out(const ud_call *x, int k);

typedef struct ud_cached_op {
    const char *const *params;        /* inputs held as parameters, NULL-terminated (may be empty) */
    const char *const *param_dtypes;  /* storage dtypes a parameter may take (dtype_change) */
    const char *act_dtype_param;      /* optional: activation-dtype parameter the derived state depends on */
    const char *derived;              /* what is cached, for messages */
    const char *when;                 /* the cases that keep derived state, for n/a lines */
    /* Does case c keep derived state (param -1) / a derived copy of parameter p? */
    int (*applies)(const ud_case *c, int param);
    /* Optional: writes configuration k (1..UD_CACHE_MAX_CONFIGS) of the case into *c: another
     * layer's, differing in one field the derived state depends on (rope: base, rotary_dim,
     * max_position, style); -1 when the case has no configuration k. k = 0 is the case itself. */
    int (*alt_config)(ud_case *c, int k);
    /* Optional: makes the activations small for the checks `ulpdiff run` adds to a case. */
    void (*reduce)(ud_case *c);
    int (*forward)(const ud_call *x);
    const char *check_case;           /* default case of `ulpdiff cache-check`: "name=value ..." */
} ud_cached_op;

typedef enum {
    UD_SC_REPEAT, UD_SC_INPLACE_BUMP, UD_SC_INPLACE_NOBUMP, UD_SC_ABA, UD_SC_REPLACE,
    UD_SC_DTYPE_CHANGE, UD_SC_DEVICE_CHANGE, UD_SC_CONFIG_CHANGE, UD_SC_STATE_DICT, UD_SC_COUNT
} ud_scenario;
extern const char *const ud_scenario_names[];   /* "repeat", ... (NULL-terminated) */

typedef enum {
    UD_VERDICT_NA,             /* nothing to check in this case / operator */
    UD_VERDICT_PASS,
    UD_VERDICT_UNOBSERVABLE,   /* inplace_nobump: no key can see the write (documented) */
    UD_VERDICT_NOT_REUSED,     /* a repeated call derived again */
    UD_VERDICT_SAVED,          /* a derived copy among (or replacing) the parameters */
    UD_VERDICT_STALE,          /* outputs differ from a fresh instance, or wrong-device copy */
    UD_VERDICT_ERROR
} ud_verdict;
extern const char *const ud_verdict_names[];
/* Does the verdict make a finding (stale, not reused, saved, error)? */
int ud_verdict_is_finding(ud_verdict v);

typedef struct {
    ud_verdict verdict;
    char detail[560];
} ud_scenario_result;

typedef struct {
    ud_backend backend;        /* cpu: the module starts on the host; cuda: on cuda:0, and
                                * device_change visits the host devices and every GPU */
} ud_cache_check_opts;

/* Every scenario on case c with the cache under `policy`. Returns UD_OK when the checks ran
 * (verdicts in res), or the error that stopped them. */
int ud_cache_check_case(const ud_case *c, ud_cache_policy policy, const ud_cache_check_opts *o,
                        ud_scenario_result res[UD_SC_COUNT]);

/* The policy a case's mutant selects: production for mutant 0, the variant's for a cache
 * variant; -1 for a kernel (numeric) variant, which the cache checks leave alone. */
int ud_cache_case_policy(const ud_case *c, ud_cache_policy *p);
/* Is the case's mutant a known-bug cache variant (production kernels, another cache key)? */
int ud_cache_is_variant(const ud_case *c);
/* The scenario named for a cache variant of the case's op ("" when there is none). */
const char *ud_cache_case_scenario(const ud_case *c);

/* What `ulpdiff run` adds to a case of a cached operator: the scenarios on a reduced copy of
 * the case, failures as `cache-stale` findings naming scenario and parameter, and a metric. */
int ud_cache_check_result(const ud_case *c, ud_backend backend, ud_result *res);

/* ---- sequences: the randomized stateful mode and reproducers ---- */
typedef enum {
    UD_STEP_CALL, UD_STEP_WRITE, UD_STEP_WRITE_NOBUMP, UD_STEP_LOAD, UD_STEP_REALLOC, UD_STEP_REPLACE,
    UD_STEP_CAST, UD_STEP_MOVE, UD_STEP_VIEW, UD_STEP_ACT_DTYPE, UD_STEP_CONFIG, UD_STEP_INVALIDATE,
    UD_STEP_KINDS
} ud_step_kind;
extern const char *const ud_step_names[];

typedef struct {
    ud_step_kind kind;
    int param;                 /* write .. cast */
    int arg;                   /* cast/act_dtype: ud_dtype; move/view: device; config: k */
} ud_step;

#define UD_MAX_STEPS 64
typedef struct {
    ud_case c;
    ud_cache_policy policy;
    char variant[64];          /* "production", a cache variant's mutant name, or a policy name */
    int nsteps;
    ud_step steps[UD_MAX_STEPS];
} ud_cache_seq;

/* Runs s from a fresh module. *failed_at: index of the first step whose call failed (-1: none);
 * msg describes the failure. */
int ud_cache_seq_run(const ud_cache_seq *s, const ud_cache_check_opts *o, int *failed_at, char *msg, size_t n);
/* nseq random sequences of len steps from `seed`; the first failing one (truncated after its
 * failing step) goes to *fail with *found = 1 and its message. */
int ud_cache_random(const ud_case *c, ud_cache_policy policy, const char *variant, const ud_cache_check_opts *o,
                    int nseq, int len, uint64_t seed, ud_cache_seq *fail, int *found, char *msg, size_t n);
/* Shrinks a failing sequence to one where removing any single step makes it pass. */
int ud_cache_shrink(ud_cache_seq *s, const ud_cache_check_opts *o, char *msg, size_t n, int *runs);
/* Reproducer text (docs/cache-checks.md "Reproducers"); header lines are written as comments. */
int ud_cache_seq_format(const ud_cache_seq *s, const char *header, char *buf, size_t n);
/* Parses a reproducer; find resolves operator names. Errors are "path:line: message". */
int ud_cache_seq_parse(const char *text, const char *path, const ud_op *(*find)(const char *name), ud_cache_seq *s,
                       char *err, size_t errn);
/* Writes DIR/<op>-cache-<hash>.steps; path receives its name. */
int ud_cache_seq_write(const char *dir, const ud_cache_seq *s, const char *header, char *path, size_t pathn);

/* `ulpdiff cache-check` (harness/cache_cli.c); returns the exit code. */
int ud_cmd_cache_check(int argc, char **argv);

#endif
