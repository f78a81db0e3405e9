/*
 * The linear-model learners: online logistic regression (log-loss, p = σ(w·z + b)) and online
 * linear regression (squared loss, ŷ = w·z + b), trained by SGD, AdaGrad or FTRL-proximal and
 * evaluated prequentially (each labelled row is first predicted, its loss recorded, then learnt
 * from). Both tasks share one gradient, g = (p − y)·z with p the prediction, so one body of code
 * serves the two ops structs at the bottom; only the link (σ or identity) and the loss differ.
 *
 * Standardisation. Features are standardised so that one learning rate suits features of any
 * scale: with the reference's mean and standard deviation when the caller gives them (center,
 * scale), else, with `standardize`, with running estimates (Welford) of the rows learnt before
 * the current one, so the row is predicted with what was known before it, like the model. The
 * running estimate uses the sample variance (n − 1); a feature with fewer than two values, or a
 * standard deviation <= SCALER_SD_MIN (scaler.h), standardises to 0. A missing feature (NaN or
 * ±inf, as everywhere in driftd) is the centre (0 after standardising) and does not enter the
 * running statistics; a row whose label is not finite is not learnt from (nor counted in the
 * statistics): one infinite value would otherwise turn the weights into NaN for good. For the same
 * reason a finite value so large that its statistics would overflow is left out of them, and an
 * optimizer step that would leave a non-finite number in the learner is not taken (the learner
 * stays as it was). The published weights are mapped back to the original feature space: w_j/s_j
 * and b − Σ w_j·c_j/s_j (with the current running estimates in online mode).
 *
 * Optimizers, per coordinate, with g the loss gradient (averaged over a mini-batch):
 *   SGD      w ← w − η(g + λ2·w), b ← b − η·g_b (exactly the original per-row arithmetic);
 *   AdaGrad  g' = g + λ2·w; G += g'²; w ← w − η·g'/√(G + 1e-8); the bias likewise, without L2;
 *   FTRL     McMahan et al. 2013, "Ad click prediction", algorithm 1: σ = (√(n + g²) − √n)/α,
 *            z += g − σ·w, n += g², w = 0 if |z| <= λ1 else −(z − sgn(z)λ1)/((β + √n)/α + λ2).
 *            The bias is an FTRL coordinate too, without L1 or L2 (b = −z_b/((β + √n_b)/α)): it
 *            gets the same adaptive per-coordinate step as the weights, and penalising it would
 *            pull every prediction towards 1/2 (or 0) however the labels are balanced.
 *
 * Mini-batches (batch > 1): the learnable rows form consecutive blocks of `batch` rows of the
 * stream. Each row of a block is predicted with the weights before the block (w·z + b, as
 * predict computes it) and its loss recorded as it arrives; its standardised row and residual
 * p − y are kept at its place in the block. When the block is complete, its gradient is summed
 * in one piece (one dgemv for Σ r_i·z_i over the whole block, Σ r_i in row order) and one step
 * with the average is taken. Rows of an unfinished block are predicted and counted but not yet
 * learnt from.
 *
 * Call boundaries. The daemon checkpoints and, after a crash, replays from Kafka, whose batches
 * are cut anywhere: the learner after rows 1..N must be the same bit for bit however the rows
 * were split into learn calls. So every computation is per row or per complete block, at fixed
 * positions: the running statistics, the predictions, the losses (each added to the caller's
 * *loss_sum as it is made, never to a per-call subtotal), the residuals, the block's gradient
 * and the step; the unfinished block's rows are part of the state, and the one allocation is
 * 64-byte aligned so a BLAS kernel sees the same alignment in every instance. A row whose
 * standardised value or residual is not finite (absurd but finite inputs overflow) would make
 * the block's step non-finite, so it would not be taken anyway: the block is marked spoilt
 * (the row kept as zeros, so the state stays finite and loadable) and skips its step.
 * batch = 1 keeps the original per-row path, bit for bit.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "scaler.h"

#define LINEAR_MAGIC 0x474f4c44u /* "DLOG", the magic of the logistic learner's first format */
/* State versions: 1, logistic SGD only; 2, tasks, optimizers, batches; 3, the rows of the
 * unfinished block instead of its partial gradient sums. */
