/* The outbox on a real loop, with the real receiver and a real SQLite file: a delivery refused
 * twice with 503 is retried and accepted exactly once; an unreachable target is retried and then
 * marked dead at max_attempts; a row left pending at shutdown is delivered exactly once after a
 * restart; a row past max_age is dead without a request; several rows respect max_inflight and
 * each is delivered once; a receiver that never answers does not make the loop spin; closing
 * with a delivery in flight aborts it after the drain time and leaves its row pending; the
 * status classification. The receiver itself is checked with a raw client: requests in pieces,
 * case-insensitive headers, oversized requests refused, clients that never finish closed at the
 * deadline and connections beyond the cap closed at once; response bodies never reach stdout.
 * Every loop runs under a deadline and must close cleanly (uv_loop_close == 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift_op.h"
#include "log.h"
#include "outbox.h"
#include "receiver.h"
#include "store.h"

#define DEADLINE_MS 20000 /* no test may run longer */

int drift_outbox_classify(int http_status, int curl_ok);

static char dir[64];

/* ---------------------------------------------------------------------------------------------
 * Harness: one loop, a deadline, an iteration counter, the outbox and optionally a receiver.
 * -------------------------------------------------------------------------------------------*/
struct ctx {
    uv_loop_t loop;
    uv_timer_t deadline, linger;
    uv_check_t check;
    struct drift_outbox *o;
    struct drift_receiver *r;
    int requests, accepted, done, dead, pending;
    char key[256], path[256];
    char keys[16][64]; /* Idempotency-Key of every request, in order */
    int stop_after;    /* finish after this many final outcomes (done or dead); 0 = never */
    int linger_ms;     /* after the last outcome, kick the outbox and wait this long */
    int finished, timed_out;
    long iterations; /* loop iterations, counted by the check handle */
    int max_inflight_seen;
    char last_error[256];
    size_t resp_bytes; /* the receiver answers with a body this long (0: none) */
    int resp_status;   /* and this status (0: the receiver's own) */
};

static void closed_outbox(void *c)
{
    struct ctx *x = c;
    x->o = NULL;
}

