/* Unit tests for the message decoder: every documented rule, and the exact number parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <apr_general.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "stream.h"

static apr_pool_t *pool;
static struct drift_feature_conf feats[] = {
    {"amount", DRIFT_FEATURE_NUMERIC, {0, 0}},
    {"country", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
    {"risk", DRIFT_FEATURE_NUMERIC, {0, 0}},
};
static struct drift_stream_conf sc;
static struct drift_batch b;
static double x[2 * 8], lab[8], ts[8];
static int32_t cat[8], part[8];
static int64_t off[8];

static int setup(void **state)
{
    apr_pool_create(&pool, NULL);
    memset(&sc, 0, sizeof(sc));
    sc.name = "s";
    sc.features = feats;
    sc.nfeatures = 3;
    sc.label = "y";
    sc.time_field = "ts";
    sc.max_message_bytes = 256;
    b = (struct drift_batch){0, 8, 2, 1, x, cat, lab, ts, part, off, NULL, NULL, NULL};
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    return 0;
}

static int decode(struct drift_decoder *dec, const char *s, int *bad)
{
    const char *detail;
    return drift_decode(dec, s, strlen(s), &b, bad, &detail);
}

static void test_full_record(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    int bad = -1;
    b.n = 0;
    assert_int_equal(decode(dec, " {\"amount\": 12.5, \"country\":\"DE\", \"risk\":-1e-3,"
                                 " \"y\": true, \"ts\": 1700000000123,"
                                 " \"extra\": {\"a\":[1,\"}\"]}}\n",
                            &bad),
                     0);
    assert_int_equal(b.n, 1);
    assert_true(x[0] == 12.5);
    assert_true(x[8] == -1e-3);
    assert_int_equal(cat[0], 0);
    assert_true(lab[0] == 1.0);
    assert_true(fabs(ts[0] - 1700000000.123) < 1e-6);
    /* Same category again → same code; another → next code. */
    assert_int_equal(decode(dec, "{\"country\":\"DE\"}", &bad), 0);
    assert_int_equal(cat[1], 0);
    assert_true(isnan(x[1]) && isnan(x[9]));
    assert_int_equal(decode(dec, "{\"country\":\"F\\u0052\",\"amount\":null}", &bad), 0);
    assert_int_equal(cat[2], 1);
    assert_string_equal(drift_decoder_category_name(dec, 0, 1), "FR");
    assert_true(isnan(x[2]));
}

static void test_missing_and_nan(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    int bad;
    b.n = 0;
    assert_int_equal(decode(dec, "{\"amount\": NaN, \"risk\": -Infinity, \"country\": null}", &bad),
                     0);
    assert_true(isnan(x[0]) && isnan(x[8]));
    assert_int_equal(cat[0], -1);
    assert_int_equal(decode(dec, "{\"amount\": Infinity, \"risk\": 1e400}", &bad), 0);
    assert_true(isnan(x[1]) && isnan(x[9]));
    /* Numbers and booleans as categories are spelled as their JSON text. */
    assert_int_equal(decode(dec, "{\"country\": 7}", &bad), 0);
    assert_string_equal(drift_decoder_category_name(dec, 0, cat[2]), "7");
}

static void test_bad_messages(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    struct {
        const char *msg;
        int reason;
    } cases[] = {
        {"", DRIFT_BAD_EMPTY},
        {"   ", DRIFT_BAD_EMPTY},
        {"[1,2]", DRIFT_BAD_NOT_OBJECT},
        {"42", DRIFT_BAD_NOT_OBJECT},
        {"hello", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1,}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\" 1}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1} x", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": \"12\"}", DRIFT_BAD_WRONG_TYPE},
        {"{\"country\": {\"a\":1}}", DRIFT_BAD_WRONG_TYPE},
        {"{\"other\": 1}", DRIFT_BAD_NO_FEATURES},
        {"{}", DRIFT_BAD_NO_FEATURES},
        {"{\"amount\": 1, \"y\": 2}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": \"yes\"}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"ts\": \"2024-01-01\"}", DRIFT_BAD_WRONG_TYPE},
    };
    b.n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int bad = -1;
        const char *detail = NULL;
        int rc = drift_decode(dec, cases[i].msg, strlen(cases[i].msg), &b, &bad, &detail);
        if (rc != DRIFT_EPARSE || bad != cases[i].reason) {
            fail_msg("case %zu '%s': rc %d reason %d, want %d", i, cases[i].msg, rc, bad,
                     cases[i].reason);
        }
        assert_non_null(detail);
        assert_int_equal(b.n, 0);
    }
    /* Too large. */
    char big[400];
    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"amount\":1}", 12);
    int bad;
    const char *detail;
    assert_int_equal(drift_decode(dec, big, sizeof(big), &b, &bad, &detail), DRIFT_EPARSE);
    assert_int_equal(bad, DRIFT_BAD_TOO_LARGE);
    /* A wrong-type detail names the field. */
    drift_decode(dec, "{\"amount\": \"x\"}", 15, &b, &bad, &detail);
    assert_non_null(strstr(detail, "amount"));
}

static void test_frozen_dictionary(void **state)
{
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    assert_int_equal(drift_decoder_category(dec, 0, "a", 1), 0);
    assert_int_equal(drift_decoder_category(dec, 0, "b", 1), 1);
    drift_decoder_freeze(dec);
    assert_int_equal(drift_decoder_category(dec, 0, "b", 1), 1);
    assert_int_equal(drift_decoder_category(dec, 0, "c", 1), DRIFT_MAX_CATEGORIES);
    assert_int_equal(drift_decoder_ncategories(dec, 0), 2);
}

/* The fast path must give exactly what strtod gives. */
static void test_numbers_exact(void **state)
{
    const char *cases[] = {"0",       "-0",        "1",           "12.5",     "-3.14159",
                           "1e10",    "1E-5",      "0.1",         "0.3",      "123456789012345678",
                           "1.7976931348623157e308", "4.9e-324",  "2.2250738585072014e-308",
                           "9007199254740993",       "0.000001234", "123.456e-7", "1e22", "1e23",
                           "8.589973e9", "3.0000000000000004"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double v;
        size_t n = drift_parse_number(cases[i], strlen(cases[i]), &v);
        assert_int_equal(n, strlen(cases[i]));
        double want = strtod(cases[i], NULL);
        if (memcmp(&v, &want, sizeof(v)) != 0) {
            fail_msg("%s: got %.17g want %.17g", cases[i], v, want);
        }
    }
    /* Random decimal strings against strtod. */
    srand(7);
    for (int i = 0; i < 200000; i++) {
        char s[64];
        double r = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 30 - 15);
        snprintf(s, sizeof(s), "%.*g", 1 + rand() % 17, r);
        double v;
        drift_parse_number(s, strlen(s), &v);
        double want = strtod(s, NULL);
        if (memcmp(&v, &want, sizeof(v)) != 0) {
            fail_msg("%s: got %.17g want %.17g", s, v, want);
        }
    }
    double v;
    assert_int_equal(drift_parse_number("-", 1, &v), 0);
    assert_int_equal(drift_parse_number("1e", 2, &v), 0);
}

int main(void)
{
    apr_initialize();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_record),      cmocka_unit_test(test_missing_and_nan),
        cmocka_unit_test(test_bad_messages),     cmocka_unit_test(test_frozen_dictionary),
        cmocka_unit_test(test_numbers_exact),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    apr_terminate();
    return rc;
}
