/*
 * Webhook payload formats (see formats.h). Each format is a pure function of driftd's payload
 * and the target's options: the same trigger always gives the same bytes, so a retried delivery
 * carries the same body (and the same signature).
 */
#include "formats.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

const char *const drift_format_names[DRIFT_FMT_COUNT + 1] = {
    [DRIFT_FMT_JSON] = "json",
    [DRIFT_FMT_CLOUDEVENTS] = "cloudevents",
    [DRIFT_FMT_ALERTMANAGER] = "alertmanager",
    [DRIFT_FMT_SLACK] = "slack",
    [DRIFT_FMT_PAGERDUTY] = "pagerduty",
    [DRIFT_FMT_AIRFLOW] = "airflow",
    [DRIFT_FMT_AIRFLOW3] = "airflow3",
    [DRIFT_FMT_GITHUB] = "github",
    [DRIFT_FMT_COUNT] = NULL,
};

static const char *str(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : def;
}

/* A resolution (hysteresis: the drift cleared), not a trigger. */
static int resolved(json_t *p)
{
    return strcmp(str(p, "status", ""), "resolved") == 0;
}

/* The target's severity is a floor: "critical" always pages critical; at "warning" (the
 * default) the trigger's own severity decides. */
static const char *severity(json_t *p, const struct drift_format_opts *opts)
{
    if (opts->severity != NULL && strcmp(opts->severity, "critical") == 0) {
        return "critical";
    }
    return str(p, "severity", "warning");
}

int drift_format_skips(const char *payload, int format)
{
    if (format != DRIFT_FMT_AIRFLOW && format != DRIFT_FMT_AIRFLOW3 && format != DRIFT_FMT_GITHUB) {
        return 0;
    }
    json_t *p = json_loads(payload, 0, NULL);
    int r = p != NULL && resolved(p);
    json_decref(p);
    return r; /* a resolution starts no retraining */
}

/* One line for people: what happened, where, and what it means. */
static void summary(json_t *p, char *buf, size_t len)
{
    const char *stream = str(p, "stream", "?"), *kind = str(p, "kind", "data_drift");
    if (resolved(p)) {
        snprintf(buf, len, "Resolved: no data drift in stream %s for %lld windows (alert %s)",
                 stream, (long long)json_integer_value(json_object_get(p, "clear_windows")),
                 str(p, "resolves", "?"));
        return;
    }
    if (strcmp(kind, "schedule") == 0) {
        snprintf(buf, len, "Scheduled retraining for stream %s (%s, slot %s)", stream,
                 str(p, "trigger", "scheduled"), str(p, "scheduled_for", "?"));
        return;
    }
    if (strcmp(kind, "data_volume") == 0) {
        snprintf(buf, len, "Retraining for stream %s: %lld new labelled events since the last "
                 "trigger", stream, (long long)json_integer_value(json_object_get(p,
                                                                     "labelled_events")));
        return;
    }
    if (strcmp(kind, "performance") == 0) {
        json_t *e = json_object_get(p, "error");
        json_t *det = json_object_get(p, "detector");
        snprintf(buf, len,
                 "Model performance changed in stream %s: %s detected a change in the %s error "
                 "(recent mean %.4g, %.4g before)",
                 stream, str(det, "name", "a detector"), str(e, "kind", "model's"),
                 json_number_value(json_object_get(e, "mean_recent")),
                 json_number_value(json_object_get(e, "mean_since_last_detection")));
        return;
    }
    json_t *ds = json_object_get(p, "dataset");
    json_t *drifted = json_object_get(p, "drifted_features");
    char names[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < json_array_size(drifted) && o < sizeof(names) - 40; i++) {
        const char *f = str(json_array_get(drifted, i), "feature", "?");
        int w = snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", f);
        o += w > 0 ? (size_t)w : 0;
        if (i == 7 && json_array_size(drifted) > 8) {
            snprintf(names + o, sizeof(names) - o, ", ...");
            break;
        }
    }
    snprintf(buf, len, "Data drift in stream %s: %lld of %lld features drifted (%s)", stream,
             (long long)json_integer_value(json_object_get(ds, "drifted_features")),
             (long long)json_integer_value(json_object_get(ds, "features")), names);
}

/* A stable 16-hex-digit fingerprint of s (FNV-1a). */
static void fingerprint(const char *s, char out[17])
{
    unsigned long long h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", h);
}

