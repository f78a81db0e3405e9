/* The online logistic learner through its ops struct: it learns a separable problem, reports
 * prequential log-loss, maps weights back to the original feature space, rejects bad parameters,
 * and its saved state reloads into identical predictions. */
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
