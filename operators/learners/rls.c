/*
 * Recursive least squares for the linear task, evaluated prequentially (each labelled row is
 * first predicted, its squared error recorded, then learnt from).
 *
 * RLS is the exact online solution of (exponentially weighted) ridge regression: after n rows
 * with forgetting λ it holds the minimiser of Σ λ^(n−i)(y_i − w·x_i)² + λ^n·δ·‖w‖², where x is
 * the standardised row with a 1 appended (the bias is the last weight, and is regularised like
 * the others, as P₀ = I/δ implies). It needs no learning rate and converges in about d rows
 * instead of thousands, at O(d²) per row instead of O(d): hence the bound MAX_D. Per row,
 * with the inverse-covariance-like matrix P:
 *   π = P·x; k = π/(λ + x·π); w ← w + k(y − w·x); P ← (P − k·xᵀP)/λ = (P − π·πᵀ/(λ + x·π))/λ,
 * as BLAS level 2 on P in packed upper storage (dspmv, dspr), which keeps P exactly symmetric.
 *
 * With λ < 1, P grows as λ^−n in the directions the data do not excite (a feature that is always
 * missing, or constant), until it overflows ("covariance wind-up"). Its diagonal is therefore
 * kept at most 1/δ, the prior's: a coordinate above it is scaled back, P ← D·P·D with
 * D_jj = √((1/δ)/P_jj), which keeps P positive definite. With λ = 1, P only shrinks and this
 * never acts.
 *
 * Standardisation, missing values, non-finite labels and the published weights are as in the
 * gradient learners (logistic.c): center/scale when given, else with `standardize` running
 * (Welford) estimates of the rows learnt before, else raw features; a missing feature is 0 after
 * standardising. A row whose update would leave a non-finite weight is not learnt from (it is
 * still counted, with its loss).
 *
 * Everything is per row, in row order (the statistics, the prediction, the loss added to the
 * caller's *loss_sum, the update of w and P), so the learner after rows 1..N, and a loss sum
 * carried across calls, are the same bit for bit however the rows were split into learn calls:
 * a replay from a checkpoint continues exactly. The one allocation is 64-byte aligned, so that
 * every instance hands BLAS the same alignment.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "scaler.h"

#define RLS_MAGIC 0x534c5244u /* "DRLS" */
#define RLS_VERSION 1u
#define MAX_D 512          /* (d + 1)² work per row; a larger d wants SGD, AdaGrad or FTRL */
#define DEFAULT_FORGET 1.0 /* no forgetting */
#define DEFAULT_DELTA 1.0  /* P₀ = I */
#define MEM_ALIGN 64       /* bytes; see the file comment */

struct drift_learner {
    int d;
    int online; /* running standardisation instead of center/scale */
    double forget, delta;
    uint64_t updates;
    double *w;               /* d + 1, the bias last */
    double *center, *scale;  /* d */
    double *x, *px;          /* d + 1 scratch: the augmented standardised row, P·x */
    double *cnt, *mean, *m2; /* d each: running statistics (online) */
    double *P;               /* (d + 1)(d + 2)/2, packed upper, column-major */
};

static size_t packed_size(int d)
{
    size_t n1 = (size_t)d + 1;
    return n1 * (n1 + 1) / 2;
}

/* Index of P[i][j] (i <= j) in packed upper column-major storage. */
static size_t pidx(size_t i, size_t j)
{
    return i + j * (j + 1) / 2;
}

static void rls_destroy(struct drift_learner *l)
{
    if (l != NULL) {
        free(l->w);
        free(l);
    }
}

static void init_p(struct drift_learner *l)
{
    size_t n1 = (size_t)l->d + 1;
    memset(l->P, 0, packed_size(l->d) * sizeof(double));
    for (size_t j = 0; j < n1; j++) {
        l->P[pidx(j, j)] = 1.0 / l->delta;
    }
}

