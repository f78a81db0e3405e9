/*
 * Cron expressions for scheduled triggers: five fields (minute hour day-of-month month
 * day-of-week), each `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n`, or a comma list of
 * those; day-of-week 0-7 with 0 and 7 both Sunday. As in Vixie cron, when both day fields are
 * restricted a day matches if either does. Times are UTC.
 */
#include "cron.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drift_op.h"

static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
static const char *const names[5] = {"minute", "hour", "day of month", "month", "day of week"};

static int parse_field(const char *s, size_t len, int f, uint64_t *bits, char *err, size_t errlen)
{
    *bits = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != ',') {
            j++;
        }
        /* one item: s[i..j) */
        char item[32];
        if (j - i == 0 || j - i >= sizeof(item)) {
            return drift_seterr(err, errlen, DRIFT_EINVAL, "cron %s: empty or overlong item",
                                names[f]);
        }
        memcpy(item, s + i, j - i);
        item[j - i] = '\0';
        int a = lo[f], b = hi[f], step = 1;
        char *slash = strchr(item, '/'), *end;
        if (slash != NULL) {
            *slash = '\0';
            step = (int)strtol(slash + 1, &end, 10);
            if (*end != '\0' || step < 1 || slash[1] == '\0') {
                return drift_seterr(err, errlen, DRIFT_EINVAL, "cron %s: bad step '%s'",
                                    names[f], slash + 1);
            }
        }
        if (strcmp(item, "*") != 0) {
            char *dash = strchr(item, '-');
            a = (int)strtol(item, &end, 10);
            if (end == item || (dash == NULL && *end != '\0') || (dash != NULL && end != dash)) {
                return drift_seterr(err, errlen, DRIFT_EINVAL, "cron %s: '%s' is not a number",
                                    names[f], item);
            }
            b = slash != NULL && dash == NULL ? hi[f] : a;
            if (dash != NULL) {
                b = (int)strtol(dash + 1, &end, 10);
                if (end == dash + 1 || *end != '\0') {
                    return drift_seterr(err, errlen, DRIFT_EINVAL, "cron %s: bad range '%s'",
                                        names[f], item);
                }
            }
            if (a < lo[f] || b > hi[f] || a > b) {
                return drift_seterr(err, errlen, DRIFT_EINVAL,
                                    "cron %s: %d-%d is outside %d-%d", names[f], a, b, lo[f],
                                    hi[f]);
            }
        }
        for (int v = a; v <= b; v += step) {
            *bits |= 1ull << v;
        }
        i = j + 1;
    }
    if (f == 4 && (*bits & (1ull << 7))) { /* 7 is Sunday too */
        *bits = (*bits | 1ull) & ~(1ull << 7);
    }
    return 0;
}

int drift_cron_parse(const char *expr, struct drift_cron *c, char *err, size_t errlen)
{
    const char *p = expr;
    for (int f = 0; f < 5; f++) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t') {
            q++;
        }
        if (q == p) {
            return drift_seterr(err, errlen, DRIFT_EINVAL,
                                "cron needs 5 fields (minute hour day-of-month month "
                                "day-of-week), got %d in '%s'", f, expr);
        }
        int rc = parse_field(p, (size_t)(q - p), f, &c->bits[f], err, errlen);
        if (rc != 0) {
            return rc;
        }
        c->star[f] = (q - p == 1 && *p == '*');
        p = q;
    }
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p != '\0') {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "cron has more than 5 fields: '%s'", expr);
    }
    return 0;
}

static int matches(const struct drift_cron *c, const struct tm *t)
{
    if (!(c->bits[0] >> t->tm_min & 1) || !(c->bits[1] >> t->tm_hour & 1) ||
        !(c->bits[3] >> (t->tm_mon + 1) & 1)) {
        return 0;
    }
    int dom = (int)(c->bits[2] >> t->tm_mday & 1), dow = (int)(c->bits[4] >> t->tm_wday & 1);
    if (!c->star[2] && !c->star[4]) {
        return dom || dow;
    }
    return dom && dow;
}

int64_t drift_cron_next(const struct drift_cron *c, int64_t after)
{
    /* The first whole minute strictly after `after`; at most five years ahead (a day that
     * never comes, like 31 February, gives -1). */
    int64_t t = (after / 60 + 1) * 60;
    for (int64_t i = 0; i < 5LL * 366 * 24 * 60; i++, t += 60) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (matches(c, &tm)) {
            return t;
        }
    }
    return -1;
}
