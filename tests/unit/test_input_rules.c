/* Unit tests for the bad-input rules of docs/input-rules.md that tests/unit/test_decode.c and
 * test_pipeline.c do not cover: whole-message edge cases, numeric, categorical, label,
 * prediction, time and id values, the admission rules' boundaries, and label events. Streams
 * come from YAML through the real config loader, so every default is the one driftd runs with. */
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

#include "config.h"
#include "drift_op.h"
#include "join.h"
#include "stream.h"

static apr_pool_t *pool;

static void on_config_error(void *ctx, const char *msg)
{
    print_error("config: %s\n", msg);
}

/* The first stream of a config made of HEAD and the stream's keys. */
static const struct drift_stream_conf *stream_conf(const char *keys)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "kafka: {brokers: embedded}\n"
             "streams:\n"
             "  - name: s\n"
             "    topic: t\n"
             "%s",
             keys);
    struct drift_config *c = NULL;
    if (drift_config_load_buffer(pool, "t.yaml", yaml, strlen(yaml), &c, on_config_error, NULL) !=
        0) {
        fail_msg("config refused:\n%s", yaml);
    }
    return &c->streams[0];
}

static struct drift_pipeline *make(const char *keys)
{
    struct drift_pipeline_hooks h = {0};
    char err[256];
    struct drift_pipeline *p =
        drift_pipeline_create(pool, stream_conf(keys), 64, ".", &h, err, sizeof(err));
    if (p == NULL) {
        fail_msg("pipeline: %s", err);
    }
    return p;
}

/* Decodes buf[0..len) into row 0 of p's batch (the batch is emptied first, so nothing reaches
 * the pipeline). Returns -1 when accepted, else the reason. */
static int decode_n(struct drift_pipeline *p, const char *buf, size_t len)
{
    struct drift_batch *b = drift_pipeline_batch(p);
    b->n = 0;
    int bad = -1;
    const char *detail = NULL;
    int rc = drift_decode(drift_pipeline_decoder(p), buf, len, b, &bad, &detail);
    if (rc == 0) {
        assert_int_equal(b->n, 1);
        return -1;
    }
    assert_int_equal(rc, DRIFT_EPARSE);
    assert_int_equal(b->n, 0);
    assert_non_null(detail);
    return bad;
}

static int decode(struct drift_pipeline *p, const char *msg)
{
    return decode_n(p, msg, strlen(msg));
}

struct want {
    const char *msg;
    int reason; /* -1: accepted */
};

static void expect_all(struct drift_pipeline *p, const struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int got = decode(p, w[i].msg);
        if (got != w[i].reason) {
            fail_msg("case %zu '%s': got %s, want %s", i, w[i].msg,
                     got < 0 ? "accepted" : drift_bad_names[got],
                     w[i].reason < 0 ? "accepted" : drift_bad_names[w[i].reason]);
        }
    }
}

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))
#define OK (-1)

#define SCHEMA                                                                                     \
    "    features: {amount: numeric, country: categorical}\n"                                      \
    "    label: y\n"                                                                               \
    "    prediction: p\n"                                                                          \
    "    id_field: id\n"                                                                           \
    "    time_field: ts\n"

/* The message as a whole: what is an object, what may surround it, how large it may be, which
 * extra fields are ignored. */