static struct drift_learner *rls_create(int d, const struct drift_learner_params *p, char *err,
                                        size_t errlen)
{
    if (d < 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner needs at least one numeric feature");
        return NULL;
    }
    if (d > MAX_D) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "rls: d must be <= %d (O(d²) per row), got %d",
                     MAX_D, d);
        return NULL;
    }
    struct drift_learner_params dp = {.rls_forget = DEFAULT_FORGET};
    if (p == NULL) {
        p = &dp;
    }
    double forget = p->rls_forget;
    double delta = p->rls_delta == 0 ? DEFAULT_DELTA : p->rls_delta;
    if (p->optimizer != DRIFT_OPT_RLS && p->optimizer != DRIFT_OPT_SGD) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "rls: learner.optimizer must be rls, got %d (sgd, adagrad and ftrl are the "
                     "\"linear\" learner's)",
                     p->optimizer);
        return NULL;
    }
    if (!(forget > 0 && forget <= 1)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "rls: learner.rls_forget must be in (0, 1], got %g",
                     forget);
        return NULL;
    }
    if (!(delta > 0) || !isfinite(delta)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "rls: learner.rls_delta must be > 0, got %g",
                     delta);
        return NULL;
    }
    if (p->batch != 0 && p->batch != 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "rls: learner.batch must be 1 (RLS is exact one row at a time), got %d",
                     p->batch);
        return NULL;
    }
    if (p->standardize != 0 && p->standardize != 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "rls: learner.standardize must be 0 or 1, got %d",
                     p->standardize);
        return NULL;
    }
    size_t ud = (size_t)d, nmem = (ud + 1) + 2 * ud + 2 * (ud + 1) + 3 * ud + packed_size(d);
    size_t bytes = (nmem * sizeof(double) + MEM_ALIGN - 1) / MEM_ALIGN * MEM_ALIGN;
    struct drift_learner *l = calloc(1, sizeof(*l));
    double *mem = aligned_alloc(MEM_ALIGN, bytes);
    if (l == NULL || mem == NULL) {
        free(l);
        free(mem);
        drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        return NULL;
    }
    memset(mem, 0, bytes);
    l->d = d;
    l->online = p->center == NULL && p->scale == NULL && p->standardize;
    l->forget = forget;
    l->delta = delta;
    l->w = mem;
    l->center = l->w + ud + 1;
    l->scale = l->center + ud;
    l->x = l->scale + ud;
    l->px = l->x + ud + 1;
    l->cnt = l->px + ud + 1;
    l->mean = l->cnt + ud;
    l->m2 = l->mean + ud;
    l->P = l->m2 + ud;
    for (int j = 0; j < d; j++) {
        double c = p->center != NULL ? p->center[j] : 0;
        double s = p->scale != NULL ? p->scale[j] : 1;
        l->center[j] = isfinite(c) ? c : 0;
        l->scale[j] = isfinite(s) && s > 1e-12 ? s : 1;
    }
    init_p(l);
    return l;
}

/* The running standard deviation of feature j, or 0 when it cannot standardise. */
/* A view of the learner's standardisation for scaler.h. */
static struct scaler scaler_of(const struct drift_learner *l)
{
    return (struct scaler){l->d, l->online, l->center, l->scale, l->cnt, l->mean, l->m2};
}

static double running_sd(const struct drift_learner *l, int j)
{
    struct scaler s = scaler_of(l);
    return scaler_sd(&s, j);
}

/* Standardises row x (stride incx) into l->x[0..d-1] (missing → 0) and sets l->x[d] = 1. */
static void standardise(const struct drift_learner *l, const double *x, size_t incx)
{
    struct scaler s = scaler_of(l);
    scaler_apply(&s, x, incx, l->x);
    l->x[l->d] = 1;
}

/* Welford; missing values and values whose statistics would overflow are left out. */
static void stats_add(struct drift_learner *l, const double *x, size_t incx)
{
    struct scaler s = scaler_of(l);
    scaler_add(&s, x, incx);
}

static double rls_predict(const struct drift_learner *l, const double *x, size_t incx)
{
    standardise(l, x, incx);
    return cblas_ddot(l->d + 1, l->w, 1, l->x, 1);
}

