/* Histogram edges against numpy.quantile (goldens), and the bin rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

static void test_edges_match_numpy(void **state)
{
    FILE *f = golden_open("spine_quantile.txt");
    assert_non_null(f);
    static char line[1 << 20];
    static double v[10000], want[64], got[64];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        double hdr[2] = {0, 0};
        golden_group(line, 0, hdr, 2);
        size_t n = (size_t)hdr[0];
        int B = (int)hdr[1];
        size_t all = golden_group(line, 0, v, 10002);
        assert_int_equal(all, n + 2);
        size_t k = golden_group(line, 1, want, 64);
        int ne = drift_hist_edges(v + 2, n, B, got);
        assert_int_equal((size_t)ne, k);
        for (size_t i = 0; i < k; i++) {
            if (fabs(got[i] - want[i]) > 1e-12 * (1 + fabs(want[i]))) {
                fail_msg("case %d edge %zu: %.17g vs numpy %.17g", cases, i, got[i], want[i]);
            }
        }
        cases++;
    }
    fclose(f);
    assert_true(cases >= 7);
}

static void test_bin_rule(void **state)
{
    const double e[3] = {1, 2, 3};
    assert_int_equal(drift_hist_bin(e, 3, 0.5), 0);
    assert_int_equal(drift_hist_bin(e, 3, 1.0), 1); /* an edge belongs to the bin above */
    assert_int_equal(drift_hist_bin(e, 3, 2.5), 2);
    assert_int_equal(drift_hist_bin(e, 3, 3.0), 3);
    assert_int_equal(drift_hist_bin(e, 3, 1e9), 3);
    assert_int_equal(drift_hist_bin(e, 0, 5), 0);
    const double s[5] = {1, 2, 3, 4, 5};
    assert_true(drift_quantile_sorted(s, 5, 0.5) == 3);
    assert_true(drift_quantile_sorted(s, 5, 0.1) == 1.4);
    assert_true(isnan(drift_quantile_sorted(s, 0, 0.5)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_match_numpy),
        cmocka_unit_test(test_bin_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
