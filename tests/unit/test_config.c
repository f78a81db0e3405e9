/* The config loader: the shipped configs load with the documented values and defaults; every
 * error is reported, each as file:line:column (1-based) with the key path and what is allowed;
 * unknown keys get the nearest known key; a YAML syntax error has libyaml's position and
 * context; cross-key rules (sliding windows, reference files, learner and label) hold; and a
 * loaded config owns its memory in the caller's pool, not in the loader's scratch pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define MAXERR 64

static apr_pool_t *pool;
static char errs[MAXERR][1024];
static int nerr;

/* The errfn under test: collects every message. */
static void collect(void *ctx, const char *msg)
{
    if (nerr < MAXERR) {
        snprintf(errs[nerr], sizeof(errs[0]), "%s", msg);
    }
    nerr++;
}

static void dump(void)
{
    for (int i = 0; i < nerr && i < MAXERR; i++) {
        print_message("  error %d: %s\n", i, errs[i]);
    }
}

/* Asserts that one collected message is exactly msg. */
static void expect(const char *msg)
{
    for (int i = 0; i < nerr && i < MAXERR; i++) {
        if (strcmp(errs[i], msg) == 0) {
            return;
        }
    }
    dump();
    fail_msg("expected error not reported: %s", msg);
}

/* Asserts that one collected message contains part. */
static void expect_part(const char *part)
{
    for (int i = 0; i < nerr && i < MAXERR; i++) {
        if (strstr(errs[i], part) != NULL) {
            return;
        }
    }
    dump();
    fail_msg("no error contains: %s", part);
}

/* Loads yaml as "t.yaml"; checks the contract between the return value, *out and errfn. */
static int load(const char *yaml, struct drift_config **c)
{
    nerr = 0;
    *c = (void *)1;
    int rc = drift_config_load_buffer(pool, "t.yaml", yaml, strlen(yaml), c, collect, NULL);
    assert_int_equal(rc, -nerr);
    if (rc == 0) {
        assert_non_null(*c);
    } else {
        assert_null(*c);
    }
    return rc;
}

/* Loads yaml and asserts it fails with exactly one error, which is msg. */
static void expect_only(const char *yaml, const char *msg)
{
    struct drift_config *c;
    int rc = load(yaml, &c);
    if (rc != -1 || strcmp(errs[0], msg) != 0) {
        dump();
        fail_msg("expected exactly: %s (got rc %d)", msg, rc);
    }
}

#define HEAD "kafka:\n  brokers: embedded\nstreams:\n  - name: s\n    topic: t\n"
#define FEATS "    features: {a: numeric}\n"
#define STREAMS "streams: [{name: s, topic: t, features: {a: numeric}}]\n"

static void test_demo_config_loads(void **state)
{
    struct drift_config *c;
    nerr = 0;
    int rc = drift_config_load(pool, "configs/demo.yaml", &c, collect, NULL);
    if (rc != 0) {
        dump();
    }
    assert_int_equal(rc, 0);
    assert_string_equal(c->path, "configs/demo.yaml");
    assert_string_equal(c->kafka.brokers, "embedded");
    assert_int_equal(c->kafka.embedded, 1);
    assert_int_equal(c->kafka.embedded_brokers, 1);
    assert_string_equal(c->kafka.group, "driftd-demo");
    assert_string_equal(c->kafka.offset_reset, "earliest");
    assert_int_equal(c->kafka.batch_max, 1024);
    assert_int_equal(c->kafka.nproperties, 0);
    assert_string_equal(c->store.path, "/tmp/driftd-demo.db");
    assert_int_equal(c->log.level, DRIFT_LOG_INFO);
    assert_int_equal(c->log.json, 0);
    assert_int_equal(c->nstreams, 1);

    const struct drift_stream_conf *s = &c->streams[0];
    assert_string_equal(s->name, "payments");
    assert_string_equal(s->topic, "payments");
    assert_int_equal(s->pos.line, 15);
    assert_int_equal(s->pos.col, 5);
    assert_int_equal(s->partitions, 4);
    assert_int_equal(s->nfeatures, 6);
    static const char *const names[] = {"amount", "merchant_risk", "account_age_days",
                                        "hour",   "items",         "country"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(s->features[i].name, names[i]);
        assert_int_equal(s->features[i].type,
                         i == 5 ? DRIFT_FEATURE_CATEGORICAL : DRIFT_FEATURE_NUMERIC);
    }
    assert_int_equal(s->features[0].pos.line, 19);
    assert_int_equal(s->features[0].pos.col, 7);
    assert_string_equal(s->label, "is_fraud");
    assert_string_equal(s->time_field, "ts");
    assert_null(s->id_field);
    assert_int_equal(s->max_message_bytes, 1 << 20);
    assert_int_equal(s->window.type, DRIFT_WINDOW_TUMBLING);
    assert_int_equal(s->window.size, 1000);
    assert_int_equal(s->reference.source, DRIFT_REF_WARMUP);
    assert_int_equal(s->reference.size, 5000);
    assert_int_equal(s->reference.bins, 10);
    assert_null(s->reference.path);
    assert_true(s->drift.psi && s->drift.psi_threshold == 0.2);
    assert_true(s->drift.ks && s->drift.ks_alpha == 0.001);
    assert_true(s->drift.share == 0.3);
    assert_string_equal(s->drift.rule, "any");
    assert_string_equal(s->trigger.name, "retrain-fraud-model");
    assert_int_equal(s->trigger.consecutive, 2);
    assert_int_equal(s->trigger.cooldown_windows, 50);
    assert_int_equal(s->trigger.enabled, 1);
    assert_string_equal(s->webhook.url, "http://127.0.0.1:8787/retrain");
    assert_int_equal(s->webhook.timeout_ms, 2000);
    assert_int_equal(s->webhook.backoff_base_ms, 200);
    assert_int_equal(s->webhook.backoff_max_ms, 60000);
    assert_int_equal(s->webhook.max_attempts, 0);
    assert_int_equal(s->webhook.max_age_s, 86400);
    assert_int_equal(s->learner.enabled, 1);
    assert_string_equal(s->learner.kind, "logistic");
    assert_true(s->learner.learning_rate == 0.05);
    assert_true(s->learner.l2 == 0);
    assert_int_equal(s->learner.publish_every, 5000);
    assert_string_equal(s->learner.topic, "payments.model");
}

