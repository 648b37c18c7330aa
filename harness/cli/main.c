/* main.c — the ulpdiff command line.
 *
 *   ulpdiff list [ops|mutants|generators]   describe operators / print names for scripts
 *   ulpdiff run [FILES|DIRS] [options]       run cases; report; shrink failures
 *   ulpdiff validate [FILES|DIRS]            check case files; nothing runs
 *   ulpdiff mutants [FILES|DIRS] [options]   every known-bug variant must be caught
 *   ulpdiff compare OLD.json NEW.json        is NEW worse than OLD?
 *   ulpdiff export [FILES|DIRS] --dir D      inputs + manifest for an external implementation
 *   ulpdiff check --dir D [options]          its outputs, compared and reported as `run` does
 *   ulpdiff run --impl LIB.so                a plugin's kernels in place of ours (harness/plugin.h)
 *   ulpdiff bench [options]                  kernel timings on the GPU (harness/bench.c)
 *
 * Exit codes are DESIGN.md's: 0 all pass, 1 findings (or NEW worse), 2 bad input or usage,
 * 3 internal or device error. Bad case files stop everything before the first case runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reports/report.h"
#include "reports/text.h"
#include "harness/cli/bench.h"
#include "harness/cache/cache_check.h"
#include "harness/cases/casefile.h"
#include "numerics/status.h"
#include "harness/external/exchange.h"
#include "harness/core/gen.h"
#include "harness/exec/isolate.h"
#include "harness/exec/jobs.h"
#include "harness/external/plugin.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/exec/shrink.h"
#include "harness/cases/spec.h"
#include "harness/core/tensor.h"
#include "ud_git_commit.h"

#ifndef UD_VERSION
#define UD_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ulpdiff <command> [options]\n"
            "commands:\n"
            "  run [FILES|DIRS] [options]      run case files (default: the cases/smoke corpus; with --op,\n"
            "                                  --mutant or --PARAM and no files: that operator's default sweep)\n"
            "  validate [FILES|DIRS]           check case files (default: all of cases/); nothing runs\n"
            "  mutants [FILES|DIRS] [options]  run every known-bug variant on its operator's cases (default\n"
            "                                  cases/smoke): each must be caught, production must pass\n"
            "  compare OLD.json NEW.json       per-case deltas; exit 0 NEW no worse, 1 worse, 2 bad input\n"
            "          [--max-slack ULP] [--mean-slack FRACTION] [--all]\n"
            "  list [ops|mutants|generators]   operators, parameters, defaults, variants (names only with an argument)\n"
            "  bench [options]                 production kernel timings on the GPU (`ulpdiff bench --help`)\n"
            "  cache-check [options]           cache-invalidation scenarios of operators with derived state, a\n"
            "                                  randomized mode and reproducer replay (`ulpdiff cache-check --help`)\n"
            "  export [FILES|DIRS] --dir D     write the selected cases' inputs (.npy) and D/manifest.json for an\n"
            "                                  external implementation (run's selection options apply; docs/external.md)\n"
            "  check --dir D [options]         compare the outputs an external implementation wrote into D and report\n"
            "                                  as run does (--op, --json/--junit/--html, -q, -v, --jobs, --mpfr;\n"
            "                                  --skip-missing: leave out cases with no output files)\n"
            "options for run and mutants:\n"
            "  --op NAME              keep one operator's cases\n"
            "  --mutant OP.BUG        run: that variant in place of the production kernel, on OP's cases\n"
            "  --backend cpu|cuda|auto  default auto: cuda when a GPU is present, else cpu\n"
            "  --jobs N               worker threads (default: the core count; results identical for any N)\n"
            "  --seed N, --seeds N    first seed and seeds per case, for sections that do not set them\n"
            "  --mpfr                 compute the reference with MPFR instead of the fast path\n"
            "  --verbose, -v          statistics and worst element for every case\n"
            "  --isolate, --no-isolate  run cases in worker processes, so a kernel that crashes or faults\n"
            "                         costs one `error` case (default: on for cuda and auto, off for cpu)\n"
            "  --case-timeout S       with isolation: a kernel running longer than S seconds is an error\n"
            "  --repeat N             run each kernel N times on the same inputs; outputs must agree bit\n"
            "                         for bit (`nondeterminism` finding otherwise)\n"
            "  --cross-check          cuda: also run the cpu kernel of operators whose backends share a\n"
            "                         reduction order; outputs must agree bit for bit (`backend-mismatch`)\n"
            "options for run:\n"
            "  --shard I/N            run shard I of N (1-based): case k when k mod N == I-1\n"
            "  --max-cases N          run at most N cases (after sharding)\n"
            "  --per-op N             run at most N cases of each operator (after sharding)\n"
            "  --budget-seconds S     start no case after S seconds (the rest are reported as not run)\n"
            "  --json FILE            JSON report (docs/report-format.md), streamed to FILE.partial\n"
            "  --junit FILE           JUnit XML;  --html FILE: self-contained HTML page\n"
            "  --no-shrink            do not shrink failing cases (default: shrink up to --shrink-max 3)\n"
            "  --regressions DIR      where shrunk reproducers go (default cases/regressions)\n"
            "  --impl LIB.so          run a plugin's implementation (include/ulpdiff_plugin.h) in place of the\n"
            "                         production kernels, on the cases of its operators (in-process; shrinks\n"
            "                         only with --regressions)\n"
            "  --dry-run              list the selected cases and exit\n"
            "  --quiet, -q            print failing cases and the summary only\n"
            "  --PARAM V1,V2,...      operator parameter for the default sweep (needs --op, no files)\n");
}

/* ------------------------------------------------------------------ options */

