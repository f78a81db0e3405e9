/*
 * `driftd demo`: the whole product in one command, for a newcomer.
 *
 * It runs the real daemon on the demo config (compiled in, or a file given on the command line)
 * with its embedded Kafka-protocol cluster, produces a synthetic payments stream into that
 * cluster through an ordinary Kafka producer with an abrupt drift at a known event, receives the
 * retraining webhook on a local HTTP receiver, and narrates what happened: the windows, which
 * features moved, how long after the change the drift was noticed, and the payload the
 * retraining pipeline received. The receiver refuses the first delivery (a simulated outage) so
 * the retry is visible. Everything runs on one loop and the demo exits by itself.
 */
#include <apr_strings.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "drift_op.h"
#include "gen.h"
#include "kafka.h"
#include "log.h"
#include "receiver.h"

extern const char drift_demo_yaml[];
extern const size_t drift_demo_yaml_len;

#define DEMO_EVENTS 30000     /* events produced in all */
#define DEMO_DRIFT_AT 17000   /* first drifted event */
#define DEMO_RATE 10000       /* events per second */
#define DEMO_TICK_MS 20
#define DEMO_DEADLINE_MS 55000

struct demo {
    uv_loop_t *loop;
    struct drift_daemon *daemon;
    struct drift_producer *producer;
    struct drift_receiver *receiver;
    uv_timer_t tick, deadline;
    struct drift_gen gen;
    const char *topic;
    const char *group;
    uint64_t produced;
    uint64_t t_start_ms, t_change_ms, t_detect_ms, t_trigger_ms, t_delivered_ms;
    uint64_t detect_window;
    char *payload;
    int attempts, delivered, received_ok, received_total, triggers;
    int finished, failed;
    char drifted_names[512];
    int closing;
};

static double secs(uint64_t ms)
{
    return (double)ms / 1000.0;
}

static void demo_finish(struct demo *m, int failed);

/* ---------------------------------------------------------------------------------------------
 * Observers
 * -------------------------------------------------------------------------------------------*/
static void obs_reference(void *ctx, const char *stream, uint64_t events)
{
    printf("  reference profile built from the first %llu events (bins on reference quantiles)\n\n",
           (unsigned long long)events);
    printf("  window  events          drifted features (PSI)                              share\n");
    printf("  ------  --------------  --------------------------------------------------  -----\n");
    fflush(stdout);
}

static void obs_window(void *ctx, const struct drift_window_report *w)
{
    struct demo *m = ctx;
    char names[256];
    size_t o = 0;
    names[0] = '\0';
    for (int i = 0; i < w->nfeatures; i++) {
        const struct drift_feature_report *f = &w->features[i];
        if (f->drifted && o < sizeof(names) - 48) {
            o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s %.2f", o ? ", " : "",
                                  f->name, f->psi);
        }
    }
    if (o == 0) {
        snprintf(names, sizeof(names), "-");
    }
    int contains_change = w->last_seq >= DEMO_DRIFT_AT;
    printf("  #%-5llu  %6llu-%-6llu   %-50.50s  %d/%d%s\n", (unsigned long long)w->index,
           (unsigned long long)w->first_seq, (unsigned long long)w->last_seq, names, w->ndrifted,
           w->nfeatures, w->dataset_drift ? "  << drift" : "");
    if (w->dataset_drift && contains_change && m->t_detect_ms == 0) {
        m->t_detect_ms = drift_now_ms();
        m->detect_window = w->index;
        snprintf(m->drifted_names, sizeof(m->drifted_names), "%s", names);
    }
    fflush(stdout);
}

static void obs_trigger(void *ctx, const struct drift_trigger *t, int recorded)
{
    struct demo *m = ctx;
    m->triggers++;
    if (m->t_trigger_ms == 0) {
        m->t_trigger_ms = drift_now_ms();
    }
    printf("\n  >> retraining trigger '%s' fired after %d drifted windows in a row\n"
           "     idempotency key %s\n"
           "     recorded in SQLite with its evidence and an outbox entry (one transaction)\n\n",
           t->rule, t->window != NULL ? t->window->consecutive : 0, t->idem_key);
    fflush(stdout);
}

static void obs_delivery(void *ctx, const struct drift_outbox_row *r, const char *status,
                         int http_status, const char *error)
{
    struct demo *m = ctx;
    m->attempts++;
    if (strcmp(status, "done") == 0) {
        m->delivered++;
        m->t_delivered_ms = drift_now_ms();
        printf("  >> webhook delivered: HTTP %d on attempt %d\n", http_status, r->attempts + 1);
    } else {
        printf("  >> webhook attempt %d: %s%s%d - %s, will retry with backoff\n", r->attempts + 1,
               error && *error ? error : "", error && *error ? ", HTTP " : "HTTP ", http_status,
               "the outbox keeps the trigger");
    }
    fflush(stdout);
}

