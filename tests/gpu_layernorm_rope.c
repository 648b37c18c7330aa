/* gpu_layernorm_rope.c — needs a CUDA device (ctest label gpu; exit 77 = skipped without one).
 *
 * The cpu and cuda backends of layernorm, fp32_layernorm and rope compute the same bits
 * (docs/ops/layernorm.md, docs/ops/rope.md: one kernel body, one reduction order). From the
 * same inputs, outputs compared bit for bit (NaN matches NaN):
 *   - the device cos/sin table builder against the host builder (rotary_dim 64 x 8192 rows,
 *     and rotary_dim 8 x 1000001 rows for positions up to 10^6; every table dtype, two bases);
 *   - every case of the smoke corpora with every known-bug kernel variant (the cache variants
 *     run the production kernels: `ulpdiff cache-check --backend cuda` is their test);
 *   - the large shapes in production: layernorm 4096 x 7168 (bf16, fp16 near overflow,
 *     fp32, large-mean rows), fp32_layernorm 4096 x 7168 with fp32 and bf16 parameters, rope
 *     4096 tokens x 32 q / 8 kv heads x 128 (factor 1 and 0.5, both styles, both tables);
 *   - rope with positions outside the table: both backends return the usage error, write
 *     every other token identically, and leave the bad tokens unwritten (poison).
 * Whether the outputs are correct is `ulpdiff run`/`ulpdiff mutants --backend cuda`'s job;
 * with bit agreement, the cpu unit tests' verdicts carry over to the GPU.
 * Usage: gpu_layernorm_rope [CASEFILE...] — those files, every case with every variant, in
 * place of the smoke files (e.g. cases/nightly/layernorm.ini cases/nightly/rope.ini).
 * Exit 0 pass, 1 fail, 77 no device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/rope.h"
#include "harness/cache/cache_check.h"
#include "harness/cases/casefile.h"
#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"

static int failures = 0, passes = 0;

static void expect(int ok, const char *fmt, const char *what)
{
    if (ok) passes++;
    else { failures++; fprintf(stderr, fmt, what); fputc('\n', stderr); }
}

static int count_names(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

/* Runs case c (with its mutant) on both backends from one set of inputs; compares bits. */
static void both_backends(const ud_case *c)
{
    const ud_op *op = c->op;
    int nin = count_names(op->inputs), nout = count_names(op->outputs);
    ud_tensor in[UD_MAX_TENSORS], spare[UD_MAX_TENSORS], cpu[UD_MAX_TENSORS], gpu[UD_MAX_TENSORS];
    memset(in, 0, sizeof in);
    memset(spare, 0, sizeof spare);
    memset(cpu, 0, sizeof cpu);
    memset(gpu, 0, sizeof gpu);
    /* the second call's inputs (spare) are not used: both backends read `in` */
    int ok = ud_case_make_tensors(c, in, cpu) == UD_OK && ud_case_make_tensors(c, spare, gpu) == UD_OK;
    ok = ok && op->generate(c, in) == UD_OK;
    if (ok) {
        for (int k = 0; k < nout; k++) ud_tensor_poison(&cpu[k]);
        int rc_cpu = op->run_cpu(c, c->mutant, in, cpu);
        for (int k = 0; k < nin && ok; k++) ok = ud_tensor_to_device(&in[k]) == UD_OK;
        for (int k = 0; k < nout && ok; k++) ok = ud_tensor_poison_device(&gpu[k]) == UD_OK;
        int rc_gpu = ok ? op->run_cuda(c, c->mutant, in, gpu) : UD_EINTERNAL;
        ok = ok && ud_device_sync() == UD_OK;
        for (int k = 0; k < nout && ok; k++) ok = ud_tensor_to_host(&gpu[k]) == UD_OK;
        ok = ok && rc_cpu == rc_gpu;
        for (int k = 0; k < nout && ok; k++) {
            size_t bad = 0, first = 0;
            /* NaNs that arithmetic produces differ in sign and payload between x86 (0xffc00000)
             * and the GPU (0x7fffffff); any NaN matches any NaN. Raw copies (RoPE's pass-through
             * dims) are checked against the input's bits by the operator itself. */
            for (size_t i = 0; i < cpu[k].numel; i++) {
                uint64_t bc = ud_get_bits(cpu[k].dtype, cpu[k].host, i), bg = ud_get_bits(gpu[k].dtype, gpu[k].host, i);
                int both_nan = isnan(ud_get(cpu[k].dtype, cpu[k].host, i)) && isnan(ud_get(gpu[k].dtype, gpu[k].host, i));
                if (bc != bg && !both_nan && !bad++) first = i;
            }
            if (bad) {
                char at[64];
                ud_tensor_coords(&cpu[k], first, at, sizeof at);
                fprintf(stderr, "%s: %s: %zu of %zu elements differ; first at %s: cpu 0x%llx cuda 0x%llx\n", c->label,
                        cpu[k].name, bad, cpu[k].numel, at, (unsigned long long)ud_get_bits(cpu[k].dtype, cpu[k].host, first),
                        (unsigned long long)ud_get_bits(gpu[k].dtype, gpu[k].host, first));
                ok = 0;
            }
        }
    }
    expect(ok, "FAIL: cpu and cuda differ (or did not run) for %s", c->label);
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        ud_tensor_free(&in[k]);
        ud_tensor_free(&spare[k]);
        ud_tensor_free(&cpu[k]);
        ud_tensor_free(&gpu[k]);
    }
}

