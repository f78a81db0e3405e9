/*
 * The outbox: at-least-once delivery of recorded triggers, asynchronously on the loop.
 *
 * libcurl's multi interface is driven by socket callbacks (a uv_poll per socket, its context
 * freed in the poll's close callback) and one uv_timer for curl's own timeouts, as in curl's
 * multi-uv example. A second timer picks up due rows from the store: at the earliest next attempt,
 * at least once a second while idle, and at once on kick. A row in flight is never picked twice.
 *
 * Outcome of an attempt: 2xx → done; 429, 5xx and network errors → retried after a full-jitter
 * exponential backoff, rand(0, min(cap, base·2^attempt)), but never sooner than the receiver's
 * Retry-After; other statuses (3xx, 4xx) are permanent → dead. A row past max_attempts or older
 * than max_age is dead too. The Idempotency-Key header carries the trigger's key, read from the
 * body's "idempotency_key" member (the body is the payload recorded with the trigger).
 */
#include "outbox.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "log.h"

#define PICK_IDLE_MS 1000 /* look for due rows at least this often */
#define MAX_INFLIGHT_CAP 64

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct drift_outbox *o;
};

struct delivery {
    struct drift_outbox_row row; /* strings owned */
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
};

struct drift_outbox {
    uv_loop_t *loop;
    struct drift_store *store;
    struct drift_outbox_conf conf;
    drift_outbox_report_fn report;
    void *ctx;
    CURLM *multi;
    uv_timer_t curl_timer, pick_timer;
    int handles_open;
    struct delivery *inflight[MAX_INFLIGHT_CAP];
    int ninflight;
    int closing;
    uv_timer_t drain_timer;
    void (*done_cb)(void *ctx);
    void *done_ctx;
    uint64_t rng;
};

int drift_outbox_classify(int http_status, int curl_ok);

/* Returns 1 = done, 0 = retry, -1 = permanent failure. */
int drift_outbox_classify(int http_status, int curl_ok)
{
    if (!curl_ok) {
        return 0;
    }
    if (http_status >= 200 && http_status < 300) {
        return 1;
    }
    if (http_status == 429 || http_status >= 500 || http_status == 408) {
        return 0;
    }
    return -1;
}

static uint64_t rnd(struct drift_outbox *o)
{
    o->rng ^= o->rng << 13;
    o->rng ^= o->rng >> 7;
    o->rng ^= o->rng << 17;
    return o->rng;
}

static void check_done(struct drift_outbox *o);
static void pick(struct drift_outbox *o);

/* ---------------------------------------------------------------------------------------------
 * curl ↔ uv glue
 * -------------------------------------------------------------------------------------------*/
static void on_sock_closed(uv_handle_t *h)
{
    struct sock_ctx *s = h->data;
    struct drift_outbox *o = s->o;
    free(s);
    if (--o->handles_open == 0 && o->closing) {
        check_done(o);
    }
}

/* Detaches a delivery from the multi handle and frees it with its copies of the row. */
static void delivery_free(struct drift_outbox *o, struct delivery *dv)
{
    curl_multi_remove_handle(o->multi, dv->easy);
    curl_easy_cleanup(dv->easy);
    curl_slist_free_all(dv->headers);
    free(dv->row.action);
    free(dv->row.target);
    free(dv->row.body);
    free(dv);
}

