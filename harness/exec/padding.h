/* padding.h — running a case's kernel on its padded batch (the case and its layouts:
 * harness/cases/padding.h; the user's page: docs/cases.md, "padding").
 *
 * The case's inputs (generated for its T tokens, as the unpadded case's) are copied into the
 * valid rows of the padded batch's inputs; every other element of a tensor with a token
 * dimension is garbage of what a CUDA-graph buffer holds when nothing wrote it this step
 * (ud_padding_garbage), then the operator's pad_inputs makes indices valid; tensors without a
 * token dimension are copied whole. The kernel runs on the padded case; the valid rows of its
 * outputs (and shared outputs whole) come back into the case's outputs, which the case's
 * reference — the unpadded case's — then judges. The padding rows' outputs are not judged: the
 * engine discards them. */
#ifndef UD_EXEC_PADDING_H
#define UD_EXEC_PADDING_H

#include "harness/ops/registry.h"

/* Runs the kernel (poisoning, uploading and downloading as the caller does for any case) on the
 * padded case `padded` with its tensors. */
typedef int (*ud_padded_kernel)(void *user, const ud_case *padded, ud_tensor *in, ud_tensor *out);

/* c->padding > 0: builds the padded batch from in (c's inputs, left unchanged), runs `kernel`
 * on it and fills out (c's outputs) from its outputs. Returns the kernel's status, or an error
 * status (message on stderr). */
int ud_padding_run(const ud_case *c, const ud_tensor *in, ud_tensor *out, ud_padded_kernel kernel, void *user);

/* Garbage element `row` (counted from the first padding row), `col` of a padding part of input
 * k, dtype dt: by (row + col) mod 8 a NaN, -Inf, +Inf, the dtype's largest finite value, its
 * negative, or (3 in 8) random bits of the dtype — which include more NaNs, huge values and
 * subnormals —, the bits a function of (seed, k, idx) (idx: the element's flat index). Every
 * padding row of 8 or more elements holds each kind; rows of one element cycle through them. */
uint64_t ud_padding_garbage(ud_dtype dt, uint64_t seed, int k, int64_t row, int64_t col, size_t idx);

#endif
