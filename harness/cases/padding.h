/* padding.h — a case's `padding`: the CUDA-graph batch its kernel sees.
 *
 * A CUDA graph is captured for fixed batch sizes; a step with fewer tokens replays the graph of
 * the next size up, on buffers whose rows past the real tokens (the padding) hold whatever they
 * held before: NaN, Inf, huge values, any bits. A per-token kernel must not let them reach the
 * real rows. A case with padding = N runs its kernel on the padded case — the operator's token
 * parameter (ud_op.token_param) raised by N — and judges the valid rows alone
 * (harness/exec/padding.h runs it; docs/cases.md, "padding").
 *
 * Which tensors carry the token dimension follows from the shapes of the case and of the padded
 * case. A tensor whose shape changes in exactly one dimension d, from T r to (T + N) r for some
 * r >= 1 (T tokens; r rows a token: post_reorder_sum's dispatch rows are topk a token), has the
 * token dimension d: its valid part is, for every index of the dimensions before d, the first
 * T r rows (tp_allreduce's partials are [ranks, tokens, hidden]). A tensor whose shape does not
 * change is shared by every token (weights, tables; such an output is judged whole). Any other
 * change refuses padding. */
#ifndef UD_PADDING_H
#define UD_PADDING_H

#include <stddef.h>
#include <stdint.h>

#include "harness/ops/registry.h"

/* The largest padding a case file may ask for. */
#define UD_MAX_PADDING (1 << 20)

/* Where a tensor's valid rows lie in its padded twin: `outer` slabs (the dimensions before the
 * token dimension), each of `rows` rows (the first `valid_rows` valid) of `inner` elements. A
 * shared tensor is one slab of valid_rows = rows = 1, inner = every element. */
typedef struct {
    int has_tokens;
    int64_t outer, valid_rows, rows, inner;
} ud_pad_layout;

/* The padded case of c: its token parameter raised by c->padding, padding 0, label reformatted.
 * UD_EUSAGE when the operator has no token parameter. */
int ud_padding_case(const ud_case *c, ud_case *padded);

/* The layout of tensor t (of a case of `tokens` tokens) in pt (the same tensor of its padded
 * case, tokens + padding). Returns 0, or -1 with msg set when their shapes differ otherwise
 * than by whole rows a token along one dimension. */
int ud_padding_layout(const ud_tensor *t, const ud_tensor *pt, int64_t tokens, int64_t padding, ud_pad_layout *l,
                      char *msg, size_t n);

/* Can c run padded? The operator declares a token parameter, tokens + padding stays in its
 * range, the padded case passes the operator's checks and the element cap, every tensor's shape
 * changes only along a token dimension, and an integer input with one has the operator's
 * pad_inputs. Returns 0, or -1 with msg set. (ud_case_validate calls it for padding > 0.) */
int ud_padding_check(const ud_case *c, char *msg, size_t n);

#endif