typedef struct {
    const char *op, *mutant, *backend;
    uint64_t seed;
    int seeds, seed_set, seeds_set;
    int mpfr, verbose, quiet, dry_run, shrink, shrink_max, jobs;
    int isolate;              /* -1: by backend (cuda/auto on, cpu off) */
    int repeat, cross_check;
    double case_timeout;
    int shard_k, shard_n;
    long long max_cases, per_op;
    double budget_seconds;
    const char *json, *junit, *html, *regressions;
    const char *impl, *dir;   /* run --impl LIB; export/check --dir D */
    int skip_missing;         /* check: cases with no output files are left out */
    const char *pnames[UD_MAX_PARAMS], *pvals[UD_MAX_PARAMS];
    int np;
    char **pos;
    int npos;
} cli;

static int parse_count(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "ulpdiff: %s: '%s' is not an integer in %lld..%lld\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* cmd: "run" or "mutants". Unknown --flags are operator parameters for run only. Returns 0,
 * -1 on a usage error (message printed), 1 after printing --help. */
static int parse_cli(const char *cmd, int argc, char **argv, cli *o)
{
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->seed = 1;
    o->seeds = 1;
    o->shrink = 1;
    o->shrink_max = 3;
    o->jobs = ud_default_jobs();
    o->shard_k = o->shard_n = 1;
    o->max_cases = -1;
    o->per_op = -1;
    o->isolate = -1;
    o->repeat = 1;
    o->pos = calloc((size_t)argc + 1, sizeof *o->pos);
    if (!o->pos) { fprintf(stderr, "ulpdiff: out of memory\n"); return -1; }
    /* export and check take run's options (export: its case selection; check: its reports). */
    int is_run = strcmp(cmd, "run") == 0 || strcmp(cmd, "export") == 0 || strcmp(cmd, "check") == 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "-", 1) != 0 || strcmp(a, "-") == 0) { o->pos[o->npos++] = argv[i]; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return 1; }
        if (strcmp(a, "--mpfr") == 0) { o->mpfr = 1; continue; }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) { o->verbose = 1; continue; }
        if (strcmp(a, "--isolate") == 0) { o->isolate = 1; continue; }
        if (strcmp(a, "--no-isolate") == 0) { o->isolate = 0; continue; }
        if (strcmp(a, "--cross-check") == 0) { o->cross_check = 1; continue; }
        if (is_run && (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)) { o->quiet = 1; continue; }
        if (is_run && strcmp(a, "--dry-run") == 0) { o->dry_run = 1; continue; }
        if (is_run && strcmp(a, "--no-shrink") == 0) { o->shrink = 0; continue; }
        if (is_run && strcmp(a, "--shrink") == 0) { o->shrink = 1; continue; }
        if (strcmp(cmd, "check") == 0 && strcmp(a, "--skip-missing") == 0) { o->skip_missing = 1; continue; }
        if (strncmp(a, "--", 2) != 0) { fprintf(stderr, "ulpdiff %s: unknown option '%s'\n", cmd, a); return -1; }
        if (!v) { fprintf(stderr, "ulpdiff %s: %s needs a value\n", cmd, a); return -1; }
        i++;
        long long x;
        if (strcmp(a, "--op") == 0) o->op = v;
        else if (strcmp(a, "--mutant") == 0 && is_run) o->mutant = v;
        else if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--seed") == 0) {
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-') { fprintf(stderr, "ulpdiff: --seed: '%s' is not a non-negative integer\n", v); return -1; }
            o->seed = s;
            o->seed_set = 1;
        } else if (strcmp(a, "--seeds") == 0) {
            if (parse_count(a, v, 1, 100000, &x)) return -1;
            o->seeds = (int)x;
            o->seeds_set = 1;
        } else if (strcmp(a, "--repeat") == 0) {
            if (parse_count(a, v, 1, 100, &x)) return -1;
            o->repeat = (int)x;
        } else if (strcmp(a, "--case-timeout") == 0) {
            char *end;
            o->case_timeout = strtod(v, &end);
            if (!*v || *end || !(o->case_timeout > 0) || !isfinite(o->case_timeout)) {
                fprintf(stderr, "ulpdiff: --case-timeout: '%s' is not a positive number of seconds\n", v);
                return -1;
            }
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            if (parse_count(a, v, 1, 1024, &x)) return -1;
            o->jobs = (int)x;
        } else if (is_run && strcmp(a, "--shard") == 0) {
            if (ud_shard_parse(v, &o->shard_k, &o->shard_n)) {
                fprintf(stderr, "ulpdiff: --shard: '%s' is not I/N with 1 <= I <= N (shards are numbered from 1)\n", v);
                return -1;
            }
        } else if (is_run && strcmp(a, "--max-cases") == 0) {
            if (parse_count(a, v, 0, (long long)1 << 40, &o->max_cases)) return -1;
        } else if (is_run && strcmp(a, "--per-op") == 0) {
            if (parse_count(a, v, 1, (long long)1 << 40, &o->per_op)) return -1;
        } else if (is_run && strcmp(a, "--budget-seconds") == 0) {
            char *end;
            o->budget_seconds = strtod(v, &end);
            if (!*v || *end || !(o->budget_seconds > 0) || !isfinite(o->budget_seconds)) {
                fprintf(stderr, "ulpdiff: --budget-seconds: '%s' is not a positive number\n", v);
                return -1;
            }
        } else if (is_run && strcmp(a, "--shrink-max") == 0) {
            if (parse_count(a, v, 0, 1000, &x)) return -1;
            o->shrink_max = (int)x;
        } else if (is_run && strcmp(a, "--json") == 0) o->json = v;
        else if (is_run && strcmp(a, "--junit") == 0) o->junit = v;
        else if (is_run && strcmp(a, "--html") == 0) o->html = v;
        else if (is_run && strcmp(a, "--regressions") == 0) o->regressions = v;
        else if (strcmp(cmd, "run") == 0 && strcmp(a, "--impl") == 0) o->impl = v;
        else if ((strcmp(cmd, "export") == 0 || strcmp(cmd, "check") == 0) && strcmp(a, "--dir") == 0) o->dir = v;
        else if (is_run) {
            if (o->np == UD_MAX_PARAMS) { fprintf(stderr, "ulpdiff: too many parameters\n"); return -1; }
            o->pnames[o->np] = a + 2;
            o->pvals[o->np++] = v;
        } else {
            fprintf(stderr, "ulpdiff %s: unknown option '%s' (`ulpdiff --help`)\n", cmd, a);
            return -1;
        }
    }
    if (strcmp(o->backend, "cpu") && strcmp(o->backend, "cuda") && strcmp(o->backend, "auto")) {
        fprintf(stderr, "ulpdiff: --backend: '%s' is not one of cpu, cuda, auto\n", o->backend);
        return -1;
    }
    return 0;
}

