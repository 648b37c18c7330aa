/* bench.c — `ulpdiff bench`: every operator's production cuda kernel, timed at its bench shape
 * (the model shapes of docs/performance.md) and at decode shapes (tokens = 1 and 16), in one
 * pass, with the device named.
 *
 * Inputs come from the operator's own generator (never all zero), once per case; its host
 * buffers are uploaded into enough rotating sets that together they exceed 4x the L2 size, so a
 * timed call reads from DRAM (decode shapes fit in L2 whatever we do: their times are
 * latency). Outputs are poisoned. Calls are warmed up for --warmup-ms of device time (clocks
 * ramp up from idle; a 5-call warm-up measured a cold GPU), then --iters calls are enqueued back
 * to back, each between its own pair of CUDA events, with one synchronisation at the end
 * (harness/core/device.cu): the median call time is reported, free of host launch gaps.
 * Bytes moved are the ideal minimum — every input read once, every output written once — so a
 * kernel that re-reads pays for it in the fraction of the device-to-device copy bandwidth.
 *
 * --configs also times every launch configuration an operator offers (ud_op.tune_cuda) side by
 * side, and checks that each one's outputs equal the production kernel's bit for bit.
 * --baseline FILE compares the production rows with a committed run (bench/baselines/) and
 * flags a kernel more than --slack (10%) slower: exit 1. JSON: schema ulpdiff-bench/1
 * (docs/performance.md), one row per (case, configuration). */
#include "harness/bench/bench.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/cases/spec.h"
#include "harness/core/files.h"
#include "harness/core/tensor.h"
#include "harness/ops/registry.h"
#include "numerics/status.h"
#include "ud_git_commit.h"

#define MAX_ROWS 512

typedef struct {
    const char *op;
    char shape[16];
    char label[320];
    char config[64];
    double median_us, min_us, gbps, frac;
    size_t bytes;
    int same_bits;         /* configuration rows: outputs equal production's (1), differ (0) */
    char flag[96];         /* baseline comparison */
} bench_row;

typedef struct {
    const char *only, *json, *baseline;
    const char *pn[UD_MAX_PARAMS], *pv[UD_MAX_PARAMS];
    int np, iters, configs, dry_run;
    int shapes;            /* bit 0 bench, 1 decode1, 2 decode16 */
    double warmup_ms, slack;
} bench_opts;

static const char *const shape_names[] = {"bench", "decode1", "decode16"};
static const int shape_tokens[] = {0, 1, 16};

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The op's bench case (its `bench` string, command-line overrides, then the shape's tokens).
 * Returns 0, 1 when the shape does not apply (no tokens parameter), or UD_EUSAGE. */
static int bench_case(const ud_op *op, const bench_opts *o, int shape, ud_case *out)
{
    ud_spec s;
    ud_spec_init(&s, op);
    char buf[UD_MAX_PARAMS][128], tmp[512], tok[32];
    snprintf(tmp, sizeof tmp, "%s", op->bench);
    char *save = NULL;
    for (char *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) continue;
        *eq = 0;
        int k = ud_param_index(op, t);
        snprintf(buf[k], sizeof buf[k], "%s", eq + 1);
        s.vals[k] = buf[k];
    }
    for (int i = 0; i < o->np; i++) {
        int k = -1;
        for (int j = 0; j < op->nparams; j++)
            if (strcmp(op->params[j].name, o->pn[i]) == 0) k = j;
        if (k < 0) { fprintf(stderr, "ulpdiff bench: --%s: %s has no such parameter\n", o->pn[i], op->name); return UD_EUSAGE; }
        s.vals[k] = o->pv[i];
    }
    if (shape_tokens[shape]) {
        int k = -1;
        for (int j = 0; j < op->nparams; j++)
            if (strcmp(op->params[j].name, "tokens") == 0) k = j;
        if (k < 0) return 1;
        snprintf(tok, sizeof tok, "%d", shape_tokens[shape]);
        s.vals[k] = tok;
    }
    ud_case *cases = NULL;
    size_t n = 0;
    char err[600];
    if (ud_spec_expand(&s, &cases, &n, err, sizeof err) || n == 0) {
        fprintf(stderr, "ulpdiff bench: %s: %s\n", op->name, n ? err : "the bench case expands to nothing");
        free(cases);
        return UD_EUSAGE;
    }
    *out = cases[0];
    free(cases);
    return 0;
}

