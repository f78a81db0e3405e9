/* Multivariate drift from moments against numpy/scipy goldens (tests/golden/gen_mv_hotelling.py):
 * the F survival function and the incomplete beta, the two-sample Hotelling T² with shrinkage
 * and its per-feature contributions, and correlation drift; a correlation flip with unchanged
 * marginals is seen by correlation drift and not by T²; merged partitions give the same test;
 * argument errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

#define MAXN 4096
#define MAXD 16

static double mem_r[200000], mem_w[200000], mem_x[200000];
static double work[MAXD * MAXD + MAXD];

/* rows (row-major, n × d) into m in chunks of up to 64 rows */
static void feed(struct drift_moments *m, const double *rows, size_t n, int d)
{
    static double col[MAXD * 64];
    for (size_t s = 0; s < n; s += 64) {
        size_t k = n - s < 64 ? n - s : 64;
        for (size_t i = 0; i < k; i++) {
            for (int j = 0; j < d; j++) {
                col[(size_t)j * 64 + i] = rows[(s + i) * (size_t)d + (size_t)j];
            }
        }
        assert_int_equal(drift_moments_update(m, col, 64, k), 0);
    }
}

static int close_rel(double got, double want, double tol)
{
    if (want == 0) {
        return fabs(got) <= tol;
    }
    return fabs(got - want) <= tol * fabs(want);
}

static void test_f_and_beta(void **state)
{
    FILE *f = golden_open("mv_hotelling.txt");
    assert_non_null(f);
    static char line[1 << 20];
    double a[4] = {0}, want = 0;
    int nf = 0, nb = 0;
    double worst = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "f ", 2) == 0) {
            golden_group(line, 0, a, 3);
            golden_group(line, 1, &want, 1);
            double got = drift_f_sf(a[0], a[1], a[2]);
            double rel = want > 0 ? fabs(got - want) / want : fabs(got);
            worst = rel > worst ? rel : worst;
            if (!close_rel(got, want, 1e-10)) {
                fail_msg("f.sf(%g, %g, %g) = %.17g, scipy %.17g", a[0], a[1], a[2], got, want);
            }
            nf++;
        } else if (strncmp(line, "beta ", 5) == 0) {
            golden_group(line, 0, a, 3);
            golden_group(line, 1, &want, 1);
            double got = drift_betainc(a[0], a[1], a[2]);
            if (!close_rel(got, want, 1e-10)) {
                fail_msg("betainc(%g, %g, %g) = %.17g, scipy %.17g", a[0], a[1], a[2], got, want);
            }
            nb++;
        }
    }
    fclose(f);
    print_message("f.sf: %d cases, betainc: %d, worst relative difference %.2g\n", nf, nb, worst);
    assert_true(nf >= 50 && nb >= 5);
    assert_true(drift_f_sf(0, 3, 4) == 1 && drift_f_sf(-1, 3, 4) == 1);
    assert_true(drift_f_sf(INFINITY, 3, 4) == 0);
    assert_true(isnan(drift_f_sf(NAN, 3, 4)) && isnan(drift_f_sf(1, 0, 4)));
    assert_true(isnan(drift_betainc(1, 1, 1.5)) && isnan(drift_betainc(-1, 1, 0.5)));
    assert_true(drift_betainc(2, 3, 0) == 0 && drift_betainc(2, 3, 1) == 1);
}

