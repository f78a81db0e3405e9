/*
 * The daemon: Kafka in, pipelines, store, outbox, producer, all on one libuv loop.
 *
 * The consumer hands over batches of messages; each message is routed to its stream's pipeline
 * by topic, decoded straight into that pipeline's column-major batch, and the batch is pushed
 * when full and at the end of the Kafka batch. Malformed messages are counted by reason and
 * logged at most once per reason per 10 s with the count of those suppressed; they never stop
 * the stream. Offsets are stored by the consumer only after this callback returns.
 *
 * A trigger from a pipeline is written to SQLite with its signals and outbox rows in one
 * transaction, then the outbox is kicked; delivery happens asynchronously on the same loop.
 */
#include "daemon.h"

#include <apr_strings.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "drift_op.h"
#include "join.h"
#include "kafka.h"
#include "log.h"
#include "prom.h"
#include "receiver.h"
#include "store.h"

#define BAD_LOG_INTERVAL_MS 10000 /* one log line per malformed-message reason per 10 s */
#define STATS_INTERVAL_MS 30000   /* per-stream stats line; DRIFTD_STATS_INTERVAL_MS overrides */

#define NKINDS 7
#define RATE_SPAN 10 /* seconds over which driftd_events_per_second is measured */
static const char *const trigger_kinds[NKINDS] = {"data_drift", "performance", "schedule",
                                                  "data_volume", "on_request", "resolved",
                                                  "other"};

/* What /metrics reports of a stream beyond its pipeline counters: the last closed window's
 * per-feature statistics and multivariate tests, and the triggers by kind. */
struct stream_metrics {
    int nf;                /* features of the stream (config order) */
    double *psi, *ks_p;    /* the last window's; NaN when not computed */
    int *drifted;
    int windows_seen;
    int mv_tests;
    struct drift_mv_result mv[DRIFT_MV_COUNT];
    uint64_t triggers[NKINDS];
    /* events decoded, sampled each second: the rate over the last RATE_SPAN seconds */
    uint64_t ev_ring[RATE_SPAN + 1];
    int ev_head, ev_filled;
};

/* Events per second over the samples kept (up to RATE_SPAN seconds); 0 before two samples. */
static double events_rate(const struct stream_metrics *m)
{
    if (m->ev_filled < 2) {
        return 0;
    }
    int span = m->ev_filled - 1;
    int oldest = (m->ev_head - span + RATE_SPAN + 1) % (RATE_SPAN + 1);
    return (double)(m->ev_ring[m->ev_head] - m->ev_ring[oldest]) / span;
}

struct drift_daemon {
    uv_loop_t *loop;
    apr_pool_t *pool;
    const struct drift_config *cfg;
    struct drift_daemon_obs obs;
    struct drift_mock *mock;
    const char *brokers;
    struct drift_store *store;
    struct drift_outbox *outbox;
    struct drift_producer *producer;
    struct drift_consumer *consumer;
    struct drift_pipeline **pipes;
    int npipes;
    uv_timer_t stats_timer;
    uv_timer_t sched_timer;   /* scheduled triggers: checked every second */
    struct drift_receiver *http; /* control endpoint, or NULL */
    const char *token;        /* its bearer token (from the environment) */
    int64_t *sched_next;      /* per stream: the next slot (epoch s), 0 = no schedule */
    const char **exec_keys;   /* per stream: its exec action's argv as JSON (outbox target) */
    int64_t *published_s;     /* per stream: when learner.publish_every_s last looked */
    struct stream_metrics *sm; /* per stream: what /metrics reports beyond the counters */
    uint64_t deliveries[3][3]; /* by action (webhook, kafka, exec) and outcome (done, retry,
                                * dead) */
    struct drift_hist batch_hist; /* seconds to process one consumed batch */
    double start_s;           /* wall clock at open */
    /* Checkpoints: the next offset to consume of every partition processed since assignment,
     * what was last written, and when. */
    struct next_off *offs;
    int noffs, offs_cap;
    uint64_t *ref_written;    /* per stream: the reference generation last written */
    int ckpt_dirty;           /* events processed since the last checkpoint */
    int window_closed;        /* a window closed since the last checkpoint */
    uint64_t ckpt_last_ms;    /* monotonic ms of the last checkpoint */
    uint64_t ckpts, ckpt_failures;
    uint64_t ckpt_ok_ms;      /* wall clock of the last checkpoint written, 0 = none yet */
    char ckpt_error[256];     /* the last failure, "" after a success */
    struct drift_hist ckpt_hist; /* seconds per checkpoint */
    uv_timer_t ckpt_timer;
    /* What a reload needs to build pipelines as open did. */
    struct drift_pipeline_hooks hooks;
    const char *base_dir;
    size_t batch_max;
    const char **topics;      /* the subscribed topics (strings that live as long as d) */
    int ntopics;
    uint64_t reloads, reload_failures;
    /* Triggers the store refused (busy, locked, disk full), oldest first, retried (after
     * store_retry_at). While any is held no checkpoint is taken: a crash then replays from before it and
     * fires it again, and the store deduplicates by key. */
    struct held_trigger *held, **held_tail;
    int nheld;
    uint64_t trigger_write_failures;
    int ckpt_hold;            /* a refused trigger could not even be held: no checkpoint until
                               * a restart, which replays it */
    /* After the store refused a write, the next try waits (1 s doubling to 15 s): each try can
     * block the loop for the store's busy timeout, and /healthz, /metrics and Kafka need it. */
    uint64_t store_retry_at;  /* uv_now ms */
    char store_error[256];    /* the store's answer to the last refused trigger */
    uint64_t store_backoff_ms;
    void (*done)(void *ctx);
    void *done_ctx;
    int stopping;
};

struct held_trigger {
    struct held_trigger *next;
    apr_pool_t *pool;
    struct drift_trigger_row row;
    struct drift_signal_row *sig;
    size_t nsig;
    struct drift_action_ref *targets;
    size_t ntargets;
};

struct next_off {
    const char *topic; /* our copy of the topic's name (topic_key) */
    int32_t partition;
    int64_t next;      /* the next offset to consume */
    int64_t saved;     /* the next offset of the last checkpoint, -1 before one */
};

#define CKPT_MIN_GAP_MS 1000 /* window-close checkpoints: at most one a second */

static void flush_held(struct drift_daemon *d);
static int checkpoint(struct drift_daemon *d, const char *why, int force);

static void store_refused(struct drift_daemon *d)
{
    d->store_backoff_ms = d->store_backoff_ms ? d->store_backoff_ms * 2 : 1000;
    if (d->store_backoff_ms > 15000) {
        d->store_backoff_ms = 15000;
    }
    d->store_retry_at = uv_now(d->loop) + d->store_backoff_ms;
}

static void store_took(struct drift_daemon *d)
{
    d->store_backoff_ms = 0;
    d->store_retry_at = 0;
}

static int store_may_try(const struct drift_daemon *d)
{
    return uv_now(d->loop) >= d->store_retry_at;
}
static int restore(struct drift_daemon *d, int i, char *err, size_t errlen);
static const char *topic_key(const struct drift_daemon *d, const char *topic);

/* One info line per stream with its counters: what an operator greps for, and what tests wait
 * on. */
static void log_stats(struct drift_daemon *d, const char *msg)
{
    for (int i = 0; i < d->npipes; i++) {
        struct drift_pipeline_stats ps;
        drift_pipeline_stats(d->pipes[i], &ps);
        uint64_t bad = 0;
        char reasons[256];
        size_t o = 0;
        reasons[0] = '\0';
        for (int r = 0; r < DRIFT_BAD_COUNT; r++) {
            bad += ps.bad[r];
            if (ps.bad[r] && o < sizeof(reasons) - 40) {
                o += (size_t)snprintf(reasons + o, sizeof(reasons) - o, " bad_%s=%llu",
                                      drift_bad_names[r], (unsigned long long)ps.bad[r]);
            }
        }
        DRIFT_INFO(msg, "stream=%s consumed=%llu events=%llu malformed=%llu%s reference=%s "
                   "windows=%llu drift_windows=%llu triggers=%llu model_updates=%llu "
                   "pending_deliveries=%d",
                   drift_pipeline_conf(d->pipes[i])->name,
                   d->consumer ? drift_consumer_count(d->consumer) : 0ull,
                   (unsigned long long)ps.events, (unsigned long long)bad, reasons,
                   ps.reference_ready ? "ready" : "warming_up", (unsigned long long)ps.windows,
                   (unsigned long long)ps.drift_windows, (unsigned long long)ps.triggers,
                   (unsigned long long)ps.model_updates,
                   d->store ? drift_store_outbox_count(d->store, "pending") : -1);
        const struct drift_stream_conf *sc = drift_pipeline_conf(d->pipes[i]);
        if (sc->performance.enabled) {
            struct drift_join_stats js;
            drift_pipeline_join_stats(d->pipes[i], &js);
            DRIFT_INFO(msg[0] == 'f' ? "final performance stats" : "performance stats",
                       "stream=%s detections=%llu warnings=%llu performance_triggers=%llu "
                       "labels_in=%llu labels_bad=%llu matched=%llu pending=%llu expired=%llu "
                       "overflowed=%llu unmatched=%llu duplicate_ids=%llu mean_label_delay_ms=%.0f",
                       sc->name, (unsigned long long)ps.performance_detections,
                       (unsigned long long)ps.performance_warnings,
                       (unsigned long long)ps.performance_triggers,
                       (unsigned long long)ps.labels_in, (unsigned long long)ps.labels_bad,
                       (unsigned long long)js.matched, (unsigned long long)js.pending,
                       (unsigned long long)js.expired, (unsigned long long)js.overflowed,
                       (unsigned long long)js.unmatched, (unsigned long long)js.duplicates,
                       js.matched ? ps.label_delay_ms_sum / (double)js.matched : 0.0);
        }
    }
}

/* The receiver answers with the status its callback leaves in the request. */
static void req_status(const struct drift_request *req, int status)
{
    ((struct drift_request *)req)->status = status;
}

/* ---------------------------------------------------------------------------------------------
 * /metrics (Prometheus text format)
 * -------------------------------------------------------------------------------------------*/
struct lag_ctx {
    struct drift_prom *p;
};

static void lag_sample(void *ctx, const char *topic, int32_t partition, int64_t lag)
{
    struct lag_ctx *l = ctx;
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    drift_prom_sample(l->p, "driftd_consumer_lag_messages", (double)lag, 2, "topic", topic,
                      "partition", part);
}

static double resident_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return NAN;
    }
    int ok = fscanf(f, "%ld %ld", &pages, &rss) == 2;
    fclose(f);
    return ok ? (double)rss * (double)sysconf(_SC_PAGESIZE) : NAN;
}

/* The whole exposition: counters per stream, the last window's statistics, triggers by kind,
 * the outbox and deliveries, consumer lag, batch latency, memory. */
