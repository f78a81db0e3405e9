/* The config loader: the shipped configs load with the documented values and defaults; every
 * error is reported with file:line:column; unknown keys get a suggestion; YAML syntax errors have
 * a position; bad values name the key and the allowed range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <apr_general.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static apr_pool_t *pool;
static char errs[32][512];
static int nerr;

static void collect(void *ctx, const char *msg)
{
    if (nerr < 32) {
        snprintf(errs[nerr], sizeof(errs[0]), "%s", msg);
    }
    nerr++;
}

static int has(const char *needle)
{
    for (int i = 0; i < nerr && i < 32; i++) {
        if (strstr(errs[i], needle) != NULL) {
            return 1;
        }
    }
    return 0;
}

static int load(const char *yaml, struct drift_config **c)
{
    nerr = 0;
    return drift_config_load_buffer(pool, "t.yaml", yaml, strlen(yaml), c, collect, NULL);
}

static void test_demo_config(void **state)
{
    struct drift_config *c;
    nerr = 0;
    assert_int_equal(drift_config_load(pool, "configs/demo.yaml", &c, collect, NULL), 0);
    assert_true(c->kafka.embedded);
    assert_int_equal(c->nstreams, 1);
    const struct drift_stream_conf *s = &c->streams[0];
    assert_string_equal(s->name, "payments");
    assert_int_equal(s->nfeatures, 6);
    assert_string_equal(s->features[5].name, "country");
    assert_int_equal(s->features[5].type, DRIFT_FEATURE_CATEGORICAL);
    assert_int_equal(s->window.size, 1000);
    assert_int_equal(s->reference.size, 5000);
    assert_true(s->drift.ks_alpha == 0.001);
    assert_true(s->learner.enabled);
    assert_string_equal(s->learner.topic, "payments.model");
    assert_int_equal(s->trigger.consecutive, 2);
}

static void test_example_config(void **state)
{
    struct drift_config *c;
    nerr = 0;
    int rc = drift_config_load(pool, "configs/example.yaml", &c, collect, NULL);
    if (rc != 0) {
        fail_msg("%s", errs[0]);
    }
    assert_int_equal(c->kafka.embedded, 0);
    assert_int_equal(c->kafka.nproperties, 2);
    assert_int_equal(c->streams[0].window.type, DRIFT_WINDOW_SLIDING);
    assert_int_equal(c->streams[0].window.slide, 2000);
    assert_int_equal(c->streams[0].reference.source, DRIFT_REF_FILE);
    assert_int_equal(c->log.json, 1);
}

static void test_defaults(void **state)
{
    struct drift_config *c;
    assert_int_equal(load("kafka: {brokers: b:9092}\nstreams:\n  - {name: s, topic: t, features: "
                          "{a: numeric}}\n",
                          &c),
                     0);
    const struct drift_stream_conf *s = &c->streams[0];
    assert_string_equal(c->kafka.group, "driftd");
    assert_string_equal(c->store.path, "driftd.db");
    assert_int_equal(s->window.size, 1000);
    assert_int_equal(s->window.type, DRIFT_WINDOW_TUMBLING);
    assert_int_equal(s->reference.size, 5000);
    assert_int_equal(s->reference.bins, 10);
    assert_true(s->drift.psi && s->drift.psi_threshold == 0.2);
    assert_true(s->drift.ks && s->drift.ks_alpha == 0.01);
    assert_true(s->drift.share == 0.5);
    assert_int_equal(s->trigger.enabled, 1);
    assert_int_equal(s->trigger.consecutive, 2);
    assert_null(s->webhook.url);
    assert_int_equal(s->learner.enabled, 0);
}

static void test_typo_and_all_errors(void **state)
{
    struct drift_config *c = (void *)1;
    const char *y = "kafka:\n"
                    "  brokers: embedded\n"
                    "streams:\n"
                    "  - name: s\n"
                    "    topic: t\n"
                    "    features: {a: numeric, b: ordinal}\n"
                    "    windw:\n"
                    "      size: 100\n"
                    "    window: {size: 3}\n"
                    "    drift: {share: 2}\n"
                    "    webhook: {url: ftp://x}\n";
    int rc = load(y, &c);
    assert_null(c);
    assert_int_equal(rc, -nerr);
    assert_int_equal(nerr, 5);
    assert_true(has("t.yaml:7:5: unknown key 'windw' in streams[0]; did you mean 'window'?"));
    assert_true(has("t.yaml:6:31: streams[0].features.b must be one of numeric, categorical"));
    assert_true(has("t.yaml:9:20: streams[0].window.size must be between 10 and"));
    assert_true(has("t.yaml:10:20: streams[0].drift.share must be"));
    assert_true(has("t.yaml:11:20: streams[0].webhook.url must start with http:// or https://"));
}

static void test_syntax_error_position(void **state)
{
    struct drift_config *c;
    assert_true(load("a: 1\nb: [1, 2\nc: 3\n", &c) < 0);
    assert_int_equal(nerr, 1);
    assert_true(has("t.yaml:3:2: YAML syntax error: did not find expected ',' or ']'"));
}

static void test_semantic_errors(void **state)
{
    struct drift_config *c;
    assert_true(load("kafka: {brokers: embedded}\nstreams:\n  - {name: s, topic: t, features: "
                     "{a: numeric}, learner: {kind: logistic}}\n",
                     &c) < 0);
    assert_true(has("streams[0].learner needs a label"));
    assert_true(load("kafka: {brokers: x}\nkafka: {brokers: y}\nstreams: []\n", &c) < 0);
    assert_true(has("t.yaml:2:1: duplicate key 'kafka'"));
    assert_true(has("streams must be a non-empty list"));
    assert_true(load("streams:\n  - {topic: t, features: {a: numeric}}\n", &c) < 0);
    assert_true(has("kafka section is required"));
    assert_true(has("streams[0].name is required"));
    assert_true(load("kafka: {brokers: x}\nstreams:\n  - {name: s, topic: t, features: {a: "
                     "numeric}, window: {type: sliding, size: 100, slide: 30}}\n",
                     &c) < 0);
    assert_true(has("window.slide (30) must divide window.size (100)"));
    assert_true(load("kafka: {brokers: x}\nstreams:\n  - {name: s, topic: t, features: {a: "
                     "numeric}, reference: {from: file}}\n",
                     &c) < 0);
    assert_true(has("reference.path is required"));
    assert_true(load("kafka: {brokers: x}\nstreams:\n  - {name: s, topic: t, label: a, features: "
                     "{a: numeric}, window: {size: ten}}\n",
                     &c) < 0);
    assert_true(has("must be an integer, got \"ten\""));
    assert_true(has("feature 'a' is also the stream's label"));
    nerr = 0;
    assert_true(drift_config_load(pool, "/nonexistent/x.yaml", &c, collect, NULL) < 0);
    assert_true(has("/nonexistent/x.yaml: cannot read: No such file or directory"));
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_config),        cmocka_unit_test(test_example_config),
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_typo_and_all_errors),
        cmocka_unit_test(test_syntax_error_position), cmocka_unit_test(test_semantic_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
