/*
 * HDDM_W (drift detection with McDiarmid's bounds, weighted moving-average test; Frías-Blanco
 * et al. 2014) as River releases it (river.drift.binary.HDDMW, River 0.21/0.22:
 * river/drift/binary/hddm_w.py, whose EWMean is the Rust crate watermill 0.1.1). Written from a
 * reading of that source; the same warnings and detections at the same indices:
 *
 *  - A sample (River's SampleInfo) holds an EWMA e, an "independent bound condition" ibc
 *    (starts at 1) and an is_init flag. Its update: e takes x, is_init = 1,
 *    ibc = lambda^2 + (1 - lambda)**2 * ibc (lambda * lambda and pow(1 - lambda, 2), as
 *    Python computes them). The EWMA is watermill's: if e == 0 then e = x, else
 *    e = lambda * x + (1 - lambda) * e. So an EWMA that is exactly 0 (nothing but zeros so
 *    far) jumps straight to the next value.
 *  - bound(ibc, c) = sqrt(ibc * log(1 / c) / 2).
 *  - Update: total takes x. Increase side: eps = bound(total.ibc, drift_confidence); if
 *    total.e + eps < incr_cut (starts +inf): incr_cut = total.e + eps, s1_incr = copy of total,
 *    s2_incr = empty sample; else s2_incr takes x. Then, with "changed(a, b, c)" = both
 *    initialised and b.e - a.e > bound(a.ibc + b.ibc, c): changed(s1_incr, s2_incr, drift
 *    confidence) -> drift, no warning; else at the warning confidence -> warning, no drift;
 *    else neither.
 *  - Decrease side (its statistics are kept up to date whether or not two_sided_test):
 *    eps as above; if total.e - eps > decr_cut (starts -inf): decr_cut = total.e - eps,
 *    s1_decr = copy of total, s2_decr = empty; else s2_decr takes x. Only with two_sided_test:
 *    changed(s2_decr, s1_decr, drift confidence) sets drift (the warning is left as it is), else
 *    at the warning confidence sets warning; so two-sided updates can report both.
 *  - After a drift the next update first resets (all five samples empty, cut points +-inf,
 *    flags false).
 *  - No parameter checks in River (its EWMean takes a fading factor in [0, 1]); ours:
 *    confidences in (0, 1), lambda_val in (0, 1].
 *
 * Values: x in [0, 1] is used as River uses it (the number itself goes into the EWMAs).
 * Values outside [0, 1] and NaN/inf are ignored: update returns 0 and changes nothing (a pending
 * reset waits for the next accepted value). River would use them, outside the range its
 * McDiarmid bounds assume.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct hddm_w_params {
    double drift_confidence;
    double warning_confidence;
    double lambda_val;
    int two_sided_test;
};

struct sample {
    double e, ibc;
    int init;
};

struct drift_detector {
    struct hddm_w_params p;
    double lambda_sq, c_lambda_sq;
    struct sample total, s1_incr, s2_incr, s1_decr, s2_decr;
    double incr_cut, decr_cut;
    int warning, drift;
};

static const struct drift_param_spec hddm_w_spec[] = {
    {"drift_confidence", DRIFT_PARAM_NUM, "0.001", 0.0, 1.0,
     DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct hddm_w_params, drift_confidence)},
    {"warning_confidence", DRIFT_PARAM_NUM, "0.005", 0.0, 1.0,
     DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct hddm_w_params, warning_confidence)},
    {"lambda_val", DRIFT_PARAM_NUM, "0.05", 0.0, 1.0, DRIFT_PARAM_LO_OPEN, NULL,
     offsetof(struct hddm_w_params, lambda_val)},
    {"two_sided_test", DRIFT_PARAM_BOOL, "false", 0, 0, 0, NULL,
     offsetof(struct hddm_w_params, two_sided_test)},
};
#define NSPEC ((int)(sizeof(hddm_w_spec) / sizeof(hddm_w_spec[0])))

static const struct sample empty_sample = {0.0, 1.0, 0};

static void fresh(struct drift_detector *d)
{
    d->total = d->s1_incr = d->s2_incr = d->s1_decr = d->s2_decr = empty_sample;
    d->incr_cut = HUGE_VAL;
    d->decr_cut = -HUGE_VAL;
    d->warning = d->drift = 0;
}

static struct drift_detector *hddm_w_create(const struct drift_param *p, int np, char *err,
                                            size_t errlen)
{
    struct hddm_w_params prm;
    if (drift_params_parse("hddm_w", hddm_w_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "hddm_w: out of memory");
        return NULL;
    }
    d->p = prm;
    d->lambda_sq = prm.lambda_val * prm.lambda_val;
    d->c_lambda_sq = pow(1.0 - prm.lambda_val, 2.0);
    fresh(d);
    return d;
}

static void hddm_w_destroy(struct drift_detector *d)
{
    free(d);
}

static void sample_update(const struct drift_detector *d, struct sample *s, double x)
{
    double l = d->p.lambda_val;
    s->e = s->e == 0.0 ? x : l * x + (1.0 - l) * s->e;
    s->init = 1;
    s->ibc = d->lambda_sq + d->c_lambda_sq * s->ibc;
}

static double mcdiarmid(double ibc, double conf)
{
    return sqrt(ibc * log(1.0 / conf) / 2.0);
}

static int changed(const struct sample *a, const struct sample *b, double conf)
{
    if (!(a->init && b->init)) {
        return 0;
    }
    return b->e - a->e > mcdiarmid(a->ibc + b->ibc, conf);
}

static int hddm_w_update(struct drift_detector *d, double x)
{
    if (!(x >= 0.0 && x <= 1.0)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    sample_update(d, &d->total, x);

    double eps = mcdiarmid(d->total.ibc, d->p.drift_confidence);
    if (d->total.e + eps < d->incr_cut) {
        d->incr_cut = d->total.e + eps;
        d->s1_incr = d->total;
        d->s2_incr = empty_sample;
    } else {
        sample_update(d, &d->s2_incr, x);
    }
    if (changed(&d->s1_incr, &d->s2_incr, d->p.drift_confidence)) {
        d->warning = 0;
        d->drift = 1;
    } else if (changed(&d->s1_incr, &d->s2_incr, d->p.warning_confidence)) {
        d->warning = 1;
        d->drift = 0;
    } else {
        d->warning = 0;
        d->drift = 0;
    }

    eps = mcdiarmid(d->total.ibc, d->p.drift_confidence);
    if (d->total.e - eps > d->decr_cut) {
        d->decr_cut = d->total.e - eps;
        d->s1_decr = d->total;
        d->s2_decr = empty_sample;
    } else {
        sample_update(d, &d->s2_decr, x);
    }
    if (d->p.two_sided_test) {
        if (changed(&d->s2_decr, &d->s1_decr, d->p.drift_confidence)) {
            d->drift = 1;
        } else if (changed(&d->s2_decr, &d->s1_decr, d->p.warning_confidence)) {
            d->warning = 1;
        }
    }
    return (d->warning ? DRIFT_DETECT_WARNING : 0) | (d->drift ? DRIFT_DETECT_DRIFT : 0);
}

/* Saved state, native byte order:
 *   "HDW1" u32 version | f64 drift_confidence warning_confidence lambda_val
 *   | u32 two_sided_test | u32 flags (1 warning, 2 drift)
 *   | 5 x (u32 init, f64 ewma, f64 ibc): total s1_incr s2_incr s1_decr s2_decr
 *   | f64 incr_cut decr_cut */