static void test_hotelling_and_corr_match_numpy(void **state)
{
    FILE *f = golden_open("mv_hotelling.txt");
    assert_non_null(f);
    static char line[1 << 20];
    static double head[4], ref[MAXN * MAXD], win[MAXN * MAXD], t2fp[3], contrib[MAXD], cm[4];
    int cases = 0, flip_seen = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "case ", 5) != 0) {
            continue;
        }
        golden_group(line, 0, head, 4);
        int d = (int)head[0];
        size_t nr = (size_t)head[1], nw = (size_t)head[2];
        double lam = head[3];
        assert_int_equal(golden_group(line, 1, ref, MAXN * MAXD), nr * (size_t)d);
        assert_int_equal(golden_group(line, 2, win, MAXN * MAXD), nw * (size_t)d);
        golden_group(line, 3, t2fp, 3);
        golden_group(line, 4, contrib, MAXD);
        golden_group(line, 5, cm, 4);
        struct drift_moments r, w;
        drift_moments_init(&r, d, 64, mem_r);
        drift_moments_init(&w, d, 64, mem_w);
        feed(&r, ref, nr, d);
        feed(&w, win, nw, d);
        struct drift_mv_result res;
        assert_true(drift_hotelling_work(d) <= sizeof(work) / sizeof(work[0]));
        assert_int_equal(drift_hotelling(&r, &w, lam, 0.01, work, &res), 0);
        if (!close_rel(res.statistic, t2fp[0], 1e-9) || !close_rel(res.pvalue, t2fp[2], 1e-8)) {
            fail_msg("case %d: T2 %.17g p %.17g, numpy %.17g %.17g", cases, res.statistic,
                     res.pvalue, t2fp[0], t2fp[2]);
        }
        assert_true(res.df1 == d && res.df2 == (double)(nr + nw) - d - 1);
        assert_int_equal(res.drifted, t2fp[2] < 0.01);
        /* contributions: the largest, in order, and their sum is T² */
        double sum = 0;
        for (int j = 0; j < d; j++) {
            sum += contrib[j];
        }
        assert_true(close_rel(sum, res.statistic, 1e-9));
        assert_int_equal(res.ntop, d < DRIFT_MV_TOP ? d : DRIFT_MV_TOP);
        for (int k = 0; k < res.ntop; k++) {
            assert_true(close_rel(res.contrib[k], contrib[res.top[k]], 1e-8));
            if (k > 0) {
                assert_true(fabs(res.contrib[k]) <= fabs(res.contrib[k - 1]));
            }
        }
        if (d >= 2) {
            assert_int_equal(drift_corr_drift(&r, &w, 0.5, &res), 0);
            if (!close_rel(res.statistic, cm[0], 1e-9)) {
                fail_msg("case %d: max |dcorr| %.17g, numpy %.17g", cases, res.statistic, cm[0]);
            }
            assert_int_equal(res.top[0], (int)cm[1]);
            assert_int_equal(res.top2[0], (int)cm[2]);
            assert_true(close_rel(res.contrib[0], cm[3], 1e-9));
            assert_int_equal(res.drifted, cm[0] >= 0.5);
        } else {
            assert_int_equal(drift_corr_drift(&r, &w, 0.5, &res), DRIFT_EINVAL);
        }
        if (d == 5) {
            /* the flip: means unchanged (T² does not fire), one correlation turned around */
            assert_true(t2fp[2] > 0.05);
            assert_true(res.drifted && res.statistic > 1.2);
            assert_true(res.top[0] == 0 && res.top2[0] == 1);
            flip_seen = 1;
        }
        if (lam > 0 && d == 4) {
            /* the constant feature makes the unshrunk covariance singular */
            assert_int_equal(drift_hotelling(&r, &w, 0, 0.01, work, &res), DRIFT_ERANGE);
        }
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 6);
    assert_true(flip_seen);
}

/* Two partitions' moments merged give the same test as one pass over their union. */
static void test_merged_partitions(void **state)
{
    static double rows[600 * 3];
    uint64_t s = 7;
    for (size_t i = 0; i < 600 * 3; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        rows[i] = (double)(s >> 11) / 9007199254740992.0 + (i >= 450 * 3 ? 0.2 : 0);
    }
    struct drift_moments r, a, b, whole;
    drift_moments_init(&r, 3, 64, mem_r);
    drift_moments_init(&a, 3, 64, mem_w);
    drift_moments_init(&b, 3, 64, mem_x);
    feed(&r, rows, 300, 3);
    feed(&a, rows + 300 * 3, 150, 3);
    feed(&b, rows + 450 * 3, 150, 3);
    struct drift_mv_result one, two;
    assert_int_equal(drift_moments_merge(&a, &b), 0);
    assert_int_equal(drift_hotelling(&r, &a, 0.05, 0.01, work, &one), 0);
    static double mem_y[200000];
    drift_moments_init(&whole, 3, 64, mem_y);
    feed(&whole, rows + 300 * 3, 300, 3);
    assert_int_equal(drift_hotelling(&r, &whole, 0.05, 0.01, work, &two), 0);
    assert_true(close_rel(one.statistic, two.statistic, 1e-10));
    assert_true(close_rel(one.pvalue, two.pvalue, 1e-9));
}

static void test_bad_arguments(void **state)
{
    struct drift_moments r, w, w2;
    drift_moments_init(&r, 3, 64, mem_r);
    drift_moments_init(&w, 3, 64, mem_w);
    drift_moments_init(&w2, 2, 64, mem_x);
    struct drift_mv_result res;
    /* empty: n <= d + 1 */
    assert_int_equal(drift_hotelling(&r, &w, 0, 0.01, work, &res), DRIFT_EINVAL);
    double rows[12] = {1, 2, 3, 2, 3, 1, 3, 1, 2, 0, 0, 1};
    feed(&r, rows, 4, 3);
    feed(&w, rows, 4, 3);
    assert_int_equal(drift_hotelling(&r, &w, -0.1, 0.01, work, &res), DRIFT_EINVAL);
    assert_int_equal(drift_hotelling(&r, &w, 1.1, 0.01, work, &res), DRIFT_EINVAL);
    assert_int_equal(drift_hotelling(&r, &w, 0, 0.01, NULL, &res), DRIFT_EINVAL);
    assert_int_equal(drift_hotelling(&r, &w2, 0, 0.01, work, &res), DRIFT_EINVAL);
    assert_int_equal(drift_corr_drift(&r, &w2, 0.5, &res), DRIFT_EINVAL);
    assert_int_equal(drift_hotelling(&r, &w, 0, 0.01, work, &res), 0);
    assert_true(res.pvalue > 0.99); /* the same rows on both sides */
    assert_true(isnan(res.lower));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f_and_beta),
        cmocka_unit_test(test_hotelling_and_corr_match_numpy),
        cmocka_unit_test(test_merged_partitions),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
