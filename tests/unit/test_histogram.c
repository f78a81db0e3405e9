/* Histogram edges against numpy.quantile (goldens), the bin rule, and the degenerate references
 * (empty, one value, one bin). */
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
    assert_true(isnan(drift_quantile_sorted(s, 5, NAN)));
    assert_true(drift_quantile_sorted(s, 5, 0) == 1 && drift_quantile_sorted(s, 5, 1) == 5);
}

static void test_degenerate_references(void **state)
{
    double e[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    const double one[1] = {7};
    /* Empty reference: no edges, so everything falls in the single bin (never a NaN edge). */
    assert_int_equal(drift_hist_edges(one, 0, 10, e), 0);
    assert_true(e[0] == -1);
    /* One value: every quantile is that value, kept once. */
    assert_int_equal(drift_hist_edges(one, 1, 10, e), 1);
    assert_true(e[0] == 7);
    assert_int_equal(drift_hist_bin(e, 1, 6.9), 0);
    assert_int_equal(drift_hist_bin(e, 1, 7), 1);
    /* One bin: no interior edge. */
    const double s[5] = {1, 2, 3, 4, 5};
    assert_int_equal(drift_hist_edges(s, 5, 1, e), 0);
    /* Quartiles of 1..5 are 2, 3, 4; with 0, 0, 0, 0, 5 the duplicates collapse. */
    assert_int_equal(drift_hist_edges(s, 5, 4, e), 3);
    assert_true(e[0] == 2 && e[1] == 3 && e[2] == 4);
    const double z[5] = {0, 0, 0, 0, 5};
    assert_int_equal(drift_hist_edges(z, 5, 4, e), 1);
    assert_true(e[0] == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges_match_numpy),
        cmocka_unit_test(test_bin_rule),
        cmocka_unit_test(test_degenerate_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