static void test_example_config_loads(void **state)
{
    struct drift_config *c;
    nerr = 0;
    int rc = drift_config_load(pool, "configs/example.yaml", &c, collect, NULL);
    if (rc != 0) {
        dump();
    }
    assert_int_equal(rc, 0);
    assert_int_equal(c->kafka.embedded, 0);
    assert_string_equal(c->kafka.brokers,
                        "kafka-1.internal:9092,kafka-2.internal:9092,kafka-3.internal:9092");
    assert_string_equal(c->kafka.offset_reset, "latest");
    assert_int_equal(c->kafka.nproperties, 3);
    assert_string_equal(c->kafka.properties[0].key, "security.protocol");
    assert_string_equal(c->kafka.properties[0].value, "SASL_SSL");
    assert_string_equal(c->kafka.properties[2].key, "fetch.max.bytes");
    assert_string_equal(c->kafka.properties[2].value, "52428800");
    assert_int_equal(c->log.json, 1);
    assert_int_equal(c->nstreams, 1);
    const struct drift_stream_conf *s = &c->streams[0];
    assert_string_equal(s->name, "churn");
    assert_int_equal(s->nfeatures, 8);
    assert_int_equal(s->window.type, DRIFT_WINDOW_SLIDING);
    assert_int_equal(s->window.size, 10000);
    assert_int_equal(s->window.slide, 2000);
    assert_int_equal(s->reference.source, DRIFT_REF_FILE);
    assert_string_equal(s->reference.path, "reference/churn_training_sample.csv");
    assert_int_equal(s->reference.bins, 20);
    assert_true(s->webhook.url != NULL && strncmp(s->webhook.url, "https://", 8) == 0);
    assert_int_equal(s->learner.enabled, 1);
}

static void test_defaults_when_keys_omitted(void **state)
{
    struct drift_config *c;
    assert_int_equal(load("kafka: {brokers: 'b1:9092,b2:9092'}\n"
                          "streams:\n"
                          "  - {name: s, topic: t, features: {a: numeric, b: categorical}}\n",
                          &c),
                     0);
    assert_int_equal(c->kafka.embedded, 0);
    assert_string_equal(c->kafka.group, "driftd");
    assert_string_equal(c->kafka.offset_reset, "earliest");
    assert_int_equal(c->kafka.batch_max, 1024);
    assert_int_equal(c->kafka.embedded_brokers, 1);
    assert_null(c->kafka.properties);
    assert_string_equal(c->store.path, "driftd.db");
    assert_string_equal(c->store.instance, "default");
    assert_int_equal(c->store.checkpoint_s, 5);
    assert_int_equal(c->log.level, DRIFT_LOG_INFO);
    assert_int_equal(c->log.json, 0);
    const struct drift_stream_conf *s = &c->streams[0];
    assert_int_equal(s->partitions, 4);
    assert_null(s->label);
    assert_int_equal(s->max_message_bytes, 1048576);
    assert_int_equal(s->window.type, DRIFT_WINDOW_TUMBLING);
    assert_int_equal(s->window.size, 1000);
    assert_int_equal(s->reference.source, DRIFT_REF_WARMUP);
    assert_int_equal(s->reference.size, 5000);
    assert_int_equal(s->reference.bins, 10);
    assert_true(s->drift.psi && s->drift.psi_threshold == 0.2);
    assert_true(s->drift.ks && s->drift.ks_alpha == 0.01);
    assert_true(s->drift.share == 0.5);
    assert_string_equal(s->drift.rule, "any");
    assert_int_equal(s->trigger.enabled, 1);
    assert_int_equal(s->trigger.consecutive, 2);
    assert_int_equal(s->trigger.cooldown_windows, 10);
    assert_string_equal(s->trigger.name, "retrain");
    assert_null(s->webhook.url);
    assert_int_equal(s->webhook.timeout_ms, 5000);
    assert_int_equal(s->webhook.max_attempts, 0);
    assert_int_equal(s->webhook.max_age_s, 86400);
    assert_int_equal(s->webhook.backoff_base_ms, 500);
    assert_int_equal(s->webhook.backoff_max_ms, 60000);
    assert_int_equal(s->learner.enabled, 0);

    /* An empty learner mapping enables the learner with its defaults; a sliding window without
     * a slide evaluates every size/2 events; psi: false disables PSI alone; a webhook url on
     * its own keeps the trigger enabled. */
    assert_int_equal(load(HEAD FEATS "    label: y\n"
                                     "    window: {type: sliding, size: 500}\n"
                                     "    drift: {psi: false}\n"
                                     "    webhook: {url: 'https://h/x'}\n"
                                     "    learner:\n",
                          &c),
                     0);
    s = &c->streams[0];
    assert_int_equal(s->window.slide, 250);
    assert_int_equal(s->drift.psi, 0);
    assert_int_equal(s->drift.ks, 1);
    assert_int_equal(s->trigger.enabled, 1);
    assert_int_equal(s->learner.enabled, 1);
    assert_string_equal(s->learner.kind, "logistic");
    assert_true(s->learner.learning_rate == 0.05);
    assert_int_equal(s->learner.publish_every, 1000);
    assert_string_equal(s->learner.topic, "s.model");
}