/* The device table builder against the host builder, bit for bit, for each table dtype. */
#ifdef UD_HAVE_CUDA   /* a build without CUDA has no device table builder; main() skips first */
static void table_builders(void)
{
    const int dts[] = {UD_DT_F32, UD_DT_BF16, UD_DT_F16};
    const double bases[] = {1e4, 1e6};
    const int dims[] = {64, 8};
    const int64_t rows[] = {8192, 1000001};
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 2; b++)
            for (int g = 0; g < 2; g++) {
                rope_table_spec ts = {dims[g], dims[g], bases[b], rows[g], ROPE_NEOX, dts[d]};
                int64_t shape[2] = {ts.max_position, ts.rotary_dim};
                ud_tensor host, dev;
                memset(&host, 0, sizeof host);
                memset(&dev, 0, sizeof dev);
                char what[128];
                snprintf(what, sizeof what, "table dtype %d base %g rotary_dim %d rows %lld", dts[d], bases[b], dims[g],
                         (long long)rows[g]);
                int ok = ud_tensor_alloc(&host, "table", (ud_dtype)dts[d], 2, shape) == UD_OK &&
                         ud_tensor_alloc(&dev, "table", (ud_dtype)dts[d], 2, shape) == UD_OK;
                ok = ok && rope_table_build_cpu(&ts, host.host) == UD_OK;
                ok = ok && ud_tensor_poison_device(&dev) == UD_OK && rope_table_build_cuda(&ts, dev.dev) == UD_OK;
                ok = ok && ud_device_sync() == UD_OK && ud_tensor_to_host(&dev) == UD_OK;
                ok = ok && memcmp(host.host, dev.host, ud_tensor_bytes(&host)) == 0;
                expect(ok, "FAIL: device and host cos/sin tables differ: %s", what);
                ud_tensor_free(&host);
                ud_tensor_free(&dev);
            }
}
#else
static void table_builders(void) {}
#endif

/* Cases of one operator from "key", "values" pairs (the rest at their defaults). */
static ud_case *spec_cases(const char *op_name, const char *const (*kv)[2], int nkv, size_t *n)
{
    const ud_op *op = ud_op_find(op_name);
    ud_spec s;
    ud_spec_init(&s, op);
    for (int i = 0; i < nkv; i++) s.vals[ud_param_index(op, kv[i][0])] = kv[i][1];
    ud_case *cases = NULL;
    char err[512];
    *n = 0;
    if (ud_spec_expand(&s, &cases, n, err, sizeof err)) {
        expect(0, "FAIL: %s", err);
        free(cases);
        return NULL;
    }
    return cases;
}

static void run_spec(const char *op_name, const char *const (*kv)[2], int nkv)
{
    size_t n;
    ud_case *cases = spec_cases(op_name, kv, nkv, &n);
    for (size_t i = 0; i < n; i++) both_backends(&cases[i]);
    free(cases);
}

/* The large shapes, production kernels. */
static void large_shapes(void)
{
    static const char *const ln[][2] = {{"dtype", "bf16, fp32"}, {"tokens", "4096"}, {"hidden", "7168"},
                                        {"affine", "weight_bias"}, {"eps", "1e-5"}, {"values", "normal, cancel"}};
    static const char *const ln16[][2] = {{"dtype", "fp16"}, {"tokens", "4096"}, {"hidden", "7168"},
                                          {"affine", "weight, none"}, {"eps", "1e-6"}, {"values", "near_overflow"}};
    static const char *const f32[][2] = {{"dtype", "bf16"}, {"pdtype", "fp32, bf16"}, {"tokens", "4096"},
                                         {"hidden", "7168"}, {"affine", "weight_bias"}, {"eps", "1e-6"},
                                         {"values", "normal"}};
    static const char *const rope[][2] = {{"dtype", "bf16"}, {"tokens", "4096"}, {"q_heads", "32"}, {"kv_heads", "8"},
                                          {"head_dim", "128"}, {"factor", "1, 0.5"}, {"style", "neox, gptj"},
                                          {"base", "1e6"}, {"max_position", "8192"}, {"positions", "uniform"},
                                          {"table", "fp32, model"}, {"values", "normal"}};
    run_spec("layernorm", ln, 6);
    run_spec("layernorm", ln16, 6);
    run_spec("fp32_layernorm", f32, 7);
    run_spec("rope", rope, 12);
}

/* Positions outside the table (tokens 3 and 5 of 6): the usage error on both backends, the
 * bad tokens unwritten, every other token written with the cpu backend's bits. */