static void finish(struct drift_outbox *o, struct delivery *dv, CURLcode res)
{
    long code = 0;
    curl_easy_getinfo(dv->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_off_t retry_after = 0;
    curl_easy_getinfo(dv->easy, CURLINFO_RETRY_AFTER, &retry_after);
    int cls = drift_outbox_classify((int)code, res == CURLE_OK);
    int attempts = dv->row.attempts + 1;
    int64_t now = (int64_t)drift_wall_ms();
    const char *status;
    char error[CURL_ERROR_SIZE + 64];
    error[0] = '\0';
    if (res != CURLE_OK) {
        snprintf(error, sizeof(error), "%s", dv->errbuf[0] ? dv->errbuf : curl_easy_strerror(res));
    } else if (cls != 1) {
        snprintf(error, sizeof(error), "HTTP %ld", code);
    }
    int64_t next = now;
    if (cls == 1) {
        status = "done";
    } else if (cls < 0) {
        status = "dead";
    } else if ((o->conf.max_attempts > 0 && attempts >= o->conf.max_attempts) ||
               now - dv->row.created_ms > (int64_t)o->conf.max_age_s * 1000) {
        status = "dead";
    } else {
        status = "pending";
        uint64_t cap = (uint64_t)o->conf.backoff_base_ms << (attempts < 20 ? attempts - 1 : 20);
        if (cap > (uint64_t)o->conf.backoff_max_ms) {
            cap = (uint64_t)o->conf.backoff_max_ms;
        }
        uint64_t delay = cap > 0 ? rnd(o) % (cap + 1) : 0;
        if ((uint64_t)retry_after * 1000 > delay) {
            delay = (uint64_t)retry_after * 1000;
        }
        next = now + (int64_t)delay;
    }
    if (drift_store_outbox_update(o->store, dv->row.id, status, attempts, next, (int)code,
                                  error[0] ? error : NULL) != 0) {
        DRIFT_ERROR("cannot record delivery outcome", "outbox_id=%lld status=%s",
                    (long long)dv->row.id, status);
    }
    if (o->report) {
        o->report(o->ctx, &dv->row, status, (int)code, error[0] ? error : NULL);
    }
    for (int i = 0; i < o->ninflight; i++) {
        if (o->inflight[i] == dv) {
            o->inflight[i] = o->inflight[--o->ninflight];
            break;
        }
    }
    delivery_free(o, dv);
}

static void read_info(struct drift_outbox *o)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            struct delivery *dv;
            CURL *easy = msg->easy_handle;
            CURLcode res = msg->data.result;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&dv);
            finish(o, dv, res);
        }
    }
    if (o->closing) {
        check_done(o);
    } else {
        pick(o);
    }
}

static void on_sock_event(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *s = h->data;
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
    curl_multi_socket_action(s->o->multi, s->fd, flags, &running);
    read_info(s->o);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct drift_outbox *o = userp;
    struct sock_ctx *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(o->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        s->fd = fd;
        s->o = o;
        uv_poll_init_socket(o->loop, &s->poll, fd);
        s->poll.data = s;
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
    uv_poll_start(&s->poll, ev, on_sock_event);
    return 0;
}

static void on_curl_timeout(uv_timer_t *t)
{
    struct drift_outbox *o = t->data;
    int running;
    curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    read_info(o);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct drift_outbox *o = userp;
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

static void start_one(void *ctx, const struct drift_outbox_row *r)
{
    struct drift_outbox *o = ctx;
    if (o->ninflight >= o->conf.max_inflight || is_inflight(o, r->id)) {
        return;
    }
    struct delivery *dv = calloc(1, sizeof(*dv));
    if (dv == NULL) {
        return;
    }
    dv->row = *r;
    dv->row.action = strdup(r->action);
    dv->row.target = strdup(r->target);
    dv->row.body = strdup(r->body);
    dv->easy = curl_easy_init();
    if (dv->easy == NULL || !dv->row.action || !dv->row.target || !dv->row.body) {
        curl_easy_cleanup(dv->easy);
        free(dv->row.action);
        free(dv->row.target);
        free(dv->row.body);
        free(dv);
        return;
    }
    dv->headers = curl_slist_append(NULL, "Content-Type: application/json");
    json_error_t je;
    json_t *body = json_loads(r->body, 0, &je);
    const char *key = body ? json_string_value(json_object_get(body, "idempotency_key")) : NULL;
    if (key != NULL) {
        char h[512];
        snprintf(h, sizeof(h), "Idempotency-Key: %s", key);
        dv->headers = curl_slist_append(dv->headers, h);
    }
    json_decref(body);
    dv->headers = curl_slist_append(dv->headers, "Expect:");
    CURL *e = dv->easy;
    curl_easy_setopt(e, CURLOPT_URL, dv->row.target);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, dv->row.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(dv->row.body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, dv->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "driftd/0.1");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->conf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->conf.timeout_ms);
    curl_easy_setopt(e, CURLOPT_PRIVATE, dv);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, dv->errbuf);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    o->inflight[o->ninflight++] = dv;
    curl_multi_add_handle(o->multi, e);
}

static void on_pick_timer(uv_timer_t *t);

