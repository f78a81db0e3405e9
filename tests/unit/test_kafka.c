/*
 * Unit tests for engine/kafka.c and engine/mock.c: a round trip of keyed messages through the
 * local mock cluster with the loop-driven producer and consumer group, and the error path of a
 * bad librdkafka property. Every test leaves the loop closable (no leaked handle).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "kafka.h"
#include "log.h"

#define RT_MESSAGES 20000    /* messages in the round trip */
#define RT_PARTITIONS 8      /* keyed, so they spread evenly */
#define RT_CHUNK 2500        /* sends per producer tick */
#define RT_DEADLINE_MS 30000 /* scaled by $TMUL */

static int tmul(void)
{
    const char *s = getenv("TMUL");
    int m = s ? atoi(s) : 1;
    return m > 0 ? m : 1;
}

/* ---------------------------------------------------------------------------------------------
 * Round trip
 * -------------------------------------------------------------------------------------------*/
struct rt {
    uv_loop_t loop;
    uv_timer_t tick, deadline;
    struct drift_producer *producer;
    struct drift_consumer *consumer;
    const char *topic;
    int sent;
    int delivered, dr_failed, dr_bad_opaque;
    unsigned char *seen;
    int received;   /* distinct messages */
    int duplicates; /* at-least-once may redeliver after a rebalance */
    int mismatched; /* payload not matching its key */
    int timed_out;
    int finished;
};

static int rt_payload(char *buf, size_t len, int i)
{
    return snprintf(buf, len, "{\"i\":%d,\"x\":%d.%03d,\"pad\":\"%0*d\"}", i, i % 977, i % 1000,
                    16 + i % 32, i);
}

static void rt_finish(struct rt *r)
{
    if (r->finished) {
        return;
    }
    r->finished = 1;
    uv_timer_stop(&r->tick);
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_timer_stop(&r->deadline);
    uv_close((uv_handle_t *)&r->deadline, NULL);
    drift_consumer_close(r->consumer);
    r->consumer = NULL;
    drift_producer_close(r->producer, 5000);
    r->producer = NULL;
}

static void rt_on_dr(void *ctx, void *opaque, int err, const char *errstr)
{
    struct rt *r = ctx;
    if (err != 0) {
        r->dr_failed++;
        return;
    }
    /* The opaque is the message index + 1. */
    uintptr_t i = (uintptr_t)opaque;
    if (i < 1 || i > RT_MESSAGES) {
        r->dr_bad_opaque++;
    }
    r->delivered++;
}

static void rt_on_batch(void *ctx, rd_kafka_message_t **msgs, size_t n)
{
    struct rt *r = ctx;
    assert_true(n >= 1);
    for (size_t k = 0; k < n; k++) {
        const rd_kafka_message_t *m = msgs[k];
        assert_int_equal(m->err, 0);
        char key[32], want[128];
        if (m->key_len == 0 || m->key_len >= sizeof(key)) {
            r->mismatched++;
            continue;
        }
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        int i = atoi(key + 1);
        if (key[0] != 'k' || i < 0 || i >= RT_MESSAGES) {
            r->mismatched++;
            continue;
        }
        int wl = rt_payload(want, sizeof(want), i);
        if (m->len != (size_t)wl || memcmp(m->payload, want, (size_t)wl) != 0) {
            r->mismatched++;
            continue;
        }
        if (r->seen[i]) {
            r->duplicates++;
        } else {
            r->seen[i] = 1;
            r->received++;
        }
    }
    if (r->received == RT_MESSAGES && r->delivered + r->dr_failed == RT_MESSAGES) {
        /* Closing from inside the batch callback is allowed; it completes after the batch. */
        rt_finish(r);
    }
}

static void rt_on_tick(uv_timer_t *t)
{
    struct rt *r = t->data;
    char key[32], val[128];
    for (int k = 0; k < RT_CHUNK && r->sent < RT_MESSAGES; k++) {
        int kl = snprintf(key, sizeof(key), "k%d", r->sent);
        int vl = rt_payload(val, sizeof(val), r->sent);
        int rc = drift_producer_send(r->producer, r->topic, key, (size_t)kl, val, (size_t)vl,
                                     (void *)(uintptr_t)(r->sent + 1));
        if (rc == DRIFT_EAGAIN) {
            break;
        }
        assert_int_equal(rc, 0);
        r->sent++;
    }
    /* All consumed before the last reports were served: finish from here. */
    if (r->received == RT_MESSAGES && r->delivered + r->dr_failed == RT_MESSAGES) {
        rt_finish(r);
    }
}

static void rt_on_deadline(uv_timer_t *t)
{
    struct rt *r = t->data;
    r->timed_out = 1;
    rt_finish(r);
}