static char *metrics_text(struct drift_daemon *d, size_t *len)
{
    struct drift_prom p = {0};
    int n = d->npipes;
    struct drift_pipeline_stats *st = calloc((size_t)n + 1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        drift_pipeline_stats(d->pipes[i], &st[i]);
    }
    const char *name;
#define STREAM_COUNTER(metric, field, help)                                                  \
    drift_prom_family(&p, metric, "counter", help);                                         \
    for (int i = 0; i < n; i++) {                                                          \
        name = drift_pipeline_conf(d->pipes[i])->name;                                     \
        drift_prom_sample(&p, metric, (double)st[i].field, 1, "stream", name);              \
    }
    drift_prom_family(&p, "driftd_messages_consumed_total", "counter",
                      "Kafka messages consumed, well-formed or not");
    drift_prom_sample(&p, "driftd_messages_consumed_total",
                      (double)(d->consumer ? drift_consumer_count(d->consumer) : 0), 0);
    STREAM_COUNTER("driftd_events_total", events, "Events decoded into a stream");
    drift_prom_family(&p, "driftd_events_per_second", "gauge",
                      "Events decoded per second over the last 10 s");
    for (int i = 0; i < n; i++) {
        drift_prom_sample(&p, "driftd_events_per_second", events_rate(&d->sm[i]), 1, "stream",
                          drift_pipeline_conf(d->pipes[i])->name);
    }
    drift_prom_family(&p, "driftd_decode_errors_total", "counter",
                      "Messages skipped, by reason");
    for (int i = 0; i < n; i++) {
        name = drift_pipeline_conf(d->pipes[i])->name;
        for (int r = 0; r < DRIFT_BAD_COUNT; r++) {
            drift_prom_sample(&p, "driftd_decode_errors_total", (double)st[i].bad[r], 2, "stream",
                              name, "reason", drift_bad_names[r]);
        }
    }
    STREAM_COUNTER("driftd_windows_total", windows, "Windows closed");
    STREAM_COUNTER("driftd_drift_windows_total", drift_windows, "Windows with dataset drift");
    STREAM_COUNTER("driftd_performance_detections_total", performance_detections,
                   "Concept-drift detections of the performance detector");
    STREAM_COUNTER("driftd_labelled_events_total", labelled, "Labelled events learnt from");
    STREAM_COUNTER("driftd_label_events_total", labels_in, "Label events read (labels.topic)");
    STREAM_COUNTER("driftd_label_events_bad_total", labels_bad,
                   "Label events refused (no id, no label, bad JSON); dead-lettered when set");
    STREAM_COUNTER("driftd_model_updates_total", model_updates, "Model versions published");
#undef STREAM_COUNTER
    drift_prom_family(&p, "driftd_triggers_total", "counter", "Triggers recorded, by kind");
    for (int i = 0; i < n; i++) {
        name = drift_pipeline_conf(d->pipes[i])->name;
        for (int k = 0; k < NKINDS; k++) {
            drift_prom_sample(&p, "driftd_triggers_total", (double)d->sm[i].triggers[k], 2,
                              "stream", name, "kind", trigger_kinds[k]);
        }
    }
    static const char *const gauges[3][2] = {
        {"driftd_feature_psi", "PSI of each feature in the last closed window"},
        {"driftd_feature_ks_pvalue", "KS p-value (after drift.correction) of each numeric "
                                     "feature in the last closed window"},
        {"driftd_feature_drifted", "1 when the feature drifted in the last closed window"}};
    for (int g = 0; g < 3; g++) {
        drift_prom_family(&p, gauges[g][0], "gauge", gauges[g][1]);
        for (int i = 0; i < n; i++) {
            const struct drift_stream_conf *sc = drift_pipeline_conf(d->pipes[i]);
            const struct stream_metrics *m = &d->sm[i];
            for (int j = 0; m->windows_seen && j < m->nf; j++) {
                double v = g == 0 ? m->psi[j] : g == 1 ? m->ks_p[j] : m->drifted[j];
                if (!isnan(v)) {
                    drift_prom_sample(&p, gauges[g][0], v, 2, "stream", sc->name, "feature",
                                      sc->features[j].name);
                }
            }
        }
    }
    static const char *const mv_test_names[DRIFT_MV_COUNT] = {"hotelling", "correlation", "pca",
                                                              "mmd"};
    drift_prom_family(&p, "driftd_multivariate_statistic", "gauge",
                      "Statistic of each multivariate test in the last closed window (T2, max "
                      "correlation change, reconstruction error, MMD2)");
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < DRIFT_MV_COUNT; t++) {
            if (d->sm[i].mv_tests & (1 << t)) {
                drift_prom_sample(&p, "driftd_multivariate_statistic", d->sm[i].mv[t].statistic,
                                  2, "stream", drift_pipeline_conf(d->pipes[i])->name, "test",
                                  mv_test_names[t]);
            }
        }
    }
    drift_prom_family(&p, "driftd_outbox_entries", "gauge", "Outbox entries, by status");
    static const char *const statuses[3] = {"pending", "done", "dead"};
    for (int k = 0; k < 3; k++) {
        drift_prom_sample(&p, "driftd_outbox_entries",
                          (double)drift_store_outbox_count(d->store, statuses[k]), 1, "status",
                          statuses[k]);
    }
    drift_prom_family(&p, "driftd_delivery_attempts_total", "counter",
                      "Delivery attempts, by action and outcome (done, retry, dead)");
    static const char *const outcomes[3] = {"done", "retry", "dead"};
    for (int a = 0; a < 3; a++) {
        for (int o = 0; o < 3; o++) {
            drift_prom_sample(&p, "driftd_delivery_attempts_total", (double)d->deliveries[a][o],
                              2, "action", drift_action_names[a], "outcome", outcomes[o]);
        }
    }
    drift_prom_family(&p, "driftd_consumer_lag_messages", "gauge",
                      "Messages behind the high watermark, per assigned partition");
    if (d->consumer != NULL) {
        struct lag_ctx l = {&p};
        drift_consumer_lag(d->consumer, lag_sample, &l);
    }
    drift_prom_histogram(&p, "driftd_batch_processing_seconds",
                         "Time to process one consumed batch through the pipelines",
                         &d->batch_hist);
    drift_prom_family(&p, "driftd_checkpoints_total", "counter",
                      "Checkpoints of the stream state written");
    drift_prom_sample(&p, "driftd_checkpoints_total", (double)d->ckpts, 0);
    drift_prom_family(&p, "driftd_checkpoint_failures_total", "counter",
                      "Checkpoints that could not be written (the previous one stands)");
    drift_prom_sample(&p, "driftd_checkpoint_failures_total", (double)d->ckpt_failures, 0);
    drift_prom_family(&p, "driftd_triggers_held", "gauge",
                      "Triggers the store refused, held in memory and retried");
    drift_prom_sample(&p, "driftd_triggers_held", (double)d->nheld, 0);
    drift_prom_family(&p, "driftd_trigger_write_failures_total", "counter",
                      "Trigger writes the store refused (each is held and retried)");
    drift_prom_sample(&p, "driftd_trigger_write_failures_total",
                      (double)d->trigger_write_failures, 0);
    drift_prom_family(&p, "driftd_config_reloads_total", "counter",
                      "Configuration reloads (SIGHUP) by result");
    drift_prom_sample(&p, "driftd_config_reloads_total", (double)d->reloads, 1, "result",
                      "applied");
    drift_prom_sample(&p, "driftd_config_reloads_total", (double)d->reload_failures, 1,
                      "result", "refused");
    drift_prom_histogram(&p, "driftd_checkpoint_duration_seconds",
                         "Time to serialise and commit one checkpoint", &d->ckpt_hist);
    drift_prom_family(&p, "driftd_resident_memory_bytes", "gauge", "Resident set size");
    drift_prom_sample(&p, "driftd_resident_memory_bytes", resident_bytes(), 0);
    drift_prom_family(&p, "driftd_start_time_seconds", "gauge",
                      "When the daemon started, seconds since the epoch");
    drift_prom_sample(&p, "driftd_start_time_seconds", d->start_s, 0);
    free(st);
    if (p.oom) {
        free(p.buf);
        return NULL;
    }
    *len = p.len;
    return p.buf;
}

/* ---------------------------------------------------------------------------------------------
 * /healthz and /status
 * -------------------------------------------------------------------------------------------*/
/* Ready when the consumer has partitions and every stream has its reference; else why not. */
static int health(struct drift_daemon *d, char *why, size_t len)
{
    if (d->stopping) {
        snprintf(why, len, "stopping");
        return 0;
    }
    if (d->nheld > 0) {
        snprintf(why, len, "%d trigger(s) held: the store refuses writes (%.160s)", d->nheld,
                 d->store_error);
        return 0;
    }
    if (d->ckpt_error[0] != '\0') {
        snprintf(why, len, "checkpoints failing: %.200s", d->ckpt_error);
        return 0;
    }
    if (drift_consumer_fault(d->consumer, why, len)) {
        return 0;
    }
    if (d->consumer == NULL || !drift_consumer_assigned(d->consumer)) {
        snprintf(why, len, "no Kafka partition assigned yet");
        return 0;
    }
    for (int i = 0; i < d->npipes; i++) {
        struct drift_pipeline_stats st;
        drift_pipeline_stats(d->pipes[i], &st);
        if (!st.reference_ready) {
            snprintf(why, len, "stream %s is building its reference (%llu events so far)",
                     drift_pipeline_conf(d->pipes[i])->name,
                     (unsigned long long)st.events);
            return 0;
        }
    }
    snprintf(why, len, "consuming");
    return 1;
}

struct lag_status {
    json_t *parts;
    struct drift_daemon *d;
};

/* A partition in /status: its lag, where processing is (next_offset) and where the last
 * checkpoint is (checkpointed: a restart resumes there). */
static void lag_json(void *ctx, const char *topic, int32_t partition, int64_t lag)
{
    struct lag_status *ls = ctx;
    json_t *o = json_pack("{s:s, s:i, s:I}", "topic", topic, "partition", (int)partition, "lag",
                          (json_int_t)lag);
    const char *t = topic_key(ls->d, topic);
    for (int k = 0; t != NULL && k < ls->d->noffs; k++) {
        const struct next_off *no = &ls->d->offs[k];
        if (no->partition == partition && strcmp(no->topic, t) == 0) {
            json_object_set_new(o, "next_offset", json_integer((json_int_t)no->next));
            json_object_set_new(o, "checkpointed", no->saved >= 0
                                                        ? json_integer((json_int_t)no->saved)
                                                        : json_null());
        }
    }
    json_array_append_new(ls->parts, o);
}

static void latest_model(void *ctx, int64_t version, int64_t created_ms, const char *js)
{
    *(int64_t *)ctx = version;
}

/* GET /status: streams with their counters and last verdicts, partitions and lag, the outbox,
 * model versions. */
static char *status_json(struct drift_daemon *d, size_t *len)
{
    json_t *o = json_object(), *streams = json_array(), *parts = json_array();
    char why[256];
    json_object_set_new(o, "ready", json_boolean(health(d, why, sizeof(why))));
    json_object_set_new(o, "why", json_string(why));
    unsigned long long consumed = d->consumer ? drift_consumer_count(d->consumer) : 0;
    json_object_set_new(o, "consumed", json_integer((json_int_t)consumed));
    for (int i = 0; i < d->npipes; i++) {
        const struct drift_stream_conf *sc = drift_pipeline_conf(d->pipes[i]);
        struct drift_pipeline_stats st;
        drift_pipeline_stats(d->pipes[i], &st);
        const struct stream_metrics *m = &d->sm[i];
        json_t *feats = json_array();
        for (int j = 0; m->windows_seen && j < m->nf; j++) {
            json_array_append_new(feats, json_pack("{s:s, s:o, s:o, s:b}", "feature",
                                                   sc->features[j].name,
                                                   "psi", isnan(m->psi[j]) ? json_null()
                                                                           : json_real(m->psi[j]),
                                                   "ks_pvalue", isnan(m->ks_p[j])
                                                                    ? json_null()
                                                                    : json_real(m->ks_p[j]),
                                                   "drifted", m->drifted[j]));
        }
        int64_t version = 0;
        drift_store_models(d->store, sc->name, 0, latest_model, &version);
        json_array_append_new(streams, json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "name", sc->name, "topic",
            sc->topic, "reference", st.reference_ready ? "ready" : "warming_up", "events",
            (json_int_t)st.events, "windows", (json_int_t)st.windows, "drift_windows",
            (json_int_t)st.drift_windows, "triggers", (json_int_t)st.triggers, "labelled",
            (json_int_t)st.labelled, "last_window", feats, "model_version",
            version > 0 ? json_integer((json_int_t)version) : json_null()));
    }
    json_object_set_new(o, "streams", streams);
    if (d->consumer != NULL) {
        struct lag_status ls = {parts, d};
        drift_consumer_lag(d->consumer, lag_json, &ls);
    }
    json_object_set_new(o, "partitions", parts);
    json_object_set_new(o, "checkpoint", json_pack(
        "{s:s, s:I, s:I, s:o, s:o, s:i}", "instance", d->cfg->store.instance, "written",
        (json_int_t)d->ckpts, "failures", (json_int_t)d->ckpt_failures, "age_s",
        d->ckpt_ok_ms ? json_real((double)(drift_wall_ms() - d->ckpt_ok_ms) / 1000.0)
                      : json_null(),
        "error", d->ckpt_error[0] ? json_string(d->ckpt_error) : json_null(), "triggers_held",
        d->nheld));
    json_object_set_new(o, "outbox", json_pack("{s:i, s:i, s:i}", "pending",
                                               drift_store_outbox_count(d->store, "pending"),
                                               "done", drift_store_outbox_count(d->store, "done"),
                                               "dead", drift_store_outbox_count(d->store, "dead")));
    char *js = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(o);
    *len = js != NULL ? strlen(js) : 0;
    return js;
}

