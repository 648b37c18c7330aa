/* bench.c — `ulpdiff bench [--op NAME] [--iters N] [--json FILE] [--PARAM V] [--dry-run]`.
 *
 * For each operator with a bench shape (ud_op.bench), the production kernel runs on the cuda
 * backend: inputs are generated once (never all zero), copied into enough rotating device
 * sets that together they exceed 4x the L2 size (so each timed call reads from DRAM), outputs
 * are poisoned, 5 warm-up calls, then `iters` calls each bracketed by CUDA events; the median
 * is reported. Bytes moved are the ideal minimum: every input tensor read once and every
 * output written once (a kernel that re-reads pays for it in the fraction). The copy bandwidth
 * is the median of device-to-device cudaMemcpy of 1 GiB, counting read plus write bytes.
 * `--dry-run` prints each operator's bench case (no device needed): bench/torch_ops.py must
 * time the same shapes (tests/cli/bench_table.sh compares them). */
#include "harness/cli/bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"

typedef struct {
    const char *op;
    char label[320];
    double ms, gbps, frac;
    size_t bytes;
} bench_row;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int count_names(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

/* Builds the bench case of op from its bench string plus command-line overrides. */
static int bench_case(const ud_op *op, const char *const *pn, const char *const *pv, int np, ud_case *out)
{
    ud_spec s;
    ud_spec_init(&s, op);
    static char buf[UD_MAX_PARAMS][128];
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", op->bench);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        int k = ud_param_index(op, tok);
        snprintf(buf[k], sizeof buf[k], "%s", eq + 1);
        s.vals[k] = buf[k];
    }
    for (int i = 0; i < np; i++) {
        int k = -1;
        for (int j = 0; j < op->nparams; j++)
            if (strcmp(op->params[j].name, pn[i]) == 0) k = j;
        if (k < 0) { fprintf(stderr, "ulpdiff bench: --%s: %s has no such parameter\n", pn[i], op->name); return UD_EUSAGE; }
        s.vals[k] = pv[i];
    }
    ud_case *cases = NULL;
    size_t n = 0;
    char err[600];
    if (ud_spec_expand(&s, &cases, &n, err, sizeof err) || n == 0) {
        fprintf(stderr, "ulpdiff bench: %s\n", err);
        free(cases);
        return UD_EUSAGE;
    }
    *out = cases[0];
    free(cases);
    return UD_OK;
}

static int bench_one(const ud_case *c, int iters, size_t l2, double copy_gbps, bench_row *row)
{
    const ud_op *op = c->op;
    int nin = count_names(op->inputs), nout = count_names(op->outputs);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    UD_TRY(ud_case_make_tensors(c, in, out));
    UD_TRY(op->generate(c, in));
    size_t bytes = 0;
    for (int k = 0; k < nin; k++) bytes += ud_tensor_bytes(&in[k]);
    for (int k = 0; k < nout; k++) bytes += ud_tensor_bytes(&out[k]);
    int sets = (int)((4 * l2 + bytes - 1) / (bytes ? bytes : 1));
    if (sets < 2) sets = 2;
    if (sets > 64) sets = 64;
    ud_tensor (*din)[UD_MAX_TENSORS] = calloc((size_t)sets, sizeof *din);
    ud_tensor (*dout)[UD_MAX_TENSORS] = calloc((size_t)sets, sizeof *dout);
    float *ms = calloc((size_t)iters, sizeof *ms);
    UD_ALLOC_CHECK(din);
    UD_ALLOC_CHECK(dout);
    UD_ALLOC_CHECK(ms);
    int rc = UD_OK;
    for (int s = 0; s < sets && rc == UD_OK; s++) {
        for (int k = 0; k < nin && rc == UD_OK; k++) {
            din[s][k] = in[k];
            din[s][k].dev = NULL;
            rc = ud_tensor_to_device(&din[s][k]);
        }
        for (int k = 0; k < nout && rc == UD_OK; k++) {
            dout[s][k] = out[k];
            dout[s][k].dev = NULL;
            rc = ud_tensor_poison_device(&dout[s][k]);
        }
    }
    ud_timer *t = NULL;
    if (rc == UD_OK) rc = ud_timer_create(&t);
    for (int i = 0; i < 5 && rc == UD_OK; i++) rc = op->run_cuda(c, 0, din[i % sets], dout[i % sets]);
    if (rc == UD_OK) rc = ud_device_sync();
    for (int i = 0; i < iters && rc == UD_OK; i++) {
        rc = ud_timer_start(t);
        if (rc == UD_OK) rc = op->run_cuda(c, 0, din[i % sets], dout[i % sets]);
        if (rc == UD_OK) rc = ud_timer_stop(t, &ms[i]);
    }
    if (rc == UD_OK) {
        qsort(ms, (size_t)iters, sizeof *ms, cmp_float);
        row->op = op->name;
        snprintf(row->label, sizeof row->label, "%s", c->label);
        row->ms = ms[iters / 2];
        row->bytes = bytes;
        row->gbps = (double)bytes / (row->ms * 1e-3) / 1e9;
        row->frac = row->gbps / copy_gbps;
    }
    ud_timer_destroy(t);
    for (int s = 0; s < sets; s++) {
        for (int k = 0; k < nin; k++) ud_device_free(din[s][k].dev);
        for (int k = 0; k < nout; k++) ud_device_free(dout[s][k].dev);
    }
    free(din);
    free(dout);
    free(ms);
    for (int k = 0; k < UD_MAX_TENSORS; k++) { ud_tensor_free(&in[k]); ud_tensor_free(&out[k]); }
    return rc;
}