static void finish(struct ctx *x)
{
    if (x->finished) {
        return;
    }
    x->finished = 1;
    uv_close((uv_handle_t *)&x->deadline, NULL);
    uv_close((uv_handle_t *)&x->linger, NULL);
    uv_close((uv_handle_t *)&x->check, NULL);
    if (x->o != NULL) {
        drift_outbox_close(x->o, 100, closed_outbox, x);
    }
    if (x->r != NULL) {
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

static void on_linger(uv_timer_t *t)
{
    finish(t->data);
}

static void on_check(uv_check_t *h)
{
    struct ctx *x = h->data;
    x->iterations++;
    if (x->o != NULL && drift_outbox_inflight(x->o) > x->max_inflight_seen) {
        x->max_inflight_seen = drift_outbox_inflight(x->o);
    }
}

static void ctx_init(struct ctx *x)
{
    memset(x, 0, sizeof(*x));
    assert_int_equal(uv_loop_init(&x->loop), 0);
    uv_timer_init(&x->loop, &x->deadline);
    uv_timer_init(&x->loop, &x->linger);
    uv_check_init(&x->loop, &x->check);
    x->deadline.data = x->linger.data = x->check.data = x;
}

static void on_request(void *c, const struct drift_request *req)
{
    struct ctx *x = c;
    if (x->requests < 16) {
        snprintf(x->keys[x->requests], sizeof(x->keys[0]), "%s",
                 req->idempotency_key ? req->idempotency_key : "");
    }
    x->requests++;
    if (x->resp_status != 0) {
        ((struct drift_request *)req)->status = x->resp_status;
    }
    if (x->resp_bytes > 0) {
        static const char line[] = "RESPONSE BODY ON STDOUT\n";
        char *body = malloc(x->resp_bytes);
        assert_non_null(body);
        for (size_t i = 0; i < x->resp_bytes; i++) {
            body[i] = line[i % (sizeof(line) - 1)];
        }
        ((struct drift_request *)req)->resp_body = body;
        ((struct drift_request *)req)->resp_len = x->resp_bytes;
        ((struct drift_request *)req)->resp_type = "text/plain";
    }
    x->accepted += req->status == 200;
    snprintf(x->key, sizeof(x->key), "%s", req->idempotency_key ? req->idempotency_key : "");
    snprintf(x->path, sizeof(x->path), "%s", req->path);
    assert_string_equal(req->method, "POST");
    assert_non_null(strstr(req->body, "\"idempotency_key\""));
    assert_int_equal(strlen(req->body), req->body_len);
}

static void on_report(void *c, const struct drift_outbox_row *r, const char *status, int http,
                      const char *error)
{
    struct ctx *x = c;
    if (strcmp(status, "done") == 0) {
        x->done++;
        assert_true(http >= 200 && http < 300);
    } else if (strcmp(status, "dead") == 0) {
        x->dead++;
    } else {
        assert_string_equal(status, "pending");
        x->pending++;
    }
    snprintf(x->last_error, sizeof(x->last_error), "%s", error ? error : "");
    if (x->stop_after > 0 && x->done + x->dead == x->stop_after) {
        if (x->linger_ms > 0) {
            /* Prove nothing more goes out: look for due rows at once, then wait a little. */
            drift_outbox_kick(x->o);
            uv_timer_start(&x->linger, on_linger, (uint64_t)x->linger_ms, 0);
        } else {
            finish(x);
        }
    }
}

static void db_path(char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/%s", dir, name);
}

/* Opens the store `name` and records n triggers (keys "s:retrain:<i>") with one target each,
 * created age_ms ago. */
static struct drift_store *store_with_old_rows(const char *name, const char *url, int n,
                                               int64_t age_ms)
{
    char p[160], err[256];
    db_path(p, sizeof(p), name);
    struct drift_store *s = drift_store_open(p, err, sizeof(err));
    assert_non_null(s);
    for (int i = 0; i < n; i++) {
        char key[64], body[128];
        snprintf(key, sizeof(key), "s:retrain:%d", i);
        snprintf(body, sizeof(body), "{\"idempotency_key\":\"%s\",\"x\":1}", key);
        struct drift_trigger_row t = {
            key, "s", "retrain", "data_drift", (int64_t)drift_wall_ms() - age_ms, body};
        const struct drift_action_ref targets[1] = {{"webhook", url}};
        assert_int_equal(
            drift_store_trigger_add(s, &t, NULL, 0, targets, 1, NULL, err, sizeof(err)), 0);
    }
    return s;
}

static struct drift_store *store_with_rows(const char *name, const char *url, int n)
{
    return store_with_old_rows(name, url, n, 0);
}

static long long query_int(const char *name, const char *sql)
{
    char p[160];
    db_path(p, sizeof(p), name);
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void start_outbox(struct ctx *x, struct drift_store *s, const struct drift_outbox_conf *oc,
                         uint64_t deadline_ms)
{
    char err[256];
    assert_int_equal(drift_outbox_open(&x->loop, s, oc, on_report, x, &x->o, err, sizeof(err)), 0);
    uv_timer_start(&x->deadline, on_deadline, deadline_ms, 0);
    uv_check_start(&x->check, on_check);
}

static void run(struct ctx *x)
{
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_null(x->o); /* done_cb ran */
    assert_int_equal(uv_loop_close(&x->loop), 0);
}

/* A port nothing listens on: open a receiver, read its port, close it. */
static int free_port(void)
{
    uv_loop_t loop;
    struct drift_receiver *tmp;
    char err[256];
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(drift_receiver_open(&loop, 0, 0, NULL, NULL, &tmp, err, sizeof(err)), 0);
    int port = drift_receiver_port(tmp);
    assert_true(port > 0);
    drift_receiver_close(tmp, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return port;
}

/* The outbox settings of a test: max age one hour, the rest as given. */
static struct drift_outbox_conf conf_of(int timeout_ms, int max_attempts, int backoff_base_ms,
                                        int backoff_max_ms, int max_inflight)
{
    struct drift_outbox_conf oc = {.timeout_ms = timeout_ms,
                                   .max_attempts = max_attempts,
                                   .max_age_s = 3600,
                                   .backoff_base_ms = backoff_base_ms,
                                   .backoff_max_ms = backoff_max_ms,
                                   .max_inflight = max_inflight};
    return oc;
}

/* Starts the receiver on x's loop (refusing the first fail_first requests) and writes its URL. */
static void open_receiver(struct ctx *x, int fail_first, char *url, size_t len)
{
    char err[256];
    assert_int_equal(drift_receiver_open(&x->loop, 0, fail_first, on_request, x, &x->r, err,
                                         sizeof(err)),
                     0);
    snprintf(url, len, "http://127.0.0.1:%d/retrain", drift_receiver_port(x->r));
}

/* ---------------------------------------------------------------------------------------------
 * Outbox
 * -------------------------------------------------------------------------------------------*/
static void test_retry_then_exactly_once(void **state)
{
    struct ctx x;
    ctx_init(&x);
    x.stop_after = 1;
    x.linger_ms = 150;
    char url[128];
    open_receiver(&x, 2, url, sizeof(url));
    struct drift_store *s = store_with_rows("a.db", url, 1);
    struct drift_outbox_conf oc = conf_of(2000, 0, 20, 100, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    run(&x);
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(x.requests, 3);
    assert_int_equal(x.accepted, 1);
    assert_int_equal(x.pending, 2);
    assert_int_equal(x.done, 1);
    assert_int_equal(x.dead, 0);
    assert_string_equal(x.key, "s:retrain:0");
    assert_string_equal(x.path, "/retrain");
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 0);
    drift_store_close(s);
    assert_int_equal(query_int("a.db", "SELECT attempts FROM outbox"), 3);
    assert_int_equal(query_int("a.db", "SELECT http_status FROM outbox WHERE status = 'done'"),
                     200);
}

static void test_unreachable_goes_dead(void **state)
{
    struct ctx x;
    ctx_init(&x);
    x.stop_after = 1;
    x.linger_ms = 100;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", free_port());
    struct drift_store *s = store_with_rows("b.db", url, 1);
    struct drift_outbox_conf oc = conf_of(1000, 2, 10, 50, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    run(&x);
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(x.pending, 1);
    assert_int_equal(x.dead, 1);
    assert_int_equal(x.done, 0);
    assert_non_null(strstr(x.last_error, "max_attempts"));
    assert_int_equal(drift_store_outbox_count(s, "dead"), 1);
    drift_store_close(s);
    assert_int_equal(query_int("b.db", "SELECT attempts FROM outbox"), 2);
    assert_int_equal(query_int("b.db", "SELECT last_error IS NOT NULL FROM outbox"), 1);
}

static void test_pending_survives_restart(void **state)
{
    char url[128], err[256];
    int port = free_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/retrain", port);
    struct drift_outbox_conf oc = conf_of(1000, 0, 10, 50, 4);

    /* First life: the receiver is down; "shut down" after 300 ms, before any success. */
    struct ctx x;
    ctx_init(&x);
    struct drift_store *s = store_with_rows("c.db", url, 1);
    start_outbox(&x, s, &oc, 300);
    run(&x);
    assert_int_equal(x.timed_out, 1); /* the planned shutdown */
    assert_true(x.pending >= 1);
    assert_int_equal(x.done + x.dead, 0);
    drift_store_close(s);
    assert_int_equal(query_int("c.db", "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"), 1);

    /* Second life: the receiver is up on the same port; the row is delivered once. */
    struct ctx y;
    ctx_init(&y);
    y.stop_after = 1;
    y.linger_ms = 150;
    assert_int_equal(drift_receiver_open(&y.loop, port, 0, on_request, &y, &y.r, err, sizeof(err)),
                     0);
    s = store_with_rows("c.db", NULL, 0);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    start_outbox(&y, s, &oc, DEADLINE_MS);
    run(&y);
    assert_int_equal(y.timed_out, 0);
    assert_int_equal(y.requests, 1);
    assert_int_equal(y.done, 1);
    assert_string_equal(y.key, "s:retrain:0");
    assert_int_equal(drift_store_outbox_count(s, "pending"), 0);
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    drift_store_close(s);
}

/* A row already older than max_age when it is picked up is marked dead without a request. */
static void test_expired_row_dead_without_attempt(void **state)
{
    struct ctx x;
    ctx_init(&x);
    x.stop_after = 1;
    x.linger_ms = 100;
    char url[128];
    open_receiver(&x, 0, url, sizeof(url));
    struct drift_store *s = store_with_old_rows("g.db", url, 1, 7200 * 1000);
    struct drift_outbox_conf oc = conf_of(2000, 0, 20, 100, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    run(&x);
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(x.requests, 0);
    assert_int_equal(x.dead, 1);
    assert_non_null(strstr(x.last_error, "max_age"));
    assert_int_equal(drift_store_outbox_count(s, "dead"), 1);
    drift_store_close(s);
    assert_int_equal(query_int("g.db", "SELECT attempts FROM outbox"), 0);
}

static void test_inflight_bounded_each_once(void **state)
{
    struct ctx x;
    ctx_init(&x);
    x.stop_after = 6;
    x.linger_ms = 150;
    char url[128];
    open_receiver(&x, 0, url, sizeof(url));
    struct drift_store *s = store_with_rows("d.db", url, 6);
    struct drift_outbox_conf oc = conf_of(2000, 0, 20, 100, 2);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    run(&x);
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(x.requests, 6);
    assert_int_equal(x.done, 6);
    assert_true(x.max_inflight_seen >= 1 && x.max_inflight_seen <= 2);
    for (int i = 0; i < 6; i++) {
        char want[64];
        int seen = 0;
        snprintf(want, sizeof(want), "s:retrain:%d", i);
        for (int j = 0; j < 6; j++) {
            seen += strcmp(x.keys[j], want) == 0;
        }
        assert_int_equal(seen, 1);
    }
    assert_int_equal(drift_store_outbox_count(s, "done"), 6);
    drift_store_close(s);
}

/* A receiver that accepts and reads but never answers. */
struct silent {
    uv_tcp_t listener;
    uv_tcp_t conns[4];
    int nconns;
    char buf[4096];
    struct ctx *close_on_connect; /* when set, close the outbox as soon as a request arrives */
};

static void silent_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct silent *sl = h->data;
    *b = uv_buf_init(sl->buf, sizeof(sl->buf));
}

static void silent_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    if (n < 0) {
        uv_read_stop(st);
    }
}

static void silent_conn(uv_stream_t *server, int status)
{
    struct silent *sl = server->data;
    assert_int_equal(status, 0);
    assert_true(sl->nconns < 4);
    uv_tcp_t *c = &sl->conns[sl->nconns++];
    uv_tcp_init(server->loop, c);
    c->data = sl;
    assert_int_equal(uv_accept(server, (uv_stream_t *)c), 0);
    uv_read_start((uv_stream_t *)c, silent_alloc, silent_read);
    if (sl->close_on_connect != NULL) {
        assert_int_equal(drift_outbox_inflight(sl->close_on_connect->o), 1);
        finish(sl->close_on_connect);
    }
}

/* Listens on 127.0.0.1 (any port) and returns the URL of path on it. */
static void silent_open(uv_loop_t *loop, struct silent *sl, const char *path, char *url,
                        size_t urllen)
{
    uv_tcp_init(loop, &sl->listener);
    sl->listener.data = sl;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&sl->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&sl->listener, 8, silent_conn), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&sl->listener, (struct sockaddr *)&ss, &len);
    snprintf(url, urllen, "http://127.0.0.1:%d%s", ntohs(((struct sockaddr_in *)&ss)->sin_port),
             path);
}

/* Runs the loop until the test has finished and the outbox is closed, then closes the silent
 * server (closing it earlier would end the request) and drains. */
static void silent_run(struct ctx *x, struct silent *sl)
{
    while (uv_run(&x->loop, UV_RUN_ONCE) != 0 && (!x->finished || x->o != NULL)) {
    }
    uv_close((uv_handle_t *)&sl->listener, NULL);
    for (int i = 0; i < sl->nconns; i++) {
        uv_close((uv_handle_t *)&sl->conns[i], NULL);
    }
    run(x);
}

/* Regression: the pick timer used to re-arm every millisecond while a due row was in flight
 * (the row is still "pending" in the store), spinning the loop for the whole request. */
static void test_slow_receiver_does_not_spin(void **state)
{
    struct ctx x;
    ctx_init(&x);
    x.stop_after = 1;
    struct silent sl = {0};
    char url[128];
    silent_open(&x.loop, &sl, "/slow", url, sizeof(url));
    struct drift_store *s = store_with_rows("e.db", url, 1);
    struct drift_outbox_conf oc = conf_of(600, 1, 10, 50, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    silent_run(&x, &sl);
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(sl.nconns, 1);
    assert_int_equal(x.dead, 1);
    assert_non_null(strstr(x.last_error, "max_attempts"));
    /* 600 ms of waiting on one socket and curl's timer takes a handful of iterations; the old
     * busy re-arm took one per millisecond. */
    assert_true(x.iterations < 100);
    drift_store_close(s);
}

/* Close while a delivery is in flight: it gets drain_ms (100 ms in finish()) to complete, is
 * then aborted, and its row stays pending and untouched for the next start. */
static void test_close_aborts_inflight_row_stays_pending(void **state)
{
    struct ctx x;
    ctx_init(&x);
    struct silent sl = {0};
    sl.close_on_connect = &x;
    char url[128];
    silent_open(&x.loop, &sl, "/hang", url, sizeof(url));
    struct drift_store *s = store_with_rows("f.db", url, 1);
    struct drift_outbox_conf oc = conf_of(5000, 0, 10, 50, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    uint64_t t0 = drift_now_ms();
    silent_run(&x, &sl);
    assert_true(drift_now_ms() - t0 < 2000); /* the drain deadline, not the request timeout */
    assert_int_equal(x.timed_out, 0);
    assert_int_equal(sl.nconns, 1);
    assert_int_equal(x.done + x.dead + x.pending, 0); /* an aborted attempt is not an outcome */
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    drift_store_close(s);
    assert_int_equal(query_int("f.db", "SELECT attempts FROM outbox"), 0);
}

/* Regression (security review M1): without a write callback libcurl wrote every response body to
 * driftd's stdout, unbounded. A 200 with a body far past the cap is done (the body is cut, the
 * status decides), a 400 with a body is dead, and stdout receives nothing. */
static void test_response_body_dropped(void **state)
{
    fflush(stdout);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    int saved = dup(1);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(cap), 1), 1);

    struct ctx x;
    ctx_init(&x);
    x.stop_after = 1;
    x.resp_bytes = 1 << 20; /* 16 times the cap */
    char url[128];
    open_receiver(&x, 0, url, sizeof(url));
    struct drift_store *s = store_with_rows("h.db", url, 1);
    struct drift_outbox_conf oc = conf_of(5000, 3, 10, 50, 4);
    start_outbox(&x, s, &oc, DEADLINE_MS);
    run(&x);
    int done_big = x.done, requests_big = x.requests, timed_out = x.timed_out;
    drift_store_close(s);

    struct ctx y;
    ctx_init(&y);
    y.stop_after = 1;
    y.resp_bytes = 300;
    y.resp_status = 400;
    open_receiver(&y, 0, url, sizeof(url));
    s = store_with_rows("i.db", url, 1);
    start_outbox(&y, s, &oc, DEADLINE_MS);
    run(&y);
    drift_store_close(s);

    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    long written = ftell(cap) >= 0 && fseek(cap, 0, SEEK_END) == 0 ? ftell(cap) : -1;
    fclose(cap);
    assert_int_equal(timed_out, 0);
    assert_int_equal(requests_big, 1);
    assert_int_equal(done_big, 1);
    assert_int_equal(y.timed_out, 0);
    assert_int_equal(y.requests, 1);
    assert_int_equal(y.dead, 1);
    assert_string_equal(y.last_error, "HTTP 400");
    assert_int_equal(written, 0); /* nothing on stdout */
}

static void test_classify(void **state)
{
    assert_int_equal(drift_outbox_classify(200, 1), 1);
    assert_int_equal(drift_outbox_classify(202, 1), 1);
    assert_int_equal(drift_outbox_classify(204, 1), 1);
    assert_int_equal(drift_outbox_classify(503, 1), 0);
    assert_int_equal(drift_outbox_classify(500, 1), 0);
    assert_int_equal(drift_outbox_classify(599, 1), 0);
    assert_int_equal(drift_outbox_classify(429, 1), 0);
    assert_int_equal(drift_outbox_classify(0, 0), 0);   /* network error */
    assert_int_equal(drift_outbox_classify(200, 0), 0); /* transfer failed after the status */
    assert_int_equal(drift_outbox_classify(400, 1), -1);
    assert_int_equal(drift_outbox_classify(404, 1), -1);
    assert_int_equal(drift_outbox_classify(408, 1), -1);
    assert_int_equal(drift_outbox_classify(409, 1), -1);
    assert_int_equal(drift_outbox_classify(301, 1), -1);
    assert_int_equal(drift_outbox_classify(304, 1), -1);
    assert_int_equal(drift_outbox_classify(100, 1), -1);
    assert_int_equal(drift_outbox_classify(600, 1), -1);
}

/* ---------------------------------------------------------------------------------------------
 * Receiver, with a raw client that sends its request in pieces
 * -------------------------------------------------------------------------------------------*/
struct client {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t pause;
    const char *const *chunks; /* NULL-terminated */
    int next;
    char resp[512];
    size_t resp_len;
    int closed;
    struct rctx *rc;
};

struct rctx {
    uv_loop_t loop;
    uv_timer_t deadline;
    struct drift_receiver *r;
    struct client cl[3];
    int open_clients;
    int calls, timed_out;
    char body[64], key[64], path[64];
    size_t body_len;
};

static void rctx_finish(struct rctx *rc)
{
    if (!uv_is_closing((uv_handle_t *)&rc->deadline)) {
        uv_close((uv_handle_t *)&rc->deadline, NULL);
    }
    if (rc->r != NULL) {
        drift_receiver_close(rc->r, NULL, NULL);
        rc->r = NULL;
    }
}

static void client_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    if (++c->closed == 2 && --c->rc->open_clients == 0) {
        rctx_finish(c->rc);
    }
}

static void client_close(struct client *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, client_closed);
        uv_close((uv_handle_t *)&c->pause, client_closed);
    }
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct client *c = h->data;
    *b = uv_buf_init(c->resp + c->resp_len, (unsigned)(sizeof(c->resp) - 1 - c->resp_len));
}

