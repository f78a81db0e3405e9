/*
 * Logging: one line per event on stderr, logfmt or JSON lines.
 *
 * The level is checked before any formatting, so a disabled debug line costs one comparison.
 * Callers pass the structured part as a printf format of `key=value` pairs; in JSON mode those
 * pairs are re-emitted as JSON members (values that parse as numbers stay numbers). The rate
 * limiter serves hot paths that meet the same problem many times a second (a malformed message
 * per event): they count every occurrence and log one line per key per interval.
 *
 * Values often come from outside (a message id, an HTTP path, a receiver's error), so the logger
 * escapes every string argument itself rather than trusting each call site: a value must never
 * end its quotes, start a key of its own or break the line. The format says where a value sits.
 * Inside quotes (`detail="%s"`) `"` and `\` are escaped; a whole bare value (`path=%s`) that
 * holds a space, a quote or a control character is quoted and escaped (one that already is a
 * well-formed quoted value, as daemon.c's logfmt_quote makes, is kept); anywhere else (a
 * fragment the caller built, `%s=%llu`) only line-breaking bytes are escaped. Control bytes and
 * bytes that are not UTF-8 become \n, \r, \t or \xNN; the JSON writer reads those escapes back
 * and writes valid JSON (a byte that is not UTF-8 as the text \xNN).
 */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
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

/* ---------------------------------------------------------------------------------------------
 * Escaping
 * -------------------------------------------------------------------------------------------*/
size_t drift_utf8_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) {
        return 0;
    }
    unsigned c = u[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or past U+10FFFF */
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0; /* overlong, too large, or a UTF-16 surrogate */
    }
    return len;
}

/* A bounded line being built: pieces go in whole or not at all, and once one does not fit
 * nothing more is added, so a cut line never ends in half an escape. */
struct out {
    char *p;
    size_t len, o;
    int full;
};

static void put(struct out *w, const char *s, size_t n)
{
    if (w->full || w->o + n >= w->len) {
        w->full = 1;
        return;
    }
    memcpy(w->p + w->o, s, n);
    w->o += n;
    w->p[w->o] = '\0';
}

/* s[0..n) with control bytes and bytes that are not UTF-8 escaped (\n, \r, \t, \xNN); quoted:
 * also '"' and '\\', for the inside of a quoted value. */
static void put_escaped(struct out *w, const char *s, size_t n, int quoted)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char e[5];
        if (c < 0x20 || c == 0x7f) {
            if (c == '\n' || c == '\r' || c == '\t') {
                e[0] = '\\';
                e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                put(w, e, 2);
            } else {
                snprintf(e, sizeof(e), "\\x%02x", c);
                put(w, e, 4);
            }
            i++;
        } else if (c >= 0x80) {
            size_t k = drift_utf8_len(s + i, n - i);
            if (k == 0) {
                snprintf(e, sizeof(e), "\\x%02x", c);
                put(w, e, 4);
                k = 1;
            } else {
                put(w, s + i, k);
            }
            i += k;
        } else {
            if (quoted && (c == '"' || c == '\\')) {
                put(w, "\\", 1);
            }
            put(w, s + i, 1);
            i++;
        }
    }
}

/* 1 when s[0..n) cannot stand as a bare logfmt value: it has a space, a quote, a control byte or
 * a byte that is not UTF-8. */
static int needs_quotes(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == 0x7f) {
            return 1;
        }
        size_t k = c >= 0x80 ? drift_utf8_len(s + i, n - i) : 1;
        if (k == 0) {
            return 1;
        }
        i += k;
    }
    return 0;
}

/* 1 when s[0..n) is one quoted logfmt value: "...", with every inner '"' and '\\' escaped. */
static int is_quoted_value(const char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') {
        return 0;
    }
    size_t i = 1;
    while (i < n - 1) {
        if (s[i] == '\\') {
            if (i + 1 >= n - 1) {
                return 0; /* the backslash would escape the closing quote */
            }
            i += 2;
        } else if (s[i] == '"') {
            return 0;
        } else {
            i++;
        }
    }
    return i == n - 1;
}

/* Formats fmt (printf syntax) into buf, escaping each string argument by where the format puts
 * it (see the top of the file). Only conversions are read from ap, one va_arg each, with the
 * type their length modifier names; %n writes nothing. */