static int write_json(const char *path, const bench_row *rows, int n, double copy_gbps, size_t l2)
{
    json_t *root = json_object(), *arr = json_array();
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(root, "schema", json_string("ulpdiff-bench/1"));
    json_object_set_new(root, "device", json_string(ud_device_name()));
    json_object_set_new(root, "date", json_string(when));
    json_object_set_new(root, "copy_gbps", json_real(copy_gbps));
    json_object_set_new(root, "l2_bytes", json_integer((json_int_t)l2));
    for (int i = 0; i < n; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "op", json_string(rows[i].op));
        json_object_set_new(r, "case", json_string(rows[i].label));
        json_object_set_new(r, "median_us", json_real(rows[i].ms * 1e3));
        json_object_set_new(r, "bytes", json_integer((json_int_t)rows[i].bytes));
        json_object_set_new(r, "gbps", json_real(rows[i].gbps));
        json_object_set_new(r, "fraction_of_copy", json_real(rows[i].frac));
        json_array_append_new(arr, r);
    }
    json_object_set_new(root, "kernels", arr);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(root, tmp, JSON_INDENT(2));
    json_decref(root);
    if (rc || rename(tmp, path)) { ud_error("bench: cannot write %s", path); return UD_EINTERNAL; }
    return UD_OK;
}

int ud_cmd_bench(int argc, char **argv)
{
    const char *only = NULL, *json = NULL;
    const char *pn[UD_MAX_PARAMS], *pv[UD_MAX_PARAMS];
    int np = 0, iters = 50, dry_run = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) { dry_run = 1; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: ulpdiff bench [--op NAME] [--iters N] [--json FILE] [--PARAM V ...] [--dry-run]\n"
                   "  times every production cuda kernel at its bench shape (median of N calls after warm-up,\n"
                   "  rotating inputs larger than L2); --PARAM overrides a parameter (needs --op); --json writes\n"
                   "  schema ulpdiff-bench/1; --dry-run lists the bench cases without a device\n");
            return UD_EXIT_PASS;
        }
        if (strncmp(a, "--", 2) != 0 || !v) { fprintf(stderr, "ulpdiff bench: expected --FLAG VALUE, got '%s'\n", a); return UD_EXIT_USAGE; }
        i++;
        if (strcmp(a, "--op") == 0) only = v;
        else if (strcmp(a, "--json") == 0) json = v;
        else if (strcmp(a, "--iters") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000) { fprintf(stderr, "ulpdiff bench: --iters: expected 1..100000\n"); return UD_EXIT_USAGE; }
            iters = (int)n;
        } else if (np < UD_MAX_PARAMS) { pn[np] = a + 2; pv[np++] = v; }
    }
    if (np && !only) { fprintf(stderr, "ulpdiff bench: --%s needs --op\n", pn[0]); return UD_EXIT_USAGE; }
    if (only && !ud_op_find(only)) { fprintf(stderr, "ulpdiff bench: --op: unknown operator '%s'\n", only); return UD_EXIT_USAGE; }
    if (dry_run) {   /* the cases only: operator, tab, label */
        for (int i = 0; i < ud_op_count(); i++) {
            const ud_op *op = ud_op_at(i);
            if ((only && strcmp(only, op->name)) || !op->bench) continue;
            ud_case c;
            if (bench_case(op, pn, pv, np, &c)) return UD_EXIT_USAGE;
            printf("%s\t%s\n", op->name, c.label);
        }
        return UD_EXIT_PASS;
    }
    char why[256];
    if (!ud_device_available(why, sizeof why)) { fprintf(stderr, "ulpdiff bench: needs a CUDA device: %s\n", why); return UD_EXIT_INTERNAL; }
    size_t l2 = 0;
    double copy = 0.0;
    if (ud_device_l2_bytes(&l2) || ud_device_copy_gbps((size_t)1 << 30, 20, &copy)) return UD_EXIT_INTERNAL;
    printf("device: %s, L2 %.0f MB, device-to-device copy %.0f GB/s (read + write)\n", ud_device_name(), l2 / 1e6, copy);
    printf("%-22s %10s %10s %9s %7s  %s\n", "operator", "median us", "MB moved", "GB/s", "% copy", "case");
    bench_row rows[64];
    int n = 0, rc = UD_EXIT_PASS;
    for (int i = 0; i < ud_op_count() && n < 64; i++) {
        const ud_op *op = ud_op_at(i);
        if (only && strcmp(only, op->name)) continue;
        if (!op->bench || !op->run_cuda) { printf("%-22s (no bench shape)\n", op->name); continue; }
        ud_case c;
        if (bench_case(op, pn, pv, np, &c)) return UD_EXIT_USAGE;
        if (bench_one(&c, iters, l2, copy, &rows[n]) != UD_OK) { rc = UD_EXIT_INTERNAL; continue; }
        printf("%-22s %10.1f %10.1f %9.0f %6.1f%%  %s\n", op->name, rows[n].ms * 1e3, rows[n].bytes / 1e6,
               rows[n].gbps, 100.0 * rows[n].frac, rows[n].label);
        fflush(stdout);
        n++;
    }
    if (json && write_json(json, rows, n, copy, l2) != UD_OK) rc = UD_EXIT_INTERNAL;
    return rc;
}