static void client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct client *c = s->data;
    if (n < 0) {
        client_close(c); /* EOF: the receiver closed after answering */
        return;
    }
    c->resp_len += (size_t)n;
    c->resp[c->resp_len] = '\0';
}

static void client_send_next(struct client *c);

static void client_pause_over(uv_timer_t *t)
{
    client_send_next(t->data);
}

/* Each piece goes out 15 ms after the previous one was written, so the receiver sees them in
 * separate reads. */
static void client_written(uv_write_t *w, int status)
{
    struct client *c = w->data;
    if (status != 0) {
        return; /* the receiver may close early (413); the read side sees the answer */
    }
    if (c->chunks[c->next] != NULL) {
        uv_timer_start(&c->pause, client_pause_over, 15, 0);
    }
}

static void client_send_next(struct client *c)
{
    const char *chunk = c->chunks[c->next++];
    uv_buf_t b = uv_buf_init((char *)chunk, (unsigned)strlen(chunk));
    c->wr.data = c;
    assert_int_equal(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, client_written), 0);
}

static void client_connected(uv_connect_t *req, int status)
{
    struct client *c = req->data;
    assert_int_equal(status, 0);
    uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read);
    client_send_next(c);
}

static void client_start(struct rctx *rc, struct client *c, int port, const char *const *chunks)
{
    c->rc = rc;
    c->chunks = chunks;
    uv_tcp_init(&rc->loop, &c->tcp);
    uv_timer_init(&rc->loop, &c->pause);
    c->tcp.data = c;
    c->pause.data = c;
    c->conn.data = c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    assert_int_equal(
        uv_tcp_connect(&c->conn, &c->tcp, (const struct sockaddr *)&addr, client_connected), 0);
    rc->open_clients++;
}