/* ------------------------------------------------------------------ one case */

typedef struct {
    const ud_case *c;
    ud_tensor (*in)[UD_MAX_TENSORS], (*out)[UD_MAX_TENSORS];
    int sets, cfg;         /* cfg < 0: the production kernel's own choice */
} launch_ctx;

static int launch(void *user, int i)
{
    launch_ctx *x = user;
    int s = i % x->sets;
    if (x->cfg < 0) return x->c->op->run_cuda(x->c, 0, x->in[s], x->out[s]);
    const char *name;
    return x->c->op->tune_cuda(x->c, x->cfg, x->in[s], x->out[s], &name);
}

/* Host copies of set 0's outputs (for the configurations' bit-for-bit check). */
static int outputs_to_host(ud_tensor *out, int nout)
{
    UD_TRY(ud_device_sync());
    for (int k = 0; k < nout; k++) UD_TRY(ud_tensor_to_host(&out[k]));
    return UD_OK;
}

static int time_config(launch_ctx *x, const bench_opts *o, float *ms, double *median, double *min)
{
    UD_TRY(ud_warm_up(launch, x, o->warmup_ms, 10));
    UD_TRY(ud_time_launches(launch, x, o->iters, ms));
    qsort(ms, (size_t)o->iters, sizeof *ms, cmp_float);
    *median = 1e3 * (o->iters % 2 ? ms[o->iters / 2] : 0.5 * (ms[o->iters / 2 - 1] + ms[o->iters / 2]));
    *min = 1e3 * ms[0];
    return UD_OK;
}

static void fill_row(bench_row *r, const ud_case *c, int shape, const char *config, size_t bytes, double copy)
{
    memset(r, 0, sizeof *r);
    r->op = c->op->name;
    snprintf(r->shape, sizeof r->shape, "%s", shape_names[shape]);
    snprintf(r->label, sizeof r->label, "%s", c->label);
    snprintf(r->config, sizeof r->config, "%s", config);
    r->bytes = bytes;
    (void)copy;
    r->same_bits = -1;
}

static void print_row(const bench_row *r)
{
    printf("%-20s %-8s %-22s %9.1f %9.1f %8.1f %7.0f %6.1f%%%s%s\n", r->op, r->shape, r->config, r->median_us, r->min_us,
           r->bytes / 1e6, r->gbps, 100.0 * r->frac, r->same_bits == 0 ? "  OUTPUT DIFFERS" : "",
           r->flag[0] ? r->flag : "");
    fflush(stdout);
}

