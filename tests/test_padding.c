/* test_padding.c — the `padding` edge: a CUDA-graph batch, tokens + padding rows, the padding
 * rows garbage, the valid rows judged (docs/cases.md, "padding").
 *
 * Under test: harness/cases/padding.c (the padded case, tensor layouts, the check that refuses
 * what cannot be padded), harness/exec/padding.c (the padded batch: valid rows copied, the
 * padding garbage, the operator's indices, the valid rows of the outputs back), its use by
 * harness/exec/run.c, and the case-file key. The property the edge rests on: a production
 * kernel's valid rows do not change when padding rows are added — checked bit for bit against
 * the unpadded run, on the smoke corpus's padded cases of every operator with a token
 * dimension. The known-bug variant it exists for (qk_norm_rope.warp_sum_zero_masked) passes
 * every unpadded case and is caught on the padded ones. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cases/casefile.h"
#include "harness/cases/padding.h"
#include "harness/exec/padding.h"
#include "numerics/status.h"
#include "reports/read.h"
#include "reports/report.h"
#include "ud_test.h"

/* The smoke corpus's padded cases (every section with `padding = ...`); *n of them. */
static ud_case *smoke_padded(ud_corpus *corp, size_t *n)
{
    char *smoke[] = {"cases/smoke"};
    ud_case *all = NULL;
    size_t nall = 0;
    ud_corpus_init(corp);
    cr_assert_eq(ud_corpus_load(corp, smoke, 1, stderr), 0);
    cr_assert_eq(ud_corpus_expand(corp, &all, &nall, stderr), 0);
    *n = 0;
    for (size_t i = 0; i < nall; i++)
        if (all[i].padding) all[(*n)++] = all[i];
    return all;
}

/* The cpu kernel on a (padded) case, as run.c runs it: outputs poisoned first. */
static int cpu_kernel(void *user, const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    (void)user;
    for (int k = 0; k < ud_case_noutputs(c); k++) ud_tensor_poison(&out[k]);
    return c->op->run_cpu(c, c->mutant, in, out);
}

/* Whether an operator's production valid rows must equal the unpadded run's bit for bit: its
 * kernels' reduction order does not depend on the token count. Two do not promise it, and are
 * judged by their budgets alone (which admit any order): gate_proj's cpu GEMM is OpenBLAS,
 * whose blocking is its own; tp_allreduce's ring cuts its shards from the padded batch
 * (ceil(tokens / ranks) rows), so a valid token may travel the ring from another rank. */
static int bitwise_invariant(const ud_case *c)
{
    if (strcmp(c->op->name, "gate_proj") == 0) return 0;
    if (strncmp(c->op->name, "tp_allreduce", 12) == 0) return strcmp(ud_case_choice(c, "algorithm"), "ring") != 0;
    return 1;
}

/* Every padded smoke case passes, and every operator that declares a token dimension has some. */
Test(padding, every_operator_with_tokens_passes_its_padded_smoke_cases)
{
    ud_corpus corp;
    size_t n;
    ud_case *cases = smoke_padded(&corp, &n);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result *r = malloc(sizeof *r);
    cr_assert_not_null(r);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ud_run_case(&cases[i], &o, r), UD_OK, "%s", cases[i].label);
        cr_expect_eq(r->nfindings, 0, "%s: %s", cases[i].label, r->nfindings ? r->findings[0].msg : "");
        cr_expect_eq(r->c.padding, cases[i].padding);
    }
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        size_t have = 0;
        for (size_t k = 0; k < n; k++) have += cases[k].op == op;
        if (op->token_param)
            cr_expect(have > 0, "%s declares a token dimension but cases/smoke pads none of its cases", op->name);
        else cr_expect_eq(have, 0);
    }
    free(r);
    free(cases);
    ud_corpus_free(&corp);
}

/* The property: padding rows never change valid rows. The padded run's outputs (its valid rows)
 * equal the unpadded run's on the same inputs bit for bit, and the padded batch's valid input
 * rows are the case's own. */