#define LINEAR_VERSION 3u
#define DEFAULT_LR 0.05   /* SGD/AdaGrad step size */
#define DEFAULT_ALPHA 0.1 /* FTRL α */
#define DEFAULT_BETA 1.0  /* FTRL β */
#define BATCH_MAX 4096    /* rows per mini-batch; the block buffer is batch × d doubles */
#define ADAGRAD_EPS 1e-8  /* keeps the first AdaGrad step finite */
#define PROB_EPS 1e-15    /* log-loss clips p to [PROB_EPS, 1 − PROB_EPS] */
#define MEM_ALIGN 64      /* bytes; the learner's block of doubles, see the file comment */

enum task { TASK_LOGISTIC = 0, TASK_LINEAR = 1 };

struct drift_learner {
    int d;
    int task;   /* enum task */
    int opt;    /* DRIFT_OPT_SGD, DRIFT_OPT_ADAGRAD or DRIFT_OPT_FTRL */
    int online; /* running standardisation instead of center/scale */
    int batch;  /* rows per step */
    double lr, l2, l1, alpha, beta;
    uint64_t updates; /* rows learnt (predicted and taken into a step or a pending block) */
    double bias;
    double *w, *center, *scale, *z;
    double *acc, *acc2;      /* d + 1 each, the bias last: AdaGrad G; FTRL z and n */
    double *cnt, *mean, *m2; /* d each: running statistics (online) */
    double *gsum;            /* d, scratch: Σ r_i·z_i of a complete block */
    int pending;             /* rows of the unfinished block, zb and gb [0, pending) */
    int spoilt;              /* the unfinished block had a non-finite z or residual: no step */
    double *zb, *gb;         /* batch × d standardised rows (row-major); batch residuals p − y */
    double *backup;          /* 3(d + 1): w, acc, acc2 before a step, to undo a non-finite one */
};

static void linear_destroy(struct drift_learner *l)
{
    if (l != NULL) {
        free(l->w);
        free(l);
    }
}

static const char *opt_name(int opt)
{
    static const char *const names[] = {"sgd", "adagrad", "ftrl", "rls"};
    return opt >= 0 && opt < 4 ? names[opt] : "unknown";
}

/* Creates a learner of the given task; returns NULL and fills err on a bad parameter. */
static struct drift_learner *create_task(int task, int d, const struct drift_learner_params *p,
                                         char *err, size_t errlen)
{
    const char *tname = task == TASK_LOGISTIC ? "logistic" : "linear";
    if (d < 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner needs at least one numeric feature");
        return NULL;
    }
    struct drift_learner_params dp = {0};
    if (p == NULL) {
        p = &dp;
    }
    double lr = p->learning_rate == 0 ? DEFAULT_LR : p->learning_rate;
    double alpha = p->ftrl_alpha == 0 ? DEFAULT_ALPHA : p->ftrl_alpha;
    double beta = p->ftrl_beta == 0 ? DEFAULT_BETA : p->ftrl_beta;
    int batch = p->batch == 0 ? 1 : p->batch;
    if (p->optimizer == DRIFT_OPT_RLS) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "learner.optimizer rls is not available to the %s learner: recursive least "
                     "squares is its own learner, \"rls\", for the linear task only",
                     tname);
        return NULL;
    }
    if (p->optimizer != DRIFT_OPT_SGD && p->optimizer != DRIFT_OPT_ADAGRAD &&
        p->optimizer != DRIFT_OPT_FTRL) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "learner.optimizer must be sgd, adagrad or ftrl (0, 1, 2), got %d",
                     p->optimizer);
        return NULL;
    }
    if (!(lr > 0) || !isfinite(lr)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.learning_rate must be > 0, got %g", lr);
        return NULL;
    }
    if (!(p->l2 >= 0) || !isfinite(p->l2)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.l2 must be >= 0, got %g", p->l2);
        return NULL;
    }
    if (!(p->l1 >= 0) || !isfinite(p->l1)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.l1 must be >= 0, got %g", p->l1);
        return NULL;
    }
    if (p->l1 > 0 && p->optimizer != DRIFT_OPT_FTRL) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "learner.l1 needs optimizer ftrl, got l1 %g with %s", p->l1,
                     opt_name(p->optimizer));
        return NULL;
    }
    if (!(alpha > 0) || !isfinite(alpha)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.ftrl_alpha must be > 0, got %g", alpha);
        return NULL;
    }
    if (!(beta >= 0) || !isfinite(beta)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.ftrl_beta must be >= 0, got %g", beta);
        return NULL;
    }
    if (batch < 1 || batch > BATCH_MAX) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.batch must be between 1 and %d, got %d",
                     BATCH_MAX, p->batch);
        return NULL;
    }
    if (p->standardize != 0 && p->standardize != 1) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "learner.standardize must be 0 or 1, got %d",
                     p->standardize);
        return NULL;
    }
    /* One block, so the hot path never allocates: w, center, scale, z (d each); acc, acc2
     * (d + 1 each); cnt, mean, m2, gsum (d each); zb (batch × d); gb (batch); backup
     * (3(d + 1)). Aligned, so that every instance (the one restored after a crash included)
     * hands BLAS the same alignment: a kernel that peels unaligned elements would otherwise sum
     * in another order. */
    size_t ud = (size_t)d, ub = (size_t)batch;
    size_t nmem = 4 * ud + 2 * (ud + 1) + 4 * ud + ub * ud + ub + 3 * (ud + 1);
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
    l->task = task;
    l->opt = p->optimizer;
    l->online = p->center == NULL && p->scale == NULL && p->standardize;
    l->batch = batch;
    l->lr = lr;
    l->l2 = p->l2;
    l->l1 = p->l1;
    l->alpha = alpha;
    l->beta = beta;
    l->w = mem;
    l->center = l->w + ud;
    l->scale = l->center + ud;
    l->z = l->scale + ud;
    l->acc = l->z + ud;
    l->acc2 = l->acc + ud + 1;
    l->cnt = l->acc2 + ud + 1;
    l->mean = l->cnt + ud;
    l->m2 = l->mean + ud;
    l->gsum = l->m2 + ud;
    l->zb = l->gsum + ud;
    l->gb = l->zb + ub * ud;
    l->backup = l->gb + ub;
    for (int j = 0; j < d; j++) {
        double c = p->center != NULL ? p->center[j] : 0;
        double s = p->scale != NULL ? p->scale[j] : 1;
        l->center[j] = isfinite(c) ? c : 0;
        l->scale[j] = isfinite(s) && s > 1e-12 ? s : 1;
    }
    return l;
}