static void test_whole_message(void **state)
{
    struct drift_pipeline *p = make(SCHEMA "    max_message_bytes: 64\n");
    static const struct want w[] = {
        /* JSON that is not an object */
        {"\"str\"", DRIFT_BAD_NOT_OBJECT},
        {"true", DRIFT_BAD_NOT_OBJECT},
        {"null", DRIFT_BAD_NOT_OBJECT},
        {"-1", DRIFT_BAD_NOT_OBJECT},
        {"[]", DRIFT_BAD_NOT_OBJECT},
        {"<xml/>", DRIFT_BAD_INVALID_JSON},
        /* whitespace around the object is fine; anything else after it is not */
        {" \t\r\n{\"amount\": 1}\r\n ", OK},
        {"{\"amount\": 1}{\"amount\": 2}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1},", DRIFT_BAD_INVALID_JSON},
        /* an object whose members are all unknown, or only the id/time/label/prediction */
        {"{\"other\": {\"a\": [1, {\"b\": \"}\"}]}}", DRIFT_BAD_NO_FEATURES},
        {"{\"id\": \"r1\", \"ts\": 1, \"y\": 1, \"p\": 0.5}", DRIFT_BAD_NO_FEATURES},
        /* a feature present with a null value is present: a missing value, not no_features */
        {"{\"amount\": null}", OK},
        {"{\"country\": NaN}", OK},
        /* extra fields of every JSON type are ignored */
        {"{\"amount\":1,\"e\":[[{}]],\"f\":true,\"g\":null,\"h\":\"\\\"\"}", OK},
        /* an ignored field must still end, and be a JSON value (the inside of a nested one is
         * not checked: docs/input-rules.md, gaps) */
        {"{\"amount\": 1, \"e\": [1, [2]", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"e\": \"abc}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"e\": tru}", DRIFT_BAD_INVALID_JSON},
    };
    expect_all(p, w, NCASES(w));

    /* max_message_bytes is inclusive: 64 bytes pass, 65 are too_large. */
    char msg[80];
    memset(msg, ' ', sizeof(msg));
    memcpy(msg, "{\"amount\": 1}", 13);
    assert_int_equal(decode_n(p, msg, 64), OK);
    assert_int_equal(decode_n(p, msg, 65), DRIFT_BAD_TOO_LARGE);

    /* One trailing NUL (a C string sent with its terminator) is accepted; more is not. */
    assert_int_equal(decode_n(p, "{\"amount\": 1}\0", 14), OK);
    assert_int_equal(decode_n(p, "{\"amount\": 1}\0\0", 15), DRIFT_BAD_INVALID_JSON);
}

/* Nested extra fields are skipped up to 64 levels deep; deeper is refused as invalid_json. */
static void test_nesting_depth(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    char msg[256];
    for (int depth = 63; depth <= 66; depth++) {
        int o = snprintf(msg, sizeof(msg), "{\"amount\": 1, \"deep\": ");
        for (int i = 0; i < depth; i++) {
            msg[o++] = '[';
        }
        for (int i = 0; i < depth; i++) {
            msg[o++] = ']';
        }
        msg[o++] = '}';
        msg[o] = '\0';
        int got = decode(p, msg);
        if (got != (depth <= 64 ? OK : DRIFT_BAD_INVALID_JSON)) {
            fail_msg("depth %d: got %d", depth, got);
        }
    }
}

/* Escapes are checked where driftd reads the text (keys, categories, ids). */
static void test_escapes(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    static const struct want w[] = {
        {"{\"am\\u006fun\\u0074\": 1}", OK}, /* an escaped key is the same key */
        {"{\"amount\\x\": 1}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"country\": \"D\\E\"}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"country\": \"\\u12\"}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"country\": \"\\u12G4\"}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"id\": \"r\\q\"}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1, \"country\": \"a\\\"b\\\\c\\/d\\n\"}", OK},
        {"{\"amount\": 1, \"country\": \"unterminated}", DRIFT_BAD_INVALID_JSON},
    };
    expect_all(p, w, NCASES(w));
    /* The escaped key above set amount. */
    assert_int_equal(decode(p, "{\"am\\u006fun\\u0074\": 2.5}"), OK);
    assert_true(drift_pipeline_batch(p)->x[0] == 2.5);
}

