/*
 * Running one program on the loop for the exec action: argv as given (execvp, never a shell),
 * bytes on its stdin, an environment that keeps driftd's secrets out, a time limit, and the
 * tail of what it printed. The caller hears once, after every handle is closed.
 */
#ifndef DRIFT_SPAWN_H
#define DRIFT_SPAWN_H

#include <stddef.h>
#include <uv.h>

struct drift_spawn;

struct drift_spawn_result {
    int exit_status;    /* the exit code; -1 when killed by a signal */
    int term_signal;    /* the signal that ended it, or 0 */
    int timed_out;      /* 1 when the time limit ended it */
    const char *output; /* the last bytes of stdout and stderr, NUL-terminated, one line */
};

typedef void (*drift_spawn_done_fn)(void *ctx, const struct drift_spawn_result *r);

/* Starts argv[0] (looked up in PATH when it has no '/') with input on stdin and the time limit
 * timeout_ms: past it the program gets SIGTERM, and SIGKILL 2 s later. Its environment is not
 * driftd's (which holds secrets) but: from driftd's, PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME,
 * TMPDIR and the variables named in pass (NULL-terminated names, may be NULL); then env
 * (NAME=VALUE strings, NULL-terminated, may be NULL), which wins over both. done runs once,
 * after the program has exited and its pipes are closed. Returns 0 and *out; or a negative libuv
 * code when it cannot start (the program is not there or not executable), and then done never
 * runs and nothing needs closing by the caller. */
int drift_spawn_start(uv_loop_t *loop, const char *const *argv, const char *const *env,
                      const char *const *pass, const char *input, size_t inlen, int timeout_ms,
                      drift_spawn_done_fn done, void *ctx, struct drift_spawn **out);

/* Kills the program (SIGKILL) and lets go of it: done never runs; the handles close and free
 * themselves on the loop. */
void drift_spawn_abort(struct drift_spawn *s);

#endif
