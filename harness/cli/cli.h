/* cli.h — the ulpdiff command line: the options run, export, check and mutants share (parsed
 * by main.c), and the commands main.c dispatches to, one file each:
 *   cmd_run.c      run, export, check: select -> execute -> report
 *   cmd_mutants.c  mutants: the mutation score
 *   cmd_list.c     list, validate
 *   cmd_compare.c  compare
 *   cmd_merge.c    merge, rates (JSON reports read back)
 *   cache_cli.c    cache-check (bench: bench.h)
 * Exit codes: 0 pass, 1 findings (or NEW worse), 2 bad input or usage, 3 internal or device
 * error. Bad case files stop everything before the first case runs. */
#ifndef UD_CLI_H
#define UD_CLI_H

#include <stdint.h>

#include "harness/ops/registry.h"

typedef struct {
    const char *op, *mutant, *backend;
    uint64_t seed;
    int seeds, seed_set, seeds_set;
    int mpfr, verbose, quiet, dry_run, shrink, shrink_max, jobs;
    int isolate;              /* -1: by backend (cuda/auto on, cpu off) */
    int repeat, cross_check;
    int allow_empty;          /* --allow-empty: an empty selection is not an error */
    double case_timeout;
    int shard_k, shard_n;
    long long max_cases, per_op;
    double budget_seconds;
    const char *json, *junit, *html, *regressions;
    const char *impl, *dir;   /* run --impl LIB; export/check --dir D */
    const char *devices;      /* run --devices LIST|all (harness/exec/devices.h), or NULL */
    int rates;                /* run --rates: the per-operator throughput table at the end */
    int skip_missing;         /* check: cases with no output files are left out */
    const char *pnames[UD_MAX_PARAMS], *pvals[UD_MAX_PARAMS];
    int np;
    char **pos;               /* positional arguments: case files and directories */
    int npos;
    int argc;                 /* the whole command line, for reports */
    char **argv;
} ud_cli;

/* cmd: "run", "export" or "check". */
int ud_cmd_run(const char *cmd, ud_cli *o);
int ud_cmd_mutants(ud_cli *o);
int ud_cmd_list(int argc, char **argv);
int ud_cmd_validate(int argc, char **argv);
int ud_cmd_compare(int argc, char **argv);
int ud_cmd_merge(int argc, char **argv);
int ud_cmd_rates(int argc, char **argv);
int ud_cmd_cache_check(int argc, char **argv);

/* The command line as one string (malloc'd; NULL when out of memory). */
char *ud_cli_join(int argc, char **argv);

#endif