static void on_raw_request(void *ctx, const struct drift_request *req)
{
    struct rctx *rc = ctx;
    rc->calls++;
    snprintf(rc->body, sizeof(rc->body), "%s", req->body);
    rc->body_len = req->body_len;
    snprintf(rc->key, sizeof(rc->key), "%s", req->idempotency_key ? req->idempotency_key : "");
    snprintf(rc->path, sizeof(rc->path), "%s", req->path);
    assert_int_equal(req->status, 200);
}

static void on_raw_deadline(uv_timer_t *t)
{
    struct rctx *rc = t->data;
    rc->timed_out = 1;
    for (int i = 0; i < 3; i++) {
        client_close(&rc->cl[i]);
    }
    rctx_finish(rc);
}

static void test_receiver_pieces_and_limits(void **state)
{
    static const char *const pieces[] = {"POST /p?q=1 HT",
                                         "TP/1.1\r\nHost: x\r\ncontent-le",
                                         "ngth: 5\r\nidempotency-KEY:  abc \r",
                                         "\n\r\nhe",
                                         "llo",
                                         NULL};
    static char big_header[17 * 1024 + 64];
    static const char *big_header_chunks[] = {big_header, NULL};
    static const char *const big_body[] = {"POST /b HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
                                           NULL};
    int n = snprintf(big_header, sizeof(big_header), "POST /h HTTP/1.1\r\nX-Pad: ");
    memset(big_header + n, 'a', 17 * 1024);
    big_header[n + 17 * 1024] = '\0'; /* no blank line: the header never ends */

    struct rctx rc;
    memset(&rc, 0, sizeof(rc));
    assert_int_equal(uv_loop_init(&rc.loop), 0);
    char err[256];
    assert_int_equal(
        drift_receiver_open(&rc.loop, 0, 0, on_raw_request, &rc, &rc.r, err, sizeof(err)), 0);
    int port = drift_receiver_port(rc.r);
    uv_timer_init(&rc.loop, &rc.deadline);
    rc.deadline.data = &rc;
    uv_timer_start(&rc.deadline, on_raw_deadline, DEADLINE_MS, 0);
    client_start(&rc, &rc.cl[0], port, pieces);
    client_start(&rc, &rc.cl[1], port, big_header_chunks);
    client_start(&rc, &rc.cl[2], port, big_body);
    uv_run(&rc.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&rc.loop), 0);
    assert_int_equal(rc.timed_out, 0);

    assert_non_null(strstr(rc.cl[0].resp, "HTTP/1.1 200 "));
    assert_non_null(strstr(rc.cl[0].resp, "Content-Length: 0\r\n"));
    assert_non_null(strstr(rc.cl[0].resp, "Connection: close\r\n"));
    assert_non_null(strstr(rc.cl[1].resp, "HTTP/1.1 413 "));
    assert_non_null(strstr(rc.cl[2].resp, "HTTP/1.1 413 "));
    assert_int_equal(rc.calls, 1); /* refused requests are not handed over */
    assert_string_equal(rc.body, "hello");
    assert_int_equal(rc.body_len, 5);
    assert_string_equal(rc.key, "abc");
    assert_string_equal(rc.path, "/p?q=1");
}

