/*
 * HDDM_A (drift detection with Hoeffding's bounds, moving-average test; Frías-Blanco et al.
 * 2014) as River releases it (river.drift.binary.HDDMA, River 0.21/0.22:
 * river/drift/binary/hddm_a.py over river/stats/mean.py). Written from a reading of that source;
 * the same warnings and detections at the same indices:
 *
 *  - Three running means (River's Mean: n += 1.0; mean += (1.0 / n) * (x - mean)): z over
 *    everything since the last reset, and the cut points x_min and x_max, each a copy of z
 *    taken at some earlier update.
 *  - Update: z takes x; an empty x_min (x_max) becomes a copy of z. With
 *    bound(n) = sqrt(1.0 / (2 * n) * log(1.0 / drift_confidence)) (always the drift
 *    confidence): if x_min + bound(x_min.n) >= z + bound(z.n), x_min = copy of z; then if
 *    x_max - bound(x_max.n) <= z - bound(z.n), x_max = copy of z.
 *  - Increase test at confidence c: false when x_min.n == z.n; else
 *    m = (z.n - x_min.n) / x_min.n * (1.0 / z.n), eps = sqrt(m / 2 * log(2.0 / c)), true when
 *    z - x_min >= eps. Decrease test: the same with x_max and x_max - z >= eps.
 *  - Flags: increase at drift_confidence -> drift, no warning; else increase at
 *    warning_confidence -> warning, no drift; else neither. Then, only with two_sided_test:
 *    decrease at drift_confidence sets drift (the warning is left as it is), else decrease at
 *    warning_confidence sets warning; so two-sided updates can report both.
 *  - After a drift the next update first resets (three empty means, flags false).
 *  - No parameter checks in River; ours: confidences in (0, 1).
 *
 * Values: x in [0, 1] is used as River uses it (the number itself goes into the means).
 * Values outside [0, 1] and NaN/inf are ignored: update returns 0 and changes nothing (a pending
 * reset waits for the next accepted value). River would use them, outside the range its
 * Hoeffding bounds assume.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct hddm_a_params {
    double drift_confidence;
    double warning_confidence;
    int two_sided_test;
};

struct mean {
    double n, mean;
};

struct drift_detector {
    struct hddm_a_params p;
    struct mean z, x_min, x_max;
    int warning, drift;
};

static const struct drift_param_spec hddm_a_spec[] = {
    {"drift_confidence", DRIFT_PARAM_NUM, "0.001", 0.0, 1.0,
     DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct hddm_a_params, drift_confidence)},
    {"warning_confidence", DRIFT_PARAM_NUM, "0.005", 0.0, 1.0,
     DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct hddm_a_params, warning_confidence)},
    {"two_sided_test", DRIFT_PARAM_BOOL, "false", 0, 0, 0, NULL,
     offsetof(struct hddm_a_params, two_sided_test)},
};
#define NSPEC ((int)(sizeof(hddm_a_spec) / sizeof(hddm_a_spec[0])))

static void fresh(struct drift_detector *d)
{
    memset(&d->z, 0, sizeof(d->z));
    memset(&d->x_min, 0, sizeof(d->x_min));
    memset(&d->x_max, 0, sizeof(d->x_max));
    d->warning = d->drift = 0;
}

static struct drift_detector *hddm_a_create(const struct drift_param *p, int np, char *err,
                                            size_t errlen)
{
    struct hddm_a_params prm;
    if (drift_params_parse("hddm_a", hddm_a_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "hddm_a: out of memory");
        return NULL;
    }
    d->p = prm;
    fresh(d);
    return d;
}

static void hddm_a_destroy(struct drift_detector *d)
{
    free(d);
}

static double hoeffding(const struct drift_detector *d, double n)
{
    return sqrt(1.0 / (2.0 * n) * log(1.0 / d->p.drift_confidence));
}

/* Whether diff (z's mean less the cut point's, or the reverse) reaches the bound of cut point c
 * against z at confidence conf; never when c covers all of z. */
static int changed(const struct mean *z, const struct mean *c, double diff, double conf)
{
    if (c->n == z->n) {
        return 0;
    }
    double m = (z->n - c->n) / c->n * (1.0 / z->n);
    double eps = sqrt(m / 2.0 * log(2.0 / conf));
    return diff >= eps;
}

static int mean_incr(const struct drift_detector *d, double conf)
{
    return changed(&d->z, &d->x_min, d->z.mean - d->x_min.mean, conf);
}

static int mean_decr(const struct drift_detector *d, double conf)
{
    return changed(&d->z, &d->x_max, d->x_max.mean - d->z.mean, conf);
}

