/*
 * Online logistic regression trained by stochastic gradient descent, evaluated prequentially
 * (each labelled row is first predicted, its log-loss recorded, then learnt from).
 *
 * Features are standardised with the reference's mean and standard deviation, so one learning
 * rate suits features of any scale; a missing feature (NaN or ±inf, as everywhere in driftd) is
 * the mean (0 after standardising), and a row whose label is not finite is not learnt from: one
 * infinite value would otherwise turn the weights into NaN for good. The published weights are
 * mapped back to the original feature space: w_j/s_j and b − Σ w_j·c_j/s_j. Per row:
 * p = σ(w·z + b); w ← w − η((p − y)·z + λw); b ← b − η(p − y), with the dot product and the
 * update as BLAS level-1 calls on a d-length scratch row.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define LOGISTIC_MAGIC 0x474f4c44u /* "DLOG" */
#define LOGISTIC_VERSION 1u

struct drift_learner {
    int d;
    double lr, l2;
    uint64_t updates;
    double bias;
    double *w, *center, *scale, *z;
};

static void logistic_destroy(struct drift_learner *l)
{
    if (l != NULL) {
        free(l->w);
        free(l);
    }
}

static struct drift_learner *logistic_create(int d, const struct drift_learner_params *p,
                                             char *err, size_t errlen)
{
    if (d < 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner needs at least one numeric feature");
        return NULL;
    }
    double lr = p != NULL ? p->learning_rate : 0.05;
    double l2 = p != NULL ? p->l2 : 0;
    if (!(lr > 0) || !isfinite(lr)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.learning_rate must be > 0, got %g", lr);
        return NULL;
    }
    if (!(l2 >= 0) || !isfinite(l2)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.l2 must be >= 0, got %g", l2);
        return NULL;
    }
    struct drift_learner *l = calloc(1, sizeof(*l));
    double *mem = calloc((size_t)d * 4, sizeof(double));
    if (l == NULL || mem == NULL) {
        free(l);
        free(mem);
        drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        return NULL;
    }
    l->d = d;
    l->lr = lr;
    l->l2 = l2;
    l->w = mem;
    l->center = mem + d;
    l->scale = mem + 2 * (size_t)d;
    l->z = mem + 3 * (size_t)d;
    for (int j = 0; j < d; j++) {
        double c = p != NULL && p->center != NULL ? p->center[j] : 0;
        double s = p != NULL && p->scale != NULL ? p->scale[j] : 1;
        l->center[j] = isfinite(c) ? c : 0;
        l->scale[j] = isfinite(s) && s > 1e-12 ? s : 1;
    }
    return l;
}

/* Standardises row x (stride incx) into l->z; a missing value (NaN, ±inf) → 0. */
static void standardise(const struct drift_learner *l, const double *x, size_t incx)
{
    for (int j = 0; j < l->d; j++) {
        double v = x[(size_t)j * incx];
        l->z[j] = isfinite(v) ? (v - l->center[j]) / l->scale[j] : 0;
    }
}

static double sigmoid(double t)
{
    if (t >= 0) {
        return 1.0 / (1.0 + exp(-t));
    }
    double e = exp(t);
    return e / (1.0 + e);
}

static double logistic_predict(const struct drift_learner *l, const double *x, size_t incx)
{
    standardise(l, x, incx);
    return sigmoid(cblas_ddot(l->d, l->w, 1, l->z, 1) + l->bias);
}

static size_t logistic_learn(struct drift_learner *l, const double *x, size_t ld, size_t n,
                             const double *y, double *loss_sum)
{
    size_t learnt = 0;
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            continue;
        }
        double p = logistic_predict(l, x + i, ld);
        double pc = p < 1e-15 ? 1e-15 : (p > 1 - 1e-15 ? 1 - 1e-15 : p);
        loss += y[i] > 0.5 ? -log(pc) : -log(1 - pc);
        double g = p - y[i];
        if (l->l2 > 0) {
            cblas_dscal(l->d, 1.0 - l->lr * l->l2, l->w, 1);
        }
        cblas_daxpy(l->d, -l->lr * g, l->z, 1, l->w, 1);
        l->bias -= l->lr * g;
        l->updates++;
        learnt++;
    }
    if (loss_sum != NULL) {
        *loss_sum += loss;
    }
    return learnt;
}