static void pick(struct drift_outbox *o)
{
    if (o->closing) {
        return;
    }
    int64_t now = (int64_t)drift_wall_ms();
    if (o->ninflight < o->conf.max_inflight) {
        drift_store_outbox_due(o->store, now, o->conf.max_inflight + o->ninflight, start_one, o);
    }
    int64_t next = drift_store_outbox_next(o->store);
    uint64_t wait = PICK_IDLE_MS;
    if (next >= 0 && next > now && (uint64_t)(next - now) < wait) {
        wait = (uint64_t)(next - now);
    } else if (next >= 0 && next <= now && o->ninflight < o->conf.max_inflight) {
        wait = 1;
    }
    uv_timer_start(&o->pick_timer, on_pick_timer, wait, 0);
}

static void on_pick_timer(uv_timer_t *t)
{
    pick(t->data);
}

int drift_outbox_open(uv_loop_t *loop, struct drift_store *store,
                      const struct drift_outbox_conf *conf, drift_outbox_report_fn report,
                      void *ctx, struct drift_outbox **out, char *err, size_t errlen)
{
    static int curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return drift_seterr(err, errlen, DRIFT_EFAULT, "curl_global_init failed");
        }
        curl_ready = 1;
    }
    struct drift_outbox *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    o->loop = loop;
    o->store = store;
    o->conf = *conf;
    if (o->conf.timeout_ms <= 0) {
        o->conf.timeout_ms = 5000;
    }
    if (o->conf.max_age_s <= 0) {
        o->conf.max_age_s = 86400;
    }
    if (o->conf.backoff_base_ms <= 0) {
        o->conf.backoff_base_ms = 500;
    }
    if (o->conf.backoff_max_ms <= 0) {
        o->conf.backoff_max_ms = 60000;
    }
    if (o->conf.max_inflight <= 0 || o->conf.max_inflight > MAX_INFLIGHT_CAP) {
        o->conf.max_inflight = 4;
    }
    o->report = report;
    o->ctx = ctx;
    o->rng = drift_wall_ms() | 1;
    o->multi = curl_multi_init();
    if (o->multi == NULL) {
        free(o);
        return drift_seterr(err, errlen, DRIFT_EFAULT, "curl_multi_init failed");
    }
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
    uv_timer_init(loop, &o->curl_timer);
    uv_timer_init(loop, &o->pick_timer);
    uv_timer_init(loop, &o->drain_timer);
    o->curl_timer.data = o->pick_timer.data = o->drain_timer.data = o;
    o->handles_open = 3;
    uv_timer_start(&o->pick_timer, on_pick_timer, 0, 0);
    *out = o;
    return 0;
}

void drift_outbox_kick(struct drift_outbox *o)
{
    if (!o->closing) {
        uv_timer_start(&o->pick_timer, on_pick_timer, 0, 0);
    }
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
    struct drift_outbox *o = h->data;
    if (--o->handles_open == 0) {
        check_done(o);
    }
}

/* Called whenever something closes; finishes once every handle is closed. */
static void check_done(struct drift_outbox *o)
{
    if (!o->closing) {
        return;
    }
    if (o->ninflight > 0) {
        return; /* the drain deadline or the last completion brings us back */
    }
    if (o->handles_open == 3 && !uv_is_closing((uv_handle_t *)&o->pick_timer)) {
        uv_timer_stop(&o->drain_timer);
        uv_close((uv_handle_t *)&o->curl_timer, on_timer_closed);
        uv_close((uv_handle_t *)&o->pick_timer, on_timer_closed);
        uv_close((uv_handle_t *)&o->drain_timer, on_timer_closed);
        return;
    }
    if (o->handles_open == 0) {
        curl_multi_cleanup(o->multi);
        void (*cb)(void *) = o->done_cb;
        void *ctx = o->done_ctx;
        free(o);
        if (cb) {
            cb(ctx);
        }
    }
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct drift_outbox *o = t->data;
    /* Abort what is still running; those rows stay pending in the store. */
    while (o->ninflight > 0) {
        struct delivery *dv = o->inflight[o->ninflight - 1];
        DRIFT_WARN("delivery aborted at shutdown; it stays pending", "outbox_id=%lld",
                   (long long)dv->row.id);
        o->ninflight--;
        delivery_free(o, dv);
    }
    check_done(o);
}

void drift_outbox_close(struct drift_outbox *o, int drain_ms, void (*done_cb)(void *ctx),
                        void *ctx)
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