Test(padding, valid_rows_of_a_padded_run_equal_the_unpadded_run)
{
    ud_corpus corp;
    size_t n, compared = 0;
    ud_case *cases = smoke_padded(&corp, &n);
    for (size_t i = 0; i < n; i++) {
        const ud_case *c = &cases[i];
        if (!bitwise_invariant(c)) continue;
        ud_case plain = *c;
        plain.padding = 0;
        ud_bufs b, u;
        ud_test_make(&plain, &b);   /* the inputs, generated for the case's own tokens */
        ud_test_make(&plain, &u);
        cr_assert_eq(ud_padding_run(c, b.in, b.out, cpu_kernel, NULL), UD_OK, "%s", c->label);
        cr_assert_eq(cpu_kernel(NULL, &plain, u.in, u.out), UD_OK, "%s", c->label);
        for (int k = 0; k < ud_case_noutputs(c); k++) {
            size_t first, diff = ud_tensor_bitwise_diff(&b.out[k], &u.out[k], &first);
            cr_expect_eq(diff, 0, "%s: %s: %zu of %zu valid elements differ from the unpadded run (first %zu)",
                         c->label, b.out[k].name, diff, b.out[k].numel, first);
        }
        for (int k = 0; k < ud_case_ninputs(c); k++)
            cr_expect_eq(ud_tensor_bitwise_diff(&b.in[k], &u.in[k], &(size_t){0}), 0, "%s: input %s changed", c->label,
                         b.in[k].name);
        ud_test_drop(&b);
        ud_test_drop(&u);
        compared++;
    }
    cr_expect(compared > 300, "only %zu padded cases compared", compared);
    free(cases);
    ud_corpus_free(&corp);
}

/* The padded batch the kernel sees: valid rows as generated, and in the padding every kind of
 * garbage — NaN, -Inf, +Inf, +-largest finite — of every float input with a token dimension;
 * positions inside the table. */
typedef struct {
    const ud_tensor *in;   /* the case's own inputs */
    int64_t valid;         /* its tokens */
    int checked;
} seen;

static int inspect_kernel(void *user, const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    seen *s = user;
    int64_t tokens = ud_case_int(c, "tokens");
    for (int k = 0; k < ud_case_ninputs(c); k++) {
        const ud_tensor *t = &in[k];
        if (strcmp(t->name, "positions") == 0) {
            for (size_t i = 0; i < t->numel; i++) {
                int32_t p = ((const int32_t *)t->host)[i];
                cr_expect(p >= 0 && p < ud_case_int(c, "max_position"), "position %d of token %zu", p, i);
            }
            s->checked++;
            continue;
        }
        if (t->shape[0] != tokens) continue;   /* weights, table */
        size_t per_token = t->numel / (size_t)tokens, valid = (size_t)s->valid * per_token;
        int nan = 0, ninf = 0, pinf = 0, pmax = 0, nmax = 0;
        double mx = ud_format(t->dtype)->max_finite;
        for (size_t i = valid; i < t->numel; i++) {
            double v = ud_get(t->dtype, t->host, i);
            nan |= isnan(v), ninf |= v == -INFINITY, pinf |= v == INFINITY, pmax |= v == mx, nmax |= v == -mx;
        }
        cr_expect(nan && ninf && pinf && pmax && nmax, "padding of %s: NaN %d -Inf %d +Inf %d +max %d -max %d", t->name,
                  nan, ninf, pinf, pmax, nmax);
        cr_expect_eq(memcmp(t->host, s->in[k].host, valid * ud_format(t->dtype)->size), 0, "valid rows of %s", t->name);
        s->checked++;
    }
    for (int k = 0; k < ud_case_noutputs(c); k++) ud_tensor_poison(&out[k]);
    return c->op->run_cpu(c, c->mutant, in, out);
}

Test(padding, the_padding_rows_hold_garbage_and_positions_stay_in_the_table)
{
    ud_kv kv[] = {{"dtype", "bf16"}, {"tokens", "3"}, {"q_heads", "2"}, {"kv_heads", "1"}, {"head_dim", "64"},
                  {"factor", "1"}, {"max_position", "16"}, {"table", "fp32"}};
    size_t n;
    ud_case *c = ud_test_expand("qk_norm_rope", 0, kv, 8, 1, &n);
    c[0].padding = 4;
    ud_bufs b;
    ud_test_make(&c[0], &b);
    seen s = {b.in, 3, 0};
    cr_assert_eq(ud_padding_run(&c[0], b.in, b.out, inspect_kernel, &s), UD_OK);
    cr_expect_eq(s.checked, 3, "q, k and positions");   /* q_weight, k_weight and the table are shared */
    ud_test_drop(&b);
    free(c);
}

/* The variant the edge exists for: the warp-wide masked reduction passes every unpadded case
 * (finite data: 0 * x = +0 changes nothing) and is caught, as a nan-mismatch, on the padded
 * smoke section. */
