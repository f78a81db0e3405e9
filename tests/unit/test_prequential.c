/* The prequential metrics window against scikit-learn/numpy goldens (tests/golden/
 * gen_prequential.py: accuracy, precision, recall, F1, log-loss, ROC AUC, MAE, RMSE, delay
 * quantiles, within 1e-12 relative, n from 1 to 100,000, invalid pairs counted); the AUC against
 * a brute-force pair count; the error fed to detectors; parameter checks, invalid pairs, a full
 * window, reset; the compensated sums on a sum that loses every small term when summed plainly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "golden.h"
#include "metrics/prequential.h"

#define NEXPECT 12

static const char *const metric_name[NEXPECT] = {"n",      "invalid", "accuracy",     "precision",
                                                 "recall", "f1",      "log_loss",     "auc",
                                                 "mae",    "rmse",    "delay_median", "delay_p95"};

static void metrics_array(const struct drift_preq_metrics *m, double *v)
{
    v[0] = (double)m->n;
    v[1] = (double)m->invalid;
    v[2] = m->accuracy;
    v[3] = m->precision;
    v[4] = m->recall;
    v[5] = m->f1;
    v[6] = m->log_loss;
    v[7] = m->auc;
    v[8] = m->mae;
    v[9] = m->rmse;
    v[10] = m->delay_median;
    v[11] = m->delay_p95;
}

/* NaN where NaN is expected; otherwise within rel (relative only: the log-loss of perfect class
 * predictions is about 1e-15 and must match too). */
static void close_to(double got, double want, double rel, const char *what, int line)
{
    if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= rel * fabs(want))) {
        fail_msg("%s (golden line %d): %.17g vs %.17g", what, line, got, want);
    }
}

/* The xorshift64 streams of gen_prequential.py's synth(), bit for bit. */
static uint64_t xorshift(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static void synth(int task, uint64_t seed, size_t n, double *pred, double *lab, double *dl)
{
    const double two52 = 4503599627370496.0, two53 = 9007199254740992.0;
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        if (task == DRIFT_PREQ_CLASSIFICATION) {
            x = xorshift(x);
            int y = (x >> 11) % 10 < 3;
            x = xorshift(x);
            pred[i] = (double)((x >> 11) % 701 + 300 * (uint64_t)y) / 1000.0;
            lab[i] = y;
        } else {
            x = xorshift(x);
            double y = (double)((int64_t)(x >> 11) - (INT64_C(1) << 52)) / two52;
            x = xorshift(x);
            double v = (double)((int64_t)(x >> 11) - (INT64_C(1) << 52)) / two52;
            x = xorshift(x);
            double w = (double)((x >> 11) + 1) / two53;
            pred[i] = y + v / w;
            lab[i] = y;
        }
        x = xorshift(x);
        uint64_t r = x >> 11;
        dl[i] = r % 10 == 0 ? NAN : (double)(r % 100000) / 1000.0;
    }
}

static int valid_pair(int task, double p, double y)
{
    return isfinite(p) && isfinite(y) && (task == DRIFT_PREQ_REGRESSION || y == 0.0 || y == 1.0);
}

/* Feeds the pairs, checking each return code and error value; returns the metrics. */
static void feed(struct drift_preq *q, int task, double thr, const double *pred, const double *lab,
                 const double *dl, size_t n, struct drift_preq_metrics *m)
{
    for (size_t i = 0; i < n; i++) {
        double e = -1;
        int rc = drift_preq_add(q, pred[i], lab[i], dl[i], &e);
        if (!valid_pair(task, pred[i], lab[i])) {
            assert_int_equal(rc, DRIFT_EINVAL);
            assert_true(isnan(e));
            continue;
        }
        assert_int_equal(rc, 0);
        if (task == DRIFT_PREQ_CLASSIFICATION) {
            assert_true(e == (double)((pred[i] >= thr) != (lab[i] == 1.0)));
        } else {
            assert_true(e == fabs(pred[i] - lab[i]));
        }
    }
    assert_int_equal(drift_preq_metrics(q, m), 0);
}

