/* registry.c — the table of operators (from ops.def) and case parameter access. */
#include "harness/ops/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UD_OP(name) extern const ud_op ud_op_##name;
#include "harness/ops/ops.def"
#undef UD_OP

static const ud_op *const ops[] = {
#define UD_OP(name) &ud_op_##name,
#include "harness/ops/ops.def"
#undef UD_OP
};

/* Probe operators (harness/ops/fault_probe.c): found by name, never listed (registry.h). */
extern const ud_op ud_probe_fault_probe;
static const ud_op *const probes[] = {&ud_probe_fault_probe};
enum { UD_NPROBES = sizeof probes / sizeof probes[0] };

enum { UD_NOPS = sizeof ops / sizeof ops[0] };
_Static_assert(UD_NOPS > 0, "the registry must not be empty");

int ud_op_count(void) { return UD_NOPS; }
const ud_op *ud_op_at(int i) { return (i >= 0 && i < UD_NOPS) ? ops[i] : NULL; }

const ud_op *ud_op_find(const char *name)
{
    for (int i = 0; i < UD_NOPS; i++)
        if (strcmp(ops[i]->name, name) == 0) return ops[i];
    for (int i = 0; i < UD_NPROBES; i++)
        if (strcmp(probes[i]->name, name) == 0) return probes[i];
    return NULL;
}

int ud_mutant_find(const char *full, const ud_op **op, int *mutant)
{
    const char *dot = strrchr(full, '.');
    if (!dot) return -1;
    char name[128];
    if ((size_t)(dot - full) >= sizeof name) return -1;
    memcpy(name, full, (size_t)(dot - full));
    name[dot - full] = 0;
    const ud_op *o = ud_op_find(name);
    for (int k = 0; o && k < o->nmutants; k++)
        if (strcmp(o->mutants[k].name, dot + 1) == 0) {
            *op = o;
            *mutant = k + 1;
            return 0;
        }
    return -1;
}

