/*
 * driftd's command line: run, check, replay, demo, gen.
 *
 * main owns the root APR pool and is the only place that exits. Each command loads the config
 * through the same loader (so `check` says exactly what `run` would refuse) and drives the same
 * pipeline code; replay differs from run only in where events come from and where the results
 * go.
 */
#include <apr_general.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "drift_op.h"
#include "gen.h"
#include "log.h"
#include "join.h"
#include "stream.h"

#define DRIFTD_VERSION "0.1.0"

int drift_demo_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_score_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_detect_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_model_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_events_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_status_main(apr_pool_t *pool, int argc, const char *const *argv);
int drift_format_main(apr_pool_t *pool, int argc, const char *const *argv);

static void usage(FILE *f)
{
    fprintf(f,
            "driftd %s — stream drift detection and retraining triggers\n"
            "\n"
            "usage:\n"
            "  driftd run CONFIG                     run the daemon\n"
            "  driftd check CONFIG                   validate a config; every error with its\n"
            "                                        position\n"
            "  driftd replay CONFIG --from FILE      backtest over a JSON-lines file; prints the\n"
            "        [--stream NAME] [--labels FILE] drift timeline as JSON lines\n"
            "  driftd score --reference REF.csv --current CUR.csv [--format json|table]\n"
            "        [--bins B] [--categorical a,b] [--alpha A]  compare two files, per column\n"
            "  driftd detect NAME [--param K=V]... [FILE]  run a change detector (adwin, ddm,\n"
            "                                        eddm, hddm_a, hddm_w, page_hinkley, cusum,\n"
            "                                        kswin) over numbers, one per line\n"
            "  driftd model list|show|export STREAM (--db FILE | --config CONFIG) [--version V]\n"
            "                                        the learner's stored model versions\n"
            "  driftd events (--db FILE | --config CONFIG) [--since T] [--stream S]\n"
            "        [--format table|json]            the triggers recorded, with deliveries\n"
            "  driftd status (--db FILE | --config CONFIG) [--format table|json]\n"
            "                                        triggers, model, outbox per stream;\n"
            "                                        checkpoints and offsets\n"
            "  driftd format FORMAT [FILE]           a trigger payload as a webhook of FORMAT\n"
            "                                        would receive it (preview)\n"
            "  driftd demo [CONFIG]                  local cluster, synthetic drift, webhook\n"
            "  driftd gen [--events N] [--drift-at K] [--seed S] [--dims D] [--corr-flip]"
            " [--bad-every M]\n"
            "        [--key]                         synthetic JSON-lines stream on stdout\n"
            "  driftd version\n"
            "\n"
            "Docs: README.md, docs/config.md, docs/architecture.md, docs/operators.md\n",
            DRIFTD_VERSION);
}

/* ---------------------------------------------------------------------------------------------
 * Config loading shared by the commands
 * -------------------------------------------------------------------------------------------*/
static void print_config_error(void *ctx, const char *msg)
{
    int *count = ctx;
    (*count)++;
    fprintf(stderr, "%s\n", msg);
}

static struct drift_config *load_config(apr_pool_t *pool, const char *path)
{
    struct drift_config *cfg = NULL;
    int count = 0;
    int rc = drift_config_load(pool, path, &cfg, print_config_error, &count);
    if (rc != 0) {
        fprintf(stderr, "%s: %d error%s; nothing started\n", path, count, count == 1 ? "" : "s");
        return NULL;
    }
    /* one OpenBLAS thread unless the config allows more (main starts with one: see below) */
    openblas_set_num_threads(cfg->blas.threads > 0 ? cfg->blas.threads : 1);
    return cfg;
}

static const char *dir_of(apr_pool_t *pool, const char *path)
{
    char *copy = apr_pstrdup(pool, path);
    return apr_pstrdup(pool, dirname(copy));
}

/* ---------------------------------------------------------------------------------------------
 * check
 * -------------------------------------------------------------------------------------------*/
static int cmd_check(apr_pool_t *pool, int argc, const char *const *argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: driftd check CONFIG\n");
        return 2;
    }
    struct drift_config *cfg = load_config(pool, argv[2]);
    if (cfg == NULL) {
        return 1;
    }
    int nf = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        nf += cfg->streams[i].nfeatures;
    }
    printf("%s: ok (%d stream%s, %d feature%s, brokers %s)\n", argv[2], cfg->nstreams,
           cfg->nstreams == 1 ? "" : "s", nf, nf == 1 ? "" : "s", cfg->kafka.brokers);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * run
 * -------------------------------------------------------------------------------------------*/
