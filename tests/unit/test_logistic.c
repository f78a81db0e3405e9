/* The online logistic learner through its ops struct: it learns a separable problem, reports
 * prequential log-loss, maps weights back to the original feature space, rejects bad parameters,
 * its saved state reloads into identical predictions, a corrupt state is refused, and missing
 * values (NaN, ±inf) neither poison the weights nor count as rows learnt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define N 20000
static double x[2 * N], y[N];

static void make_data(void)
{
    srand(11);
    for (int i = 0; i < N; i++) {
        double a = 100 + 20 * ((double)rand() / RAND_MAX - 0.5); /* large offset and scale */
        double b = (double)rand() / RAND_MAX;
        x[i] = a;
        x[N + i] = (i % 50 == 0) ? NAN : b;
        y[i] = (a - 100) / 10 + (b - 0.5) * 2 > 0 ? 1 : 0;
    }
}

static void test_learns(void **state)
{
    make_data();
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    assert_non_null(ops);
    double center[2] = {100, 0.5}, scale[2] = {5.8, 0.29};
    struct drift_learner_params p = {.learning_rate = 0.1, .center = center, .scale = scale};
    char err[128];
    struct drift_learner *l = ops->create(2, &p, err, sizeof(err));
    assert_non_null(l);
    double loss1 = 0, loss2 = 0;
    size_t n1 = ops->learn(l, x, N, N / 2, y, &loss1);
    size_t n2 = ops->learn(l, x + N / 2, N, N / 2, y + N / 2, &loss2);
    assert_int_equal(n1 + n2, N);
    assert_int_equal(ops->updates(l), N);
    assert_true(loss2 / n2 < loss1 / n1); /* it improves */
    int correct = 0;
    for (int i = 0; i < N; i++) {
        double pr = ops->predict(l, x + i, N);
        correct += (pr > 0.5) == (y[i] > 0.5);
    }
    assert_true(correct > 0.95 * N);
    /* Weights in the original space reproduce the prediction for a complete row. */
    double w[2], bias;
    ops->weights(l, w, &bias);
    double row[2] = {105, 0.7};
    double z = w[0] * row[0] + w[1] * row[1] + bias;
    assert_true(fabs(1 / (1 + exp(-z)) - ops->predict(l, row, 1)) < 1e-9);
    /* Save / load round trip. */
    size_t sz = ops->save(l, NULL, 0);
    unsigned char *buf = malloc(sz);
    assert_int_equal(ops->save(l, buf, sz), sz);
    struct drift_learner *l2 = ops->create(2, &p, err, sizeof(err));
    assert_int_equal(ops->load(l2, buf, sz), 0);
    for (int i = 0; i < 100; i++) {
        assert_true(ops->predict(l, x + i, N) == ops->predict(l2, x + i, N));
    }
    buf[0] ^= 0xff;
    assert_int_equal(ops->load(l2, buf, sz), DRIFT_ESTATE);
    assert_int_equal(ops->load(l2, buf, sz - 1), DRIFT_ESTATE);
    free(buf);
    ops->reset(l);
    assert_int_equal(ops->updates(l), 0);
    ops->destroy(l);
    ops->destroy(l2);
}

static void test_bad_params(void **state)
{
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    char err[128];
    struct drift_learner_params p = {.learning_rate = -1};
    assert_null(ops->create(2, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "learning_rate"));
    p.learning_rate = 0.1;
    p.l2 = -1;
    assert_null(ops->create(2, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "l2"));
    assert_null(drift_learner_find("perceptron"));
    p.l2 = 0;
    p.learning_rate = INFINITY;
    assert_null(ops->create(2, &p, err, sizeof(err)));
    assert_non_null(strstr(err, "learning_rate"));
    p.learning_rate = 0.1;
    assert_null(ops->create(0, &p, err, sizeof(err)));
}