static struct drift_learner *logistic_create(int d, const struct drift_learner_params *p, char *err,
                                             size_t errlen)
{
    return create_task(TASK_LOGISTIC, d, p, err, errlen);
}

static struct drift_learner *linear_create(int d, const struct drift_learner_params *p, char *err,
                                           size_t errlen)
{
    return create_task(TASK_LINEAR, d, p, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Standardisation
 * -------------------------------------------------------------------------------------------*/

/* The running standard deviation of feature j, or 0 when it cannot standardise (fewer than two
 * values, or a spread <= SCALER_SD_MIN). */
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

/* Standardises row x (stride incx) into out; a missing value (NaN, ±inf) → 0. */
static void standardise(const struct drift_learner *l, const double *x, size_t incx, double *out)
{
    struct scaler s = scaler_of(l);
    scaler_apply(&s, x, incx, out);
}

/* Adds row x to the running statistics (Welford); missing values, and values so large that the
 * statistics would overflow, are left out. */
static void stats_add(struct drift_learner *l, const double *x, size_t incx)
{
    struct scaler s = scaler_of(l);
    scaler_add(&s, x, incx);
}

/* ---------------------------------------------------------------------------------------------
 * Prediction and learning
 * -------------------------------------------------------------------------------------------*/

static double sigmoid(double t)
{
    if (t >= 0) {
        return 1.0 / (1.0 + exp(-t));
    }
    double e = exp(t);
    return e / (1.0 + e);
}

static double link(const struct drift_learner *l, double t)
{
    return l->task == TASK_LOGISTIC ? sigmoid(t) : t;
}

static double row_loss(const struct drift_learner *l, double p, double y)
{
    if (l->task == TASK_LINEAR) {
        return (p - y) * (p - y);
    }
    double pc = p < PROB_EPS ? PROB_EPS : (p > 1 - PROB_EPS ? 1 - PROB_EPS : p);
    return y > 0.5 ? -log(pc) : -log(1 - pc);
}

static double linear_predict(const struct drift_learner *l, const double *x, size_t incx)
{
    standardise(l, x, incx, l->z);
    return link(l, cblas_ddot(l->d, l->w, 1, l->z, 1) + l->bias);
}

static double ftrl_weight(const struct drift_learner *l, double z, double n, double l1, double l2)
{
    if (fabs(z) <= l1) {
        return 0;
    }
    return -(z - copysign(l1, z)) / ((l->beta + sqrt(n)) / l->alpha + l2);
}

/* One optimizer step from the loss gradient mult·g[0..d-1] for the weights and gbias for the
 * bias. A step that leaves a non-finite weight or accumulator is undone. */
static void step(struct drift_learner *l, const double *g, double mult, double gbias)
{
    int d = l->d;
    size_t n1 = (size_t)d + 1;
    double bias = l->bias;
    memcpy(l->backup, l->w, (size_t)d * sizeof(double));
    if (l->opt != DRIFT_OPT_SGD) {
        memcpy(l->backup + n1, l->acc, n1 * sizeof(double));
        memcpy(l->backup + 2 * n1, l->acc2, n1 * sizeof(double));
    }
    int ok = 1;
    if (l->opt == DRIFT_OPT_SGD) {
        if (l->l2 > 0) {
            cblas_dscal(d, 1.0 - l->lr * l->l2, l->w, 1);
        }
        cblas_daxpy(d, -l->lr * mult, g, 1, l->w, 1);
        l->bias -= l->lr * gbias;
    } else if (l->opt == DRIFT_OPT_ADAGRAD) {
        for (int j = 0; j < d; j++) {
            double gj = mult * g[j] + l->l2 * l->w[j];
            l->acc[j] += gj * gj;
            l->w[j] -= l->lr * gj / sqrt(l->acc[j] + ADAGRAD_EPS);
        }
        l->acc[d] += gbias * gbias;
        l->bias -= l->lr * gbias / sqrt(l->acc[d] + ADAGRAD_EPS);
        ok = isfinite(l->acc[d]);
    } else {
        for (int j = 0; j <= d; j++) {
            double gj = j < d ? mult * g[j] : gbias;
            double wj = j < d ? l->w[j] : l->bias, n = l->acc2[j];
            double sigma = (sqrt(n + gj * gj) - sqrt(n)) / l->alpha;
            l->acc[j] += gj - sigma * wj;
            l->acc2[j] = n + gj * gj;
            ok &= isfinite(l->acc[j]) && isfinite(l->acc2[j]);
            if (j < d) {
                l->w[j] = ftrl_weight(l, l->acc[j], l->acc2[j], l->l1, l->l2);
            } else {
                l->bias = ftrl_weight(l, l->acc[j], l->acc2[j], 0, 0);
            }
        }
    }
    ok &= isfinite(l->bias);
    for (int j = 0; j < d && ok; j++) {
        ok = isfinite(l->w[j]) && (l->opt != DRIFT_OPT_ADAGRAD || isfinite(l->acc[j]));
    }
    if (!ok) {
        memcpy(l->w, l->backup, (size_t)d * sizeof(double));
        if (l->opt != DRIFT_OPT_SGD) {
            memcpy(l->acc, l->backup + n1, n1 * sizeof(double));
            memcpy(l->acc2, l->backup + 2 * n1, n1 * sizeof(double));
        }
        l->bias = bias;
    }
}

/* One row at a time (batch = 1): the original arithmetic of the logistic SGD learner. */
static size_t learn_rows(struct drift_learner *l, const double *x, size_t ld, size_t n,
                         const double *y, double *loss_sum)
{
    size_t learnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            continue;
        }
        double p = linear_predict(l, x + i, ld);
        if (loss_sum != NULL) {
            *loss_sum += row_loss(l, p, y[i]);
        }
        if (l->online) {
            stats_add(l, x + i, ld);
        }
        double g = p - y[i];
        step(l, l->z, g, g);
        l->updates++;
        learnt++;
    }
    return learnt;
}