static void test_numeric_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    assert_int_equal(decode(p, "{\"amount\": true}"), OK);
    assert_true(b->x[0] == 1.0);
    assert_int_equal(decode(p, "{\"amount\": false}"), OK);
    assert_true(b->x[0] == 0.0);
    assert_int_equal(decode(p, "{\"amount\": -1e400}"), OK); /* overflow: missing */
    assert_true(isnan(b->x[0]));
    assert_int_equal(decode(p, "{\"amount\": 1E2}"), OK);
    assert_true(b->x[0] == 100.0);
    assert_int_equal(decode(p, "{\"amount\": -0.0}"), OK);
    assert_true(b->x[0] == 0.0);
    /* the last value of a repeated key wins */
    assert_int_equal(decode(p, "{\"amount\": 1, \"amount\": 2}"), OK);
    assert_true(b->x[0] == 2.0);
    static const struct want w[] = {
        {"{\"amount\": [1]}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": {\"v\": 1}}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": \"1\"}", DRIFT_BAD_WRONG_TYPE},
        /* not JSON number spellings */
        {"{\"amount\": +1}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": .5}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": -Inf}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": nan}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": NAN}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": inf}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1e}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": -}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 0x10}", DRIFT_BAD_INVALID_JSON},
        {"{\"amount\": 1 2}", DRIFT_BAD_INVALID_JSON},
        /* a wrong type in a later occurrence of the key still refuses the message */
        {"{\"amount\": 1, \"amount\": \"x\"}", DRIFT_BAD_WRONG_TYPE},
    };
    expect_all(p, w, NCASES(w));
}

static void test_categorical_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    struct drift_decoder *dec = drift_pipeline_decoder(p);
    /* booleans and numbers are categories spelled as their JSON text: 1.5 and 1.50 differ */
    assert_int_equal(decode(p, "{\"country\": true}"), OK);
    assert_string_equal(drift_decoder_category_name(dec, 0, b->cat[0]), "true");
    assert_int_equal(decode(p, "{\"country\": 1.5}"), OK);
    int32_t a = b->cat[0];
    assert_int_equal(decode(p, "{\"country\": 1.50}"), OK);
    assert_true(b->cat[0] != a);
    assert_string_equal(drift_decoder_category_name(dec, 0, b->cat[0]), "1.50");
    /* NaN and Infinity are missing, as null is */
    assert_int_equal(decode(p, "{\"country\": NaN}"), OK);
    assert_int_equal(b->cat[0], -1);
    assert_int_equal(decode(p, "{\"country\": -Infinity}"), OK);
    assert_int_equal(b->cat[0], -1);
    assert_int_equal(decode(p, "{\"country\": [\"DE\"]}"), DRIFT_BAD_WRONG_TYPE);
}

/* At most DRIFT_MAX_CATEGORIES distinct values per feature get their own code; later new
 * values share the "unseen" code, and known values keep theirs. */
static void test_category_cap(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    char msg[64];
    for (int i = 0; i < DRIFT_MAX_CATEGORIES + 3; i++) {
        snprintf(msg, sizeof(msg), "{\"country\": \"c%d\"}", i);
        assert_int_equal(decode(p, msg), OK);
        assert_int_equal(b->cat[0], i < DRIFT_MAX_CATEGORIES ? i : DRIFT_MAX_CATEGORIES);
    }
    assert_int_equal(drift_decoder_ncategories(drift_pipeline_decoder(p), 0), DRIFT_MAX_CATEGORIES);
    assert_int_equal(decode(p, "{\"country\": \"c7\"}"), OK);
    assert_int_equal(b->cat[0], 7);
}

