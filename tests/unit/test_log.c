/* Unit tests for logging: logfmt and JSON line shapes, level filtering, the rate limiter, and
 * values from outside (a message id, an HTTP path) that cannot forge a key or a line in either
 * format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
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

/* What a producer controls: an id with a quote and a fake key, a path with a line break, a byte
 * that is not UTF-8. */
static const char forged_id[] = "q\" level=error msg=FORGED";
static const char forged_path[] = "/x\nts=0 level=error msg=FORGED";

static void emit_forged(void)
{
    DRIFT_WARN("skipped malformed message", "stream=%s detail=\"id already seen: '%s'\" path=%s "
               "bare=%s raw=%s empty=%s", "s", forged_id, forged_path, "a b", "\xff\xfe", "");
    DRIFT_INFO("delivered", "target=%s", "\"http://h/a b\""); /* already a quoted value */
}

static void emit_forged_logfmt(void)
{
    drift_log_setup(2, 0);
    emit_forged();
}

static void emit_forged_json(void)
{
    drift_log_setup(2, 1);
    emit_forged();
}

/* Keys named key in logfmt text, read as a logfmt parser does: a value in quotes runs to the
 * first quote not escaped by a backslash. */
static int count_keys(const char *s, const char *key)
{
    int n = 0;
    size_t kl = strlen(key);
    while (*s) {
        while (*s == ' ' || *s == '\n') {
            s++;
        }
        const char *k = s;
        while (*s && *s != '=' && *s != ' ' && *s != '\n') {
            s++;
        }
        n += (size_t)(s - k) == kl && strncmp(k, key, kl) == 0;
        if (*s != '=') {
            continue;
        }
        s++;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
            }
            s += *s == '"';
        } else {
            while (*s && *s != ' ' && *s != '\n') {
                s++;
            }
        }
    }
    return n;
}

/* Regression (security review L1): a value with '"' ended its quotes early, and one with a line
 * break started a line of its own, so a message could add `level=error` to a line or a line to
 * the log. */
static void test_values_cannot_forge(void **state)
{
    char *out = capture(emit_forged_logfmt);
    print_message("%s", out);
    /* two lines, one per call */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_non_null(strchr(nl + 1, '\n'));
    assert_null(strchr(strchr(nl + 1, '\n') + 1, '\n'));
    assert_non_null(strstr(out, "detail=\"id already seen: 'q\\\" level=error msg=FORGED'\""));
    assert_non_null(strstr(out, "path=\"/x\\nts=0 level=error msg=FORGED\""));
    assert_non_null(strstr(out, "bare=\"a b\""));
    assert_non_null(strstr(out, "raw=\"\\xff\\xfe\""));
    assert_non_null(strstr(out, "empty=\n"));
    assert_non_null(strstr(out, "target=\"http://h/a b\"\n"));
    /* read as logfmt, each line has one level key: the one the logger wrote */
    assert_int_equal(count_keys(out, "level"), 2);
    assert_int_equal(count_keys(out, "msg"), 2);

    out = capture(emit_forged_json);
    print_message("%s", out);
    nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (j == NULL) {
        fail_msg("not JSON: %s: %s", je.text, out);
    }
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "skipped malformed message");
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "id already seen: 'q\" level=error msg=FORGED'");
    assert_string_equal(json_string_value(json_object_get(j, "path")), forged_path);
    assert_string_equal(json_string_value(json_object_get(j, "bare")), "a b");
    assert_string_equal(json_string_value(json_object_get(j, "raw")), "\\xff\\xfe");
    assert_string_equal(json_string_value(json_object_get(j, "empty")), "");
    assert_int_equal(json_object_size(j), 9); /* ts level msg stream detail path bare raw empty */
    json_decref(j);
    json_t *k = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(k);
    assert_string_equal(json_string_value(json_object_get(k, "target")), "http://h/a b");
    json_decref(k);
}

/* Every printf conversion the call sites use comes out as printf would print it. */
static void emit_conversions(void)
{
    drift_log_setup(2, 0);
    DRIFT_INFO("c", "a=%d b=%lld c=%llu d=%zu e=%.3f f=%5.1f g=%g h=%.*s i=%-4s| j=%u k=%x "
               "l=%ld m=%c n=%%", -3, -4000000000LL, 18000000000ULL, (size_t)7, 0.5, 2.25, 1e-9,
               3, "abcdef", "xy", 4u, 255u, -5L, 'z');
}

static void test_conversions(void **state)
{
    char *out = capture(emit_conversions);
    assert_non_null(strstr(out, "msg=\"c\" a=-3 b=-4000000000 c=18000000000 d=7 e=0.500 "
                                "f=  2.2 g=1e-09 h=abc i=xy  | j=4 k=ff l=-5 m=z n=%\n"));
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
        cmocka_unit_test(test_values_cannot_forge),
        cmocka_unit_test(test_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
