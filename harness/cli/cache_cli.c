/* cache_cli.c — `ulpdiff cache-check`: the cache scenarios of every operator with derived
 * state (or one), for production or a known-bug cache variant; the randomized stateful mode
 * with shrinking and a reproducer file; and the replay of such a file.
 *
 *   ulpdiff cache-check [--op NAME] [--mutant OP.VARIANT] [--backend cpu|cuda|auto]
 *                       [--random N [--seed S] [--steps L]] [--regressions DIR] [--replay FILE]
 *
 * Exit codes are run's: 0 no finding, 1 a finding (a scenario's, a random sequence's, a
 * replayed reproducer that still fails), 2 usage, 3 internal or device error. Like isolate_worker.c
 * this file resolves operators through the registry (registry.c, linked by the ulpdiff
 * binary). docs/cache-checks.md is the user's page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/cache/cache_check.h"
#include "numerics/status.h"
#include "harness/core/files.h"
#include "harness/ops/registry.h"
#include "harness/cases/spec.h"
#include "harness/exec/execute.h"
#include "harness/core/tensor.h"

typedef struct {
    const char *op, *mutant, *backend, *replay, *regressions;
    long long random, steps;
    unsigned long long seed;
    int verbose;
} opts;

static void cc_usage(FILE *f)
{
    fprintf(f, "usage: ulpdiff cache-check [--op NAME] [--mutant OP.VARIANT] [--backend cpu|cuda|auto]\n"
               "                           [--random N [--seed S] [--steps L]] [--regressions DIR] [--replay FILE]\n"
               "  runs the cache scenarios (docs/cache-checks.md) of every operator with derived state, or of\n"
               "  --op's, for production or for --mutant's known-bug cache; --random N adds N random sequences\n"
               "  of L steps (default 12) from seed S (default 1), shrinks a failure and writes a reproducer to\n"
               "  DIR (default cases/regressions); --replay runs such a reproducer. Exit 0 pass, 1 finding,\n"
               "  2 usage, 3 error.\n");
}

static int parse_ll(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        fprintf(stderr, "ulpdiff cache-check: %s: '%s' is not an integer in %lld..%lld\n", flag, v ? v : "", lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->seed = 1;
    o->steps = 12;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cc_usage(stdout); return 1; }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) { o->verbose = 1; continue; }
        if (strncmp(a, "--", 2) != 0 || !v) {
            fprintf(stderr, "ulpdiff cache-check: %s '%s'\n", strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
            cc_usage(stderr);
            return -1;
        }
        i++;
        if (strcmp(a, "--op") == 0) o->op = v;
        else if (strcmp(a, "--mutant") == 0) o->mutant = v;
        else if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--replay") == 0) o->replay = v;
        else if (strcmp(a, "--regressions") == 0) o->regressions = v;
        else if (strcmp(a, "--random") == 0) { if (parse_ll(a, v, 0, 1000000, &o->random)) return -1; }
        else if (strcmp(a, "--steps") == 0) { if (parse_ll(a, v, 2, UD_MAX_STEPS, &o->steps)) return -1; }
        else if (strcmp(a, "--seed") == 0) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            if (!*v || *end || v[0] == '-') { fprintf(stderr, "ulpdiff cache-check: --seed: '%s' is not a non-negative integer\n", v); return -1; }
        } else {
            fprintf(stderr, "ulpdiff cache-check: unknown option '%s'\n", a);
            cc_usage(stderr);
            return -1;
        }
    }
    if (strcmp(o->backend, "cpu") && strcmp(o->backend, "cuda") && strcmp(o->backend, "auto")) {
        fprintf(stderr, "ulpdiff cache-check: --backend: '%s' is not one of cpu, cuda, auto\n", o->backend);
        return -1;
    }
    return 0;
}

/* The operator's check case ("name=value ..."), seed as given. */
static int check_case(const ud_op *op, uint64_t seed, ud_case *c)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", op->cached->check_case ? op->cached->check_case : "");
    ud_spec s;
    ud_spec_init(&s, op);
    s.seed0 = seed;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        s.vals[ud_param_index(op, tok)] = eq + 1;
    }
    ud_case *cs = NULL;
    size_t n = 0;
    char err[512];
    if (ud_spec_expand(&s, &cs, &n, err, sizeof err) || n != 1) {
        fprintf(stderr, "ulpdiff cache-check: %s: check case '%s': %s\n", op->name, op->cached->check_case, n != 1 ? "not one case" : err);
        free(cs);
        return UD_EXIT_INTERNAL;
    }
    *c = cs[0];
    free(cs);
    return 0;
}