/* Constant-time comparison of the presented token with ours. */
static int token_ok(const char *auth, const char *token)
{
    if (auth == NULL || token == NULL || strncmp(auth, "Bearer ", 7) != 0) {
        return 0;
    }
    const char *got = auth + 7;
    size_t gl = strlen(got), tl = strlen(token);
    unsigned char diff = (unsigned char)(gl != tl);
    for (size_t i = 0; i < tl; i++) {
        diff |= (unsigned char)(token[i] ^ (i < gl ? got[i] : 0));
    }
    return diff == 0;
}

static struct drift_pipeline *pipe_named(struct drift_daemon *d, const char *name, size_t len)
{
    for (int i = 0; i < d->npipes; i++) {
        const char *n = drift_pipeline_conf(d->pipes[i])->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) {
            return d->pipes[i];
        }
    }
    return NULL;
}

/* The control endpoint: POST /triggers/STREAM (an on-request trigger; optional body
 * {"reason": ..., "request_id": ...}) and POST /models/STREAM/deployed ({"version": ...}: the
 * new model is live; re-baseline). Both need Authorization: Bearer <token>; GET /healthz is
 * open. Answers: 202 trigger recorded, 200 deployment applied, 401, 404, 405, 400. */
static void on_http(void *ctx, const struct drift_request *req)
{
    struct drift_daemon *d = ctx;
    const char *path = req->path;
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/status") == 0) { /* read-only */
        if (strcmp(req->method, "GET") != 0) {
            req_status(req, 405);
            return;
        }
        struct drift_request *w = (struct drift_request *)req;
        char why[256];
        int ready = health(d, why, sizeof(why));
        if (path[1] == 'h') {
            json_t *o = json_pack("{s:b, s:s}", "ready", ready, "why", why);
            w->resp_body = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            w->resp_len = w->resp_body != NULL ? strlen(w->resp_body) : 0;
            req_status(req, ready ? 200 : 503);
        } else {
            w->resp_body = status_json(d, &w->resp_len);
            req_status(req, w->resp_body != NULL ? 200 : 503);
        }
        w->resp_type = "application/json";
        return;
    }
    if (strcmp(path, "/metrics") == 0) { /* read-only: no token */
        if (strcmp(req->method, "GET") != 0) {
            req_status(req, 405);
            return;
        }
        struct drift_request *w = (struct drift_request *)req;
        w->resp_body = metrics_text(d, &w->resp_len);
        w->resp_type = "text/plain; version=0.0.4; charset=utf-8";
        req_status(req, w->resp_body != NULL ? 200 : 503);
        return;
    }
    int trig = strncmp(path, "/triggers/", 10) == 0;
    int model = strncmp(path, "/models/", 8) == 0;
    if (!trig && !model) {
        req_status(req, 404);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        req_status(req, 405);
        return;
    }
    if (!token_ok(req->authorization, d->token)) {
        DRIFT_WARN("control request refused: missing or wrong token", "path=%s", path);
        req_status(req, 401);
        return;
    }
    const char *name = path + (trig ? 10 : 8);
    const char *end = trig ? name + strlen(name) : strrchr(name, '/');
    int publish = model && end != NULL && strcmp(end, "/publish") == 0;
    if (end == NULL || (model && strcmp(end, "/deployed") != 0 && !publish)) {
        req_status(req, 404);
        return;
    }
    struct drift_pipeline *p = pipe_named(d, name, (size_t)(end - name));
    if (p == NULL) {
        req_status(req, 404);
        return;
    }
    json_t *body = req->body_len > 0 ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    if (req->body_len > 0 && !json_is_object(body)) {
        json_decref(body);
        req_status(req, 400);
        return;
    }
    const char *sname = drift_pipeline_conf(p)->name;
    if (publish) {
        /* on demand: the learner's current model as the next version; 409 without a learner
         * (or before the reference exists) */
        int rc = drift_pipeline_publish(p, "request");
        DRIFT_INFO("model publish requested", "stream=%s result=%s", sname,
                   rc == 0 ? "ok" : drift_strerror(rc));
        json_decref(body);
        req_status(req, rc == 0 ? 200 : 409);
        return;
    }
    if (trig) {
        char key[256];
        drift_pipeline_fire_request(p, json_string_value(json_object_get(body, "reason")),
                                    json_string_value(json_object_get(body, "request_id")),
                                    (int64_t)drift_wall_ms(), key, sizeof(key));
        DRIFT_INFO("on-request trigger", "stream=%s key=%s", sname, key);
        req_status(req, 202);
    } else {
        const char *version = json_string_value(json_object_get(body, "version"));
        /* trained_until: a time (string) or an offset (integer), kept as given */
        json_t *tu = json_object_get(body, "trained_until");
        char tub[64];
        const char *trained = json_string_value(tu);
        if (json_is_integer(tu)) {
            snprintf(tub, sizeof(tub), "%lld", (long long)json_integer_value(tu));
            trained = tub;
        }
        int rc = drift_pipeline_rebaseline(p, version);
        char err[256];
        if (rc == 0 && drift_store_deployment_add(d->store, sname, version, trained,
                                                  (int64_t)drift_wall_ms(), err,
                                                  sizeof(err)) != 0) {
            DRIFT_ERROR("cannot record deployment", "stream=%s error=\"%s\"", sname, err);
        }
        DRIFT_INFO("model deployed: re-baselining", "stream=%s version=%s trained_until=%s "
                   "result=%s", sname, version ? version : "", trained ? trained : "",
                   rc == 0 ? "ok" : drift_strerror(rc));
        req_status(req, rc == 0 ? 200 : 503);
    }
    json_decref(body);
}

/* The first slot of stream sc's schedule strictly after now_s, or 0 when it has none. */
static int64_t next_slot(const struct drift_stream_conf *sc, int64_t now_s)
{
    if (!sc->schedule.enabled) {
        return 0;
    }
    if (sc->schedule.cron != NULL) {
        struct drift_cron c;
        char err[128];
        if (drift_cron_parse(sc->schedule.cron, &c, err, sizeof(err)) != 0) {
            return 0; /* the config loader has refused it already */
        }
        int64_t t = drift_cron_next(&c, now_s);
        return t > 0 ? t : 0;
    }
    int64_t e = sc->schedule.every_s > 0 ? sc->schedule.every_s : 86400;
    return (now_s / e + 1) * e;
}

static void sample_rates(struct drift_daemon *d)
{
    for (int i = 0; i < d->npipes; i++) {
        struct drift_pipeline_stats st;
        drift_pipeline_stats(d->pipes[i], &st);
        struct stream_metrics *m = &d->sm[i];
        m->ev_head = (m->ev_head + 1) % (RATE_SPAN + 1);
        m->ev_ring[m->ev_head] = st.events;
        if (m->ev_filled < RATE_SPAN + 1) {
            m->ev_filled++;
        }
    }
}

static void on_sched_timer(uv_timer_t *t)
{
    struct drift_daemon *d = t->data;
    int64_t now_s = (int64_t)(drift_wall_ms() / 1000);
    sample_rates(d);
    if (d->held != NULL && store_may_try(d)) {
        flush_held(d);
        if (d->held == NULL) {
            checkpoint(d, "held triggers written", 1);
        }
    }
    for (int i = 0; i < d->npipes; i++) {
        if (d->sched_next[i] > 0 && now_s >= d->sched_next[i]) {
            int64_t slot = d->sched_next[i];
            DRIFT_INFO("scheduled trigger", "stream=%s slot=%lld",
                       drift_pipeline_conf(d->pipes[i])->name, (long long)slot);
            drift_pipeline_fire_schedule(d->pipes[i], slot);
            d->sched_next[i] = next_slot(drift_pipeline_conf(d->pipes[i]), now_s);
        }
        /* learner.publish_every_s: the model as it is, when it learnt since the last version */
        const struct drift_stream_conf *sc = drift_pipeline_conf(d->pipes[i]);
        if (sc->learner.enabled && sc->learner.publish_every_s > 0 &&
            now_s - d->published_s[i] >= sc->learner.publish_every_s) {
            if (drift_pipeline_publish_if_new(d->pipes[i], "timer") == 0) {
                DRIFT_DEBUG("model published on time", "stream=%s", sc->name);
            }
            d->published_s[i] = now_s;
        }
    }
}

static void on_stats_timer(uv_timer_t *t)
{
    struct drift_daemon *d = t->data;
    for (int i = 0; i < d->npipes; i++) {
        drift_pipeline_expire(d->pipes[i]);
    }
    log_stats(t->data, "stream stats");
}

/* ---------------------------------------------------------------------------------------------
 * Pipeline hooks
 * -------------------------------------------------------------------------------------------*/
static uint64_t hook_now(void *ctx)
{
    return drift_wall_ms();
}

static void hook_reference(void *ctx, const char *stream, uint64_t events)
{
    struct drift_daemon *d = ctx;
    DRIFT_INFO("reference profile ready", "stream=%s events=%llu", stream,
               (unsigned long long)events);
    if (d->obs.reference_ready) {
        d->obs.reference_ready(d->obs.ctx, stream, events);
    }
}