static void test_label_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    assert_int_equal(decode(p, "{\"amount\": 1, \"y\": 1.0}"), OK);
    assert_true(b->label[0] == 1.0);
    assert_int_equal(decode(p, "{\"amount\": 1, \"y\": false}"), OK);
    assert_true(b->label[0] == 0.0);
    assert_int_equal(decode(p, "{\"amount\": 1, \"y\": null}"), OK); /* unlabelled */
    assert_true(isnan(b->label[0]));
    assert_int_equal(decode(p, "{\"amount\": 1, \"y\": NaN}"), OK);
    assert_true(isnan(b->label[0]));
    static const struct want w[] = {
        {"{\"amount\": 1, \"y\": 0.5}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": -1}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": 1e400}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": \"1\"}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": [1]}", DRIFT_BAD_BAD_LABEL},
        {"{\"amount\": 1, \"y\": {\"v\": 1}}", DRIFT_BAD_BAD_LABEL},
    };
    expect_all(p, w, NCASES(w));

    /* performance.task regression: any finite number is a label */
    struct drift_pipeline *r =
        make(SCHEMA "    performance: {detector: adwin, task: regression}\n");
    b = drift_pipeline_batch(r);
    assert_int_equal(decode(r, "{\"amount\": 1, \"y\": 3.75}"), OK);
    assert_true(b->label[0] == 3.75);
    assert_int_equal(decode(r, "{\"amount\": 1, \"y\": -1e400}"), OK); /* overflow: missing */
    assert_true(isnan(b->label[0]));
    assert_int_equal(decode(r, "{\"amount\": 1, \"y\": \"3.75\"}"), DRIFT_BAD_BAD_LABEL);
}

static void test_prediction_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": 0.73}"), OK);
    assert_true(b->pred[0] == 0.73);
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": true}"), OK);
    assert_true(b->pred[0] == 1.0);
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": null}"), OK);
    assert_true(isnan(b->pred[0]));
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": Infinity}"), OK);
    assert_true(isnan(b->pred[0]));
    assert_int_equal(decode(p, "{\"amount\": 1}"), OK);
    assert_true(isnan(b->pred[0]));
    static const struct want w[] = {
        {"{\"amount\": 1, \"p\": \"0.73\"}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": 1, \"p\": [0.73]}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": 1, \"p\": {\"score\": 0.73}}", DRIFT_BAD_WRONG_TYPE},
    };
    expect_all(p, w, NCASES(w));
}

static void test_time_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA);
    struct drift_batch *b = drift_pipeline_batch(p);
    assert_int_equal(decode(p, "{\"amount\": 1, \"ts\": 1700000000}"), OK); /* seconds */
    assert_true(b->ts[0] == 1700000000.0);
    assert_int_equal(decode(p, "{\"amount\": 1, \"ts\": 1700000000500}"), OK); /* ms */
    assert_true(b->ts[0] == 1700000000.5);
    assert_int_equal(decode(p, "{\"amount\": 1, \"ts\": null}"), OK);
    assert_true(isnan(b->ts[0]));
    assert_int_equal(decode(p, "{\"amount\": 1, \"ts\": NaN}"), OK);
    assert_true(isnan(b->ts[0]));
    static const struct want w[] = {
        {"{\"amount\": 1, \"ts\": \"1700000000\"}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": 1, \"ts\": true}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": 1, \"ts\": {\"s\": 1}}", DRIFT_BAD_WRONG_TYPE},
        {"{\"amount\": 1, \"ts\": [1]}", DRIFT_BAD_WRONG_TYPE},
    };
    expect_all(p, w, NCASES(w));
}

/* The id is kept when something uses it (dedup, or a labels join). */
static void test_id_values(void **state)
{
    struct drift_pipeline *p = make(SCHEMA "    dedup: 100\n");
    struct drift_batch *b = drift_pipeline_batch(p);
    assert_int_equal(decode(p, "{\"amount\": 1, \"id\": \"r\\u0031\"}"), OK); /* unescaped */
    assert_int_equal(b->idlen[0], 2);
    assert_memory_equal(b->id, "r1", 2);
    assert_int_equal(decode(p, "{\"amount\": 1, \"id\": 1234}"), OK); /* the number's text */
    assert_int_equal(b->idlen[0], 4);
    assert_memory_equal(b->id, "1234", 4);
    assert_int_equal(decode(p, "{\"amount\": 1, \"id\": \"\"}"), OK); /* empty: no id */
    assert_int_equal(b->idlen[0], 0);
    /* 64 bytes is an id; 65 is accepted as an event but marked too long (no dedup, no join) */
    char msg[128];
    snprintf(msg, sizeof(msg), "{\"amount\": 1, \"id\": \"%064d\"}", 7);
    assert_int_equal(decode(p, msg), OK);
    assert_int_equal(b->idlen[0], DRIFT_ID_MAX);
    snprintf(msg, sizeof(msg), "{\"amount\": 1, \"id\": \"%065d\"}", 7);
    assert_int_equal(decode(p, msg), OK);
    assert_int_equal(b->idlen[0], DRIFT_ID_MAX + 1);
}

