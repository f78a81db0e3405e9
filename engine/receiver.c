/*
 * The demo's webhook receiver: a minimal HTTP/1.1 server on the loop, listening on 127.0.0.1.
 *
 * It is built for one client, libcurl, and for showing retries, so it stays small: one request
 * per connection (every answer says Connection: close and the connection is closed after the
 * write), Content-Length bodies only, bounded header (16 KiB) and body (1 MiB) sizes so a bad
 * client cannot make it grow without bound. Reads may arrive in any pieces; the request is
 * handled once its header block and Content-Length bytes of body are in. It answers 503 to the
 * first fail_first requests (a simulated outage) and 200 afterwards, and hands every complete
 * request to the callback. Malformed requests get 4xx and are not counted or handed over.
 *
 * It also serves driftd's control endpoint, where any local process may connect, so a client
 * cannot hold it: each connection has RECV_REQUEST_MS from accept to send its whole request and
 * read the answer, after which it is closed (a slow or idle client, or one that never reads);
 * and at most RECV_MAX_CONNS are open at once, a connection beyond that being closed as soon as
 * it is accepted. With the 1 MiB body bound, that caps what clients can hold at about 64 MiB.
 *
 * Ownership: each connection is malloc'd and freed once both its handles (socket and deadline
 * timer) are closed; the receiver itself is freed in the last close callback, after which
 * done_cb runs.
 */
#include "receiver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drift_op.h"
#include "log.h"

#define RECV_MAX_HEADER 16384   /* request line + headers + blank line */
#define RECV_MAX_BODY (1 << 20) /* Content-Length limit */
#define RECV_BACKLOG 64
#define RECV_READ_CHUNK 16384 /* free space offered to each read */
#define RECV_REQUEST_MS 10000 /* from accept to the answer written: a whole request's time */
#define RECV_MAX_CONNS 64     /* open connections; more are closed at once */
#define RECV_LOG_MS 10000     /* at most one warning per kind per this interval */

struct conn {
    uv_tcp_t tcp;
    uv_timer_t deadline; /* closes the connection RECV_REQUEST_MS after accept */
    int open;            /* handles not yet closed (2 while it lives) */
    uv_write_t wr;
    struct drift_receiver *r;
    char *buf;         /* everything read so far, NUL-terminated */
    size_t len, cap;   /* cap excludes the byte kept for the NUL */
    size_t header_len; /* 0 until the blank line is seen */
    size_t body_len;   /* Content-Length */
    int responded;
    char resp[256];
    char *body; /* a response body being written (freed with the connection) */
    struct conn *next, *prev;
};

struct drift_receiver {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int fail_first;
    int requests; /* complete requests answered so far */
    drift_receiver_fn fn;
    void *ctx;
    struct conn *conns;
    int nconns;        /* connections not yet freed */
    int request_ms;    /* each connection's deadline */
    int max_conns;
    int open_handles; /* listener, connections and refused sockets not yet closed */
    int closing;
    void (*done_cb)(void *ctx);
    void *done_ctx;
};

/* ---------------------------------------------------------------------------------------------
 * Lifetimes
 * -------------------------------------------------------------------------------------------*/
static void handle_closed(struct drift_receiver *r)
{
    if (--r->open_handles == 0 && r->closing) {
        void (*cb)(void *) = r->done_cb;
        void *ctx = r->done_ctx;
        free(r);
        if (cb != NULL) {
            cb(ctx);
        }
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct drift_receiver *r = c->r;
    if (--c->open > 0) {
        return;
    }
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        r->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c->buf);
    free(c->body);
    free(c);
    r->nconns--;
    handle_closed(r);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        uv_close((uv_handle_t *)&c->deadline, on_conn_closed);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct conn *c = t->data;
    uint64_t suppressed;
    if (drift_log_ratelimit("receiver_deadline", RECV_LOG_MS, &suppressed)) {
        DRIFT_WARN("HTTP connection closed: no complete exchange in time", "port=%d "
                   "limit_ms=%d answered=%d suppressed_since_last=%llu", c->r->port,
                   c->r->request_ms, c->responded, (unsigned long long)suppressed);
    }
    conn_close(c); /* a write in progress is cancelled; on_written sees UV_ECANCELED */
}

static void on_refused_closed(uv_handle_t *h)
{
    struct drift_receiver *r = h->data;
    free(h);
    handle_closed(r);
}

/* Accepts the pending connection only to close it: at the connection cap. Without the accept
 * libuv would stop watching the listener until one happened. */
