/*
 * The outbox: asynchronous, at-least-once delivery of recorded triggers to their actions, on the
 * loop, through libcurl's multi interface (socket callbacks on uv_poll, one uv_timer).
 *
 * Each pending row is POSTed as JSON with an Idempotency-Key header. 2xx marks it done. 429,
 * 5xx and network errors are retried with exponential backoff and full jitter (delay =
 * rand(0, min(cap, base * 2^attempt))), never sooner than the receiver's Retry-After. Other 4xx
 * are permanent: the row is marked dead and reported. A row older than max_age, or past
 * max_attempts, is marked dead. At most max_inflight deliveries run at once. Rows pending at
 * shutdown stay in the store and are delivered after the next start.
 */
#ifndef DRIFT_OUTBOX_H
#define DRIFT_OUTBOX_H

#include <stdint.h>
#include <uv.h>

#include "store.h"

struct drift_outbox;

/* How to talk to one target URL: its body format, headers and credentials (environment
 * variable names; the values are read at each delivery and never stored). */
struct drift_webhook_target {
    const char *url;
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
    const struct drift_webhook_target *targets; /* by URL; a URL not listed gets driftd's json */
    int ntargets;
};

/* Reports each finished attempt: status is "done", "pending" or "dead". */
typedef void (*drift_outbox_report_fn)(void *ctx, const struct drift_outbox_row *r,
                                       const char *status, int http_status, const char *error);

/* Creates the outbox on loop, reading and updating rows in store (not owned). Starts a timer
 * that picks up due rows. Returns 0 and *out, or a negative code with err filled. */
int drift_outbox_open(uv_loop_t *loop, struct drift_store *store,
                      const struct drift_outbox_conf *conf, drift_outbox_report_fn report,
                      void *ctx, struct drift_outbox **out, char *err, size_t errlen);
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
