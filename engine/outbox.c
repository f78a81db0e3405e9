/*
 * The outbox: at-least-once delivery of recorded triggers, asynchronously on the loop.
 *
 * libcurl's multi interface is driven by socket callbacks (a uv_poll per socket, its context
 * freed in the poll's close callback) and one uv_timer for curl's own timeouts, as in curl's
 * multi-uv example; nothing here blocks the loop except short SQLite statements. A second timer
 * picks up due rows from the store: at the earliest next attempt of a row that is not in flight,
 * at least once a second while idle, at once on kick, and at once when a delivery finishes (a
 * slot is free). A row in flight is never picked twice, and at most max_inflight run at once.
 *
 * Outcome of an attempt: 2xx → done; 429, 5xx and network errors → retried after a full-jitter
 * exponential backoff, rand(0, min(cap, base·2^n)) where n is the number of attempts made before
 * this one, but never sooner than the receiver's Retry-After; any other status (1xx, 3xx, 4xx)
 * is permanent → dead. A retryable failure that reaches max_attempts, or a row older than
 * max_age, is dead too; a row found already past either limit when it is picked up is marked dead
 * without another attempt (a retraining trigger from yesterday is stale evidence). The response
 * body plays no part: it is read and dropped, never written anywhere, and a body longer than
 * RESPONSE_MAX_BYTES is cut short.
 *
 * The Idempotency-Key header carries the trigger's key. store.h gives the outbox only the row,
 * so the key is read from the body's "idempotency_key" member with jansson: the body is the
 * payload recorded with the trigger, and the pipeline always writes the key there. A body
 * without it is delivered without the header (and a warning), never held back.
 *
 * Ownership: the outbox owns its curl handles and uv handles; the store is the caller's and must
 * stay open until close's done_cb (deliveries finishing during the drain record their outcome).
 */
#include "outbox.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "drift_op.h"
#include "formats.h"
#include "kafka.h"
#include "log.h"
#include "spawn.h"

#define PICK_IDLE_MS 1000       /* look for due rows at least this often */
#define DEFAULT_TIMEOUT_MS 5000 /* per request */
#define DEFAULT_MAX_AGE_S 86400 /* a day */
#define DEFAULT_BACKOFF_BASE_MS 500
#define DEFAULT_BACKOFF_MAX_MS 60000
#define DEFAULT_MAX_INFLIGHT 4
#define MAX_INFLIGHT_LIMIT 1024 /* sanity bound on the configured value */
#define OUTBOX_TIMERS 3         /* curl_timer, pick_timer, drain_timer */
#define RESPONSE_MAX_BYTES (64 * 1024) /* response body read before the transfer is cut short */

/* One socket curl asked us to watch. Freed in the poll handle's close callback. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct drift_outbox *o;
    struct sock_ctx *next, *prev;
};

const char *const drift_action_names[3] = {"webhook", "kafka", "exec"};

/* One delivery attempt: a private copy of the row (the store's strings live only during
 * drift_store_outbox_due) and what carries it: a curl easy handle, a Kafka message in the
 * producer (known by the row id), or a running program. */
struct delivery {
    struct drift_outbox_row row;
    struct drift_outbox *o;
    int kind;                 /* enum drift_action_kind */
    struct drift_spawn *proc; /* exec: the program while it runs */
    CURL *easy;
    struct curl_slist *headers;
    const char *userpwd; /* basic auth from the environment, or NULL */
    int tls_verify;
    size_t resp_bytes; /* response body bytes seen (and dropped) */
    int resp_cut;      /* the body passed RESPONSE_MAX_BYTES and the transfer was cut */
    char errbuf[CURL_ERROR_SIZE];
};

struct drift_outbox {
    uv_loop_t *loop;
    struct drift_store *store;
    struct drift_outbox_conf conf;
    drift_outbox_report_fn report;
    void *ctx;
    CURLM *multi;
    uv_timer_t curl_timer, pick_timer, drain_timer;
    int handles_open;           /* timers + socket polls not yet closed */
    struct sock_ctx *socks;     /* every socket context not yet closed */
    struct delivery **inflight; /* conf.max_inflight slots, ninflight used */
    int ninflight;
    struct delivery **picked; /* scratch for pick(): conf.max_inflight slots */
    int npicked;
    int64_t pick_next; /* scratch for pick(): next_ms of the first row left waiting */
    int64_t pick_now;
    int closing, torn_down;
    void (*done_cb)(void *ctx);
    void *done_ctx;
    uint64_t rng;
};

int drift_outbox_classify(int http_status, int curl_ok);

/* Classifies one attempt. Returns 1 = delivered, 0 = retry later (network error, 429, 5xx),
 * -1 = permanent failure (1xx, 3xx, other 4xx, anything else). Exported for the unit test. */
int drift_outbox_classify(int http_status, int curl_ok)
{
    if (!curl_ok) {
        return 0;
    }
    if (http_status >= 200 && http_status <= 299) {
        return 1;
    }
    if (http_status == 429 || (http_status >= 500 && http_status <= 599)) {
        return 0;
    }
    return -1;
}