static void test_typo_gets_position_and_suggestion(void **state)
{
    expect_only(HEAD FEATS "    windw:\n"
                           "      size: 100\n",
                "t.yaml:7:5: unknown key 'windw' in streams[0]; did you mean 'window'? "
                "(allowed: name, topic, partitions, features, label, prediction, id_field, "
                "time_field, max_message_bytes, dead_letter_topic, max_lateness_s, dedup, window, "
                "reference, drift, trigger, webhook, "
                "webhooks, multivariate, kafka_action, exec, learner, performance, labels, "
                "schedule)");
    /* Nothing else is inferred from a misspelt key: the section it meant is still missing. */
    struct drift_config *c;
    assert_int_equal(load("kafak: {brokers: x}\n" STREAMS, &c), -2);
    expect("t.yaml:1:1: unknown key 'kafak' at the top level; did you mean 'kafka'? "
           "(allowed: kafka, store, log, http, blas, streams)");
    expect("t.yaml:1:1: kafka is required: where the events come from (at least kafka.brokers)");
    /* A transposition is one edit; a word far from every key gets no suggestion. */
    assert_int_equal(load(HEAD FEATS "    tpoic: t2\n    window: {szie: 10, colour: red}\n", &c),
                     -3);
    expect_part("t.yaml:7:5: unknown key 'tpoic' in streams[0]; did you mean 'topic'?");
    expect_part("t.yaml:8:14: unknown key 'szie' in streams[0].window; did you mean 'size'? "
                "(allowed: type, size, slide)");
    expect("t.yaml:8:24: unknown key 'colour' in streams[0].window (allowed: type, size, slide)");
}

static void test_every_error_is_reported(void **state)
{
    struct drift_config *c;
    const char *y = "kafka:\n"
                    "  brokers: embedded\n"
                    "  offset_reset: newest\n"
                    "streams:\n"
                    "  - name: s\n"
                    "    topic: t\n"
                    "    features: {a: numeric, b: ordinal}\n"
                    "    windw:\n"
                    "      size: 100\n"
                    "    window: {size: 3}\n"
                    "    drift: {share: 2}\n"
                    "    webhook: {url: ftp://x}\n"
                    "  - name: s\n"
                    "    features: {}\n";
    assert_int_equal(load(y, &c), -9);
    expect("t.yaml:3:17: kafka.offset_reset must be one of earliest, latest, got \"newest\"");
    expect("t.yaml:7:31: streams[0].features.b must be one of numeric, categorical, "
           "got \"ordinal\"");
    expect_part("t.yaml:8:5: unknown key 'windw' in streams[0]; did you mean 'window'?");
    expect("t.yaml:10:20: streams[0].window.size must be an integer >= 10, got 3");
    expect("t.yaml:11:20: streams[0].drift.share must be a number > 0 and <= 1, got 2");
    expect("t.yaml:12:20: streams[0].webhook.url must be a URL starting with http:// or "
           "https://, got \"ftp://x\"");
    expect("t.yaml:14:15: streams[1].features must be a non-empty mapping of feature names to "
           "numeric or categorical, got an empty mapping");
    expect("t.yaml:13:5: streams[1].topic is required: the Kafka topic of the stream's events");
    expect("t.yaml:13:11: streams[1].name 's' is already used by streams[0]");
}

static void test_syntax_error_has_position_and_context(void **state)
{
    expect_only("a: 1\nb: [1, 2\nc: 3\n",
                "t.yaml:3:2: did not find expected ',' or ']' (while parsing a flow sequence "
                "started at line 2 column 4)");
    expect_only("kafka:\n  brokers: x\n group: y\n",
                "t.yaml:3:2: did not find expected key (while parsing a block mapping started at "
                "line 1 column 1)");
    expect_only("kafka:\n\tbrokers: x\n",
                "t.yaml:2:1: found character that cannot start any token (while scanning for "
                "the next token started at line 2 column 1); indent with spaces, YAML does not "
                "allow tabs there");
    expect_only("a: 1\x01\n", "t.yaml:1:5: control characters are not allowed (byte 0x01)");
    expect_only("", "t.yaml: the config is empty; it needs at least kafka.brokers and streams");
    expect_only("a: 1\n---\nb: 2\n",
                "t.yaml:2:1: a second YAML document; a driftd config is one document");
    expect_only("kafka: &k {brokers: x}\nstore: *k\nstreams: []\n",
                "t.yaml:2:8: aliases (*k) are not supported in driftd configs; write the value "
                "out");
}

