/* The binned, categorical and sample statistics through their ops structs, against scipy and
 * numpy goldens (tests/golden/gen_stats.py): KL, JS, Hellinger, L-infinity, unseen share,
 * chi-square (statistic, p-value, dof) and Wasserstein-1 (raw and normalised); plus the
 * incomplete gamma function at known values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

static void close_to(double got, double want, double rel, const char *what, int line)
{
    if (!(fabs(got - want) <= rel * fabs(want) + 1e-13)) {
        fail_msg("%s (golden line %d): %.17g vs %.17g", what, line, got, want);
    }
}

/* Golden line "k | ref counts | cur counts | expected..." into counts and expected values;
 * returns k. */
static size_t read_table(const char *line, uint64_t *rc, uint64_t *cc, double *want, size_t nwant)
{
    double r[64], c[64];
    size_t k = golden_group(line, 1, r, 64);
    golden_group(line, 2, c, 64);
    golden_group(line, 3, want, nwant);
    for (size_t i = 0; i < k; i++) {
        rc[i] = (uint64_t)r[i];
        cc[i] = (uint64_t)c[i];
    }
    return k;
}

static void test_binned(void **state)
{
    FILE *f = golden_open("stats_binned.txt");
    assert_non_null(f);
    char line[16384];
    static const char *const names[5] = {"kl", "js", "hellinger", "linf", "unseen"};
    int nline = 0;
    while (fgets(line, sizeof(line), f)) {
        double want[5];
        uint64_t rc[64], cc[64];
        size_t k = read_table(line, rc, cc, want, 5);
        struct drift_colsum ref = {.nbins = (int)k, .counts = rc};
        struct drift_colsum cur = {.nbins = (int)k, .counts = cc};
        for (int s = 0; s < 5; s++) {
            const struct drift_stat_ops *op = drift_stat_find(names[s]);
            assert_non_null(op);
            struct drift_stat_params p = {.epsilon = 1e-4};
            struct drift_stat_result res;
            assert_int_equal(op->compare(&ref, &cur, &p, &res), 0);
            close_to(res.statistic, want[s], 1e-12, names[s], nline);
            assert_true(res.effect == res.statistic && isnan(res.pvalue));
            assert_int_equal(res.drifted, res.statistic >= op->default_threshold);
        }
        nline++;
    }
    fclose(f);
    assert_int_equal(nline, 9);
}

static void test_chi2(void **state)
{
    const struct drift_stat_ops *op = drift_stat_find("chi2");
    assert_non_null(op);
    assert_true(op->categorical && !op->numeric);
    FILE *f = golden_open("stats_chi2.txt");
    assert_non_null(f);
    char line[16384];
    int nline = 0;
    while (fgets(line, sizeof(line), f)) {
        double want[3];
        uint64_t rc[64], cc[64];
        size_t k = read_table(line, rc, cc, want, 3);
        struct drift_colsum ref = {.nbins = (int)k, .counts = rc};
        struct drift_colsum cur = {.nbins = (int)k, .counts = cc};
        struct drift_stat_params p = {.threshold = 0.05};
        struct drift_stat_result res;
        assert_int_equal(op->compare(&ref, &cur, &p, &res), 0);
        close_to(res.statistic, want[0], 1e-12, "chi2 statistic", nline);
        close_to(res.pvalue, want[1], 1e-9, "chi2 p-value", nline);
        assert_int_equal(res.dof, (int)want[2]);
        assert_int_equal(res.drifted, res.pvalue < 0.05);
        nline++;
    }
    fclose(f);
    assert_int_equal(nline, 10);
    /* Q(a, x) at known values: Q(1, x) = e^-x; Q(0.5, x) = erfc(√x). */
    assert_true(fabs(drift_gamma_q(1, 3) - exp(-3)) < 1e-15);
    assert_true(fabs(drift_gamma_q(0.5, 2) - erfc(sqrt(2))) < 1e-15);
    assert_true(fabs(drift_gamma_q(0.5, 0.01) - erfc(0.1)) < 1e-15);
    assert_true(drift_gamma_q(3, 0) == 1);
}