/* xorshift64: the jitter needs spread, not cryptographic quality. */
static uint64_t rnd(struct drift_outbox *o)
{
    o->rng ^= o->rng << 13;
    o->rng ^= o->rng >> 7;
    o->rng ^= o->rng << 17;
    return o->rng;
}

/* Full jitter: rand(0, min(cap, base·2^n)) ms, n = attempts made before the failed one. */
static uint64_t backoff_ms(struct drift_outbox *o, int n)
{
    uint64_t cap = (uint64_t)o->conf.backoff_max_ms;
    uint64_t span = (uint64_t)o->conf.backoff_base_ms << (n < 30 ? n : 30);
    if (span > cap) {
        span = cap;
    }
    return rnd(o) % (span + 1);
}

static void check_done(struct drift_outbox *o);
static void on_pick_timer(uv_timer_t *t);

static void schedule_pick(struct drift_outbox *o, uint64_t ms)
{
    if (!o->closing) {
        uv_timer_start(&o->pick_timer, on_pick_timer, ms, 0);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Deliveries
 * -------------------------------------------------------------------------------------------*/
static void delivery_free(struct delivery *dv)
{
    curl_slist_free_all(dv->headers);
    free(dv->row.action);
    free(dv->row.target);
    free(dv->row.body);
    free(dv);
}

/* Detaches a delivery from the multi handle and the in-flight set, then frees it. */
static void delivery_end(struct drift_outbox *o, struct delivery *dv)
{
    for (int i = 0; i < o->ninflight; i++) {
        if (o->inflight[i] == dv) {
            o->inflight[i] = o->inflight[--o->ninflight];
            break;
        }
    }
    if (dv->easy != NULL) {
        curl_multi_remove_handle(o->multi, dv->easy);
        curl_easy_cleanup(dv->easy);
        dv->easy = NULL;
    }
    delivery_free(dv);
}

static struct delivery *delivery_new(const struct drift_outbox_row *r)
{
    struct delivery *dv = calloc(1, sizeof(*dv));
    if (dv == NULL) {
        return NULL;
    }
    dv->row = *r;
    dv->row.action = strdup(r->action ? r->action : "");
    dv->row.target = strdup(r->target ? r->target : "");
    dv->row.body = strdup(r->body ? r->body : "");
    if (dv->row.action == NULL || dv->row.target == NULL || dv->row.body == NULL) {
        delivery_free(dv);
        return NULL;
    }
    return dv;
}

/* Records the outcome of a row in the store and reports it. The report sees the row as it was
 * picked (attempts = attempts before this one). */
static void record(struct drift_outbox *o, struct delivery *dv, const char *status, int attempts,
                   int64_t next_ms, int http_status, const char *error)
{
    int rc = drift_store_outbox_update(o->store, dv->row.id, status, attempts, next_ms, http_status,
                                       error);
    if (rc != 0) {
        /* The row stays as it was (pending, due): it is tried again, never lost. */
        DRIFT_ERROR("cannot record delivery outcome", "outbox_id=%lld status=%s error=\"%s\"",
                    (long long)dv->row.id, status, drift_strerror(rc));
    }
    if (o->report != NULL) {
        o->report(o->ctx, &dv->row, status, http_status, error);
    }
}

static const struct drift_action_target *target_of(const struct drift_outbox *o,
                                                  const struct drift_outbox_row *r);

/* Returns the dead reason when the row may not be attempted again, else NULL. */
static const char *expired(struct drift_outbox *o, const struct drift_outbox_row *r, int attempts,
                           int64_t now)
{
    if (o->conf.max_attempts > 0 && attempts >= o->conf.max_attempts) {
        return "max_attempts reached";
    }
    if (now - r->created_ms > (int64_t)o->conf.max_age_s * 1000) {
        return "max_age exceeded";
    }
    return NULL;
}

/* Records the outcome of an attempt and ends the delivery. cls: 1 delivered, 0 retry later
 * (never sooner than retry_after_s), -1 permanent. code: the HTTP status or exit status (0 when
 * none); error: what went wrong, or "" . */
static void conclude(struct drift_outbox *o, struct delivery *dv, int cls, int code,
                     const char *what, long long retry_after)
{
    int attempts = dv->row.attempts + 1;
    int64_t now = (int64_t)drift_wall_ms();
    int64_t next = now;
    const char *status;
    char error[CURL_ERROR_SIZE + 640];
    snprintf(error, sizeof(error), "%s", what != NULL ? what : "");
    const char *why;
    if (cls == 1) {
        status = "done";
    } else if (cls < 0) {
        status = "dead";
    } else if ((why = expired(o, &dv->row, attempts, now)) != NULL) {
        status = "dead";
        size_t n = strlen(error);
        snprintf(error + n, sizeof(error) - n, "; %s", why);
    } else {
        status = "pending";
        uint64_t delay = backoff_ms(o, dv->row.attempts);
        if (retry_after > 0 && (uint64_t)retry_after * 1000 > delay) {
            delay = (uint64_t)retry_after * 1000;
        }
        next = now + (int64_t)delay;
    }
    record(o, dv, status, attempts, next, code, error[0] ? error : NULL);
    delivery_end(o, dv);
}

/* After a Kafka or exec delivery ended outside read_info: the same follow-up. */
static void completed(struct drift_outbox *o)
{
    if (o->closing) {
        check_done(o);
    } else {
        schedule_pick(o, 0);
    }
}

/* CURLOPT_WRITEFUNCTION. The status decides a delivery, so the response body is counted and
 * dropped. Without this callback libcurl fwrites it to stdout: a receiver's bytes in driftd's
 * output, and a stdout pipe nobody drains blocks the whole loop. Past RESPONSE_MAX_BYTES the
 * transfer is cut (returning less than given makes curl stop with CURLE_WRITE_ERROR); the status
 * line is in by then, and finish() judges the attempt by it. */
static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct delivery *dv = userp;
    (void)data;
    dv->resp_bytes += size * n;
    if (dv->resp_bytes > RESPONSE_MAX_BYTES) {
        dv->resp_cut = 1;
        return 0;
    }
    return size * n;
}

static void finish(struct drift_outbox *o, struct delivery *dv, CURLcode res)
{
    if (res == CURLE_WRITE_ERROR && dv->resp_cut) {
        res = CURLE_OK; /* we cut an overlong body: the receiver answered */
    }
    long code = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(dv->easy, CURLINFO_RESPONSE_CODE, &code);
    if (curl_easy_getinfo(dv->easy, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK ||
        retry_after < 0) {
        retry_after = 0;
    }
    int cls = drift_outbox_classify((int)code, res == CURLE_OK);
    const struct drift_action_target *tg = target_of(o, &dv->row);
    if (cls < 0 && code == 409 && tg != NULL &&
        (tg->format == DRIFT_FMT_AIRFLOW || tg->format == DRIFT_FMT_AIRFLOW3)) {
        cls = 1; /* Airflow: a DAG run with this dag_run_id (our key) exists: delivered before */
    }
    char error[CURL_ERROR_SIZE + 64];
    error[0] = '\0';
    if (res != CURLE_OK) {
        snprintf(error, sizeof(error), "%s", dv->errbuf[0] ? dv->errbuf : curl_easy_strerror(res));
    } else if (cls != 1) {
        snprintf(error, sizeof(error), "HTTP %ld", code);
    }
    conclude(o, dv, cls, (int)code, error, (long long)retry_after);
}

/* Builds and starts the request for dv. Returns 0; 1 when the delivery could not be prepared
 * and its outcome is recorded; or a negative code (dv untouched by curl and still owned by the
 * caller in both non-zero cases). */
static int kind_of(const char *action)
{
    for (int i = 0; i < 3; i++) {
        if (action != NULL && strcmp(action, drift_action_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static const struct drift_action_target *target_of(const struct drift_outbox *o,
                                                  const struct drift_outbox_row *r)
{
    int kind = kind_of(r->action);
    for (int i = 0; i < o->conf.ntargets; i++) {
        if (o->conf.targets[i].action == kind && strcmp(o->conf.targets[i].target, r->target) == 0) {
            return &o->conf.targets[i];
        }
    }
    return NULL;
}

static int add_header(struct delivery *dv, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (line == NULL) {
        return DRIFT_ENOMEM;
    }
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *t = curl_slist_append(dv->headers, line);
    free(line);
    if (t == NULL) {
        return DRIFT_ENOMEM;
    }
    dv->headers = t;
    return 0;
}

/* The body in the target's format, its content type, and the target's headers: custom ones,
 * credentials from the environment, and the HMAC signature of the exact bytes sent. Returns 0;
 * 1 when the payload is not for this target (a resolution to a retraining target); or a
 * negative code with why filled (a missing environment variable, a body that cannot be
 * built). */
static int prepare(struct delivery *dv, const struct drift_action_target *tg, char *why,
                   size_t whylen)
{
    const char *ct = "application/json";
    if (tg != NULL && drift_format_skips(dv->row.body, tg->format)) {
        return 1; /* not for this target: recorded as done, nothing sent */
    }
    if (tg != NULL && tg->format != DRIFT_FMT_JSON) {
        const char *rk = tg->routing_key_env != NULL ? getenv(tg->routing_key_env) : NULL;
        if (tg->routing_key_env != NULL && (rk == NULL || rk[0] == '\0')) {
            return drift_seterr(why, whylen, DRIFT_EINVAL, "environment variable %s is not set",
                                tg->routing_key_env);
        }
        struct drift_format_opts fo = {.format = tg->format, .severity = tg->severity,
                                       .routing_key = rk, .event_type = tg->event_type};
        char *body = drift_format_body(dv->row.body, &fo, &ct, why, whylen);
        if (body == NULL) {
            return DRIFT_EINVAL;
        }
        free(dv->row.body);
        dv->row.body = body;
    }
    if (add_header(dv, "Content-Type", ct) != 0) {
        return DRIFT_ENOMEM;
    }
    if (tg == NULL) {
        return 0;
    }
    for (int i = 0; i < tg->nheaders; i++) {
        if (add_header(dv, tg->headers[i].key, tg->headers[i].value) != 0) {
            return DRIFT_ENOMEM;
        }
    }
    const char *envs[3] = {tg->bearer_token_env, tg->basic_auth_env, tg->hmac_secret_env};
    const char *vals[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (envs[i] != NULL) {
            vals[i] = getenv(envs[i]);
            if (vals[i] == NULL || vals[i][0] == '\0') {
                return drift_seterr(why, whylen, DRIFT_EINVAL,
                                    "environment variable %s is not set", envs[i]);
            }
            if (strpbrk(vals[i], "\r\n") != NULL) {
                return drift_seterr(why, whylen, DRIFT_EINVAL,
                                    "environment variable %s holds a line break", envs[i]);
            }
        }
    }
    if (vals[0] != NULL) {
        size_t n = strlen(vals[0]) + 8;
        char *v = malloc(n);
        if (v == NULL) {
            return DRIFT_ENOMEM;
        }
        snprintf(v, n, "Bearer %s", vals[0]);
        int rc = add_header(dv, "Authorization", v);
        free(v);
        if (rc != 0) {
            return rc;
        }
    }
    dv->userpwd = vals[1]; /* set on the easy handle: curl encodes it */
    if (vals[2] != NULL) {
        char hex[65], sig[72];
        if (drift_hmac_sha256_hex(vals[2], strlen(vals[2]), dv->row.body, strlen(dv->row.body),
                                  hex) != 0) {
            return drift_seterr(why, whylen, DRIFT_EFAULT, "HMAC failed");
        }
        snprintf(sig, sizeof(sig), "sha256=%s", hex);
        if (add_header(dv, "X-Driftd-Signature-256", sig) != 0) {
            return DRIFT_ENOMEM;
        }
    }
    return 0;
}

/* A delivery that could not be started for a reason that is not the receiver's and is not
 * fixed by trying at once (an environment variable, a body that cannot be built, a target
 * missing from the config): counted as an attempt and retried with backoff until the row's
 * limits make it dead, the reason in the row. permanent: dead at once. Returns 1 (recorded). */
static int not_started(struct drift_outbox *o, struct delivery *dv, const char *why, int permanent)
{
    int attempts = dv->row.attempts + 1;
    int64_t now = (int64_t)drift_wall_ms();
    const char *status =
        permanent || expired(o, &dv->row, attempts, now) != NULL ? "dead" : "pending";
    DRIFT_ERROR("cannot start delivery", "outbox_id=%lld action=%s target=%s status=%s "
                "error=\"%s\"", (long long)dv->row.id, dv->row.action, dv->row.target, status,
                why);
    record(o, dv, status, attempts, now + (int64_t)backoff_ms(o, dv->row.attempts), 0, why);
    return 1;
}

static int skipped(struct drift_outbox *o, struct delivery *dv)
{
    DRIFT_INFO("resolution not sent to a retraining target", "outbox_id=%lld action=%s target=%s",
               (long long)dv->row.id, dv->row.action, dv->row.target);
    record(o, dv, "done", dv->row.attempts, dv->row.next_ms, 0, "skipped: a resolution");
    return 1;
}

/* ---- Kafka: the CloudEvent, keyed by stream; done on the producer's delivery report ---- */
static int start_kafka(struct drift_outbox *o, struct delivery *dv,
                       const struct drift_action_target *tg)
{
    char why[256] = "";
    if (tg == NULL) {
        snprintf(why, sizeof(why), "no kafka_action with topic %s in the config", dv->row.target);
        return not_started(o, dv, why, 0);
    }
    if (o->conf.producer == NULL) {
        return not_started(o, dv, "no Kafka producer", 0);
    }
    json_t *p = json_loads(dv->row.body, 0, NULL);
    const char *stream = json_string_value(json_object_get(p, "stream"));
    char *key = strdup(stream != NULL ? stream : "");
    json_decref(p);
    const char *ct = NULL;
    struct drift_format_opts fo = {.format = DRIFT_FMT_CLOUDEVENTS};
    char *body = key != NULL ? drift_format_body(dv->row.body, &fo, &ct, why, sizeof(why)) : NULL;
    if (key == NULL || body == NULL) {
        free(key);
        return key == NULL ? DRIFT_ENOMEM : not_started(o, dv, why, 0);
    }
    free(dv->row.body);
    dv->row.body = body;
    /* CloudEvents Kafka binding, structured mode */
    const struct drift_kv hdr[1] = {{"content-type", "application/cloudevents+json; charset=UTF-8"}};
    int rc = drift_producer_send_headers(o->conf.producer, dv->row.target, key, strlen(key), body,
                                         strlen(body), hdr, 1, (void *)(intptr_t)dv->row.id);
    free(key);
    if (rc != 0) {
        return not_started(o, dv, rc == DRIFT_EAGAIN ? "producer queue full" : "produce failed",
                           0);
    }
    dv->kind = DRIFT_ACTION_KAFKA;
    o->inflight[o->ninflight++] = dv;
    return 0;
}

void drift_outbox_produced(struct drift_outbox *o, void *opaque, int err, const char *errstr)
{
    if (o == NULL || o->torn_down) {
        return;
    }
    int64_t id = (int64_t)(intptr_t)opaque;
    for (int i = 0; i < o->ninflight; i++) {
        struct delivery *dv = o->inflight[i];
        if (dv->row.id == id && dv->kind == DRIFT_ACTION_KAFKA) {
            /* broker errors are worth another try: the message timed out, the topic is not
             * there yet, the cluster was down */
            conclude(o, dv, err == 0 ? 1 : 0, 0, err == 0 ? "" : errstr, 0);
            completed(o);
            return;
        }
    }
    /* aborted at shutdown: the row stayed pending and is sent again after the next start */
}

/* ---- exec: the payload on stdin, its main fields in DRIFTD_* variables; of driftd's own
 * environment (which holds the webhook and control credentials) only an allow-list and the
 * target's exec_env names reach the program (spawn.c) ---- */
static void on_exec_done(void *ctx, const struct drift_spawn_result *r)
{
    struct delivery *dv = ctx;
    struct drift_outbox *o = dv->o;
    char error[640];
    int cls;
    dv->proc = NULL;
    if (r->timed_out) {
        cls = 0;
        snprintf(error, sizeof(error), "timed out; %s", r->output);
    } else if (r->term_signal != 0) {
        cls = 0;
        snprintf(error, sizeof(error), "killed by signal %d; %s", r->term_signal, r->output);
    } else if (r->exit_status == 0) {
        cls = 1;
        error[0] = '\0';
    } else {
        cls = r->exit_status == 75 ? 0 : -1; /* EX_TEMPFAIL: try again later */
        snprintf(error, sizeof(error), "exit status %d; %s", r->exit_status, r->output);
    }
    conclude(o, dv, cls, r->exit_status, error, 0);
    completed(o);
}

static int start_exec(struct drift_outbox *o, struct delivery *dv,
                      const struct drift_action_target *tg)
{
    if (tg == NULL || tg->argv == NULL) {
        return not_started(o, dv, "no exec action with this command in the config", 0);
    }
    json_t *p = json_loads(dv->row.body, 0, NULL);
    if (p == NULL) {
        return not_started(o, dv, "the stored payload is not JSON", 1);
    }
    const char *status = json_string_value(json_object_get(p, "status"));
    if (!tg->exec_resolutions && status != NULL && strcmp(status, "resolved") == 0) {
        json_decref(p);
        return skipped(o, dv);
    }
    static const char *const fields[][2] = {
        {"DRIFTD_IDEMPOTENCY_KEY", "idempotency_key"}, {"DRIFTD_STREAM", "stream"},
        {"DRIFTD_RULE", "trigger"}, {"DRIFTD_KIND", "kind"}, {"DRIFTD_SEVERITY", "severity"},
        {"DRIFTD_STATUS", "status"}, {"DRIFTD_DETECTED_AT", "detected_at"}};
    enum { NFIELDS = sizeof(fields) / sizeof(fields[0]) };
    char *env[NFIELDS + 3] = {0};
    int n = 0;
    for (int i = 0; i < NFIELDS; i++) {
        const char *v = json_string_value(json_object_get(p, fields[i][1]));
        if (v == NULL && strcmp(fields[i][1], "status") == 0) {
            v = "firing";
        }
        if (v != NULL && asprintf(&env[n], "%s=%s", fields[i][0], v) >= 0) {
            n++;
        }
    }
    /* the drifted features, comma-separated, in the payload's order */
    json_t *drifted = json_object_get(p, "drifted_features");
    size_t len = strlen("DRIFTD_DRIFTED_FEATURES=") + 1;
    for (size_t i = 0; i < json_array_size(drifted); i++) {
        const char *f = json_string_value(json_object_get(json_array_get(drifted, i), "feature"));
        len += f != NULL ? strlen(f) + 1 : 0;
    }
    if ((env[n] = malloc(len)) != NULL) {
        strcpy(env[n], "DRIFTD_DRIFTED_FEATURES=");
        for (size_t i = 0, first = 1; i < json_array_size(drifted); i++) {
            const char *f =
                json_string_value(json_object_get(json_array_get(drifted, i), "feature"));
            if (f != NULL) {
                if (!first) {
                    strcat(env[n], ",");
                }
                strcat(env[n], f);
                first = 0;
            }
        }
        n++;
    }
    if (asprintf(&env[n], "DRIFTD_ATTEMPT=%d", dv->row.attempts + 1) >= 0) {
        n++;
    }
    json_decref(p);
    dv->kind = DRIFT_ACTION_EXEC;
    dv->o = o;
    int rc = drift_spawn_start(o->loop, tg->argv, (const char *const *)env, tg->exec_env,
                               dv->row.body, strlen(dv->row.body), tg->exec_timeout_ms,
                               on_exec_done, dv, &dv->proc);
    for (int i = 0; i < n; i++) {
        free(env[i]);
    }
    if (rc != 0) {
        char why[256];
        snprintf(why, sizeof(why), "cannot run %s: %s", tg->argv[0], uv_strerror(rc));
        /* not there or not executable: nothing changes that but an operator */
        return not_started(o, dv, why, rc == UV_ENOENT || rc == UV_EACCES);
    }
    o->inflight[o->ninflight++] = dv;
    return 0;
}

/* ---- webhook ---- */
static int start_webhook(struct drift_outbox *o, struct delivery *dv,
                         const struct drift_action_target *tg)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:"); /* no 100-continue */
    if (h == NULL) {
        return DRIFT_ENOMEM;
    }
    dv->headers = h;
    struct curl_slist *t;
    json_t *body = json_loads(dv->row.body, 0, NULL);
    const char *key = json_string_value(json_object_get(body, "idempotency_key"));
    int key_ok = key != NULL && key[0] != '\0';
    for (const char *p = key; key_ok && *p; p++) {
        key_ok = (unsigned char)*p >= 0x20 && *p != 0x7f; /* no header injection */
    }
    if (key_ok) {
        size_t n = strlen("Idempotency-Key: ") + strlen(key) + 1;
        char *line = malloc(n);
        if (line != NULL) {
            snprintf(line, n, "Idempotency-Key: %s", key);
            t = curl_slist_append(dv->headers, line);
            free(line);
        }
        if (line == NULL || t == NULL) {
            json_decref(body);
            return DRIFT_ENOMEM;
        }
    } else {
        DRIFT_WARN("outbox body has no usable idempotency_key; sent without the header",
                   "outbox_id=%lld", (long long)dv->row.id);
    }
    json_decref(body);
    char why[256] = "";
    int prc = prepare(dv, tg, why, sizeof(why));
    if (prc == DRIFT_ENOMEM) {
        return prc;
    }
    if (prc == 1) {
        return skipped(o, dv);
    }
    if (prc != 0) {
        return not_started(o, dv, why, 0);
    }
    CURL *e = curl_easy_init();
    if (e == NULL) {
        return DRIFT_ENOMEM;
    }
    curl_easy_setopt(e, CURLOPT_URL, dv->row.target);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, dv->row.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(dv->row.body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, dv->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "driftd/0.1");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->conf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->conf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, dv);
    if (dv->userpwd != NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERPWD, dv->userpwd);
    }
    if (tg != NULL && !tg->tls_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, dv);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, dv->errbuf);
    o->inflight[o->ninflight++] = dv;
    dv->easy = e;
    dv->kind = DRIFT_ACTION_WEBHOOK;
    CURLMcode mc = curl_multi_add_handle(o->multi, e);
    if (mc != CURLM_OK) {
        o->ninflight--;
        dv->easy = NULL;
        curl_easy_cleanup(e);
        DRIFT_ERROR("cannot start delivery", "outbox_id=%lld error=\"%s\"", (long long)dv->row.id,
                    curl_multi_strerror(mc));
        return DRIFT_EFAULT;
    }
    return 0;
}

/* Starts the delivery of dv by its action. Returns 0 (in flight); 1 when its outcome is already
 * recorded; or a negative code (out of memory: dv stays the caller's, the row pending). */
static int start(struct drift_outbox *o, struct delivery *dv)
{
    const struct drift_action_target *tg = target_of(o, &dv->row);
    dv->o = o;
    switch (kind_of(dv->row.action)) {
    case DRIFT_ACTION_WEBHOOK:
        return start_webhook(o, dv, tg);
    case DRIFT_ACTION_KAFKA:
        return start_kafka(o, dv, tg);
    case DRIFT_ACTION_EXEC:
        return start_exec(o, dv, tg);
    default: {
        char why[128];
        snprintf(why, sizeof(why), "unknown action '%.40s'", dv->row.action);
        return not_started(o, dv, why, 1);
    }
    }
}

/* ---------------------------------------------------------------------------------------------
 * curl ↔ uv glue
 * -------------------------------------------------------------------------------------------*/
static void on_handle_closed(struct drift_outbox *o)
{
    if (--o->handles_open == 0) {
        void (*cb)(void *) = o->done_cb;
        void *ctx = o->done_ctx;
        free(o->inflight);
        free(o->picked);
        free(o);
        if (cb != NULL) {
            cb(ctx);
        }
    }
}

static void on_sock_closed(uv_handle_t *h)
{
    struct sock_ctx *s = h->data;
    struct drift_outbox *o = s->o;
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        o->socks = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    free(s);
    on_handle_closed(o);
}

static void sock_close(struct sock_ctx *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->poll)) {
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_sock_closed);
    }
}

