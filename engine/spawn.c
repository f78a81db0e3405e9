/*
 * One program run for the exec action, on the loop.
 *
 * Five handles: the process, its stdin, stdout and stderr pipes, and one timer (time limit,
 * then the SIGKILL grace, then a short linger after exit for output still in the pipes). The
 * program leads its own process group (UV_PROCESS_DETACHED), so the time limit reaches whatever
 * it started too (kill(-pid)). The run is finished once the program has exited and both output
 * pipes have reached EOF, or the linger ran out (a grandchild may hold them open); then every
 * handle is closed, and the last close callback reports and frees.
 *
 * The input is written once and stdin closed after it; a program that exits without reading it
 * makes the write fail with EPIPE, which is not an error of the run (driftd ignores SIGPIPE).
 *
 * The program does not inherit driftd's environment: that holds the control endpoint's token
 * and every webhook credential (the *_env settings name variables of driftd's own environment),
 * and a retraining script, or anything it starts, has no business with them. It gets an
 * allow-list of what programs need to run at all (PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME,
 * TMPDIR), the names the config passes through explicitly (exec.env), and the variables the
 * action sets (DRIFTD_*).
 */
#include "spawn.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define TAIL_BYTES 512
#define KILL_GRACE_MS 2000
#define LINGER_MS 250
#define SPAWN_HANDLES 5

extern char **environ;

struct drift_spawn {
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    uv_write_t wr;
    char *input;
    char **envp;
    char tail[TAIL_BYTES + 1];
    size_t tlen;
    int open;           /* handles not yet closed */
    int exited, eofs;   /* eofs: output pipes at EOF (2 = both) */
    int finished, aborted, term_sent;
    struct drift_spawn_result res;
    drift_spawn_done_fn done;
    void *ctx;
};

static void on_closed(uv_handle_t *h)
{
    struct drift_spawn *s = h->data;
    if (--s->open > 0) {
        return;
    }
    if (!s->aborted && s->done != NULL) {
        /* one line: control characters become spaces, and the ends are trimmed */
        char *t = s->tail;
        t[s->tlen] = '\0';
        for (char *p = t; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                *p = ' ';
            }
        }
        while (*t == ' ') {
            t++;
        }
        size_t n = strlen(t);
        while (n > 0 && t[n - 1] == ' ') {
            t[--n] = '\0';
        }
        s->res.output = t;
        s->done(s->ctx, &s->res);
    }
    free(s->input);
    for (char **e = s->envp; e != NULL && *e != NULL; e++) {
        free(*e);
    }
    free(s->envp);
    free(s);
}

static void close_one(struct drift_spawn *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        uv_close(h, on_closed);
    }
}

static void finish(struct drift_spawn *s)
{
    if (s->finished) {
        return;
    }
    s->finished = 1;
    close_one(s, (uv_handle_t *)&s->timer);
    close_one(s, (uv_handle_t *)&s->in);
    close_one(s, (uv_handle_t *)&s->out);
    close_one(s, (uv_handle_t *)&s->err);
    close_one(s, (uv_handle_t *)&s->proc);
}

/* Signals the program's process group; falls back to the program alone. */
static void signal_group(struct drift_spawn *s, int sig)
{
    if (s->exited) {
        return;
    }
    if (s->proc.pid <= 0 || kill(-s->proc.pid, sig) != 0) {
        uv_process_kill(&s->proc, sig);
    }
}

static void on_linger(uv_timer_t *t)
{
    finish(t->data);
}

static void on_kill(uv_timer_t *t)
{
    signal_group(t->data, SIGKILL);
}

static void on_timeout(uv_timer_t *t)
{
    struct drift_spawn *s = t->data;
    s->res.timed_out = 1;
    s->term_sent = 1;
    signal_group(s, SIGTERM);
    uv_timer_start(&s->timer, on_kill, KILL_GRACE_MS, 0);
}