static void refuse(struct drift_receiver *r, uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL || uv_tcp_init(r->loop, t) != 0) {
        free(t);
        return;
    }
    t->data = r;
    r->open_handles++;
    uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
    uint64_t suppressed;
    if (drift_log_ratelimit("receiver_conn_cap", RECV_LOG_MS, &suppressed)) {
        DRIFT_WARN("HTTP connection refused: too many open connections", "port=%d max=%d "
                   "suppressed_since_last=%llu", r->port, r->max_conns,
                   (unsigned long long)suppressed);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

/* ---------------------------------------------------------------------------------------------
 * Requests
 * -------------------------------------------------------------------------------------------*/
static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    free(c->body);
    c->body = NULL;
    conn_close(c);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 400:
        return "Bad Request";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* Answers once (body: malloc'd or NULL, now ours), stops reading, and closes the connection
 * when the write is done. */
static void respond(struct conn *c, int status, char *body, size_t len, const char *type)
{
    c->responded = 1;
    c->body = body;
    uv_read_stop((uv_stream_t *)&c->tcp);
    int n = snprintf(c->resp, sizeof(c->resp),
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s%sConnection: close\r\n\r\n",
                     status, reason(status), body ? len : 0, body ? "Content-Type: " : "",
                     body && type ? type : "", body ? "\r\n" : "");
    uv_buf_t b[2] = {uv_buf_init(c->resp, (unsigned)n), uv_buf_init(body, (unsigned)len)};
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, b, body ? 2 : 1, on_written) != 0) {
        free(c->body);
        c->body = NULL;
        conn_close(c);
    }
}

/* Finds header `name` (case-insensitive) among the header lines hdr[0..len), which start after
 * the request line. Copies its value, trimmed, into out (truncated to outlen - 1). Returns 1 if
 * found, 0 if not. */
static int header_value(const char *hdr, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = hdr, *end = hdr + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            size_t vl = (size_t)(ve - v) < outlen - 1 ? (size_t)(ve - v) : outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* Parses "METHOD SP PATH SP HTTP/1.x" from the first line. Returns 0 or -1. */
static int parse_request_line(const char *buf, size_t len, char *method, size_t mlen, char *path,
                              size_t plen, size_t *line_len)
{
    const char *eol = memchr(buf, '\n', len);
    if (eol == NULL) {
        return -1;
    }
    *line_len = (size_t)(eol - buf) + 1;
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == buf || sp2 == sp1 + 1) {
        return -1;
    }
    size_t ml = (size_t)(sp1 - buf), pl = (size_t)(sp2 - sp1 - 1);
    if (ml >= mlen || pl >= plen || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        return -1;
    }
    for (size_t i = 0; i < ml; i++) {
        if (!isupper((unsigned char)buf[i])) {
            return -1;
        }
    }
    memcpy(method, buf, ml);
    method[ml] = '\0';
    memcpy(path, sp1 + 1, pl);
    path[pl] = '\0';
    return 0;
}

/* Parses a Content-Length value: decimal digits only. Returns 0 or -1. */
static int parse_length(const char *v, size_t *out)
{
    if (*v == '\0') {
        return -1;
    }
    size_t n = 0;
    for (; *v; v++) {
        if (!isdigit((unsigned char)*v)) {
            return -1;
        }
        if (n > RECV_MAX_BODY) {
            n = RECV_MAX_BODY + 1; /* saturate: too large is all that matters */
            continue;
        }
        n = n * 10 + (size_t)(*v - '0');
    }
    *out = n;
    return 0;
}