#define SAVE_MAGIC "HDW1"
#define SAVE_VERSION 1u
#define SAMPLE_SIZE (4 + 8 + 8)
#define SAVE_SIZE (4 + 4 + 3 * 8 + 4 + 4 + 5 * SAMPLE_SIZE + 2 * 8)

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

static size_t hddm_w_save(const struct drift_detector *d, void *buf, size_t len)
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
    put(&o, &d->p.lambda_val, 8);
    put(&o, &two, 4);
    put(&o, &flags, 4);
    const struct sample *s[5] = {&d->total, &d->s1_incr, &d->s2_incr, &d->s1_decr, &d->s2_decr};
    for (int k = 0; k < 5; k++) {
        uint32_t init = (uint32_t)s[k]->init;
        put(&o, &init, 4);
        put(&o, &s[k]->e, 8);
        put(&o, &s[k]->ibc, 8);
    }
    put(&o, &d->incr_cut, 8);
    put(&o, &d->decr_cut, 8);
    return SAVE_SIZE;
}

/* Checks everything before touching d: the same parameters; samples that are either empty
 * (e 0, ibc 1) or initialised with an EWMA in [0, 1] (a hair of rounding above 1 allowed) and
 * ibc in (0, 1]; cut points that are unset (+inf / -inf) only while the total is empty and
 * finite otherwise; a one-sided detector never both warning and drift. */