static int hddm_a_update(struct drift_detector *d, double x)
{
    if (!(x >= 0.0 && x <= 1.0)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    d->z.n += 1.0;
    d->z.mean += (1.0 / d->z.n) * (x - d->z.mean);
    if (d->x_min.n == 0) {
        d->x_min = d->z;
    }
    if (d->x_max.n == 0) {
        d->x_max = d->z;
    }
    double eps_z = hoeffding(d, d->z.n);
    double eps_x = hoeffding(d, d->x_min.n);
    if (d->x_min.mean + eps_x >= d->z.mean + eps_z) {
        d->x_min = d->z;
    }
    eps_x = hoeffding(d, d->x_max.n);
    if (d->x_max.mean - eps_x <= d->z.mean - eps_z) {
        d->x_max = d->z;
    }
    if (mean_incr(d, d->p.drift_confidence)) {
        d->warning = 0;
        d->drift = 1;
    } else if (mean_incr(d, d->p.warning_confidence)) {
        d->warning = 1;
        d->drift = 0;
    } else {
        d->warning = 0;
        d->drift = 0;
    }
    if (d->p.two_sided_test) {
        if (mean_decr(d, d->p.drift_confidence)) {
            d->drift = 1;
        } else if (mean_decr(d, d->p.warning_confidence)) {
            d->warning = 1;
        }
    }
    return (d->warning ? DRIFT_DETECT_WARNING : 0) | (d->drift ? DRIFT_DETECT_DRIFT : 0);
}

/* Saved state, native byte order:
 *   "HDA1" u32 version | f64 drift_confidence warning_confidence | u32 two_sided_test
 *   | u32 flags (1 warning, 2 drift) | f64 z.n z.mean x_min.n x_min.mean x_max.n x_max.mean */
#define SAVE_MAGIC "HDA1"
#define SAVE_VERSION 1u
#define SAVE_SIZE (4 + 4 + 2 * 8 + 4 + 4 + 6 * 8)

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

static size_t hddm_a_save(const struct drift_detector *d, void *buf, size_t len)
{
    if (buf == NULL || len < SAVE_SIZE) {
        return SAVE_SIZE;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION, two = (uint32_t)d->p.two_sided_test;
    uint32_t flags = (uint32_t)((d->warning ? 1 : 0) | (d->drift ? 2 : 0));
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &d->p.drift_confidence, 8);
    put(&o, &d->p.warning_confidence, 8);
    put(&o, &two, 4);
    put(&o, &flags, 4);
    const struct mean *m[3] = {&d->z, &d->x_min, &d->x_max};
    for (int k = 0; k < 3; k++) {
        put(&o, &m[k]->n, 8);
        put(&o, &m[k]->mean, 8);
    }
    return SAVE_SIZE;
}

static int whole(double n)
{
    return isfinite(n) && n >= 0 && n <= 9007199254740992.0 && n == floor(n);
}

/* Checks everything before touching d: the same parameters, whole counts with both cut points
 * no larger than z (and set once z has a value), means in [0, 1], flags only after a value, and
 * a one-sided detector never both warning and drift. */
static int hddm_a_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, two, flags;
    double dc, wc;
    struct mean m[3];
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &dc, 8);
    get(&i, &wc, 8);
    get(&i, &two, 4);
    get(&i, &flags, 4);
    for (int k = 0; k < 3; k++) {
        get(&i, &m[k].n, 8);
        get(&i, &m[k].mean, 8);
    }
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (memcmp(&dc, &d->p.drift_confidence, 8) != 0 ||
        memcmp(&wc, &d->p.warning_confidence, 8) != 0 || two != (uint32_t)d->p.two_sided_test) {
        return DRIFT_ESTATE;
    }
    if (flags > 3 || (flags == 3 && !two)) {
        return DRIFT_ESTATE;
    }
    for (int k = 0; k < 3; k++) {
        if (!whole(m[k].n) || !(m[k].mean >= 0.0 && m[k].mean <= 1.0) ||
            (m[k].n == 0 && m[k].mean != 0) || m[k].n > m[0].n) {
            return DRIFT_ESTATE;
        }
    }
    if (m[0].n == 0 ? (m[1].n != 0 || m[2].n != 0 || flags != 0) : (m[1].n == 0 || m[2].n == 0)) {
        return DRIFT_ESTATE;
    }
    d->z = m[0];
    d->x_min = m[1];
    d->x_max = m[2];
    d->warning = (flags & 1) != 0;
    d->drift = (flags & 2) != 0;
    return 0;
}

const struct drift_detector_ops drift_detector_hddm_a = {
    .name = "hddm_a",
    .description = "HDDM_A Hoeffding-bound drift detection, moving-average test (River's "
                   "drift.binary.HDDMA): input 1 = error; warning and drift when the mean "
                   "since a cut point rises (or, two-sided, also falls) past a Hoeffding bound",
    .params = "drift_confidence=0.001, warning_confidence=0.005, two_sided_test=false",
    .create = hddm_a_create,
    .destroy = hddm_a_destroy,
    .update = hddm_a_update,
    .save = hddm_a_save,
    .load = hddm_a_load,
};