static void test_missing_values(void **state)
{
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    char err[128];
    struct drift_learner_params p = {.learning_rate = 0.5};
    struct drift_learner *l = ops->create(2, &p, err, sizeof(err));
    assert_non_null(l);
    /* A fresh learner predicts 1/2; a row of missing features is the centre (also 1/2). */
    double row[2] = {NAN, INFINITY};
    assert_true(ops->predict(l, row, 1) == 0.5);
    /* Column-major 4 x 2: infinities in the features, a NaN and an infinite label. */
    double xs[8] = {1, INFINITY, -2, 3, -INFINITY, 1, NAN, 2}, ys[4] = {1, 0, NAN, INFINITY};
    double loss = 0;
    assert_int_equal(ops->learn(l, xs, 4, 4, ys, &loss), 2); /* rows 2 and 3 skipped */
    assert_int_equal(ops->updates(l), 2);
    double w[2], bias;
    ops->weights(l, w, &bias);
    assert_true(isfinite(w[0]) && isfinite(w[1]) && isfinite(bias));
    /* By hand: row 0 (z = (1, 0), y = 1) is predicted at 1/2 and gives w = (0.25, 0), b = 0.25.
     * Row 1 (z = (0, 1), y = 0) is predicted at p = σ(0.25): w1 = −0.5·p, b = 0.25 − 0.5·p. */
    double p1 = 1 / (1 + exp(-0.25));
    assert_true(fabs(loss - (log(2.0) - log(1 - p1))) < 1e-12);
    assert_true(fabs(w[0] - 0.25) < 1e-15 && fabs(w[1] + 0.5 * p1) < 1e-15);
    assert_true(fabs(bias - (0.25 - 0.5 * p1)) < 1e-15);
    ops->destroy(l);
}

static void test_corrupt_state_refused(void **state)
{
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    char err[128];
    double center[3] = {1, 2, 3}, scale[3] = {2, 0 /* → 1 */, 4};
    struct drift_learner_params p = {.learning_rate = 0.1, .center = center, .scale = scale};
    struct drift_learner *l = ops->create(3, &p, err, sizeof(err));
    struct drift_learner *l2 = ops->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    assert_non_null(l2);
    double xs[3] = {2, 5, 7}, ys[1] = {1}, y0[1] = {0}, x0[3] = {0, 1, 2};
    ops->learn(l, xs, 1, 1, ys, NULL);
    ops->learn(l2, x0, 1, 1, y0, NULL); /* so that l2's predictions depend on all its state */
    size_t sz = ops->save(l, NULL, 0);
    assert_int_equal(sz, 48 + 3 * 3 * 8);
    unsigned char buf[48 + 3 * 3 * 8], bad[sizeof(buf)];
    assert_int_equal(ops->save(l, buf, sizeof(buf)), sz);
    double before = ops->predict(l2, xs, 1);
    /* Offsets: lr at 24, l2 at 32, bias at 40, w at 48, center at 72, scale at 96. */
    const size_t off[6] = {24, 32, 40, 48, 72, 96 + 8};
    const double val[6] = {0, -1, NAN, INFINITY, NAN, 0};
    for (int i = 0; i < 6; i++) {
        memcpy(bad, buf, sizeof(buf));
        memcpy(bad + off[i], &val[i], 8);
        assert_int_equal(ops->load(l2, bad, sizeof(bad)), DRIFT_ESTATE);
        assert_true(ops->predict(l2, xs, 1) == before); /* unchanged */
    }
    memcpy(bad, buf, sizeof(buf));
    bad[8] ^= 1; /* d */
    assert_int_equal(ops->load(l2, bad, sizeof(bad)), DRIFT_ESTATE);
    bad[8] ^= 1;
    bad[4] ^= 1; /* version */
    assert_int_equal(ops->load(l2, bad, sizeof(bad)), DRIFT_ESTATE);
    assert_int_equal(ops->load(l2, NULL, sizeof(bad)), DRIFT_ESTATE);
    /* The intact state loads, including the clamped scale. */
    assert_int_equal(ops->load(l2, buf, sizeof(buf)), 0);
    assert_true(ops->predict(l2, xs, 1) == ops->predict(l, xs, 1));
    assert_int_equal(ops->updates(l2), 1);
    ops->destroy(l);
    ops->destroy(l2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_corrupt_state_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
