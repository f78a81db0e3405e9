/*
 * engine/spawn.c: a program run on the loop: stdin, exit status, output tail, environment (an
 * allow-list of driftd's, the names passed through, the action's own), time limit, a missing
 * program, abort, and output pipes held open by a grandchild.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spawn.h"

struct got {
    int calls;
    struct drift_spawn_result r;
    char output[1024];
};

static void on_done(void *ctx, const struct drift_spawn_result *r)
{
    struct got *g = ctx;
    g->calls++;
    g->r = *r;
    snprintf(g->output, sizeof(g->output), "%s", r->output);
    g->r.output = g->output;
}

/* Runs argv to the end on a fresh loop, passing the variables named in pass; returns the start
 * code. */
static int run_pass(const char *const *argv, const char *const *env, const char *const *pass,
                    const char *input, size_t inlen, int timeout_ms, struct got *g)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(g, 0, sizeof(*g));
    struct drift_spawn *s = NULL;
    int rc = drift_spawn_start(&loop, argv, env, pass, input, inlen, timeout_ms, on_done, g, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
    return rc;
}

static int run(const char *const *argv, const char *const *env, const char *input, size_t inlen,
               int timeout_ms, struct got *g)
{
    return run_pass(argv, env, NULL, input, inlen, timeout_ms, g);
}