/* The step of a complete block: its gradient from all its rows at once, whatever calls they
 * came in; then an empty block. */
static void block_step(struct drift_learner *l)
{
    int d = l->d, m = l->batch;
    if (!l->spoilt) {
        double gbias = 0;
        for (int k = 0; k < m; k++) {
            gbias += l->gb[k];
        }
        /* zeroed first, so a non-finite sum of the last block cannot survive a beta of 0 */
        memset(l->gsum, 0, (size_t)d * sizeof(double));
        cblas_dgemv(CblasRowMajor, CblasTrans, m, d, 1.0, l->zb, d, l->gb, 1, 0.0, l->gsum, 1);
        step(l, l->gsum, 1.0 / m, gbias / m);
    }
    l->pending = 0;
    l->spoilt = 0;
}

/* Mini-batches: see the file comment. */
static size_t learn_blocks(struct drift_learner *l, const double *x, size_t ld, size_t n,
                           const double *y, double *loss_sum)
{
    int d = l->d;
    size_t learnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            continue;
        }
        double *zr = l->zb + (size_t)l->pending * (size_t)d;
        standardise(l, x + i, ld, zr);
        if (l->online) {
            stats_add(l, x + i, ld);
        }
        double p = link(l, cblas_ddot(d, l->w, 1, zr, 1) + l->bias);
        if (loss_sum != NULL) {
            *loss_sum += row_loss(l, p, y[i]);
        }
        double r = p - y[i];
        int finite = isfinite(r);
        for (int j = 0; j < d && finite; j++) {
            finite = isfinite(zr[j]);
        }
        if (!finite) {
            memset(zr, 0, (size_t)d * sizeof(double));
            r = 0;
            l->spoilt = 1;
        }
        l->gb[l->pending++] = r;
        l->updates++;
        learnt++;
        if (l->pending == l->batch) {
            block_step(l);
        }
    }
    return learnt;
}

