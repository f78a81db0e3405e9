/* Streaming moments against numpy.cov (goldens), batch-size independence, merge = union, and
 * listwise deletion of rows with a missing value (NaN or ±inf); argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

static double mem_a[200000], mem_b[200000];

static void feed(struct drift_moments *m, const double *rowmajor, size_t n, int d, size_t chunk)
{
    static double col[16 * 1000];
    for (size_t s = 0; s < n; s += chunk) {
        size_t k = n - s < chunk ? n - s : chunk;
        for (size_t i = 0; i < k; i++) {
            for (int j = 0; j < d; j++) {
                col[(size_t)j * chunk + i] = rowmajor[(s + i) * (size_t)d + (size_t)j];
            }
        }
        assert_int_equal(drift_moments_update(m, col, chunk, k), 0);
    }
}

static void test_moments_match_numpy(void **state)
{
    FILE *f = golden_open("spine_cov.txt");
    assert_non_null(f);
    static char line[1 << 20];
    static double x[20000], mean[16], cov[16 * 17 / 2];
    int cases = 0;
    while (fgets(line, sizeof(line), f)) {
        golden_group(line, 0, x, 20002);
        size_t n = (size_t)x[0];
        int d = (int)x[1];
        golden_group(line, 1, mean, 16);
        golden_group(line, 2, cov, 16 * 17 / 2);
        size_t chunks[3] = {1, 7, 1000};
        for (int c = 0; c < 3; c++) {
            struct drift_moments m;
            assert_true(drift_moments_size(d, chunks[c]) <= sizeof(mem_a));
            drift_moments_init(&m, d, chunks[c], mem_a);
            feed(&m, x + 2, n, d, chunks[c]);
            assert_int_equal(m.n, n);
            size_t u = 0;
            for (int i = 0; i < d; i++) {
                if (fabs(m.mean[i] - mean[i]) > 1e-9 * (1 + fabs(mean[i]))) {
                    fail_msg("case %d mean %d: %.17g vs %.17g", cases, i, m.mean[i], mean[i]);
                }
                for (int j = i; j < d; j++, u++) {
                    double got = drift_moments_cov(&m, i, j), want = cov[u];
                    if (fabs(got - want) > 1e-9 * (1 + fabs(want))) {
                        fail_msg("case %d cov(%d,%d): %.17g vs %.17g", cases, i, j, got, want);
                    }
                    assert_true(drift_moments_cov(&m, j, i) == got);
                }
            }
        }
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 4);
}

static void test_merge_is_union_and_missing_skipped(void **state)
{
    double x[2][6] = {{1, 2, 3, 4, 5, 6}, {2, 1, 0, 1, 2, 10}};
    double col[12];
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 6; i++) {
            col[j * 6 + i] = x[j][i];
        }
    }
    struct drift_moments all, a, b;
    drift_moments_init(&all, 2, 6, mem_a);
    drift_moments_init(&a, 2, 6, mem_b);
    drift_moments_init(&b, 2, 6, mem_b + 1000);
    drift_moments_update(&all, col, 6, 6);
    drift_moments_update(&a, col, 6, 2);
    drift_moments_update(&b, col + 2, 6, 4);
    drift_moments_merge(&a, &b);
    assert_int_equal(a.n, 6);
    for (int i = 0; i < 2; i++) {
        assert_true(fabs(a.mean[i] - all.mean[i]) < 1e-12);
        for (int j = i; j < 2; j++) {
            assert_true(fabs(drift_moments_cov(&a, i, j) - drift_moments_cov(&all, i, j)) < 1e-12);
        }
    }
    col[3] = NAN; /* row 3 has a missing value: skipped */
    drift_moments_reset(&all);
    drift_moments_update(&all, col, 6, 6);
    assert_int_equal(all.n, 5);
    assert_int_equal(all.skipped, 1);
    assert_true(fabs(all.mean[0] - (1 + 2 + 3 + 5 + 6) / 5.0) < 1e-12);
    assert_true(isnan(drift_moments_cov(&b, 0, 0)) == 0);
    struct drift_moments one;
    drift_moments_init(&one, 2, 6, mem_b + 2000);
    drift_moments_update(&one, col, 6, 1);
    assert_true(isnan(drift_moments_cov(&one, 0, 1)));
}

static void test_infinite_rows_skipped_and_errors(void **state)
{
    /* Column-major 2 x 4 with ld 5 (the fifth row is not part of the batch). */
    double col[10] = {1, 2, INFINITY, 4, 99, 10, -INFINITY, 30, 40, 99};
    struct drift_moments m, e, o;
    drift_moments_init(&m, 2, 4, mem_a);
    assert_int_equal(drift_moments_update(&m, col, 5, 4), 0);
    assert_int_equal(m.n, 2); /* rows 0 and 3 */
    assert_int_equal(m.skipped, 2);
    assert_true(m.mean[0] == 2.5 && m.mean[1] == 25);
    assert_true(fabs(drift_moments_cov(&m, 0, 1) - (1.5 * 15 * 2)) < 1e-12); /* (−1.5·−15)·2/1 */
    assert_true(fabs(drift_moments_cov(&m, 1, 1) - 450) < 1e-12);
    /* More rows than the work buffer holds, or a leading dimension below n: refused. */
    assert_int_equal(drift_moments_update(&m, col, 5, 5), DRIFT_EINVAL);
    assert_int_equal(drift_moments_update(&m, col, 3, 4), DRIFT_EINVAL);
    assert_int_equal(m.n, 2);
    /* Merging into an empty summary copies; merging an empty one changes nothing. */
    drift_moments_init(&e, 2, 4, mem_b);
    assert_int_equal(drift_moments_merge(&e, &m), 0);
    assert_true(e.n == 2 && e.skipped == 2 && e.mean[1] == 25);
    assert_true(drift_moments_cov(&e, 0, 1) == drift_moments_cov(&m, 0, 1));
    drift_moments_reset(&e);
    assert_int_equal(drift_moments_merge(&m, &e), 0);
    assert_true(m.n == 2 && m.mean[0] == 2.5);
    /* Dimensions must agree. */
    drift_moments_init(&o, 3, 4, mem_b + 1000);
    assert_int_equal(drift_moments_merge(&m, &o), DRIFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments_match_numpy),
        cmocka_unit_test(test_merge_is_union_and_missing_skipped),
        cmocka_unit_test(test_infinite_rows_skipped_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