static void test_golden(void **state)
{
    (void)state;
    FILE *f = golden_open("prequential.txt");
    assert_non_null(f);
    char *line = NULL;
    size_t linecap = 0;
    int nline = 0, nsynth = 0;
    size_t maxn = 0;
    while (getline(&line, &linecap, f) > 0) {
        nline++;
        double head[4], want[NEXPECT];
        assert_int_equal(golden_group(line, 0, head, 4), 4);
        assert_int_equal(golden_group(line, 4, want, NEXPECT), NEXPECT);
        int task = (int)head[0];
        double thr = head[1];
        uint64_t seed = (uint64_t)head[2];
        size_t n = (size_t)head[3];
        double *pred = malloc(n * sizeof(double)), *lab = malloc(n * sizeof(double));
        double *dl = malloc(n * sizeof(double));
        assert_true(pred != NULL && lab != NULL && dl != NULL);
        if (seed != 0) {
            synth(task, seed, n, pred, lab, dl);
            nsynth++;
        } else {
            assert_int_equal(golden_group(line, 1, pred, n), n);
            assert_int_equal(golden_group(line, 2, lab, n), n);
            assert_int_equal(golden_group(line, 3, dl, n), n);
        }
        if (n > maxn) {
            maxn = n;
        }

        char err[256];
        struct drift_preq_params p = {.task = task, .threshold = thr, .capacity = n};
        struct drift_preq *q = drift_preq_create(&p, err, sizeof(err));
        assert_non_null(q);
        struct drift_preq_metrics m, m2;
        feed(q, task, thr, pred, lab, dl, n, &m);
        double got[NEXPECT];
        metrics_array(&m, got);
        for (int k = 0; k < NEXPECT; k++) {
            close_to(got[k], want[k], 1e-12, metric_name[k], nline);
        }
        /* metrics is repeatable, and reset gives a window that reproduces it bit for bit */
        assert_int_equal(drift_preq_metrics(q, &m2), 0);
        assert_memory_equal(&m, &m2, sizeof(m));
        drift_preq_reset(q);
        feed(q, task, thr, pred, lab, dl, n, &m2);
        assert_memory_equal(&m, &m2, sizeof(m));
        /* Order does not matter: reversed, the counts, AUC and quantiles are identical and the
         * compensated sums agree to rounding. */
        drift_preq_reset(q);
        for (size_t i = n; i-- > 0;) {
            drift_preq_add(q, pred[i], lab[i], dl[i], NULL);
        }
        assert_int_equal(drift_preq_metrics(q, &m2), 0);
        double rev[NEXPECT];
        metrics_array(&m2, rev);
        for (int k = 0; k < NEXPECT; k++) {
            if (k == 6 || k == 8 || k == 9) {
                close_to(rev[k], got[k], 1e-14, metric_name[k], nline);
            } else {
                assert_memory_equal(&rev[k], &got[k], sizeof(double));
            }
        }
        drift_preq_destroy(q);
        free(pred);
        free(lab);
        free(dl);
    }
    free(line);
    fclose(f);
    assert_true(nline >= 25);
    assert_true(nsynth >= 2);
    assert_true(maxn >= 100000);
}

/* AUC against the O(n^2) definition on random scores with many ties, any split of classes. */
static void test_auc_brute_force(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    static double s[300];
    static int y[300];
    for (int rep = 0; rep < 200; rep++) {
        x = xorshift(x);
        size_t n = 2 + x % 299;
        x = xorshift(x);
        int levels = 1 + (int)(x % 20);
        struct drift_preq_params p = {
            .task = DRIFT_PREQ_CLASSIFICATION, .threshold = 0.5, .capacity = n};
        struct drift_preq *q = drift_preq_create(&p, NULL, 0);
        assert_non_null(q);
        for (size_t i = 0; i < n; i++) {
            x = xorshift(x);
            y[i] = (x >> 20) % 3 == 0;
            x = xorshift(x);
            s[i] = (double)(x % (uint64_t)levels) / levels - 0.25; /* some outside [0, 1] */
            if (i % 17 == 3) {
                s[i] = -0.0;
            }
            assert_int_equal(drift_preq_add(q, s[i], y[i], NAN, NULL), 0);
        }
        double twice_u = 0, npos = 0, nneg = 0;
        int outside = 0;
        for (size_t i = 0; i < n; i++) {
            outside |= s[i] < 0 || s[i] > 1;
            npos += y[i];
            nneg += !y[i];
            for (size_t j = 0; j < n; j++) {
                if (y[i] && !y[j]) {
                    twice_u += s[i] > s[j] ? 2 : s[i] == s[j] ? 1 : 0;
                }
            }
        }
        struct drift_preq_metrics m;
        assert_int_equal(drift_preq_metrics(q, &m), 0);
        if (npos == 0 || nneg == 0) {
            assert_true(isnan(m.auc));
        } else {
            assert_true(m.auc == twice_u / (2 * npos * nneg));
        }
        assert_true(isnan(m.log_loss) == outside);
        assert_true(isnan(m.delay_median) && isnan(m.delay_p95));
        drift_preq_destroy(q);
    }
}

