/* test_rmsnorm.c — the RMSNorm family's production kernels (cpu backend, the same body the CUDA
 * kernels run) meet their budgets on edge shapes and data, stay inside the derived error bound
 * K(N), and every known-bug variant is caught by the finding it names. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "gpu/rmsnorm.h"
#include "spec/rmsnorm.h"
#include "numerics/status.h"
#include "harness/core/gen.h"
#include "harness/ops/registry.h"
#include "harness/exec/run.h"
#include "harness/cases/spec.h"
#include "tests/ud_test.h"

Test(rmsnorm_kernel, production_passes_edge_shapes_and_data)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "1, 3"}, {"hidden", "1, 2, 7, 8, 9, 127, 2049, 8193"},
        {"values", "normal, logu, subnormal, zero_rows, const_rows, near_overflow"}, {"spec", "hf, flashinfer"},
    };
    const char *ops[] = {"rmsnorm", "rmsnorm_fused_add"};
    for (int i = 0; i < 2; i++) {
        size_t n;
        ud_test_run(ops[i], 0, kv, 5, NULL, &n);
        cr_assert_gt(n, 0);
    }
    static const char *const kvg[][2] = {
        {"dtype", "bf16, fp16, fp32"}, {"tokens", "2"}, {"hidden", "1, 9, 4095"},
        {"values", "normal, rowscale, zero_rows, const_rows"}, {"eps", "1e-6, 1e-5"},
    };
    size_t n;
    ud_test_run("rmsnorm_gemma", 0, kvg, 5, NULL, &n);
}

Test(rmsnorm_kernel, every_known_bug_variant_is_caught_by_its_finding)
{
    static const char *const kv[][2] = {
        {"dtype", "bf16, fp16"}, {"tokens", "4"}, {"hidden", "127, 4096"}, {"values", "normal, rowscale"},
    };
    int total = 0;
    for (int i = 0; i < ud_op_count(); i++) {
        const ud_op *op = ud_op_at(i);
        if (strncmp(op->name, "rmsnorm", 7) != 0) continue;
        for (int m = 1; m <= op->nmutants; m++) {
            size_t n, hits = ud_test_run(op->name, m, kv, 4, op->mutants[m - 1].expect, &n);
            cr_assert_gt(hits, 0, "%s.%s survived %zu cases", op->name, op->mutants[m - 1].name, n);
            total++;
        }
    }
    cr_assert_eq(total, 10);
}

/* The derived bound K(N) (gpu/rmsnorm.h, docs/ops/rmsnorm.md) holds for the kernel's fp32 n:
 * with w = 1 and the flashinfer spec in fp32, out = n exactly as the kernel computed it. */
Test(rmsnorm_kernel, normalised_value_stays_within_derived_bound)
{
    const int64_t sizes[] = {1, 5, 1024, 7168, 8193, 40000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t rows = 8, n = sizes[si];
        float *x = malloc((size_t)(rows * n) * 4), *w = malloc((size_t)n * 4), *out = malloc((size_t)(rows * n) * 4);
        cr_assert(x && w && out);
        for (int64_t i = 0; i < rows * n; i++) {
            /* positive values of a wide spread make every partial sum carry rounding error */
            double g = ud_gen_normal(7, (uint64_t)si, (uint64_t)i);
            x[i] = (float)(g * exp2((double)(i % 13) - 6.0));
        }
        for (int64_t j = 0; j < n; j++) w[j] = 1.0f;
        rms_args a = {UD_DT_F32, RMS_KIND_LLAMA, RMS_SPEC_FLASHINFER, 0, rows, n, 1e-6f, x, NULL, w, out, NULL};
        cr_assert_eq(rmsnorm_cpu(&a, RMS_BUG_NONE), 0);
        ud_ref ref;
        cr_assert_eq(ud_ref_alloc(&ref, (size_t)(rows * n)), UD_OK);
        ref_rms_args ra = {UD_F32, RMS_KIND_LLAMA, RMS_SPEC_FLASHINFER, 0, rows, n, (double)1e-6f, x, NULL, w, 0.0};
        cr_assert_eq(ref_rmsnorm(&ra, &ref, NULL, 0), UD_OK);
        double bound = rmsnorm_bound_u(UD_DT_F32, n), worst = 0.0;
        for (int64_t i = 0; i < rows * n; i++) {
            if (ref.r0[i] == 0.0) { cr_assert_eq(out[i], 0.0f); continue; }
            double e = fabs((double)out[i] - ref.r0[i]) / fabs(ref.r0[i]) / 0x1p-24;
            if (e > worst) worst = e;
        }
        cr_assert(worst <= bound, "N=%lld: observed %.3g u exceeds the derived bound %.3g u", (long long)n, worst, bound);
        cr_log_info("N=%lld: worst %.3g u, bound %.3g u", (long long)n, worst, bound);
        ud_ref_free(&ref);
        free(x); free(w); free(out);
    }
}

/* Both outputs of the fused add are checked: a kernel writing a stale residual_out fails even
 * though its `out` is right. */
Test(rmsnorm_kernel, fused_add_checks_residual_out_separately)
{
    const ud_op *op = ud_op_find("rmsnorm_fused_add");
    int m = 0;
    const ud_op *found;
    cr_assert_eq(ud_mutant_find("rmsnorm_fused_add.pre_add_residual", &found, &m), 0);
    cr_assert_eq(found, op);
    ud_spec s;
    ud_spec_init(&s, op);
    s.mutant = m;
    s.vals[ud_param_index(op, "dtype")] = "bf16";
    s.vals[ud_param_index(op, "tokens")] = "7";
    s.vals[ud_param_index(op, "hidden")] = "4095";
    s.vals[ud_param_index(op, "values")] = "normal";
    ud_case *cases = NULL;
    size_t n = 0;
    char err[512];
    cr_assert_eq(ud_spec_expand(&s, &cases, &n, err, sizeof err), 0, "%s", err);
    ud_run_opts o = {UD_BACKEND_CPU, 0, NULL};
    ud_result r;
    cr_assert_eq(ud_run_case(&cases[0], &o, &r), UD_OK);
    cr_assert_eq(r.nout, 2);
    cr_assert_eq(r.out[0].n_over, 0, "out must still be right");
    cr_assert_gt(r.out[1].n_over, r.out[1].n / 2, "residual_out must be flagged");
    cr_assert(ud_result_has(&r, UD_F_TOLERANCE));
    free(cases);
}
