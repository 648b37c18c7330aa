/* padding.c — the kernel on a case's padded batch (padding.h). */
#include "harness/exec/padding.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "numerics/status.h"
#include "numerics/ud_portable.h"
#include "harness/cases/padding.h"

/* The padding's own random stream, one per input (apart from every generator's). */
#define PAD_STREAM 0x9add1e6000000000ull

uint64_t ud_padding_garbage(ud_dtype dt, uint64_t seed, int k, int64_t row, int64_t col, size_t idx)
{
    const ud_format_info *f = ud_format(dt);
    uint64_t bits = ud_rng_u64(seed, PAD_STREAM + (uint64_t)k, idx);
    if (f->size < 8) bits &= (1ull << (8 * f->size)) - 1;
    if (!f->is_float) return bits;
    static const double special[5] = {NAN, -INFINITY, INFINITY, 1.0, -1.0};
    int kind = (int)(((uint64_t)row + (uint64_t)col) % 8);
    if (kind >= 5) return bits;
    double v = kind >= 3 ? special[kind] * f->max_finite : special[kind];
    uint64_t scratch = 0;
    ud_set(dt, &scratch, 0, v);   /* E4M3 has no Inf: its +-Inf store as NaN */
    return ud_get_bits(dt, &scratch, 0);
}

/* Copies the valid rows between a tensor (valid rows only) and its padded twin. */
static void copy_valid(const ud_pad_layout *l, size_t esz, void *dst, int64_t dst_rows, const void *src,
                       int64_t src_rows)
{
    size_t chunk = (size_t)(l->valid_rows * l->inner) * esz;
    for (int64_t o = 0; o < l->outer; o++)
        memcpy((char *)dst + (size_t)(o * dst_rows * l->inner) * esz,
               (const char *)src + (size_t)(o * src_rows * l->inner) * esz, chunk);
}

static void fill_garbage(const ud_pad_layout *l, ud_tensor *t, uint64_t seed, int k)
{
    for (int64_t o = 0; o < l->outer; o++)
        for (int64_t r = l->valid_rows; r < l->rows; r++)
            for (int64_t j = 0; j < l->inner; j++) {
                size_t idx = (size_t)((o * l->rows + r) * l->inner + j);
                ud_set_bits(t->dtype, t->host, idx, ud_padding_garbage(t->dtype, seed, k, r - l->valid_rows, j, idx));
            }
}

static int layout_of(const ud_case *c, const ud_tensor *t, const ud_tensor *pt, ud_pad_layout *l)
{
    char msg[300];
    if (ud_padding_layout(t, pt, ud_case_int(c, c->op->token_param), c->padding, l, msg, sizeof msg) == 0) return UD_OK;
    ud_error("%s: padding: %s", c->label, msg);   /* ud_padding_check refuses such a case first */
    return UD_EINTERNAL;
}

int ud_padding_run(const ud_case *c, const ud_tensor *in, ud_tensor *out, ud_padded_kernel kernel, void *user)
{
    ud_case pc;
    if (ud_padding_case(c, &pc) != UD_OK) {
        ud_error("%s: padding: %s has no token dimension", c->label, c->op->name);
        return UD_EINTERNAL;
    }
    const int nin = ud_case_ninputs(c), nout = ud_case_noutputs(c);
    ud_tensor pin[UD_MAX_TENSORS], pout[UD_MAX_TENSORS];
    ud_pad_layout l;
    int rc = ud_case_make_tensors(&pc, pin, pout);
    if (rc != UD_OK) return rc;
    for (int k = 0; rc == UD_OK && k < nin; k++) {
        if ((rc = layout_of(c, &in[k], &pin[k], &l)) != UD_OK) break;
        copy_valid(&l, ud_format(in[k].dtype)->size, pin[k].host, l.rows, in[k].host, l.valid_rows);
        fill_garbage(&l, &pin[k], c->seed, k);
    }
    if (rc == UD_OK && c->op->pad_inputs) rc = c->op->pad_inputs(&pc, ud_case_int(c, c->op->token_param), pin);
    if (rc == UD_OK) rc = kernel(user, &pc, pin, pout);
    for (int k = 0; rc == UD_OK && k < nout; k++) {
        if ((rc = layout_of(c, &out[k], &pout[k], &l)) != UD_OK) break;
        copy_valid(&l, ud_format(out[k].dtype)->size, out[k].host, l.valid_rows, pout[k].host, l.rows);
    }
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&pin[k]);
        ud_tensor_free(&pout[k]);
    }
    return rc;
}