static void test_bad_values_name_the_key(void **state)
{
    expect_only(HEAD FEATS "    window: {size: ten}\n",
                "t.yaml:7:20: streams[0].window.size must be an integer >= 10, got \"ten\"");
    expect_only(HEAD FEATS "    window: {size: 3}\n",
                "t.yaml:7:20: streams[0].window.size must be an integer >= 10, got 3");
    expect_only(HEAD FEATS "    window: {size: 1000.5}\n",
                "t.yaml:7:20: streams[0].window.size must be an integer >= 10, got 1000.5");
    expect_only(HEAD FEATS "    window: {size: '1000'}\n",
                "t.yaml:7:20: streams[0].window.size must be an integer >= 10, got \"1000\" "
                "(quoted, so a string)");
    expect_only(HEAD FEATS "    window: {size: 99999999999999999999}\n",
                "t.yaml:7:20: streams[0].window.size must be an integer >= 10, "
                "got 99999999999999999999");
    expect_only(HEAD FEATS "    window: {type: slidng}\n",
                "t.yaml:7:20: streams[0].window.type must be one of tumbling, sliding, "
                "got \"slidng\"; did you mean 'sliding'?");
    expect_only(HEAD FEATS "    reference: {bins: 1}\n",
                "t.yaml:7:23: streams[0].reference.bins must be an integer between 2 and 1000, "
                "got 1");
    expect_only(HEAD FEATS "    drift: {share: 2}\n",
                "t.yaml:7:20: streams[0].drift.share must be a number > 0 and <= 1, got 2");
    expect_only(HEAD FEATS "    drift: {psi: 0}\n",
                "t.yaml:7:18: streams[0].drift.psi must be a number > 0 (or false to disable), "
                "got 0");
    expect_only(HEAD FEATS "    drift: {ks_alpha: 1}\n",
                "t.yaml:7:23: streams[0].drift.ks_alpha must be a number > 0 and < 1 (or false "
                "to disable), got 1");
    expect_only(HEAD FEATS "    drift: {psi: true}\n",
                "t.yaml:7:18: streams[0].drift.psi must be a number > 0 (or false to disable), "
                "got \"true\"");
    expect_only(HEAD FEATS "    drift: {share: 0x1p-1}\n",
                "t.yaml:7:20: streams[0].drift.share must be a number > 0 and <= 1, "
                "got \"0x1p-1\"");
    expect_only(HEAD FEATS "    webhook: {url: ftp://x}\n",
                "t.yaml:7:20: streams[0].webhook.url must be a URL starting with http:// or "
                "https://, got \"ftp://x\"");
    expect_only(HEAD "    features: {a: numeric, b: ordinal}\n",
                "t.yaml:6:31: streams[0].features.b must be one of numeric, categorical, "
                "got \"ordinal\"");
    expect_only(HEAD "    features: {'': numeric, a: numeric}\n",
                "t.yaml:6:16: feature names in streams[0].features must not be empty");
    expect_only(HEAD FEATS "    trigger: {enabled: yes}\n",
                "t.yaml:7:24: streams[0].trigger.enabled must be true or false, got \"yes\"");
    expect_only(HEAD FEATS "    label:\n",
                "t.yaml:7:11: streams[0].label must be a non-empty string, got nothing");
    expect_only(HEAD FEATS "    window: [1000]\n",
                "t.yaml:7:13: streams[0].window must be a mapping of keys to values, got a list");
    expect_only(HEAD FEATS "    partitions: {n: 4}\n",
                "t.yaml:7:17: streams[0].partitions must be an integer between 1 and 1024, "
                "got a mapping");
    expect_only("kafka: {brokers: x, properties: {acks: [1]}}\n" STREAMS,
                "t.yaml:1:40: kafka.properties.acks must be a single value (quote an empty one: "
                "''), got a list");
    expect_only("kafka: {brokers: x}\nlog: {level: verbose}\n" STREAMS,
                "t.yaml:2:14: log.level must be one of error, warn, info, debug, got \"verbose\"");
    expect_only("kafka:\n  brokers: embedded\nstreams:\n  - name: my stream\n    topic: t\n" FEATS,
                "t.yaml:4:11: streams[0].name must be a name made of letters, digits, '_', '.' "
                "and '-', got \"my stream\"");
}

static void test_learner_without_label(void **state)
{
    expect_only(HEAD FEATS "    learner:\n      kind: logistic\n",
                "t.yaml:7:5: streams[0].learner needs streams[0].label: the field holding the "
                "label the learner trains on (0/1 for logistic)");
}

static void test_duplicate_keys(void **state)
{
    expect_only("kafka: {brokers: x}\nkafka: {brokers: y}\n" STREAMS,
                "t.yaml:2:1: duplicate key 'kafka' at the top level (first at line 1)");
    expect_only(HEAD FEATS "    window:\n      size: 100\n      size: 200\n",
                "t.yaml:9:7: duplicate key 'size' in streams[0].window (first at line 8)");
    expect_only(HEAD "    features:\n      a: numeric\n      a: categorical\n",
                "t.yaml:8:7: duplicate key 'a' in streams[0].features (first at line 7)");
    expect_only("kafka: {brokers: x, properties: {acks: all, acks: 1}}\n" STREAMS,
                "t.yaml:1:45: duplicate key 'acks' in kafka.properties (first at line 1)");
}