static void maybe_finish(struct drift_spawn *s)
{
    if (s->exited && s->eofs >= 2) {
        finish(s);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct drift_spawn *s = p->data;
    s->exited = 1;
    s->res.exit_status = sig != 0 ? -1 : (int)status;
    s->res.term_signal = sig;
    if (s->eofs >= 2) {
        finish(s);
    } else {
        uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char scratch[4096]; /* the loop is single-threaded; data is copied out at once */
    (void)h;
    (void)hint;
    buf->base = scratch;
    buf->len = sizeof(scratch);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct drift_spawn *s = st->data;
    if (nread > 0) {
        size_t n = (size_t)nread;
        if (n >= TAIL_BYTES) {
            memcpy(s->tail, buf->base + n - TAIL_BYTES, TAIL_BYTES);
            s->tlen = TAIL_BYTES;
        } else {
            if (s->tlen + n > TAIL_BYTES) {
                size_t drop = s->tlen + n - TAIL_BYTES;
                memmove(s->tail, s->tail + drop, s->tlen - drop);
                s->tlen -= drop;
            }
            memcpy(s->tail + s->tlen, buf->base, n);
            s->tlen += n;
        }
    } else if (nread < 0) {
        uv_read_stop(st);
        s->eofs++;
        maybe_finish(s);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct drift_spawn *s = w->data;
    (void)status; /* EPIPE: the program did not read its input; its exit status decides */
    close_one(s, (uv_handle_t *)&s->in);
}

/* Variables a program may need merely to run, passed from driftd's environment. */
static const char *const allowed[] = {"PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "TMPDIR",
                                      NULL};

/* 1 when the entry "NAME=value" is named in names (NULL-terminated, may be NULL) as NAME or
 * NAME=...; prefix: also when NAME starts with one of them (for LC_). */
static int named_in(const char *entry, const char *const *names)
{
    const char *eq = strchr(entry, '=');
    size_t len = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
    for (const char *const *x = names; x != NULL && *x != NULL; x++) {
        const char *xe = strchr(*x, '=');
        size_t xl = xe != NULL ? (size_t)(xe - *x) : strlen(*x);
        if (xl == len && strncmp(entry, *x, len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when driftd passes its variable entry ("NAME=value") to programs. */
static int passed(const char *entry, const char *const *pass)
{
    return named_in(entry, allowed) || strncmp(entry, "LC_", 3) == 0 || named_in(entry, pass);
}

/* The allowed part of environ without the names env sets, then env. Returns NULL when out of
 * memory. */
static char **build_env(const char *const *env, const char *const *pass)
{
    size_t n = 0, k = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        n++;
    }
    for (const char *const *e = env; e != NULL && *e != NULL; e++) {
        k++;
    }
    char **out = calloc(n + k + 1, sizeof(*out));
    if (out == NULL) {
        return NULL;
    }
    size_t m = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (passed(*e, pass) && !named_in(*e, env) && (out[m++] = strdup(*e)) == NULL) {
            goto oom;
        }
    }
    for (const char *const *x = env; x != NULL && *x != NULL; x++) {
        if ((out[m++] = strdup(*x)) == NULL) {
            goto oom;
        }
    }
    return out;
oom:
    for (size_t i = 0; i < m; i++) {
        free(out[i]);
    }
    free(out);
    return NULL;
}

int drift_spawn_start(uv_loop_t *loop, const char *const *argv, const char *const *env,
                      const char *const *pass, const char *input, size_t inlen, int timeout_ms,
                      drift_spawn_done_fn done, void *ctx, struct drift_spawn **out)
{
    *out = NULL;
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        return UV_EINVAL;
    }
    struct drift_spawn *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return UV_ENOMEM;
    }
    s->envp = build_env(env, pass);
    s->input = malloc(inlen + 1);
    if (s->envp == NULL || s->input == NULL) {
        free(s->input);
        for (char **e = s->envp; e != NULL && *e != NULL; e++) {
            free(*e);
        }
        free(s->envp);
        free(s);
        return UV_ENOMEM;
    }
    if (inlen > 0) {
        memcpy(s->input, input, inlen);
    }
    s->done = done;
    s->ctx = ctx;
    s->res.exit_status = -1;
    uv_pipe_init(loop, &s->in, 0);
    uv_pipe_init(loop, &s->out, 0);
    uv_pipe_init(loop, &s->err, 0);
    uv_timer_init(loop, &s->timer);
    s->proc.data = s->in.data = s->out.data = s->err.data = s->timer.data = s;
    s->open = SPAWN_HANDLES;

    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&s->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->err},
    };
    uv_process_options_t po = {
        .exit_cb = on_exit_cb,
        .file = argv[0],
        .args = (char **)argv,
        .env = s->envp,
        .stdio_count = 3,
        .stdio = stdio,
        .flags = UV_PROCESS_DETACHED,
    };
    int rc = uv_spawn(loop, &s->proc, &po);
    if (rc != 0) {
        s->aborted = 1; /* the caller hears through the return code, not done */
        s->exited = 1;
        finish(s);
        return rc;
    }
    uv_read_start((uv_stream_t *)&s->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&s->err, on_alloc, on_read);
    if (inlen > 0) {
        uv_buf_t b = uv_buf_init(s->input, (unsigned)inlen);
        s->wr.data = s;
        if (uv_write(&s->wr, (uv_stream_t *)&s->in, &b, 1, on_written) != 0) {
            close_one(s, (uv_handle_t *)&s->in);
        }
    } else {
        close_one(s, (uv_handle_t *)&s->in);
    }
    if (timeout_ms > 0) {
        uv_timer_start(&s->timer, on_timeout, (uint64_t)timeout_ms, 0);
    }
    *out = s;
    return 0;
}

void drift_spawn_abort(struct drift_spawn *s)
{
    if (s == NULL || s->aborted) {
        return;
    }
    s->aborted = 1;
    if (!s->exited) {
        signal_group(s, SIGKILL); /* the exit callback then finishes and frees */
    } else {
        finish(s);
    }
}
