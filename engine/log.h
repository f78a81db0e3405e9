/*
 * Logging: one line per event to stderr, logfmt (`ts=... level=info msg="..." key=value`) or
 * JSON lines. The level is checked before anything is formatted. drift_log_ratelimited lets a
 * hot path log a recurring problem once per key per interval while counting all of them.
 */
#ifndef DRIFT_LOG_H
#define DRIFT_LOG_H

#include <stddef.h>
#include <stdint.h>

void drift_log_setup(int level, int json);
int drift_log_enabled(int level);
/* msg is a short human sentence; fmt is a list of `key=value` pairs in printf syntax. String
 * arguments are escaped by where the format puts them, so data from outside cannot forge a key
 * or a line: inside quotes (`detail="%s"`) '"' and '\\' are escaped; a whole bare value
 * (`path=%s`) is quoted when it needs it; elsewhere only control bytes are escaped. */
void drift_log(int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns 1 when a message for this key may be logged now (at most one per interval_ms per
 * key); *suppressed receives how many were suppressed since the last one. Keys are compared by
 * pointer-equal string or by content; at most 64 distinct keys are tracked. */
int drift_log_ratelimit(const char *key, uint64_t interval_ms, uint64_t *suppressed);

/* The length of the UTF-8 sequence at s[0..n) when it is a valid one (1 for ASCII, NUL
 * included), else 0: no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF. */
size_t drift_utf8_len(const char *s, size_t n);

/* Monotonic milliseconds. */
uint64_t drift_now_ms(void);
/* Wall clock milliseconds since the epoch. */
uint64_t drift_wall_ms(void);

#define DRIFT_ERROR(...) drift_log(0, __VA_ARGS__)
#define DRIFT_WARN(...) drift_log(1, __VA_ARGS__)
#define DRIFT_INFO(...) drift_log(2, __VA_ARGS__)
#define DRIFT_DEBUG(...) drift_log(3, __VA_ARGS__)

#endif