/* Looks at what has arrived; answers and hands over the request once it is complete. */
static void try_complete(struct conn *c)
{
    if (c->responded) {
        return;
    }
    if (c->header_len == 0) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e == NULL) {
            if (c->len > RECV_MAX_HEADER) {
                respond(c, 413, NULL, 0, NULL);
            }
            return;
        }
        c->header_len = (size_t)(e - c->buf) + 4;
        if (c->header_len > RECV_MAX_HEADER) {
            respond(c, 413, NULL, 0, NULL);
            return;
        }
        char v[32];
        if (header_value(c->buf, c->header_len, "Transfer-Encoding", v, sizeof(v))) {
            /* chunked bodies are not supported: ask for a Content-Length */
            respond(c, 411, NULL, 0, NULL);
            return;
        }
        c->body_len = 0;
        if (header_value(c->buf, c->header_len, "Content-Length", v, sizeof(v)) &&
            parse_length(v, &c->body_len) != 0) {
            respond(c, 400, NULL, 0, NULL);
            return;
        }
        if (c->body_len > RECV_MAX_BODY) {
            respond(c, 413, NULL, 0, NULL);
            return;
        }
    }
    if (c->len < c->header_len + c->body_len) {
        return;
    }
    char method[16], path[1024], key[512];
    size_t line_len;
    if (parse_request_line(c->buf, c->header_len, method, sizeof(method), path, sizeof(path),
                           &line_len) != 0) {
        respond(c, 400, NULL, 0, NULL);
        return;
    }
    const char *hdr = c->buf + line_len;
    size_t hdr_len = c->header_len - line_len;
    int has_key = header_value(hdr, hdr_len, "Idempotency-Key", key, sizeof(key));
    char auth[512];
    int has_auth = header_value(hdr, hdr_len, "Authorization", auth, sizeof(auth));
    struct drift_receiver *r = c->r;
    r->requests++;
    int status = r->requests <= r->fail_first ? 503 : 200;
    /* The body is NUL-terminated in place (the buffer keeps a spare byte), which is convenient
     * for callers that treat it as a string; bytes past Content-Length are ignored. */
    c->buf[c->header_len + c->body_len] = '\0';
    if (r->fn != NULL) {
        struct drift_request req = {
            .method = method,
            .path = path,
            .idempotency_key = has_key ? key : NULL,
            .authorization = has_auth ? auth : NULL,
            .body = c->buf + c->header_len,
            .body_len = c->body_len,
            .status = status,
        };
        r->fn(r->ctx, &req);
        respond(c, req.status, req.resp_body, req.resp_len, req.resp_type);
        return;
    }
    respond(c, status, NULL, 0, NULL);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    if (c->cap - c->len < RECV_READ_CHUNK) {
        size_t ncap = c->cap ? c->cap * 2 : 2 * RECV_READ_CHUNK;
        char *nb = realloc(c->buf, ncap + 1);
        if (nb == NULL) {
            *b = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
            return;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (n < 0) {
        /* EOF or error before a complete request: nothing to answer. */
        if (!c->responded) {
            conn_close(c);
        }
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (!c->responded && c->len > RECV_MAX_HEADER + RECV_MAX_BODY) {
        respond(c, 413, NULL, 0, NULL);
        return;
    }
    try_complete(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct drift_receiver *r = server->data;
    if (status < 0 || r->closing) {
        return;
    }
    if (r->nconns >= r->max_conns) {
        refuse(r, server);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->r = r;
    if (uv_tcp_init(r->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    uv_timer_init(r->loop, &c->deadline);
    c->tcp.data = c;
    c->deadline.data = c;
    c->open = 2;
    r->nconns++;
    r->open_handles++;
    c->next = r->conns;
    if (r->conns != NULL) {
        r->conns->prev = c;
    }
    r->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->deadline, on_deadline, (uint64_t)r->request_ms, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Opening and closing
 * -------------------------------------------------------------------------------------------*/

/* On failure after the listener handle exists, the handle is closed and the receiver freed in
 * its close callback: the caller's next uv_run finishes the cleanup (done_cb is not involved). */
int drift_receiver_open(uv_loop_t *loop, int port, int fail_first, drift_receiver_fn fn, void *ctx,
                        struct drift_receiver **out, char *err, size_t errlen)
{
    *out = NULL;
    if (loop == NULL || port < 0 || port > 65535) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "receiver port must be 0..65535, got %d",
                            port);
    }
    struct drift_receiver *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    r->loop = loop;
    r->request_ms = RECV_REQUEST_MS;
    r->max_conns = RECV_MAX_CONNS;
    r->fail_first = fail_first;
    r->fn = fn;
    r->ctx = ctx;
    struct sockaddr_in addr;
    int rc = uv_ip4_addr("127.0.0.1", port, &addr);
    if (rc == 0) {
        rc = uv_tcp_init(loop, &r->listener);
    }
    if (rc != 0) {
        free(r); /* no handle exists yet */
        return drift_seterr(err, errlen, DRIFT_EIO, "receiver: %s", uv_strerror(rc));
    }
    r->listener.data = r;
    r->open_handles = 1;
    rc = uv_tcp_bind(&r->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&r->listener, RECV_BACKLOG, on_connection);
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (rc == 0) {
        rc = uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &len);
    }
    if (rc != 0) {
        drift_seterr(err, errlen, DRIFT_EIO, "listen on 127.0.0.1:%d: %s", port, uv_strerror(rc));
        r->closing = 1;
        uv_close((uv_handle_t *)&r->listener, on_listener_closed);
        return DRIFT_EIO;
    }
    r->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = r;
    return 0;
}

int drift_receiver_port(const struct drift_receiver *r)
{
    return r->port;
}

void drift_receiver_limits(struct drift_receiver *r, int request_ms, int max_conns)
{
    r->request_ms = request_ms > 0 ? request_ms : RECV_REQUEST_MS;
    r->max_conns = max_conns > 0 ? max_conns : RECV_MAX_CONNS;
}

int drift_receiver_connections(const struct drift_receiver *r)
{
    return r->nconns;
}

void drift_receiver_close(struct drift_receiver *r, void (*done_cb)(void *ctx), void *ctx)
{
    if (r == NULL || r->closing) {
        return;
    }
    r->closing = 1;
    r->done_cb = done_cb;
    r->done_ctx = ctx;
    for (struct conn *c = r->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&r->listener, on_listener_closed);
}