static void on_request(void *ctx, const struct drift_request *req)
{
    struct demo *m = ctx;
    m->received_total++;
    if (req->status >= 200 && req->status < 300) {
        m->received_ok++;
        free(m->payload);
        m->payload = malloc(req->body_len + 1);
        if (m->payload != NULL) {
            memcpy(m->payload, req->body, req->body_len);
            m->payload[req->body_len] = '\0';
        }
    } else {
        printf("  .. receiver: answered %d to %s %s (simulated outage of the retraining service)\n",
               req->status, req->method, req->path);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Producing the stream, and finishing
 * -------------------------------------------------------------------------------------------*/
static void on_tick(uv_timer_t *t)
{
    struct demo *m = t->data;
    char buf[512], key[32];
    if (m->t_start_ms == 0) {
        /* Start the clock once the engine owns its partitions, so the timeline shows detection
         * latency rather than the consumer group's first join. */
        if (!drift_daemon_assigned(m->daemon)) {
            return;
        }
        m->t_start_ms = drift_now_ms();
        printf("  .. the engine joined consumer group '%s'; producing starts\n",
               m->group ? m->group : "driftd");
    }
    uint64_t want = (drift_now_ms() - m->t_start_ms) * DEMO_RATE / 1000;
    if (want > DEMO_EVENTS) {
        want = DEMO_EVENTS;
    }
    while (m->produced < want) {
        if (m->produced == DEMO_DRIFT_AT) {
            m->t_change_ms = drift_now_ms();
            printf("  .. event %d: the drift starts (%s)\n", DEMO_DRIFT_AT,
                   drift_gen_describe(&m->gen));
        }
        size_t n = drift_gen_next(&m->gen, buf, sizeof(buf), (double)drift_wall_ms());
        int kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)m->produced);
        if (drift_producer_send(m->producer, m->topic, key, (size_t)kl, buf, n, NULL) != 0) {
            m->gen.i--; /* queue full: regenerate this event next tick */
            break;
        }
        m->produced++;
    }
    unsigned long long consumed = drift_daemon_consumed(m->daemon);
    if (m->produced == DEMO_EVENTS && consumed >= DEMO_EVENTS && m->delivered > 0 &&
        m->received_ok > 0) {
        demo_finish(m, 0);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct demo *m = t->data;
    fprintf(stderr, "demo: no delivered trigger within %d s (produced %llu, consumed %llu, "
                    "deliveries %d)\n",
            DEMO_DEADLINE_MS / 1000, (unsigned long long)m->produced,
            drift_daemon_consumed(m->daemon), m->delivered);
    demo_finish(m, 1);
}

static void on_daemon_stopped(void *ctx)
{
    struct demo *m = ctx;
    drift_producer_close(m->producer, 1000);
    m->producer = NULL;
    drift_receiver_close(m->receiver, NULL, NULL);
}

static void demo_finish(struct demo *m, int failed)
{
    if (m->closing) {
        return;
    }
    m->closing = 1;
    m->failed = failed;
    uv_timer_stop(&m->tick);
    uv_timer_stop(&m->deadline);
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_close((uv_handle_t *)&m->deadline, NULL);
    drift_daemon_stop(m->daemon, 2000, on_daemon_stopped, m);
}

static void print_payload(const char *payload)
{
    json_error_t je;
    json_t *o = json_loads(payload, 0, &je);
    if (o == NULL) {
        printf("%s\n", payload);
        return;
    }
    /* Show the evidence, not the per-feature table for every feature. */
    json_object_del(o, "features");
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(4));
    json_decref(o);
    if (s == NULL) {
        return;
    }
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        printf("    %s\n", line);
    }
    free(s);
}

static void config_error(void *ctx, const char *msg)
{
    fprintf(stderr, "%s\n", msg);
}