static void rope_out_of_table(void)
{
    static const char *const kv[][2] = {{"dtype", "bf16, fp32"}, {"tokens", "6"}, {"q_heads", "4"}, {"kv_heads", "2"},
                                        {"head_dim", "64, 80"}, {"factor", "0.5"}, {"max_position", "100"},
                                        {"positions", "out_of_table"}, {"table", "model"}, {"values", "normal"}};
    size_t n;
    ud_case *cases = spec_cases("rope", kv, 10, &n);
    for (size_t c = 0; c < n; c++) {
        const ud_op *op = cases[c].op;
        ud_tensor in[UD_MAX_TENSORS], cpu[UD_MAX_TENSORS], gpu[UD_MAX_TENSORS], spare[UD_MAX_TENSORS];
        memset(in, 0, sizeof in);
        memset(cpu, 0, sizeof cpu);
        memset(gpu, 0, sizeof gpu);
        memset(spare, 0, sizeof spare);
        int ok = ud_case_make_tensors(&cases[c], in, cpu) == UD_OK && ud_case_make_tensors(&cases[c], spare, gpu) == UD_OK &&
                 op->generate(&cases[c], in) == UD_OK;
        const int32_t *pos = ok ? in[2].host : NULL;
        ok = ok && pos[3] == 100 && pos[5] == -1;
        for (int k = 0; k < 2 && ok; k++) ud_tensor_poison(&cpu[k]);
        int rc_cpu = ok ? op->run_cpu(&cases[c], 0, in, cpu) : UD_EINTERNAL;
        for (int k = 0; k < 4 && ok; k++) ok = ud_tensor_to_device(&in[k]) == UD_OK;
        for (int k = 0; k < 2 && ok; k++) ok = ud_tensor_poison_device(&gpu[k]) == UD_OK;
        int rc_gpu = ok ? op->run_cuda(&cases[c], 0, in, gpu) : UD_EINTERNAL;
        ok = ok && ud_device_sync() == UD_OK;
        for (int k = 0; k < 2 && ok; k++) ok = ud_tensor_to_host(&gpu[k]) == UD_OK;
        ok = ok && rc_cpu == UD_EUSAGE && rc_gpu == UD_EUSAGE;
        for (int k = 0; k < 2 && ok; k++) {
            uint64_t poison = ud_poison_bits(gpu[k].dtype);
            size_t per_token = gpu[k].numel / 6;
            for (size_t i = 0; i < gpu[k].numel && ok; i++) {
                size_t t = i / per_token;
                uint64_t bg = ud_get_bits(gpu[k].dtype, gpu[k].host, i), bc = ud_get_bits(cpu[k].dtype, cpu[k].host, i);
                ok = (t == 3 || t == 5) ? bg == poison && bc == poison : bg == bc && bg != poison;
                if (!ok)
                    fprintf(stderr, "%s: %s[%zu] (token %zu): cuda 0x%llx cpu 0x%llx\n", cases[c].label, gpu[k].name, i, t,
                            (unsigned long long)bg, (unsigned long long)bc);
            }
        }
        expect(ok, "FAIL: a position outside the table on cuda: %s", cases[c].label);
        for (int k = 0; k < UD_MAX_TENSORS; k++) {
            ud_tensor_free(&in[k]);
            ud_tensor_free(&cpu[k]);
            ud_tensor_free(&gpu[k]);
            ud_tensor_free(&spare[k]);
        }
    }
    free(cases);
}

/* Every case of `files` whose operator is one of the three, with its known-bug variants when
 * `variants` is set. Returns -1 when the files do not load. */
static int run_files(char **files, int nfiles, int variants)
{
    ud_corpus corp;
    ud_corpus_init(&corp);
    ud_case *cases = NULL;
    size_t n = 0;
    if (ud_corpus_load(&corp, files, nfiles, stderr) || ud_corpus_expand(&corp, &cases, &n, stderr)) {
        ud_corpus_free(&corp);
        free(cases);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = cases[i].op->name;
        if (strcmp(name, "layernorm") && strcmp(name, "fp32_layernorm") && strcmp(name, "rope")) continue;
        if (cases[i].op->run_cuda == NULL) { expect(0, "FAIL: %s has no cuda backend", name); continue; }
        for (int m = 0; m <= (variants ? cases[i].op->nmutants : 0); m++) {
            ud_case c = cases[i];
            c.mutant = m;
            ud_case_format_label(&c);
            if (m && ud_cache_is_variant(&c)) continue;   /* production kernels; the cache checker's subject */
            both_backends(&c);
        }
    }
    free(cases);
    ud_corpus_free(&corp);
    return 0;
}

int main(int argc, char **argv)
{
    char why[256];
    if (!ud_device_available(why, sizeof why)) {
        printf("skipped: %s\n", why);
        return 77;
    }
    table_builders();
    rope_out_of_table();
    char *smoke[] = {"cases/smoke/layernorm.ini", "cases/smoke/rope.ini"};
    if (argc > 1 ? run_files(argv + 1, argc - 1, 1) : run_files(smoke, 2, 1)) return 1;
    if (argc == 1) large_shapes();
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
