/*
 * Tabular CUSUM as River has it on its main branch (river.drift.CUSUM, not in a release yet:
 * river/drift/cusum.py at commit 291ccdd563bf84aa659489df6f2ea4c5bf4e35bb, over
 * river/stats/mean.py and river/stats/var.py). Written from a reading of that source; the same
 * detections at the same indices:
 *
 *  - Every value updates a running Mean (n += 1.0, mean += (1.0 / n) * (x - mean)) and a
 *    running Var with ddof = 1 (S += (x - mean_old) * (x - mean_new); var = S / (n - 1) when
 *    n > 1, else 0). Var's own mean moves exactly like the Mean, so one mean is kept.
 *  - While n < min_instances the flag is false and nothing else happens.
 *  - At n == min_instances the reference is frozen: reference = mean,
 *    sigma = max(var, 0) ** 0.5 (pow(v, 0.5), as Python computes it). They never move again
 *    until a reset.
 *  - From then on, with k = slack * sigma and limit = threshold * sigma, dev = x - reference:
 *      sum_increase = max(0, sum_increase + dev - k)
 *      sum_decrease = max(0, sum_decrease - dev - k)
 *    drift when sum_increase > limit (mode up), sum_decrease > limit (mode down) or either
 *    (mode both). No warning zone.
 *  - After a drift the flag stays set for that update; the next update first rebuilds
 *    everything (new warm-up, new reference), then adds its value.
 *  - River's checks: slack >= 0, threshold > 0, min_instances >= 1, mode up|down|both.
 *
 * A warm-up of identical values gives sigma = 0: then any deviation at all is a drift, as in
 * River. NaN and ±inf are ignored: update returns 0 and changes nothing (a pending reset waits
 * for the next finite value).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

enum { MODE_UP, MODE_DOWN, MODE_BOTH };

struct cusum_params {
    long long min_instances;
    double slack;
    double threshold;
    int mode;
};

struct drift_detector {
    struct cusum_params p;
    double n, mean, s; /* River's stats.Mean and stats.Var (ddof = 1) */
    double sum_inc, sum_dec;
    int have_ref;
    double reference, sigma;
    int drift;
};

static const struct drift_param_spec cusum_spec[] = {
    {"min_instances", DRIFT_PARAM_INT, "30", 1.0, HUGE_VAL, 0, NULL,
     offsetof(struct cusum_params, min_instances)},
    {"slack", DRIFT_PARAM_NUM, "0.5", 0.0, HUGE_VAL, 0, NULL,
     offsetof(struct cusum_params, slack)},
    {"threshold", DRIFT_PARAM_NUM, "5", 0.0, HUGE_VAL, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct cusum_params, threshold)},
    {"mode", DRIFT_PARAM_ENUM, "both", 0.0, 0.0, 0, "up|down|both",
     offsetof(struct cusum_params, mode)},
};
#define NSPEC ((int)(sizeof(cusum_spec) / sizeof(cusum_spec[0])))

static void fresh(struct drift_detector *d)
{
    d->n = d->mean = d->s = 0.0;
    d->sum_inc = d->sum_dec = 0.0;
    d->have_ref = 0;
    d->reference = d->sigma = 0.0;
    d->drift = 0;
}

static struct drift_detector *cusum_create(const struct drift_param *p, int np, char *err,
                                           size_t errlen)
{
    struct cusum_params prm;
    if (drift_params_parse("cusum", cusum_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "cusum: out of memory");
        return NULL;
    }
    d->p = prm;
    fresh(d);
    return d;
}

static void cusum_destroy(struct drift_detector *d)
{
    free(d);
}

