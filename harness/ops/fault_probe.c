/* ops/fault_probe.c — the fault probe (gpu/fault_probe.h): out = x in fp32, a copy whose
 * variants fault on purpose. Not a UD_OPERATOR: registry.c finds it by name only, so it runs only
 * where a command line or case file names it (cases/faults/, scripts/gpu-sanitize.sh,
 * tests/cli/isolation.sh). Process isolation and the sanitizer scripts are documented in
 * docs/nightly.md.
 *
 * Reference: the copy is exact, so r = x (no reference/ file: there is nothing to compute). */
#include <stdio.h>

#include "gpu/fault_probe.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"

static const char *const dtypes[] = {"fp32", NULL};
enum { P_DTYPE, P_TOKENS, P_HIDDEN, P_COUNT };

static const ud_param params[P_COUNT] = {
    [P_DTYPE] = {"dtype", UD_P_DTYPE, "fp32", "x and out", dtypes, 0, 0},
    [P_TOKENS] = {"tokens", UD_P_INT, "3", "rows", NULL, 1, 1 << 16},
    [P_HIDDEN] = {"hidden", UD_P_INT, "33", "row length", NULL, 1, 1 << 16},
};

static const char *const inputs[] = {"x", NULL};
static const char *const outputs[] = {"out", NULL};

static int shapes(const ud_case *c, ud_tensor *in, ud_tensor *out)
{
    int64_t shape[2] = {c->p[P_TOKENS].i, c->p[P_HIDDEN].i};
    UD_TRY(ud_tensor_shape(&in[0], "x", UD_F32, 2, shape));
    UD_TRY(ud_tensor_shape(&out[0], "out", UD_F32, 2, shape));
    return UD_OK;
}

static int generate(const ud_case *c, ud_tensor *in)
{
    ud_gen_fill(&in[0], UD_GEN_NORMAL, c->seed, 1, c->p[P_HIDDEN].i, 1.0);
    return UD_OK;
}

static int reference(const ud_case *c, const ud_tensor *in, ud_ref *ref, int exact_mpfr)
{
    (void)c;
    (void)exact_mpfr;
    for (size_t i = 0; i < ref[0].n; i++) {
        ref[0].r0[i] = ref[0].r1[i] = ud_get(UD_F32, in[0].host, i);
        ref[0].s[i] = 0.0;
    }
    return UD_OK;
}

static int64_t numel(const ud_case *c) { return c->p[P_TOKENS].i * c->p[P_HIDDEN].i; }

static int run_cpu(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    return fault_probe_cpu(in[0].host, out[0].host, numel(c), mutant);   /* mutant k is FP_* k */
}

#ifdef UD_HAVE_CUDA
static int run_cuda(const ud_case *c, int mutant, ud_tensor *in, ud_tensor *out)
{
    return fault_probe_cuda(in[0].dev, out[0].dev, numel(c), mutant);
}
#define RUN_CUDA run_cuda
#else
#define RUN_CUDA NULL
#endif

static ud_budget budget(const ud_case *c, int k)
{
    (void)c;
    (void)k;
    ud_budget b = {0.0, 0.0, 0x1p-24, 0.0};   /* a copy is exact */
    return b;
}

/* In FP_* order. `expect` names what catches each: an `error` finding (the process dies or
 * the device reports a sticky error) or a compute-sanitizer tool. */
static const ud_mutant mutants[FP_COUNT - 1] = {
    {"illegal_address", "stores 1 TiB past its output (cuda: illegal address; cpu: SIGSEGV)", "error"},
    {"misaligned", "8-byte store at an odd address (cuda: misaligned address; cpu: SIGBUS)", "error"},
    {"device_assert", "a device-side assert fails (cuda: cudaErrorAssert; cpu: abort)", "error"},
    {"hang", "never returns (ended by --case-timeout)", "error"},
    {"oob_read", "reads one element past its input, value unused (memcheck)", "memcheck"},
    {"smem_race", "shared-memory write and read with no barrier between (racecheck)", "racecheck"},
    {"uninit_read", "reads device memory nothing wrote (initcheck)", "initcheck"},
    {"divergent_sync", "__syncthreads() that half of one warp reaches (synccheck; run it only under synccheck)", "synccheck"},
    {"nondeterministic", "every second call flips the last bit of out[0] (--repeat 2)", "nondeterminism"},
    {"backend_mismatch", "the cpu kernel flips the last bit of out[0]; cuda is exact (--cross-check)",
     "backend-mismatch"},
};

const ud_op ud_probe_fault_probe = {
    .name = "fault_probe",
    .summary = "out = x (fp32 copy); variants fault on purpose (isolation and sanitizer self-tests)",
    .doc = "docs/nightly.md",
    .params = params, .nparams = P_COUNT, .inputs = inputs, .outputs = outputs,
    .shapes = shapes, .generate = generate, .reference = reference,
    .run_cpu = run_cpu, .run_cuda = RUN_CUDA, .budget = budget,
    .mutants = mutants, .nmutants = FP_COUNT - 1,
    .bitwise_backends = 1,
};
