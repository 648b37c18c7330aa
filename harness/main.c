/* main.c — the ulpdiff command line.
 *
 *   ulpdiff list [ops|mutants]           describe operators / print names for scripts
 *   ulpdiff run [options] [--PARAM V,..] run cases; exit 0 pass, 1 findings, 2 usage, 3 error
 *   ulpdiff mutants [options]            run every known-bug variant; all must be caught
 *
 * Exit codes are DESIGN.md's: 0 all pass, 1 findings, 2 bad input or usage, 3 internal or
 * device error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/text.h"
#include "check.h"
#include "registry.h"
#include "run.h"
#include "spec.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ulpdiff <command> [options]\n"
            "commands:\n"
            "  list [ops|mutants]     describe operators and known-bug variants (names only with ops/mutants)\n"
            "  run [options]          run cases; without --op, every operator's default sweep\n"
            "  mutants [options]      run every known-bug variant against its operator's cases: each must be\n"
            "                         caught by its expected finding, and production must pass\n"
            "options for run and mutants:\n"
            "  --op NAME              operator (see `ulpdiff list`)\n"
            "  --mutant OP.BUG        run the known-bug variant OP.BUG instead of the production kernel\n"
            "  --backend cpu|cuda|auto  default auto: cuda when a GPU is present, else cpu\n"
            "  --seed N               first seed (default 1); --seeds N: seeds per case (default 1)\n"
            "  --mpfr                 compute the reference with MPFR instead of the fast path\n"
            "  --verbose              statistics and worst element for every case\n"
            "  --PARAM V1,V2,...      operator parameter (needs --op); lo..hi draws per seed\n");
}

typedef struct {
    const char *op;
    const char *mutant;
    const char *backend;
    uint64_t seed;
    int seeds;
    int mpfr;
    int verbose;
    const char *pnames[UD_MAX_PARAMS];
    const char *pvals[UD_MAX_PARAMS];
    int np;
} cli;

static int parse_u64(const char *flag, const char *v, uint64_t *out)
{
    char *end;
    if (!v || !*v) { fprintf(stderr, "ulpdiff: %s needs a value\n", flag); return -1; }
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || v[0] == '-') { fprintf(stderr, "ulpdiff: %s: '%s' is not a non-negative integer\n", flag, v); return -1; }
    *out = x;
    return 0;
}

static int parse_cli(int argc, char **argv, cli *o)
{
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->seed = 1;
    o->seeds = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--mpfr") == 0) { o->mpfr = 1; continue; }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) { o->verbose = 1; continue; }
        if (strncmp(a, "--", 2) != 0) { fprintf(stderr, "ulpdiff: unexpected argument '%s'\n", a); return -1; }
        if (!v) { fprintf(stderr, "ulpdiff: %s needs a value\n", a); return -1; }
        i++;
        if (strcmp(a, "--op") == 0) o->op = v;
        else if (strcmp(a, "--mutant") == 0) o->mutant = v;
        else if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--seed") == 0) { if (parse_u64(a, v, &o->seed)) return -1; }
        else if (strcmp(a, "--seeds") == 0) {
            uint64_t s;
            if (parse_u64(a, v, &s) || s < 1 || s > 100000) { fprintf(stderr, "ulpdiff: --seeds: expected 1..100000\n"); return -1; }
            o->seeds = (int)s;
        } else {
            if (o->np == UD_MAX_PARAMS) { fprintf(stderr, "ulpdiff: too many parameters\n"); return -1; }
            o->pnames[o->np] = a + 2;
            o->pvals[o->np++] = v;
        }
    }
    if (strcmp(o->backend, "cpu") && strcmp(o->backend, "cuda") && strcmp(o->backend, "auto")) {
        fprintf(stderr, "ulpdiff: --backend: '%s' is not one of cpu, cuda, auto\n", o->backend);
        return -1;
    }
    return 0;
}

/* Resolves the backend; returns UD_EXIT_* on failure, -1 on success. */
static int pick_backend(const cli *o, ud_backend *be)
{
    char why[256];
    if (strcmp(o->backend, "cpu") == 0) { *be = UD_BACKEND_CPU; return -1; }
    int have = ud_device_available(why, sizeof why);
    if (strcmp(o->backend, "cuda") == 0) {
        if (!have) { fprintf(stderr, "ulpdiff: --backend cuda: %s\n", why); return UD_EXIT_INTERNAL; }
        *be = UD_BACKEND_CUDA;
        return -1;
    }
    *be = have ? UD_BACKEND_CUDA : UD_BACKEND_CPU;
    if (!have) fprintf(stderr, "ulpdiff: cuda backend skipped: %s; running on cpu\n", why);
    return -1;
}