static int cusum_update(struct drift_detector *d, double x)
{
    if (!isfinite(x)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    double old = d->mean;
    d->n += 1.0;
    d->mean += (1.0 / d->n) * (x - d->mean);
    d->s += 1.0 * (x - old) * (x - d->mean);
    if (d->n < (double)d->p.min_instances) {
        d->drift = 0;
        return 0;
    }
    if (!d->have_ref) {
        double var = d->n > 1.0 ? d->s / (d->n - 1.0) : 0.0;
        d->reference = d->mean;
        d->sigma = pow(var > 0.0 ? var : 0.0, 0.5);
        d->have_ref = 1;
    }
    double k = d->p.slack * d->sigma;
    double limit = d->p.threshold * d->sigma;
    double dev = x - d->reference;
    double si = d->sum_inc + dev - k;
    double sd = d->sum_dec - dev - k;
    d->sum_inc = si > 0.0 ? si : 0.0;
    d->sum_dec = sd > 0.0 ? sd : 0.0;
    int up = d->sum_inc > limit, down = d->sum_dec > limit;
    d->drift = d->p.mode == MODE_UP ? up : d->p.mode == MODE_DOWN ? down : (up || down);
    return d->drift ? DRIFT_DETECT_DRIFT : 0;
}

/* Saved state, native byte order:
 *   "CSM1" u32 version | i64 min_instances | f64 slack threshold | u32 mode
 *   | u32 flags (1 drift, 2 reference frozen) | f64 n mean S sum_increase sum_decrease
 *   reference sigma */
#define SAVE_MAGIC "CSM1"
#define SAVE_VERSION 1u
#define SAVE_SIZE (4 + 4 + 8 + 2 * 8 + 4 + 4 + 7 * 8)

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

static size_t cusum_save(const struct drift_detector *d, void *buf, size_t len)
{
    if (buf == NULL || len < SAVE_SIZE) {
        return SAVE_SIZE;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION, mode = (uint32_t)d->p.mode;
    uint32_t flags = (uint32_t)((d->drift ? 1 : 0) | (d->have_ref ? 2 : 0));
    int64_t mi = d->p.min_instances;
    double ref = d->have_ref ? d->reference : NAN;
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &mi, 8);
    put(&o, &d->p.slack, 8);
    put(&o, &d->p.threshold, 8);
    put(&o, &mode, 4);
    put(&o, &flags, 4);
    put(&o, &d->n, 8);
    put(&o, &d->mean, 8);
    put(&o, &d->s, 8);
    put(&o, &d->sum_inc, 8);
    put(&o, &d->sum_dec, 8);
    put(&o, &ref, 8);
    put(&o, &d->sigma, 8);
    return SAVE_SIZE;
}

static int whole(double n)
{
    return isfinite(n) && n >= 0 && n <= 9007199254740992.0 && n == floor(n);
}

/* Checks everything before touching d: magic, version, the same parameters bit for bit, a
 * whole count, finite mean and S >= 0; the reference frozen exactly when n >= min_instances
 * (then a finite reference and sigma >= 0), sums >= 0 and zero before it, and a drift flag only
 * with a reference. */
static int cusum_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, mode, flags;
    int64_t mi;
    double slack, thr, n, mean, s, si, sd, ref, sigma;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &mi, 8);
    get(&i, &slack, 8);
    get(&i, &thr, 8);
    get(&i, &mode, 4);
    get(&i, &flags, 4);
    get(&i, &n, 8);
    get(&i, &mean, 8);
    get(&i, &s, 8);
    get(&i, &si, 8);
    get(&i, &sd, 8);
    get(&i, &ref, 8);
    get(&i, &sigma, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (mi != d->p.min_instances || memcmp(&slack, &d->p.slack, 8) != 0 ||
        memcmp(&thr, &d->p.threshold, 8) != 0 || mode != (uint32_t)d->p.mode) {
        return DRIFT_ESTATE;
    }
    int drift = (flags & 1) != 0, have_ref = (flags & 2) != 0;
    if (flags > 3 || !whole(n) || !isfinite(mean) || !(s >= 0.0 && isfinite(s)) ||
        (n == 0 && (mean != 0 || s != 0))) {
        return DRIFT_ESTATE;
    }
    if (have_ref != (n >= (double)mi)) {
        return DRIFT_ESTATE;
    }
    if (have_ref) {
        if (!isfinite(ref) || !(sigma >= 0.0 && isfinite(sigma)) || !(si >= 0.0 && isfinite(si)) ||
            !(sd >= 0.0 && isfinite(sd))) {
            return DRIFT_ESTATE;
        }
    } else if (drift || !isnan(ref) || sigma != 0 || si != 0 || sd != 0) {
        return DRIFT_ESTATE;
    }
    d->n = n;
    d->mean = mean;
    d->s = s;
    d->sum_inc = si;
    d->sum_dec = sd;
    d->have_ref = have_ref;
    d->reference = have_ref ? ref : 0.0;
    d->sigma = sigma;
    d->drift = drift;
    return 0;
}

const struct drift_detector_ops drift_detector_cusum = {
    .name = "cusum",
    .description = "tabular CUSUM (River's drift.CUSUM, main branch): reference mean and std "
                   "frozen after a warm-up; drift when a cumulative deviation beyond slack "
                   "sigmas exceeds threshold sigmas (mode up, down or both)",
    .params = "min_instances=30, slack=0.5, threshold=5, mode=both",
    .create = cusum_create,
    .destroy = cusum_destroy,
    .update = cusum_update,
    .save = cusum_save,
    .load = cusum_load,
};