static void test_required_keys(void **state)
{
    struct drift_config *c;
    assert_int_equal(load("store: {path: x.db}\n", &c), -2);
    expect("t.yaml:1:1: kafka is required: where the events come from (at least kafka.brokers)");
    expect("t.yaml:1:1: streams is required: a list of at least one stream");
    expect_only("kafka: {group: g}\n" STREAMS,
                "t.yaml:1:8: kafka.brokers is required: a bootstrap list host:port,host:port, or "
                "\"embedded\" for an in-process cluster");
    expect_only("kafka: {brokers: x}\nstreams: []\n",
                "t.yaml:2:10: streams must be a non-empty list of streams, got an empty list");
    assert_int_equal(load("kafka: {brokers: x}\nstreams:\n  - label: y\n", &c), -3);
    expect("t.yaml:3:5: streams[0].name is required: the stream's unique name");
    expect("t.yaml:3:5: streams[0].topic is required: the Kafka topic of the stream's events");
    expect("t.yaml:3:5: streams[0].features is required: a mapping of feature names to numeric "
           "or categorical");
    expect_only(HEAD FEATS "    webhook: {timeout_ms: 100}\n",
                "t.yaml:7:14: streams[0].webhook.url is required: the URL triggers are POSTed to");
    expect_only(HEAD "    label: a\n" FEATS,
                "t.yaml:7:16: streams[0].features.a is also the stream's label; a field cannot be "
                "both");
}

static void test_cross_key_rules(void **state)
{
    expect_only(HEAD FEATS "    window: {type: sliding, size: 100, slide: 30}\n",
                "t.yaml:7:47: streams[0].window.slide (30) must divide streams[0].window.size "
                "(100)");
    expect_only(HEAD FEATS "    window: {type: sliding, size: 101}\n",
                "t.yaml:7:35: streams[0].window.size (101) is odd, so the default slide "
                "(size/2) does not divide it; set streams[0].window.slide");
    expect_only(HEAD FEATS "    window: {size: 100, slide: 50}\n",
                "t.yaml:7:32: streams[0].window.slide applies only to type: sliding");
    expect_only(HEAD FEATS "    reference: {from: file}\n",
                "t.yaml:7:16: streams[0].reference.path is required with from: file: a CSV file "
                "with a header row naming the features");
    expect_only(HEAD FEATS "    reference: {path: ref.csv}\n",
                "t.yaml:7:23: streams[0].reference.path applies only to from: file");
    expect_only(HEAD FEATS "    reference: {size: 100, sample: 1000}\n",
                "t.yaml:7:36: streams[0].reference.sample applies only to from: file");
    expect_only(HEAD FEATS "    reference: {from: file, path: r.csv, sketch_k: 101}\n",
                "t.yaml:7:52: streams[0].reference.sketch_k must be even, got 101");
    expect_only(HEAD FEATS "    performance: {detector: adwin}\n",
                "t.yaml:7:5: streams[0].performance needs streams[0].prediction and a label: "
                "streams[0].label (in the event) or streams[0].labels (another topic)");
    expect_only(HEAD FEATS "    prediction: p\n    performance: {}\n"
                           "    labels: {topic: lab}\n",
                "t.yaml:9:5: streams[0].labels joins labels to predictions by id: it needs "
                "streams[0].id_field and streams[0].prediction");
    expect_only(HEAD FEATS "    prediction: p\n    id_field: id\n    performance: {}\n"
                           "    labels: {topic: t}\n",
                "t.yaml:10:5: streams[0].labels.topic must differ from streams[0].topic (labels "
                "in the event itself: use streams[0].label)");
    expect_only(HEAD FEATS "    label: y\n    prediction: p\n"
                           "    performance: {detector: ddm, params: {drift_threshold: 0}}\n",
                "t.yaml:9:42: streams[0].performance.params: ddm: drift_threshold must be a "
                "number > 0, got '0'");
    expect_only(HEAD FEATS "    label: y\n    prediction: p\n"
                           "    performance: {detector: adwin, params: {delta: 0.1, clok: 5}}\n",
                "t.yaml:9:44: streams[0].performance.params: adwin: unknown parameter 'clok' "
                "(allowed: delta, clock, max_buckets, min_window_length, grace_period)");
    expect_only(HEAD FEATS "    webhook: {url: \"http://h/\", format: pagerduty}\n",
                "t.yaml:7:41: streams[0].webhook.format pagerduty needs routing_key_env: the "
                "environment variable holding the integration's routing key");
    expect_only(HEAD FEATS "    webhook: {url: \"http://h/\", headers: {Authorization: x}}\n",
                "t.yaml:7:43: streams[0].webhook.headers.Authorization would put a secret in "
                "the config file; use bearer_token_env or basic_auth_env (the secret stays in "
                "the environment)");
    expect_only(HEAD FEATS "    webhook: {url: \"http://h/\", headers: {\"X Y\": z}}\n",
                "t.yaml:7:43: streams[0].webhook.headers: 'X Y' is not a valid header name");
    expect_only(HEAD FEATS "    webhook: {url: \"http://h/\", format: slak}\n",
                "t.yaml:7:41: streams[0].webhook.format must be one of json, cloudevents, "
                "alertmanager, slack, pagerduty, airflow, airflow3, github, got \"slak\"; did "
                "you mean 'slack'?");
    expect_only(HEAD FEATS "    label: y\n    prediction: p\n"
                           "    performance: {task: regression, detector: ddm}\n",
                "t.yaml:9:47: streams[0].performance.detector ddm watches 0/1 errors; a "
                "regression task needs adwin, page_hinkley, cusum or kswin");
    expect_only(HEAD FEATS "    drift: {psi: false, ks_alpha: false}\n",
                "t.yaml:7:12: streams[0].drift disables every test (psi, ks_alpha, cvm_alpha, "
                "anderson_alpha); at least one must stay enabled");
    expect_only(HEAD FEATS "    drift: {correction: holm}\n",
                "t.yaml:7:25: streams[0].drift.correction must be one of none, bonferroni, bh, "
                "got \"holm\"");
    expect_only(HEAD FEATS "    webhook: {url: 'http://h/', backoff_base_ms: 9000, "
                           "backoff_max_ms: 1000}\n",
                "t.yaml:7:50: streams[0].webhook.backoff_base_ms (9000) must not exceed "
                "backoff_max_ms (1000)");
    expect_only("kafka: {brokers: 'k:9092', embedded_brokers: 3}\n" STREAMS,
                "t.yaml:1:46: kafka.embedded_brokers applies only to brokers: embedded");
    /* A refused value is reported once, not again by the rules that read it. */
    expect_only(HEAD FEATS "    window: {type: sliding, size: 5, slide: 2}\n",
                "t.yaml:7:35: streams[0].window.size must be an integer >= 10, got 5");
}

