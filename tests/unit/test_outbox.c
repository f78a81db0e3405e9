/* The outbox on a real loop, with the real receiver and a real SQLite file: a delivery refused
 * twice with 503 is retried and accepted exactly once; an unreachable target is retried then
 * marked dead at max_attempts; a row left pending at shutdown is delivered after a restart; the
 * status classification. Every loop runs under a deadline and must close cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift_op.h"
#include "log.h"
#include "outbox.h"
#include "receiver.h"
#include "store.h"

int drift_outbox_classify(int http_status, int curl_ok);

struct ctx {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct drift_outbox *o;
    struct drift_receiver *r;
    int requests, accepted, done, dead, pending;
    char key[256];
    int stop_after_done;
    int timed_out;
};

static char dir[64];

static void closed_outbox(void *c)
{
    struct ctx *x = c;
    x->o = NULL;
}

static void finish(struct ctx *x)
{
    if (!uv_is_closing((uv_handle_t *)&x->deadline)) {
        uv_close((uv_handle_t *)&x->deadline, NULL);
    }
    if (x->o) {
        drift_outbox_close(x->o, 100, closed_outbox, x);
    }
    if (x->r) {
        drift_receiver_close(x->r, NULL, NULL);
        x->r = NULL;
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct ctx *x = t->data;
    x->timed_out = 1;
    finish(x);
}

static void on_request(void *c, const struct drift_request *req)
{
    struct ctx *x = c;
    x->requests++;
    x->accepted += req->status == 200;
    snprintf(x->key, sizeof(x->key), "%s", req->idempotency_key ? req->idempotency_key : "");
    assert_string_equal(req->method, "POST");
    assert_non_null(strstr(req->body, "\"idempotency_key\""));
}

static void on_report(void *c, const struct drift_outbox_row *r, const char *status, int http,
                      const char *error)
{
    struct ctx *x = c;
    if (strcmp(status, "done") == 0) {
        x->done++;
    } else if (strcmp(status, "dead") == 0) {
        x->dead++;
    } else {
        x->pending++;
    }
    if ((x->done || x->dead) && x->stop_after_done) {
        finish(x);
    }
}

static struct drift_store *store_with_row(const char *name, const char *url)
{
    char path[160], err[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct drift_store *s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    if (url != NULL) {
        struct drift_trigger_row t = {"s:retrain:abc", "s", "retrain", "data_drift",
                                      (int64_t)drift_wall_ms(),
                                      "{\"idempotency_key\":\"s:retrain:abc\",\"x\":1}"};
        const char *targets[1] = {url};
        assert_int_equal(drift_store_trigger_add(s, &t, NULL, 0, targets, 1, NULL, err,
                                                 sizeof(err)),
                         0);
    }
    return s;
}

static void run(struct ctx *x, struct drift_store *s, const struct drift_outbox_conf *oc)
{
    char err[256];
    assert_int_equal(drift_outbox_open(&x->loop, s, oc, on_report, x, &x->o, err, sizeof(err)),
                     0);
    uv_timer_init(&x->loop, &x->deadline);
    x->deadline.data = x;
    uv_timer_start(&x->deadline, on_deadline, 20000, 0);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    assert_int_equal(x->timed_out, 0);
}

static void test_retry_then_exactly_once(void **state)
{
    struct ctx x = {0};
    x.stop_after_done = 1;
    uv_loop_init(&x.loop);
    char err[256], url[128];
    assert_int_equal(drift_receiver_open(&x.loop, 0, 2, on_request, &x, &x.r, err, sizeof(err)), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/retrain", drift_receiver_port(x.r));
    struct drift_store *s = store_with_row("a.db", url);
    struct drift_outbox_conf oc = {2000, 0, 3600, 20, 100, 4};
    run(&x, s, &oc);
    assert_int_equal(x.requests, 3);
    assert_int_equal(x.accepted, 1);
    assert_int_equal(x.pending, 2);
    assert_int_equal(x.done, 1);
    assert_string_equal(x.key, "s:retrain:abc");
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 0);
    drift_store_close(s);
}

static void test_unreachable_goes_dead(void **state)
{
    struct ctx x = {0};
    x.stop_after_done = 1;
    uv_loop_init(&x.loop);
    /* A port nobody listens on: bind one, read its number, close it. */
    char err[256], url[128];
    struct drift_receiver *tmp;
    assert_int_equal(drift_receiver_open(&x.loop, 0, 0, NULL, NULL, &tmp, err, sizeof(err)), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", drift_receiver_port(tmp));
    drift_receiver_close(tmp, NULL, NULL);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    struct drift_store *s = store_with_row("b.db", url);
    struct drift_outbox_conf oc = {1000, 2, 3600, 10, 50, 4};
    run(&x, s, &oc);
    assert_int_equal(x.pending, 1);
    assert_int_equal(x.dead, 1);
    assert_int_equal(drift_store_outbox_count(s, "dead"), 1);
    drift_store_close(s);
}

static void test_pending_survives_restart(void **state)
{
    char url[128], err[256];
    /* First life: the receiver is down and we stop before any success. */
    struct ctx x = {0};
    uv_loop_init(&x.loop);
    struct drift_receiver *tmp;
    assert_int_equal(drift_receiver_open(&x.loop, 0, 0, NULL, NULL, &tmp, err, sizeof(err)), 0);
    int port = drift_receiver_port(tmp);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/retrain", port);
    drift_receiver_close(tmp, NULL, NULL);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    struct drift_store *s = store_with_row("c.db", url);
    x.stop_after_done = 0;
    struct drift_outbox_conf oc = {1000, 0, 3600, 10, 50, 4};
    assert_int_equal(drift_outbox_open(&x.loop, s, &oc, on_report, &x, &x.o, err, sizeof(err)), 0);
    uv_timer_init(&x.loop, &x.deadline);
    x.deadline.data = &x;
    uv_timer_start(&x.deadline, on_deadline, 300, 0); /* "shutdown" after 300 ms */
    uv_run(&x.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x.loop), 0);
    assert_true(x.pending >= 1);
    assert_int_equal(x.done, 0);
    drift_store_close(s);
    /* Second life: the receiver is up on the same port; the row is delivered once. */
    struct ctx y = {0};
    y.stop_after_done = 1;
    uv_loop_init(&y.loop);
    assert_int_equal(drift_receiver_open(&y.loop, port, 0, on_request, &y, &y.r, err, sizeof(err)),
                     0);
    s = store_with_row("c.db", NULL);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    run(&y, s, &oc);
    assert_int_equal(y.requests, 1);
    assert_int_equal(y.done, 1);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 0);
    drift_store_close(s);
}

static void test_classify(void **state)
{
    assert_int_equal(drift_outbox_classify(200, 1), 1);
    assert_int_equal(drift_outbox_classify(204, 1), 1);
    assert_int_equal(drift_outbox_classify(503, 1), 0);
    assert_int_equal(drift_outbox_classify(500, 1), 0);
    assert_int_equal(drift_outbox_classify(429, 1), 0);
    assert_int_equal(drift_outbox_classify(0, 0), 0);
    assert_int_equal(drift_outbox_classify(400, 1), -1);
    assert_int_equal(drift_outbox_classify(404, 1), -1);
    assert_int_equal(drift_outbox_classify(301, 1), -1);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/driftd-test-outbox.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    drift_log_setup(0, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_exactly_once),
        cmocka_unit_test(test_unreachable_goes_dead),
        cmocka_unit_test(test_pending_survives_restart),
        cmocka_unit_test(test_classify),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