static void test_stdin_and_exit(void **state)
{
    struct got g;
    const char *cat[] = {"cat", NULL}; /* found in PATH */
    assert_int_equal(run(cat, NULL, "hello\nworld\n", 12, 5000, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.exit_status, 0);
    assert_int_equal(g.r.term_signal, 0);
    assert_int_equal(g.r.timed_out, 0);
    assert_string_equal(g.output, "hello world"); /* one line, trimmed */

    const char *fail[] = {"/bin/sh", "-c", "echo out; echo 'it broke' >&2; exit 3", NULL};
    assert_int_equal(run(fail, NULL, "", 0, 5000, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.exit_status, 3);
    assert_non_null(strstr(g.output, "it broke"));
    assert_non_null(strstr(g.output, "out"));
}

static void test_env_added_and_overridden(void **state)
{
    struct got g;
    setenv("DRIFTD_TEST_SPAWN", "parent", 1);
    setenv("DRIFTD_TEST_KEEP", "kept", 1);
    const char *argv[] = {"/bin/sh", "-c", "printf '%s|%s|%s' \"$DRIFTD_TEST_SPAWN\" "
                          "\"$DRIFTD_TEST_KEEP\" \"$DRIFTD_NEW\"", NULL};
    const char *env[] = {"DRIFTD_TEST_SPAWN=child value", "DRIFTD_NEW=x=y", NULL};
    const char *pass[] = {"DRIFTD_TEST_KEEP", "DRIFTD_TEST_SPAWN", NULL};
    assert_int_equal(run_pass(argv, env, pass, NULL, 0, 5000, &g), 0);
    assert_int_equal(g.r.exit_status, 0);
    assert_string_equal(g.output, "child value|kept|x=y"); /* env wins over a passed name */
}

/* Regression (security review M2): the program inherited driftd's whole environment, so the
 * control token and every webhook secret reached a retraining script. Now it gets an allow-list
 * of driftd's variables, the names passed through, and the action's own. */
static void test_env_allow_list(void **state)
{
    struct got g;
    setenv("DRIFTD_TEST_TOKEN", "ctl-secret-123", 1);   /* http.token_env */
    setenv("WEBHOOK_TOKEN", "wh-secret-456", 1);        /* a webhook's bearer_token_env */
    setenv("DRIFTD_HMAC", "hmac-secret-789", 1);        /* as docs/actions.md names one */
    setenv("JENKINS_TOKEN", "passed-on", 1);            /* named in exec.env */
    setenv("LC_TIME", "C", 1);
    setenv("TZ", "UTC", 1);
    const char *argv[] = {"/bin/sh", "-c", "printf '%s|%s|%s|%s|%s|%s|%s|%s' "
                          "\"${DRIFTD_TEST_TOKEN-unset}\" \"${WEBHOOK_TOKEN-unset}\" "
                          "\"${DRIFTD_HMAC-unset}\" \"${JENKINS_TOKEN-unset}\" "
                          "\"${LC_TIME-unset}\" \"${TZ-unset}\" \"${DRIFTD_STREAM-unset}\" "
                          "\"$(env | grep -c secret)\"", NULL};
    const char *env[] = {"DRIFTD_STREAM=s", NULL};
    const char *pass[] = {"JENKINS_TOKEN", NULL};
    assert_int_equal(run_pass(argv, env, pass, NULL, 0, 5000, &g), 0);
    assert_int_equal(g.r.exit_status, 0);
    assert_string_equal(g.output, "unset|unset|unset|passed-on|C|UTC|s|0");
    /* PATH is kept: a bare program name is still found */
    const char *bare[] = {"sh", "-c", "printf '%s' \"${PATH:+path}\"", NULL};
    assert_int_equal(run(bare, NULL, NULL, 0, 5000, &g), 0);
    assert_string_equal(g.output, "path");
    unsetenv("DRIFTD_TEST_TOKEN");
    unsetenv("WEBHOOK_TOKEN");
    unsetenv("DRIFTD_HMAC");
    unsetenv("JENKINS_TOKEN");
}

/* 1 while a process runs "sleep ARG" (looked for in /proc). */
static int sleeping(const char *arg)
{
    uv_dirent_t ent;
    uv_fs_t req;
    int found = 0;
    if (uv_fs_scandir(NULL, &req, "/proc", 0, NULL) < 0) {
        return 0;
    }
    while (!found && uv_fs_scandir_next(&req, &ent) != UV_EOF) {
        char path[300], buf[256];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", ent.name);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        found = strcmp(buf, "sleep") == 0 && n > 6 && strcmp(buf + 6, arg) == 0;
    }
    uv_fs_req_cleanup(&req);
    return found;
}

static void test_timeout_kills_the_group(void **state)
{
    struct got g;
    /* the shell waits for its child; both must go at the limit */
    const char *argv[] = {"/bin/sh", "-c", "sleep 30.25; echo never", NULL};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(run(argv, NULL, NULL, 0, 200, &g), 0);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.timed_out, 1);
    assert_int_equal(g.r.term_signal, SIGTERM);
    assert_int_equal(g.r.exit_status, -1);
    assert_null(strstr(g.output, "never"));
    assert_true(secs < 10); /* not the 30 s of sleep: a bound, not a timing claim */
    for (int i = 0; i < 100 && sleeping("30.25"); i++) {
        uv_sleep(20); /* SIGTERM delivered; the grandchild may take a moment to be reaped */
    }
    assert_false(sleeping("30.25")); /* the whole group went, not only the shell */
}

static void test_missing_program(void **state)
{
    struct got g;
    const char *argv[] = {"/nonexistent/driftd-test-program", NULL};
    assert_int_equal(run(argv, NULL, "x", 1, 5000, &g), UV_ENOENT);
    assert_int_equal(g.calls, 0);
    const char *bare[] = {"driftd-no-such-program-in-path", NULL};
    assert_int_equal(run(bare, NULL, NULL, 0, 5000, &g), UV_ENOENT);
    const char *empty[] = {"", NULL};
    assert_int_equal(run(empty, NULL, NULL, 0, 5000, &g), UV_EINVAL);
}

static void test_input_not_read(void **state)
{
    struct got g;
    size_t n = 4 << 20; /* far more than a pipe holds */
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'x', n);
    const char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
    assert_int_equal(run(argv, NULL, big, n, 5000, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.exit_status, 0);
    free(big);
}

static void test_abort(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct got g = {0};
    struct drift_spawn *s = NULL;
    const char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
    assert_int_equal(drift_spawn_start(&loop, argv, NULL, NULL, NULL, 0, 60000, on_done, &g, &s),
                     0);
    uv_run(&loop, UV_RUN_NOWAIT);
    drift_spawn_abort(s);
    uint64_t t0 = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true((double)(uv_hrtime() - t0) / 1e9 < 10);
    assert_int_equal(g.calls, 0); /* aborted: never reported */
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_grandchild_holds_output(void **state)
{
    struct got g;
    /* exits at once, but a background child keeps stdout open for 3 s */
    const char *argv[] = {"/bin/sh", "-c", "echo started; sleep 3 & exit 0", NULL};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(run(argv, NULL, NULL, 0, 60000, &g), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.r.exit_status, 0);
    assert_string_equal(g.output, "started");
    assert_true((double)(uv_hrtime() - t0) / 1e9 < 2.5); /* finished at exit, not at EOF */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as driftd does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdin_and_exit),
        cmocka_unit_test(test_env_added_and_overridden),
        cmocka_unit_test(test_env_allow_list),
        cmocka_unit_test(test_timeout_kills_the_group),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_input_not_read),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_grandchild_holds_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