/* max_lateness_s and dedup at their boundaries, and in which order they apply. */
static void test_admission_boundaries(void **state)
{
    struct drift_pipeline *p = make(SCHEMA "    max_lateness_s: 10\n    dedup: 2\n");
    static const struct want w[] = {
        {"{\"amount\": 1, \"id\": \"a\", \"ts\": 1000}", OK},
        {"{\"amount\": 1, \"id\": \"b\", \"ts\": 990}", OK}, /* exactly max_lateness_s behind */
        {"{\"amount\": 1, \"id\": \"c\", \"ts\": 989}", DRIFT_BAD_TOO_LATE},
        {"{\"amount\": 1, \"id\": \"c\", \"ts\": 1000}", OK}, /* a late event is not remembered */
        {"{\"amount\": 1, \"id\": \"c\", \"ts\": 900}", DRIFT_BAD_TOO_LATE}, /* late before dup */
        {"{\"amount\": 1, \"ts\": 1000}", OK}, /* no id: never a duplicate */
        {"{\"amount\": 1, \"ts\": 1000}", OK},
        {"{\"amount\": 1, \"id\": \"d\"}", OK}, /* no time: never too late */
        {"{\"amount\": 1, \"id\": \"d\", \"ts\": 1001}", DRIFT_BAD_DUPLICATE},
        {"{\"amount\": 1, \"id\": \"e\", \"ts\": 1001}", OK},
        {"{\"amount\": 1, \"id\": \"f\", \"ts\": 1001}", OK},
        {"{\"amount\": 1, \"id\": \"d\", \"ts\": 1001}", OK}, /* two newer ids since: forgotten */
        /* a malformed message with a known id is malformed first */
        {"{\"amount\": \"x\", \"id\": \"f\", \"ts\": 1001}", DRIFT_BAD_WRONG_TYPE},
    };
    expect_all(p, w, NCASES(w));
}

/* Label events (labels.topic): each refusal counts in labels_bad; a label nobody waits for is
 * unmatched. */