/* ---------------------------------------------------------------------------------------------
 * Receiver limits: clients that connect and never finish, and more clients than the cap
 * -------------------------------------------------------------------------------------------*/
struct lclient {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    const char *send; /* written once connected, or NULL */
    uint64_t t_connected, t_closed;
    int connected, closed;
    char resp[256];
    size_t resp_len;
    struct lctx *lc;
};

struct lctx {
    uv_loop_t loop;
    uv_timer_t deadline;
    uv_check_t check;
    struct drift_receiver *r;
    struct lclient cl[4]; /* A idle, B a header in part, C beyond the cap, D a whole request */
    int port, started, timed_out, calls;
};

static void lclient_start(struct lctx *lc, struct lclient *c, const char *send);
static void lstep(struct lctx *lc);

static void lclient_closed(uv_handle_t *h)
{
    struct lclient *c = h->data;
    c->closed = 1;
    lstep(c->lc);
}

static void lclient_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct lclient *c = h->data;
    *b = uv_buf_init(c->resp + c->resp_len, (unsigned)(sizeof(c->resp) - 1 - c->resp_len));
}

static void lclient_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct lclient *c = st->data;
    if (n < 0) {
        c->t_closed = uv_now(st->loop);
        uv_close((uv_handle_t *)&c->tcp, lclient_closed);
        return;
    }
    c->resp_len += (size_t)n;
    c->resp[c->resp_len] = '\0';
}