/* Each row's loss goes straight into *loss_sum (see "Call boundaries" in the file comment). */
static size_t linear_learn(struct drift_learner *l, const double *x, size_t ld, size_t n,
                           const double *y, double *loss_sum)
{
    return l->batch == 1 ? learn_rows(l, x, ld, n, y, loss_sum)
                         : learn_blocks(l, x, ld, n, y, loss_sum);
}

static void linear_weights(const struct drift_learner *l, double *w, double *bias)
{
    double b = l->bias;
    for (int j = 0; j < l->d; j++) {
        if (!l->online) {
            w[j] = l->w[j] / l->scale[j];
            b -= l->w[j] * l->center[j] / l->scale[j];
            continue;
        }
        double sd = running_sd(l, j);
        w[j] = sd > 0 ? l->w[j] / sd : 0;
        b -= sd > 0 ? l->w[j] * l->mean[j] / sd : 0;
    }
    *bias = b;
}

static uint64_t linear_updates(const struct drift_learner *l)
{
    return l->updates;
}

/* Back to the state create made: weights, optimizer accumulators, the pending block and the
 * running statistics are cleared; the parameters (and a given center/scale) stay. */
static void linear_reset(struct drift_learner *l)
{
    size_t ud = (size_t)l->d;
    memset(l->w, 0, ud * sizeof(double));
    memset(l->acc, 0, 2 * (ud + 1) * sizeof(double));
    memset(l->cnt, 0, 3 * ud * sizeof(double));
    l->pending = 0;
    l->spoilt = 0;
    l->bias = 0;
    l->updates = 0;
}

/* ---------------------------------------------------------------------------------------------
 * State
 *
 * Layout (host byte order): magic u32, version u32, d u32, kind u32, updates u64, lr, l2, bias,
 * w[d], center[d], scale[d] (doubles; the layout of version 1, whose kind word was a zero pad),
 * then only the sections the learner's kind uses:
 *   AdaGrad   G[d + 1]
 *   FTRL      l1, α, β, z[d + 1], n[d + 1]
 *   online    count[d], mean[d], m2[d]
 *   batch > 1 batch, pending, spoilt (0 or 1), then the unfinished block's rows: z[pending × d]
 *             (standardised, row-major), residual[pending]
 * kind = task | optimizer << 4 | online << 8 | (batch > 1) << 9. The size grows with pending
 * (ask save for it each time). A state loads only into a learner of the same d, kind and batch;
 * its numbers (rates, penalties included) replace the learner's. Version 2 kept the unfinished
 * block as partial sums, which cannot continue bit for bit: it is refused like any other.
 * -------------------------------------------------------------------------------------------*/

static uint32_t state_kind(const struct drift_learner *l)
{
    return (uint32_t)l->task | (uint32_t)l->opt << 4 | (uint32_t)l->online << 8 |
           (uint32_t)(l->batch > 1) << 9;
}