Test(padding, warp_sum_zero_masked_is_caught_by_padding_alone)
{
    const ud_op *op;
    int mutant;
    cr_assert_eq(ud_mutant_find("qk_norm_rope.warp_sum_zero_masked", &op, &mutant), 0);
    ud_corpus corp;
    size_t n, padded = 0, caught = 0, caught_unpadded = 0;
    ud_case *cases = smoke_padded(&corp, &n);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result *r = malloc(sizeof *r);
    cr_assert_not_null(r);
    for (size_t i = 0; i < n; i++) {
        if (cases[i].op != op) continue;
        ud_case c = cases[i];
        c.mutant = mutant;
        ud_case_format_label(&c);
        for (int pad = 0; pad < 2; pad++) {
            ud_case t = c;
            if (!pad) t.padding = 0;
            ud_case_format_label(&t);
            cr_assert_eq(ud_run_case(&t, &o, r), UD_OK, "%s", t.label);
            int hit = ud_result_has(r, UD_F_NAN_MISMATCH);
            if (pad) caught += hit;
            else caught_unpadded += hit;
        }
        padded++;
    }
    cr_expect(padded > 0);
    cr_expect_eq(caught_unpadded, 0, "the variant must be invisible without padding (normal values)");
    cr_expect(caught > 0, "warp_sum_zero_masked caught in none of %zu padded qk_norm_rope cases", padded);
    free(r);
    free(cases);
    ud_corpus_free(&corp);
}

/* ---- refusals ---- */

static int load(const char *text, char **msgs)
{
    size_t len = 0;
    FILE *err = open_memstream(msgs, &len);
    cr_assert(err);
    ud_corpus c;
    ud_corpus_init(&c);
    ud_case *cases = NULL;
    size_t n = 0;
    int e = ud_casefile_parse_text(&c, "t.ini", text, err);
    if (!e) e = ud_corpus_expand(&c, &cases, &n, err);
    fclose(err);
    free(cases);
    ud_corpus_free(&c);
    return e;
}

static void expect_error(const char *text, const char *where, const char *needle)
{
    char *msgs = NULL;
    cr_expect(load(text, &msgs) > 0, "no error for:\n%s", text);
    cr_expect(strncmp(msgs, where, strlen(where)) == 0, "the error must start with '%s': %s", where, msgs);
    cr_expect(strstr(msgs, needle) != NULL, "expected '%s' in: %s", needle, msgs);
    free(msgs);
}

Test(padding, case_file_errors_name_the_padding_line)
{
    /* an operator without a token dimension (fault_probe, a probe found by name) */
    expect_error("[p]\nop = fault_probe\ntokens = 3\npadding = 2\n", "t.ini:4: ", "has no token dimension to pad");
    expect_error("[a]\nop = rmsnorm\ntokens = 3\n\npadding = -1\n", "t.ini:5: ", "padding = -1 is outside");
    expect_error("[a]\nop = rmsnorm\npadding = two\n", "t.ini:3: ", "'two' is not an integer for padding");
    expect_error("[a]\nop = rmsnorm\ntokens = 1048576\nhidden = 1\npadding = 1\n", "t.ini:5: ",
                 "tokens + padding = 1048577 is outside tokens' range 0..1048576");
    expect_error("[a]\nop = rmsnorm\npading = 1\n", "t.ini:3: ", "did you mean 'padding'");
}

/* padding is one more list of the product, outermost: a section's unpadded cases first; a
 * range is drawn per seed. */
Test(padding, the_list_expands_outermost)
{
    ud_corpus c;
    ud_corpus_init(&c);
    ud_case *cases = NULL;
    size_t n = 0;
    const char *text = "[a]\nop = rmsnorm\ndtype = bf16\ntokens = 3\nhidden = 8\nvalues = normal\n"
                       "padding = 0, 2, 1..4\nseeds = 2\n";
    cr_assert_eq(ud_casefile_parse_text(&c, "t.ini", text, stderr), 0);
    cr_assert_eq(ud_corpus_expand(&c, &cases, &n, stderr), 0);
    cr_assert_eq(n, 6);
    cr_expect(cases[0].padding == 0 && cases[1].padding == 0 && cases[2].padding == 2 && cases[3].padding == 2);
    for (size_t i = 4; i < 6; i++) cr_expect(cases[i].padding >= 1 && cases[i].padding <= 4, "%d", cases[i].padding);
    cr_expect(strstr(cases[0].label, "padding") == NULL, "%s", cases[0].label);
    cr_expect(strstr(cases[2].label, ", padding=2, seed=1)") != NULL, "%s", cases[2].label);
    free(cases);
    ud_corpus_free(&c);
}