struct run_ctx {
    struct drift_daemon *daemon;
    uv_signal_t sigterm, sigint, sighup;
    int stopping;
    apr_pool_t *pool;      /* the process pool */
    const char *path;      /* the config file */
    apr_pool_t *cfg_pool;  /* the config of the last successful reload (NULL: the first) */
};

static void run_done(void *ctx)
{
    struct run_ctx *r = ctx;
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sighup, NULL);
}

static void log_reload_error(void *ctx, const char *msg)
{
    int *count = ctx;
    (*count)++;
    DRIFT_ERROR("configuration error", "error=\"%s\"", msg);
}

/* SIGHUP: read the config again and apply it; on any problem (unreadable, invalid, a change
 * that needs a restart) say why and keep running on the old one. */
static void reload(struct run_ctx *r)
{
    apr_pool_t *np;
    if (apr_pool_create(&np, r->pool) != APR_SUCCESS) {
        DRIFT_ERROR("configuration reload failed; keeping the running configuration",
                    "config=%s error=\"out of memory\"", r->path);
        return;
    }
    struct drift_config *cfg = NULL;
    int count = 0;
    DRIFT_INFO("SIGHUP: reloading the configuration", "config=%s", r->path);
    if (drift_config_load(np, r->path, &cfg, log_reload_error, &count) != 0) {
        DRIFT_ERROR("configuration reload refused; keeping the running configuration",
                    "config=%s errors=%d", r->path, count);
        drift_daemon_reload_refused(r->daemon);
        apr_pool_destroy(np);
        return;
    }
    char why[512];
    if (drift_daemon_reload(r->daemon, cfg, why, sizeof(why)) != 0) {
        DRIFT_ERROR("configuration reload refused; keeping the running configuration",
                    "config=%s error=\"%s\"", r->path, why);
        apr_pool_destroy(np);
        return;
    }
    drift_log_setup(cfg->log.level, cfg->log.json);
    openblas_set_num_threads(cfg->blas.threads > 0 ? cfg->blas.threads : 1);
    if (r->cfg_pool != NULL) {
        apr_pool_destroy(r->cfg_pool); /* the daemon no longer points into it */
    }
    r->cfg_pool = np;
    DRIFT_INFO("configuration reloaded", "config=%s streams=%d", r->path, cfg->nstreams);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_ctx *r = h->data;
    if (signum == SIGHUP) {
        if (!r->stopping) {
            reload(r);
        }
        return;
    }
    if (r->stopping) {
        return;
    }
    r->stopping = 1;
    DRIFT_INFO("signal received; shutting down", "signal=%d", signum);
    drift_daemon_stop(r->daemon, 5000, run_done, r);
}

static int cmd_run(apr_pool_t *pool, int argc, const char *const *argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: driftd run CONFIG\n");
        return 2;
    }
    struct drift_config *cfg = load_config(pool, argv[2]);
    if (cfg == NULL) {
        return 1;
    }
    drift_log_setup(cfg->log.level, cfg->log.json);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct run_ctx r = {0};
    r.pool = pool;
    r.path = argv[2];
    char err[512];
    int rc = drift_daemon_open(&loop, pool, cfg, dir_of(pool, argv[2]), NULL, &r.daemon, err,
                               sizeof(err));
    if (rc != 0) {
        DRIFT_ERROR("cannot start", "config=%s error=\"%s\"", argv[2], err);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    DRIFT_INFO("driftd started", "version=%s config=%s pid=%d", DRIFTD_VERSION, argv[2],
               (int)getpid());
    uv_signal_init(&loop, &r.sigterm);
    uv_signal_init(&loop, &r.sigint);
    uv_signal_init(&loop, &r.sighup);
    r.sigterm.data = r.sigint.data = r.sighup.data = &r;
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sighup, on_signal, SIGHUP);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        DRIFT_WARN("event loop closed with handles still open", "%s", "");
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * replay
 * -------------------------------------------------------------------------------------------*/
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(8));
    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(o);
}

