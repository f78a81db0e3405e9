/* Webhook formats, field by field against each receiver's documented schema (INTEGRATIONS.md:
 * CloudEvents 1.0 structured JSON, Alertmanager webhook v4, Slack incoming webhook, PagerDuty
 * Events v2, Airflow 2 and 3 dagRuns, GitHub repository_dispatch), and HMAC-SHA256 against
 * GitHub's documented test vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "formats.h"

static const char *const payload =
    "{\"type\":\"driftd.trigger\",\"idempotency_key\":\"fraud:retrain:00ab\",\"stream\":\"fraud\","
    "\"trigger\":\"retrain\",\"kind\":\"data_drift\",\"action\":\"retrain\","
    "\"detected_at\":\"2026-11-23T09:00:00Z\",\"window\":{\"index\":9},"
    "\"dataset\":{\"drifted_features\":2,\"features\":5},"
    "\"drifted_features\":[{\"feature\":\"amount\",\"psi\":0.4},{\"feature\":\"country\"}]}";

static json_t *build(int format, const char **ct)
{
    struct drift_format_opts o = {.format = format, .severity = "critical",
                                  .routing_key = "R0123456789abcdef0123456789abcde",
                                  .event_type = "retrain-fraud"};
    char err[128];
    char *body = drift_format_body(payload, &o, ct, err, sizeof(err));
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    return j;
}

static const char *s(json_t *o, const char *path)
{
    /* "a.b.c": nested objects; "a.0.b": array index */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = o;
    for (char *t = strtok(buf, "."); t != NULL && cur != NULL; t = strtok(NULL, ".")) {
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(t)) : json_object_get(cur, t);
    }
    return json_string_value(cur);
}

static void test_json_is_the_payload(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_JSON, &ct), *p = json_loads(payload, 0, NULL);
    assert_string_equal(ct, "application/json");
    assert_true(json_equal(j, p));
    json_decref(j);
    json_decref(p);
}

static void test_cloudevents(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_CLOUDEVENTS, &ct), *p = json_loads(payload, 0, NULL);
    assert_string_equal(ct, "application/cloudevents+json; charset=UTF-8");
    assert_string_equal(s(j, "specversion"), "1.0");
    assert_string_equal(s(j, "id"), "fraud:retrain:00ab");
    assert_string_equal(s(j, "source"), "/driftd/streams/fraud");
    assert_string_equal(s(j, "type"), "io.driftd.trigger.data_drift");
    assert_string_equal(s(j, "time"), "2026-11-23T09:00:00Z");
    assert_string_equal(s(j, "datacontenttype"), "application/json");
    assert_true(json_equal(json_object_get(j, "data"), p)); /* a JSON value, not a string */
    assert_null(json_object_get(j, "data_base64"));
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) { /* attribute names: [a-z0-9], at most 20 characters */
        assert_true(strlen(k) <= 20 && strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789") ==
                                           strlen(k));
    }
    json_decref(j);
    json_decref(p);
}

static void test_alertmanager(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_ALERTMANAGER, &ct);
    assert_string_equal(s(j, "version"), "4");
    assert_string_equal(s(j, "status"), "firing");
    assert_string_equal(s(j, "receiver"), "driftd");
    assert_non_null(s(j, "groupKey"));
    assert_true(json_is_integer(json_object_get(j, "truncatedAlerts")));
    assert_string_equal(s(j, "groupLabels.alertname"), "DataDrift");
    assert_string_equal(s(j, "commonLabels.severity"), "critical");
    assert_string_equal(s(j, "commonLabels.stream"), "fraud");
    assert_string_equal(s(j, "externalURL"), "");
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 1);
    assert_string_equal(s(j, "alerts.0.status"), "firing");
    assert_string_equal(s(j, "alerts.0.labels.alertname"), "DataDrift");
    assert_string_equal(s(j, "alerts.0.startsAt"), "2026-11-23T09:00:00Z");
    assert_string_equal(s(j, "alerts.0.endsAt"), "0001-01-01T00:00:00Z");
    assert_string_equal(s(j, "alerts.0.annotations.idempotency_key"), "fraud:retrain:00ab");
    assert_non_null(strstr(s(j, "alerts.0.annotations.summary"), "2 of 5 features drifted"));
    assert_int_equal(strlen(s(j, "alerts.0.fingerprint")), 16);
    assert_non_null(s(j, "alerts.0.generatorURL"));
    json_decref(j);
}

static void test_slack(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_SLACK, &ct);
    assert_string_equal(s(j, "text"),
                        "Data drift in stream fraud: 2 of 5 features drifted (amount, country)");
    assert_string_equal(s(j, "blocks.0.type"), "section");
    assert_string_equal(s(j, "blocks.0.text.type"), "mrkdwn");
    assert_string_equal(s(j, "blocks.1.type"), "context");
    assert_non_null(strstr(s(j, "blocks.1.elements.0.text"), "fraud:retrain:00ab"));
    json_decref(j);
}

static void test_pagerduty(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_PAGERDUTY, &ct), *p = json_loads(payload, 0, NULL);
    assert_string_equal(s(j, "routing_key"), "R0123456789abcdef0123456789abcde");
    assert_string_equal(s(j, "event_action"), "trigger");
    assert_string_equal(s(j, "dedup_key"), "fraud:retrain:00ab"); /* = the idempotency key */
    assert_true(strlen(s(j, "payload.summary")) <= 1024);
    assert_string_equal(s(j, "payload.source"), "driftd/fraud");
    assert_string_equal(s(j, "payload.severity"), "critical");
    assert_string_equal(s(j, "payload.timestamp"), "2026-11-23T09:00:00Z");
    assert_true(json_equal(json_object_get(json_object_get(j, "payload"), "custom_details"), p));
    json_decref(j);
    json_decref(p);
    /* Without a routing key there is no valid body. */
    struct drift_format_opts o = {.format = DRIFT_FMT_PAGERDUTY};
    char err[128];
    assert_null(drift_format_body(payload, &o, &ct, err, sizeof(err)));
    assert_non_null(strstr(err, "routing key"));
}