/* With isolation the parent never initialises CUDA (a CUDA fault would end it, and the runtime
 * does not survive fork): a throw-away worker answers whether the device is there. Resolves
 * the backend and whether to isolate; *dev gets the device name. Returns an exit code on
 * failure, -1 on success. */
static int pick_backend_isolated(const cli *o, ud_backend *be, int *isolate, const ud_isolate_opts *io,
                                 char *dev, size_t devn);

/* Resolves the backend; returns an exit code on failure, -1 on success. */
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

static int pick_backend_isolated(const cli *o, ud_backend *be, int *isolate, const ud_isolate_opts *io,
                                 char *dev, size_t devn)
{
    int want = o->isolate;
    if (want < 0) want = strcmp(o->backend, "cpu") != 0;
    *isolate = want;
    if (!want) {
        int rc = pick_backend(o, be);
        if (rc < 0) snprintf(dev, devn, "%s", *be == UD_BACKEND_CUDA ? ud_device_name() : "cpu (host)");
        return rc;
    }
    snprintf(dev, devn, "cpu (host)");
    if (strcmp(o->backend, "cpu") == 0) { *be = UD_BACKEND_CPU; return -1; }
    char why[512] = "";
    int have = ud_isolate_probe(io, UD_BACKEND_CUDA, dev, devn, why, sizeof why);
    if (have == 1) { *be = UD_BACKEND_CUDA; return -1; }
    snprintf(dev, devn, "cpu (host)");
    if (strcmp(o->backend, "cuda") == 0) { fprintf(stderr, "ulpdiff: --backend cuda: %s\n", why); return UD_EXIT_INTERNAL; }
    fprintf(stderr, "ulpdiff: cuda backend skipped: %s; running on cpu\n", why);
    *be = UD_BACKEND_CPU;
    *isolate = o->isolate == 1;   /* auto fell back to cpu: isolate only when asked to */
    return -1;
}

/* ud_run_cases, in worker processes when isolating. */
static size_t exec_cases(int isolate, const ud_isolate_opts *io, const ud_case *cases, size_t n,
                         const ud_run_opts *ro, const ud_pool_opts *po, ud_result *res, int *status,
                         ud_case_state *state, ud_case_done_fn done, void *user)
{
    if (isolate) return ud_run_cases_isolated(cases, n, ro, po, io, res, status, state, done, user);
    return ud_run_cases(cases, n, ro, po, res, status, state, done, user);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* cases/<sub> relative to the working directory, else to the source tree the binary was
 * built from; NULL when neither exists. */
static const char *corpus_dir(const char *sub, char *buf, size_t n)
{
    snprintf(buf, n, "cases/%s", sub);
    if (is_dir(buf)) return buf;
#ifdef UD_SOURCE_DIR
    snprintf(buf, n, "%s/cases/%s", UD_SOURCE_DIR, sub);
    if (is_dir(buf)) return buf;
#endif
    return NULL;
}

static const ud_op *find_op_or_complain(const char *name, const char *flag)
{
    const ud_op *op = ud_op_find(name);
    if (op) return op;
    const char *names[256];
    size_t nn = 0;
    for (int i = 0; i < ud_op_count() && nn < 256; i++) names[nn++] = ud_op_at(i)->name;
    const char *dym = ud_did_you_mean(name, names, nn);
    fprintf(stderr, "ulpdiff: %s: unknown operator '%s'%s%s%s\n", flag, name, dym ? "; did you mean '" : "",
            dym ? dym : "", dym ? "'?" : "");
    return NULL;
}

/* An operator's default sweep with command-line overrides. Returns 0 or an exit code. */
static int default_sweep(const cli *o, const ud_op *op, int mutant, ud_case **cases, size_t *n)
{
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
            fprintf(stderr, "ulpdiff: --%s: %s has no parameter '%s'%s%s%s\n", o->pnames[k], op->name, o->pnames[k],
                    dym ? "; did you mean --" : "", dym ? dym : "", dym ? "?" : "");
            return UD_EXIT_USAGE;
        }
        s.vals[idx] = o->pvals[k];
    }
    char err[1024];
    if (ud_spec_expand(&s, cases, n, err, sizeof err)) {
        fprintf(stderr, "ulpdiff: %s\n", err);
        return UD_EXIT_USAGE;
    }
    return 0;
}

/* Loads FILES/DIRS (or, when files == NULL, the default corpus cases/smoke plus the default
 * sweep of every operator the corpus does not cover). Returns 0 or an exit code. */