static void replay_reference(void *ctx, const char *stream, uint64_t events)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("reference"));
    json_object_set_new(o, "stream", json_string(stream));
    json_object_set_new(o, "events", json_integer((json_int_t)events));
    emit(o);
}

static void replay_window(void *ctx, const struct drift_window_report *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("window"));
    json_object_set_new(o, "stream", json_string(w->stream));
    json_object_set_new(o, "index", json_integer((json_int_t)w->index));
    json_object_set_new(o, "first_event", json_integer((json_int_t)w->first_seq));
    json_object_set_new(o, "last_event", json_integer((json_int_t)w->last_seq));
    json_object_set_new(o, "share", json_real(w->share));
    json_object_set_new(o, "dataset_drift", json_boolean(w->dataset_drift));
    json_object_set_new(o, "consecutive", json_integer(w->consecutive));
    json_t *dr = json_array(), *fs = json_object();
    for (int i = 0; i < w->nfeatures; i++) {
        const struct drift_feature_report *f = &w->features[i];
        if (f->drifted) {
            json_array_append_new(dr, json_string(f->name));
        }
        json_t *fo = json_object();
        json_object_set_new(fo, "psi", jnum(f->psi));
        if (!f->categorical) {
            json_object_set_new(fo, "ks", jnum(f->ks));
            json_object_set_new(fo, "ks_pvalue", jnum(f->ks_p));
            if (!isnan(f->cvm)) {
                json_object_set_new(fo, "cvm", jnum(f->cvm));
                json_object_set_new(fo, "cvm_pvalue", jnum(f->cvm_p));
            }
            if (!isnan(f->ad)) {
                json_object_set_new(fo, "anderson", jnum(f->ad));
                json_object_set_new(fo, "anderson_pvalue", jnum(f->ad_p));
            }
        }
        json_object_set_new(fo, "drifted", json_boolean(f->drifted));
        json_object_set_new(fs, f->name, fo);
    }
    json_object_set_new(o, "drifted", dr);
    json_object_set_new(o, "features", fs);
    emit(o);
}

static void replay_trigger(void *ctx, const struct drift_trigger *t)
{
    json_error_t je;
    json_t *payload = json_loads(t->payload, 0, &je);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("trigger"));
    json_object_set_new(o, "stream", json_string(t->stream));
    json_object_set_new(o, "kind", json_string(t->kind));
    if (t->window != NULL) {
        json_object_set_new(o, "window", json_integer((json_int_t)t->window->index));
    } else if (strcmp(t->kind, "performance") == 0) {
        json_object_set_new(o, "pair", json_integer((json_int_t)t->pair));
    }
    json_object_set_new(o, "idempotency_key", json_string(t->idem_key));
    json_object_set_new(o, "payload", payload ? payload : json_null());
    emit(o);
}

static void replay_perf_window(void *ctx, const struct drift_perf_window *w)
{
    const struct drift_stream_conf *sc = ctx;
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("performance_window"));
    json_object_set_new(o, "stream", json_string(w->stream));
    json_t *m = drift_perf_window_json(w, sc->performance.task);
    json_object_update(o, m);
    json_decref(m);
    emit(o);
}

/* Label events for replay: read in file order and handed to the pipeline when the predictions
 * have caught up with their time (labels.time_field; without one, after all the predictions).
 * Partition -1, offset = line number, as for the predictions. */
struct label_feed {
    FILE *f;
    const char *path;
    const struct drift_stream_conf *sc;
    char *line;
    size_t cap;
    ssize_t len;      /* the line read ahead; < 0 at the end */
    double ts;        /* its time, INFINITY when it has none */
    long long lineno;
    char scratch[4096];
};

static void label_time(void *ctx, const char *key, size_t klen, enum drift_json_kind kind,
                       const char *val, size_t vlen)
{
    struct label_feed *lf = ctx;
    const char *tf = lf->sc->labels.time_field;
    if (tf != NULL && strlen(tf) == klen && memcmp(key, tf, klen) == 0 &&
        kind == DRIFT_JSON_NUMBER) {
        double t = NAN;
        drift_parse_number(val, vlen, &t);
        if (isfinite(t)) {
            lf->ts = t > 1e11 ? t / 1000.0 : t;
        }
    }
}