/* Times case c (production, then every configuration with --configs); appends rows. */
static int bench_one(const ud_case *c, int shape, const bench_opts *o, size_t l2, double copy, bench_row *rows, int *nrows)
{
    const ud_op *op = c->op;
    int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS], ref_out[UD_MAX_TENSORS];
    UD_TRY(ud_case_make_tensors(c, in, out));
    int rc = op->generate(c, in);
    size_t bytes = 0;
    for (int k = 0; k < nin; k++) bytes += ud_tensor_bytes(&in[k]);
    for (int k = 0; k < nout; k++) bytes += ud_tensor_bytes(&out[k]);
    int sets = (int)((4 * l2 + bytes - 1) / (bytes ? bytes : 1));
    sets = sets < 2 ? 2 : sets > 64 ? 64 : sets;
    ud_tensor(*din)[UD_MAX_TENSORS] = calloc((size_t)sets, sizeof *din);
    ud_tensor(*dout)[UD_MAX_TENSORS] = calloc((size_t)sets, sizeof *dout);
    float *ms = calloc((size_t)o->iters, sizeof *ms);
    if (!din || !dout || !ms) { ud_error("bench: out of memory"); rc = UD_EINTERNAL; }
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
    memset(ref_out, 0, sizeof ref_out);
    launch_ctx x = {c, din, dout, sets, -1};
    for (int cfg = -1; rc == UD_OK && *nrows < MAX_ROWS; cfg++) {
        const char *name = "production";
        if (cfg >= 0) {
            if (!o->configs || !op->tune_cuda) break;
            /* A configuration that does not exist ends the list (UD_EUSAGE). */
            int t = op->tune_cuda(c, cfg, din[0], dout[0], &name);
            if (t == UD_EUSAGE) break;
            if (t != UD_OK) { rc = t; break; }
        }
        for (int k = 0; k < nout && rc == UD_OK; k++) rc = ud_tensor_poison_device(&dout[0][k]);
        x.cfg = cfg;
        bench_row *r = &rows[*nrows];
        fill_row(r, c, shape, name, bytes, copy);
        if (rc == UD_OK) rc = time_config(&x, o, ms, &r->median_us, &r->min_us);
        if (rc != UD_OK) break;
        r->gbps = (double)bytes / (r->median_us * 1e-6) / 1e9;
        r->frac = r->gbps / copy;
        /* Set 0 was poisoned before the timed calls and fully written by them: production's
         * outputs are the bits every configuration must reproduce. The sets share out[k]'s
         * host buffer as download scratch. */
        if (o->configs && op->tune_cuda) {
            rc = outputs_to_host(dout[0], nout);
            for (int k = 0; k < nout && rc == UD_OK; k++) {
                if (cfg < 0) {
                    ref_out[k] = out[k];
                    ref_out[k].dev = NULL;
                    ref_out[k].host = malloc(ud_tensor_bytes(&out[k]) + 1);
                    if (!ref_out[k].host) { ud_error("bench: out of memory"); rc = UD_EINTERNAL; break; }
                    memcpy(ref_out[k].host, out[k].host, ud_tensor_bytes(&out[k]));
                } else {
                    size_t first;
                    r->same_bits = (r->same_bits != 0) && ud_tensor_bitwise_diff(&out[k], &ref_out[k], &first) == 0;
                }
            }
        }
        (*nrows)++;
        print_row(r);
    }
    for (int s = 0; s < sets; s++)
        for (int k = 0; k < UD_MAX_TENSORS; k++) {
            if (din && din[s][k].dev) ud_device_free(din[s][k].dev);
            if (dout && dout[s][k].dev) ud_device_free(dout[s][k].dev);
        }
    free(din);
    free(dout);
    free(ms);
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&in[k]);
        ud_tensor_free(&out[k]);
        free(ref_out[k].host);
    }
    return rc;
}

/* ------------------------------------------------------------------ baseline */

/* Flags production rows more than o->slack slower than the same (op, case) in the baseline.
 * Returns the number flagged, or -1 on a bad file (message printed). */
static int compare_baseline(const bench_opts *o, const char *device, bench_row *rows, int n)
{
    json_error_t err;
    json_t *b = json_load_file(o->baseline, 0, &err);
    if (!b) {
        fprintf(stderr, "ulpdiff bench: --baseline %s:%d: %s\n", o->baseline, err.line, err.text);
        return -1;
    }
    json_t *kernels = json_object_get(b, "kernels");
    const char *bdev = json_string_value(json_object_get(b, "device"));
    if (!json_is_array(kernels) || !bdev) {
        fprintf(stderr, "ulpdiff bench: --baseline %s: not an ulpdiff-bench report (no device or kernels)\n", o->baseline);
        json_decref(b);
        return -1;
    }
    if (strcmp(bdev, device) != 0) {
        printf("baseline %s was measured on %s, not %s: not compared\n", o->baseline, bdev, device);
        json_decref(b);
        return 0;
    }
    int flagged = 0, matched = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].config, "production") != 0) continue;
        size_t k;
        json_t *e;
        json_array_foreach(kernels, k, e) {
            const char *cs = json_string_value(json_object_get(e, "case"));
            const char *cf = json_string_value(json_object_get(e, "config"));
            double us = json_number_value(json_object_get(e, "median_us"));
            if (!cs || strcmp(cs, rows[i].label) || (cf && strcmp(cf, "production")) || !(us > 0)) continue;
            matched++;
            double ratio = rows[i].median_us / us;
            if (ratio > 1.0 + o->slack) {
                snprintf(rows[i].flag, sizeof rows[i].flag, "  SLOWER: %.1f us was %.1f (+%.0f%%)", rows[i].median_us, us,
                         100.0 * (ratio - 1.0));
                printf("%s %s: %s\n", rows[i].op, rows[i].shape, rows[i].flag + 2);
                flagged++;
            }
            break;
        }
    }
    printf("baseline %s: %d kernels compared, %d more than %.0f%% slower\n", o->baseline, matched, flagged, 100.0 * o->slack);
    json_decref(b);
    return flagged;
}

/* ------------------------------------------------------------------ JSON */

