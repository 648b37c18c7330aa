/* padding.c — the padded case, its tensors' layouts and the check that a case can be padded
 * (padding.h). */
#include "harness/cases/padding.h"

#include <stdio.h>
#include <string.h>

#include "numerics/status.h"

int ud_padding_case(const ud_case *c, ud_case *padded)
{
    if (!c->op->token_param) return UD_EUSAGE;
    *padded = *c;
    padded->padding = 0;
    padded->p[ud_param_index(c->op, c->op->token_param)].i += c->padding;
    ud_case_format_label(padded);
    return UD_OK;
}

static void shape_text(const ud_tensor *t, char *buf, size_t n)
{
    int off = snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && off > 0 && (size_t)off < n; d++)
        off += snprintf(buf + off, n - (size_t)off, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (off > 0 && (size_t)off < n) snprintf(buf + off, n - (size_t)off, "]");
}

int ud_padding_layout(const ud_tensor *t, const ud_tensor *pt, int64_t tokens, int64_t padding, ud_pad_layout *l,
                      char *msg, size_t n)
{
    memset(l, 0, sizeof *l);
    int d = -1, ok = t->ndim == pt->ndim && padding > 0;
    for (int k = 0; ok && k < t->ndim; k++) {
        if (t->shape[k] == pt->shape[k]) continue;
        int64_t grow = pt->shape[k] - t->shape[k];
        ok = d < 0 && grow > 0 && grow % padding == 0;
        d = k;
    }
    if (ok && d >= 0) ok = t->shape[d] == tokens * ((pt->shape[d] - t->shape[d]) / padding);   /* T r -> (T + N) r */
    if (!ok) {
        char a[96], b[96];
        shape_text(t, a, sizeof a);
        shape_text(pt, b, sizeof b);
        snprintf(msg, n, "tensor %s is %s for %lld tokens and %s for %lld: no one dimension of whole rows per token",
                 t->name, a, (long long)tokens, b, (long long)(tokens + padding));
        return -1;
    }
    l->has_tokens = d >= 0;
    l->outer = 1;
    l->inner = 1;
    if (d < 0) {
        l->valid_rows = l->rows = 1;
        l->inner = (int64_t)t->numel;
        return 0;
    }
    for (int k = 0; k < d; k++) l->outer *= t->shape[k];
    for (int k = d + 1; k < t->ndim; k++) l->inner *= t->shape[k];
    l->valid_rows = t->shape[d];
    l->rows = pt->shape[d];
    return 0;
}

/* Operators that can be padded, for the message that refuses one that cannot. */
static void paddable_ops(char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < ud_op_count() && off < n; i++)
        if (ud_op_at(i)->token_param)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", off ? ", " : "", ud_op_at(i)->name);
}

int ud_padding_check(const ud_case *c, char *msg, size_t n)
{
    const ud_op *op = c->op;
    if (c->padding < 0 || c->padding > UD_MAX_PADDING) {
        snprintf(msg, n, "padding = %d is outside 0..%d", c->padding, UD_MAX_PADDING);
        return -1;
    }
    if (!op->token_param) {
        char ops[600];
        paddable_ops(ops, sizeof ops);
        snprintf(msg, n, "padding = %d: %s has no token dimension to pad (padding applies to %s)", c->padding,
                 op->name, ops);
        return -1;
    }
    const ud_param *tp = &op->params[ud_param_index(op, op->token_param)];
    int64_t tokens = ud_case_int(c, op->token_param);
    if ((double)tokens + c->padding > tp->hi) {
        snprintf(msg, n, "padding = %d: %s + padding = %lld is outside %s' range %.0f..%.0f", c->padding, tp->name,
                 (long long)tokens + c->padding, tp->name, tp->lo, tp->hi);
        return -1;
    }
    ud_case pc;
    ud_padding_case(c, &pc);
    char why[400];
    if (ud_case_validate(&pc, why, sizeof why)) {
        snprintf(msg, n, "padding = %d: the padded batch (%s = %lld): %s", c->padding, tp->name,
                 (long long)tokens + c->padding, why);
        return -1;
    }
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS], pin[UD_MAX_TENSORS], pout[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    memset(pin, 0, sizeof pin);
    memset(pout, 0, sizeof pout);
    if (op->shapes(c, in, out) != UD_OK || op->shapes(&pc, pin, pout) != UD_OK) {
        snprintf(msg, n, "padding = %d: the tensors' shapes do not fit in memory", c->padding);
        return -1;
    }
    for (int io = 0; io < 2; io++) {
        const ud_tensor *t = io ? out : in, *pt = io ? pout : pin;
        for (int k = 0; k < (io ? ud_case_noutputs(c) : ud_case_ninputs(c)); k++) {
            ud_pad_layout l;
            if (ud_padding_layout(&t[k], &pt[k], tokens, c->padding, &l, why, sizeof why)) {
                snprintf(msg, n, "padding = %d: %s cannot be padded: %s", c->padding, op->name, why);
                return -1;
            }
            if (!io && l.has_tokens && !ud_format(t[k].dtype)->is_float && !op->pad_inputs) {
                snprintf(msg, n, "padding = %d: %s's input %s holds integers (indices the kernel follows) and the "
                         "operator does not say what its padding rows hold (ud_op.pad_inputs)", c->padding, op->name,
                         t[k].name);
                return -1;
            }
        }
    }
    return 0;
}