/* A case built in code, not a case file: ud_case_validate refuses it too. */
static const ud_op *fake_of(const char *name, ud_op *fake)
{
    *fake = *ud_op_find(name);
    return fake;
}

static int shapes_irregular(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t t = ud_case_int(c, "tokens"), h = ud_case_int(c, "hidden"), x[2] = {t, h}, w[1] = {h + t * t};
    UD_TRY(ud_tensor_shape(&in[0], "x", UD_BF16, 2, x));
    UD_TRY(ud_tensor_shape(&in[1], "weight", UD_BF16, 1, w));
    UD_TRY(ud_tensor_shape(&out[0], "out", UD_BF16, 2, x));
    return UD_OK;
}

Test(padding, what_cannot_be_padded_is_refused_with_the_reason)
{
    char msg[600];
    ud_op fake;
    ud_kv kv[] = {{"dtype", "bf16"}, {"tokens", "3"}, {"hidden", "8"}, {"values", "normal"}};
    size_t n;
    ud_case *c = ud_test_expand("rmsnorm", 0, kv, 4, 1, &n);
    c[0].padding = 2;
    cr_expect_eq(ud_case_validate(&c[0], msg, sizeof msg), 0, "%s", msg);
    /* no token parameter declared */
    c[0].op = fake_of("rmsnorm", &fake);
    fake.token_param = NULL;
    cr_expect_neq(ud_case_validate(&c[0], msg, sizeof msg), 0);
    cr_expect(strstr(msg, "rmsnorm has no token dimension to pad") != NULL, "%s", msg);
    /* a tensor that grows with the tokens otherwise than by whole rows */
    fake = *ud_op_find("rmsnorm");
    fake.validate = NULL;
    fake.shapes = shapes_irregular;
    cr_expect_neq(ud_case_validate(&c[0], msg, sizeof msg), 0);
    cr_expect(strstr(msg, "tensor weight is [17] for 3 tokens and [33] for 5") != NULL, "%s", msg);
    free(c);
    /* integer indices without the operator's word on what the padding holds */
    ud_kv kr[] = {{"dtype", "bf16"}, {"head_dim", "64"}, {"factor", "1"}, {"style", "neox"}, {"base", "1e4"}};
    c = ud_test_expand("rope", 0, kr, 5, 1, &n);
    c[0].padding = 2;
    cr_expect_eq(ud_case_validate(&c[0], msg, sizeof msg), 0, "%s", msg);
    c[0].op = fake_of("rope", &fake);
    fake.pad_inputs = NULL;
    cr_expect_neq(ud_case_validate(&c[0], msg, sizeof msg), 0);
    cr_expect(strstr(msg, "input positions holds integers") != NULL, "%s", msg);
    free(c);
}

/* A report keeps the padding, and reads back to the same case (merge's round trip). */
Test(padding, reports_carry_padding_and_read_it_back)
{
    ud_kv kv[] = {{"dtype", "bf16"}, {"tokens", "3"}, {"hidden", "8"}, {"values", "normal"}};
    size_t n;
    ud_case *c = ud_test_expand("rmsnorm", 0, kv, 4, 1, &n);
    c[0].padding = 5;
    ud_case_format_label(&c[0]);
    cr_expect(strstr(c[0].label, ", padding=5, seed=1)") != NULL, "%s", c[0].label);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result *r = malloc(sizeof *r), *back = malloc(sizeof *back);
    cr_assert(r && back);
    cr_assert_eq(ud_run_case(&c[0], &o, r), UD_OK);
    char path[] = "/tmp/ud_padding_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    ud_report_meta m;
    memset(&m, 0, sizeof m);
    m.backend = "cpu";
    m.shard_k = m.shard_n = 1;
    m.selected = 1;
    ud_report_meta_date(&m);
    int ran = 1;
    cr_assert_eq(ud_json_write(path, &m, r, &ran, 1), 0);
    ud_report_file f;
    cr_assert_eq(ud_report_open("test", path, &f), 0);
    long long index;
    cr_assert_eq(ud_report_case("test", &f, 0, back, &index), 0);
    cr_expect_eq(back->c.padding, 5);
    json_t *a = ud_json_case(r, -1), *b = ud_json_case(back, -1);
    cr_expect(json_equal(a, b), "the case reads back otherwise than it was written");
    cr_expect_eq(json_integer_value(json_object_get(a, "padding")), 5);
    json_decref(a);
    json_decref(b);
    ud_report_close(&f);
    remove(path);
    free(r);
    free(back);
    free(c);
}
