/*
 * DDM (Drift Detection Method, Gama et al. 2004) as River releases it (river.drift.binary.DDM,
 * River 0.21/0.22: river/drift/binary/ddm.py over river/stats/mean.py). Written from a reading
 * of that source; the same warnings and detections at the same indices:
 *
 *  - Input: 1 = error, 0 = correct. p is River's running Mean of the inputs: n += 1.0, then
 *    p += (1.0 / n) * (x - p). s = sqrt(p * (1 - p) / n).
 *  - Only once n > warm_start: if p + s <= ps_min (ps_min starts at +inf), then p_min = p,
 *    s_min = s, ps_min = p_min + s_min. Warning = p + s > p_min + warning_threshold * s_min.
 *    Drift = p + s > p_min + drift_threshold * s_min, and a drift clears the warning.
 *    Up to warm_start values both flags stay false.
 *  - After a drift the next update first resets everything (River's _reset: a fresh Mean,
 *    p_min = s_min = ps_min = +inf, both flags false), then adds its value.
 *  - No parameter checks in River; ours: warm_start an integer >= 0, thresholds > 0.
 *
 * Values: any x in [0, 1] is used as River uses it (the number itself goes into the mean, so
 * 0.5 counts as half an error). Values outside [0, 1] and NaN/inf are ignored: update returns 0
 * and changes nothing (a pending reset waits for the next accepted value). River would put them
 * in the mean too and raise (math domain error) once p leaves [0, 1].
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct ddm_params {
    long long warm_start;
    double warning_threshold;
    double drift_threshold;
};

struct drift_detector {
    struct ddm_params p;
    double n, mean; /* River's stats.Mean */
    double p_min, s_min, ps_min;
    int warning, drift;
};

static const struct drift_param_spec ddm_spec[] = {
    {"warm_start", DRIFT_PARAM_INT, "30", 0.0, HUGE_VAL, 0, NULL,
     offsetof(struct ddm_params, warm_start)},
    {"warning_threshold", DRIFT_PARAM_NUM, "2", 0.0, HUGE_VAL, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct ddm_params, warning_threshold)},
    {"drift_threshold", DRIFT_PARAM_NUM, "3", 0.0, HUGE_VAL, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct ddm_params, drift_threshold)},
};
#define NSPEC ((int)(sizeof(ddm_spec) / sizeof(ddm_spec[0])))

static void fresh(struct drift_detector *d)
{
    d->n = 0.0;
    d->mean = 0.0;
    d->p_min = d->s_min = d->ps_min = HUGE_VAL;
    d->warning = d->drift = 0;
}

static struct drift_detector *ddm_create(const struct drift_param *p, int np, char *err,
                                         size_t errlen)
{
    struct ddm_params prm;
    if (drift_params_parse("ddm", ddm_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "ddm: out of memory");
        return NULL;
    }
    d->p = prm;
    fresh(d);
    return d;
}

static void ddm_destroy(struct drift_detector *d)
{
    free(d);
}

static int ddm_update(struct drift_detector *d, double x)
{
    if (!(x >= 0.0 && x <= 1.0)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    d->n += 1.0;
    d->mean += (1.0 / d->n) * (x - d->mean);
    double pi = d->mean;
    double si = sqrt(pi * (1.0 - pi) / d->n);
    if (d->n > (double)d->p.warm_start) {
        if (pi + si <= d->ps_min) {
            d->p_min = pi;
            d->s_min = si;
            d->ps_min = d->p_min + d->s_min;
        }
        d->warning = pi + si > d->p_min + d->p.warning_threshold * d->s_min;
        if (pi + si > d->p_min + d->p.drift_threshold * d->s_min) {
            d->drift = 1;
            d->warning = 0;
        }
    }
    return (d->warning ? DRIFT_DETECT_WARNING : 0) | (d->drift ? DRIFT_DETECT_DRIFT : 0);
}

/* Saved state, native byte order:
 *   "DDM1" u32 version | i64 warm_start | f64 warning_threshold drift_threshold
 *   | u32 flags (1 warning, 2 drift) | f64 n mean p_min s_min ps_min */
#define SAVE_MAGIC "DDM1"
#define SAVE_VERSION 1u
#define SAVE_SIZE (4 + 4 + 8 + 2 * 8 + 4 + 5 * 8)

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

static size_t ddm_save(const struct drift_detector *d, void *buf, size_t len)
{
    if (buf == NULL || len < SAVE_SIZE) {
        return SAVE_SIZE;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION;
    uint32_t flags = (uint32_t)((d->warning ? 1 : 0) | (d->drift ? 2 : 0));
    int64_t ws = d->p.warm_start;
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &ws, 8);
    put(&o, &d->p.warning_threshold, 8);
    put(&o, &d->p.drift_threshold, 8);
    put(&o, &flags, 4);
    put(&o, &d->n, 8);
    put(&o, &d->mean, 8);
    put(&o, &d->p_min, 8);
    put(&o, &d->s_min, 8);
    put(&o, &d->ps_min, 8);
    return SAVE_SIZE;
}

static int whole(double n)
{
    return isfinite(n) && n >= 0 && n <= 9007199254740992.0 && n == floor(n);
}

/* Checks everything before touching d: the same parameters, flags DDM can raise (never both),
 * a whole count, a mean in [0, 1], and minima that are either unset (+inf, nothing past the
 * warm start yet) or a point (p, s) DDM could have recorded with ps_min = p_min + s_min. */
static int ddm_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, flags;
    int64_t ws;
    double wt, dt, n, mean, p_min, s_min, ps_min;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &ws, 8);
    get(&i, &wt, 8);
    get(&i, &dt, 8);
    get(&i, &flags, 4);
    get(&i, &n, 8);
    get(&i, &mean, 8);
    get(&i, &p_min, 8);
    get(&i, &s_min, 8);
    get(&i, &ps_min, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (ws != d->p.warm_start || memcmp(&wt, &d->p.warning_threshold, 8) != 0 ||
        memcmp(&dt, &d->p.drift_threshold, 8) != 0) {
        return DRIFT_ESTATE;
    }
    if (flags > 2 || !whole(n) || !(mean >= 0.0 && mean <= 1.0) || (n == 0 && mean != 0)) {
        return DRIFT_ESTATE;
    }
    int unset =
        isinf(p_min) && p_min > 0 && isinf(s_min) && s_min > 0 && isinf(ps_min) && ps_min > 0;
    if (unset) {
        if (flags != 0 || n > (double)ws) {
            return DRIFT_ESTATE;
        }
    } else if (!(p_min >= 0.0 && p_min <= 1.0 && s_min >= 0.0 && s_min <= 0.5) ||
               ps_min != p_min + s_min || n <= (double)ws) {
        return DRIFT_ESTATE;
    }
    d->n = n;
    d->mean = mean;
    d->p_min = p_min;
    d->s_min = s_min;
    d->ps_min = ps_min;
    d->warning = (flags & 1) != 0;
    d->drift = (flags & 2) != 0;
    return 0;
}

const struct drift_detector_ops drift_detector_ddm = {
    .name = "ddm",
    .description = "DDM drift detection method (River's drift.binary.DDM): input 1 = error, "
                   "0 = correct; warning and drift when the error rate p + s rises past "
                   "p_min + k s_min",
    .params = "warm_start=30, warning_threshold=2, drift_threshold=3",
    .create = ddm_create,
    .destroy = ddm_destroy,
    .update = ddm_update,
    .save = ddm_save,
    .load = ddm_load,
};