/* Hands every finished transfer to finish(). Called after each curl_multi_socket_action, never
 * from inside a curl callback. */
static void read_info(struct drift_outbox *o)
{
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            struct delivery *dv = NULL;
            CURLcode res = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&dv);
            finish(o, dv, res); /* msg is invalid from here on */
            finished++;
        }
    }
    if (o->closing) {
        check_done(o);
    } else if (finished > 0) {
        schedule_pick(o, 0); /* a slot is free, and a retry may now be the earliest row */
    }
}

static void on_sock_event(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
    struct drift_outbox *o = s->o;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    int running;
    curl_multi_socket_action(o->multi, s->fd, flags, &running);
    read_info(o); /* s may be closing now; o lives until every handle is closed */
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching one socket. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct drift_outbox *o = userp;
    struct sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s != NULL) {
            sock_close(s);
            if (!o->torn_down) {
                curl_multi_assign(o->multi, fd, NULL);
            }
        }
        return 0;
    }
    if (o->torn_down) {
        return 0; /* curl_multi_cleanup is running: nothing new is watched */
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(o->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->o = o;
        s->poll.data = s;
        s->next = o->socks;
        if (o->socks != NULL) {
            o->socks->prev = s;
        }
        o->socks = s;
        o->handles_open++;
        curl_multi_assign(o->multi, fd, s);
    }
    int ev = 0;
    if (action != CURL_POLL_OUT) {
        ev |= UV_READABLE;
    }
    if (action != CURL_POLL_IN) {
        ev |= UV_WRITABLE;
    }
    return uv_poll_start(&s->poll, ev, on_sock_event) == 0 ? 0 : -1;
}