static const char *variant_name(const ud_case *c) { return c->mutant ? c->op->mutants[c->mutant - 1].name : "production"; }

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Scenarios and random sequences for one case. Returns 0 pass, 1 finding, 3 error. */
static int check_one(const opts *o, const ud_case *c, ud_cache_policy pol, ud_backend be)
{
    const ud_cache_check_opts co = {be};
    ud_scenario_result r[UD_SC_COUNT];
    printf("cache-check %s on %s\n", c->label, ud_backend_name(be));
    if (ud_cache_check_case(c, pol, &co, r) != UD_OK) {
        printf("  ERROR: the scenarios stopped (see the message above)\n");
        return UD_EXIT_INTERNAL;
    }
    int findings = 0;
    const char *named = ud_cache_case_scenario(c);
    int named_caught = 0;
    for (int s = 0; s < UD_SC_COUNT; s++) {
        printf("  %-15s %-12s %s\n", ud_scenario_names[s], ud_verdict_names[r[s].verdict], r[s].detail);
        findings += ud_verdict_is_finding(r[s].verdict);
        if (named[0] && strcmp(named, ud_scenario_names[s]) == 0) named_caught = r[s].verdict == UD_VERDICT_STALE;
    }
    if (named[0])
        printf("  variant %s: %s by its scenario %s\n", variant_name(c), named_caught ? "caught" : "NOT CAUGHT", named);
    if (o->random > 0) {
        ud_cache_seq s;
        int found = 0;
        char msg[700];
        if (ud_cache_random(c, pol, variant_name(c), &co, (int)o->random, (int)o->steps, o->seed, &s, &found, msg, sizeof msg) !=
            UD_OK) {
            printf("  random          ERROR        (see the message above)\n");
            return UD_EXIT_INTERNAL;
        }
        if (!found) {
            printf("  %-15s %-12s %lld sequences of %lld steps from seed %llu\n", "random", "pass", o->random, o->steps, o->seed);
        } else {
            int before = s.nsteps, runs = 0;
            if (ud_cache_shrink(&s, &co, msg, sizeof msg, &runs) != UD_OK) return UD_EXIT_INTERNAL;
            char header[1200], path[4400], sel[200];
            if (c->mutant) snprintf(sel, sizeof sel, "--mutant %s.%s", c->op->name, variant_name(c));
            else snprintf(sel, sizeof sel, "--op %s", c->op->name);
            snprintf(header, sizeof header,
                     "found by: ulpdiff cache-check %s --backend %s --random %lld --seed %llu --steps %lld\n"
                     "shrunk from %d to %d steps (%d trial runs); it fails with:\ncache-stale: %.700s\n"
                     "replay: ulpdiff cache-check --replay THIS_FILE --backend %s",
                     sel, ud_backend_name(be), o->random, o->seed, o->steps, before, s.nsteps, runs, msg, ud_backend_name(be));
            const char *dir = o->regressions ? o->regressions : "cases/regressions";
            printf("  %-15s %-12s %s\n", "random", "CACHE-STALE", msg);
            printf("  shrunk from %d to %d steps (%d trial runs):", before, s.nsteps, runs);
            char text[8192];
            if (ud_cache_seq_format(&s, NULL, text, sizeof text) == UD_OK) {
                const char *st = strstr(text, "steps:\n");
                for (const char *p = st ? st + 7 : ""; *p;) {
                    const char *e = strchr(p, '\n');
                    printf(" %.*s%s", (int)(e ? e - p : (long)strlen(p)), p, e && e[1] ? ";" : "");
                    p = e ? e + 1 : p + strlen(p);
                }
            }
            printf("\n");
            if (!o->regressions && !is_dir(dir)) dir = ".";
            if (ud_cache_seq_write(dir, &s, header, path, sizeof path) != UD_OK) return UD_EXIT_INTERNAL;
            printf("  reproducer: %s\n", path);
            findings++;
        }
    }
    return findings ? UD_EXIT_FINDINGS : UD_EXIT_PASS;
}

