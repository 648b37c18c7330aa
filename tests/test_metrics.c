/* test_metrics.c — the worked example of docs/metrics.md, checked against the code: a correct
 * bf16 result (an fp32 value within the kernel's error bound of the exact value, then rounded
 * once) that fails both of the plain OR rule's tests (ulp_err <= 0.5, scaled_err <= budget) and passes
 * the sum rule of harness/core/measure.h. The numbers are the page's, written as literals. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness/core/measure.h"
#include "numerics/dtype.h"
#include "harness/core/ulp.h"

Test(metrics_doc, correct_result_fails_the_or_rule_and_passes_the_sum_rule)
{
    const double r = 0x1.00fffcp+0;   /* exact: 1 + 2^-8 - 2^-22, just below the bf16 midpoint */
    const double z = 0x1.010002p+0;   /* the kernel's fp32 value: 1 + 2^-8 + 2^-23 */
    const double s = r;               /* condition scale of a product chain: |r| */
    const ud_budget b = {0.5, 8.0, 0x1p-24, 0.0};
    cr_assert_eq((double)(float)z, z, "z is an fp32 value");
    cr_assert(fabs(z - r) <= b.scaled * b.u_w * s, "z is within the kernel's bound: a correct kernel");
    const double y = ud_round(UD_BF16, z);
    cr_assert_eq(y, 0x1.02p+0, "y = RN_bf16(z) = 1 + 2^-7");
    double ulp_err = ud_ulp_err(UD_BF16, y, r);
    double scaled = fabs(y - r) / (b.u_w * s);
    cr_expect_eq(ulp_err, 0.500030517578125, "ulp_err = 0.5 + 2^-15");
    cr_expect(ulp_err > b.ulp, "fails ulp_err <= 0.5");
    cr_expect(scaled > b.scaled && scaled > 65000.0, "fails scaled_err <= 8 (it is %g)", scaled);
    cr_expect(fabs(y - r) <= ud_tolerance(UD_BF16, r, s, b), "passes the sum rule");
    /* and the rule still rejects the next bf16 value up, which no correct kernel produces */
    cr_expect(fabs(0x1.04p+0 - r) > ud_tolerance(UD_BF16, r, s, b));
}