/* Keeps diag(P) <= 1/δ (see the file comment). */
static void limit_windup(struct drift_learner *l)
{
    size_t n1 = (size_t)l->d + 1;
    double pmax = 1.0 / l->delta;
    int over = 0;
    for (size_t j = 0; j < n1; j++) {
        double pjj = l->P[pidx(j, j)];
        l->px[j] = pjj > pmax ? sqrt(pmax / pjj) : 1; /* px is free scratch here */
        over |= pjj > pmax;
    }
    if (!over) {
        return;
    }
    for (size_t j = 0; j < n1; j++) {
        for (size_t i = 0; i <= j; i++) {
            l->P[pidx(i, j)] *= l->px[i] * l->px[j];
        }
    }
}

static size_t rls_learn(struct drift_learner *l, const double *x, size_t ld, size_t n,
                        const double *y, double *loss_sum)
{
    int n1 = l->d + 1;
    size_t learnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            continue;
        }
        double yhat = rls_predict(l, x + i, ld);
        if (loss_sum != NULL) { /* row by row: the same sum however the rows are split */
            *loss_sum += (yhat - y[i]) * (yhat - y[i]);
        }
        if (l->online) {
            stats_add(l, x + i, ld);
        }
        l->updates++;
        learnt++;
        cblas_dspmv(CblasColMajor, CblasUpper, n1, 1.0, l->P, l->x, 1, 0.0, l->px, 1);
        double denom = l->forget + cblas_ddot(n1, l->x, 1, l->px, 1);
        double c = (y[i] - yhat) / denom;
        int ok = denom > 0 && isfinite(denom) && isfinite(c);
        for (int j = 0; j < n1 && ok; j++) {
            ok = isfinite(l->w[j] + c * l->px[j]);
        }
        if (!ok) {
            continue;
        }
        cblas_daxpy(n1, c, l->px, 1, l->w, 1);
        cblas_dspr(CblasColMajor, CblasUpper, n1, -1.0 / denom, l->px, 1, l->P);
        if (l->forget < 1) {
            cblas_dscal((int)packed_size(l->d), 1.0 / l->forget, l->P, 1);
            limit_windup(l);
        }
    }
    return learnt;
}

static void rls_weights(const struct drift_learner *l, double *w, double *bias)
{
    double b = l->w[l->d];
    for (int j = 0; j < l->d; j++) {
        double c = l->center[j], s = l->scale[j];
        if (l->online) {
            c = l->mean[j];
            s = running_sd(l, j);
        }
        w[j] = s > 0 ? l->w[j] / s : 0;
        b -= s > 0 ? l->w[j] * c / s : 0;
    }
    *bias = b;
}

static uint64_t rls_updates(const struct drift_learner *l)
{
    return l->updates;
}

/* Back to the state create made: weights, P and the running statistics start over. */
static void rls_reset(struct drift_learner *l)
{
    size_t ud = (size_t)l->d;
    memset(l->w, 0, (ud + 1) * sizeof(double));
    memset(l->cnt, 0, 3 * ud * sizeof(double));
    init_p(l);
    l->updates = 0;
}

/* ---------------------------------------------------------------------------------------------
 * State
 *
 * Layout (host byte order): magic u32, version u32, d u32, kind u32 (online << 8), updates u64,
 * forget, delta, w[d + 1] (the bias last), center[d], scale[d], P[(d + 1)(d + 2)/2] (packed
 * upper, column-major), and with online standardisation count[d], mean[d], m2[d]. A state loads
 * only into a learner of the same d and kind; its numbers replace the learner's.
 * -------------------------------------------------------------------------------------------*/

static size_t state_size(const struct drift_learner *l)
{
    size_t ud = (size_t)l->d;
    return 24 + 16 + ((ud + 1) + 2 * ud + packed_size(l->d) + (l->online ? 3 * ud : 0)) * 8;
}

