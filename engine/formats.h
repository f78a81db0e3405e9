/*
 * Webhook payload formats: driftd's own trigger payload turned into what the receiving system
 * expects (CloudEvents 1.0 structured JSON, Alertmanager webhook v4, Slack incoming webhook,
 * PagerDuty Events API v2, Airflow 2/3 DAG-run creation, GitHub repository_dispatch), and the
 * HMAC-SHA256 signature of a body. Bodies are built at delivery time from the stored payload, so
 * secrets that belong in a body (PagerDuty's routing key) never reach the SQLite file.
 */
#ifndef DRIFT_FORMATS_H
#define DRIFT_FORMATS_H

#include <stddef.h>

enum drift_webhook_format {
    DRIFT_FMT_JSON = 0,
    DRIFT_FMT_CLOUDEVENTS,
    DRIFT_FMT_ALERTMANAGER,
    DRIFT_FMT_SLACK,
    DRIFT_FMT_PAGERDUTY,
    DRIFT_FMT_AIRFLOW,  /* Airflow 2: POST /api/v1/dags/{dag_id}/dagRuns */
    DRIFT_FMT_AIRFLOW3, /* Airflow 3: POST /api/v2/dags/{dag_id}/dagRuns */
    DRIFT_FMT_GITHUB,
    DRIFT_FMT_COUNT
};

/* The config's names of the formats, indexed by enum drift_webhook_format; NULL-terminated. */
extern const char *const drift_format_names[DRIFT_FMT_COUNT + 1];

struct drift_format_opts {
    int format;               /* enum drift_webhook_format */
    const char *severity;     /* "warning" or "critical" (alertmanager label, pagerduty) */
    const char *routing_key;  /* pagerduty: the integration key (read from the environment) */
    const char *event_type;   /* github: repository_dispatch event_type (1-100 chars) */
};

/* Builds the body for opts->format from driftd's payload (JSON text with idempotency_key,
 * stream, trigger, kind, ...). Returns a malloc'd string and sets *content_type (static), or
 * NULL with err filled (payload not JSON, a required option missing). */
char *drift_format_body(const char *payload, const struct drift_format_opts *opts,
                        const char **content_type, char *err, size_t errlen);

/* 1 when a target of this format does not get this payload: a resolution (an alert that
 * cleared) sent to a retraining target (airflow, airflow3, github) would start a run. */
int drift_format_skips(const char *payload, int format);

/* HMAC-SHA256 of msg under key, as 64 lowercase hex digits and a NUL. Returns 0 or DRIFT_EFAULT. */
int drift_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen,
                          char out[65]);

#endif