static void lclient_written(uv_write_t *w, int status)
{
}

static void lclient_connected(uv_connect_t *req, int status)
{
    struct lclient *c = req->data;
    assert_int_equal(status, 0);
    c->connected = 1;
    c->t_connected = uv_now(req->handle->loop);
    uv_read_start((uv_stream_t *)&c->tcp, lclient_alloc, lclient_read);
    if (c->send != NULL) {
        uv_buf_t b = uv_buf_init((char *)c->send, (unsigned)strlen(c->send));
        assert_int_equal(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, lclient_written), 0);
    }
}

static void lclient_start(struct lctx *lc, struct lclient *c, const char *send)
{
    c->lc = lc;
    c->send = send;
    uv_tcp_init(&lc->loop, &c->tcp);
    c->tcp.data = c;
    c->conn.data = c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", lc->port, &addr);
    assert_int_equal(
        uv_tcp_connect(&c->conn, &c->tcp, (const struct sockaddr *)&addr, lclient_connected), 0);
    lc->started++;
}

static void lfinish(struct lctx *lc)
{
    if (uv_is_closing((uv_handle_t *)&lc->deadline)) {
        return;
    }
    uv_close((uv_handle_t *)&lc->deadline, NULL);
    uv_close((uv_handle_t *)&lc->check, NULL);
    for (int i = 0; i < 4; i++) {
        if (i < lc->started && !uv_is_closing((uv_handle_t *)&lc->cl[i].tcp)) {
            uv_close((uv_handle_t *)&lc->cl[i].tcp, lclient_closed);
        }
    }
    drift_receiver_close(lc->r, NULL, NULL);
}

