/* gpu_moe_bitexact.c — needs a CUDA device (ctest label gpu; exit 77 = skipped without one).
 * post_reorder_sum, silu_and_mul, fp8_quant_per_token and moe_dispatch promise that the cpu and
 * cuda backends agree bit for bit (their docs pages say why): this runs the production kernel
 * on both backends over edge shapes (1, odd, off the 16-byte vector, model sizes) and every value
 * generator, and every known-bug variant over the operator's default sweep, and compares the
 * output bytes. Exit 0 pass, 1 fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics/status.h"
#include "harness/ops/registry.h"
#include "harness/cases/spec.h"
#include "harness/core/tensor.h"

static int failures = 0, compared = 0;

static int count_names(const char *const *names)
{
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

/* Both backends on one case; returns the number of outputs that differ (-1: could not run). */
static long one_case(const ud_case *c)
{
    const ud_op *op = c->op;
    int nin = count_names(op->inputs), nout = count_names(op->outputs);
    ud_tensor in[UD_MAX_TENSORS], out[UD_MAX_TENSORS];
    ud_tensor cpu[UD_MAX_TENSORS];
    memset(cpu, 0, sizeof cpu);
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    long diff = -1;
    if (ud_case_make_tensors(c, in, out) != UD_OK || op->generate(c, in) != UD_OK) goto done;
    for (int k = 0; k < nout; k++) ud_tensor_poison(&out[k]);
    if (op->run_cpu(c, c->mutant, in, out) != UD_OK) goto done;
    for (int k = 0; k < nout; k++) {
        cpu[k] = out[k];
        size_t b = ud_tensor_bytes(&out[k]);
        cpu[k].host = malloc(b ? b : 1);
        cpu[k].dev = NULL;
        if (!cpu[k].host) goto done;
        memcpy(cpu[k].host, out[k].host, b);
    }
    for (int k = 0; k < nin; k++) if (ud_tensor_to_device(&in[k]) != UD_OK) goto done;
    for (int k = 0; k < nout; k++) if (ud_tensor_poison_device(&out[k]) != UD_OK) goto done;
    if (op->run_cuda(c, c->mutant, in, out) != UD_OK || ud_device_sync() != UD_OK) goto done;
    diff = 0;
    for (int k = 0; k < nout; k++) {
        if (ud_tensor_to_host(&out[k]) != UD_OK) { diff = -1; goto done; }
        size_t first, n = ud_tensor_bitwise_diff(&cpu[k], &out[k], &first);
        diff += (int)(n > 0);
        if (n)
            fprintf(stderr, "  %s: %s: %zu elements differ, first at %zu (cpu %a, cuda %a)\n", c->label, out[k].name, n,
                    first, ud_get(cpu[k].dtype, cpu[k].host, first), ud_get(out[k].dtype, out[k].host, first));
    }
done:
    for (int k = 0; k < UD_MAX_TENSORS; k++) {
        free(cpu[k].host);
        ud_tensor_free(&in[k]);
        ud_tensor_free(&out[k]);
    }
    return diff;
}

static void run(const char *opname, const char *const kv[][2], size_t nkv)
{
    const ud_op *op = ud_op_find(opname);
    if (!op) { fprintf(stderr, "FAIL: no operator %s\n", opname); failures++; return; }
    for (int m = 0; m <= op->nmutants; m++) {
        ud_spec s;
        ud_spec_init(&s, op);
        s.mutant = m;
        for (size_t i = 0; !m && i < nkv; i++) s.vals[ud_param_index(op, kv[i][0])] = kv[i][1];
        ud_case *cases = NULL;
        size_t n = 0;
        char err[600];
        if (ud_spec_expand(&s, &cases, &n, err, sizeof err)) { fprintf(stderr, "FAIL: %s\n", err); failures++; continue; }
        size_t bad = 0;
        for (size_t k = 0; k < n; k++) {
            long d = one_case(&cases[k]);
            compared++;
            if (d != 0) { bad++; failures++; if (d < 0) fprintf(stderr, "  %s: did not run\n", cases[k].label); }
        }
        printf("%-52s %s: %zu/%zu cases bit-identical\n", opname, m ? op->mutants[m - 1].name : "production", n - bad, n);
        free(cases);
    }
}

int main(void)
{
    char why[256];
    if (!ud_device_available(why, sizeof why)) {
        printf("skipped: %s\n", why);
        return 77;
    }
    static const char *const prs[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 33"}, {"hidden", "1, 7, 8, 127, 1000, 7168"},
        {"topk", "1, 8"}, {"experts", "256"}, {"ids", "uniform, with_zero, padded, all_padded"},
    };
    run("post_reorder_sum", prs, sizeof prs / sizeof prs[0]);
    static const char *const silu[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 33"}, {"inter", "1, 7, 8, 9, 100, 1031, 7168"},
        {"spec", "flashinfer, hf"}, {"values", "normal, large, wide, subnormal, nan_inf"},
    };
    run("silu_and_mul", silu, sizeof silu / sizeof silu[0]);
    static const char *const fq[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 33"}, {"hidden", "1, 7, 100, 512, 4099, 7168, 9000"},
        {"group", "0, 16, 128"}, {"scale_fmt", "fp32, ue8m0"}, {"scale_ub", "0, 1"},
        {"values", "normal, zero_rows, spike, ties, nan_inf, subnormal"},
    };
    run("fp8_quant_per_token", fq, sizeof fq / sizeof fq[0]);
    static const char *const md[][2] = {
        {"tokens", "1, 33"}, {"hidden", "1, 7, 8, 130, 1000, 7168"}, {"topk", "1, 8"}, {"experts", "8, 256"},
        {"ids", "uniform, with_zero, all_zero, padded, all_padded, out_of_range"}, {"weights", "bf16, fp8"},
        {"group", "4, 128"}, {"scale_fmt", "fp32"},
    };
    run("moe_dispatch", md, sizeof md / sizeof md[0]);
    printf("%d cases compared, %d not bit-identical\n", compared, failures);
    return failures ? 1 : 0;
}