/* The size of a state with `pending` rows in the unfinished block. */
static size_t state_size(const struct drift_learner *l, size_t pending)
{
    size_t ud = (size_t)l->d, n = 16 + 8 + 8 * 3 + ud * 8 * 3;
    if (l->opt == DRIFT_OPT_ADAGRAD) {
        n += (ud + 1) * 8;
    } else if (l->opt == DRIFT_OPT_FTRL) {
        n += 3 * 8 + 2 * (ud + 1) * 8;
    }
    if (l->online) {
        n += 3 * ud * 8;
    }
    if (l->batch > 1) {
        n += 3 * 8 + pending * (ud + 1) * 8;
    }
    return n;
}

static unsigned char *put(unsigned char *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

static size_t linear_save(const struct drift_learner *l, void *buf, size_t len)
{
    size_t ud = (size_t)l->d, up = (size_t)l->pending, need = state_size(l, up);
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[4] = {LINEAR_MAGIC, LINEAR_VERSION, (uint32_t)l->d, state_kind(l)};
    p = put(p, hdr, 16);
    p = put(p, &l->updates, 8);
    double sc[3] = {l->lr, l->l2, l->bias};
    p = put(p, sc, 24);
    p = put(p, l->w, ud * 8);
    p = put(p, l->center, ud * 8);
    p = put(p, l->scale, ud * 8);
    if (l->opt == DRIFT_OPT_ADAGRAD) {
        p = put(p, l->acc, (ud + 1) * 8);
    } else if (l->opt == DRIFT_OPT_FTRL) {
        double f[3] = {l->l1, l->alpha, l->beta};
        p = put(p, f, 24);
        p = put(p, l->acc, (ud + 1) * 8);
        p = put(p, l->acc2, (ud + 1) * 8);
    }
    if (l->online) {
        p = put(p, l->cnt, 3 * ud * 8);
    }
    if (l->batch > 1) {
        double b[3] = {l->batch, l->pending, l->spoilt};
        p = put(p, b, 24);
        p = put(p, l->zb, up * ud * 8);
        p = put(p, l->gb, up * 8);
    }
    return need;
}

static double get(const unsigned char *p, size_t i)
{
    double v;
    memcpy(&v, p + i * 8, 8);
    return v;
}

/* 1 when the n doubles at p are finite and >= lo (lo = -INFINITY: any finite value). */
static int all_finite(const unsigned char *p, size_t n, double lo)
{
    for (size_t i = 0; i < n; i++) {
        double v = get(p, i);
        if (!isfinite(v) || !(v >= lo)) {
            return 0;
        }
    }
    return 1;
}

static int linear_load(struct drift_learner *l, const void *buf, size_t len)
{
    size_t ud = (size_t)l->d, base = state_size(l, 0), up = 0;
    if (buf == NULL || len < base) {
        return DRIFT_ESTATE;
    }
    const unsigned char *p = buf;
    uint32_t hdr[4];
    memcpy(hdr, p, 16);
    if (hdr[0] != LINEAR_MAGIC || hdr[1] != LINEAR_VERSION || hdr[2] != (uint32_t)l->d ||
        hdr[3] != state_kind(l)) {
        return DRIFT_ESTATE;
    }
    /* Check every field before changing l, so a rejected state leaves the learner as it was and
     * an accepted one satisfies what create and learn guarantee (finite weights, lr > 0,
     * l2 >= 0, scales > 1e-12, α > 0, β >= 0, l1 >= 0 and only with FTRL, accumulators >= 0,
     * counts whole, an unfinished block shorter than the batch, as many rows past the last
     * complete block, finite rows, spoilt only with a row). The block's header is the last
     * fixed field and gives the length of the rest. */
    const unsigned char *blk = p + base - 24;
    uint64_t updates;
    memcpy(&updates, p + 16, 8);
    if (l->batch > 1) {
        double pend = get(blk, 1), spoilt = get(blk, 2);
        if (get(blk, 0) != l->batch || !(pend >= 0) || pend >= l->batch || pend != floor(pend) ||
            (spoilt != 0 && spoilt != 1) || (spoilt == 1 && pend == 0)) {
            return DRIFT_ESTATE;
        }
        up = (size_t)pend;
    }
    if (len != state_size(l, up)) {
        return DRIFT_ESTATE;
    }
    if (l->batch > 1 && (updates % (uint64_t)l->batch != (uint64_t)up ||
                         !all_finite(blk + 24, up * (ud + 1), -INFINITY))) {
        return DRIFT_ESTATE;
    }
    double sc[3];
    memcpy(sc, p + 24, 24);
    if (!(sc[0] > 0) || !isfinite(sc[0]) || !(sc[1] >= 0) || !isfinite(sc[1]) || !isfinite(sc[2])) {
        return DRIFT_ESTATE;
    }
    const unsigned char *vec = p + 48, *q = vec + 3 * ud * 8;
    if (!all_finite(vec, 2 * ud, -INFINITY) || !all_finite(vec + 2 * ud * 8, ud, 0)) {
        return DRIFT_ESTATE;
    }
    for (size_t j = 0; j < ud; j++) {
        if (!(get(vec + 2 * ud * 8, j) > 1e-12)) {
            return DRIFT_ESTATE;
        }
    }
    const unsigned char *opt = q, *stats = NULL;
    if (l->opt == DRIFT_OPT_ADAGRAD) {
        if (!all_finite(q, ud + 1, 0)) {
            return DRIFT_ESTATE;
        }
        q += (ud + 1) * 8;
    } else if (l->opt == DRIFT_OPT_FTRL) {
        if (!all_finite(q, 1, 0) || !all_finite(q + 8, 2, 0) || !(get(q, 1) > 0) ||
            !all_finite(q + 24, ud + 1, -INFINITY) ||
            !all_finite(q + 24 + (ud + 1) * 8, ud + 1, 0)) {
            return DRIFT_ESTATE;
        }
        q += 24 + 2 * (ud + 1) * 8;
    }
    if (l->online) {
        stats = q;
        if (!all_finite(q, ud, 0) || !all_finite(q + ud * 8, ud, -INFINITY) ||
            !all_finite(q + 2 * ud * 8, ud, 0)) {
            return DRIFT_ESTATE;
        }
        for (size_t j = 0; j < ud; j++) {
            double c = get(q, j), mean = get(q, ud + j), m2 = get(q, 2 * ud + j);
            if (c != floor(c) || c > 9007199254740992.0 || (c < 1 && mean != 0) ||
                (c < 2 && m2 != 0)) {
                return DRIFT_ESTATE;
            }
        }
        q += 3 * ud * 8;
    }
    l->updates = updates;
    l->lr = sc[0];
    l->l2 = sc[1];
    l->bias = sc[2];
    memcpy(l->w, vec, ud * 8);
    memcpy(l->center, vec + ud * 8, ud * 8);
    memcpy(l->scale, vec + 2 * ud * 8, ud * 8);
    if (l->opt == DRIFT_OPT_ADAGRAD) {
        memcpy(l->acc, opt, (ud + 1) * 8);
    } else if (l->opt == DRIFT_OPT_FTRL) {
        l->l1 = get(opt, 0);
        l->alpha = get(opt, 1);
        l->beta = get(opt, 2);
        memcpy(l->acc, opt + 24, (ud + 1) * 8);
        memcpy(l->acc2, opt + 24 + (ud + 1) * 8, (ud + 1) * 8);
    }
    if (stats != NULL) {
        memcpy(l->cnt, stats, 3 * ud * 8);
    }
    if (l->batch > 1) {
        l->pending = (int)up;
        l->spoilt = get(blk, 2) == 1;
        memcpy(l->zb, blk + 24, up * ud * 8);
        memcpy(l->gb, blk + 24 + up * ud * 8, up * 8);
    }
    return 0;
}

const struct drift_learner_ops drift_learner_logistic = {
    .name = "logistic",
    .description = "online logistic regression (SGD, AdaGrad or FTRL) on standardised features",
    .create = logistic_create,
    .destroy = linear_destroy,
    .predict = linear_predict,
    .learn = linear_learn,
    .weights = linear_weights,
    .updates = linear_updates,
    .reset = linear_reset,
    .save = linear_save,
    .load = linear_load,
};

const struct drift_learner_ops drift_learner_linear = {
    .name = "linear",
    .description = "online linear regression (SGD, AdaGrad or FTRL) on standardised features",
    .create = linear_create,
    .destroy = linear_destroy,
    .predict = linear_predict,
    .learn = linear_learn,
    .weights = linear_weights,
    .updates = linear_updates,
    .reset = linear_reset,
    .save = linear_save,
    .load = linear_load,
};
