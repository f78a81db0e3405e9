/* Unit tests for logging: logfmt and JSON line shapes, level filtering, and the rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Captures what drift_log writes to stderr. */
static char *capture(void (*fn)(void))
{
    static char buf[4096];
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return buf;
}

static void emit_logfmt(void)
{
    drift_log_setup(2, 0);
    DRIFT_INFO("webhook delivered", "outbox_id=%d target=%s", 7, "http://x/y");
    DRIFT_DEBUG("not shown", "k=%d", 1);
}

static void emit_json(void)
{
    drift_log_setup(3, 1);
    DRIFT_WARN("skipped \"bad\" message", "reason=%s offset=%d detail=\"%s\"", "invalid_json", 42,
               "byte 3");
}

static void test_logfmt(void **state)
{
    char *out = capture(emit_logfmt);
    assert_non_null(strstr(out, "level=info msg=\"webhook delivered\" outbox_id=7 "
                                "target=http://x/y\n"));
    assert_null(strstr(out, "not shown"));
    assert_int_equal(strncmp(out, "ts=", 3), 0);
}

static void test_json(void **state)
{
    char *out = capture(emit_json);
    assert_non_null(strstr(out, "\"level\":\"warn\",\"msg\":\"skipped \\\"bad\\\" message\","
                                "\"reason\":\"invalid_json\",\"offset\":42,"
                                "\"detail\":\"byte 3\"}\n"));
}

static void test_ratelimit(void **state)
{
    uint64_t suppressed = 99;
    assert_int_equal(drift_log_ratelimit("k1", 60000, &suppressed), 1);
    assert_int_equal(suppressed, 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(drift_log_ratelimit("k1", 60000, &suppressed), 0);
    }
    /* Another key is independent. */
    assert_int_equal(drift_log_ratelimit("k2", 60000, &suppressed), 1);
    /* With a zero interval the next call is allowed and reports what was suppressed. */
    assert_int_equal(drift_log_ratelimit("k1", 0, &suppressed), 1);
    assert_int_equal(suppressed, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_ratelimit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
