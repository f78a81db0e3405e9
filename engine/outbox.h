/*
 * The outbox: asynchronous, at-least-once delivery of recorded triggers to their actions, on the
 * loop, through libcurl's multi interface (socket callbacks on uv_poll, one uv_timer).
 *
 * Each pending row is a webhook POST (JSON, Idempotency-Key header), a Kafka message or a
 * program run. Success (2xx, a delivery report without error, exit 0) marks it done. 429,
 * 5xx, network and broker errors, exit 75 and timeouts are retried with exponential backoff
 * and full jitter (delay =
 * rand(0, min(cap, base * 2^attempt))), never sooner than the receiver's Retry-After. Other 4xx
 * and other exit statuses are permanent: the row is marked dead and reported. A row older than max_age, or past
 * max_attempts, is marked dead. At most max_inflight deliveries run at once. Rows pending at
 * shutdown stay in the store and are delivered after the next start.
 */
#ifndef DRIFT_OUTBOX_H
#define DRIFT_OUTBOX_H

#include <stdint.h>
#include <uv.h>

#include "store.h"

struct drift_outbox;

enum drift_action_kind { DRIFT_ACTION_WEBHOOK = 0, DRIFT_ACTION_KAFKA, DRIFT_ACTION_EXEC };

/* The action names stored in the outbox, indexed by enum drift_action_kind. */
extern const char *const drift_action_names[3];

struct drift_producer;

/* How to deliver to one target: for a webhook its URL, body format, headers and credentials
 * (environment variable names; the values are read at each delivery and never stored); for
 * Kafka its topic; for exec its argv. A row finds its target by (action, target). */
struct drift_action_target {
    int action;                   /* enum drift_action_kind */
    const char *target;           /* webhook URL, Kafka topic, or exec argv as JSON */
    const char *const *argv;      /* exec: the program and its arguments, NULL-terminated */
    int exec_timeout_ms;          /* exec: SIGTERM after this (SIGKILL 2 s later) */
    int exec_resolutions;         /* exec: run for resolutions too */
    const char *const *exec_env;  /* exec: names of driftd's environment variables the program
                                   * also gets (NULL-terminated, may be NULL); beyond these it
                                   * sees only PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME, TMPDIR
                                   * and the DRIFTD_* variables of the trigger */
    int format;                   /* enum drift_webhook_format */
    const char *severity;         /* "warning" | "critical" */
    const char *event_type;       /* github */
    const char *routing_key_env;  /* pagerduty */
    const char *bearer_token_env, *basic_auth_env, *hmac_secret_env;
    const struct drift_kv *headers;
    int nheaders;
    int tls_verify;
};

struct drift_outbox_conf {
    int timeout_ms;       /* per request (default 5000) */
    int max_attempts;     /* 0 = unlimited */
    int max_age_s;        /* dead after this age (default 86400) */
    int backoff_base_ms;  /* default 500 */
    int backoff_max_ms;   /* default 60000 */
    int max_inflight;     /* default 4 */
    const struct drift_action_target *targets; /* a webhook URL not listed gets driftd's json;
                                                * a Kafka or exec row not listed waits, retried,
                                                * until its limits (the config changed) */
    int ntargets;
    struct drift_producer *producer; /* for Kafka targets (not owned); NULL: none */
};

/* Reports each finished attempt: status is "done", "pending" or "dead". */
typedef void (*drift_outbox_report_fn)(void *ctx, const struct drift_outbox_row *r,
                                       const char *status, int http_status, const char *error);

/* Creates the outbox on loop, reading and updating rows in store (not owned). Starts a timer
 * that picks up due rows. Returns 0 and *out, or a negative code with err filled. */
int drift_outbox_open(uv_loop_t *loop, struct drift_store *store,
                      const struct drift_outbox_conf *conf, drift_outbox_report_fn report,
                      void *ctx, struct drift_outbox **out, char *err, size_t errlen);
/* The producer's delivery report for a Kafka row: opaque is what the outbox gave the producer
 * (the row id), err 0 on success. Reports for rows no longer in flight are ignored. */
void drift_outbox_produced(struct drift_outbox *o, void *opaque, int err, const char *errstr);
/* Looks for due rows now (call after recording a trigger). */
void drift_outbox_kick(struct drift_outbox *o);
/* Deliveries in flight. */
int drift_outbox_inflight(const struct drift_outbox *o);
/* Stops taking new rows, waits for in-flight deliveries for at most drain_ms (running the loop
 * is the caller's job: this only arms the deadline), then aborts the rest, leaving them pending,
 * and closes every handle; done_cb fires once all handles are closed. */
void drift_outbox_close(struct drift_outbox *o, int drain_ms, void (*done_cb)(void *ctx),
                        void *ctx);

#endif
