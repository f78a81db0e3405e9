/*
 * A small HTTP/1.1 server on the loop that receives webhooks: the demo's local receiver. It
 * accepts requests on 127.0.0.1, reads the body (Content-Length), answers with a configured
 * status, and hands each request to a callback. It can fail the first N requests with 503 to
 * show retries. Not a general web server: one request per connection is enough for libcurl.
 * A connection gets 10 s from accept to finish its exchange, and at most 64 are open at once
 * (more are closed as soon as they are accepted), so no client can hold the server.
 */
#ifndef DRIFT_RECEIVER_H
#define DRIFT_RECEIVER_H

#include <stddef.h>
#include <uv.h>

struct drift_receiver;

struct drift_request {
    const char *method;
    const char *path;
    const char *idempotency_key;  /* the Idempotency-Key header, or NULL */
    const char *authorization;    /* the Authorization header, or NULL */
    const char *body;
    size_t body_len;
    int status;  /* the status to answer: the callback may change it (it is answered after) */
    /* A response body the callback may set: malloc'd, owned by the receiver from then on (freed
     * once written), with its media type (static). NULL: an empty body. */
    char *resp_body;
    size_t resp_len;
    const char *resp_type;
};

typedef void (*drift_receiver_fn)(void *ctx, const struct drift_request *req);

/* Listens on 127.0.0.1:port (0 = any free port). fail_first requests get 503. Returns 0 and
 * *out, or a negative code with err filled. */
int drift_receiver_open(uv_loop_t *loop, int port, int fail_first, drift_receiver_fn fn,
                        void *ctx, struct drift_receiver **out, char *err, size_t errlen);
int drift_receiver_port(const struct drift_receiver *r);
/* Changes the per-connection deadline (from accept to the answer written; default 10000 ms) and
 * the cap on open connections (default 64) for connections accepted from now on; 0 keeps the
 * default. */
void drift_receiver_limits(struct drift_receiver *r, int request_ms, int max_conns);
/* Connections open now (accepted and not yet freed). */
int drift_receiver_connections(const struct drift_receiver *r);
/* Closes the listener and every connection; done_cb fires when all handles are closed. */
void drift_receiver_close(struct drift_receiver *r, void (*done_cb)(void *ctx), void *ctx);

#endif
