/*
 * Page-Hinkley test as River releases it (river.drift.PageHinkley, River 0.21/0.22: the version
 * of river/drift/page_hinkley.py with `mode`, over river/stats/mean.py). Written from a reading
 * of that source; the same detections at the same indices:
 *
 *  - The mean is River's running Mean, updated first: n += 1.0, mean += (1.0 / n) * (x - mean);
 *    dev = x - mean (the mean that already includes x).
 *  - Two cumulative sums, faded by alpha before each step:
 *      sum_increase = alpha * sum_increase + dev - delta
 *      sum_decrease = alpha * sum_decrease + dev + delta
 *    min_increase tracks the smallest sum_increase (starts at +inf), max_decrease the largest
 *    sum_decrease (starts at -1, River's value, not -inf).
 *  - Only once n >= min_instances: test_increase = sum_increase - min_increase,
 *    test_decrease = max_decrease - sum_decrease; drift when test_increase > threshold (mode up),
 *    test_decrease > threshold (mode down) or either (mode both). Before that the flag stays as
 *    it was (false: a set flag always triggers a reset first). No warning zone.
 *  - After a drift the flag stays set for that update; the next update first rebuilds the state
 *    (a fresh mean, sums 0, min +inf, max -1, flag false), then adds its value.
 *  - River checks only mode. Ours also: min_instances an integer >= 0, delta >= 0,
 *    threshold > 0, alpha in (0, 1].
 *
 * NaN and ±inf are ignored: update returns 0 and changes nothing (a pending reset waits for the
 * next finite value). River would put them in the mean and never recover.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

enum { MODE_UP, MODE_DOWN, MODE_BOTH };

struct ph_params {
    long long min_instances;
    double delta;
    double threshold;
    double alpha;
    int mode;
};

struct drift_detector {
    struct ph_params p;
    double n, mean; /* River's stats.Mean */
    double sum_inc, sum_dec;
    double min_inc, max_dec;
    int drift;
};

static const struct drift_param_spec ph_spec[] = {
    {"min_instances", DRIFT_PARAM_INT, "30", 0.0, HUGE_VAL, 0, NULL,
     offsetof(struct ph_params, min_instances)},
    {"delta", DRIFT_PARAM_NUM, "0.005", 0.0, HUGE_VAL, 0, NULL, offsetof(struct ph_params, delta)},
    {"threshold", DRIFT_PARAM_NUM, "50", 0.0, HUGE_VAL, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct ph_params, threshold)},
    {"alpha", DRIFT_PARAM_NUM, "0.9999", 0.0, 1.0, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct ph_params, alpha)},
    {"mode", DRIFT_PARAM_ENUM, "both", 0.0, 0.0, 0, "up|down|both",
     offsetof(struct ph_params, mode)},
};
#define NSPEC ((int)(sizeof(ph_spec) / sizeof(ph_spec[0])))

static void fresh(struct drift_detector *d)
{
    d->n = 0.0;
    d->mean = 0.0;
    d->sum_inc = d->sum_dec = 0.0;
    d->min_inc = HUGE_VAL;
    d->max_dec = -1.0;
    d->drift = 0;
}

static struct drift_detector *ph_create(const struct drift_param *p, int np, char *err,
                                        size_t errlen)
{
    struct ph_params prm;
    if (drift_params_parse("page_hinkley", ph_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "page_hinkley: out of memory");
        return NULL;
    }
    d->p = prm;
    fresh(d);
    return d;
}

static void ph_destroy(struct drift_detector *d)
{
    free(d);
}

