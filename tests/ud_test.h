/* ud_test.h — the one helper the operator tests share: expand op(key = value, ...) into cases
 * and run them on the cpu backend, as `ulpdiff run --op OP --KEY VALUE` would. Header-only
 * (static functions) because each test file is its own Criterion program. */
#ifndef UD_TEST_H
#define UD_TEST_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/core/result.h"
#include "harness/exec/run.h"
#include "harness/cli/post_checks.h"
#include "harness/cases/spec.h"
#include "harness/core/tensor.h"

typedef const char *const ud_kv[2];   /* {"parameter", "value list as in a case file"} */

/* The cases of op(kv...) with variant `mutant` (0: production) and `seeds` seeds; *n of them. */
static inline ud_case *ud_test_expand(const char *op_name, int mutant, ud_kv *kv, size_t nkv, int seeds, size_t *n)
{
    const ud_op *op = ud_op_find(op_name);
    cr_assert_not_null(op, "operator %s", op_name);
    ud_spec s;
    ud_spec_init(&s, op);
    s.mutant = mutant;
    s.seeds = seeds;
    for (size_t i = 0; i < nkv; i++) s.vals[ud_param_index(op, kv[i][0])] = kv[i][1];
    ud_case *cases = NULL;
    char err[512];
    *n = 0;
    cr_assert_eq(ud_spec_expand(&s, &cases, n, err, sizeof err), 0, "%s", err);
    return cases;
}

/* Runs every case of op(kv...) on the cpu backend. kind == NULL: every case must pass (asserted);
 * otherwise returns how many cases carry a finding of that kind ("tolerance", ...). The number
 * of cases goes to *ncases. */
static inline size_t ud_test_run(const char *op_name, int mutant, ud_kv *kv, size_t nkv, const char *kind,
                                 size_t *ncases)
{
    size_t n, hits = 0;
    ud_case *cases = ud_test_expand(op_name, mutant, kv, nkv, 1, &n);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_attach_post_checks(&o);   /* as `mutants` runs them: cache variants are judged by the cache scenarios */
    for (size_t k = 0; k < n; k++) {
        ud_result *r = malloc(sizeof *r);
        cr_assert_not_null(r);
        cr_assert_eq(ud_run_case(&cases[k], &o, r), UD_OK, "%s", cases[k].label);
        if (!kind) cr_assert_eq(r->nfindings, 0, "%s: %s", r->c.label, r->nfindings ? r->findings[0].msg : "");
        int hit = 0;
        for (int f = 0; kind && f < r->nfindings; f++) hit |= strcmp(ud_finding_names[r->findings[f].kind], kind) == 0;
        hits += hit;
        free(r);
    }
    free(cases);
    *ncases = n;
    return hits;
}

/* A case's tensors: inputs generated, outputs allocated (ud_test_make), freed by ud_test_drop. */
typedef struct {
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
} ud_bufs;

static inline void ud_test_make(const ud_case *c, ud_bufs *b)
{
    memset(b, 0, sizeof *b);
    cr_assert_eq(ud_case_make_tensors(c, b->in, b->out), UD_OK);
    cr_assert_eq(c->op->generate(c, b->in), UD_OK);
}

static inline void ud_test_drop(ud_bufs *b)
{
    for (int k = 0; k < UD_MAX_TENSORS; k++) { ud_tensor_free(&b->in[k]); ud_tensor_free(&b->out[k]); }
}

#endif