static void test_round_trip(void **state)
{
    char err[512] = "";
    struct drift_mock_topic topics[] = {{"rt", RT_PARTITIONS}};
    struct drift_mock *mock = drift_mock_create(3, topics, 1, err, sizeof(err));
    assert_non_null(mock);
    assert_non_null(drift_mock_bootstraps(mock));
    assert_int_equal(drift_mock_topic_create(mock, "rt-extra", 2), 0);
    assert_int_equal(drift_mock_topic_create(mock, "", 2), DRIFT_EFAULT);

    struct rt *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->seen = calloc(RT_MESSAGES, 1);
    assert_non_null(r->seen);
    r->topic = "rt";
    assert_int_equal(uv_loop_init(&r->loop), 0);

    const char *subs[] = {"rt"};
    struct drift_kv props[] = {{"session.timeout.ms", "6000"}};
    int rc =
        drift_consumer_open(&r->loop, drift_mock_bootstraps(mock), "rt-group", "earliest", props, 1,
                            subs, 1, 500, rt_on_batch, r, &r->consumer, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(r->consumer);
    rc = drift_producer_open(&r->loop, drift_mock_bootstraps(mock), NULL, 0, rt_on_dr, r,
                             &r->producer, err, sizeof(err));
    assert_int_equal(rc, 0);

    uv_timer_init(&r->loop, &r->tick);
    uv_timer_init(&r->loop, &r->deadline);
    r->tick.data = r->deadline.data = r;
    uv_timer_start(&r->tick, rt_on_tick, 0, 10);
    uv_timer_start(&r->deadline, rt_on_deadline, (uint64_t)RT_DEADLINE_MS * (uint64_t)tmul(), 0);
    uv_run(&r->loop, UV_RUN_DEFAULT);

    assert_int_equal(uv_loop_close(&r->loop), 0);
    print_message("round trip: sent %d delivered %d received %d duplicates %d\n", r->sent,
                  r->delivered, r->received, r->duplicates);
    assert_false(r->timed_out);
    assert_int_equal(r->sent, RT_MESSAGES);
    assert_int_equal(r->delivered, RT_MESSAGES);
    assert_int_equal(r->dr_failed, 0);
    assert_int_equal(r->dr_bad_opaque, 0);
    assert_int_equal(r->mismatched, 0);
    assert_int_equal(r->received, RT_MESSAGES);
    drift_mock_destroy(mock);
    free(r->seen);
    free(r);
}

/* ---------------------------------------------------------------------------------------------
 * Errors
 * -------------------------------------------------------------------------------------------*/
static int bad_calls;

static void bad_on_batch(void *ctx, rd_kafka_message_t **msgs, size_t n)
{
    bad_calls++;
}

static void test_bad_property(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char err[512] = "";
    const char *subs[] = {"t"};
    struct drift_kv props[] = {{"fetch.min.bytes", "1"}, {"no.such.property", "1"}};
    struct drift_consumer *c = (struct drift_consumer *)&loop; /* must be reset to NULL */
    int rc = drift_consumer_open(&loop, "127.0.0.1:1", "g", "earliest", props, 2, subs, 1, 100,
                                 bad_on_batch, NULL, &c, err, sizeof(err));
    assert_true(rc < 0);
    assert_null(c);
    assert_non_null(strstr(err, "no.such.property"));

    /* A bad value names its key too, and so does the producer. */
    struct drift_kv badval[] = {{"fetch.min.bytes", "lots"}};
    err[0] = '\0';
    rc = drift_consumer_open(&loop, "127.0.0.1:1", "g", "earliest", badval, 1, subs, 1, 100,
                             bad_on_batch, NULL, &c, err, sizeof(err));
    assert_true(rc < 0);
    assert_non_null(strstr(err, "fetch.min.bytes"));
    struct drift_producer *p = NULL;
    err[0] = '\0';
    rc = drift_producer_open(&loop, "127.0.0.1:1", props + 1, 1, NULL, NULL, &p, err, sizeof(err));
    assert_true(rc < 0);
    assert_null(p);
    assert_non_null(strstr(err, "no.such.property"));

    /* Nothing was left on the loop, and the callback never ran. */
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(bad_calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_mock_bad_args(void **state)
{
    char err[256] = "";
    assert_null(drift_mock_create(0, NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "brokers"));
    struct drift_mock_topic bad[] = {{"x", 0}};
    err[0] = '\0';
    assert_null(drift_mock_create(1, bad, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "partitions"));
    drift_mock_destroy(NULL);
    drift_consumer_close(NULL);
    drift_producer_close(NULL, 0);
}

int main(void)
{
    drift_log_setup(getenv("TEST_LOG_DEBUG") ? DRIFT_LOG_DEBUG : DRIFT_LOG_WARN, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_property),
        cmocka_unit_test(test_mock_bad_args),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