static void label_feed_next(struct label_feed *lf)
{
    lf->len = getline(&lf->line, &lf->cap, lf->f);
    if (lf->len < 0) {
        return;
    }
    lf->lineno++;
    while (lf->len > 0 && (lf->line[lf->len - 1] == '\n' || lf->line[lf->len - 1] == '\r')) {
        lf->len--;
    }
    /* Without labels.time_field every label waits for the end of the predictions; with it, a
     * line that has no time (or is malformed: the pipeline reports it) goes in at once rather
     * than holding back the labels behind it. */
    lf->ts = lf->sc->labels.time_field != NULL ? -INFINITY : INFINITY;
    size_t errpos;
    const char *what;
    drift_json_each(lf->line, (size_t)lf->len, lf->scratch, sizeof(lf->scratch), label_time, lf,
                    &errpos, &what);
}

static int label_feed_open(struct label_feed *lf, const char *path,
                           const struct drift_stream_conf *sc)
{
    lf->f = fopen(path, "r");
    if (lf->f == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    lf->path = path;
    lf->sc = sc;
    label_feed_next(lf);
    return 0;
}

static void label_feed_until(struct label_feed *lf, struct drift_pipeline *p, double t)
{
    double until = isnan(t) ? -INFINITY : t; /* a prediction without time lets none through */
    while (lf->len >= 0 && lf->ts <= until) {
        const char *why;
        if (drift_pipeline_label(p, lf->line, (size_t)lf->len, -1, lf->lineno, &why) != 0) {
            uint64_t suppressed;
            if (drift_log_ratelimit("bad_label_line", 10000, &suppressed)) {
                DRIFT_WARN("skipped malformed label line", "file=%s line=%lld detail=\"%s\"",
                           lf->path, lf->lineno, why);
            }
        }
        label_feed_next(lf);
    }
}

static void label_feed_close(struct label_feed *lf)
{
    free(lf->line);
    fclose(lf->f);
    lf->f = NULL;
}

static void replay_model(void *ctx, const char *stream, const char *topic, const char *js)
{
    json_error_t je;
    json_t *m = json_loads(js, 0, &je);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("model_update"));
    json_object_set_new(o, "stream", json_string(stream));
    json_object_set_new(o, "model", m ? m : json_null());
    emit(o);
}

