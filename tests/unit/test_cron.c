/* Cron expressions: next firing times against hand-checked dates, the day-of-month /
 * day-of-week "either" rule, Sunday as 0 and 7, steps and lists, and clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cron.h"
#include "drift_op.h"

/* 2026-11-23 09:00:00 UTC, a Monday. */
#define MON_0900 1795424400LL

static int64_t next(const char *expr, int64_t after)
{
    struct drift_cron c;
    char err[128];
    if (drift_cron_parse(expr, &c, err, sizeof(err)) != 0) {
        fail_msg("%s: %s", expr, err);
    }
    return drift_cron_next(&c, after);
}

static void test_next_times(void **state)
{
    (void)state;
    assert_int_equal(next("* * * * *", MON_0900), MON_0900 + 60);
    assert_int_equal(next("* * * * *", MON_0900 + 59), MON_0900 + 60);
    assert_int_equal(next("0 2 * * *", MON_0900), MON_0900 + 17 * 3600);  /* Tue 02:00 */
    assert_int_equal(next("*/15 * * * *", MON_0900), MON_0900 + 15 * 60);
    assert_int_equal(next("5,50 9 * * *", MON_0900), MON_0900 + 5 * 60);
    assert_int_equal(next("5,50 9 * * *", MON_0900 + 6 * 60), MON_0900 + 50 * 60);
    assert_int_equal(next("0 9-17/4 * * *", MON_0900), MON_0900 + 4 * 3600); /* 13:00 */
    /* Sunday as 0 and as 7: 2026-11-29 00:00. */
    int64_t sun = MON_0900 - 9 * 3600 + 6 * 86400;
    assert_int_equal(next("0 0 * * 0", MON_0900), sun);
    assert_int_equal(next("0 0 * * 7", MON_0900), sun);
    /* Both day fields restricted: either matches (the 1st of December, or a Friday first). */
    assert_int_equal(next("0 0 1 * 5", MON_0900), MON_0900 - 9 * 3600 + 4 * 86400); /* Fri 27 */
    /* Only the day of month restricted: 1 December 2026. */
    assert_int_equal(next("0 0 1 * *", MON_0900), MON_0900 - 9 * 3600 + 8 * 86400);
    /* A day that never comes. */
    assert_int_equal(next("0 0 31 2 *", MON_0900), -1);
}

static void test_errors(void **state)
{
    (void)state;
    struct drift_cron c;
    char err[128];
    struct {
        const char *expr, *msg;
    } bad[] = {
        {"* * * *", "cron needs 5 fields"},
        {"* * * * * *", "more than 5 fields"},
        {"60 * * * *", "minute: 60-60 is outside 0-59"},
        {"* 24 * * *", "hour: 24-24 is outside 0-23"},
        {"* * 0 * *", "day of month: 0-0 is outside 1-31"},
        {"*/0 * * * *", "minute: bad step '0'"},
        {"a * * * *", "minute: 'a' is not a number"},
        {"5-1 * * * *", "minute: 5-1 is outside 0-59"},
        {"1,,2 * * * *", "minute: empty or overlong item"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(drift_cron_parse(bad[i].expr, &c, err, sizeof(err)), DRIFT_EINVAL);
        if (strstr(err, bad[i].msg) == NULL) {
            fail_msg("'%s': got \"%s\", want \"%s\"", bad[i].expr, err, bad[i].msg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_times),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
