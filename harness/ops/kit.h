/* kit.h — what every registry entry (harness/ops/<op>.c) is built from, so that an entry holds
 * only its operator's own content: parameters, shapes, generators, budgets, the argument
 * builder of its kernels, and its variant table. docs/adding-an-operator.md walks through it.
 *
 *   UD_OPERATOR(NAME) = {...};          defines ud_op_NAME; the build registers every such line
 *                                       of the registry entries (no list to edit)
 *   UD_KERNEL_RUNNERS(ARGS, BUILD, CPU, CUDA)
 *                                       run_cpu / run_cuda from the argument builder
 *                                       `ARGS BUILD(const ud_case *, ud_tensor *in, ud_tensor *out, int dev)`
 *                                       and the launchers `int CPU(const ARGS *, int bug)`, `CUDA(...)`;
 *                                       .run_cuda = UD_RUN_CUDA (NULL in a build without CUDA)
 *   UD_KERNEL_TUNER(ARGS, BUILD, TUNE) tune_cuda for `ulpdiff bench --configs` from the launcher
 *                                       `int TUNE(const ARGS *, int cfg, const char **name)`;
 *                                       .tune_cuda = UD_TUNE_CUDA
 *   UD_KERNEL_VARIANT(BUG, "name", "finding", "what")
 *   UD_CACHE_VARIANT("name", "what", POLICY, KEY_BUG, "scenario")
 *                                       entries of the variant table (ud_mutant)
 *   UD_WHEN(0|1, ...)                   keeps its arguments when the flag is 1: selects the rows of a
 *                                       kernel family's X-macro table that belong to one operator
 *   ud_buf(&t, dev)                     the tensor's device or host buffer
 */
#ifndef UD_OPS_KIT_H
#define UD_OPS_KIT_H

#include <stddef.h>

#include "harness/cache/cache.h"
#include "harness/ops/registry.h"

#define UD_OPERATOR(NAME) const ud_op ud_op_##NAME

#define UD_NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define UD_KERNEL_VARIANT(BUG, NAME, EXPECT, WHAT) {NAME, WHAT, EXPECT, BUG, UD_CACHE_PRODUCTION, 0, NULL}
#define UD_CACHE_VARIANT(NAME, WHAT, POLICY, KEY_BUG, SCENARIO) {NAME, WHAT, "cache-stale", 0, POLICY, KEY_BUG, SCENARIO}

#define UD_CAT_(a, b) a##b
#define UD_CAT(a, b) UD_CAT_(a, b)
#define UD_WHEN_1(...) __VA_ARGS__
#define UD_WHEN_0(...)
#define UD_WHEN(flag, ...) UD_CAT(UD_WHEN_, flag)(__VA_ARGS__)

static inline void *ud_buf(const ud_tensor *t, int dev) { return dev ? t->dev : t->host; }

#define UD_RUN_CPU_(ARGS, BUILD, CPU)                                                         \
    static int run_cpu(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)           \
    {                                                                                         \
        ARGS a = BUILD(c, in, out, 0);                                                        \
        return CPU(&a, ud_op_bug(c->op, mutant));                                             \
    }

#ifdef UD_HAVE_CUDA
#define UD_KERNEL_RUNNERS(ARGS, BUILD, CPU, CUDA)                                             \
    UD_RUN_CPU_(ARGS, BUILD, CPU)                                                             \
    static int run_cuda(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)          \
    {                                                                                         \
        ARGS a = BUILD(c, in, out, 1);                                                        \
        return CUDA(&a, ud_op_bug(c->op, mutant));                                            \
    }
#define UD_RUN_CUDA run_cuda
/* tune_cuda from the argument builder and `int TUNE(const ARGS *, int cfg, const char **name)`. */
#define UD_KERNEL_TUNER(ARGS, BUILD, TUNE)                                                    \
    static int tune_cuda(const ud_case *c, int cfg, ud_tensor *in, ud_tensor *out, const char **name) \
    {                                                                                         \
        ARGS a = BUILD(c, in, out, 1);                                                        \
        return TUNE(&a, cfg, name);                                                           \
    }
#define UD_TUNE_CUDA tune_cuda
#else
#define UD_KERNEL_TUNER(ARGS, BUILD, TUNE)
#define UD_TUNE_CUDA NULL
#define UD_KERNEL_RUNNERS(ARGS, BUILD, CPU, CUDA) UD_RUN_CPU_(ARGS, BUILD, CPU)
#define UD_RUN_CUDA NULL
#endif

#endif