static void test_unreadable_file(void **state)
{
    struct drift_config *c = (void *)1;
    nerr = 0;
    assert_int_equal(drift_config_load(pool, "/nonexistent/x.yaml", &c, collect, NULL), -1);
    assert_null(c);
    assert_int_equal(nerr, 1);
    assert_string_equal(errs[0], "/nonexistent/x.yaml: cannot read: No such file or directory");
    nerr = 0;
    assert_int_equal(drift_config_load(pool, "configs", &c, collect, NULL), -1);
    assert_string_equal(errs[0], "configs: cannot read: Is a directory");
    /* No errfn is fine too: the count still comes back. */
    assert_int_equal(drift_config_load_buffer(pool, "t", "x: 1\n", 5, &c, NULL, NULL), -3);
}

/* The scratch pool of a load is destroyed and its memory reused by the next load; a config
 * whose strings still pointed into it would change under the caller. */
/* The Kafka and exec actions: their keys, defaults and refusals (no shell, a list argv). */
static void test_actions(void **state)
{
    apr_pool_t *a;
    apr_pool_create(&a, pool);
    struct drift_config *c;
    const char *yaml = HEAD FEATS "    kafka_action: {topic: retrain-requests}\n"
                                  "    exec:\n      command: [bin/retrain, --stream, s, \"a b\"]\n";
    nerr = 0;
    assert_int_equal(drift_config_load_buffer(a, "t.yaml", yaml, strlen(yaml), &c, collect, NULL),
                     0);
    /* other loads reuse the parser's scratch memory: the argv must be the config's own copy */
    struct drift_config *other;
    assert_true(load("kafka: {brokers: x}\nstreams: [{name: zzzzzzzzzz, topic: zzzzzzzzzzzz, "
                     "features: {zzzzzzzzzzzzzz: nope}}]\n", &other) < 0);
    const struct drift_stream_conf *s = &c->streams[0];
    assert_int_equal(s->kafka_action.enabled, 1);
    assert_string_equal(s->kafka_action.topic, "retrain-requests");
    assert_int_equal(s->exec.enabled, 1);
    assert_int_equal(s->exec.argc, 4);
    assert_string_equal(s->exec.argv[0], "bin/retrain");
    assert_string_equal(s->exec.argv[3], "a b");
    assert_null(s->exec.argv[4]);
    assert_int_equal(s->exec.timeout_s, 60);
    assert_int_equal(s->exec.resolutions, 0);
    apr_pool_destroy(a);
    assert_int_equal(load(HEAD FEATS, &c), 0);
    assert_int_equal(c->streams[0].kafka_action.enabled, 0);
    assert_int_equal(c->streams[0].exec.enabled, 0);

    expect_only(HEAD FEATS "    exec: {command: [/bin/sh, -c, 'curl x']}\n",
                "t.yaml:7:22: streams[0].exec.command[0] is /bin/sh: exec runs a program "
                "directly, never through a shell or env; name the script or program itself");
    expect_only(HEAD FEATS "    exec: {command: [env, X=1, retrain]}\n",
                "t.yaml:7:22: streams[0].exec.command[0] is env: exec runs a program "
                "directly, never through a shell or env; name the script or program itself");
    expect_only(HEAD FEATS "    exec: {command: /usr/bin/retrain --now}\n",
                "t.yaml:7:21: streams[0].exec.command must be a list of the program and its "
                "arguments (1 to 256 strings; no shell is used), got \"/usr/bin/retrain --now\"");
    expect_only(HEAD FEATS "    exec: {command: [retrain, {a: 1}]}\n",
                "t.yaml:7:31: streams[0].exec.command[1] must be a string, got a mapping");
    expect_only(HEAD FEATS "    exec: {timeout_s: 5}\n",
                "t.yaml:7:11: streams[0].exec.command is required: the program and its "
                "arguments, a list (no shell)");
    expect_only(HEAD FEATS "    exec: {command: [x], timeout_s: 0}\n",
                "t.yaml:7:37: streams[0].exec.timeout_s must be an integer between 1 and 86400, "
                "got 0");
    expect_only(HEAD FEATS "    kafka_action: {topic: t}\n",
                "t.yaml:7:27: streams[0].kafka_action.topic must differ from the stream's own "
                "topic (driftd would read its triggers back as events)");
    expect_only(HEAD FEATS "    webhook: {url: 'http://h/a'}\n"
                           "    webhooks: [{url: 'http://h/b'}, {url: 'http://h/a', format: slack}]\n",
                "t.yaml:8:37: streams[0].webhooks[1].url http://h/a is already a target of this "
                "stream; each target needs its own URL");
    expect_only(HEAD FEATS "    trigger: {features: [a, zz]}\n",
                "t.yaml:7:25: streams[0].trigger.features[1]: 'zz' is not a feature of this "
                "stream");
    expect_only(HEAD FEATS "    trigger: {statistics: [ks, chi]}\n",
                "t.yaml:7:32: streams[0].trigger.statistics[1]: unknown statistic 'chi' (allowed: "
                "psi, ks, cvm, anderson)");
    expect_only(HEAD FEATS "    trigger: {statistics: [ks, ks]}\n",
                "t.yaml:7:32: streams[0].trigger.statistics lists ks twice");
    expect_only(HEAD FEATS "    trigger: {min_severity: critical}\n",
                "t.yaml:7:14: streams[0].trigger.min_severity critical needs "
                "trigger.critical_share: the drifted share from which a window is critical");
    assert_int_equal(load(HEAD FEATS "    trigger: {features: [a], statistics: [psi, anderson],"
                          " min_severity: critical, critical_share: 0.5}\n", &c), 0);
    assert_int_equal(c->streams[0].trigger.nfeatures, 1);
    assert_string_equal(c->streams[0].trigger.features[0], "a");
    assert_int_equal(c->streams[0].trigger.statistics, DRIFT_STAT_PSI | DRIFT_STAT_ANDERSON);
    assert_int_equal(c->streams[0].trigger.min_severity, 1);
    expect_only(HEAD FEATS "    multivariate: {}\n",
                "t.yaml:7:19: streams[0].multivariate needs at least 2 numeric features, the "
                "stream has 1");
    expect_only(HEAD "    features: {a: numeric, b: numeric}\n    multivariate: {tests: [mmdx]}\n",
                "t.yaml:7:28: streams[0].multivariate.tests[0]: unknown test 'mmdx' (allowed: "
                "hotelling, correlation, pca, mmd)");
    assert_int_equal(load(HEAD "    features: {a: numeric, b: numeric}\n    multivariate: {}\n",
                          &c), 0);
    assert_int_equal(c->streams[0].multivariate.enabled, 1);
    assert_int_equal(c->streams[0].multivariate.tests, 7); /* all but mmd */
    assert_true(c->streams[0].multivariate.pca_variance == 0.65);
    assert_true(c->streams[0].multivariate.pca_std == 3);
    assert_int_equal(c->streams[0].multivariate.mmd_sample, 250);
    assert_int_equal(c->streams[0].multivariate.mmd_permutations, 100);
    assert_true(c->streams[0].multivariate.alpha == 0.01);
    assert_true(c->streams[0].multivariate.correlation_threshold == 0.3);
    assert_int_equal(load(HEAD "    features: {a: numeric, b: numeric}\n"
                          "    multivariate: {tests: [correlation], shrinkage: 0}\n", &c), 0);
    assert_int_equal(c->streams[0].multivariate.tests, 1 << DRIFT_MV_CORRELATION);
    expect_only("blas: {threads: 0}\n" HEAD FEATS,
                "t.yaml:1:17: blas.threads must be an integer between 1 and 64, got 0");
    assert_int_equal(load("blas: {threads: 2}\n" HEAD FEATS, &c), 0);
    assert_int_equal(c->blas.threads, 2);
    assert_int_equal(load(HEAD FEATS, &c), 0);
    assert_int_equal(c->blas.threads, 1);
    expect_only(HEAD "    label: y\n" FEATS "    learner: {optimizer: rls}\n",
                "t.yaml:8:26: streams[0].learner.optimizer rls fits a linear model; set "
                "streams[0].learner.kind: linear or choose sgd, adagrad or ftrl");
    assert_int_equal(load(HEAD "    label: y\n" FEATS "    learner: {kind: linear, optimizer: ftrl, "
                          "l1: 0.5, "
                          "batch: 8}\n", &c), 0);
    assert_string_equal(c->streams[0].learner.kind, "linear");
    assert_int_equal(c->streams[0].learner.optimizer, 2); /* ftrl */
    assert_true(c->streams[0].learner.l1 == 0.5 && c->streams[0].learner.ftrl_alpha == 0.1);
    assert_int_equal(c->streams[0].learner.batch, 8);
    assert_true(c->streams[0].learner.rls_forget == 1);
    expect_only(HEAD FEATS "    dedup: 1000\n",
                "t.yaml:7:12: streams[0].dedup needs streams[0].id_field: the field whose repeats "
                "are skipped");
    expect_only(HEAD FEATS "    max_lateness_s: 60\n",
                "t.yaml:7:21: streams[0].max_lateness_s needs streams[0].time_field: the event "
                "time it is measured on");
    expect_only(HEAD FEATS "    dead_letter_topic: t\n",
                "t.yaml:7:24: streams[0].dead_letter_topic must differ from streams[0].topic "
                "(skipped messages would come back)");
    expect_only(HEAD FEATS "    kafka_action: {}\n",
                "t.yaml:7:19: streams[0].kafka_action.topic is required: the topic each trigger "
                "is produced to, as a CloudEvent keyed by the stream");
}