static int load_corpus(const cli *o, ud_corpus *corp, char *const *files, int nfiles, ud_case **cases, size_t *n,
                       const char *what)
{
    corp->seed0 = o->seed;
    corp->seeds = o->seeds;
    char buf[4096];
    char *dflt[1];
    if (!nfiles) {
        const char *d = corpus_dir("smoke", buf, sizeof buf);
        if (d) { dflt[0] = (char *)d; files = dflt; nfiles = 1; }
    }
    if (nfiles) {
        int errs = ud_corpus_load(corp, files, nfiles, stderr);
        if (!errs) errs = ud_corpus_expand(corp, cases, n, stderr);
        if (errs) {
            fprintf(stderr, "ulpdiff %s: %d error%s in case files; nothing was run\n", what, errs, errs == 1 ? "" : "s");
            return UD_EXIT_USAGE;
        }
    }
    if (files == dflt || !nfiles) {
        /* The default corpus: operators without smoke cases still get tested. */
        for (int i = 0; i < ud_op_count(); i++) {
            const ud_op *op = ud_op_at(i);
            int covered = 0;
            for (size_t k = 0; k < *n && !covered; k++) covered = (*cases)[k].op == op;
            if (covered) continue;
            if (nfiles) fprintf(stderr, "ulpdiff: note: no cases for %s in %s; running its default sweep\n", op->name, files[0]);
            cli plain = *o;
            plain.np = 0;
            int rc = default_sweep(&plain, op, 0, cases, n);
            if (rc) return rc;
        }
    }
    return 0;
}

static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (int i = 0; i < argc; i++) { strcat(s, argv[i]); if (i + 1 < argc) strcat(s, " "); }
    return s;
}

/* ------------------------------------------------------------------ list / validate */

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
    if (argc > 0 && strcmp(argv[0], "generators") == 0) {
        for (int g = 0; ud_gen_names[g]; g++) printf("%s\n", ud_gen_names[g]);
        return UD_EXIT_PASS;
    }
    if (argc > 0) {
        fprintf(stderr, "ulpdiff list: unknown argument '%s' (expected ops, mutants or generators)\n", argv[0]);
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
            static const char *const kinds[] = {"int", "real", "choice", "dtype"};
            printf("    %-10s = %-28s %s (%s", p->name, p->def, p->help, kinds[p->kind]);
            if (p->choices) {
                printf(": ");
                for (int c = 0; p->choices[c]; c++) printf(c ? ", %s" : "%s", p->choices[c]);
                printf(")");
            } else if (p->kind == UD_P_INT) {
                printf(" in %lld..%lld)", (long long)p->lo, (long long)p->hi);
            } else {
                printf(" in %g..%g)", p->lo, p->hi);
            }
            printf("\n");
        }
        printf("  known-bug variants:\n");
        for (int k = 0; k < op->nmutants; k++)
            printf("    %s.%s — %s (caught by: %s)\n", op->name, op->mutants[k].name, op->mutants[k].what,
                   op->mutants[k].expect);
        printf("\n");
    }
    printf("generators (values = ...): ");
    for (int g = 0; ud_gen_names[g]; g++) printf(g ? ", %s" : "%s", ud_gen_names[g]);
    printf("\ncase-file keys besides parameters: ");
    for (int k = 0; ud_casefile_keys[k]; k++) printf(k ? ", %s" : "%s", ud_casefile_keys[k]);
    printf("  (docs/cases.md)\n");
    return UD_EXIT_PASS;
}