static void logistic_weights(const struct drift_learner *l, double *w, double *bias)
{
    double b = l->bias;
    for (int j = 0; j < l->d; j++) {
        w[j] = l->w[j] / l->scale[j];
        b -= l->w[j] * l->center[j] / l->scale[j];
    }
    *bias = b;
}

static uint64_t logistic_updates(const struct drift_learner *l)
{
    return l->updates;
}

static void logistic_reset(struct drift_learner *l)
{
    memset(l->w, 0, (size_t)l->d * sizeof(double));
    l->bias = 0;
    l->updates = 0;
}

/* Layout: magic u32, version u32, d u32, pad u32, updates u64, lr, l2, bias, w[d], center[d],
 * scale[d] (doubles), host byte order. */
static size_t state_size(int d)
{
    return 16 + 8 + 8 * 3 + (size_t)d * 8 * 3;
}

static size_t logistic_save(const struct drift_learner *l, void *buf, size_t len)
{
    size_t need = state_size(l->d);
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[4] = {LOGISTIC_MAGIC, LOGISTIC_VERSION, (uint32_t)l->d, 0};
    memcpy(p, hdr, 16);
    memcpy(p + 16, &l->updates, 8);
    double sc[3] = {l->lr, l->l2, l->bias};
    memcpy(p + 24, sc, 24);
    memcpy(p + 48, l->w, (size_t)l->d * 8);
    memcpy(p + 48 + (size_t)l->d * 8, l->center, (size_t)l->d * 8);
    memcpy(p + 48 + (size_t)l->d * 16, l->scale, (size_t)l->d * 8);
    return need;
}

static int logistic_load(struct drift_learner *l, const void *buf, size_t len)
{
    if (buf == NULL || len != state_size(l->d)) {
        return DRIFT_ESTATE;
    }
    const unsigned char *p = buf;
    uint32_t hdr[4];
    memcpy(hdr, p, 16);
    if (hdr[0] != LOGISTIC_MAGIC || hdr[1] != LOGISTIC_VERSION || hdr[2] != (uint32_t)l->d) {
        return DRIFT_ESTATE;
    }
    /* Check every field before changing l, so a rejected state leaves the learner as it was and
     * an accepted one satisfies what create guarantees (finite weights, lr > 0, l2 >= 0,
     * scales > 1e-12). */
    double sc[3], v;
    memcpy(sc, p + 24, 24);
    if (!(sc[0] > 0) || !isfinite(sc[0]) || !(sc[1] >= 0) || !isfinite(sc[1]) || !isfinite(sc[2])) {
        return DRIFT_ESTATE;
    }
    const unsigned char *vec = p + 48;
    for (size_t q = 0; q < 3 * (size_t)l->d; q++) {
        memcpy(&v, vec + q * 8, 8);
        if (!isfinite(v) || (q >= 2 * (size_t)l->d && !(v > 1e-12))) {
            return DRIFT_ESTATE;
        }
    }
    memcpy(&l->updates, p + 16, 8);
    l->lr = sc[0];
    l->l2 = sc[1];
    l->bias = sc[2];
    memcpy(l->w, vec, (size_t)l->d * 8);
    memcpy(l->center, vec + (size_t)l->d * 8, (size_t)l->d * 8);
    memcpy(l->scale, vec + (size_t)l->d * 16, (size_t)l->d * 8);
    return 0;
}

const struct drift_learner_ops drift_learner_logistic = {
    .name = "logistic",
    .description = "online logistic regression, SGD on standardised features",
    .create = logistic_create,
    .destroy = logistic_destroy,
    .predict = logistic_predict,
    .learn = logistic_learn,
    .weights = logistic_weights,
    .updates = logistic_updates,
    .reset = logistic_reset,
    .save = logistic_save,
    .load = logistic_load,
};
