/*
 * Cron expressions (five fields, UTC) for scheduled triggers.
 */
#ifndef DRIFT_CRON_H
#define DRIFT_CRON_H

#include <stddef.h>
#include <stdint.h>

struct drift_cron {
    uint64_t bits[5]; /* allowed values of minute, hour, day of month, month, day of week */
    int star[5];      /* the field was `*` (matters for the day-of-month/day-of-week rule) */
};

/* Parses expr into c; DRIFT_EINVAL with err naming the field and the problem. */
int drift_cron_parse(const char *expr, struct drift_cron *c, char *err, size_t errlen);
/* The first matching minute (epoch seconds) strictly after `after`, or -1 if none within five
 * years. */
int64_t drift_cron_next(const struct drift_cron *c, int64_t after);

#endif