static void test_wasserstein(void **state)
{
    const struct drift_stat_ops *op = drift_stat_find("wasserstein");
    assert_non_null(op);
    FILE *f = golden_open("stats_wass.txt");
    assert_non_null(f);
    static char line[1 << 18];
    static double a[4002], b[4002];
    double want[2];
    int nline = 0;
    while (fgets(line, sizeof(line), f)) {
        double nm[2];
        golden_group(line, 0, nm, 2);
        size_t na = golden_group(line, 1, a, 4002), nb = golden_group(line, 2, b, 4002);
        golden_group(line, 3, want, 2);
        assert_int_equal(na, (size_t)nm[0]);
        assert_int_equal(nb, (size_t)nm[1]);
        struct drift_colsum ref = {.sorted = a, .nsorted = na};
        struct drift_colsum cur = {.sorted = b, .nsorted = nb};
        struct drift_stat_params p = {.threshold = 0.1};
        struct drift_stat_result res;
        assert_int_equal(op->compare(&ref, &cur, &p, &res), 0);
        close_to(res.statistic, want[0], 1e-10, "wasserstein", nline);
        close_to(res.effect, want[1], 1e-10, "wasserstein normalised", nline);
        nline++;
    }
    fclose(f);
    assert_int_equal(nline, 7);
}

static void test_unseen_bucket(void **state)
{
    /* The engine's layout: known categories, then one "unseen" bucket last. */
    uint64_t rc[3] = {50, 50, 0}, cc[3] = {40, 40, 20};
    struct drift_colsum ref = {.nbins = 3, .counts = rc, .unseen_last = 1};
    struct drift_colsum cur = {.nbins = 3, .counts = cc, .unseen_last = 1};
    struct drift_stat_params p = {.threshold = 0.05};
    struct drift_stat_result res;
    assert_int_equal(drift_stat_find("unseen")->compare(&ref, &cur, &p, &res), 0);
    assert_true(fabs(res.statistic - 0.2) < 1e-15);
    assert_int_equal(res.drifted, 1);
    uint64_t z[3] = {0, 0, 0};
    struct drift_colsum empty = {.nbins = 3, .counts = z};
    assert_int_equal(drift_stat_find("js")->compare(&ref, &empty, &p, &res), DRIFT_EINVAL);
}

/* Adjusted p-values; expected values worked by hand from the definitions (and equal to
 * statsmodels' multipletests(method='bonferroni' / 'fdr_bh')). */
static void test_pvalue_adjust(void **state)
{
    const double p[6] = {0.01, 0.04, NAN, 0.03, 0.2, 0.005};
    double out[6];
    assert_int_equal(drift_pvalue_adjust(p, 6, DRIFT_ADJUST_BONFERRONI, out), 0);
    const double bonf[6] = {0.05, 0.2, NAN, 0.15, 1.0, 0.025};
    for (int i = 0; i < 6; i++) {
        assert_true(isnan(bonf[i]) ? isnan(out[i]) : fabs(out[i] - bonf[i]) < 1e-15);
    }
    /* BH, m = 5 sorted: 0.005 0.01 0.03 0.04 0.2 → 0.025 0.025 0.05 0.05 0.2 */
    assert_int_equal(drift_pvalue_adjust(p, 6, DRIFT_ADJUST_BH, out), 0);
    const double bh[6] = {0.025, 0.05, NAN, 0.05, 0.2, 0.025};
    for (int i = 0; i < 6; i++) {
        assert_true(isnan(bh[i]) ? isnan(out[i]) : fabs(out[i] - bh[i]) < 1e-15);
    }
    assert_int_equal(drift_pvalue_adjust(p, 6, 99, out), DRIFT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binned),
        cmocka_unit_test(test_chi2),
        cmocka_unit_test(test_wasserstein),
        cmocka_unit_test(test_unseen_bucket),
        cmocka_unit_test(test_pvalue_adjust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
