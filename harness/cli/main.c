/* main.c — the ulpdiff command line: usage, the options of run/export/check/mutants, and the
 * dispatch to the commands (harness/cli/cli.h says which file holds which).
 *
 *   ulpdiff list [ops|mutants|generators]   describe operators / print names for scripts
 *   ulpdiff run [FILES|DIRS] [options]       run cases; report; shrink failures
 *   ulpdiff validate [FILES|DIRS]            check case files; nothing runs
 *   ulpdiff mutants [FILES|DIRS] [options]   every known-bug variant must be caught
 *   ulpdiff compare OLD.json NEW.json        is NEW worse than OLD?
 *   ulpdiff merge SHARD.json ...             shard reports as the unsharded run's report
 *   ulpdiff export [FILES|DIRS] --dir D      inputs + manifest for an external implementation
 *   ulpdiff check --dir D [options]          its outputs, compared and reported as `run` does
 *   ulpdiff run --impl LIB.so                a plugin's kernels in place of ours (harness/external/plugin.h)
 *   ulpdiff bench [options]                  kernel timings on the GPU
 *
 * Exit codes: 0 all pass, 1 findings (or NEW worse), 2 bad input or usage, 3 internal or
 * device error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/bench/bench.h"
#include "harness/cli/cli.h"
#include "harness/cli/post_checks.h"
#include "harness/cases/select.h"
#include "harness/exec/isolate.h"
#include "harness/exec/jobs.h"
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
            "  merge SHARD.json ... [--json F] [--junit F] [--html F] [--rates]\n"
            "                                  the reports of one run's shards as the unsharded run's report\n"
            "  rates REPORT.json ...           per operator, checked output elements/s of reference, kernel, comparison\n"
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
            "  --allow-empty          selecting no case (an empty directory, a shard past the end) passes\n"
            "                         instead of exit 2\n"
            "options for run:\n"
            "  --shard I/N            run shard I of N (1-based): case k when k mod N == I-1\n"
            "  --max-cases N          run at most N cases (after sharding)\n"
            "  --per-op N             run at most N cases of each operator (after sharding)\n"
            "  --budget-seconds S     start no case after S seconds (the rest are reported as not run)\n"
            "  --devices LIST|all     cuda: one isolated worker per listed GPU (0,1,3 or all visible), case i on\n"
            "                         the (i mod N)-th; results in case order as on one GPU\n"
            "  --rates                print per operator checked output elements/s of each phase at the end\n"
            "  --json FILE            JSON report (docs/report-format.md), streamed to FILE.partial\n"
            "  --junit FILE           JUnit XML;  --html FILE: self-contained HTML page\n"
            "  --no-shrink            do not shrink failing cases (default: shrink up to --shrink-max 3)\n"
            "  --regressions DIR      where shrunk reproducers go (default cases/regressions; those of a\n"
            "                         known-bug variant only with --regressions)\n"
            "  --impl LIB.so          run a plugin's implementation (include/ulpdiff_plugin.h) in place of the\n"
            "                         production kernels, on the cases of its operators (in-process; shrinks\n"
            "                         only with --regressions)\n"
            "  --dry-run              list the selected cases and exit\n"
            "  --quiet, -q            print failing cases and the summary only\n"
            "  --PARAM V1,V2,...      operator parameter for the default sweep (needs --op, no files)\n");
}

/* ------------------------------------------------------------------ options */

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

/* The options of run, export, check and mutants that take a value. */
static int takes_value(const char *a)
{
    static const char *const with_value[] = {
        "--op", "--mutant", "--backend", "--seed", "--seeds", "--repeat", "--case-timeout", "--jobs", "-j",
        "--shard", "--max-cases", "--per-op", "--budget-seconds", "--shrink-max", "--json", "--junit", "--html",
        "--regressions", "--impl", "--dir", "--devices", NULL};
    for (int i = 0; with_value[i]; i++)
        if (strcmp(a, with_value[i]) == 0) return 1;
    return 0;
}

