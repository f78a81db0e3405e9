/* PSI through its ops struct against a numpy implementation of the formula (goldens); identical
 * distributions give 0; the epsilon for empty bins; argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

static void test_psi_matches_numpy(void **state)
{
    const struct drift_stat_ops *psi = drift_stat_find("psi");
    assert_non_null(psi);
    assert_true(psi->numeric && psi->categorical);
    FILE *f = golden_open("spine_psi.txt");
    assert_non_null(f);
    char line[8192];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        double r[64], c[64], want = 0;
        size_t k = golden_group(line, 0, r, 64) - 1;
        golden_group(line, 1, c, 64);
        golden_group(line, 2, &want, 1);
        uint64_t rc[64], cc[64];
        for (size_t i = 0; i < k; i++) {
            rc[i] = (uint64_t)r[i + 1];
            cc[i] = (uint64_t)c[i];
        }
        struct drift_colsum ref = {.nbins = (int)k, .counts = rc};
        struct drift_colsum cur = {.nbins = (int)k, .counts = cc};
        struct drift_stat_params p = {.threshold = 0.2, .epsilon = 1e-4};
        struct drift_stat_result res;
        assert_int_equal(psi->compare(&ref, &cur, &p, &res), 0);
        if (fabs(res.statistic - want) > 1e-12 * (1 + want)) {
            fail_msg("case %d: psi %.17g vs %.17g", cases, res.statistic, want);
        }
        assert_true(isnan(res.pvalue));
        assert_int_equal(res.drifted, want >= 0.2);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 5);
}

static void test_psi_identical_is_zero(void **state)
{
    const struct drift_stat_ops *psi = drift_stat_find("psi");
    uint64_t a[4] = {10, 20, 30, 40}, b[4] = {1, 2, 3, 4}, z[4] = {0, 0, 0, 0};
    struct drift_colsum ra = {.nbins = 4, .counts = a}, rb = {.nbins = 4, .counts = b};
    struct drift_colsum rz = {.nbins = 4, .counts = z};
    struct drift_stat_params p = {.threshold = 0.2};
    struct drift_stat_result res;
    assert_int_equal(psi->compare(&ra, &rb, &p, &res), 0);
    assert_true(fabs(res.statistic) < 1e-15);
    assert_int_equal(res.drifted, 0);
    assert_int_equal(psi->compare(&ra, &rz, &p, &res), DRIFT_EINVAL);
    assert_non_null(strstr(res.rule, "psi >= 0.2"));
}

static void test_psi_epsilon_and_errors(void **state)
{
    const struct drift_stat_ops *psi = drift_stat_find("psi");
    assert_true(psi->default_threshold == 0.2);
    /* All mass moves from bin 0 to bin 1: PSI = 2·(1 − ε)·ln(1/ε). */
    uint64_t r[2] = {10, 0}, c[2] = {0, 30}, r3[3] = {1, 1, 1};
    struct drift_colsum ref = {.nbins = 2, .counts = r, .missing = 5};
    struct drift_colsum cur = {.nbins = 2, .counts = c, .missing = 100}; /* missing not a share */
    struct drift_stat_result res;
    double eps[3] = {1e-4, 1e-3, 0 /* → default 1e-4 */};
    for (int i = 0; i < 3; i++) {
        struct drift_stat_params p = {.threshold = 0.5, .epsilon = eps[i]};
        double e = eps[i] > 0 ? eps[i] : 1e-4, want = 2 * (1 - e) * log(1 / e);
        assert_int_equal(psi->compare(&ref, &cur, &p, &res), 0);
        assert_true(fabs(res.statistic - want) < 1e-12 * want);
        assert_true(res.effect == res.statistic && res.threshold == 0.5 && res.drifted == 1);
        assert_string_equal(res.rule, "psi >= 0.5");
    }
    /* Bins must agree, and the reference must hold something. */
    struct drift_colsum ref3 = {.nbins = 3, .counts = r3};
    struct drift_stat_params p = {.threshold = 0.2};
    assert_int_equal(psi->compare(&ref3, &cur, &p, &res), DRIFT_EINVAL);
    uint64_t z[2] = {0, 0};
    struct drift_colsum empty = {.nbins = 2, .counts = z, .missing = 7};
    assert_int_equal(psi->compare(&empty, &cur, &p, &res), DRIFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psi_matches_numpy),
        cmocka_unit_test(test_psi_identical_is_zero),
        cmocka_unit_test(test_psi_epsilon_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
