/* Two-sample KS through its ops struct against scipy.stats.ks_2samp (goldens): D exactly, the
 * p-value (scipy's default method, exact and asymptotic sides of its switch) to 1e-6 relative or
 * 1e-10 absolute. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

static void test_ks_matches_scipy(void **state)
{
    const struct drift_stat_ops *ks = drift_stat_find("ks");
    assert_non_null(ks);
    assert_int_equal(ks->categorical, 0);
    FILE *f = golden_open("spine_ks.txt");
    assert_non_null(f);
    static char line[1 << 24];
    static double a[100000], b[100000], dp[2] = {0, 0};
    int cases = 0, exact = 0;
    while (fgets(line, sizeof(line), f)) {
        int is_exact = strncmp(line, "exact", 5) == 0;
        size_t na = golden_group(line + 5, 0, a, 100002);
        size_t nb = golden_group(line, 1, b, 100000);
        golden_group(line, 2, dp, 2);
        size_t n = (size_t)a[0], m = (size_t)a[1];
        assert_int_equal(na, n + 2);
        assert_int_equal(nb, m);
        struct drift_colsum ref = {.sorted = a + 2, .nsorted = n};
        struct drift_colsum cur = {.sorted = b, .nsorted = m};
        struct drift_stat_params p = {.threshold = 0.01};
        struct drift_stat_result r;
        assert_int_equal(ks->compare(&ref, &cur, &p, &r), 0);
        if (fabs(r.statistic - dp[0]) > 1e-12) {
            fail_msg("case %d: D %.17g vs scipy %.17g", cases, r.statistic, dp[0]);
        }
        double tol = fmax(1e-6 * dp[1], 1e-10);
        if (fabs(r.pvalue - dp[1]) > tol) {
            fail_msg("case %d (%s, n=%zu m=%zu): p %.10g vs scipy %.10g", cases,
                     is_exact ? "exact" : "asymp", n, m, r.pvalue, dp[1]);
        }
        assert_int_equal(r.drifted, r.pvalue < 0.01);
        exact += is_exact;
        cases++;
    }
    fclose(f);
    assert_true(cases >= 24 && exact >= 13); /* and >= 10 on scipy's auto rule */
}

static void test_ks_empty_is_an_error(void **state)
{
    const struct drift_stat_ops *ks = drift_stat_find("ks");
    double x[1] = {1};
    struct drift_colsum a = {.sorted = x, .nsorted = 1}, e = {.sorted = x, .nsorted = 0};
    struct drift_stat_result r;
    struct drift_stat_params p = {.threshold = 0.01};
    assert_int_equal(ks->compare(&a, &e, &p, &r), DRIFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ks_matches_scipy),
        cmocka_unit_test(test_ks_empty_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
