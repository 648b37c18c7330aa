/* silu_and_mul.c — cpu backend of SiLU(gate) * up: the body of gpu/silu_and_mul.h for every
 * element. Elementwise, with the same portable exp: cpu and cuda agree bit for bit. */
#include "gpu/silu_and_mul.h"

#include "numerics/status.h"

int silu_and_mul_cpu(const silu_args *a, int bug)
{
    for (int64_t t = 0; t < a->tokens; t++) {
        int64_t in = t * 2 * a->inter, o = t * a->inter;
        for (int64_t j = 0; j < a->inter; j++) {
            float g = ud_ld(a->dt, a->x, in + j), u = ud_ld(a->dt, a->x, in + a->inter + j);
            ud_st(a->dt, a->out, o + j, silu_mul(a->dt, a->spec, bug, g, u));
        }
    }
    return UD_OK;
}