static void test_label_events(void **state)
{
    struct drift_pipeline *p = make("    features: {amount: numeric}\n"
                                    "    prediction: p\n"
                                    "    id_field: id\n"
                                    "    performance: {detector: adwin}\n"
                                    "    labels: {topic: l, field: y, time_field: ts}\n");
    /* two predictions wait for their labels */
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": 0.9, \"id\": \"r1\", \"ts\": 1}"), OK);
    drift_pipeline_push(p);
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": 0.2, \"id\": \"r2\"}"), OK);
    drift_pipeline_push(p);
    static const char *const bad[] = {
        "",
        "   ",
        "[]",
        "{\"id\": \"r1\", \"y\": 1} x",
        "{\"id\": \"r1\", \"y\": 1",
        "{\"y\": 1}",
        "{\"id\": \"r1\"}",
        "{\"id\": true, \"y\": 1}",
        "{\"id\": null, \"y\": 1}",
        "{\"id\": [\"r1\"], \"y\": 1}",
        "{\"id\": \"\", \"y\": 1}",
        "{\"id\": \"r1\", \"y\": 7}",
        "{\"id\": \"r1\", \"y\": \"1\"}",
        "{\"id\": \"r1\", \"y\": null}",
        "{\"id\": \"r1\", \"y\": NaN}",
        "{\"id\": \"r1\", \"y\": 1, \"y\": 2}", /* a bad occurrence refuses the event */
    };
    const char *why;
    for (size_t i = 0; i < NCASES(bad); i++) {
        int rc = drift_pipeline_label(p, bad[i], strlen(bad[i]), 0, (int64_t)i, &why);
        if (rc != DRIFT_EPARSE) {
            fail_msg("label event %zu '%s': rc %d, want DRIFT_EPARSE", i, bad[i], rc);
        }
        assert_non_null(why);
    }
    char big[128];
    snprintf(big, sizeof(big), "{\"id\": \"%065d\", \"y\": 1}", 7);
    assert_int_equal(drift_pipeline_label(p, big, strlen(big), 0, 100, &why), DRIFT_EPARSE);
    struct drift_pipeline_stats st;
    drift_pipeline_stats(p, &st);
    assert_int_equal(st.labels_bad, NCASES(bad) + 1);
    assert_int_equal(st.labels_in, NCASES(bad) + 1);

    /* good ones: extra fields ignored, true is 1; a second label for an id, and a label for an
     * id never predicted, are unmatched; a label time that is not a number is ignored */
    static const char *const good[] = {
        "{\"id\": \"r1\", \"y\": true, \"extra\": {\"a\": [1]}}",
        "{\"id\": \"r1\", \"y\": 0}",
        "{\"id\": \"ghost\", \"y\": 1}",
        "{\"id\": \"r2\", \"y\": 0, \"ts\": \"not a time\"}",
    };
    for (size_t i = 0; i < NCASES(good); i++) {
        int rc = drift_pipeline_label(p, good[i], strlen(good[i]), 0, 200 + (int64_t)i, &why);
        if (rc != 0) {
            fail_msg("label event '%s': rc %d (%s)", good[i], rc, why);
        }
    }
    struct drift_join_stats js;
    drift_pipeline_join_stats(p, &js);
    assert_int_equal(js.matched, 2);
    assert_int_equal(js.unmatched, 2);
    assert_int_equal(js.pending, 0);
    drift_pipeline_stats(p, &st);
    assert_int_equal(st.labels_bad, NCASES(bad) + 1);
}

/* Regression labels in label events must be finite numbers. */
static void test_label_events_regression(void **state)
{
    struct drift_pipeline *p = make("    features: {amount: numeric}\n"
                                    "    prediction: p\n"
                                    "    id_field: id\n"
                                    "    performance: {detector: adwin, task: regression}\n"
                                    "    labels: {topic: l, field: y}\n");
    assert_int_equal(decode(p, "{\"amount\": 1, \"p\": 2.5, \"id\": \"r1\"}"), OK);
    drift_pipeline_push(p);
    const char *why;
    static const char *const bad[] = {"{\"id\": \"r1\", \"y\": NaN}",
                                      "{\"id\": \"r1\", \"y\": Infinity}",
                                      "{\"id\": \"r1\", \"y\": \"2\"}"};
    for (size_t i = 0; i < NCASES(bad); i++) {
        assert_int_equal(drift_pipeline_label(p, bad[i], strlen(bad[i]), 0, 0, &why), DRIFT_EPARSE);
    }
    const char *ok = "{\"id\": \"r1\", \"y\": 7.25}";
    assert_int_equal(drift_pipeline_label(p, ok, strlen(ok), 0, 1, &why), 0);
    struct drift_join_stats js;
    drift_pipeline_join_stats(p, &js);
    assert_int_equal(js.matched, 1);
}

static int setup(void **state)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    return 0;
}

static int teardown(void **state)
{
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_message),
        cmocka_unit_test(test_nesting_depth),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_numeric_values),
        cmocka_unit_test(test_categorical_values),
        cmocka_unit_test(test_category_cap),
        cmocka_unit_test(test_label_values),
        cmocka_unit_test(test_prediction_values),
        cmocka_unit_test(test_time_values),
        cmocka_unit_test(test_id_values),
        cmocka_unit_test(test_admission_boundaries),
        cmocka_unit_test(test_label_events),
        cmocka_unit_test(test_label_events_regression),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