static void test_params(void **state)
{
    (void)state;
    char err[256];
    struct drift_preq_params p = {.task = 2, .threshold = 0.5, .capacity = 10};
    assert_null(drift_preq_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "task"));
    p.task = DRIFT_PREQ_CLASSIFICATION;
    p.threshold = NAN;
    assert_null(drift_preq_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "threshold"));
    p.threshold = INFINITY;
    assert_null(drift_preq_create(&p, err, sizeof(err)));
    p.threshold = 0.5;
    p.capacity = 0;
    assert_null(drift_preq_create(&p, err, sizeof(err)));
    assert_non_null(strstr(err, "capacity"));
    p.capacity = DRIFT_PREQ_MAX_CAPACITY + 1;
    assert_null(drift_preq_create(&p, err, sizeof(err)));
    assert_null(drift_preq_create(NULL, err, sizeof(err)));
    /* regression ignores the threshold */
    p = (struct drift_preq_params){.task = DRIFT_PREQ_REGRESSION, .threshold = NAN, .capacity = 1};
    struct drift_preq *q = drift_preq_create(&p, err, sizeof(err));
    assert_non_null(q);
    drift_preq_destroy(q);
    drift_preq_destroy(NULL);
    assert_int_equal(drift_preq_add(NULL, 0, 0, 0, NULL), DRIFT_EINVAL);
    struct drift_preq_metrics m;
    assert_int_equal(drift_preq_metrics(NULL, &m), DRIFT_EINVAL);
}

static void test_invalid_full_reset(void **state)
{
    (void)state;
    struct drift_preq_params p = {.task = DRIFT_PREQ_CLASSIFICATION,
                                  .threshold = DRIFT_PREQ_DEFAULT_THRESHOLD,
                                  .capacity = 3};
    struct drift_preq *q = drift_preq_create(&p, NULL, 0);
    assert_non_null(q);
    struct drift_preq_metrics m;
    /* empty: every metric NaN */
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    double v[NEXPECT];
    metrics_array(&m, v);
    assert_true(v[0] == 0 && v[1] == 0);
    for (int k = 2; k < NEXPECT; k++) {
        assert_true(isnan(v[k]));
    }
    double e = 0;
    const double bad[][2] = {{NAN, 1},   {INFINITY, 0}, {0.3, NAN}, {0.3, -INFINITY},
                             {0.3, 0.5}, {0.3, 2},      {0.3, -1},  {0.3, 1 + 1e-15}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(drift_preq_add(q, bad[i][0], bad[i][1], 1.0, &e), DRIFT_EINVAL);
        assert_true(isnan(e));
    }
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.n == 0 && m.invalid == 8 && isnan(m.accuracy) && isnan(m.delay_median));

    /* the threshold itself is class 1; the error is the misclassification */
    assert_int_equal(drift_preq_add(q, 0.5, 1, 2.0, &e), 0);
    assert_true(e == 0.0);
    assert_int_equal(drift_preq_add(q, 0.5, 0, INFINITY, &e), 0); /* inf delay: unknown */
    assert_true(e == 1.0);
    assert_int_equal(drift_preq_add(q, 0.1, 1, 4.0, &e), 0);
    assert_true(e == 1.0);
    /* full: ERANGE, nothing changes; invalid pairs are still rejected first */
    assert_int_equal(drift_preq_add(q, 0.9, 1, 1.0, &e), DRIFT_ERANGE);
    assert_true(isnan(e));
    assert_int_equal(drift_preq_add(q, 0.9, 0.5, 1.0, &e), DRIFT_EINVAL);
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.n == 3 && m.invalid == 9);
    assert_true(m.accuracy == 1.0 / 3 && m.precision == 0.5 && m.recall == 0.5 && m.f1 == 0.5);
    assert_true(m.auc == 0.25); /* pos {0.5, 0.1} vs neg {0.5}: (0.5 + 0) / 2 */
    assert_true(m.delay_median == 3.0 && fabs(m.delay_p95 - 3.9) < 1e-15);
    assert_true(isnan(m.mae) && isnan(m.rmse));
    assert_true(fabs(m.log_loss - (-log(0.5) - log(0.5) - log(0.1)) / 3) < 1e-15);

    drift_preq_reset(q);
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.n == 0 && m.invalid == 0 && isnan(m.accuracy) && isnan(m.auc));
    assert_int_equal(drift_preq_add(q, 0.9, 1, NAN, NULL), 0);
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.n == 1 && m.accuracy == 1 && isnan(m.auc) && isnan(m.delay_median));
    drift_preq_destroy(q);

    /* regression: any finite values; NaN/inf rejected */
    p = (struct drift_preq_params){.task = DRIFT_PREQ_REGRESSION, .capacity = 2};
    q = drift_preq_create(&p, NULL, 0);
    assert_non_null(q);
    assert_int_equal(drift_preq_add(q, 1.0, -2.0, 0.0, &e), 0);
    assert_true(e == 3.0);
    assert_int_equal(drift_preq_add(q, NAN, 1.0, 0.0, &e), DRIFT_EINVAL);
    assert_int_equal(drift_preq_add(q, 1.0, INFINITY, 0.0, &e), DRIFT_EINVAL);
    assert_int_equal(drift_preq_add(q, 0.5, 0.25, -1.0, &e), 0);
    assert_true(e == 0.25);
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.n == 2 && m.invalid == 2 && m.mae == 1.625);
    assert_true(m.rmse == sqrt((9 + 0.0625) / 2));
    assert_true(isnan(m.accuracy) && isnan(m.auc) && isnan(m.log_loss));
    assert_true(m.delay_median == -0.5 && fabs(m.delay_p95 + 0.05) < 1e-15);
    drift_preq_destroy(q);
}