static void op_names(const char **names, size_t *n)
{
    *n = 0;
    for (int i = 0; i < ud_op_count() && *n < 64; i++) names[(*n)++] = ud_op_at(i)->name;
}

/* Builds the cases for the command line's selection. Returns 0 or an exit code. */
static int build_cases(const cli *o, ud_case **cases, size_t *n)
{
    const ud_op *only = NULL;
    int mutant = 0;
    if (o->mutant) {
        if (ud_mutant_find(o->mutant, &only, &mutant)) {
            fprintf(stderr, "ulpdiff: --mutant: unknown variant '%s' (`ulpdiff list mutants` lists them)\n", o->mutant);
            return UD_EXIT_USAGE;
        }
        if (o->op && strcmp(o->op, only->name) != 0) {
            fprintf(stderr, "ulpdiff: --mutant %s belongs to operator %s, not --op %s\n", o->mutant, only->name, o->op);
            return UD_EXIT_USAGE;
        }
    } else if (o->op) {
        only = ud_op_find(o->op);
        if (!only) {
            const char *names[64];
            size_t nn;
            op_names(names, &nn);
            const char *dym = ud_did_you_mean(o->op, names, nn);
            fprintf(stderr, "ulpdiff: --op: unknown operator '%s'%s%s%s\n", o->op, dym ? "; did you mean '" : "",
                    dym ? dym : "", dym ? "'?" : "");
            return UD_EXIT_USAGE;
        }
    }
    if (o->np && !only) {
        fprintf(stderr, "ulpdiff: --%s needs --op (parameters belong to an operator)\n", o->pnames[0]);
        return UD_EXIT_USAGE;
    }
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (only && op != only) continue;
        ud_spec s;
        ud_spec_init(&s, op);
        s.mutant = mutant;
        s.seed0 = o->seed;
        s.seeds = o->seeds;
        for (int k = 0; k < o->np; k++) {
            int idx = -1;
            const char *pn[UD_MAX_PARAMS];
            for (int j = 0; j < op->nparams; j++) {
                pn[j] = op->params[j].name;
                if (strcmp(op->params[j].name, o->pnames[k]) == 0) idx = j;
            }
            if (idx < 0) {
                const char *dym = ud_did_you_mean(o->pnames[k], pn, (size_t)op->nparams);
                fprintf(stderr, "ulpdiff: --%s: %s has no parameter '%s'%s%s%s\n", o->pnames[k], op->name,
                        o->pnames[k], dym ? "; did you mean --" : "", dym ? dym : "", dym ? "?" : "");
                return UD_EXIT_USAGE;
            }
            s.vals[idx] = o->pvals[k];
        }
        char err[600];
        if (ud_spec_expand(&s, cases, n, err, sizeof err)) {
            fprintf(stderr, "ulpdiff: %s\n", err);
            return UD_EXIT_USAGE;
        }
    }
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "ops") == 0) {
        for (int i = 0; i < ud_op_count(); i++) printf("%s\n", ud_op_at(i)->name);
        return UD_EXIT_PASS;
    }
    if (argc > 0 && strcmp(argv[0], "mutants") == 0) {
        for (int i = 0; i < ud_op_count(); i++)
            for (int k = 0; k < ud_op_at(i)->nmutants; k++)
                printf("%s.%s\n", ud_op_at(i)->name, ud_op_at(i)->mutants[k].name);
        return UD_EXIT_PASS;
    }
    if (argc > 0) {
        fprintf(stderr, "ulpdiff list: unknown argument '%s' (expected ops or mutants)\n", argv[0]);
        return UD_EXIT_USAGE;
    }
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        printf("%s — %s\n  spec: %s\n  inputs:", op->name, op->summary, op->doc);
        for (int k = 0; op->inputs[k]; k++) printf(" %s", op->inputs[k]);
        printf("; outputs:");
        for (int k = 0; op->outputs[k]; k++) printf(" %s", op->outputs[k]);
        printf("\n  parameters (default):\n");
        for (int k = 0; k < op->nparams; k++) {
            const ud_param *p = &op->params[k];
            printf("    %-10s = %-28s %s", p->name, p->def, p->help);
            if (p->choices) {
                printf(" {");
                for (int c = 0; p->choices[c]; c++) printf(c ? ", %s" : "%s", p->choices[c]);
                printf("}");
            } else {
                printf(" [%g..%g]", p->lo, p->hi);
            }
            printf("\n");
        }
        printf("  known-bug variants:\n");
        for (int k = 0; k < op->nmutants; k++)
            printf("    %s.%s — %s (caught by: %s)\n", op->name, op->mutants[k].name, op->mutants[k].what,
                   op->mutants[k].expect);
        printf("\n");
    }
    return UD_EXIT_PASS;
}

