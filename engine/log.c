/*
 * Logging: one line per event on stderr, logfmt or JSON lines.
 *
 * The level is checked before any formatting, so a disabled debug line costs one comparison.
 * Callers pass the structured part as a printf format of `key=value` pairs; in JSON mode those
 * pairs are re-emitted as JSON members (values that parse as numbers stay numbers). The rate
 * limiter serves hot paths that meet the same problem many times a second (a malformed message
 * per event): they count every occurrence and log one line per key per interval.
 */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_level = 2; /* info */
static int log_json = 0;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void drift_log_setup(int level, int json)
{
    log_level = level;
    log_json = json;
}

int drift_log_enabled(int level)
{
    return level <= log_level;
}

uint64_t drift_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t drift_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void format_time(char *buf, size_t len)
{
    uint64_t ms = drift_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static int looks_numeric(const char *s, size_t n)
{
    if (n == 0) {
        return 0;
    }
    char buf[64];
    if (n >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    strtod(buf, &end);
    return *end == '\0' && !isalpha((unsigned char)buf[0]);
}

/* Re-emits `k=v k2="v 2"` as JSON members. */
static void kv_to_json(FILE *f, const char *kv)
{
    const char *p = kv;
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *k = p;
        while (*p && *p != '=' && *p != ' ') {
            p++;
        }
        size_t klen = (size_t)(p - k);
        const char *v = p;
        size_t vlen = 0;
        int quoted = 0;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                quoted = 1;
                v = ++p;
                while (*p && !(*p == '"' && p[-1] != '\\')) {
                    p++;
                }
                vlen = (size_t)(p - v);
                if (*p) {
                    p++;
                }
            } else {
                v = p;
                while (*p && *p != ' ') {
                    p++;
                }
                vlen = (size_t)(p - v);
            }
        }
        fputc(',', f);
        json_string(f, k, klen);
        fputc(':', f);
        if (!quoted && looks_numeric(v, vlen)) {
            fwrite(v, 1, vlen, f);
        } else {
            json_string(f, v, vlen);
        }
    }
}

void drift_log(int level, const char *msg, const char *fmt, ...)
{
    if (level > log_level) {
        return;
    }
    char kv[2048];
    kv[0] = '\0';
    if (fmt != NULL && fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(kv, sizeof(kv), fmt, ap);
        va_end(ap);
    }
    char ts[40];
    format_time(ts, sizeof(ts));
    if (level < 0) {
        level = 0;
    } else if (level > 3) {
        level = 3;
    }
    flockfile(stderr);
    if (log_json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
        json_string(stderr, msg, strlen(msg));
        kv_to_json(stderr, kv);
        fputs("}\n", stderr);
    } else {
        fprintf(stderr, "ts=%s level=%s msg=\"%s\"%s%s\n", ts, level_names[level], msg,
                kv[0] ? " " : "", kv);
    }
    funlockfile(stderr);
}

/* ---------------------------------------------------------------------------------------------
 * Rate limiting of recurring messages
 * -------------------------------------------------------------------------------------------*/
#define RL_KEYS 64 /* distinct keys tracked; beyond that, everything is logged */

static struct {
    char key[64];
    uint64_t last_ms;
    uint64_t suppressed;
    int used;
} rl[RL_KEYS];

int drift_log_ratelimit(const char *key, uint64_t interval_ms, uint64_t *suppressed)
{
    uint64_t now = drift_now_ms();
    int slot = -1;
    for (int i = 0; i < RL_KEYS; i++) {
        if (rl[i].used && strncmp(rl[i].key, key, sizeof(rl[i].key) - 1) == 0) {
            slot = i;
            break;
        }
        if (!rl[i].used && slot < 0) {
            slot = -2 - i; /* remember the first free slot */
        }
    }
    if (slot < -1) {
        int i = -2 - slot;
        rl[i].used = 1;
        snprintf(rl[i].key, sizeof(rl[i].key), "%s", key);
        rl[i].last_ms = now;
        rl[i].suppressed = 0;
        if (suppressed) {
            *suppressed = 0;
        }
        return 1;
    }
    if (slot == -1) {
        if (suppressed) {
            *suppressed = 0;
        }
        return 1;
    }
    if (now - rl[slot].last_ms >= interval_ms) {
        if (suppressed) {
            *suppressed = rl[slot].suppressed;
        }
        rl[slot].suppressed = 0;
        rl[slot].last_ms = now;
        return 1;
    }
    rl[slot].suppressed++;
    return 0;
}