/* 1e16 then 100,000 errors of 1: a plain running sum stays at 1e16 (1e16 + 1 rounds back). */
static void test_compensated_sums(void **state)
{
    (void)state;
    size_t n = 100001;
    struct drift_preq_params p = {.task = DRIFT_PREQ_REGRESSION, .capacity = n};
    struct drift_preq *q = drift_preq_create(&p, NULL, 0);
    assert_non_null(q);
    assert_int_equal(drift_preq_add(q, 1e16, 0, NAN, NULL), 0);
    double plain = 1e16;
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(drift_preq_add(q, 1.0, 0.0, NAN, NULL), 0);
        plain += 1.0;
    }
    assert_true(plain == 1e16);
    struct drift_preq_metrics m;
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    assert_true(m.mae == (1e16 + 100000) / (double)n);
    assert_true(m.rmse == sqrt((1e32 + 100000) / (double)n));
    drift_preq_destroy(q);

    /* log-loss: one confident miss, then many tiny losses */
    p = (struct drift_preq_params){
        .task = DRIFT_PREQ_CLASSIFICATION, .threshold = 0.5, .capacity = n};
    q = drift_preq_create(&p, NULL, 0);
    assert_non_null(q);
    assert_int_equal(drift_preq_add(q, 0.0, 1, NAN, NULL), 0); /* -log(1e-15 / 1) */
    double pc = 1 - 1e-9, tiny = -log(pc / ((1 - pc) + pc));   /* as sklearn renormalises */
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(drift_preq_add(q, 1 - 1e-9, 1, NAN, NULL), 0);
    }
    assert_int_equal(drift_preq_metrics(q, &m), 0);
    double want = (-log(1e-15 / ((1 - 1e-15) + 1e-15)) + (double)(n - 1) * tiny) / (double)n;
    assert_true(fabs(m.log_loss - want) <= 1e-15 * want);
    assert_true(isnan(m.auc) && m.accuracy == (double)(n - 1) / (double)n);
    drift_preq_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),           cmocka_unit_test(test_auc_brute_force),
        cmocka_unit_test(test_params),           cmocka_unit_test(test_invalid_full_reset),
        cmocka_unit_test(test_compensated_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