static int replay(const opts *o, ud_backend be)
{
    /* A reproducer is a few lines: a file over 64 KiB is refused, never read in part, and only
     * a regular file is read (a FIFO would block). */
    char why[256];
    size_t n = 0;
    char *text = ud_read_regular(o->replay, (size_t)1 << 16, &n, why, sizeof why);
    if (!text) { fprintf(stderr, "ulpdiff cache-check: %s: cannot read: %s\n", o->replay, why); return UD_EXIT_USAGE; }
    if (memchr(text, 0, n)) {
        fprintf(stderr, "ulpdiff cache-check: %s:1: not a text file (NUL byte)\n", o->replay);
        free(text);
        return UD_EXIT_USAGE;
    }
    ud_cache_seq s;
    char err[800];
    int rc = ud_cache_seq_parse(text, o->replay, ud_op_find, &s, err, sizeof err);
    free(text);
    if (rc) { fprintf(stderr, "ulpdiff cache-check: %s\n", err); return UD_EXIT_USAGE; }
    const ud_cache_check_opts co = {be};
    int at;
    char msg[700];
    printf("replay %s: %s, %s cache (%s), %d steps on %s\n", o->replay, s.c.label, s.variant, ud_cache_policy_names[s.policy],
           s.nsteps, ud_backend_name(be));
    if (ud_cache_seq_run(&s, &co, &at, msg, sizeof msg) != UD_OK) return UD_EXIT_INTERNAL;
    if (at < 0) { printf("  passes: every call agrees with a fresh uncached instance\n"); return UD_EXIT_PASS; }
    printf("  CACHE-STALE at %s\n", msg);
    return UD_EXIT_FINDINGS;
}

int ud_cmd_cache_check(int argc, char **argv)
{
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc) return prc > 0 ? UD_EXIT_PASS : UD_EXIT_USAGE;
    ud_backend be;
    int rc = ud_exec_pick_backend("ulpdiff cache-check", o.backend, &be);
    if (rc >= 0) return rc;
    if (o.replay) return replay(&o, be);
    const ud_op *only = NULL;
    int mutant = 0;
    if (o.mutant) {
        if (ud_mutant_find(o.mutant, &only, &mutant)) {
            fprintf(stderr, "ulpdiff cache-check: --mutant: unknown variant '%s' (`ulpdiff list mutants`)\n", o.mutant);
            return UD_EXIT_USAGE;
        }
        if (o.op && strcmp(o.op, only->name)) {
            fprintf(stderr, "ulpdiff cache-check: --mutant %s belongs to %s, not --op %s\n", o.mutant, only->name, o.op);
            return UD_EXIT_USAGE;
        }
    } else if (o.op && !(only = ud_op_find(o.op))) {
        fprintf(stderr, "ulpdiff cache-check: --op: unknown operator '%s'\n", o.op);
        return UD_EXIT_USAGE;
    }
    if (only && !only->cached) {
        fprintf(stderr, "ulpdiff cache-check: %s keeps no derived state; operators that do:", only->name);
        for (int i = 0; i < ud_op_count(); i++)
            if (ud_op_at(i)->cached) fprintf(stderr, " %s", ud_op_at(i)->name);
        fprintf(stderr, "\n");
        return UD_EXIT_USAGE;
    }
    int worst = UD_EXIT_PASS, ran = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (!op->cached || (only && op != only)) continue;
        ud_case c;
        rc = check_case(op, o.seed, &c);
        if (rc) return rc;
        c.mutant = mutant;
        ud_cache_policy pol;
        if (ud_cache_case_policy(&c, &pol)) {
            fprintf(stderr, "ulpdiff cache-check: --mutant %s is a kernel variant, not a cache variant; cache variants of %s:",
                    o.mutant, op->name);
            for (int v = 0; v < op->nmutants; v++)
                if (op->mutants[v].scenario) fprintf(stderr, " %s.%s", op->name, op->mutants[v].name);
            fprintf(stderr, "\n");
            return UD_EXIT_USAGE;
        }
        ud_case_format_label(&c);
        rc = check_one(&o, &c, pol, be);
        ran++;
        if (rc == UD_EXIT_INTERNAL || (rc == UD_EXIT_FINDINGS && worst == UD_EXIT_PASS)) worst = rc;
        if (o.verbose) printf("  key: %s\n", ud_cache_policy_what(pol));
    }
    if (!ran) printf("no operator keeps derived state\n");
    printf("cache-check: %s\n", worst == UD_EXIT_PASS ? "no finding" : worst == UD_EXIT_FINDINGS ? "FINDINGS" : "ERROR");
    return worst;
}