static void test_airflow_2_and_3(void **state)
{
    (void)state;
    const char *ct;
    json_t *p = json_loads(payload, 0, NULL);
    json_t *a2 = build(DRIFT_FMT_AIRFLOW, &ct), *a3 = build(DRIFT_FMT_AIRFLOW3, &ct);
    assert_string_equal(s(a2, "dag_run_id"), "fraud:retrain:00ab");
    assert_true(json_equal(json_object_get(a2, "conf"), p));
    assert_null(json_object_get(a2, "logical_date")); /* optional in 2 */
    assert_string_equal(s(a3, "dag_run_id"), "fraud:retrain:00ab");
    assert_true(json_is_null(json_object_get(a3, "logical_date"))); /* present, null, in 3 */
    assert_true(json_equal(json_object_get(a3, "conf"), p));
    assert_non_null(s(a3, "note"));
    json_decref(a2);
    json_decref(a3);
    json_decref(p);
}

static void test_github(void **state)
{
    (void)state;
    const char *ct;
    json_t *j = build(DRIFT_FMT_GITHUB, &ct);
    assert_string_equal(s(j, "event_type"), "retrain-fraud");
    json_t *cp = json_object_get(j, "client_payload");
    assert_true(json_object_size(cp) <= 10);
    assert_string_equal(s(cp, "idempotency_key"), "fraud:retrain:00ab");
    assert_string_equal(s(cp, "drifted_features.1"), "country");
    assert_string_equal(s(cp, "evidence.stream"), "fraud");
    json_decref(j);
}

static const char *const resolution =
    "{\"type\":\"driftd.resolved\",\"idempotency_key\":\"fraud:retrain:00ab:resolved\","
    "\"resolves\":\"fraud:retrain:00ab\",\"stream\":\"fraud\",\"trigger\":\"retrain\","
    "\"kind\":\"data_drift\",\"status\":\"resolved\",\"severity\":\"critical\","
    "\"detected_at\":\"2026-11-23T10:00:00Z\",\"clear_windows\":3}";

static json_t *build_res(int format)
{
    struct drift_format_opts o = {.format = format, .severity = "warning",
                                  .routing_key = "R0123456789abcdef0123456789abcde"};
    char err[128];
    const char *ct;
    char *body = drift_format_body(resolution, &o, &ct, err, sizeof(err));
    assert_non_null(body);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

/* A resolution closes what its trigger opened, in each alerting format; retraining targets
 * never get one; the payload's critical beats the target's default warning. */
static void test_resolutions(void **state)
{
    (void)state;
    const char *ct;
    json_t *fire = build(DRIFT_FMT_ALERTMANAGER, &ct), *res = build_res(DRIFT_FMT_ALERTMANAGER);
    assert_string_equal(s(res, "status"), "resolved");
    assert_string_equal(s(res, "alerts.0.status"), "resolved");
    assert_string_equal(s(res, "alerts.0.endsAt"), "2026-11-23T10:00:00Z");
    assert_string_equal(s(res, "alerts.0.fingerprint"), s(fire, "alerts.0.fingerprint"));
    assert_string_equal(s(res, "groupKey"), s(fire, "groupKey"));
    assert_string_equal(s(res, "commonLabels.severity"), "critical");
    json_decref(fire);
    json_decref(res);
    json_t *pd = build_res(DRIFT_FMT_PAGERDUTY);
    assert_string_equal(s(pd, "event_action"), "resolve");
    assert_string_equal(s(pd, "dedup_key"), "fraud:retrain:00ab"); /* the trigger's */
    json_decref(pd);
    json_t *ce = build_res(DRIFT_FMT_CLOUDEVENTS);
    assert_string_equal(s(ce, "type"), "io.driftd.resolved.data_drift");
    assert_string_equal(s(ce, "id"), "fraud:retrain:00ab:resolved");
    json_decref(ce);
    json_t *sl = build_res(DRIFT_FMT_SLACK);
    assert_non_null(strstr(s(sl, "text"), "Resolved"));
    json_decref(sl);
    assert_int_equal(drift_format_skips(resolution, DRIFT_FMT_AIRFLOW), 1);
    assert_int_equal(drift_format_skips(resolution, DRIFT_FMT_AIRFLOW3), 1);
    assert_int_equal(drift_format_skips(resolution, DRIFT_FMT_GITHUB), 1);
    assert_int_equal(drift_format_skips(resolution, DRIFT_FMT_PAGERDUTY), 0);
    assert_int_equal(drift_format_skips(payload, DRIFT_FMT_GITHUB), 0);
}

static void test_hmac_test_vector(void **state)
{
    (void)state;
    const char *key = "It's a Secret to Everybody", *msg = "Hello, World!";
    char hex[65];
    assert_int_equal(drift_hmac_sha256_hex(key, strlen(key), msg, strlen(msg), hex), 0);
    assert_string_equal(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    char err[64];
    const char *ct;
    struct drift_format_opts o = {.format = DRIFT_FMT_JSON};
    assert_null(drift_format_body("[1, 2]", &o, &ct, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_is_the_payload), cmocka_unit_test(test_cloudevents),
        cmocka_unit_test(test_alertmanager),        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_pagerduty),           cmocka_unit_test(test_airflow_2_and_3),
        cmocka_unit_test(test_github),              cmocka_unit_test(test_hmac_test_vector),
        cmocka_unit_test(test_resolutions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