static void on_curl_timeout(uv_timer_t *t)
{
    struct drift_outbox *o = t->data;
    int running;
    curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    read_info(o);
}

/* CURLMOPT_TIMERFUNCTION: one one-shot timer, replaced on every call. No curl calls in here. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct drift_outbox *o = userp;
    if (o->torn_down) {
        return 0; /* curl_multi_cleanup may still call this */
    }
    if (timeout_ms < 0) {
        uv_timer_stop(&o->curl_timer);
    } else {
        uv_timer_start(&o->curl_timer, on_curl_timeout, timeout_ms > 0 ? (uint64_t)timeout_ms : 1,
                       0);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Picking due rows
 * -------------------------------------------------------------------------------------------*/
static int is_inflight(struct drift_outbox *o, int64_t id)
{
    for (int i = 0; i < o->ninflight; i++) {
        if (o->inflight[i]->row.id == id) {
            return 1;
        }
    }
    return 0;
}

/* drift_store_outbox_due callback: copies due rows that fit in the free slots and notes when
 * the first row left waiting is due. It must not write to the store, so it only collects. */
static void collect(void *ctx, const struct drift_outbox_row *r)
{
    struct drift_outbox *o = ctx;
    if (is_inflight(o, r->id)) {
        return;
    }
    if (r->next_ms <= o->pick_now && o->ninflight + o->npicked < o->conf.max_inflight) {
        struct delivery *dv = delivery_new(r);
        if (dv != NULL) {
            o->picked[o->npicked++] = dv;
            return;
        }
    }
    if (o->pick_next < 0) {
        o->pick_next = r->next_ms; /* rows come ordered by next_ms: the first is the earliest */
    }
}

static void pick(struct drift_outbox *o)
{
    if (o->closing) {
        return;
    }
    int64_t now = (int64_t)drift_wall_ms();
    o->pick_now = now;
    o->pick_next = -1;
    o->npicked = 0;
    /* Every row in flight may come back (it is still pending), plus the rows for the free slots,
     * plus one more to learn when to look again: max_inflight + 1 rows in all. */
    int rc = drift_store_outbox_due(o->store, INT64_MAX, o->conf.max_inflight + 1, collect, o);
    for (int i = 0; i < o->npicked; i++) {
        struct delivery *dv = o->picked[i];
        const char *why = expired(o, &dv->row, dv->row.attempts, now);
        if (o->closing) {
            delivery_free(dv); /* the report closed the outbox: leave the rest pending */
        } else if (why != NULL) {
            DRIFT_WARN("outbox row expired before delivery", "outbox_id=%lld reason=\"%s\"",
                       (long long)dv->row.id, why);
            record(o, dv, "dead", dv->row.attempts, dv->row.next_ms, 0, why);
            delivery_free(dv);
        } else if (start(o, dv) != 0) {
            delivery_free(dv); /* recorded by start, or (out of memory) left for the next pick */
        }
    }
    o->npicked = 0;
    uint64_t wait = PICK_IDLE_MS;
    if (rc >= 0 && o->pick_next > now && o->pick_next - now < PICK_IDLE_MS) {
        wait = (uint64_t)(o->pick_next - now);
    }
    /* A row left waiting that is already due had no free slot: the next completion picks it. */
    schedule_pick(o, wait);
}

static void on_pick_timer(uv_timer_t *t)
{
    pick(t->data);
}

/* ---------------------------------------------------------------------------------------------
 * Opening
 * -------------------------------------------------------------------------------------------*/
int drift_outbox_open(uv_loop_t *loop, struct drift_store *store,
                      const struct drift_outbox_conf *conf, drift_outbox_report_fn report,
                      void *ctx, struct drift_outbox **out, char *err, size_t errlen)
{
    *out = NULL;
    if (loop == NULL || store == NULL || conf == NULL) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "outbox: missing loop, store or conf");
    }
    if (conf->max_inflight > MAX_INFLIGHT_LIMIT) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "outbox max_inflight must be <= %d, got %d",
                            MAX_INFLIGHT_LIMIT, conf->max_inflight);
    }
    /* Reference counted by libcurl, so every open may call it; never cleaned up here because
     * other modules may use curl too. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return drift_seterr(err, errlen, DRIFT_EFAULT, "curl_global_init failed");
    }
    struct drift_outbox *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    o->loop = loop;
    o->store = store;
    o->conf = *conf;
    if (o->conf.timeout_ms <= 0) {
        o->conf.timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (o->conf.max_attempts < 0) {
        o->conf.max_attempts = 0;
    }
    if (o->conf.max_age_s <= 0) {
        o->conf.max_age_s = DEFAULT_MAX_AGE_S;
    }
    if (o->conf.backoff_base_ms <= 0) {
        o->conf.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
    }
    if (o->conf.backoff_max_ms <= 0) {
        o->conf.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    }
    if (o->conf.max_inflight <= 0) {
        o->conf.max_inflight = DEFAULT_MAX_INFLIGHT;
    }
    o->report = report;
    o->ctx = ctx;
    o->rng = (drift_wall_ms() ^ (uint64_t)(uintptr_t)o) | 1;
    o->inflight = calloc((size_t)o->conf.max_inflight, sizeof(*o->inflight));
    o->picked = calloc((size_t)o->conf.max_inflight, sizeof(*o->picked));
    o->multi = curl_multi_init();
    if (o->inflight == NULL || o->picked == NULL || o->multi == NULL) {
        curl_multi_cleanup(o->multi);
        free(o->inflight);
        free(o->picked);
        free(o);
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "outbox: out of memory");
    }
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
    uv_timer_init(loop, &o->curl_timer);
    uv_timer_init(loop, &o->pick_timer);
    uv_timer_init(loop, &o->drain_timer);
    o->curl_timer.data = o->pick_timer.data = o->drain_timer.data = o;
    o->handles_open = OUTBOX_TIMERS;
    schedule_pick(o, 0);
    *out = o;
    return 0;
}

void drift_outbox_kick(struct drift_outbox *o)
{
    schedule_pick(o, 0);
}

int drift_outbox_inflight(const struct drift_outbox *o)
{
    return o->ninflight;
}

/* ---------------------------------------------------------------------------------------------
 * Closing
 * -------------------------------------------------------------------------------------------*/
