/*
 * The daemon: one libuv loop that owns the Kafka consumer, a pipeline per stream, the SQLite
 * store, the outbox and the producer. `driftd run` and `driftd demo` both drive it; the demo
 * only adds observers and its own producer and receiver around it.
 */
#ifndef DRIFT_DAEMON_H
#define DRIFT_DAEMON_H

#include <apr_pools.h>
#include <uv.h>

#include "config.h"
#include "outbox.h"
#include "stream.h"

struct drift_daemon;

/* Optional observers, called on the loop thread after the daemon has handled each event. */
struct drift_daemon_obs {
    void *ctx;
    void (*reference_ready)(void *ctx, const char *stream, uint64_t events);
    void (*window)(void *ctx, const struct drift_window_report *w);
    /* A trigger fired; recorded is 1 when it was newly written to the store (0: duplicate key,
     * or the store failed, which is logged). */
    void (*trigger)(void *ctx, const struct drift_trigger *t, int recorded);
    void (*delivery)(void *ctx, const struct drift_outbox_row *r, const char *status,
                     int http_status, const char *error);
    void (*model_update)(void *ctx, const char *stream, const char *json);
};

/* Starts everything on loop: the embedded cluster when kafka.brokers is "embedded", the store,
 * the outbox, the producer (when a learner publishes), the pipelines and the consumer. base_dir
 * resolves relative paths in the config. Returns 0 and *out, or a negative code with err filled
 * (nothing left running). */
int drift_daemon_open(uv_loop_t *loop, apr_pool_t *pool, const struct drift_config *cfg,
                      const char *base_dir, const struct drift_daemon_obs *obs,
                      struct drift_daemon **out, char *err, size_t errlen);
/* The bootstrap list the consumer uses (the embedded cluster's, when embedded). */
const char *drift_daemon_bootstraps(const struct drift_daemon *d);
/* 1 once the consumer has partitions assigned. */
int drift_daemon_assigned(const struct drift_daemon *d);
/* Messages consumed so far. */
unsigned long long drift_daemon_consumed(const struct drift_daemon *d);
void drift_daemon_stats(const struct drift_daemon *d, int stream, struct drift_pipeline_stats *out);
/* Outbox rows still pending. */
int drift_daemon_pending(const struct drift_daemon *d);
/* Applies a new config to the running daemon (SIGHUP). Only detection settings change this
 * way; a change to what the daemon wired up at start (Kafka, the store, the endpoint, a
 * stream's name, topics or delivery targets) is refused, and why says what needs a restart.
 * Each stream keeps the state of every operator whose definition did not change (its
 * "kept=... fresh=..." logged). All streams or none: on failure the running config stays and
 * why says what failed. cfg must stay valid until the next successful reload or stop. */
int drift_daemon_reload(struct drift_daemon *d, const struct drift_config *cfg, char *why,
                        size_t whylen);
/* Counts a reload refused before it reached the daemon (the file did not load). */
void drift_daemon_reload_refused(struct drift_daemon *d);
/* Graceful stop: leaves the group (committing offsets), gives in-flight deliveries up to
 * drain_ms, flushes the producer, closes the store and the cluster. done fires once every
 * handle is closed; the loop then ends by itself. */
void drift_daemon_stop(struct drift_daemon *d, int drain_ms, void (*done)(void *ctx), void *ctx);

#endif