/* Regression (security review M3): a webhook URL with user:password@ was accepted, and then
 * logged with every delivery and stored in the outbox. It is refused, at its position, with the
 * way to keep the secret out of the URL, and without echoing it; an '@' after the host is fine. */
static void test_url_credentials_refused(void **state)
{
    expect_only(HEAD FEATS "    webhook: {url: 'https://ci:hunter2@ci.internal/hooks/a'}\n",
                "t.yaml:7:20: streams[0].webhook.url must not hold credentials (user:password@ "
                "before the host): the URL is logged and stored with every delivery; put the "
                "secret in an environment variable and name it in basic_auth_env "
                "(user:password) or bearer_token_env");
    assert_null(strstr(errs[0], "hunter2"));
    expect_only(HEAD FEATS "    webhooks: [{url: 'http://token@h/b'}]\n",
                "t.yaml:7:22: streams[0].webhooks[0].url must not hold credentials (user:password@ "
                "before the host): the URL is logged and stored with every delivery; put the "
                "secret in an environment variable and name it in basic_auth_env "
                "(user:password) or bearer_token_env");
    struct drift_config *c;
    assert_int_equal(load(HEAD FEATS "    webhook: {url: 'https://h/users/@me?to=a@b#@'}\n", &c),
                     0);
    assert_string_equal(c->streams[0].webhook.url, "https://h/users/@me?to=a@b#@");
}