static void format_kv(char *buf, size_t len, const char *fmt, va_list ap)
{
    struct out w = {buf, len, 0, 0};
    buf[0] = '\0';
    int in_quotes = 0;
    const char *p = fmt;
    while (*p != '\0' && !w.full) {
        if (*p != '%') {
            in_quotes ^= *p == '"';
            put(&w, p, 1);
            p++;
            continue;
        }
        const char *start = p++;
        if (*p == '%') {
            put(&w, "%", 1);
            p++;
            continue;
        }
        char spec[48];
        size_t sl = 0;
        spec[sl++] = '%';
        while (*p != '\0' && strchr("-+ #0'", *p) != NULL && sl < 8) {
            spec[sl++] = *p++;
        }
        if (*p == '*') {
            sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d", va_arg(ap, int));
            p++;
        } else {
            while (isdigit((unsigned char)*p) && sl < 20) {
                spec[sl++] = *p++;
            }
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                int prec = va_arg(ap, int);
                if (prec >= 0) { /* a negative precision is taken as if omitted */
                    sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, ".%d", prec);
                }
                p++;
            } else {
                spec[sl++] = '.';
                while (isdigit((unsigned char)*p) && sl < 32) {
                    spec[sl++] = *p++;
                }
            }
        }
        char lm[3] = {0};
        if ((p[0] == 'h' && p[1] == 'h') || (p[0] == 'l' && p[1] == 'l')) {
            lm[0] = p[0], lm[1] = p[1];
        } else if (*p != '\0' && strchr("hljztL", *p) != NULL) {
            lm[0] = p[0];
        }
        for (size_t k = 0; lm[k] != '\0'; k++) {
            spec[sl++] = *p++;
        }
        char conv = *p;
        if (conv == '\0') {
            break;
        }
        p++;
        spec[sl++] = conv;
        spec[sl] = '\0';
        char tmp[1024];
        tmp[0] = '\0';
        int big = lm[0] == 'l' && lm[1] == 'l', lng = lm[0] == 'l' && !big;
        switch (conv) {
        case 'd':
        case 'i':
            if (big) {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long long));
            } else if (lng) {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long));
            } else if (lm[0] == 'j') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, intmax_t));
            } else if (lm[0] == 'z') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, ssize_t));
            } else if (lm[0] == 't') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, ptrdiff_t));
            } else {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, int)); /* hh, h promote to int */
            }
            break;
        case 'o':
        case 'u':
        case 'x':
        case 'X':
            if (big) {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned long long));
            } else if (lng) {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned long));
            } else if (lm[0] == 'j') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, uintmax_t));
            } else if (lm[0] == 'z') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, size_t));
            } else if (lm[0] == 't') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, ptrdiff_t));
            } else {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, unsigned));
            }
            break;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 'a':
        case 'A':
            if (lm[0] == 'L') {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, long double));
            } else {
                snprintf(tmp, sizeof(tmp), spec, va_arg(ap, double));
            }
            break;
        case 'c':
            snprintf(tmp, sizeof(tmp), spec, va_arg(ap, int));
            break;
        case 'p':
            snprintf(tmp, sizeof(tmp), spec, va_arg(ap, void *));
            break;
        case 'n':
            (void)va_arg(ap, void *); /* never written through */
            break;
        case 's': {
            const char *v = va_arg(ap, const char *);
            snprintf(tmp, sizeof(tmp), spec, v != NULL ? v : "(null)");
            size_t tl = strlen(tmp);
            if (in_quotes) {
                put_escaped(&w, tmp, tl, 1);
            } else if (start > fmt && start[-1] == '=' && (*p == ' ' || *p == '\0') &&
                       !is_quoted_value(tmp, tl) && needs_quotes(tmp, tl)) {
                put(&w, "\"", 1);
                put_escaped(&w, tmp, tl, 1);
                put(&w, "\"", 1);
            } else {
                put_escaped(&w, tmp, tl, 0);
            }
            continue;
        }
        default:
            put(&w, start, (size_t)(p - start)); /* not a conversion we know: shown as text */
            continue;
        }
        put_escaped(&w, tmp, strlen(tmp), 0);
    }
}

/* s[0..n) as a JSON string: control bytes as \u00XX, bytes that are not UTF-8 as the text \xNN
 * (JSON has no byte escapes, and the line must stay valid JSON). */
static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if (c >= 0x80) {
            size_t k = drift_utf8_len(s + i, n - i);
            if (k == 0) {
                fprintf(f, "\\\\x%02x", c);
                k = 1;
            } else {
                fwrite(s + i, 1, k, f);
            }
            i += k;
        } else {
            fputc(c, f);
            i++;
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

static int hexdigit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Re-emits `k=v k2="v 2"` as JSON members; a quoted value's escapes (\" \\ \n \r \t \xNN) are
 * read back first. */
static void kv_to_json(FILE *f, const char *kv)
{
    char vbuf[2048];
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
                p++;
                v = vbuf;
                while (*p && *p != '"') {
                    char c = *p++;
                    if (c == '\\' && *p) {
                        char e = *p++;
                        int hi, lo;
                        if (e == 'n' || e == 'r' || e == 't') {
                            c = e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
                        } else if (e == 'x' && (hi = hexdigit(p[0])) >= 0 &&
                                   (lo = hexdigit(p[1])) >= 0) {
                            c = (char)(hi * 16 + lo);
                            p += 2;
                        } else {
                            c = e; /* \" and \\, and any other escaped character as itself */
                        }
                    }
                    if (vlen < sizeof(vbuf)) {
                        vbuf[vlen++] = c;
                    }
                }
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
        format_kv(kv, sizeof(kv), fmt, ap);
        va_end(ap);
    }
    char ts[40];
    format_time(ts, sizeof(ts));
    if (level < 0) {
        level = 0;
    } else if (level > 3) {
        level = 3;
    }
    if (msg == NULL) {
        msg = "";
    }
    flockfile(stderr);
    if (log_json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
        json_string(stderr, msg, strlen(msg));
        kv_to_json(stderr, kv);
        fputs("}\n", stderr);
    } else {
        char mq[512];
        struct out w = {mq, sizeof(mq), 0, 0};
        mq[0] = '\0';
        put_escaped(&w, msg, strlen(msg), 1);
        fprintf(stderr, "ts=%s level=%s msg=\"%s\"%s%s\n", ts, level_names[level], mq,
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
