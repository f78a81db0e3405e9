/*
 * EDDM (Early Drift Detection Method, Baena-García et al. 2006) as River releases it
 * (river.drift.binary.EDDM, River 0.21/0.22: river/drift/binary/eddm.py over
 * river/stats/var.py and mean.py). Written from a reading of that source; the same warnings and
 * detections at the same indices:
 *
 *  - Input: 1 = error. Every update counts n += 1. Only x == 1 is an error (River tests
 *    x == 1); any other accepted value is a correct prediction.
 *  - On an error: n_errors += 1, the distance n - last_error goes into River's Var (ddof 1,
 *    Welford: mean_old = mean; n += 1.0; mean += (1.0 / n) * (d - mean);
 *    S += 1.0 * (d - mean_old) * (d - mean); variance = S / (n - 1) when n > 1, else 0).
 *    Then, only if n > warm_start: p' = mean of the distances, s' = variance ** 0.5 (pow, as
 *    Python's ** does), m = p' + 2 * s'. If m > m_max (m_max starts at -1): m_max = m and
 *    nothing else. Otherwise, if n_errors > warm_start: level = m / m_max; level < beta ->
 *    drift; else level < alpha -> warning; else the warning clears. Finally last_error = n.
 *  - The warning flag is only ever changed in that last branch: it persists over correct
 *    predictions and new maxima, and a drift does NOT clear it (River sets only the drift flag),
 *    so an update can report drift and warning together.
 *  - After a drift the next update first resets everything (empty Var, n = last_error =
 *    n_errors = 0, m_max = -1, both flags false), then counts its value.
 *  - River raises "'alpha' must be greater or equal to 'beta'" when alpha < beta; so do we.
 *    River's docstring asks for alpha and beta between 0 and 1: ours are in (0, 1];
 *    warm_start is an integer >= 0.
 *
 * Values: x in [0, 1] is accepted (x == 1 an error, anything else correct, as in River).
 * Values outside [0, 1] and NaN/inf are ignored: update returns 0 and changes nothing (a pending
 * reset waits for the next accepted value); River would count them as correct predictions.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct eddm_params {
    long long warm_start;
    double alpha;
    double beta;
};

struct drift_detector {
    struct eddm_params p;
    uint64_t n, last_error, n_errors;
    double vn, vmean, vs; /* River's stats.Var of the distances: mean.n, mean, _S */
    double m_max;
    int warning, drift;
};

static const struct drift_param_spec eddm_spec[] = {
    {"warm_start", DRIFT_PARAM_INT, "30", 0.0, HUGE_VAL, 0, NULL,
     offsetof(struct eddm_params, warm_start)},
    {"alpha", DRIFT_PARAM_NUM, "0.95", 0.0, 1.0, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct eddm_params, alpha)},
    {"beta", DRIFT_PARAM_NUM, "0.9", 0.0, 1.0, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct eddm_params, beta)},
};
#define NSPEC ((int)(sizeof(eddm_spec) / sizeof(eddm_spec[0])))

static void fresh(struct drift_detector *d)
{
    d->n = d->last_error = d->n_errors = 0;
    d->vn = d->vmean = d->vs = 0.0;
    d->m_max = -1.0;
    d->warning = d->drift = 0;
}

static struct drift_detector *eddm_create(const struct drift_param *p, int np, char *err,
                                          size_t errlen)
{
    struct eddm_params prm;
    if (drift_params_parse("eddm", eddm_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    if (prm.alpha < prm.beta) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "eddm: alpha must be greater than or equal to beta, got alpha=%g, beta=%g",
                     prm.alpha, prm.beta);
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "eddm: out of memory");
        return NULL;
    }
    d->p = prm;
    fresh(d);
    return d;
}

static void eddm_destroy(struct drift_detector *d)
{
    free(d);
}

static double variance(const struct drift_detector *d)
{
    return d->vn > 1.0 ? d->vs / (d->vn - 1.0) : 0.0;
}