static int ph_update(struct drift_detector *d, double x)
{
    if (!isfinite(x)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    d->n += 1.0;
    d->mean += (1.0 / d->n) * (x - d->mean);
    double dev = x - d->mean;
    d->sum_inc = d->p.alpha * d->sum_inc + dev - d->p.delta;
    d->sum_dec = d->p.alpha * d->sum_dec + dev + d->p.delta;
    if (d->sum_inc < d->min_inc) {
        d->min_inc = d->sum_inc;
    }
    if (d->sum_dec > d->max_dec) {
        d->max_dec = d->sum_dec;
    }
    if (d->n >= (double)d->p.min_instances) {
        int up = d->sum_inc - d->min_inc > d->p.threshold;
        int down = d->max_dec - d->sum_dec > d->p.threshold;
        d->drift = d->p.mode == MODE_UP ? up : d->p.mode == MODE_DOWN ? down : (up || down);
    }
    return d->drift ? DRIFT_DETECT_DRIFT : 0;
}

/* Saved state, native byte order:
 *   "PHK1" u32 version | i64 min_instances | f64 delta threshold alpha | u32 mode
 *   | u32 drift | f64 n mean sum_increase sum_decrease min_increase max_decrease */
#define SAVE_MAGIC "PHK1"
#define SAVE_VERSION 1u
#define SAVE_SIZE (4 + 4 + 8 + 3 * 8 + 4 + 4 + 6 * 8)

static void put(unsigned char **o, const void *v, size_t n)
{
    memcpy(*o, v, n);
    *o += n;
}

static void get(const unsigned char **i, void *v, size_t n)
{
    memcpy(v, *i, n);
    *i += n;
}

static size_t ph_save(const struct drift_detector *d, void *buf, size_t len)
{
    if (buf == NULL || len < SAVE_SIZE) {
        return SAVE_SIZE;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION, mode = (uint32_t)d->p.mode, drift = d->drift ? 1u : 0u;
    int64_t mi = d->p.min_instances;
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &mi, 8);
    put(&o, &d->p.delta, 8);
    put(&o, &d->p.threshold, 8);
    put(&o, &d->p.alpha, 8);
    put(&o, &mode, 4);
    put(&o, &drift, 4);
    put(&o, &d->n, 8);
    put(&o, &d->mean, 8);
    put(&o, &d->sum_inc, 8);
    put(&o, &d->sum_dec, 8);
    put(&o, &d->min_inc, 8);
    put(&o, &d->max_dec, 8);
    return SAVE_SIZE;
}

static int whole(double n)
{
    return isfinite(n) && n >= 0 && n <= 9007199254740992.0 && n == floor(n);
}

/* Checks everything before touching d: magic, version, the same parameters bit for bit, a
 * whole count, the fresh state when the count is 0, otherwise finite values with
 * min_increase <= sum_increase, max_decrease >= sum_decrease and max_decrease >= -1, and a
 * drift flag only past min_instances. */
static int ph_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, mode, drift;
    int64_t mi;
    double delta, thr, alpha, n, mean, si, sd, mn, mx;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &mi, 8);
    get(&i, &delta, 8);
    get(&i, &thr, 8);
    get(&i, &alpha, 8);
    get(&i, &mode, 4);
    get(&i, &drift, 4);
    get(&i, &n, 8);
    get(&i, &mean, 8);
    get(&i, &si, 8);
    get(&i, &sd, 8);
    get(&i, &mn, 8);
    get(&i, &mx, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (mi != d->p.min_instances || memcmp(&delta, &d->p.delta, 8) != 0 ||
        memcmp(&thr, &d->p.threshold, 8) != 0 || memcmp(&alpha, &d->p.alpha, 8) != 0 ||
        mode != (uint32_t)d->p.mode) {
        return DRIFT_ESTATE;
    }
    if (drift > 1 || !whole(n)) {
        return DRIFT_ESTATE;
    }
    if (n == 0) {
        if (drift != 0 || mean != 0 || si != 0 || sd != 0 || !(isinf(mn) && mn > 0) ||
            mx != -1.0) {
            return DRIFT_ESTATE;
        }
    } else if (!isfinite(mean) || !isfinite(si) || !isfinite(sd) || !isfinite(mn) ||
               !isfinite(mx) || !(mn <= si) || !(mx >= sd) || !(mx >= -1.0) ||
               (drift && n < (double)mi)) {
        return DRIFT_ESTATE;
    }
    d->n = n;
    d->mean = mean;
    d->sum_inc = si;
    d->sum_dec = sd;
    d->min_inc = mn;
    d->max_dec = mx;
    d->drift = (int)drift;
    return 0;
}

const struct drift_detector_ops drift_detector_page_hinkley = {
    .name = "page_hinkley",
    .description = "Page-Hinkley test (River's drift.PageHinkley): faded cumulative deviations "
                   "from the running mean; drift when one strays more than threshold from its "
                   "extreme (mode up, down or both)",
    .params = "min_instances=30, delta=0.005, threshold=50, alpha=0.9999, mode=both",
    .create = ph_create,
    .destroy = ph_destroy,
    .update = ph_update,
    .save = ph_save,
    .load = ph_load,
};
