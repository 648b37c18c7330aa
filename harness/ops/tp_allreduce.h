/* ops/tp_allreduce.h — what the registry entries of the tensor-parallel all-reduce
 * (harness/ops/tp_allreduce.c) give beyond the registry: the same operators judged with the
 * reduction order left open, for an all-reduce whose order ulpdiff does not choose (NCCL,
 * harness/nccl). */
#ifndef UD_OPS_TP_ALLREDUCE_H
#define UD_OPS_TP_ALLREDUCE_H

#include "harness/ops/registry.h"

/* *out = *base (tp_allreduce or tp_allreduce_rmsnorm) with its reference and budgets taken for
 * "any order of R - 1 additions rounded to T" (TPA_ALG_ANY) whatever the case's `algorithm`,
 * and no kernels (the caller sets run_cpu). Returns -1 for another operator. */
int tpa_any_order_op(const ud_op *base, ud_op *out);

#endif