static int cmd_run(int argc, char **argv)
{
    cli o;
    if (parse_cli(argc, argv, &o)) return UD_EXIT_USAGE;
    ud_case *cases = NULL;
    size_t n = 0;
    int rc = build_cases(&o, &cases, &n);
    if (rc) { free(cases); return rc; }
    ud_backend be;
    rc = pick_backend(&o, &be);
    if (rc >= 0) { free(cases); return rc; }
    ud_run_opts ro = {be, o.mpfr, NULL};
    ud_result *res = calloc(n ? n : 1, sizeof *res);
    if (!res) { free(cases); fprintf(stderr, "ulpdiff: out of memory\n"); return UD_EXIT_INTERNAL; }
    int any_fail = 0, any_error = 0;
    for (size_t i = 0; i < n; i++) {
        int st = ud_run_case(&cases[i], &ro, &res[i]);
        if (st != UD_OK) any_error = 1;
        if (res[i].nfindings) any_fail = 1;
        ud_text_case(stdout, &res[i], o.verbose);
        fflush(stdout);
    }
    ud_text_summary(stdout, res, n);
    free(res);
    free(cases);
    return any_error ? UD_EXIT_INTERNAL : any_fail ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
}

/* Every variant must be caught (by its expected finding) on its operator's cases, and the
 * production kernel must pass them. */
static int cmd_mutants(int argc, char **argv)
{
    cli o;
    if (parse_cli(argc, argv, &o)) return UD_EXIT_USAGE;
    if (o.mutant || o.np) { fprintf(stderr, "ulpdiff mutants: takes --op, --backend, --seed, --seeds only\n"); return UD_EXIT_USAGE; }
    ud_backend be;
    int rc = pick_backend(&o, &be);
    if (rc >= 0) return rc;
    ud_run_opts ro = {be, o.mpfr, NULL};
    int total = 0, caught = 0, prod_fail = 0, errors = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (o.op && strcmp(o.op, op->name)) continue;
        for (int m = 0; m <= op->nmutants; m++) {
            ud_spec s;
            ud_spec_init(&s, op);
            s.mutant = m;
            s.seed0 = o.seed;
            s.seeds = o.seeds;
            ud_case *cases = NULL;
            size_t n = 0;
            char err[600];
            if (ud_spec_expand(&s, &cases, &n, err, sizeof err)) { fprintf(stderr, "ulpdiff: %s\n", err); return UD_EXIT_USAGE; }
            size_t failed = 0, expected_hits = 0;
            const char *expect = m ? op->mutants[m - 1].expect : NULL;
            char first[1000] = "";
            for (size_t c = 0; c < n; c++) {
                ud_result r;
                if (ud_run_case(&cases[c], &ro, &r) != UD_OK) errors++;
                if (r.nfindings) {
                    failed++;
                    for (int f = 0; f < r.nfindings; f++)
                        if (expect && strcmp(ud_finding_names[r.findings[f].kind], expect) == 0) {
                            if (!expected_hits++) snprintf(first, sizeof first, "%s", r.c.label);
                        }
                    if (!m && !first[0]) snprintf(first, sizeof first, "%s: %s", r.c.label, r.findings[0].msg);
                }
            }
            if (!m) {
                printf("%-48s %s (%zu cases)%s%s\n", op->name, failed ? "PRODUCTION FAILS" : "production passes", n,
                       failed ? "; first: " : "", failed ? first : "");
                prod_fail += failed > 0;
            } else {
                total++;
                caught += expected_hits > 0;
                printf("%s.%-*s %s: %zu/%zu cases with %s%s%s\n", op->name, (int)(47 - strlen(op->name)),
                       op->mutants[m - 1].name, expected_hits ? "caught" : "SURVIVED", expected_hits, n, expect,
                       expected_hits ? ", first " : "", first);
            }
            free(cases);
        }
    }
    printf("\nmutation score: %d/%d caught; production kernels %s\n", caught, total,
           prod_fail ? "FAIL" : "pass");
    if (errors) return UD_EXIT_INTERNAL;
    return (caught == total && !prod_fail) ? UD_EXIT_PASS : UD_EXIT_FINDINGS;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? UD_EXIT_USAGE : UD_EXIT_PASS;
    }
    if (strcmp(argv[1], "list") == 0) return cmd_list(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "mutants") == 0) return cmd_mutants(argc - 2, argv + 2);
    fprintf(stderr, "ulpdiff: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return UD_EXIT_USAGE;
}
