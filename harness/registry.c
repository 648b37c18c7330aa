/* registry.c — the table of operators (from ops.def) and case parameter access. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UD_OP(name) extern const ud_op ud_op_##name;
#include "ops.def"
#undef UD_OP

static const ud_op *const ops[] = {
#define UD_OP(name) &ud_op_##name,
#include "ops.def"
#undef UD_OP
};

enum { UD_NOPS = sizeof ops / sizeof ops[0] };
_Static_assert(UD_NOPS > 0, "the registry must not be empty");

int ud_op_count(void) { return UD_NOPS; }
const ud_op *ud_op_at(int i) { return (i >= 0 && i < UD_NOPS) ? ops[i] : NULL; }

const ud_op *ud_op_find(const char *name)
{
    for (int i = 0; i < UD_NOPS; i++)
        if (strcmp(ops[i]->name, name) == 0) return ops[i];
    return NULL;
}

int ud_mutant_find(const char *full, const ud_op **op, int *mutant)
{
    const char *dot = strrchr(full, '.');
    if (!dot) return -1;
    for (int i = 0; i < UD_NOPS; i++) {
        size_t len = strlen(ops[i]->name);
        if ((size_t)(dot - full) != len || strncmp(full, ops[i]->name, len) != 0) continue;
        for (int k = 0; k < ops[i]->nmutants; k++)
            if (strcmp(ops[i]->mutants[k].name, dot + 1) == 0) {
                *op = ops[i];
                *mutant = k + 1;
                return 0;
            }
    }
    return -1;
}