static json_t *cloudevent(json_t *p)
{
    const char *stream = str(p, "stream", "unknown");
    char src[300], type[80];
    snprintf(src, sizeof(src), "/driftd/streams/%s", stream);
    snprintf(type, sizeof(type), "io.driftd.%s.%s", resolved(p) ? "resolved" : "trigger",
             str(p, "kind", "data_drift"));
    json_t *o = json_object();
    json_object_set_new(o, "specversion", json_string("1.0"));
    json_object_set_new(o, "id", json_string(str(p, "idempotency_key", "")));
    json_object_set_new(o, "source", json_string(src));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "subject", json_string(str(p, "trigger", "retrain")));
    if (json_object_get(p, "detected_at") != NULL) {
        json_object_set(o, "time", json_object_get(p, "detected_at"));
    }
    json_object_set_new(o, "datacontenttype", json_string("application/json"));
    json_object_set(o, "data", p);
    return o;
}

static json_t *alertmanager(json_t *p, const struct drift_format_opts *opts, const char *text)
{
    const char *stream = str(p, "stream", "unknown"), *kind = str(p, "kind", "data_drift");
    const char *alertname = strcmp(kind, "performance") == 0   ? "ModelPerformanceDrift"
                            : strcmp(kind, "schedule") == 0    ? "ScheduledRetraining"
                            : strcmp(kind, "data_volume") == 0 ? "DataVolumeRetraining"
                                                               : "DataDrift";
    const char *sev = severity(p, opts);
    const char *status = resolved(p) ? "resolved" : "firing";
    /* A resolution is the same alert: its fingerprint comes from the trigger it resolves. */
    const char *alert_key = resolved(p) ? str(p, "resolves", "") : str(p, "idempotency_key", "");
    json_t *labels = json_pack("{s:s, s:s, s:s, s:s, s:s}", "alertname", alertname, "stream",
                               stream, "kind", kind, "trigger", str(p, "trigger", "retrain"),
                               "severity", sev);
    json_t *ann = json_pack("{s:s, s:s}", "summary", text, "idempotency_key",
                            str(p, "idempotency_key", ""));
    char fp[17], gk[400];
    fingerprint(alert_key, fp);
    snprintf(gk, sizeof(gk), "{}:{alertname=\"%s\", stream=\"%s\"}", alertname, stream);
    json_t *alert = json_object();
    json_object_set_new(alert, "status", json_string(status));
    json_object_set(alert, "labels", labels);
    json_object_set(alert, "annotations", ann);
    const char *at = str(p, "detected_at", "0001-01-01T00:00:00Z");
    json_object_set_new(alert, "startsAt", json_string(resolved(p) ? "0001-01-01T00:00:00Z" : at));
    json_object_set_new(alert, "endsAt", json_string(resolved(p) ? at : "0001-01-01T00:00:00Z"));
    json_object_set_new(alert, "generatorURL", json_string(""));
    json_object_set_new(alert, "fingerprint", json_string(fp));
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string("4"));
    json_object_set_new(o, "groupKey", json_string(gk));
    json_object_set_new(o, "truncatedAlerts", json_integer(0));
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "receiver", json_string("driftd"));
    json_object_set_new(o, "groupLabels", json_pack("{s:s, s:s}", "alertname", alertname,
                                                    "stream", stream));
    json_object_set_new(o, "commonLabels", labels);
    json_object_set_new(o, "commonAnnotations", ann);
    json_object_set_new(o, "externalURL", json_string(""));
    json_object_set_new(o, "alerts", json_pack("[o]", alert));
    return o;
}

static json_t *slack(json_t *p, const char *text)
{
    char md[1400], ctx[400];
    snprintf(md, sizeof(md), ":rotating_light: *%s*", text);
    snprintf(ctx, sizeof(ctx), "trigger `%s` · idempotency key `%s`", str(p, "trigger", "retrain"),
             str(p, "idempotency_key", ""));
    return json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]}", "text", text,
                     "blocks", "type", "section", "text", "type", "mrkdwn", "text", md, "type",
                     "context", "elements", "type", "mrkdwn", "text", ctx);
}