static int dump_json(FILE *f, void *root) { return json_dumpf((json_t *)root, f, JSON_INDENT(2)); }

static int write_json(const char *path, const char *device, const bench_row *rows, int n, double copy, size_t l2)
{
    json_t *root = json_object(), *arr = json_array();
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(root, "schema", json_string("ulpdiff-bench/1"));
    json_object_set_new(root, "device", json_string(device));
    json_object_set_new(root, "date", json_string(when));
    json_object_set_new(root, "commit", json_string(UD_GIT_COMMIT));
    json_object_set_new(root, "copy_gbps", json_real(copy));
    json_object_set_new(root, "l2_bytes", json_integer((json_int_t)l2));
    for (int i = 0; i < n; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "op", json_string(rows[i].op));
        json_object_set_new(r, "shape", json_string(rows[i].shape));
        json_object_set_new(r, "config", json_string(rows[i].config));
        json_object_set_new(r, "case", json_string(rows[i].label));
        json_object_set_new(r, "median_us", json_real(rows[i].median_us));
        json_object_set_new(r, "min_us", json_real(rows[i].min_us));
        json_object_set_new(r, "bytes", json_integer((json_int_t)rows[i].bytes));
        json_object_set_new(r, "gbps", json_real(rows[i].gbps));
        json_object_set_new(r, "fraction_of_copy", json_real(rows[i].frac));
        if (rows[i].same_bits >= 0) json_object_set_new(r, "same_bits", json_boolean(rows[i].same_bits));
        if (rows[i].flag[0]) json_object_set_new(r, "flag", json_string(rows[i].flag + 2));
        json_array_append_new(arr, r);
    }
    json_object_set_new(root, "kernels", arr);
    int rc = ud_write_atomic(path, dump_json, root);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ command */

static void usage(FILE *f)
{
    fprintf(f, "usage: ulpdiff bench [--op NAME[,NAME...]] [--shapes bench,decode1,decode16] [--iters N]\n"
               "                     [--warmup-ms MS] [--configs] [--json FILE] [--baseline FILE [--slack F]]\n"
               "                     [--PARAM V ...] [--dry-run]\n"
               "  times every operator's production cuda kernel at its bench shape and at tokens = 1 and 16\n"
               "  (median of N back-to-back calls after MS of warm-up, inputs rotated through more than 4x L2);\n"
               "  --configs: also every launch configuration, side by side, each checked bit for bit against\n"
               "  production; --baseline: exit 1 when a kernel is more than F (default 0.10) slower than the\n"
               "  same case in FILE; --PARAM V overrides a parameter (with one --op); --dry-run lists cases\n");
}

static int parse_double(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ulpdiff bench: %s: '%s' is not a number in %g..%g\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse(int argc, char **argv, bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iters = 100;
    o->warmup_ms = 100.0;
    o->slack = 0.10;
    o->shapes = 7;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dry-run") == 0) { o->dry_run = 1; continue; }
        if (strcmp(a, "--configs") == 0) { o->configs = 1; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 1; }
        if (strncmp(a, "--", 2) != 0) { fprintf(stderr, "ulpdiff bench: unexpected argument '%s'\n", a); return -1; }
        if (!v) { fprintf(stderr, "ulpdiff bench: %s needs a value\n", a); return -1; }
        i++;
        double d;
        if (strcmp(a, "--op") == 0) o->only = v;
        else if (strcmp(a, "--json") == 0) o->json = v;
        else if (strcmp(a, "--baseline") == 0) o->baseline = v;
        else if (strcmp(a, "--iters") == 0) {
            if (parse_double(a, v, 1, 100000, &d) || d != floor(d)) { fprintf(stderr, "ulpdiff bench: --iters: expected an integer 1..100000\n"); return -1; }
            o->iters = (int)d;
        } else if (strcmp(a, "--warmup-ms") == 0) {
            if (parse_double(a, v, 0, 60000, &o->warmup_ms)) return -1;
        } else if (strcmp(a, "--slack") == 0) {
            if (parse_double(a, v, 0, 10, &o->slack)) return -1;
        } else if (strcmp(a, "--shapes") == 0) {
            o->shapes = 0;
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s", v);
            char *save = NULL;
            for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int k = 0;
                while (k < 3 && strcmp(t, shape_names[k])) k++;
                if (k == 3) { fprintf(stderr, "ulpdiff bench: --shapes: '%s' is not bench, decode1 or decode16\n", t); return -1; }
                o->shapes |= 1 << k;
            }
        } else if (o->np < UD_MAX_PARAMS) {
            o->pn[o->np] = a + 2;
            o->pv[o->np++] = v;
        } else {
            fprintf(stderr, "ulpdiff bench: too many parameters\n");
            return -1;
        }
    }
    return 0;
}