/* Each step waits for a condition: C once the receiver holds A and B (looked at after each
 * poll), D once A, B and C are gone, the end once D has its answer (at each client's close). */
static void lstep(struct lctx *lc)
{
    struct lclient *a = &lc->cl[0], *b = &lc->cl[1], *c = &lc->cl[2], *d = &lc->cl[3];
    if (lc->started == 2 && drift_receiver_connections(lc->r) == 2) {
        lclient_start(lc, c, "POST /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    } else if (lc->started == 3 && a->closed && b->closed && c->closed) {
        lclient_start(lc, d, "POST /d HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
    } else if (lc->started == 4 && d->closed) {
        lfinish(lc);
    }
}

static void lcheck(uv_check_t *h)
{
    lstep(h->data);
}

static void ldeadline(uv_timer_t *t)
{
    struct lctx *lc = t->data;
    lc->timed_out = 1;
    lfinish(lc);
}

static void lrequest(void *ctx, const struct drift_request *req)
{
    ((struct lctx *)ctx)->calls++;
}

/* Regression (security review M4): a client that connected and sent nothing, or half a header,
 * held its connection (and its buffer) for as long as it liked, and there was no bound on how
 * many did. Now each is closed at the request deadline, a connection beyond the cap is closed at
 * once, and a well-behaved client is served once the others are gone. */
static void test_receiver_deadline_and_cap(void **state)
{
    static struct lctx lc; /* handles must outlive the loop run */
    memset(&lc, 0, sizeof(lc));
    assert_int_equal(uv_loop_init(&lc.loop), 0);
    char err[256];
    assert_int_equal(drift_receiver_open(&lc.loop, 0, 0, lrequest, &lc, &lc.r, err, sizeof(err)),
                     0);
    drift_receiver_limits(lc.r, 400, 2);
    lc.port = drift_receiver_port(lc.r);
    uv_timer_init(&lc.loop, &lc.deadline);
    uv_check_init(&lc.loop, &lc.check);
    lc.deadline.data = lc.check.data = &lc;
    uv_timer_start(&lc.deadline, ldeadline, DEADLINE_MS, 0);
    uv_check_start(&lc.check, lcheck);
    lclient_start(&lc, &lc.cl[0], NULL);
    lclient_start(&lc, &lc.cl[1], "POST /b HTTP/1.1\r\nHost: x\r\n");
    uv_run(&lc.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&lc.loop), 0);
    assert_int_equal(lc.timed_out, 0);
    for (int i = 0; i < 3; i++) {
        uint64_t held = lc.cl[i].t_closed - lc.cl[i].t_connected;
        print_message("client %c: held %llu ms, answer '%.20s'\n", 'A' + i,
                      (unsigned long long)held, lc.cl[i].resp);
        assert_int_equal(lc.cl[i].resp_len, 0); /* closed without an answer */
        if (i < 2) {
            assert_true(held >= 300 && held < 5000); /* the deadline, not the test's */
        } else {
            assert_true(held < 300); /* beyond the cap: closed at once */
        }
    }
    assert_non_null(strstr(lc.cl[3].resp, "HTTP/1.1 200 "));
    assert_int_equal(lc.calls, 1); /* only D's request was handed over */
}

static void test_receiver_port_in_use(void **state)
{
    uv_loop_t loop;
    struct drift_receiver *a, *b = (void *)1;
    char err[256];
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(drift_receiver_open(&loop, 0, 0, NULL, NULL, &a, err, sizeof(err)), 0);
    char want[32];
    snprintf(want, sizeof(want), ":%d", drift_receiver_port(a));
    assert_int_equal(
        drift_receiver_open(&loop, drift_receiver_port(a), 0, NULL, NULL, &b, err, sizeof(err)),
        DRIFT_EIO);
    assert_null(b);
    assert_non_null(strstr(err, want));
    assert_int_equal(drift_receiver_open(&loop, 70000, 0, NULL, NULL, &b, err, sizeof(err)),
                     DRIFT_EINVAL);
    drift_receiver_close(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/driftd-test-outbox.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    drift_log_setup(0, 0);
    signal(SIGPIPE, SIG_IGN); /* a write to a closed socket is an error code, as in driftd */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_exactly_once),
        cmocka_unit_test(test_unreachable_goes_dead),
        cmocka_unit_test(test_pending_survives_restart),
        cmocka_unit_test(test_expired_row_dead_without_attempt),
        cmocka_unit_test(test_inflight_bounded_each_once),
        cmocka_unit_test(test_slow_receiver_does_not_spin),
        cmocka_unit_test(test_close_aborts_inflight_row_stays_pending),
        cmocka_unit_test(test_response_body_dropped),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_receiver_pieces_and_limits),
        cmocka_unit_test(test_receiver_port_in_use),
        cmocka_unit_test(test_receiver_deadline_and_cap),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) != 0) {
        rc = 1;
    }
    return rc;
}