static json_t *pagerduty(json_t *p, const struct drift_format_opts *opts, const char *text)
{
    char src[300];
    snprintf(src, sizeof(src), "driftd/%s", str(p, "stream", "unknown"));
    json_t *pl = json_object();
    json_object_set_new(pl, "summary", json_stringn(text, strlen(text) > 1024 ? 1024
                                                                              : strlen(text)));
    json_object_set_new(pl, "source", json_string(src));
    json_object_set_new(pl, "severity", json_string(severity(p, opts)));
    if (json_object_get(p, "detected_at") != NULL) {
        json_object_set(pl, "timestamp", json_object_get(p, "detected_at"));
    }
    json_object_set_new(pl, "component", json_string(str(p, "stream", "unknown")));
    json_object_set_new(pl, "group", json_string("driftd"));
    json_object_set_new(pl, "class", json_string(str(p, "kind", "data_drift")));
    json_object_set(pl, "custom_details", p);
    json_t *o = json_object();
    json_object_set_new(o, "routing_key", json_string(opts->routing_key));
    /* A resolution resolves the incident its trigger opened: same dedup_key. */
    json_object_set_new(o, "event_action", json_string(resolved(p) ? "resolve" : "trigger"));
    json_object_set_new(o, "dedup_key", json_string(resolved(p) ? str(p, "resolves", "")
                                                                : str(p, "idempotency_key", "")));
    json_object_set_new(o, "payload", pl);
    return o;
}

static json_t *airflow(json_t *p, int v3, const char *text)
{
    json_t *o = json_object();
    json_object_set_new(o, "dag_run_id", json_string(str(p, "idempotency_key", "")));
    if (v3) {
        json_object_set_new(o, "logical_date", json_null()); /* required in Airflow 3 */
    }
    json_object_set(o, "conf", p);
    json_object_set_new(o, "note", json_string(text));
    return o;
}

static json_t *github(json_t *p, const struct drift_format_opts *opts)
{
    /* client_payload: at most 10 top-level keys; the full evidence is one of them. */
    json_t *cp = json_object();
    static const char *const keys[] = {"idempotency_key", "stream", "trigger", "kind",
                                       "detected_at", "window", "at"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_object_get(p, keys[i]) != NULL) {
            json_object_set(cp, keys[i], json_object_get(p, keys[i]));
        }
    }
    json_t *names = json_array();
    json_t *drifted = json_object_get(p, "drifted_features");
    for (size_t i = 0; i < json_array_size(drifted); i++) {
        json_array_append(names, json_object_get(json_array_get(drifted, i), "feature"));
    }
    json_object_set_new(cp, "drifted_features", names);
    json_object_set(cp, "evidence", p);
    return json_pack("{s:s, s:o}", "event_type",
                     opts->event_type ? opts->event_type : "driftd-retrain", "client_payload", cp);
}

char *drift_format_body(const char *payload, const struct drift_format_opts *opts,
                        const char **content_type, char *err, size_t errlen)
{
    json_error_t je;
    json_t *p = json_loads(payload, 0, &je);
    if (p == NULL || !json_is_object(p)) {
        json_decref(p);
        drift_seterr(err, errlen, DRIFT_EPARSE, "payload is not a JSON object");
        return NULL;
    }
    char text[1200];
    summary(p, text, sizeof(text));
    json_t *o = NULL;
    *content_type = "application/json";
    switch (opts->format) {
    case DRIFT_FMT_JSON:
        o = json_incref(p);
        break;
    case DRIFT_FMT_CLOUDEVENTS:
        o = cloudevent(p);
        *content_type = "application/cloudevents+json; charset=UTF-8";
        break;
    case DRIFT_FMT_ALERTMANAGER:
        o = alertmanager(p, opts, text);
        break;
    case DRIFT_FMT_SLACK:
        o = slack(p, text);
        break;
    case DRIFT_FMT_PAGERDUTY:
        if (opts->routing_key == NULL || opts->routing_key[0] == '\0') {
            drift_seterr(err, errlen, DRIFT_EINVAL, "pagerduty needs a routing key");
            json_decref(p);
            return NULL;
        }
        o = pagerduty(p, opts, text);
        break;
    case DRIFT_FMT_AIRFLOW:
    case DRIFT_FMT_AIRFLOW3:
        o = airflow(p, opts->format == DRIFT_FMT_AIRFLOW3, text);
        break;
    case DRIFT_FMT_GITHUB:
        o = github(p, opts);
        break;
    default:
        break;
    }
    json_decref(p);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (body == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "cannot build the %s body",
                     opts->format >= 0 && opts->format < DRIFT_FMT_COUNT
                         ? drift_format_names[opts->format]
                         : "?");
    }
    return body;
}

int drift_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen,
                          char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha256(), key, (int)klen, msg, mlen, md, &mdlen) == NULL || mdlen != 32) {
        out[0] = '\0';
        return DRIFT_EFAULT;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    return 0;
}
