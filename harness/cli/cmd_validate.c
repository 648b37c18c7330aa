/* cmd_validate.c — `ulpdiff validate [--allow-empty] [FILES|DIRS]`: case files checked
 * (default: all of cases/), every error naming file:line; nothing runs. Naming no case file (a
 * missing path, a directory without *.ini) is an error unless --allow-empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cli/cli.h"
#include "harness/cases/casefile.h"
#include "harness/cases/select.h"

int ud_cmd_validate(int argc, char **argv)
{
    char buf[4096];
    char *dflt[1];
    int allow_empty = 0, m = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--allow-empty") == 0) { allow_empty = 1; continue; }
        if (argv[i][0] == '-') { fprintf(stderr, "ulpdiff validate: unknown option '%s'\n", argv[i]); return UD_EXIT_USAGE; }
        argv[m++] = argv[i];
    }
    argc = m;
    if (argc == 0) {
        const char *d = ud_corpus_dir("", buf, sizeof buf);
        if (!d) { fprintf(stderr, "ulpdiff validate: no files given and no cases/ directory found\n"); return UD_EXIT_USAGE; }
        dflt[0] = (char *)d;
        argv = dflt;
        argc = 1;
    }
    ud_corpus corp;
    ud_corpus_init(&corp);
    corp.allow_empty = allow_empty;
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
        printf("%zu file%s, %zu case%s: valid\n", corp.nfiles, corp.nfiles == 1 ? "" : "s", n, n == 1 ? "" : "s");
    } else {
        fprintf(stderr, "ulpdiff validate: %d error%s\n", errs, errs == 1 ? "" : "s");
    }
    free(cases);
    ud_corpus_free(&corp);
    return errs ? UD_EXIT_USAGE : UD_EXIT_PASS;
}