static int hddm_w_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, two, flags, init[5];
    double dc, wc, lam, incr_cut, decr_cut;
    struct sample s[5];
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &dc, 8);
    get(&i, &wc, 8);
    get(&i, &lam, 8);
    get(&i, &two, 4);
    get(&i, &flags, 4);
    for (int k = 0; k < 5; k++) {
        get(&i, &init[k], 4);
        get(&i, &s[k].e, 8);
        get(&i, &s[k].ibc, 8);
    }
    get(&i, &incr_cut, 8);
    get(&i, &decr_cut, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (memcmp(&dc, &d->p.drift_confidence, 8) != 0 ||
        memcmp(&wc, &d->p.warning_confidence, 8) != 0 || memcmp(&lam, &d->p.lambda_val, 8) != 0 ||
        two != (uint32_t)d->p.two_sided_test) {
        return DRIFT_ESTATE;
    }
    if (flags > 3 || (flags == 3 && !two)) {
        return DRIFT_ESTATE;
    }
    for (int k = 0; k < 5; k++) {
        if (init[k] > 1) {
            return DRIFT_ESTATE;
        }
        s[k].init = (int)init[k];
        if (init[k] ? !(s[k].e >= 0.0 && s[k].e <= 1.0 + 1e-9 && s[k].ibc > 0.0 && s[k].ibc <= 1.0)
                    : (s[k].e != 0.0 || s[k].ibc != 1.0)) {
            return DRIFT_ESTATE;
        }
    }
    if (!s[0].init) {
        if (init[1] || init[2] || init[3] || init[4] || flags != 0 || incr_cut != HUGE_VAL ||
            decr_cut != -HUGE_VAL) {
            return DRIFT_ESTATE;
        }
    } else if (!isfinite(incr_cut) || !isfinite(decr_cut) || !s[1].init || !s[3].init) {
        return DRIFT_ESTATE;
    }
    d->total = s[0];
    d->s1_incr = s[1];
    d->s2_incr = s[2];
    d->s1_decr = s[3];
    d->s2_decr = s[4];
    d->incr_cut = incr_cut;
    d->decr_cut = decr_cut;
    d->warning = (flags & 1) != 0;
    d->drift = (flags & 2) != 0;
    return 0;
}

const struct drift_detector_ops drift_detector_hddm_w = {
    .name = "hddm_w",
    .description = "HDDM_W McDiarmid-bound drift detection, weighted moving-average test "
                   "(River's drift.binary.HDDMW): input 1 = error; warning and drift when the "
                   "EWMA since a cut point rises (or, two-sided, also falls) past the bound",
    .params = "drift_confidence=0.001, warning_confidence=0.005, lambda_val=0.05, "
              "two_sided_test=false",
    .create = hddm_w_create,
    .destroy = hddm_w_destroy,
    .update = hddm_w_update,
    .save = hddm_w_save,
    .load = hddm_w_load,
};