int drift_demo_main(apr_pool_t *pool, int argc, const char *const *argv)
{
    if (argc > 3) {
        fprintf(stderr, "usage: driftd demo [CONFIG]\n");
        return 2;
    }
    struct drift_config *cfg = NULL;
    const char *source = argc == 3 ? argv[2] : "configs/demo.yaml (built in)";
    int rc = argc == 3 ? drift_config_load(pool, argv[2], &cfg, config_error, NULL)
                       : drift_config_load_buffer(pool, "configs/demo.yaml", drift_demo_yaml,
                                                  drift_demo_yaml_len, &cfg, config_error, NULL);
    if (rc != 0) {
        return 1;
    }
    if (!cfg->kafka.embedded || cfg->nstreams < 1) {
        fprintf(stderr, "demo: the config must use kafka.brokers: embedded and have a stream\n");
        return 2;
    }
    struct drift_stream_conf *sc = &cfg->streams[0];
    /* A fresh store per run: the demo's offsets repeat, so its idempotency keys do too. */
    char *dir = apr_pstrdup(pool, "/tmp/driftd-demo.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "demo: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    cfg->store.path = apr_pstrcat(pool, dir, "/driftd.db", NULL);
    drift_log_setup(DRIFT_LOG_WARN, 0);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct demo m = {0};
    m.loop = &loop;
    m.topic = sc->topic;
    drift_gen_init(&m.gen, 42, 0, DEMO_DRIFT_AT);
    char err[512];
    if (drift_receiver_open(&loop, 0, 1, on_request, &m, &m.receiver, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: receiver: %s\n", err);
        return 1;
    }
    sc->webhook.url = apr_psprintf(pool, "http://127.0.0.1:%d/retrain",
                                   drift_receiver_port(m.receiver));
    sc->trigger.enabled = 1;

    printf("\ndriftd demo - a fraud model's feature stream drifts; driftd notices and asks for "
           "retraining\n\n");
    printf("  config     %s\n", source);
    struct drift_daemon_obs obs = {
        .ctx = &m,
        .reference_ready = obs_reference,
        .window = obs_window,
        .trigger = obs_trigger,
        .delivery = obs_delivery,
    };
    rc = drift_daemon_open(&loop, pool, cfg, ".", &obs, &m.daemon, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "demo: cannot start the engine: %s\n", err);
        drift_receiver_close(m.receiver, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    printf("  kafka      local Kafka-protocol cluster at %s, topic '%s' (%d partitions)\n",
           drift_daemon_bootstraps(m.daemon), sc->topic, sc->partitions > 0 ? sc->partitions : 4);
    printf("  webhook    %s (local receiver; it refuses the first delivery)\n", sc->webhook.url);
    printf("  store      %s\n", cfg->store.path);
    printf("  stream     %d features (", sc->nfeatures);
    for (int i = 0; i < sc->nfeatures; i++) {
        printf("%s%s", i ? ", " : "", sc->features[i].name);
    }
    printf("),\n             windows of %d events, PSI >= %.2g or KS p < %.2g per feature,\n"
           "             dataset drift when >= %.0f%% of features drift,"
           " trigger after %d windows\n",
           sc->window.size, sc->drift.psi_threshold, sc->drift.ks_alpha, sc->drift.share * 100,
           sc->trigger.consecutive);
    printf("  producing  %d events at %d/s; the drift starts at event %d\n\n", DEMO_EVENTS,
           DEMO_RATE, DEMO_DRIFT_AT);
    fflush(stdout);
    if (drift_producer_open(&loop, drift_daemon_bootstraps(m.daemon), NULL, 0, NULL, NULL,
                            &m.producer, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: producer: %s\n", err);
        m.closing = 1;
        drift_daemon_stop(m.daemon, 0, on_daemon_stopped, &m);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    m.group = cfg->kafka.group;
    uv_timer_init(&loop, &m.tick);
    uv_timer_init(&loop, &m.deadline);
    m.tick.data = m.deadline.data = &m;
    uv_timer_start(&m.tick, on_tick, DEMO_TICK_MS, DEMO_TICK_MS);
    uv_timer_start(&m.deadline, on_deadline, DEMO_DEADLINE_MS, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    int lrc = uv_loop_close(&loop);

    if (m.failed) {
        free(m.payload);
        return 1;
    }
    printf("\n  what the retraining pipeline received (POST %s;\n"
           "  its \"features\" table, the same figures for every feature, left out here):\n\n",
           sc->webhook.url);
    print_payload(m.payload ? m.payload : "{}");
    printf("\n  summary\n");
    printf("    drift started       event %d, %.1f s after producing started\n", DEMO_DRIFT_AT,
           secs(m.t_change_ms - m.t_start_ms));
    if (m.t_detect_ms) {
        printf("    drift noticed       window #%llu, %.2f s after the change\n",
               (unsigned long long)m.detect_window, secs(m.t_detect_ms - m.t_change_ms));
        printf("    features that moved %s\n", m.drifted_names);
    }
    if (m.t_trigger_ms) {
        printf("    trigger fired       %.2f s after the change\n",
               secs(m.t_trigger_ms - m.t_change_ms));
    }
    printf("    webhook             delivered once after %d attempt%s (%d request%s received, "
           "%d accepted)\n",
           m.attempts, m.attempts == 1 ? "" : "s", m.received_total,
           m.received_total == 1 ? "" : "s", m.received_ok);
    printf("    triggers            %d (the cooldown keeps the same drift from firing again)\n",
           m.triggers);
    printf("    inspect             sqlite3 %s"
           " 'select id, stream, rule, idem_key from triggers'\n\n", cfg->store.path);
    free(m.payload);
    if (lrc != 0) {
        fprintf(stderr, "demo: warning: event loop closed with open handles\n");
    }
    return m.received_ok == 1 ? 0 : 1;
}
