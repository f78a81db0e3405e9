/*
 * The demo's webhook receiver: a minimal HTTP/1.1 server on the loop. One request per
 * connection (Connection: close), Content-Length bodies only, bounded header and body sizes. It
 * answers 503 to the first fail_first requests (a simulated outage) and 200 afterwards, and hands
 * every request to the callback. It is not a general web server.
 */
#include "receiver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drift_op.h"

#define RECV_MAX_HEADER 16384
#define RECV_MAX_BODY (1 << 20)

struct conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    struct drift_receiver *r;
    char *buf;
    size_t len, cap;
    size_t header_len, body_len;
    int responded;
    char resp[128];
    struct conn *next, *prev;
};

struct drift_receiver {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int fail_first;
    int requests;
    drift_receiver_fn fn;
    void *ctx;
    struct conn *conns;
    int open_handles;
    int closing;
    void (*done_cb)(void *ctx);
    void *done_ctx;
};

static void maybe_done(struct drift_receiver *r)
{
    if (r->closing && r->open_handles == 0) {
        void (*cb)(void *) = r->done_cb;
        void *ctx = r->done_ctx;
        free(r);
        if (cb) {
            cb(ctx);
        }
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct drift_receiver *r = c->r;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        r->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    free(c->buf);
    free(c);
    r->open_handles--;
    maybe_done(r);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
}

static void on_written(uv_write_t *w, int status)
{
    conn_close(w->data);
}

static void respond(struct conn *c, int status, const char *reason)
{
    c->responded = 1;
    int n = snprintf(c->resp, sizeof(c->resp),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     reason);
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)n);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        conn_close(c);
    }
}

/* Finds header `name` in the header block; copies its value into out. */
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
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) {
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

static void try_complete(struct conn *c)
{
    if (c->responded) {
        return;
    }
    if (c->header_len == 0) {
        char *e = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (e == NULL) {
            if (c->len > RECV_MAX_HEADER) {
                respond(c, 431, "Request Header Fields Too Large");
            }
            return;
        }
        c->header_len = (size_t)(e - c->buf) + 4;
        char v[32];
        c->body_len = header_value(c->buf, c->header_len, "Content-Length", v, sizeof(v))
                          ? strtoul(v, NULL, 10)
                          : 0;
        if (c->body_len > RECV_MAX_BODY) {
            respond(c, 413, "Payload Too Large");
            return;
        }
    }
    if (c->len < c->header_len + c->body_len) {
        return;
    }
    struct drift_receiver *r = c->r;
    char method[16] = "", path[512] = "", key[512];
    sscanf(c->buf, "%15s %511s", method, path);
    int has_key = header_value(c->buf, c->header_len, "Idempotency-Key", key, sizeof(key));
    r->requests++;
    int status = r->requests <= r->fail_first ? 503 : 200;
    respond(c, status, status == 200 ? "OK" : "Service Unavailable");
    if (r->fn) {
        struct drift_request req = {method, path, has_key ? key : NULL, c->buf + c->header_len,
                                    c->body_len, status};
        r->fn(r->ctx, &req);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        char *nb = realloc(c->buf, ncap + 1);
        if (nb == NULL) {
            *b = uv_buf_init(NULL, 0);
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
        if (!c->responded) {
            conn_close(c);
        }
        return;
    }
    c->len += (size_t)n;
    if (c->len > RECV_MAX_HEADER + RECV_MAX_BODY + 1024 && !c->responded) {
        respond(c, 413, "Payload Too Large");
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
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->r = r;
    uv_tcp_init(r->loop, &c->tcp);
    c->tcp.data = c;
    r->open_handles++;
    c->next = r->conns;
    if (r->conns) {
        r->conns->prev = c;
    }
    r->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
    }
}

static void on_listener_closed(uv_handle_t *h);

int drift_receiver_open(uv_loop_t *loop, int port, int fail_first, drift_receiver_fn fn,
                        void *ctx, struct drift_receiver **out, char *err, size_t errlen)
{
    *out = NULL;
    struct drift_receiver *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    r->loop = loop;
    r->fail_first = fail_first;
    r->fn = fn;
    r->ctx = ctx;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &r->listener);
    r->listener.data = r;
    r->open_handles = 1;
    int rc = uv_tcp_bind(&r->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&r->listener, 64, on_connection);
    }
    if (rc != 0) {
        drift_seterr(err, errlen, DRIFT_EIO, "listen on 127.0.0.1:%d: %s", port, uv_strerror(rc));
        /* The struct is freed in the close callback, when the caller runs the loop. */
        r->closing = 1;
        uv_close((uv_handle_t *)&r->listener, on_listener_closed);
        return DRIFT_EIO;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&r->listener, (struct sockaddr *)&ss, &len);
    r->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = r;
    return 0;
}

int drift_receiver_port(const struct drift_receiver *r)
{
    return r->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct drift_receiver *r = h->data;
    r->open_handles--;
    maybe_done(r);
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