/* exec.env names the variables of driftd's environment the program also gets (spawn.c passes
 * only an allow-list otherwise); names are checked and kept in the config's pool. */
static void test_exec_env(void **state)
{
    apr_pool_t *a;
    apr_pool_create(&a, pool);
    struct drift_config *c;
    const char *yaml = HEAD FEATS "    exec: {command: [x], env: [JENKINS_TOKEN, _X1]}\n";
    nerr = 0;
    assert_int_equal(drift_config_load_buffer(a, "t.yaml", yaml, strlen(yaml), &c, collect, NULL),
                     0);
    struct drift_config *other;
    assert_true(load("kafka: {brokers: x}\nstreams: [{name: zzzzzzzzzz, topic: zzzzzzzzzzzz, "
                     "features: {zzzzzzzzzzzzzz: nope}}]\n", &other) < 0);
    assert_int_equal(c->streams[0].exec.nenv, 2);
    assert_string_equal(c->streams[0].exec.env[0], "JENKINS_TOKEN");
    assert_string_equal(c->streams[0].exec.env[1], "_X1");
    assert_null(c->streams[0].exec.env[2]);
    apr_pool_destroy(a);
    assert_int_equal(load(HEAD FEATS "    exec: {command: [x]}\n", &c), 0);
    assert_int_equal(c->streams[0].exec.nenv, 0);
    assert_null(c->streams[0].exec.env);
    expect_only(HEAD FEATS "    exec: {command: [x], env: [A, 1B]}\n",
                "t.yaml:7:35: streams[0].exec.env[1] must be an environment variable name "
                "(letters, digits and '_', not starting with a digit), got \"1B\"");
    expect_only(HEAD FEATS "    exec: {command: [x], env: [A, A]}\n",
                "t.yaml:7:35: streams[0].exec.env lists A twice");
    expect_only(HEAD FEATS "    exec: {command: [x], env: A}\n",
                "t.yaml:7:31: streams[0].exec.env must be a list of environment variable names "
                "(at most 256), got \"A\"");
}

static void test_config_owns_its_memory(void **state)
{
    apr_pool_t *a, *b;
    apr_pool_create(&a, pool);
    apr_pool_create(&b, pool);
    struct drift_config *c, *other;
    assert_int_equal(drift_config_load(a, "configs/example.yaml", &c, collect, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(drift_config_load(b, "configs/demo.yaml", &other, collect, NULL), 0);
        assert_true(load("kafka: {brokers: zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz}\n"
                         "streams: [{name: zzzzzzzzzzzzzzz, topic: t, features: {zzz: nope}}]\n",
                         &other) < 0);
    }
    const struct drift_stream_conf *s = &c->streams[0];
    assert_string_equal(c->path, "configs/example.yaml");
    assert_string_equal(c->kafka.group, "driftd-churn");
    assert_string_equal(c->kafka.offset_reset, "latest");
    assert_string_equal(c->kafka.properties[1].key, "sasl.mechanisms");
    assert_string_equal(c->kafka.properties[1].value, "SCRAM-SHA-512");
    assert_string_equal(c->store.path, "/var/lib/driftd/churn.db");
    assert_string_equal(s->name, "churn");
    assert_string_equal(s->topic, "churn.features.v3");
    assert_string_equal(s->features[0].name, "tenure_months");
    assert_string_equal(s->label, "churned");
    assert_string_equal(s->id_field, "customer_id");
    assert_string_equal(s->time_field, "event_ts");
    assert_string_equal(s->drift.rule, "any");
    assert_string_equal(s->trigger.name, "retrain-churn-model");
    assert_string_equal(s->learner.kind, "logistic");
    assert_string_equal(s->learner.topic, "churn.model-updates");
    apr_pool_destroy(b);
    apr_pool_destroy(a);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_config_loads),
        cmocka_unit_test(test_example_config_loads),
        cmocka_unit_test(test_defaults_when_keys_omitted),
        cmocka_unit_test(test_typo_gets_position_and_suggestion),
        cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_syntax_error_has_position_and_context),
        cmocka_unit_test(test_bad_values_name_the_key),
        cmocka_unit_test(test_learner_without_label),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_cross_key_rules),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_config_owns_its_memory),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_url_credentials_refused),
        cmocka_unit_test(test_exec_env),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
