/*
 * The Prometheus text format, written into a growing buffer. Rules (prometheus/docs
 * exposition_formats.md): HELP and TYPE once per family and before its samples, label values
 * escaped, NaN / +Inf / -Inf spelled that way, '\n' after the last line too. An allocation
 * failure marks the text incomplete (oom) rather than failing each call.
 */
#include "prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bucket upper bounds, seconds: 10 µs to 10 s, about √10 apart */
static const double hist_bounds[DRIFT_HIST_BUCKETS] = {1e-5, 3.16e-5, 1e-4, 3.16e-4, 1e-3,
                                                       3.16e-3, 1e-2, 3.16e-2, 0.1, 0.316, 1, 10};

static void put(struct drift_prom *p, const char *s, size_t n)
{
    if (p->oom) {
        return;
    }
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n + 1) {
            cap *= 2;
        }
        char *b = realloc(p->buf, cap);
        if (b == NULL) {
            p->oom = 1;
            return;
        }
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void puts_(struct drift_prom *p, const char *s)
{
    put(p, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also escape the double quote. */
static void escaped(struct drift_prom *p, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\') {
            puts_(p, "\\\\");
        } else if (*s == '\n') {
            puts_(p, "\\n");
        } else if (quote && *s == '"') {
            puts_(p, "\\\"");
        } else {
            put(p, s, 1);
        }
    }
}

static void number(struct drift_prom *p, double v)
{
    char b[40];
    if (isnan(v)) {
        snprintf(b, sizeof(b), "NaN");
    } else if (isinf(v)) {
        snprintf(b, sizeof(b), v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(b, sizeof(b), "%.0f", v);
    } else {
        snprintf(b, sizeof(b), "%.17g", v);
    }
    puts_(p, b);
}

void drift_prom_family(struct drift_prom *p, const char *name, const char *type,
                       const char *help)
{
    puts_(p, "# HELP ");
    puts_(p, name);
    puts_(p, " ");
    escaped(p, help, 0);
    puts_(p, "\n# TYPE ");
    puts_(p, name);
    puts_(p, " ");
    puts_(p, type);
    puts_(p, "\n");
}

static void sample_v(struct drift_prom *p, const char *name, double value, int nlabels,
                     va_list ap)
{
    puts_(p, name);
    for (int i = 0; i < nlabels; i++) {
        const char *k = va_arg(ap, const char *), *v = va_arg(ap, const char *);
        puts_(p, i == 0 ? "{" : ",");
        puts_(p, k);
        puts_(p, "=\"");
        escaped(p, v != NULL ? v : "", 1);
        puts_(p, "\"");
    }
    puts_(p, nlabels > 0 ? "} " : " ");
    number(p, value);
    puts_(p, "\n");
}

void drift_prom_sample(struct drift_prom *p, const char *name, double value, int nlabels, ...)
{
    va_list ap;
    va_start(ap, nlabels);
    sample_v(p, name, value, nlabels, ap);
    va_end(ap);
}

void drift_hist_observe(struct drift_hist *h, double seconds)
{
    int i = 0;
    while (i < DRIFT_HIST_BUCKETS && seconds > hist_bounds[i]) {
        i++;
    }
    h->counts[i]++;
    h->sum += seconds;
    h->count++;
}

void drift_prom_histogram(struct drift_prom *p, const char *name, const char *help,
                          const struct drift_hist *h)
{
    char series[160], le[40];
    drift_prom_family(p, name, "histogram", help);
    snprintf(series, sizeof(series), "%s_bucket", name);
    uint64_t cum = 0;
    for (int i = 0; i < DRIFT_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        snprintf(le, sizeof(le), "%g", hist_bounds[i]);
        drift_prom_sample(p, series, (double)cum, 1, "le", le);
    }
    drift_prom_sample(p, series, (double)h->count, 1, "le", "+Inf");
    snprintf(series, sizeof(series), "%s_sum", name);
    drift_prom_sample(p, series, h->sum, 0);
    snprintf(series, sizeof(series), "%s_count", name);
    drift_prom_sample(p, series, (double)h->count, 0);
}