static void on_timer_closed(uv_handle_t *h)
{
    on_handle_closed(h->data);
}

/* Runs whenever something may have finished during close. Once nothing is in flight, cleans up
 * curl (which may still ask to stop watching sockets), closes whatever sockets curl did not
 * remove, and closes the timers; the last close callback frees the outbox and calls done_cb. */
static void check_done(struct drift_outbox *o)
{
    if (!o->closing || o->torn_down || o->ninflight > 0) {
        return; /* the drain deadline or the last completion brings us back */
    }
    o->torn_down = 1; /* from here on the curl callbacks only let go of sockets */
    curl_multi_cleanup(o->multi);
    o->multi = NULL;
    for (struct sock_ctx *s = o->socks; s != NULL; s = s->next) {
        sock_close(s);
    }
    uv_close((uv_handle_t *)&o->curl_timer, on_timer_closed);
    uv_close((uv_handle_t *)&o->pick_timer, on_timer_closed);
    uv_close((uv_handle_t *)&o->drain_timer, on_timer_closed);
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct drift_outbox *o = t->data;
    /* Abort what is still running; those rows were never updated and stay pending. */
    while (o->ninflight > 0) {
        struct delivery *dv = o->inflight[o->ninflight - 1];
        DRIFT_WARN("delivery aborted at shutdown; it stays pending", "outbox_id=%lld action=%s",
                   (long long)dv->row.id, dv->row.action);
        if (dv->proc != NULL) {
            drift_spawn_abort(dv->proc); /* killed; its exit is no longer ours to record */
            dv->proc = NULL;
        }
        delivery_end(o, dv);
    }
    check_done(o);
}

void drift_outbox_close(struct drift_outbox *o, int drain_ms, void (*done_cb)(void *ctx), void *ctx)
{
    if (o == NULL || o->closing) {
        return;
    }
    o->closing = 1;
    o->done_cb = done_cb;
    o->done_ctx = ctx;
    uv_timer_stop(&o->pick_timer);
    if (o->ninflight > 0) {
        uv_timer_start(&o->drain_timer, on_drain_deadline, drain_ms > 0 ? (uint64_t)drain_ms : 0,
                       0);
    } else {
        check_done(o);
    }
}