static int cmd_validate(int argc, char **argv)
{
    char buf[4096];
    char *dflt[1];
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-') { fprintf(stderr, "ulpdiff validate: unknown option '%s'\n", argv[i]); return UD_EXIT_USAGE; }
    if (argc == 0) {
        const char *d = corpus_dir("", buf, sizeof buf);
        if (!d) { fprintf(stderr, "ulpdiff validate: no files given and no cases/ directory found\n"); return UD_EXIT_USAGE; }
        dflt[0] = (char *)d;
        argv = dflt;
        argc = 1;
    }
    ud_corpus corp;
    ud_corpus_init(&corp);
    ud_case *cases = NULL;
    size_t n = 0;
    int errs = ud_corpus_load(&corp, argv, argc, stderr);
    if (!errs) errs = ud_corpus_expand(&corp, &cases, &n, stderr);
    if (!errs) {
        for (size_t f = 0; f < corp.nfiles; f++) {
            size_t nc = 0, ns = 0;
            for (size_t k = 0; k < n; k++) nc += strcmp(cases[k].file, corp.files[f]) == 0;
            for (size_t k = 0; k < corp.nspecs; k++) ns += strcmp(corp.specs[k].file, corp.files[f]) == 0;
            printf("%s: ok, %zu section%s, %zu case%s\n", corp.files[f], ns, ns == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
        }
        printf("%zu file%s, %zu cases: valid\n", corp.nfiles, corp.nfiles == 1 ? "" : "s", n);
    } else {
        fprintf(stderr, "ulpdiff validate: %d error%s\n", errs, errs == 1 ? "" : "s");
    }
    free(cases);
    ud_corpus_free(&corp);
    return errs ? UD_EXIT_USAGE : UD_EXIT_PASS;
}

/* ------------------------------------------------------------------ run */

typedef struct {
    const cli *o;
    ud_json_stream *json;
    int json_failed;
} run_ctx;

static void on_done(void *user, size_t i, const ud_result *r, int status)
{
    (void)i;
    (void)status;
    run_ctx *x = user;
    if (!x->o->quiet || r->nfindings) ud_text_case(stdout, r, x->o->verbose);
    fflush(stdout);
    if (x->json && !x->json_failed && ud_json_append(x->json, r)) x->json_failed = 1;
}

/* Shrinks up to o->shrink_max failing cases, one per (operator, variant, finding kind), and
 * writes each as a reproducer. */
static void shrink_failures(const cli *o, const ud_run_opts *ro, const ud_result *res, const int *ran, size_t n)
{
    char dirbuf[4096];
    const char *dir = o->regressions;
    if (!dir) {
        dir = corpus_dir("regressions", dirbuf, sizeof dirbuf);
        if (!dir) dir = "cases/regressions";
    }
    typedef struct { const ud_op *op; int mutant; ud_finding_kind kind; } key;
    key done[64];
    int ndone = 0;
    ud_result *best_res = malloc(sizeof *best_res);
    if (!best_res) return;
    for (size_t i = 0; i < n && ndone < o->shrink_max && ndone < 64; i++) {
        if (!ran[i] || !res[i].nfindings) continue;
        ud_finding_kind kind = res[i].findings[0].kind;
        if (kind == UD_F_ERROR) continue;   /* an error is not a property of the inputs */
        int seen = 0;
        for (int k = 0; k < ndone; k++)
            seen |= done[k].op == res[i].c.op && done[k].mutant == res[i].c.mutant && done[k].kind == kind;
        if (seen) continue;
        done[ndone++] = (key){res[i].c.op, res[i].c.mutant, kind};
        ud_case best;
        int runs = ud_shrink_case(&res[i].c, ro, kind, 60, &best, best_res);
        char path[4400];
        if (ud_reproducer_write(dir, &best, best_res, res[i].c.label, path, sizeof path) == UD_OK)
            printf("shrunk %s\n    -> %s (%d trial runs); reproducer: %s\n", res[i].c.label, best.label, runs, path);
    }
    free(best_res);
}

/* ------------------------------------------------------------------ export / check / --impl */

/* Options that make no sense for export/check. Returns 0 or UD_EXIT_USAGE (message printed). */
static int external_usage(const char *cmd, const cli *o)
{
    int is_check = strcmp(cmd, "check") == 0;
    if ((is_check || strcmp(cmd, "export") == 0) && !o->dir) {
        fprintf(stderr, "ulpdiff %s: --dir D is required (docs/external.md)\n", cmd);
        return UD_EXIT_USAGE;
    }
    if ((is_check || strcmp(cmd, "export") == 0) && o->mutant) {
        fprintf(stderr, "ulpdiff %s: --mutant selects one of ulpdiff's own kernels; it does not apply to %s\n", cmd, cmd);
        return UD_EXIT_USAGE;
    }
    if (is_check && (o->npos || o->np)) {
        fprintf(stderr, "ulpdiff check: unexpected '%s%s': the cases are the export's (--dir D); select with --op\n",
                o->npos ? "" : "--", o->npos ? o->pos[0] : o->pnames[0]);
        return UD_EXIT_USAGE;
    }
    if (o->impl && o->mutant) {
        fprintf(stderr, "ulpdiff run: --impl replaces the kernel; --mutant does not apply\n");
        return UD_EXIT_USAGE;
    }
    return 0;
}

/* check: the export directory's cases, every file present and well-formed. */
static int open_exchange(const cli *o, ud_exchange **ex, ud_case **cases, size_t *n)
{
    size_t skipped = 0;
    int problems = ud_exchange_open(o->dir, o->skip_missing, ex, cases, n, &skipped, stderr);
    if (problems) {
        fprintf(stderr, "ulpdiff check: %d problem%s in %s; nothing was checked\n", problems, problems == 1 ? "" : "s", o->dir);
        return UD_EXIT_USAGE;
    }
    if (skipped) printf("%zu case%s without output files left out (--skip-missing)\n", skipped, skipped == 1 ? "" : "s");
    if (!*n) { fprintf(stderr, "ulpdiff check: no case to check in %s\n", o->dir); return UD_EXIT_USAGE; }
    return 0;
}

/* run --impl: the backend must hand the plugin memory it takes; the cases of its operators
 * are pointed at it, the others left out. Returns 0 or an exit code. */
static int apply_plugin(const cli *o, ud_plugin *p, ud_backend *be, ud_case *cases, size_t *n, char *dev, size_t devn)
{
    if (!ud_plugin_serves(p, *be)) {
        ud_backend other = *be == UD_BACKEND_CUDA ? UD_BACKEND_CPU : UD_BACKEND_CUDA;
        if (strcmp(o->backend, "auto") != 0 || other == UD_BACKEND_CUDA || !ud_plugin_serves(p, other)) {
            fprintf(stderr, "ulpdiff: --impl %s: no operator of the plugin takes %s memory (backend %s)\n", o->impl,
                    *be == UD_BACKEND_CUDA ? "device" : "host", ud_backend_name(*be));
            return UD_EXIT_USAGE;
        }
        fprintf(stderr, "ulpdiff: --impl: the plugin takes host memory only; running on cpu\n");
        *be = other;
        snprintf(dev, devn, "cpu (host)");
    }
    char desc[1024];
    ud_plugin_describe(p, desc, sizeof desc);
    size_t len = strlen(dev);
    snprintf(dev + len, devn - len, "; %s", desc);
    printf("testing %s\n", desc);
    if (ud_plugin_apply(p, *be, cases, n, stderr) != UD_OK) return UD_EXIT_USAGE;
    if (!*n) { fprintf(stderr, "ulpdiff: --impl %s: no selected case belongs to the plugin's operators\n", o->impl); return UD_EXIT_USAGE; }
    return 0;
}

/* cmd: "run", "export" (run's case selection, then the files instead of running) or "check"
 * (the cases of an export directory, outputs read from files: backend external). */
static int cmd_run(const char *cmd, int argc, char **argv, int full_argc, char **full_argv)
{
    cli o;
    int prc = parse_cli(cmd, argc, argv, &o);
    if (prc) { free(o.pos); return prc > 0 ? UD_EXIT_PASS : UD_EXIT_USAGE; }
    int is_check = strcmp(cmd, "check") == 0, is_export = strcmp(cmd, "export") == 0;
    ud_corpus corp;
    ud_corpus_init(&corp);
    ud_case *cases = NULL;
    size_t n = 0;
    int rc = external_usage(cmd, &o);
    ud_exchange *ex = NULL;
    ud_plugin *plugin = NULL;
    if (!rc && o.impl) {
        char err[2048];
        if (!(plugin = ud_plugin_load(o.impl, err, sizeof err))) { fprintf(stderr, "ulpdiff: %s\n", err); rc = UD_EXIT_USAGE; }
    }
    const ud_op *only = NULL;
    int mutant = 0;
    if (o.mutant) {
        if (ud_mutant_find(o.mutant, &only, &mutant)) {
            fprintf(stderr, "ulpdiff: --mutant: unknown variant '%s' (`ulpdiff list mutants` lists them)\n", o.mutant);
            rc = UD_EXIT_USAGE;
        } else if (o.op && strcmp(o.op, only->name) != 0) {
            fprintf(stderr, "ulpdiff: --mutant %s belongs to operator %s, not --op %s\n", o.mutant, only->name, o.op);
            rc = UD_EXIT_USAGE;
        }
    } else if (o.op && !(only = find_op_or_complain(o.op, "--op"))) {
        rc = UD_EXIT_USAGE;
    }
    if (!rc && o.np && (o.npos || !only)) {
        fprintf(stderr, "ulpdiff: --%s: command-line parameters shape an operator's default sweep: use them with --op "
                        "and no case files (put parameters for case files in the files)\n", o.pnames[0]);
        rc = UD_EXIT_USAGE;
    }
    if (!rc && is_check) rc = open_exchange(&o, &ex, &cases, &n);
    else if (!rc) {
        if (o.npos) rc = load_corpus(&o, &corp, o.pos, o.npos, &cases, &n, "run");
        else if (only) rc = default_sweep(&o, only, 0, &cases, &n);
        else rc = load_corpus(&o, &corp, NULL, 0, &cases, &n, "run");
    }
    /* Selection: operator / variant, then shard, then the per-operator and total case limits. */
    size_t m = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (only && strcmp(cases[i].op->name, only->name) != 0) continue;   /* check's ops are copies */
        if (o.mutant) { cases[i].mutant = mutant; ud_case_format_label(&cases[i]); }
        cases[m++] = cases[i];
    }
    if (!rc && n && !m) {
        fprintf(stderr, "ulpdiff: no cases of operator %s in the given files\n", only->name);
        rc = UD_EXIT_USAGE;
    }
    size_t selected = 0;
    for (size_t i = 0; !rc && i < m; i++) {
        if (!ud_shard_has(i, o.shard_k, o.shard_n) || (o.max_cases >= 0 && (long long)selected >= o.max_cases)) continue;
        long long same_op = 0;   /* a time-boxed subset that still reaches every operator */
        for (size_t k = 0; o.per_op > 0 && k < selected; k++) same_op += cases[k].op == cases[i].op;
        if (o.per_op > 0 && same_op >= o.per_op) continue;
        cases[selected++] = cases[i];
    }
    n = rc ? 0 : selected;
    if (rc) goto out;
    if (o.dry_run) {
        for (size_t i = 0; i < n; i++) {
            if (cases[i].file) printf("%s:%d\t%s\n", cases[i].file, cases[i].line, cases[i].label);
            else printf("-\t%s\n", cases[i].label);
        }
        printf("%zu cases\n", n);
        goto out;
    }
    if (is_export) {
        char *command = join_args(full_argc, full_argv);
        ud_export_meta em = {UD_VERSION, UD_GIT_COMMIT, command};
        int erc = ud_export_cases(cases, n, o.dir, &em, stdout);
        free(command);
        rc = erc == UD_OK ? UD_EXIT_PASS : erc == UD_EUSAGE ? UD_EXIT_USAGE : UD_EXIT_INTERNAL;
        goto out;
    }
    ud_backend be;
    int isolate = 0;
    char devname[1400];
    ud_isolate_opts io = {o.case_timeout, NULL};
    if (is_check) {
        /* Outputs come from files: nothing to isolate, and shrinking would need new outputs. */
        be = UD_BACKEND_EXTERNAL;
        o.shrink = 0;
        snprintf(devname, sizeof devname, "external implementation (outputs in %s)", o.dir);
    } else {
        if (plugin) o.isolate = 0;   /* a worker process would resolve the operators to ours */
        rc = pick_backend_isolated(&o, &be, &isolate, &io, devname, sizeof devname);
        if (rc >= 0) goto out;
        rc = 0;
    }
    if (plugin && (rc = apply_plugin(&o, plugin, &be, cases, &n, devname, sizeof devname)) != 0) goto out;
    if (plugin && !o.regressions) o.shrink = 0;   /* reproducers of a plugin's bugs go where asked */
    /* On cuda, inputs, references and comparisons run on --jobs threads; run.c serialises the
     * kernel phases on the one device. */

    ud_report_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.version = UD_VERSION;
    meta.commit = UD_GIT_COMMIT;
    meta.device = devname;
    meta.backend = ud_backend_name(be);
    char *command = join_args(full_argc, full_argv);
    meta.command = command;
    ud_report_meta_date(&meta);
    meta.jobs = o.jobs;
    meta.shard_k = o.shard_k;
    meta.shard_n = o.shard_n;
    meta.selected = n;

    ud_run_opts ro = {be, o.mpfr, NULL, o.repeat, o.cross_check, NULL};
    ud_result *res = calloc(n ? n : 1, sizeof *res);
    int *status = calloc(n ? n : 1, sizeof *status), *ran = calloc(n ? n : 1, sizeof *ran);
    ud_case_state *state = calloc(n ? n : 1, sizeof *state);
    run_ctx ctx = {&o, NULL, 0};
    if (!res || !status || !ran || !state) { fprintf(stderr, "ulpdiff: out of memory for %zu cases\n", n); rc = UD_EXIT_INTERNAL; goto done; }
    if (o.json && !(ctx.json = ud_json_open(o.json, &meta))) { rc = UD_EXIT_INTERNAL; goto done; }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ud_pool_opts po = {o.jobs, o.budget_seconds, isatty(STDERR_FILENO)};
    size_t nran = exec_cases(isolate, &io, cases, n, &ro, &po, res, status, state, on_done, &ctx);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (nran == (size_t)-1) { fprintf(stderr, "ulpdiff: cannot start worker threads\n"); rc = UD_EXIT_INTERNAL; goto done; }
    meta.elapsed_seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    int any_error = 0, any_fail = 0;
    ud_result *ran_res = malloc((n ? n : 1) * sizeof *ran_res);   /* the summary takes a dense array */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ran[i] = state[i] == UD_CASE_DONE;
        if (!ran[i]) { meta.not_run++; continue; }
        if (status[i] != UD_OK) any_error = 1;
        if (res[i].nfindings) any_fail = 1;
        if (ran_res) ran_res[k++] = res[i];
    }
    if (ran_res) ud_text_summary(stdout, ran_res, k);
    free(ran_res);
    if (meta.not_run)
        printf("%zu of %zu cases not run: --budget-seconds %g ran out\n", meta.not_run, n, o.budget_seconds);
    int report_err = ctx.json_failed;
    if (ctx.json) { report_err |= ud_json_finish(ctx.json, &meta, res, ran, n) != UD_OK; ctx.json = NULL; }
    if (o.junit) report_err |= ud_junit_write(o.junit, &meta, res, ran, n) != UD_OK;
    if (o.html) report_err |= ud_html_write(o.html, &meta, res, ran, n) != UD_OK;
    fflush(stdout);
    if (any_fail && o.shrink && o.shrink_max > 0) shrink_failures(&o, &ro, res, ran, n);
    rc = (any_error || report_err) ? UD_EXIT_INTERNAL : any_fail ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