static int eddm_update(struct drift_detector *d, double x)
{
    if (!(x >= 0.0 && x <= 1.0)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    d->n++;
    if (x == 1.0) {
        d->n_errors++;
        double dist = (double)(d->n - d->last_error);
        double old = d->vmean;
        d->vn += 1.0;
        d->vmean += (1.0 / d->vn) * (dist - d->vmean);
        d->vs += 1.0 * (dist - old) * (dist - d->vmean);
        if (d->n > (uint64_t)d->p.warm_start) {
            double pi = d->vmean;
            double si = pow(variance(d), 0.5);
            double m = pi + 2.0 * si;
            if (m > d->m_max) {
                d->m_max = m;
            } else if (d->n_errors > (uint64_t)d->p.warm_start) {
                double level = m / d->m_max;
                if (level < d->p.beta) {
                    d->drift = 1;
                } else if (level < d->p.alpha) {
                    d->warning = 1;
                } else {
                    d->warning = 0;
                }
            }
        }
        d->last_error = d->n;
    }
    return (d->warning ? DRIFT_DETECT_WARNING : 0) | (d->drift ? DRIFT_DETECT_DRIFT : 0);
}

/* Saved state, native byte order:
 *   "EDM1" u32 version | i64 warm_start | f64 alpha beta | u32 flags (1 warning, 2 drift)
 *   | u64 n last_error n_errors | f64 var_n var_mean var_S m_max */
#define SAVE_MAGIC "EDM1"
#define SAVE_VERSION 1u
#define SAVE_SIZE (4 + 4 + 8 + 2 * 8 + 4 + 3 * 8 + 4 * 8)

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

static size_t eddm_save(const struct drift_detector *d, void *buf, size_t len)
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
    put(&o, &d->p.alpha, 8);
    put(&o, &d->p.beta, 8);
    put(&o, &flags, 4);
    put(&o, &d->n, 8);
    put(&o, &d->last_error, 8);
    put(&o, &d->n_errors, 8);
    put(&o, &d->vn, 8);
    put(&o, &d->vmean, 8);
    put(&o, &d->vs, 8);
    put(&o, &d->m_max, 8);
    return SAVE_SIZE;
}

/* Checks everything before touching d: the same parameters, counts that agree (errors <= n,
 * last error <= n, one distance per error), distances' mean within [1, n] once there is an
 * error, a finite non-negative S, and m_max either unset (-1) or a value >= 1 (a mean of
 * distances >= 1 plus twice a deviation). */
static int eddm_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, flags;
    int64_t ws;
    uint64_t n, last_error, n_errors;
    double alpha, beta, vn, vmean, vs, m_max;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &ws, 8);
    get(&i, &alpha, 8);
    get(&i, &beta, 8);
    get(&i, &flags, 4);
    get(&i, &n, 8);
    get(&i, &last_error, 8);
    get(&i, &n_errors, 8);
    get(&i, &vn, 8);
    get(&i, &vmean, 8);
    get(&i, &vs, 8);
    get(&i, &m_max, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (ws != d->p.warm_start || memcmp(&alpha, &d->p.alpha, 8) != 0 ||
        memcmp(&beta, &d->p.beta, 8) != 0) {
        return DRIFT_ESTATE;
    }
    if (flags > 3 || n_errors > n || last_error > n || n_errors > ((uint64_t)1 << 53) ||
        vn != (double)n_errors || (n_errors == 0 && last_error != 0)) {
        return DRIFT_ESTATE;
    }
    if (n_errors == 0 ? (vmean != 0 || vs != 0)
                      : !(vmean >= 1.0 && vmean <= (double)n && vs >= 0.0 && isfinite(vs))) {
        return DRIFT_ESTATE;
    }
    if (!(m_max == -1.0 || (m_max >= 1.0 && isfinite(m_max)))) {
        return DRIFT_ESTATE;
    }
    if (flags != 0 && m_max == -1.0) {
        return DRIFT_ESTATE;
    }
    d->n = n;
    d->last_error = last_error;
    d->n_errors = n_errors;
    d->vn = vn;
    d->vmean = vmean;
    d->vs = vs;
    d->m_max = m_max;
    d->warning = (flags & 1) != 0;
    d->drift = (flags & 2) != 0;
    return 0;
}

const struct drift_detector_ops drift_detector_eddm = {
    .name = "eddm",
    .description = "EDDM early drift detection method (River's drift.binary.EDDM): input 1 = "
                   "error; warning and drift when the mean distance between errors plus two "
                   "deviations falls below alpha / beta times its maximum",
    .params = "warm_start=30, alpha=0.95, beta=0.9",
    .create = eddm_create,
    .destroy = eddm_destroy,
    .update = eddm_update,
    .save = eddm_save,
    .load = eddm_load,
};
