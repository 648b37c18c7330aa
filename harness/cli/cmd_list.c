/* cmd_list.c — `ulpdiff list [ops|mutants|generators]`: the operators with their parameters,
 * defaults and known-bug variants (or names only, for scripts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/cli/cli.h"
#include "harness/cases/casefile.h"
#include "harness/core/gen.h"

int ud_cmd_list(int argc, char **argv)
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
        if (op->token_param) printf("\n  padding = N: runs on %s + N rows, the N past them garbage", op->token_param);
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