done:
    if (ctx.json) ud_json_close(ctx.json);
    free(command);
    free(res);
    free(status);
    free(ran);
    free(state);
out:
    free(cases);
    free(o.pos);
    ud_corpus_free(&corp);
    ud_exchange_free(ex);
    ud_plugin_free(plugin);
    return rc;
}

/* ------------------------------------------------------------------ mutants */

/* Every variant must be caught (by its expected finding) on its operator's cases, and the
 * production kernel must pass them. */
static int cmd_mutants(int argc, char **argv)
{
    cli o;
    int prc = parse_cli("mutants", argc, argv, &o);
    if (prc) { free(o.pos); return prc > 0 ? UD_EXIT_PASS : UD_EXIT_USAGE; }
    ud_corpus corp;
    ud_corpus_init(&corp);
    ud_case *base = NULL, *all = NULL;
    size_t nbase = 0, nall = 0;
    ud_result *res = NULL;
    int *status = NULL;
    ud_case_state *state = NULL;
    const ud_op *only = NULL;
    int rc = 0;
    if (o.op && !(only = find_op_or_complain(o.op, "--op"))) rc = UD_EXIT_USAGE;
    if (!rc) rc = load_corpus(&o, &corp, o.pos, o.npos, &base, &nbase, "mutants");
    ud_backend be;
    int isolate = 0;
    char devname[256];
    ud_isolate_opts io = {o.case_timeout, NULL};
    if (!rc) {
        rc = pick_backend_isolated(&o, &be, &isolate, &io, devname, sizeof devname);
        rc = rc >= 0 ? rc : 0;
    }
    if (rc) goto out;
    /* Every (operator case, variant) pair, production first, in registry order. */
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (only && op != only) continue;
        size_t nop = 0;
        for (size_t c = 0; c < nbase; c++) nop += base[c].op == op;
        nall += nop * (size_t)(op->nmutants + 1);
    }
    all = malloc((nall ? nall : 1) * sizeof *all);
    res = calloc(nall ? nall : 1, sizeof *res);
    status = calloc(nall ? nall : 1, sizeof *status);
    state = calloc(nall ? nall : 1, sizeof *state);
    if (!all || !res || !status || !state) { fprintf(stderr, "ulpdiff: out of memory\n"); rc = UD_EXIT_INTERNAL; goto out; }
    size_t k = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (only && op != only) continue;
        for (int m = 0; m <= op->nmutants; m++)
            for (size_t c = 0; c < nbase; c++) {
                if (base[c].op != op) continue;
                all[k] = base[c];
                all[k].mutant = m;
                ud_case_format_label(&all[k]);
                k++;
            }
    }
    ud_run_opts ro = {be, o.mpfr, NULL, o.repeat, o.cross_check, NULL};
    ud_pool_opts po = {o.jobs, 0.0, isatty(STDERR_FILENO)};
    if (exec_cases(isolate, &io, all, nall, &ro, &po, res, status, state, NULL, NULL) == (size_t)-1) {
        fprintf(stderr, "ulpdiff: cannot start worker threads\n");
        rc = UD_EXIT_INTERNAL;
        goto out;
    }
    int total = 0, caught = 0, prod_fail = 0, errors = 0;
    for (size_t a = 0; a < nall;) {
        const ud_op *op = all[a].op;
        int m = all[a].mutant;
        size_t b = a;
        while (b < nall && all[b].op == op && all[b].mutant == m) b++;
        const char *expect = m ? op->mutants[m - 1].expect : NULL;
        size_t failed = 0, hits = 0, other[UD_F_KINDS] = {0};
        const ud_result *first = NULL, *first_fail = NULL;
        for (size_t c = a; c < b; c++) {
            if (status[c] != UD_OK) errors++;
            if (!res[c].nfindings) continue;
            failed++;
            if (!first_fail) first_fail = &res[c];
            int hit = 0;
            for (int f = 0; f < res[c].nfindings; f++) {
                if (expect && strcmp(ud_finding_names[res[c].findings[f].kind], expect) == 0) hit = 1;
                else other[res[c].findings[f].kind]++;
            }
            if (hit && !hits++) first = &res[c];
        }
        if (!m) {
            printf("%-48s %s (%zu cases)\n", op->name, failed ? "PRODUCTION FAILS" : "production passes", b - a);
            if (failed) printf("    first: %s: %s: %s\n", first_fail->c.label, ud_finding_names[first_fail->findings[0].kind],
                               first_fail->findings[0].msg);
            prod_fail += failed > 0;
        } else {
            total++;
            caught += hits > 0;
            char name[200];
            snprintf(name, sizeof name, "%s.%s", op->name, op->mutants[m - 1].name);
            printf("%-48s %s by %s in %zu/%zu cases\n", name, hits ? "caught" : "SURVIVED", expect, hits, b - a);
            if (o.verbose && first) {
                for (int f = 0; f < first->nfindings; f++)
                    if (strcmp(ud_finding_names[first->findings[f].kind], expect) == 0) {
                        printf("    first: %s: %s\n", first->c.label, first->findings[f].msg);
                        break;
                    }
            }
            if (!hits) {
                for (int kd = 0; kd < UD_F_KINDS; kd++)
                    if (other[kd]) printf("    (saw %s in %zu cases instead)\n", ud_finding_names[kd], other[kd]);
                if (!failed) printf("    (no case of the corpus shows it: add a case that exercises this bug)\n");
            }
        }
        a = b;
    }
    printf("\nmutation score: %d/%d caught; production kernels %s\n", caught, total, prod_fail ? "FAIL" : "pass");
    rc = errors ? UD_EXIT_INTERNAL : (caught == total && !prod_fail) ? UD_EXIT_PASS : UD_EXIT_FINDINGS;