/* Is op among the comma-separated names of `only` (NULL: all)? */
static int selected(const char *only, const char *name)
{
    if (!only) return 1;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int ud_bench_main(int argc, char **argv)
{
    bench_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc > 0 ? UD_EXIT_PASS : UD_EXIT_USAGE;
    int nsel = 0;
    for (int i = 0; i < ud_op_count(); i++) nsel += selected(o.only, ud_op_at(i)->name);
    if (o.only && nsel == 0) { fprintf(stderr, "ulpdiff bench: --op %s: no such operator (`ulpdiff list ops`)\n", o.only); return UD_EXIT_USAGE; }
    if (o.np && nsel != 1) { fprintf(stderr, "ulpdiff bench: --%s needs one --op\n", o.pn[0]); return UD_EXIT_USAGE; }
    bench_row *rows = calloc(MAX_ROWS, sizeof *rows);
    if (!rows) { ud_error("bench: out of memory"); return UD_EXIT_INTERNAL; }
    int rc = UD_EXIT_PASS, n = 0;
    char why[256], device[256];
    size_t l2 = 0;
    double copy = 0.0;
    if (!o.dry_run) {
        if (!ud_device_available(why, sizeof why)) {
            fprintf(stderr, "ulpdiff bench: needs a CUDA device: %s\n", why);
            free(rows);
            return UD_EXIT_INTERNAL;
        }
        if (ud_device_l2_bytes(&l2) || ud_device_copy_gbps((size_t)1 << 30, 20, &copy) ||
            ud_device_describe(device, sizeof device)) {
            free(rows);
            return UD_EXIT_INTERNAL;
        }
        printf("device: %s; device-to-device copy %.0f GB/s (read + write)\n", device, copy);
        printf("%-20s %-8s %-22s %9s %9s %8s %7s %7s\n", "operator", "shape", "config", "median us", "min us", "MB", "GB/s",
               "% copy");
        snprintf(device, sizeof device, "%s", ud_device_name());
    }
    for (int i = 0; i < ud_op_count() && rc != UD_EXIT_USAGE; i++) {
        const ud_op *op = ud_op_at(i);
        if (!selected(o.only, op->name)) continue;
        if (!op->bench) {
            if (!o.dry_run) printf("%-20s (no bench shape)\n", op->name);
            continue;
        }
        if (!op->run_cuda && !o.dry_run) { printf("%-20s (no cuda kernel compiled in)\n", op->name); continue; }
        for (int sh = 0; sh < 3; sh++) {
            if (!(o.shapes & (1 << sh))) continue;
            ud_case c;
            int b = bench_case(op, &o, sh, &c);
            if (b == 1) continue;
            if (b) { rc = UD_EXIT_USAGE; break; }
            if (o.dry_run) {   /* the cases only: operator, tab, label (bench/torch_ops.py's SHAPES match them) */
                if (sh == 0) printf("%s\t%s\n", op->name, c.label);
                continue;
            }
            if (bench_one(&c, sh, &o, l2, copy, rows, &n) != UD_OK) {
                fprintf(stderr, "ulpdiff bench: %s failed (see above)\n", c.label);
                rc = UD_EXIT_INTERNAL;
            }
        }
    }
    int differs = 0;
    for (int i = 0; i < n; i++) differs += rows[i].same_bits == 0;
    if (differs) {
        fprintf(stderr, "ulpdiff bench: %d launch configurations computed other bits than production\n", differs);
        rc = UD_EXIT_INTERNAL;
    }
    if (!o.dry_run && o.baseline) {
        int f = compare_baseline(&o, device, rows, n);
        if (f < 0) rc = UD_EXIT_USAGE;
        else if (f > 0 && rc == UD_EXIT_PASS) rc = UD_EXIT_FINDINGS;
    }
    if (!o.dry_run && o.json && write_json(o.json, device, rows, n, copy, l2) != UD_OK) rc = UD_EXIT_INTERNAL;
    free(rows);
    return rc;
}
