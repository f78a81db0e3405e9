/* Unit tests for the synthetic stream generator: deterministic per seed, valid JSON objects the
 * decoder accepts, and a drift that starts exactly at drift_at in the features it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "stream.h"

static void test_deterministic(void **state)
{
    struct drift_gen a, b;
    drift_gen_init(&a, 5, 0, 100);
    drift_gen_init(&b, 5, 0, 100);
    char x[512], y[512];
    for (int i = 0; i < 300; i++) {
        size_t n = drift_gen_next(&a, x, sizeof(x), 1e12 + i);
        size_t m = drift_gen_next(&b, y, sizeof(y), 1e12 + i);
        assert_true(n > 0);
        assert_int_equal(n, m);
        assert_memory_equal(x, y, n);
    }
    drift_gen_init(&b, 6, 0, 100);
    drift_gen_next(&b, y, sizeof(y), 1e12);
    drift_gen_init(&a, 5, 0, 100);
    drift_gen_next(&a, x, sizeof(x), 1e12);
    assert_true(strcmp(x, y) != 0);
    assert_int_equal(drift_gen_next(&a, x, 10, 0), 0); /* too small */
}

static void test_generic_shift(void **state)
{
    /* d=8: f0 and f1 shift by one standard deviation from event 5000; f2..f7 do not. */
    struct drift_gen g;
    drift_gen_init(&g, 1, 8, 5000);
    char buf[1024];
    double sum[2][8] = {{0}};
    for (int i = 0; i < 10000; i++) {
        size_t n = drift_gen_next(&g, buf, sizeof(buf), 0);
        buf[n] = '\0';
        const char *p;
        for (int j = 0; j < 8; j++) {
            char key[16];
            snprintf(key, sizeof(key), "\"f%d\":", j);
            p = strstr(buf, key);
            assert_non_null(p);
            double v;
            assert_true(drift_parse_number(p + strlen(key), 32, &v) > 0);
            sum[i >= 5000][j] += v;
        }
    }
    for (int j = 0; j < 8; j++) {
        double before = sum[0][j] / 5000, after = sum[1][j] / 5000;
        if (j < 2) {
            assert_true(fabs(after - before - 1.0) < 0.1);
        } else {
            assert_true(fabs(after - before) < 0.1);
        }
    }
}

/* --corr-flip: f0 and f1 keep mean 0 and variance 1 while their correlation turns from +0.8 to
 * -0.8 at drift_at; no mean shift anywhere. */
static void test_corr_flip(void **state)
{
    struct drift_gen g;
    drift_gen_init(&g, 3, 3, 5000);
    g.corr_flip = 1;
    char buf[1024];
    double s[2][2] = {{0}}, ss[2][2] = {{0}}, sxy[2] = {0}, s2[2] = {0};
    for (int i = 0; i < 10000; i++) {
        size_t n = drift_gen_next(&g, buf, sizeof(buf), 0);
        buf[n] = '\0';
        double v[3];
        for (int j = 0; j < 3; j++) {
            char key[16];
            snprintf(key, sizeof(key), "\"f%d\":", j);
            const char *p = strstr(buf, key);
            assert_non_null(p);
            assert_true(drift_parse_number(p + strlen(key), 32, &v[j]) > 0);
        }
        int h = i >= 5000;
        for (int j = 0; j < 2; j++) {
            s[h][j] += v[j];
            ss[h][j] += v[j] * v[j];
        }
        sxy[h] += v[0] * v[1];
        s2[h] += v[2];
    }
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 2; j++) {
            double m = s[h][j] / 5000, var = ss[h][j] / 5000 - m * m;
            assert_true(fabs(m) < 0.05 && fabs(var - 1) < 0.06);
        }
        assert_true(fabs(s2[h] / 5000) < 0.05);
        double rho = sxy[h] / 5000; /* means ~0, variances ~1 */
        assert_true(fabs(rho - (h ? -0.8 : 0.8)) < 0.05);
    }
    assert_non_null(strstr(drift_gen_describe(&g), "correlation"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_generic_shift),
        cmocka_unit_test(test_corr_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