out:
    free(base);
    free(all);
    free(res);
    free(status);
    free(state);
    free(o.pos);
    ud_corpus_free(&corp);
    return rc;
}

/* ------------------------------------------------------------------ compare */

static int cmd_compare(int argc, char **argv)
{
    ud_compare_opts co = {0.0, 0.01, 0};
    const char *files[2];
    int nf = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--all") == 0) { co.all = 1; continue; }
        if (strcmp(a, "--max-slack") == 0 || strcmp(a, "--mean-slack") == 0) {
            char *end;
            double v = i + 1 < argc ? strtod(argv[i + 1], &end) : -1.0;
            if (i + 1 >= argc || *end || !(v >= 0) || !isfinite(v)) {
                fprintf(stderr, "ulpdiff compare: %s needs a non-negative number\n", a);
                return UD_EXIT_USAGE;
            }
            if (a[2] == 'm' && a[3] == 'a') co.max_slack = v;
            else co.mean_slack = v;
            i++;
            continue;
        }
        if (a[0] == '-' || nf == 2) {
            fprintf(stderr, "ulpdiff compare: unexpected argument '%s'\nusage: ulpdiff compare OLD.json NEW.json "
                            "[--max-slack ULP] [--mean-slack FRACTION] [--all]\n", a);
            return UD_EXIT_USAGE;
        }
        files[nf++] = a;
    }
    if (nf != 2) {
        fprintf(stderr, "usage: ulpdiff compare OLD.json NEW.json [--max-slack ULP] [--mean-slack FRACTION] [--all]\n");
        return UD_EXIT_USAGE;
    }
    return ud_compare_reports(files[0], files[1], &co, stdout);
}

