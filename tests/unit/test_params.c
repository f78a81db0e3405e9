/* Detector parameters: defaults, each type, open and closed ranges, and the error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "drift_op.h"

struct conf {
    double delta;
    long long clock;
    int two_sided;
    int mode;
};

static const struct drift_param_spec spec[] = {
    {"delta", DRIFT_PARAM_NUM, "0.002", 0, 1, DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct conf, delta)},
    {"clock", DRIFT_PARAM_INT, "32", 1, INFINITY, 0, NULL, offsetof(struct conf, clock)},
    {"two_sided_test", DRIFT_PARAM_BOOL, "false", 0, 0, 0, NULL,
     offsetof(struct conf, two_sided)},
    {"mode", DRIFT_PARAM_ENUM, "both", 0, 0, 0, "up|down|both", offsetof(struct conf, mode)},
};

static int parse(const struct drift_param *p, int np, struct conf *c, char *err)
{
    return drift_params_parse("adwin", spec, 4, p, np, c, err, 256);
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    struct conf c;
    char err[256];
    assert_int_equal(parse(NULL, 0, &c, err), 0);
    assert_true(c.delta == 0.002 && c.clock == 32 && c.two_sided == 0 && c.mode == 2);
    struct drift_param p[] = {{"delta", "0.5"}, {"clock", "1"}, {"two_sided_test", "true"},
                              {"mode", "up"}};
    assert_int_equal(parse(p, 4, &c, err), 0);
    assert_true(c.delta == 0.5 && c.clock == 1 && c.two_sided == 1 && c.mode == 0);
    struct drift_param q[] = {{"two_sided_test", "0"}, {"mode", "down"}};
    assert_int_equal(parse(q, 2, &c, err), 0);
    assert_true(c.two_sided == 0 && c.mode == 1 && c.delta == 0.002);
}

static void test_errors_name_the_problem(void **state)
{
    (void)state;
    struct conf c;
    char err[256];
    struct {
        struct drift_param p;
        const char *msg;
    } bad[] = {
        {{"delta", "1"}, "adwin: delta must be a number in (0, 1), got '1'"},
        {{"delta", "0"}, "adwin: delta must be a number in (0, 1), got '0'"},
        {{"delta", "abc"}, "adwin: delta must be a number in (0, 1), got 'abc'"},
        {{"delta", ""}, "adwin: delta must be a number in (0, 1), got ''"},
        {{"delta", "nan"}, "adwin: delta must be a number in (0, 1), got 'nan'"},
        {{"clock", "0"}, "adwin: clock must be an integer >= 1, got '0'"},
        {{"clock", "2.5"}, "adwin: clock must be an integer >= 1, got '2.5'"},
        {{"two_sided_test", "yes"}, "adwin: two_sided_test must be true or false, got 'yes'"},
        {{"mode", "sideways"}, "adwin: mode must be one of up|down|both, got 'sideways'"},
        {{"mode", "bot"}, "adwin: mode must be one of up|down|both, got 'bot'"},
        {{"lambda", "1"},
         "adwin: unknown parameter 'lambda' (allowed: delta, clock, two_sided_test, mode)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(&bad[i].p, 1, &c, err), DRIFT_EINVAL);
        if (strcmp(err, bad[i].msg) != 0) {
            fail_msg("got \"%s\", want \"%s\"", err, bad[i].msg);
        }
    }
    struct drift_param twice[] = {{"clock", "3"}, {"clock", "4"}};
    assert_int_equal(parse(twice, 2, &c, err), DRIFT_EINVAL);
    assert_string_equal(err, "adwin: clock given twice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors_name_the_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