static int cmd_replay(apr_pool_t *pool, int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        {"from", 'f', 1, "JSON-lines file to replay ('-' = stdin)"},
        {"stream", 's', 1, "stream to replay into (default: the first)"},
        {"labels", 'l', 1, "JSON-lines label events for the stream's labels section"},
        {NULL, 0, 0, NULL},
    };
    static const char usage_text[] =
        "usage: driftd replay CONFIG --from FILE [--stream NAME] [--labels FILE]\n";
    if (argc < 3 || argv[2][0] == '-') {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *config = argv[2], *from = NULL, *stream = NULL, *labels = NULL;
    apr_getopt_t *os;
    apr_getopt_init(&os, pool, argc - 2, argv + 2);
    os->errfn = NULL;
    int opt;
    const char *arg;
    apr_status_t st;
    while ((st = apr_getopt_long(os, opts, &opt, &arg)) == APR_SUCCESS) {
        if (opt == 'f') {
            from = arg;
        } else if (opt == 's') {
            stream = arg;
        } else if (opt == 'l') {
            labels = arg;
        }
    }
    if (st != APR_EOF || os->ind != os->argc || from == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    struct drift_config *cfg = load_config(pool, config);
    if (cfg == NULL) {
        return 1;
    }
    drift_log_setup(cfg->log.level < DRIFT_LOG_WARN ? cfg->log.level : DRIFT_LOG_WARN,
                    cfg->log.json);
    const struct drift_stream_conf *sc = &cfg->streams[0];
    if (stream != NULL) {
        sc = NULL;
        for (int i = 0; i < cfg->nstreams; i++) {
            if (strcmp(cfg->streams[i].name, stream) == 0) {
                sc = &cfg->streams[i];
            }
        }
        if (sc == NULL) {
            fprintf(stderr, "replay: no stream named '%s' in %s\n", stream, config);
            return 2;
        }
    }
    FILE *in = strcmp(from, "-") == 0 ? stdin : fopen(from, "r");
    if (in == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", from, strerror(errno));
        return 1;
    }
    struct drift_pipeline_hooks hooks = {
        .ctx = (void *)sc,
        .reference_ready = replay_reference,
        .window = replay_window,
        .trigger = replay_trigger,
        .model_update = replay_model,
        .performance_window = replay_perf_window,
    };
    char err[512];
    size_t batch_max = cfg->kafka.batch_max > 0 ? (size_t)cfg->kafka.batch_max : 1024;
    struct drift_pipeline *p =
        drift_pipeline_create(pool, sc, batch_max, dir_of(pool, config), &hooks, err, sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "replay: %s\n", err);
        if (in != stdin) {
            fclose(in);
        }
        return 1;
    }
    struct label_feed lf = {0};
    if (labels != NULL) {
        if (!sc->labels.enabled) {
            fprintf(stderr, "replay: --labels needs a labels section in stream %s\n", sc->name);
            if (in != stdin) {
                fclose(in);
            }
            return 2;
        }
        if (label_feed_open(&lf, labels, sc) != 0) {
            if (in != stdin) {
                fclose(in);
            }
            return 1;
        }
    }
    struct drift_batch *b = drift_pipeline_batch(p);
    struct drift_decoder *dec = drift_pipeline_decoder(p);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long lineno = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }
        size_t row = b->n;
        int bad;
        const char *detail;
        if (drift_decode(dec, line, (size_t)len, b, &bad, &detail) != 0) {
            drift_pipeline_count_bad(p, bad);
            uint64_t suppressed;
            if (drift_log_ratelimit(drift_bad_names[bad], 10000, &suppressed)) {
                DRIFT_WARN("skipped malformed line", "file=%s line=%lld reason=%s detail=\"%s\"",
                           from, lineno, drift_bad_names[bad], detail);
            }
            continue;
        }
        b->part[row] = -1;
        b->off[row] = lineno;
        if (lf.f != NULL) {
            /* Labels whose time has come (at or before this prediction's) go in now. */
            label_feed_until(&lf, p, b->ts[row]);
        }
        if (b->n == b->cap) {
            drift_pipeline_push(p);
        }
    }
    if (b->n > 0) {
        drift_pipeline_push(p);
    }
    if (lf.f != NULL) {
        label_feed_until(&lf, p, INFINITY); /* the rest, in file order */
        label_feed_close(&lf);
    }
    free(line);
    int ioerr = ferror(in);
    if (in != stdin) {
        fclose(in);
    }
    struct drift_pipeline_stats ps;
    drift_pipeline_stats(p, &ps);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("summary"));
    json_object_set_new(o, "stream", json_string(sc->name));
    json_object_set_new(o, "lines", json_integer(lineno));
    json_object_set_new(o, "events", json_integer((json_int_t)ps.events));
    json_t *bad = json_object();
    uint64_t nbad = 0;
    for (int i = 0; i < DRIFT_BAD_COUNT; i++) {
        if (ps.bad[i]) {
            json_object_set_new(bad, drift_bad_names[i], json_integer((json_int_t)ps.bad[i]));
            nbad += ps.bad[i];
        }
    }
    json_object_set_new(o, "malformed", json_integer((json_int_t)nbad));
    json_object_set_new(o, "malformed_by_reason", bad);
    json_object_set_new(o, "reference_events", json_integer((json_int_t)ps.reference_events));
    json_object_set_new(o, "windows", json_integer((json_int_t)ps.windows));
    json_object_set_new(o, "drift_windows", json_integer((json_int_t)ps.drift_windows));
    json_object_set_new(o, "triggers", json_integer((json_int_t)ps.triggers));
    json_object_set_new(o, "model_updates", json_integer((json_int_t)ps.model_updates));
    if (sc->performance.enabled) {
        json_t *pf = json_object();
        json_object_set_new(pf, "detections", json_integer((json_int_t)ps.performance_detections));
        json_object_set_new(pf, "warnings", json_integer((json_int_t)ps.performance_warnings));
        json_object_set_new(pf, "triggers", json_integer((json_int_t)ps.performance_triggers));
        if (sc->labels.enabled) {
            struct drift_join_stats js;
            drift_pipeline_join_stats(p, &js);
            json_object_set_new(pf, "labels_in", json_integer((json_int_t)ps.labels_in));
            json_object_set_new(pf, "labels_bad", json_integer((json_int_t)ps.labels_bad));
            json_object_set_new(pf, "matched", json_integer((json_int_t)js.matched));
            json_object_set_new(pf, "pending", json_integer((json_int_t)js.pending));
            json_object_set_new(pf, "expired", json_integer((json_int_t)js.expired));
            json_object_set_new(pf, "overflowed", json_integer((json_int_t)js.overflowed));
            json_object_set_new(pf, "unmatched", json_integer((json_int_t)js.unmatched));
            json_object_set_new(pf, "duplicate_ids", json_integer((json_int_t)js.duplicates));
        }
        json_object_set_new(o, "performance", pf);
    }
    emit(o);
    fflush(stdout);
    if (ioerr) {
        fprintf(stderr, "replay: read error on %s\n", from);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * gen
 * -------------------------------------------------------------------------------------------*/
static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-' || s[0] == '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int cmd_gen(apr_pool_t *pool, int argc, const char *const *argv)
{
    static const apr_getopt_option_t opts[] = {
        {"events", 'n', 1, "events to write (default 20000)"},
        {"drift-at", 'a', 1, "first drifted event (default: never)"},
        {"seed", 's', 1, "random seed (default 1)"},
        {"dims", 'd', 1, "numeric features f0..f{D-1} (default: the demo schema)"},
        {"bad-every", 'b', 1, "make every M-th line malformed (default: none)"},
        {"key", 'k', 0, "prefix each line with a key and a tab (for kcat -K'\\t')"},
        {"ts-start", 't', 1, "event time of the first event, epoch ms (default 1700000000000)"},
        {"csv", 'c', 0, "with --dims: a CSV file with a header row instead of JSON lines"},
        {"corr-flip", 'f', 0, "with --dims >= 2: at --drift-at the correlation of f0 and f1 flips"
                              " (no feature's own distribution changes)"},
        {NULL, 0, 0, NULL},
    };
    unsigned long long events = 20000, drift_at = UINT64_MAX, seed = 1, dims = 0, bad_every = 0;
    unsigned long long ts0 = 1700000000000ull;
    int key = 0, csv = 0, flip = 0;
    apr_getopt_t *os;
    apr_getopt_init(&os, pool, argc - 1, argv + 1);
    int opt;
    const char *arg;
    apr_status_t st;
    while ((st = apr_getopt_long(os, opts, &opt, &arg)) == APR_SUCCESS) {
        unsigned long long *dst = NULL;
        switch (opt) {
        case 'n': dst = &events; break;
        case 'a': dst = &drift_at; break;
        case 's': dst = &seed; break;
        case 'd': dst = &dims; break;
        case 'b': dst = &bad_every; break;
        case 't': dst = &ts0; break;
        case 'k': key = 1; break;
        case 'c': csv = 1; break;
        case 'f': flip = 1; break;
        default: break;
        }
        if (dst != NULL && parse_u64(arg, dst) != 0) {
            fprintf(stderr, "gen: --%c needs a non-negative integer, got '%s'\n", opt, arg);
            return 2;
        }
    }
    if (st != APR_EOF || os->ind != os->argc || dims > 4096) {
        fprintf(stderr, "usage: driftd gen [--events N] [--drift-at K] [--seed S] [--dims D<=4096]"
                        " [--bad-every M] [--key] [--ts-start MS]\n");
        return 2;
    }
    if (csv && (dims == 0 || key || bad_every)) {
        fprintf(stderr, "gen: --csv needs --dims and goes without --key and --bad-every\n");
        return 2;
    }
    if (flip && dims < 2) {
        fprintf(stderr, "gen: --corr-flip needs --dims 2 or more\n");
        return 2;
    }
    struct drift_gen g;
    drift_gen_init(&g, seed, (int)dims, drift_at);
    g.corr_flip = flip;
    if (csv) {
        /* The same generic stream, as CSV: f0..f{D-1} and the label (no event time). */
        for (unsigned long long j = 0; j < dims; j++) {
            printf("f%llu,", j);
        }
        puts("label");
        char *row = malloc(64 + dims * 40 + 512);
        if (row == NULL) {
            return 1;
        }
        for (unsigned long long i = 0; i < events; i++) {
            size_t n = drift_gen_next(&g, row, 64 + dims * 40 + 512, 0);
            /* {"ts":0,"f0":v,...,"label":l} → v,...,l */
            char *p = row, *e = row + n, *o = row;
            while (p < e) {
                char *colon = memchr(p, ':', (size_t)(e - p));
                if (colon == NULL) {
                    break;
                }
                p = colon + 1;
                char *q = p;
                while (q < e && *q != ',' && *q != '}') {
                    q++;
                }
                if (colon - row > 6) { /* skip "ts" */
                    memmove(o, p, (size_t)(q - p));
                    o += q - p;
                    *o++ = ',';
                }
                p = q + 1;
            }
            o[-1] = '\n';
            fwrite(row, 1, (size_t)(o - row), stdout);
        }
        free(row);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    size_t cap = 64 + dims * 40 + 512;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return 1;
    }
    static const char *const bad_lines[] = {
        "{\"amount\": 12.5, \"country\": ",       /* truncated */
        "not json at all",                          /* invalid */
        "[1, 2, 3]",                                /* not an object */
        "{\"amount\": \"twelve\", \"f0\": \"x\"}",  /* wrong type */
        "",                                         /* empty */
    };
    for (unsigned long long i = 0; i < events; i++) {
        if (key) {
            printf("%llu\t", i);
        }
        if (bad_every > 0 && (i + 1) % bad_every == 0) {
            puts(bad_lines[(i / bad_every) % 5]);
            continue;
        }
        size_t n = drift_gen_next(&g, buf, cap, (double)(ts0 + i));
        fwrite(buf, 1, n, stdout);
        fputc('\n', stdout);
    }
    free(buf);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------------
 * main
 * -------------------------------------------------------------------------------------------*/
int main(int argc, const char *const *argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("driftd %s (librdkafka %s, libuv %s)\n", DRIFTD_VERSION,
               rd_kafka_version_str(), uv_version_string());
        return 0;
    }
    /* OpenBLAS's own threads would fight librdkafka's and the loop for the cores; the matrices
     * here are small enough that one thread is the fast choice. The pthread build starts its
     * workers when the library loads, before main, and they keep waking up even after
     * openblas_set_num_threads(1); only OPENBLAS_NUM_THREADS at load time prevents them. So
     * unless the user chose a value, set it and re-execute once (measured: -15% CPU). */
    if (getenv("OPENBLAS_NUM_THREADS") == NULL) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", (char *const *)argv);
        /* Not fatal if it fails: fall through with the threads idle. */
    }
    openblas_set_num_threads(1);
    /* A peer that closes a socket before we write (a webhook receiver, a scraper) must cost one
     * failed write, not the process: libuv writes with plain write(2). */
    signal(SIGPIPE, SIG_IGN);
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_t *pool;
    apr_pool_create(&pool, NULL);
    int rc;
    if (strcmp(cmd, "run") == 0) {
        rc = cmd_run(pool, argc, argv);
    } else if (strcmp(cmd, "check") == 0) {
        rc = cmd_check(pool, argc, argv);
    } else if (strcmp(cmd, "replay") == 0) {
        rc = cmd_replay(pool, argc, argv);
    } else if (strcmp(cmd, "gen") == 0) {
        rc = cmd_gen(pool, argc, argv);
    } else if (strcmp(cmd, "score") == 0) {
        rc = drift_score_main(pool, argc, argv);
    } else if (strcmp(cmd, "detect") == 0) {
        rc = drift_detect_main(pool, argc, argv);
    } else if (strcmp(cmd, "model") == 0) {
        rc = drift_model_main(pool, argc, argv);
    } else if (strcmp(cmd, "events") == 0) {
        rc = drift_events_main(pool, argc, argv);
    } else if (strcmp(cmd, "status") == 0) {
        rc = drift_status_main(pool, argc, argv);
    } else if (strcmp(cmd, "format") == 0) {
        rc = drift_format_main(pool, argc, argv);
    } else if (strcmp(cmd, "demo") == 0) {
        rc = drift_demo_main(pool, argc, argv);
    } else {
        fprintf(stderr, "driftd: unknown command '%s'\n\n", cmd);
        usage(stderr);
        rc = 2;
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return rc;
}