int main(int argc, char **argv)
{
    /* Line-buffered into files and pipes too: a run that a CI timeout kills keeps every line it
     * printed (a case, a benchmark row). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? UD_EXIT_USAGE : UD_EXIT_PASS;
    }
    if (strcmp(argv[1], "--version") == 0) { printf("ulpdiff %s (%s)\n", UD_VERSION, UD_GIT_COMMIT); return UD_EXIT_PASS; }
    if (strcmp(argv[1], "list") == 0) return cmd_list(argc - 2, argv + 2);
    if (strcmp(argv[1], "run") == 0) return cmd_run("run", argc - 2, argv + 2, argc, argv);
    if (strcmp(argv[1], "export") == 0) return cmd_run("export", argc - 2, argv + 2, argc, argv);
    if (strcmp(argv[1], "check") == 0) return cmd_run("check", argc - 2, argv + 2, argc, argv);
    if (strcmp(argv[1], "validate") == 0) return cmd_validate(argc - 2, argv + 2);
    if (strcmp(argv[1], "mutants") == 0) return cmd_mutants(argc - 2, argv + 2);
    if (strcmp(argv[1], "compare") == 0) return cmd_compare(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0) return ud_cmd_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "cache-check") == 0) return ud_cmd_cache_check(argc - 2, argv + 2);   /* cache_cli.c */
    if (strcmp(argv[1], "__worker") == 0) return ud_isolate_worker_main(argc - 2, argv + 2);   /* isolate.h */
    fprintf(stderr, "ulpdiff: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return UD_EXIT_USAGE;
}