static int stream_index(const struct drift_daemon *d, const char *name)
{
    for (int i = 0; i < d->cfg->nstreams; i++) {
        if (strcmp(d->cfg->streams[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

static void hook_window(void *ctx, const struct drift_window_report *w)
{
    struct drift_daemon *d = ctx;
    d->window_closed = 1;
    int si = stream_index(d, w->stream);
    if (si >= 0 && d->sm != NULL) {
        struct stream_metrics *m = &d->sm[si];
        for (int i = 0; i < w->nfeatures && i < m->nf; i++) {
            m->psi[i] = w->features[i].psi;
            m->ks_p[i] = w->features[i].ks_padj;
            m->drifted[i] = w->features[i].drifted;
        }
        m->windows_seen = 1;
        m->mv_tests = w->mv_tests;
        memcpy(m->mv, w->mv, sizeof(m->mv));
    }
    if (w->dataset_drift && drift_log_enabled(DRIFT_LOG_INFO)) {
        char names[512];
        size_t o = 0;
        names[0] = '\0';
        for (int i = 0; i < w->nfeatures && o < sizeof(names) - 64; i++) {
            if (w->features[i].drifted) {
                o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? "," : "",
                                      w->features[i].name);
            }
        }
        DRIFT_INFO("dataset drift", "stream=%s window=%llu events=%llu-%llu share=%.3f drifted=%s",
                   w->stream, (unsigned long long)w->index, (unsigned long long)w->first_seq,
                   (unsigned long long)w->last_seq, w->share, names);
    } else {
        DRIFT_DEBUG("window closed", "stream=%s window=%llu share=%.3f", w->stream,
                    (unsigned long long)w->index, w->share);
    }
    if (d->obs.window) {
        d->obs.window(d->obs.ctx, w);
    }
}

static void hook_perf_window(void *ctx, const struct drift_perf_window *w)
{
    struct drift_daemon *d = ctx;
    int task = 0;
    for (int i = 0; i < d->cfg->nstreams; i++) {
        if (strcmp(d->cfg->streams[i].name, w->stream) == 0) {
            task = d->cfg->streams[i].performance.task;
        }
    }
    json_t *o = drift_perf_window_json(w, task);
    char *js = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    char err[256];
    if (js == NULL || drift_store_perf_window_add(d->store, w->stream, w->index, w->first_pair,
                                                  w->pairs, (int64_t)drift_wall_ms(), js, err,
                                                  sizeof(err)) != 0) {
        DRIFT_ERROR("cannot record performance window", "stream=%s window=%llu error=\"%s\"",
                    w->stream, (unsigned long long)w->index, js ? err : "out of memory");
    }
    DRIFT_INFO("performance window", "stream=%s window=%llu pairs=%llu metrics=%s", w->stream,
               (unsigned long long)w->index, (unsigned long long)w->pairs, js ? js : "{}");
    free(js);
}

/* Writes one trigger with its signals and outbox rows; 1 when newly recorded. */
static int store_trigger(struct drift_daemon *d, const struct drift_trigger_row *row,
                         const struct drift_signal_row *sig, size_t nsig,
                         const struct drift_action_ref *targets, size_t ntargets,
                         const char *at, uint64_t at_n, char *err, size_t errlen, int *rc_out)
{
    int64_t id = 0;
    int rc = drift_store_trigger_add(d->store, row, sig, nsig, targets, ntargets, &id, err,
                                     errlen);
    *rc_out = rc;
    if (rc == 0) {
        DRIFT_INFO("retraining trigger recorded", "stream=%s rule=%s kind=%s key=%s "
                   "trigger_id=%lld %s=%llu deliveries=%zu", row->stream, row->rule, row->kind,
                   row->idem_key, (long long)id, at, (unsigned long long)at_n, ntargets);
        if (ntargets > 0) {
            drift_outbox_kick(d->outbox);
        }
        return 1;
    }
    if (rc == DRIFT_EEXIST) {
        DRIFT_INFO("trigger already recorded; not queued again", "stream=%s key=%s",
                   row->stream, row->idem_key);
        *rc_out = 0;
    }
    return 0;
}

/* Keeps a copy of a trigger the store refused, to write it again later. */
static int hold_trigger(struct drift_daemon *d, const struct drift_trigger_row *row,
                        const struct drift_signal_row *sig, size_t nsig,
                        const struct drift_action_ref *targets, size_t ntargets)
{
    apr_pool_t *pool;
    if (apr_pool_create(&pool, d->pool) != APR_SUCCESS) {
        return DRIFT_ENOMEM;
    }
    struct held_trigger *h = apr_pcalloc(pool, sizeof(*h));
    h->pool = pool;
    h->row = (struct drift_trigger_row){apr_pstrdup(pool, row->idem_key),
                                        apr_pstrdup(pool, row->stream),
                                        apr_pstrdup(pool, row->rule),
                                        apr_pstrdup(pool, row->kind), row->created_ms,
                                        apr_pstrdup(pool, row->payload)};
    h->sig = apr_pcalloc(pool, (nsig + 1) * sizeof(*sig));
    for (size_t i = 0; i < nsig; i++) {
        h->sig[i] = sig[i];
        h->sig[i].feature = apr_pstrdup(pool, sig[i].feature);
        h->sig[i].statistic = apr_pstrdup(pool, sig[i].statistic);
    }
    h->nsig = nsig;
    h->targets = apr_pcalloc(pool, (ntargets + 1) * sizeof(*targets));
    for (size_t i = 0; i < ntargets; i++) {
        h->targets[i] = (struct drift_action_ref){apr_pstrdup(pool, targets[i].action),
                                                  apr_pstrdup(pool, targets[i].target)};
    }
    h->ntargets = ntargets;
    if (d->held_tail == NULL) {
        d->held_tail = &d->held;
    }
    *d->held_tail = h;
    d->held_tail = &h->next;
    d->nheld++;
    return 0;
}

/* Writes the held triggers, oldest first, until the store refuses one again. */
static void flush_held(struct drift_daemon *d)
{
    while (d->held != NULL) {
        struct held_trigger *h = d->held;
        char err[256];
        int rc;
        store_trigger(d, &h->row, h->sig, h->nsig, h->targets, h->ntargets, "held", 0, err,
                      sizeof(err), &rc);
        if (rc != 0) {
            snprintf(d->store_error, sizeof(d->store_error), "%s", err);
            store_refused(d);
            return;
        }
        store_took(d);
        DRIFT_INFO("held trigger written", "stream=%s key=%s still_held=%d", h->row.stream,
                   h->row.idem_key, d->nheld - 1);
        d->held = h->next;
        if (d->held == NULL) {
            d->held_tail = &d->held;
        }
        d->nheld--;
        apr_pool_destroy(h->pool);
    }
}

/* A trigger reaches the store now, or is held and retried; it is never dropped. Returns 1
 * when it was newly written now. */
static int record_trigger(struct drift_daemon *d, const struct drift_trigger_row *row,
                          const struct drift_signal_row *sig, size_t nsig,
                          const struct drift_action_ref *targets, size_t ntargets,
                          const char *at, uint64_t at_n)
{
    char err[256] = "";
    int rc = 0, recorded = 0;
    if (d->held == NULL) { /* else it waits its turn: the held ones are retried in order */
        recorded = store_trigger(d, row, sig, nsig, targets, ntargets, at, at_n, err,
                                 sizeof(err), &rc);
        if (rc == 0) {
            store_took(d);
            return recorded;
        }
        snprintf(d->store_error, sizeof(d->store_error), "%s", err);
        store_refused(d);
    } else {
        snprintf(err, sizeof(err), "%d earlier trigger(s) not yet written", d->nheld);
    }
    d->trigger_write_failures++;
    if (hold_trigger(d, row, sig, nsig, targets, ntargets) == 0) {
        DRIFT_ERROR("cannot record trigger now; held in memory and retried, checkpoints "
                    "wait for it", "stream=%s key=%s held=%d error=\"%s\"",
                    row->stream, row->idem_key, d->nheld, err);
    } else {
        DRIFT_ERROR("cannot record or hold trigger; a restart replays it from the last "
                    "checkpoint", "stream=%s key=%s error=\"%s\"", row->stream,
                    row->idem_key, err);
        d->ckpt_hold = 1;
    }
    return 0;
}

static void hook_trigger(void *ctx, const struct drift_trigger *t)
{
    struct drift_daemon *d = ctx;
    const struct drift_stream_conf *sc = NULL;
    int si = -1;
    for (int i = 0; i < d->cfg->nstreams; i++) {
        if (strcmp(d->cfg->streams[i].name, t->stream) == 0) {
            sc = &d->cfg->streams[i];
            si = i;
        }
    }
    if (si >= 0 && d->sm != NULL) {
        int k = 0;
        while (k < NKINDS - 1 && strcmp(trigger_kinds[k], t->kind) != 0) {
            k++;
        }
        d->sm[si].triggers[k]++;
    }
    int nf = t->window != NULL ? t->window->nfeatures : 0;
    struct drift_signal_row *sig = calloc((size_t)nf * 4 + 1, sizeof(*sig));
    size_t nsig = 0;
    if (sig == NULL) {
        DRIFT_ERROR("out of memory recording trigger", "key=%s", t->idem_key);
        return;
    }
    for (int i = 0; i < nf; i++) {
        const struct drift_feature_report *f = &t->window->features[i];
        if (!isnan(f->psi)) {
            sig[nsig++] = (struct drift_signal_row){f->name, "psi", f->psi, NAN,
                                                    sc ? sc->drift.psi_threshold : NAN,
                                                    f->psi_drift};
        }
        /* p-value tests record the p-value their verdict used (adjusted under a correction). */
        if (!isnan(f->ks)) {
            sig[nsig++] = (struct drift_signal_row){f->name, "ks", f->ks, f->ks_padj,
                                                    sc ? sc->drift.ks_alpha : NAN, f->ks_drift};
        }
        if (!isnan(f->cvm)) {
            sig[nsig++] = (struct drift_signal_row){f->name, "cvm", f->cvm, f->cvm_padj,
                                                    sc ? sc->drift.cvm_alpha : NAN, f->cvm_drift};
        }
        if (!isnan(f->ad)) {
            sig[nsig++] = (struct drift_signal_row){f->name, "anderson", f->ad, f->ad_padj,
                                                    sc ? sc->drift.anderson_alpha : NAN,
                                                    f->ad_drift};
        }
    }
    if (t->window != NULL) {
        sig[nsig++] = (struct drift_signal_row){"*", "share", t->window->share, NAN,
                                                t->window->share_threshold, 1};
    } else if (sc != NULL && strcmp(t->kind, "performance") == 0) {
        /* the detector fired on the recent error */
        sig[nsig++] = (struct drift_signal_row){"*", sc->performance.detector, t->error_recent,
                                                NAN, NAN, 1};
    } else if (sc != NULL && strcmp(t->kind, "schedule") == 0) {
        sig[nsig++] = (struct drift_signal_row){"*", "schedule", 1, NAN, NAN, 1};
    } else if (sc != NULL && strcmp(t->kind, "data_volume") == 0) {
        sig[nsig++] = (struct drift_signal_row){"*", "labelled_events",
                                                (double)sc->trigger.volume, NAN,
                                                (double)sc->trigger.volume, 1};
    }
    struct drift_trigger_row row = {
        .idem_key = t->idem_key,
        .stream = t->stream,
        .rule = t->rule,
        .kind = t->kind,
        .created_ms = (int64_t)drift_wall_ms(),
        .payload = t->payload,
    };
    struct drift_action_ref targets[67];
    size_t ntargets = 0;
    if (sc != NULL && sc->webhook.url != NULL) {
        targets[ntargets++] = (struct drift_action_ref){"webhook", sc->webhook.url};
    }
    for (int i = 0; sc != NULL && i < sc->nwebhooks && ntargets < 65; i++) {
        targets[ntargets++] = (struct drift_action_ref){"webhook", sc->webhooks[i].url};
    }
    if (sc != NULL && sc->kafka_action.enabled) {
        targets[ntargets++] = (struct drift_action_ref){"kafka", sc->kafka_action.topic};
    }
    if (sc != NULL && sc->exec.enabled && si >= 0) {
        targets[ntargets++] = (struct drift_action_ref){"exec", d->exec_keys[si]};
    }
    int recorded = record_trigger(d, &row, sig, nsig, targets, ntargets,
                                  t->window != NULL ? "window" : "pair",
                                  t->window != NULL ? t->window->index : t->pair);
    free(sig);
    if (d->obs.trigger) {
        d->obs.trigger(d->obs.ctx, t, recorded);
    }
}

static void hook_model(void *ctx, const char *stream, const char *topic, const char *json)
{
    struct drift_daemon *d = ctx;
    /* the registry first: `driftd model show|export` reads it, whatever Kafka does */
    json_t *o = json_loads(json, 0, NULL);
    json_int_t version = json_integer_value(json_object_get(o, "version"));
    json_decref(o);
    char err[256];
    if (version < 1 || drift_store_model_add(d->store, stream, (int64_t)version,
                                             (int64_t)drift_wall_ms(), json, err,
                                             sizeof(err)) != 0) {
        DRIFT_ERROR("cannot record model update", "stream=%s version=%lld error=\"%s\"", stream,
                    (long long)version, version < 1 ? "no version" : err);
    }
    if (d->producer != NULL && topic != NULL) {
        int rc = drift_producer_send(d->producer, topic, stream, strlen(stream), json,
                                     strlen(json), NULL);
        if (rc != 0) {
            DRIFT_WARN("model update not published", "stream=%s topic=%s error=\"%s\"", stream,
                       topic, drift_strerror(rc));
        } else {
            DRIFT_DEBUG("model update published", "stream=%s topic=%s", stream, topic);
        }
    }
    if (d->obs.model_update) {
        d->obs.model_update(d->obs.ctx, stream, json);
    }
}

/* v as a logfmt value: as it is when it needs no quoting, else in double quotes with '"' and
 * '\\' escaped; cut to fit out. */
static void logfmt_quote(char *out, size_t len, const char *v)
{
    if (v == NULL) {
        v = "";
    }
    if (v[0] != '\0' && strpbrk(v, " \"=\\") == NULL) {
        snprintf(out, len, "%s", v);
        return;
    }
    size_t o = 0;
    out[o++] = '"';
    for (; *v && o + 3 < len; v++) {
        if (*v == '"' || *v == '\\') {
            out[o++] = '\\';
        }
        out[o++] = *v;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void on_delivery(void *ctx, const struct drift_outbox_row *r, const char *status,
                        int http_status, const char *error)
{
    struct drift_daemon *d = ctx;
    int a = r->action == NULL ? 0 : strcmp(r->action, "kafka") == 0 ? 1
                                    : strcmp(r->action, "exec") == 0 ? 2 : 0;
    d->deliveries[a][strcmp(status, "done") == 0 ? 0 : strcmp(status, "dead") == 0 ? 2 : 1]++;
    /* the message names the action: "webhook delivered", "kafka delivered", "exec delivered" */
    char msg[64], tq[512], eq[1024];
    const char *what = r->action != NULL ? r->action : "webhook";
    logfmt_quote(tq, sizeof(tq), r->target); /* an exec target is JSON, with quotes */
    logfmt_quote(eq, sizeof(eq), error != NULL ? error : "");
    if (strcmp(status, "done") == 0) {
        snprintf(msg, sizeof(msg), "%s delivered", what);
        DRIFT_INFO(msg, "outbox_id=%lld target=%s status=%d attempts=%d", (long long)r->id,
                   tq, http_status, r->attempts + 1);
    } else if (strcmp(status, "dead") == 0) {
        snprintf(msg, sizeof(msg), "%s delivery failed permanently", what);
        DRIFT_ERROR(msg, "outbox_id=%lld target=%s status=%d attempts=%d error=%s",
                    (long long)r->id, tq, http_status, r->attempts + 1,
                    eq);
    } else {
        snprintf(msg, sizeof(msg), "%s delivery failed; will retry", what);
        DRIFT_WARN(msg, "outbox_id=%lld target=%s status=%d attempts=%d error=%s",
                   (long long)r->id, tq, http_status, r->attempts + 1,
                   eq);
    }
    if (d->obs.delivery) {
        d->obs.delivery(d->obs.ctx, r, status, http_status, error);
    }
}

static void on_dr(void *ctx, void *opaque, int err, const char *errstr)
{
    struct drift_daemon *d = ctx;
    if (opaque != NULL) {
        drift_outbox_produced(d->outbox, opaque, err, errstr); /* a Kafka action's row */
        return;
    }
    if (err != 0) {
        DRIFT_WARN("produce failed", "error=\"%s\"", errstr ? errstr : "");
    }
}

/* ---------------------------------------------------------------------------------------------
 * Consumer batches
 * -------------------------------------------------------------------------------------------*/
/* Forwards a skipped message, unchanged, to the stream's dead-letter topic, its key kept and
 * why in headers (driftd-reason, driftd-detail, driftd-topic, driftd-partition, driftd-offset).
 * Best effort: a failure is logged (rate-limited) and the message stays counted as skipped. */
static void dead_letter(struct drift_daemon *d, const struct drift_stream_conf *sc,
                        const rd_kafka_message_t *m, const char *topic, const char *reason,
                        const char *detail)
{
    if (sc->dead_letter_topic == NULL || d->producer == NULL) {
        return;
    }
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    const struct drift_kv h[5] = {{"driftd-reason", reason},
                                  {"driftd-detail", detail != NULL ? detail : ""},
                                  {"driftd-topic", topic},
                                  {"driftd-partition", part},
                                  {"driftd-offset", off}};
    int rc = drift_producer_send_headers(d->producer, sc->dead_letter_topic, m->key, m->key_len,
                                         m->payload, m->len, h, 5, NULL);
    uint64_t suppressed;
    if (rc != 0 && drift_log_ratelimit("dead_letter", BAD_LOG_INTERVAL_MS, &suppressed)) {
        DRIFT_WARN("dead-letter produce failed", "stream=%s topic=%s error=\"%s\"", sc->name,
                   sc->dead_letter_topic, drift_strerror(rc));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 * -------------------------------------------------------------------------------------------*/
static const char *group_of(const struct drift_daemon *d)
{
    return d->cfg->kafka.group ? d->cfg->kafka.group : "driftd";
}

/* Our own copy of a subscribed topic's name (offsets keep a pointer to it; it outlives any
 * reloaded config), or NULL for a topic we do not consume. */
static const char *topic_key(const struct drift_daemon *d, const char *topic)
{
    for (int i = 0; i < d->ntopics; i++) {
        if (strcmp(d->topics[i], topic) == 0) {
            return d->topics[i];
        }
    }
    return NULL;
}

static struct next_off *next_off_slot(struct drift_daemon *d, const char *topic, int32_t part)
{
    for (int i = 0; i < d->noffs; i++) {
        if (d->offs[i].partition == part && strcmp(d->offs[i].topic, topic) == 0) {
            return &d->offs[i];
        }
    }
    if (d->noffs == d->offs_cap) {
        int cap = d->offs_cap ? 2 * d->offs_cap : 16;
        struct next_off *o = realloc(d->offs, (size_t)cap * sizeof(*o));
        if (o == NULL) {
            return NULL;
        }
        d->offs = o;
        d->offs_cap = cap;
    }
    d->offs[d->noffs] = (struct next_off){topic, part, -1, -1};
    return &d->offs[d->noffs++];
}

/* One checkpoint: every stream's live state (and its reference when it changed) with the next
 * offset of every partition processed, in one transaction. Taken between batches, when no
 * pipeline holds a row. A failure (busy, locked, disk full) is logged and counted, and the
 * next one tries again: the previous checkpoint stays whole. */
static int checkpoint(struct drift_daemon *d, const char *why, int force)
{
    uint64_t t0 = uv_hrtime();
    if (force) {
        flush_held(d);
    } else if (!store_may_try(d)) {
        return DRIFT_EFAULT; /* the store refused the last write: wait for the retry time */
    }
    if (d->nheld > 0 || d->ckpt_hold) {
        /* the state to save is past a trigger the store does not have yet */
        d->ckpt_failures++;
        snprintf(d->ckpt_error, sizeof(d->ckpt_error), "waiting for %d trigger(s) the store "
                 "refused", d->nheld);
        return DRIFT_EFAULT;
    }
    struct drift_ckpt_part *parts = calloc((size_t)d->npipes * 2 + 1, sizeof(*parts));
    struct drift_ckpt_offset *offs = calloc((size_t)d->noffs + 1, sizeof(*offs));
    unsigned char **bufs = calloc((size_t)d->npipes * 2 + 1, sizeof(*bufs));
    int np = 0, no = 0, rc = parts && offs && bufs ? 0 : DRIFT_ENOMEM;
    char err[256] = "out of memory";
    for (int i = 0; rc == 0 && i < d->npipes; i++) {
        struct drift_pipeline *p = d->pipes[i];
        uint64_t gen = drift_pipeline_ref_gen(p);
        for (int part = gen != d->ref_written[i] ? DRIFT_STATE_REFERENCE : DRIFT_STATE_LIVE;
             rc == 0 && part <= DRIFT_STATE_LIVE; part++) {
            size_t len = 0;
            rc = drift_pipeline_save(p, part, &bufs[np], &len);
            parts[np] = (struct drift_ckpt_part){drift_pipeline_conf(p)->name, part, gen,
                                                 bufs[np], len};
            np += rc == 0;
        }
    }
    for (int i = 0; rc == 0 && i < d->noffs; i++) {
        if (d->offs[i].next >= 0) {
            offs[no++] = (struct drift_ckpt_offset){d->offs[i].topic, d->offs[i].partition,
                                                    d->offs[i].next};
        }
    }
    if (rc == 0) {
        rc = drift_store_checkpoint(d->store, d->cfg->store.instance, group_of(d), parts, np,
                                    offs, no, (int64_t)drift_wall_ms(), err, sizeof(err));
    }
    if (rc == 0) {
        for (int i = 0; i < np; i++) {
            if (parts[i].part == DRIFT_STATE_REFERENCE) {
                d->ref_written[stream_index(d, parts[i].stream)] = parts[i].gen;
            }
        }
        /* Kafka commits what the checkpoint covers, never more: a next owner that cannot read
         * the store and falls back to the committed offsets still starts where our state ends */
        for (int i = 0; i < no; i++) {
            drift_consumer_store_offset(d->consumer, offs[i].topic, offs[i].partition,
                                        offs[i].next);
        }
        for (int i = 0; i < d->noffs; i++) {
            d->offs[i].saved = d->offs[i].next;
        }
        d->ckpt_ok_ms = drift_wall_ms();
        store_took(d);
        d->ckpts++;
        d->ckpt_dirty = d->window_closed = 0;
        d->ckpt_error[0] = '\0';
        drift_hist_observe(&d->ckpt_hist, (double)(uv_hrtime() - t0) * 1e-9);
        DRIFT_DEBUG("checkpoint", "why=%s streams=%d partitions=%d", why, d->npipes, no);
    } else {
        store_refused(d);
        d->ckpt_failures++;
        snprintf(d->ckpt_error, sizeof(d->ckpt_error), "%s", err);
        uint64_t suppressed;
        if (drift_log_ratelimit("checkpoint_failed", BAD_LOG_INTERVAL_MS, &suppressed)) {
            DRIFT_ERROR("checkpoint failed; the previous one stands, will retry", "why=%s "
                        "error=\"%s\" suppressed_since_last=%llu", why, err,
                        (unsigned long long)suppressed);
        }
    }
    d->ckpt_last_ms = uv_now(d->loop);
    for (int i = 0; bufs != NULL && i < np; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(parts);
    free(offs);
    return rc;
}

static void on_ckpt_timer(uv_timer_t *t)
{
    struct drift_daemon *d = t->data;
    if (d->ckpt_dirty || d->ckpt_error[0] != '\0') {
        checkpoint(d, "timer", 0);
    }
}

/* Partitions arrive: each starts at the next offset its last owner's checkpoint recorded (ours
 * after a restart, another instance's after a rebalance); without one, at the committed offset
 * (auto.offset.reset for a new group). */
static void on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts, int lost)
{
    struct drift_daemon *d = ctx;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        char from[256];
        int64_t next = drift_store_offset(d->store, group_of(d), d->cfg->store.instance,
                                          tp->topic, tp->partition, from, sizeof(from));
        if (next >= 0) {
            tp->offset = next;
            DRIFT_INFO("partition resumes from checkpoint", "topic=%s partition=%d offset=%lld",
                       tp->topic, (int)tp->partition, (long long)next);
            if (strcmp(from, group_of(d)) != 0) {
                DRIFT_WARN("no checkpointed offset for this consumer group; resuming where this "
                           "instance's state is, under its previous group", "topic=%s "
                           "partition=%d group=%s previous_group=%s", tp->topic,
                           (int)tp->partition, group_of(d), from);
            }
        } else if (next != -1) {
            DRIFT_ERROR("cannot read checkpointed offset; using the committed one",
                        "topic=%s partition=%d", tp->topic, (int)tp->partition);
        }
    }
}

/* Forgets what the pipelines learnt past the last checkpoint: every stream is rebuilt from it,
 * triggers held since are dropped (the replay fires them again), and each partition in keep
 * (still ours) goes back to its checkpointed offset. Used when partitions leave without a
 * checkpoint of where we were: their next owner resumes at the last one, so our state must not
 * keep the events after it. */
static void rollback(struct drift_daemon *d, const rd_kafka_topic_partition_list_t *gone)
{
    char err[256];
    for (int i = 0; i < d->npipes; i++) {
        struct drift_pipeline *old = d->pipes[i];
        d->pipes[i] = drift_pipeline_create(d->pool, &d->cfg->streams[i], d->batch_max,
                                            d->base_dir, &d->hooks, err, sizeof(err));
        if (d->pipes[i] == NULL || restore(d, i, err, sizeof(err)) != 0) {
            /* e.g. reference.path is gone since the start: keep going as we were */
            DRIFT_ERROR("cannot rebuild the stream from its checkpoint; it keeps its state, and "
                        "events since the checkpoint may be counted twice", "stream=%s "
                        "error=\"%s\"", d->cfg->streams[i].name, err);
            if (d->pipes[i] != NULL) {
                apr_pool_destroy(drift_pipeline_pool(d->pipes[i]));
            }
            d->pipes[i] = old;
            continue;
        }
        apr_pool_destroy(drift_pipeline_pool(old));
    }
    while (d->held != NULL) {
        struct held_trigger *h = d->held;
        d->held = h->next;
        apr_pool_destroy(h->pool);
    }
    d->held_tail = &d->held;
    d->nheld = 0;
    d->ckpt_hold = 0;
    d->ckpt_dirty = d->window_closed = 0;
    d->ckpt_error[0] = '\0';
    for (int k = 0; k < d->noffs; k++) {
        int leaving = 0;
        for (int j = 0; gone != NULL && j < gone->cnt && !leaving; j++) {
            leaving = strcmp(gone->elems[j].topic, d->offs[k].topic) == 0 &&
                      gone->elems[j].partition == d->offs[k].partition;
        }
        if (leaving) {
            continue;
        }
        int64_t next = drift_store_offset(d->store, group_of(d), d->cfg->store.instance,
                                          d->offs[k].topic, d->offs[k].partition, NULL, 0);
        if (next >= 0) {
            drift_consumer_seek(d->consumer, d->offs[k].topic, d->offs[k].partition, next);
            d->offs[k].next = next;
        }
    }
}

/* Partitions leave: a checkpoint first, so that their next owner starts exactly where we
 * stopped (no event counted twice), then they are forgotten. If the store refuses it (retried
 * for a few seconds), or the partitions were lost (taken away without a revoke: a session
 * timeout), the next owner resumes at our last checkpoint, so we return there too. */
static void on_revoke(void *ctx, rd_kafka_topic_partition_list_t *parts, int lost)
{
    struct drift_daemon *d = ctx;
    int rc = 0;
    if (!lost) {
        rc = checkpoint(d, "revoke", 1);
        for (int tries = 0; rc != 0 && d->nheld == 0 && tries < 3; tries++) {
            rc = checkpoint(d, "revoke", 1);
        }
    }
    if (lost || rc != 0) {
        DRIFT_ERROR("partitions leave without a checkpoint of where we were; going back to the "
                    "last one", "partitions=%d lost=%d error=\"%s\"", parts->cnt, lost,
                    lost ? "assignment lost" : d->ckpt_error);
        rollback(d, parts);
    }
    for (int i = 0; i < parts->cnt; i++) {
        const char *t = topic_key(d, parts->elems[i].topic);
        for (int k = 0; k < d->noffs; k++) {
            if (t != NULL && strcmp(d->offs[k].topic, t) == 0 &&
                d->offs[k].partition == parts->elems[i].partition) {
                d->offs[k] = d->offs[--d->noffs];
                break;
            }
        }
    }
}

static void on_batch_(struct drift_daemon *d, rd_kafka_message_t **msgs, size_t n);

/* Times each consumed batch through the pipelines (the processing-latency histogram). */
static void on_batch(void *ctx, rd_kafka_message_t **msgs, size_t n)
{
    struct drift_daemon *d = ctx;
    uint64_t t0 = uv_hrtime();
    on_batch_(d, msgs, n);
    /* every message of the batch is processed (or skipped and counted): where each partition
     * resumes */
    struct next_off *o = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *t = topic_key(d, rd_kafka_topic_name(msgs[i]->rkt));
        if (o == NULL || t == NULL || strcmp(o->topic, t) != 0 ||
            o->partition != msgs[i]->partition) {
            o = t != NULL ? next_off_slot(d, t, msgs[i]->partition) : NULL;
        }
        if (o != NULL) {
            o->next = msgs[i]->offset + 1;
        }
    }
    d->ckpt_dirty = 1;
    drift_hist_observe(&d->batch_hist, (double)(uv_hrtime() - t0) * 1e-9);
    if (d->window_closed && uv_now(d->loop) - d->ckpt_last_ms >= CKPT_MIN_GAP_MS) {
        checkpoint(d, "window", 0);
    }
}

static void on_batch_(struct drift_daemon *d, rd_kafka_message_t **msgs, size_t n)
{
    struct drift_pipeline *last = NULL;
    const char *last_topic = NULL;
    int last_is_label = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        struct drift_pipeline *p = last;
        if (last_topic == NULL || strcmp(topic, last_topic) != 0) {
            p = NULL;
            last_is_label = 0;
            for (int s = 0; s < d->npipes; s++) {
                const struct drift_stream_conf *sc = drift_pipeline_conf(d->pipes[s]);
                if (strcmp(sc->topic, topic) == 0) {
                    p = d->pipes[s];
                    break;
                }
                if (sc->labels.enabled && strcmp(sc->labels.topic, topic) == 0) {
                    p = d->pipes[s];
                    last_is_label = 1;
                    break;
                }
            }
            last = p;
            last_topic = topic;
        }
        if (p == NULL) {
            continue;
        }
        if (last_is_label) {
            const char *why;
            if (drift_pipeline_label(p, m->payload, m->len, m->partition, m->offset, &why) != 0) {
                uint64_t suppressed;
                if (drift_log_ratelimit("bad_label_event", BAD_LOG_INTERVAL_MS, &suppressed)) {
                    DRIFT_WARN("skipped malformed label event", "stream=%s topic=%s partition=%d "
                               "offset=%lld detail=\"%s\" suppressed_since_last=%llu",
                               drift_pipeline_conf(p)->name, topic, (int)m->partition,
                               (long long)m->offset, why, (unsigned long long)suppressed);
                }
                dead_letter(d, drift_pipeline_conf(p), m, topic, "bad_label_event", why);
            }
            continue;
        }
        struct drift_batch *b = drift_pipeline_batch(p);
        size_t row = b->n;
        int bad;
        const char *detail;
        if (drift_decode(drift_pipeline_decoder(p), m->payload, m->len, b, &bad, &detail) != 0) {
            drift_pipeline_count_bad(p, bad);
            uint64_t suppressed;
            if (drift_log_ratelimit(drift_bad_names[bad], BAD_LOG_INTERVAL_MS, &suppressed)) {
                DRIFT_WARN("skipped malformed message", "stream=%s reason=%s topic=%s partition=%d "
                           "offset=%lld detail=\"%s\" suppressed_since_last=%llu",
                           drift_pipeline_conf(p)->name, drift_bad_names[bad], topic,
                           (int)m->partition, (long long)m->offset, detail,
                           (unsigned long long)suppressed);
            }
            dead_letter(d, drift_pipeline_conf(p), m, topic, drift_bad_names[bad], detail);
            continue;
        }
        b->part[row] = m->partition;
        b->off[row] = m->offset;
        if (b->n == b->cap) {
            drift_pipeline_push(p);
        }
    }
    for (int s = 0; s < d->npipes; s++) {
        if (drift_pipeline_batch(d->pipes[s])->n > 0) {
            drift_pipeline_push(d->pipes[s]);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Open and stop
 * -------------------------------------------------------------------------------------------*/
/* The exec action's argv with a relative program path (one with a '/') taken from the config's
 * directory, as reference.path is; the program must be there and executable, or be found in
 * PATH. *key is the argv as compact JSON: the outbox rows' target. */
static int exec_argv(apr_pool_t *pool, const struct drift_stream_conf *sc, const char *base_dir,
                     const char ***argv_out, const char **key, char *err, size_t errlen)
{
    const char **argv = apr_pcalloc(pool, (size_t)(sc->exec.argc + 1) * sizeof(char *));
    for (int k = 0; k < sc->exec.argc; k++) {
        argv[k] = sc->exec.argv[k];
    }
    const char *prog = argv[0];
    if (strchr(prog, '/') != NULL && prog[0] != '/' && base_dir != NULL && base_dir[0] != '\0') {
        prog = argv[0] = apr_pstrcat(pool, base_dir, "/", prog, NULL);
    }
    int found = 0;
    if (strchr(prog, '/') != NULL) {
        struct stat st;
        found = stat(prog, &st) == 0 && S_ISREG(st.st_mode) && access(prog, X_OK) == 0;
    } else {
        const char *path = getenv("PATH");
        char *dirs = strdup(path != NULL ? path : "/usr/bin:/bin");
        char *save = NULL;
        for (char *dir = dirs ? strtok_r(dirs, ":", &save) : NULL; dir != NULL && !found;
             dir = strtok_r(NULL, ":", &save)) {
            char *full = apr_pstrcat(pool, dir[0] ? dir : ".", "/", prog, NULL);
            struct stat st;
            found = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
        }
        free(dirs);
    }
    if (!found) {
        return drift_seterr(err, errlen, DRIFT_EINVAL,
                            "stream %s: exec.command[0] %s is not an executable file%s", sc->name,
                            prog, strchr(prog, '/') != NULL ? "" : " in PATH");
    }
    json_t *a = json_array();
    for (int k = 0; k < sc->exec.argc; k++) {
        json_array_append_new(a, json_string(argv[k]));
    }
    char *js = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (js == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    *key = apr_pstrdup(pool, js);
    free(js);
    *argv_out = argv;
    return 0;
}

struct ckpt_blobs {
    void *part[2];
    size_t len[2];
};

static void ckpt_got(void *ctx, const struct drift_ckpt_part *p, int64_t updated_ms)
{
    struct ckpt_blobs *b = ctx;
    if (p->part >= 0 && p->part < 2 && b->part[p->part] == NULL && p->len > 0) {
        b->part[p->part] = malloc(p->len);
        if (b->part[p->part] != NULL) {
            memcpy(b->part[p->part], p->state, p->len);
            b->len[p->part] = p->len;
        }
    }
}

/* A stream with no checkpoint of this instance, while another instance of it has one (this
 * one joins a group that runs already): the same reference as the others, not one warmed up on
 * this instance's first events. */
static void adopt_reference(struct drift_daemon *d, int i, char *err, size_t errlen)
{
    const struct drift_stream_conf *sc = &d->cfg->streams[i];
    char peer[256];
    if (drift_store_checkpoint_peer(d->store, sc->name, d->cfg->store.instance, peer,
                                    sizeof(peer)) != 1) {
        return;
    }
    struct ckpt_blobs b = {{NULL, NULL}, {0, 0}};
    drift_store_checkpoint_get(d->store, peer, sc->name, ckpt_got, &b);
    if (drift_pipeline_adopt_reference(d->pipes[i], b.part[0], b.len[0], b.part[1],
                                       b.len[1]) == 0) {
        struct drift_pipeline_stats st;
        drift_pipeline_stats(d->pipes[i], &st);
        DRIFT_INFO("reference adopted from another instance", "stream=%s instance=%s from=%s "
                   "reference_events=%llu", sc->name, d->cfg->store.instance, peer,
                   (unsigned long long)st.reference_events);
    } else {
        /* its reference is not complete yet, or of another config: warm up as usual */
        apr_pool_destroy(drift_pipeline_pool(d->pipes[i]));
        d->pipes[i] = drift_pipeline_create(d->pool, sc, d->batch_max, d->base_dir, &d->hooks,
                                            err, errlen);
    }
    free(b.part[0]);
    free(b.part[1]);
}

/* Stream i's state from this instance's last checkpoint, if any. A checkpoint that does not
 * load (corrupt, or from another build) is reported and the stream starts fresh; parts whose
 * config changed start fresh on their own (drift_pipeline_load). */
static int restore(struct drift_daemon *d, int i, char *err, size_t errlen)
{
    const struct drift_stream_conf *sc = &d->cfg->streams[i];
    struct ckpt_blobs b = {{NULL, NULL}, {0, 0}};
    int n = drift_store_checkpoint_get(d->store, d->cfg->store.instance, sc->name, ckpt_got, &b);
    d->ref_written[i] = UINT64_MAX;
    if (n > 0 && b.part[DRIFT_STATE_LIVE] != NULL) {
        char what[320];
        int rc = drift_pipeline_load(d->pipes[i], b.part[0], b.len[0], b.part[1], b.len[1],
                                     what, sizeof(what));
        struct drift_pipeline_stats st;
        if (rc == 0) {
            drift_pipeline_stats(d->pipes[i], &st);
            DRIFT_INFO("state restored from checkpoint", "stream=%s instance=%s %s events=%llu "
                       "windows=%llu reference_ready=%d", sc->name, d->cfg->store.instance,
                       what, (unsigned long long)st.events, (unsigned long long)st.windows,
                       st.reference_ready);
        } else {
            DRIFT_WARN("checkpoint does not load; the stream starts fresh", "stream=%s "
                       "instance=%s error=\"%s\"", sc->name, d->cfg->store.instance, what);
            apr_pool_destroy(drift_pipeline_pool(d->pipes[i]));
            d->pipes[i] = drift_pipeline_create(d->pool, sc, d->batch_max, d->base_dir,
                                                &d->hooks, err, errlen);
        }
    } else if (n < 0) {
        DRIFT_WARN("cannot read checkpoint; the stream starts fresh", "stream=%s", sc->name);
    } else {
        adopt_reference(d, i, err, errlen);
    }
    free(b.part[0]);
    free(b.part[1]);
    return d->pipes[i] != NULL ? 0 : DRIFT_EINVAL;
}

/* Stream i's /metrics extras for its configured features: nothing seen yet. (A reload that
 * changes the features starts them again; the old arrays stay in the daemon's pool.) */
static void stream_metrics_init(struct drift_daemon *d, int i)
{
    struct stream_metrics *m = &d->sm[i];
    uint64_t triggers[NKINDS];
    memcpy(triggers, m->triggers, sizeof(triggers));
    memset(m, 0, sizeof(*m));
    memcpy(m->triggers, triggers, sizeof(triggers)); /* counters keep counting */
    m->nf = d->cfg->streams[i].nfeatures;
    m->psi = apr_pcalloc(d->pool, (size_t)(m->nf + 1) * sizeof(double));
    m->ks_p = apr_pcalloc(d->pool, (size_t)(m->nf + 1) * sizeof(double));
    m->drifted = apr_pcalloc(d->pool, (size_t)(m->nf + 1) * sizeof(int));
    for (int j = 0; j < m->nf; j++) {
        m->psi[j] = m->ks_p[j] = NAN;
    }
}

int drift_daemon_open(uv_loop_t *loop, apr_pool_t *pool, const struct drift_config *cfg,
                      const char *base_dir, const struct drift_daemon_obs *obs,
                      struct drift_daemon **out, char *err, size_t errlen)
{
    struct drift_daemon *d = apr_pcalloc(pool, sizeof(*d));
    int rc;
    d->loop = loop;
    d->pool = pool;
    d->cfg = cfg;
    if (obs != NULL) {
        d->obs = *obs;
    }
    *out = NULL;

    /* The Kafka cluster: embedded or external. */
    if (cfg->kafka.embedded) {
        struct drift_mock_topic *topics =
            apr_pcalloc(pool, (size_t)(cfg->nstreams * 3 + 1) * sizeof(*topics));
        int nt = 0;
        for (int i = 0; i < cfg->nstreams; i++) {
            const struct drift_stream_conf *sc = &cfg->streams[i];
            topics[nt++] = (struct drift_mock_topic){sc->topic, sc->partitions > 0 ? sc->partitions
                                                                                  : 4};
            if (sc->learner.enabled && sc->learner.topic != NULL) {
                topics[nt++] = (struct drift_mock_topic){sc->learner.topic, 1};
            }
            if (sc->labels.enabled) {
                topics[nt++] = (struct drift_mock_topic){sc->labels.topic, sc->labels.partitions};
            }
        }
        d->mock = drift_mock_create(cfg->kafka.embedded_brokers > 0 ? cfg->kafka.embedded_brokers
                                                                    : 1,
                                    topics, nt, err, errlen);
        if (d->mock == NULL) {
            return DRIFT_EFAULT;
        }
        d->brokers = apr_pstrdup(pool, drift_mock_bootstraps(d->mock));
        DRIFT_INFO("embedded Kafka cluster started", "bootstrap=%s brokers=%d", d->brokers,
                   cfg->kafka.embedded_brokers > 0 ? cfg->kafka.embedded_brokers : 1);
    } else {
        d->brokers = cfg->kafka.brokers;
    }

    d->store = drift_store_open(cfg->store.path ? cfg->store.path : "driftd.db", err, errlen);
    if (d->store == NULL) {
        rc = DRIFT_EFAULT;
        goto fail;
    }
    /* The outbox takes the first stream's delivery settings; they are per webhook in later
     * versions (issue 5). */
    struct drift_outbox_conf oc = {5000, 0, 86400, 500, 60000, 4, NULL, 0, NULL};
    int ntg = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        ntg += 3 + cfg->streams[i].nwebhooks;
    }
    struct drift_action_target *tg = apr_pcalloc(pool, (size_t)(ntg + 1) * sizeof(*tg));
    d->exec_keys = apr_pcalloc(pool, (size_t)(cfg->nstreams + 1) * sizeof(char *));
    int need_producer = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        const struct drift_stream_conf *sc = &cfg->streams[i];
        need_producer |= sc->learner.enabled | sc->kafka_action.enabled |
                         (sc->dead_letter_topic != NULL);
        if (sc->kafka_action.enabled) {
            tg[oc.ntargets++] = (struct drift_action_target){.action = DRIFT_ACTION_KAFKA,
                                                             .target = sc->kafka_action.topic};
        }
        if (sc->exec.enabled) {
            const char **argv = NULL;
            rc = exec_argv(pool, sc, base_dir, &argv, &d->exec_keys[i], err, errlen);
            if (rc != 0) {
                goto fail;
            }
            tg[oc.ntargets++] = (struct drift_action_target){
                .action = DRIFT_ACTION_EXEC,
                .target = d->exec_keys[i],
                .argv = argv,
                .exec_timeout_ms = sc->exec.timeout_s * 1000,
                .exec_resolutions = sc->exec.resolutions,
                .exec_env = sc->exec.env,
            };
        }
    }
    static const char *const sev[] = {"warning", "critical"};
    for (int i = 0; i < cfg->nstreams; i++) {
        const struct drift_stream_conf *sc = &cfg->streams[i];
        for (int w = -1; w < sc->nwebhooks; w++) {
            const struct drift_webhook_conf *wc = w < 0 ? &sc->webhook : &sc->webhooks[w];
            if (wc->url == NULL) {
                continue;
            }
            /* Credentials live in the environment: all must be there before we start. */
            const char *envs[4] = {wc->bearer_token_env, wc->basic_auth_env, wc->hmac_secret_env,
                                   wc->routing_key_env};
            for (int k = 0; k < 4; k++) {
                const char *v = envs[k] != NULL ? getenv(envs[k]) : "";
                if (v == NULL || (envs[k] != NULL && v[0] == '\0')) {
                    rc = drift_seterr(err, errlen, DRIFT_EINVAL,
                                      "stream %s: webhook %s: environment variable %s is not set",
                                      sc->name, wc->url, envs[k]);
                    goto fail;
                }
            }
            tg[oc.ntargets++] = (struct drift_action_target){
                .action = DRIFT_ACTION_WEBHOOK,
                .target = wc->url,
                .format = wc->format,
                .severity = sev[wc->severity & 1],
                .event_type = wc->event_type,
                .routing_key_env = wc->routing_key_env,
                .bearer_token_env = wc->bearer_token_env,
                .basic_auth_env = wc->basic_auth_env,
                .hmac_secret_env = wc->hmac_secret_env,
                .headers = wc->headers,
                .nheaders = wc->nheaders,
                .tls_verify = wc->tls_verify,
            };
        }
    }
    oc.targets = tg;
    if (cfg->nstreams > 0) {
        const struct drift_stream_conf *sc = &cfg->streams[0];
        oc.timeout_ms = sc->webhook.timeout_ms;
        oc.max_attempts = sc->webhook.max_attempts;
        oc.max_age_s = sc->webhook.max_age_s;
        oc.backoff_base_ms = sc->webhook.backoff_base_ms;
        oc.backoff_max_ms = sc->webhook.backoff_max_ms;
    }
    if (need_producer) {
        rc = drift_producer_open(loop, d->brokers, cfg->kafka.properties, cfg->kafka.nproperties,
                                 on_dr, d, &d->producer, err, errlen);
        if (rc != 0) {
            goto fail;
        }
    }
    oc.producer = d->producer;
    rc = drift_outbox_open(loop, d->store, &oc, on_delivery, d, &d->outbox, err, errlen);
    if (rc != 0) {
        goto fail;
    }

    d->hooks = (struct drift_pipeline_hooks){
        .ctx = d,
        .reference_ready = hook_reference,
        .window = hook_window,
        .trigger = hook_trigger,
        .performance_window = hook_perf_window,
        .model_update = hook_model,
        .now_ms = hook_now,
    };
    d->base_dir = base_dir != NULL ? apr_pstrdup(pool, base_dir) : NULL;
    d->npipes = cfg->nstreams;
    d->pipes = apr_pcalloc(pool, (size_t)(d->npipes + 1) * sizeof(*d->pipes));
    d->ref_written = apr_pcalloc(pool, (size_t)(d->npipes + 1) * sizeof(uint64_t));
    d->topics = apr_pcalloc(pool, (size_t)(2 * d->npipes + 1) * sizeof(char *));
    d->batch_max = cfg->kafka.batch_max > 0 ? (size_t)cfg->kafka.batch_max : 1024;
    for (int i = 0; i < cfg->nstreams; i++) {
        d->pipes[i] = drift_pipeline_create(pool, &cfg->streams[i], d->batch_max, d->base_dir,
                                            &d->hooks, err, errlen);
        if (d->pipes[i] == NULL) {
            rc = DRIFT_EINVAL;
            goto fail;
        }
        d->topics[d->ntopics++] = apr_pstrdup(pool, cfg->streams[i].topic);
        if (cfg->streams[i].labels.enabled) {
            d->topics[d->ntopics++] = apr_pstrdup(pool, cfg->streams[i].labels.topic);
        }
        rc = restore(d, i, err, errlen);
        if (rc != 0) {
            goto fail;
        }
    }
    rc = drift_consumer_open(loop, d->brokers, cfg->kafka.group ? cfg->kafka.group : "driftd",
                             cfg->kafka.offset_reset ? cfg->kafka.offset_reset : "earliest",
                             cfg->kafka.properties, cfg->kafka.nproperties, d->topics,
                             d->ntopics, (int)d->batch_max, on_batch, d, &d->consumer, err,
                             errlen);
    if (rc != 0) {
        goto fail;
    }
    drift_consumer_on_rebalance(d->consumer, on_assign, on_revoke, d);
    drift_consumer_manual_offsets(d->consumer);
    uint64_t every = STATS_INTERVAL_MS;
    const char *env = getenv("DRIFTD_STATS_INTERVAL_MS");
    if (env != NULL && atoll(env) > 0) {
        every = (uint64_t)atoll(env);
    }
    /* Schedules start from now: a slot that passed while driftd was down is not made up for. */
    d->sched_next = apr_pcalloc(pool, (size_t)(d->npipes + 1) * sizeof(int64_t));
    d->published_s = apr_pcalloc(pool, (size_t)(d->npipes + 1) * sizeof(int64_t));
    d->sm = apr_pcalloc(pool, (size_t)(d->npipes + 1) * sizeof(*d->sm));
    d->start_s = (double)drift_wall_ms() / 1000.0;
    for (int i = 0; i < d->npipes; i++) {
        stream_metrics_init(d, i);
    }
    for (int i = 0; i < d->npipes; i++) {
        d->sched_next[i] = next_slot(&cfg->streams[i], (int64_t)(drift_wall_ms() / 1000));
        d->published_s[i] = (int64_t)(drift_wall_ms() / 1000);
    }
    if (cfg->http.port > 0) {
        d->token = getenv(cfg->http.token_env);
        if (d->token == NULL || d->token[0] == '\0') {
            rc = drift_seterr(err, errlen, DRIFT_EINVAL,
                              "http: environment variable %s is not set", cfg->http.token_env);
            goto fail;
        }
        rc = drift_receiver_open(loop, cfg->http.port, 0, on_http, d, &d->http, err, errlen);
        if (rc != 0) {
            goto fail;
        }
        DRIFT_INFO("control endpoint listening", "address=127.0.0.1:%d", cfg->http.port);
    }
    uv_timer_init(loop, &d->sched_timer);
    d->sched_timer.data = d;
    uv_timer_start(&d->sched_timer, on_sched_timer, 1000, 1000);
    uv_timer_init(loop, &d->ckpt_timer);
    d->ckpt_timer.data = d;
    uint64_t ck = (uint64_t)(cfg->store.checkpoint_s > 0 ? cfg->store.checkpoint_s : 5) * 1000;
    uv_timer_start(&d->ckpt_timer, on_ckpt_timer, ck, ck);
    d->ckpt_last_ms = uv_now(loop);
    uv_timer_init(loop, &d->stats_timer);
    d->stats_timer.data = d;
    uv_timer_start(&d->stats_timer, on_stats_timer, every, every);
    DRIFT_INFO("consuming", "bootstrap=%s group=%s streams=%d", d->brokers,
               cfg->kafka.group ? cfg->kafka.group : "driftd", cfg->nstreams);
    *out = d;
    return 0;
fail:
    /* Nothing was started on the loop that outlives this call except outbox/producer handles;
     * stop them the ordinary way. */
    d->stopping = 1;
    drift_producer_close(d->producer, 0);
    d->producer = NULL;
    if (d->outbox != NULL) {
        drift_outbox_close(d->outbox, 0, NULL, NULL);
        d->outbox = NULL;
    }
    if (d->store != NULL) {
        drift_store_close(d->store);
    }
    if (d->mock != NULL) {
        drift_mock_destroy(d->mock);
    }
    return rc;
}

const char *drift_daemon_bootstraps(const struct drift_daemon *d)
{
    return d->brokers;
}

int drift_daemon_assigned(const struct drift_daemon *d)
{
    return d->consumer ? drift_consumer_assigned(d->consumer) : 0;
}

unsigned long long drift_daemon_consumed(const struct drift_daemon *d)
{
    return d->consumer ? drift_consumer_count(d->consumer) : 0;
}

void drift_daemon_stats(const struct drift_daemon *d, int stream, struct drift_pipeline_stats *out)
{
    drift_pipeline_stats(d->pipes[stream], out);
}

int drift_daemon_pending(const struct drift_daemon *d)
{
    return drift_store_outbox_count(d->store, "pending");
}

static void on_outbox_closed(void *ctx)
{
    struct drift_daemon *d = ctx;
    d->outbox = NULL;
    drift_producer_close(d->producer, 2000);
    d->producer = NULL;
    drift_store_close(d->store);
    d->store = NULL;
    if (d->mock != NULL) {
        drift_mock_destroy(d->mock);
        d->mock = NULL;
    }
    DRIFT_INFO("stopped", "%s", "");
    if (d->done) {
        d->done(d->done_ctx);
    }
}

void drift_daemon_stop(struct drift_daemon *d, int drain_ms, void (*done)(void *ctx), void *ctx)
{
    if (d->stopping) {
        return;
    }
    d->stopping = 1;
    d->done = done;
    d->done_ctx = ctx;
    uv_timer_stop(&d->stats_timer);
    uv_close((uv_handle_t *)&d->stats_timer, NULL);
    uv_timer_stop(&d->sched_timer);
    uv_close((uv_handle_t *)&d->sched_timer, NULL);
    if (d->http != NULL) {
        drift_receiver_close(d->http, NULL, NULL);
        d->http = NULL;
    }
    uv_timer_stop(&d->ckpt_timer);
    uv_close((uv_handle_t *)&d->ckpt_timer, NULL);
    log_stats(d, "final stream stats");
    drift_consumer_close(d->consumer); /* stops consuming; revocations checkpoint */
    d->consumer = NULL;
    if (checkpoint(d, "shutdown", 1) == 0) {
        DRIFT_INFO("final checkpoint written", "streams=%d", d->npipes);
    }
    free(d->offs);
    d->offs = NULL;
    d->noffs = d->offs_cap = 0;
    drift_outbox_close(d->outbox, drain_ms, on_outbox_closed, d);
}

/* ---------------------------------------------------------------------------------------------
 * Reload (SIGHUP)
 * -------------------------------------------------------------------------------------------*/
/* Names the first part of cfg that differs from the running config in a way only a restart
 * applies, into what; 0 when there is none. */
static int restart_only_change(const struct drift_daemon *d, const struct drift_config *cfg,
                               char *what, size_t len)
{
    const struct drift_config *old = d->cfg;
    for (int k = 0; k < DRIFT_RESTART_TOP; k++) {
        if (old->fp_restart[k] != cfg->fp_restart[k]) {
            snprintf(what, len, "%s changed", drift_restart_top[k]);
            return 1;
        }
    }
    if (old->nstreams != cfg->nstreams) {
        snprintf(what, len, "streams: %d, was %d", cfg->nstreams, old->nstreams);
        return 1;
    }
    for (int i = 0; i < cfg->nstreams; i++) {
        for (int k = 0; k < DRIFT_RESTART_STREAM; k++) {
            if (old->streams[i].fp_restart[k] != cfg->streams[i].fp_restart[k]) {
                snprintf(what, len, "streams[%d] (%s): %s changed", i, old->streams[i].name,
                         drift_restart_stream[k]);
                return 1;
            }
        }
        /* The producer is opened at start only when something produces. */
        const struct drift_stream_conf *sc = &cfg->streams[i];
        if (sc->learner.enabled && d->producer == NULL) {
            snprintf(what, len, "streams[%d] (%s): a learner needs the Kafka producer, which "
                     "starts with the daemon", i, sc->name);
            return 1;
        }
    }
    return 0;
}

int drift_daemon_reload(struct drift_daemon *d, const struct drift_config *cfg, char *why,
                        size_t whylen)
{
    if (d->stopping) {
        return drift_seterr(why, whylen, DRIFT_EINVAL, "the daemon is stopping");
    }
    char what[256];
    if (restart_only_change(d, cfg, what, sizeof(what))) {
        d->reload_failures++;
        return drift_seterr(why, whylen, DRIFT_EINVAL, "%s; that needs a restart", what);
    }
    /* Every new pipeline is built and loaded with its predecessor's state before any is
     * swapped in: a reload applies to all streams or to none. Reload runs on the loop between
     * batches, so no pipeline holds a row. */
    int n = d->npipes, rc = 0;
    struct drift_pipeline **next = calloc((size_t)n + 1, sizeof(*next));
    char (*kept)[320] = calloc((size_t)n + 1, sizeof(*kept));
    if (next == NULL || kept == NULL) {
        free(next);
        free(kept);
        d->reload_failures++;
        return drift_seterr(why, whylen, DRIFT_ENOMEM, "out of memory");
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        unsigned char *ref = NULL, *live = NULL;
        size_t reflen = 0, livelen = 0;
        char err[256];
        rc = drift_pipeline_save(d->pipes[i], DRIFT_STATE_REFERENCE, &ref, &reflen);
        if (rc == 0) {
            rc = drift_pipeline_save(d->pipes[i], DRIFT_STATE_LIVE, &live, &livelen);
        }
        if (rc == 0) {
            next[i] = drift_pipeline_create(d->pool, &cfg->streams[i], d->batch_max, d->base_dir,
                                            &d->hooks, err, sizeof(err));
            if (next[i] == NULL) {
                rc = drift_seterr(why, whylen, DRIFT_EINVAL, "stream %s: %s",
                                  cfg->streams[i].name, err);
            }
        } else {
            drift_seterr(why, whylen, rc, "stream %s: cannot save its state: %s",
                         cfg->streams[i].name, drift_strerror(rc));
        }
        if (rc == 0) {
            rc = drift_pipeline_load(next[i], ref, reflen, live, livelen, kept[i],
                                     sizeof(kept[i]));
            if (rc != 0) {
                drift_seterr(why, whylen, rc, "stream %s: its state does not carry over: %s",
                             cfg->streams[i].name, kept[i]);
            }
        }
        free(ref);
        free(live);
    }
    if (rc != 0) {
        for (int i = 0; i < n; i++) {
            if (next[i] != NULL) {
                apr_pool_destroy(drift_pipeline_pool(next[i]));
            }
        }
        free(next);
        free(kept);
        d->reload_failures++;
        return rc;
    }
    d->cfg = cfg;
    int64_t now_s = (int64_t)(drift_wall_ms() / 1000);
    for (int i = 0; i < n; i++) {
        apr_pool_destroy(drift_pipeline_pool(d->pipes[i]));
        d->pipes[i] = next[i];
        d->ref_written[i] = UINT64_MAX; /* the next checkpoint writes every part */
        stream_metrics_init(d, i);
        d->sched_next[i] = next_slot(&cfg->streams[i], now_s);
        DRIFT_INFO("stream reconfigured", "stream=%s %s", cfg->streams[i].name, kept[i]);
    }
    free(next);
    free(kept);
    uint64_t ck = (uint64_t)(cfg->store.checkpoint_s > 0 ? cfg->store.checkpoint_s : 5) * 1000;
    uv_timer_start(&d->ckpt_timer, on_ckpt_timer, ck, ck);
    d->ckpt_dirty = 1;
    d->reloads++;
    checkpoint(d, "reload", 1);
    return 0;
}

void drift_daemon_reload_refused(struct drift_daemon *d)
{
    d->reload_failures++;
}