/* Is `name` a parameter of any operator? */
static int ud_param_known(const char *name)
{
    for (int i = 0; i < ud_op_count(); i++)
        for (int k = 0; k < ud_op_at(i)->nparams; k++)
            if (strcmp(ud_op_at(i)->params[k].name, name) == 0) return 1;
    return 0;
}

/* cmd: "run" or "mutants". Unknown --flags are operator parameters for run only. Returns 0,
 * -1 on a usage error (message printed), 1 after printing --help. */
static int parse_cli(const char *cmd, int argc, char **argv, ud_cli *o)
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
        if (strcmp(a, "--allow-empty") == 0) { o->allow_empty = 1; continue; }
        if (is_run && (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)) { o->quiet = 1; continue; }
        if (is_run && strcmp(a, "--dry-run") == 0) { o->dry_run = 1; continue; }
        if (is_run && strcmp(a, "--no-shrink") == 0) { o->shrink = 0; continue; }
        if (is_run && strcmp(a, "--shrink") == 0) { o->shrink = 1; continue; }
        if (is_run && strcmp(a, "--rates") == 0) { o->rates = 1; continue; }
        if (strcmp(cmd, "check") == 0 && strcmp(a, "--skip-missing") == 0) { o->skip_missing = 1; continue; }
        if (strncmp(a, "--", 2) != 0) { fprintf(stderr, "ulpdiff %s: unknown option '%s'\n", cmd, a); return -1; }
        if (!v) {
            /* Run's unknown --flags are operator parameters, which take values: a last --flag
             * that is neither an option nor any operator's parameter is unknown, not valueless. */
            if (is_run && !takes_value(a) && !ud_param_known(a + 2))
                fprintf(stderr, "ulpdiff %s: unknown option '%s' (`ulpdiff --help`)\n", cmd, a);
            else
                fprintf(stderr, "ulpdiff %s: %s needs a value\n", cmd, a);
            return -1;
        }
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
        else if (strcmp(cmd, "run") == 0 && strcmp(a, "--devices") == 0) o->devices = v;
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

/* run, export, check, mutants: parse the shared options, then the command. */
static int with_options(const char *cmd, int argc, char **argv)
{
    ud_cli o;
    int prc = parse_cli(cmd, argc - 2, argv + 2, &o);
    int rc;
    if (prc) rc = prc > 0 ? UD_EXIT_PASS : UD_EXIT_USAGE;
    else {
        o.argc = argc;
        o.argv = argv;
        rc = strcmp(cmd, "mutants") == 0 ? ud_cmd_mutants(&o) : ud_cmd_run(cmd, &o);
    }
    free(o.pos);
    return rc;
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
    const char *cmd = argv[1];
    if (strcmp(cmd, "list") == 0) return ud_cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "export") == 0 || strcmp(cmd, "check") == 0 || strcmp(cmd, "mutants") == 0)
        return with_options(cmd, argc, argv);
    if (strcmp(cmd, "validate") == 0) return ud_cmd_validate(argc - 2, argv + 2);
    if (strcmp(cmd, "compare") == 0) return ud_cmd_compare(argc - 2, argv + 2);
    if (strcmp(cmd, "merge") == 0) return ud_cmd_merge(argc - 2, argv + 2);
    if (strcmp(cmd, "rates") == 0) return ud_cmd_rates(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return ud_bench_main(argc - 2, argv + 2);
    if (strcmp(cmd, "cache-check") == 0) return ud_cmd_cache_check(argc - 2, argv + 2);   /* cache_cli.c */
    /* Worker processes attach the post-run checks their parent names (isolate.h). */
    if (strcmp(cmd, "__worker") == 0) return ud_isolate_worker_main(argc - 2, argv + 2, ud_post_checks);
    fprintf(stderr, "ulpdiff: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return UD_EXIT_USAGE;
}