static size_t rls_save(const struct drift_learner *l, void *buf, size_t len)
{
    size_t need = state_size(l), ud = (size_t)l->d;
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[4] = {RLS_MAGIC, RLS_VERSION, (uint32_t)l->d, (uint32_t)l->online << 8};
    double sc[2] = {l->forget, l->delta};
    memcpy(p, hdr, 16);
    memcpy(p + 16, &l->updates, 8);
    memcpy(p + 24, sc, 16);
    p += 40;
    memcpy(p, l->w, (ud + 1) * 8);
    p += (ud + 1) * 8;
    memcpy(p, l->center, ud * 8);
    memcpy(p + ud * 8, l->scale, ud * 8);
    p += 2 * ud * 8;
    memcpy(p, l->P, packed_size(l->d) * 8);
    p += packed_size(l->d) * 8;
    if (l->online) {
        memcpy(p, l->cnt, 3 * ud * 8);
    }
    return need;
}

static double get(const unsigned char *p, size_t i)
{
    double v;
    memcpy(&v, p + i * 8, 8);
    return v;
}

static int rls_load(struct drift_learner *l, const void *buf, size_t len)
{
    size_t ud = (size_t)l->d, n1 = ud + 1;
    if (buf == NULL || len != state_size(l)) {
        return DRIFT_ESTATE;
    }
    const unsigned char *p = buf;
    uint32_t hdr[4];
    memcpy(hdr, p, 16);
    if (hdr[0] != RLS_MAGIC || hdr[1] != RLS_VERSION || hdr[2] != (uint32_t)l->d ||
        hdr[3] != (uint32_t)l->online << 8) {
        return DRIFT_ESTATE;
    }
    /* Check every field before changing l, so a rejected state leaves the learner as it was and
     * an accepted one satisfies what create guarantees: λ in (0, 1], δ > 0, finite weights,
     * scales > 1e-12, a P with a positive diagonal and no 2 × 2 principal minor below 0 (up to
     * rounding: a necessary condition for positive definiteness, cheap to check), whole counts. */
    double forget = get(p, 3), delta = get(p, 4);
    if (!(forget > 0 && forget <= 1) || !(delta > 0) || !isfinite(delta)) {
        return DRIFT_ESTATE;
    }
    const unsigned char *w = p + 40, *cs = w + n1 * 8, *pm = cs + 2 * ud * 8;
    const unsigned char *st = pm + packed_size(l->d) * 8;
    for (size_t j = 0; j < n1 + 2 * ud; j++) {
        double v = get(w, j);
        if (!isfinite(v) || (j >= n1 + ud && !(v > 1e-12))) {
            return DRIFT_ESTATE;
        }
    }
    for (size_t j = 0; j < n1; j++) {
        for (size_t i = 0; i <= j; i++) {
            double v = get(pm, pidx(i, j)), pii = get(pm, pidx(i, i)), pjj = get(pm, pidx(j, j));
            /* the slack keeps a nearly singular (collinear features) but live P loadable */
            if (!isfinite(v) || !(pii > 0) || !(pjj > 0) || v * v > pii * pjj * (1 + 1e-6)) {
                return DRIFT_ESTATE;
            }
        }
    }
    if (l->online) {
        for (size_t j = 0; j < ud; j++) {
            double c = get(st, j), mean = get(st, ud + j), m2 = get(st, 2 * ud + j);
            if (!isfinite(c) || !isfinite(mean) || !isfinite(m2) || !(c >= 0) || !(m2 >= 0) ||
                c != floor(c) || c > 9007199254740992.0 || (c < 1 && mean != 0) ||
                (c < 2 && m2 != 0)) {
                return DRIFT_ESTATE;
            }
        }
    }
    memcpy(&l->updates, p + 16, 8);
    l->forget = forget;
    l->delta = delta;
    memcpy(l->w, w, n1 * 8);
    memcpy(l->center, cs, ud * 8);
    memcpy(l->scale, cs + ud * 8, ud * 8);
    memcpy(l->P, pm, packed_size(l->d) * 8);
    if (l->online) {
        memcpy(l->cnt, st, 3 * ud * 8);
    }
    return 0;
}

const struct drift_learner_ops drift_learner_rls = {
    .name = "rls",
    .description = "online linear regression by recursive least squares (O(d²) per row)",
    .create = rls_create,
    .destroy = rls_destroy,
    .predict = rls_predict,
    .learn = rls_learn,
    .weights = rls_weights,
    .updates = rls_updates,
    .reset = rls_reset,
    .save = rls_save,
    .load = rls_load,
};
