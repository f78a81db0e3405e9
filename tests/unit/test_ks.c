/* Two-sample KS through its ops struct against scipy.stats.ks_2samp (goldens): D exactly, the
 * p-value (scipy's default method, exact and asymptotic sides of its switch, and the daemon's
 * budget of 10^6 cells for the exact path) to 1e-6 relative or 1e-10 absolute; and D and p on
 * samples small enough to count by hand. */
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
    int cases = 0, exact = 0, budget = 0;
    while (fgets(line, sizeof(line), f)) {
        int is_exact = strncmp(line, "exact", 5) == 0;
        int is_budget = strncmp(line, "asymp", 5) == 0; /* scipy's method='asymp' */
        size_t na = golden_group(line + 5, 0, a, 100002);
        size_t nb = golden_group(line, 1, b, 100000);
        golden_group(line, 2, dp, 2);
        size_t n = (size_t)a[0], m = (size_t)a[1];
        assert_int_equal(na, n + 2);
        assert_int_equal(nb, m);
        struct drift_colsum ref = {.sorted = a + 2, .nsorted = n};
        struct drift_colsum cur = {.sorted = b, .nsorted = m};
        struct drift_stat_params p = {.threshold = 0.01};
        if (is_budget) {
            /* Under scipy's switch but over the daemon's budget: the asymptotic value. */
            assert_true(n <= 10000 && m <= 10000 && (double)n * (double)m > 1e6);
            p.ks_exact_cells = 1e6;
        }
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
        if (is_exact && (double)n * (double)m <= 1e6) {
            /* Within the budget the daemon's setting changes nothing. */
            struct drift_stat_result rb;
            p.ks_exact_cells = 1e6;
            assert_int_equal(ks->compare(&ref, &cur, &p, &rb), 0);
            assert_true(rb.statistic == r.statistic && rb.pvalue == r.pvalue);
        }
        exact += is_exact;
        budget += is_budget;
        cases++;
    }
    fclose(f);
    /* and >= 10 on scipy's auto rule */
    assert_true(cases >= 28 && exact >= 13 && budget >= 4);
}

static void check_ks(const double *a, size_t n, const double *b, size_t m, double d, double pv)
{
    const struct drift_stat_ops *ks = drift_stat_find("ks");
    struct drift_colsum ref = {.sorted = a, .nsorted = n}, cur = {.sorted = b, .nsorted = m};
    struct drift_stat_params p = {.threshold = 0.05};
    struct drift_stat_result r;
    assert_int_equal(ks->compare(&ref, &cur, &p, &r), 0);
    if (fabs(r.statistic - d) > 1e-15 || fabs(r.pvalue - pv) > 1e-12) {
        fail_msg("n=%zu m=%zu: D %.17g p %.17g, want %.17g %.17g", n, m, r.statistic, r.pvalue, d,
                 pv);
    }
    assert_true(r.effect == r.statistic);
    assert_true(r.threshold == 0.05);
    assert_int_equal(r.drifted, pv < 0.05);
    assert_string_equal(r.rule, "ks p < 0.05");
}

static void test_ks_known_values(void **state)
{
    /* Disjoint samples: D = 1, and only the 2 of the C(7,3) = 35 orderings that put one whole
     * sample first reach it. */
    const double a[4] = {1, 2, 3, 4}, b[3] = {5, 6, 7};
    check_ks(a, 4, b, 3, 1.0, 2.0 / 35.0);
    check_ks(b, 3, a, 4, 1.0, 2.0 / 35.0);
    /* Ties: both ECDFs step past every copy of a value before they are compared. At 1:
     * 2/3 vs 1/3; at 2: 1 vs 1. D = 1/3 (stepping one copy at a time would give 2/3). With
     * n = m = 3, D >= 1/3 holds on every path, so p = 1. */
    const double t1[3] = {1, 1, 2}, t2[3] = {1, 2, 2};
    check_ks(t1, 3, t2, 3, 1.0 / 3.0, 1.0);
    /* Identical samples: D = 0, p = 1. */
    check_ks(a, 4, a, 4, 0.0, 1.0);
    /* n = m = 2, disjoint: D = 1 on 2 of the C(4,2) = 6 orderings. */
    const double c[2] = {0, 1}, e[2] = {2, 3};
    check_ks(c, 2, e, 2, 1.0, 2.0 / 6.0);
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
        cmocka_unit_test(test_ks_known_values),
        cmocka_unit_test(test_ks_empty_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
