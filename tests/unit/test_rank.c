/* The rank tests through their ops structs against scipy goldens (tests/golden/gen_rank.py):
 * two-sample Cramér–von Mises (statistic and p-value, exact and asymptotic) and two-sample
 * Anderson–Darling (standardised statistic and interpolated significance level); plus the
 * limiting CvM distribution at known points and the degenerate inputs scipy refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

double drift_cvm_inf_cdf(double x);
double drift_cvm_exact_sf(double u, int n, int m);

static void close_to(double got, double want, double rel, double abs_tol, const char *what,
                     int line)
{
    if (isnan(want) && isnan(got)) {
        return;
    }
    if (!(fabs(got - want) <= rel * fabs(want) + abs_tol)) {
        fail_msg("%s (golden line %d): %.17g vs %.17g", what, line, got, want);
    }
}

static char line[1 << 18];
static double a[4000], b[4000];

static void run_golden(const char *name, int cvm)
{
    const struct drift_stat_ops *op = drift_stat_find(name);
    assert_non_null(op);
    FILE *f = golden_open("stats_rank.txt");
    assert_non_null(f);
    int nline = 0, exact = 0, capped = 0, interpolated = 0;
    while (fgets(line, sizeof(line), f)) {
        double nm[2], want[4];
        golden_group(line, 0, nm, 2);
        size_t na = golden_group(line, 1, a, 4000), nb = golden_group(line, 2, b, 4000);
        assert_int_equal(golden_group(line, 3, want, 4), 4);
        assert_int_equal(na, (size_t)nm[0]);
        assert_int_equal(nb, (size_t)nm[1]);
        struct drift_colsum ref = {.sorted = a, .nsorted = na};
        struct drift_colsum cur = {.sorted = b, .nsorted = nb};
        struct drift_stat_params p = {.threshold = 0.05};
        struct drift_stat_result res;
        int rc = op->compare(&ref, &cur, &p, &res);
        double ws = want[cvm ? 0 : 2], wp = want[cvm ? 1 : 3];
        if (isnan(ws)) {
            assert_int_equal(rc, DRIFT_EINVAL); /* scipy refused these samples too */
        } else {
            assert_int_equal(rc, 0);
            close_to(res.statistic, ws, 1e-10, 1e-12, cvm ? "cvm statistic" : "ad statistic",
                     nline);
            close_to(res.pvalue, wp, 1e-8, 1e-12, cvm ? "cvm p-value" : "ad p-value", nline);
            assert_int_equal(res.drifted, res.pvalue < 0.05);
            exact += na <= 20 && nb <= 20;
            capped += wp == 0.25 || wp == 0.001;
            interpolated += wp != 0.25 && wp != 0.001;
        }
        nline++;
    }
    fclose(f);
    assert_int_equal(nline, 27);
    /* The goldens reach both sides of each method switch. */
    assert_true(exact >= 10 && nline - exact >= 10);
    if (!cvm) {
        assert_true(capped >= 5 && interpolated >= 5);
    }
}

static void test_cvm_golden(void **state)
{
    run_golden("cvm", 1);
}

static void test_anderson_golden(void **state)
{
    run_golden("anderson", 0);
}

/* Values of the limiting CDF from Csörgő and Faraway (1996), Table 1 / Anderson and Darling
 * (1952): the 0.90, 0.95 and 0.99 quantiles of W² are 0.34730, 0.46136 and 0.74346. */
static void test_cvm_limit(void **state)
{
    assert_true(fabs(drift_cvm_inf_cdf(0.34730) - 0.90) < 2e-5);
    assert_true(fabs(drift_cvm_inf_cdf(0.46136) - 0.95) < 2e-5);
    assert_true(fabs(drift_cvm_inf_cdf(0.74346) - 0.99) < 2e-5);
    /* The left tail: 5.864e-6 at 0.01, and below 1.3e-18 at 0.003 (where scipy stops). */
    assert_true(fabs(drift_cvm_inf_cdf(0.01) - 5.8644e-6) < 1e-9);
    assert_true(drift_cvm_inf_cdf(0.003) < 1.3e-18);
    assert_true(drift_cvm_inf_cdf(0) == 0);
}

/* The exact distribution sums to one: the smallest possible U has p-value 1. */
static void test_cvm_exact_total(void **state)
{
    for (int n = 2; n <= 20; n += 3) {
        for (int m = 2; m <= 20; m += 4) {
            assert_true(fabs(drift_cvm_exact_sf(0, n, m) - 1.0) < 1e-15);
        }
    }
}

static void test_degenerate(void **state)
{
    const struct drift_stat_ops *cvm = drift_stat_find("cvm"), *ad = drift_stat_find("anderson");
    double one[1] = {1}, two[2] = {1, 2}, c3[3] = {5, 5, 5};
    struct drift_stat_result res;
    struct drift_colsum r1 = {.sorted = one, .nsorted = 1}, r2 = {.sorted = two, .nsorted = 2};
    struct drift_colsum rc = {.sorted = c3, .nsorted = 3};
    /* CvM needs two values on each side (scipy raises), AD two distinct values in all. */
    assert_int_equal(cvm->compare(&r1, &r2, NULL, &res), DRIFT_EINVAL);
    assert_int_equal(ad->compare(&rc, &rc, NULL, &res), DRIFT_EINVAL);
    /* Fewer than four values in all: AD's variance is undefined. */
    assert_int_equal(ad->compare(&r1, &r2, NULL, &res), DRIFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cvm_golden),
        cmocka_unit_test(test_anderson_golden),
        cmocka_unit_test(test_cvm_limit),
        cmocka_unit_test(test_cvm_exact_total),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
