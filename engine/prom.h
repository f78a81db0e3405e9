/*
 * Writing the Prometheus text exposition format (version 0.0.4): one HELP and one TYPE line per
 * family before its samples, label values escaped (\\, \", \n), NaN and ±Inf spelled as
 * Prometheus reads them, '\n' after every line; histograms as cumulative _bucket{le} series
 * ending at +Inf, then _sum and _count. The caller keeps each family's samples together.
 */
#ifndef DRIFT_PROM_H
#define DRIFT_PROM_H

#include <stddef.h>
#include <stdint.h>

struct drift_prom {
    char *buf;    /* malloc'd text, NUL-terminated */
    size_t len, cap;
    int oom;      /* an allocation failed: the text is incomplete */
};

/* A family header: # HELP and # TYPE (type: counter, gauge, histogram). */
void drift_prom_family(struct drift_prom *p, const char *name, const char *type,
                       const char *help);
/* One sample with nlabels (name, value) pairs given as const char * arguments. */
void drift_prom_sample(struct drift_prom *p, const char *name, double value, int nlabels, ...);

#define DRIFT_HIST_BUCKETS 12
/* A histogram of seconds with fixed bounds (1e-5 s to 10 s, about ×3.16 apart). */
struct drift_hist {
    uint64_t counts[DRIFT_HIST_BUCKETS + 1]; /* per bucket (not cumulative); last = above */
    double sum;
    uint64_t count;
};
void drift_hist_observe(struct drift_hist *h, double seconds);
/* The family and its series: cumulative buckets, _sum and _count. */
void drift_prom_histogram(struct drift_prom *p, const char *name, const char *help,
                          const struct drift_hist *h);

#endif
