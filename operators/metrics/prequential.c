/*
 * Prequential performance metrics over one window of (prediction, label) pairs: accuracy,
 * precision, recall, F1, log-loss and ROC AUC for classification, MAE and RMSE for regression,
 * median and 95th percentile of the label delay for both. Definitions and the sklearn/numpy
 * conventions they match are in prequential.h; goldens in tests/golden/gen_prequential.py.
 *
 * Layout: counts and Neumaier-compensated sums are updated per pair. Classification scores are
 * stored by class, positives from the front of one array and negatives from the back, so no
 * label array is needed; known delays in another. drift_preq_metrics copies them to scratch,
 * radix-sorts each class (drift_sort_doubles) and counts the Mann–Whitney U in one merge.
 * Everything is allocated in create.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prequential.h"

#define LOGLOSS_EPS 1e-15

/* A Neumaier-compensated sum (Kahan–Babuška): error independent of n for terms of one sign. */
struct csum {
    double s, c;
};

static inline void csum_add(struct csum *k, double x)
{
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x)) {
        k->c += (k->s - t) + x;
    } else {
        k->c += (x - t) + k->s;
    }
    k->s = t;
}

static inline double csum_value(const struct csum *k)
{
    /* Once the sum overflows the compensation is inf - inf; the sum itself is the answer. */
    return isfinite(k->s) ? k->s + k->c : k->s;
}

struct drift_preq {
    int task;
    double threshold;
    size_t cap;
    size_t npos, nneg; /* classification: stored scores of each class */
    size_t n;          /* pairs */
    size_t ndelay;     /* known delays */
    uint64_t invalid;
    uint64_t tp, fp, tn, fn;
    size_t out_of_unit; /* classification predictions outside [0, 1] */
    struct csum abs_err, sq_err, logloss;
    double *score;   /* cap: positives at [0, npos), negatives at [cap - nneg, cap) */
    double *delay;   /* cap: known delays [0, ndelay) */
    double *scratch; /* cap: sorted copies, written by drift_preq_metrics */
    uint64_t *keys;  /* 2 * cap: radix sort keys */
};

struct drift_preq *drift_preq_create(const struct drift_preq_params *p, char *err, size_t errlen)
{
    if (p == NULL) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "prequential: no parameters");
        return NULL;
    }
    if (p->task != DRIFT_PREQ_CLASSIFICATION && p->task != DRIFT_PREQ_REGRESSION) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "prequential: task must be 0 (classification) or 1 (regression), got %d",
                     p->task);
        return NULL;
    }
    if (p->task == DRIFT_PREQ_CLASSIFICATION && !isfinite(p->threshold)) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "prequential: threshold must be a finite number, got %g", p->threshold);
        return NULL;
    }
    if (p->capacity < 1 || p->capacity > DRIFT_PREQ_MAX_CAPACITY ||
        p->capacity > SIZE_MAX / (2 * sizeof(uint64_t))) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "prequential: capacity must be an integer in [1, %zu], got %zu",
                     (size_t)DRIFT_PREQ_MAX_CAPACITY, p->capacity);
        return NULL;
    }
    struct drift_preq *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "prequential: out of memory");
        return NULL;
    }
    q->task = p->task;
    q->threshold = p->task == DRIFT_PREQ_CLASSIFICATION ? p->threshold : NAN;
    q->cap = p->capacity;
    size_t cap = p->capacity;
    if (q->task == DRIFT_PREQ_CLASSIFICATION) {
        q->score = malloc(cap * sizeof(double));
    }
    q->delay = malloc(cap * sizeof(double));
    q->scratch = malloc(cap * sizeof(double));
    q->keys = malloc(2 * cap * sizeof(uint64_t));
    if ((q->task == DRIFT_PREQ_CLASSIFICATION && q->score == NULL) || q->delay == NULL ||
        q->scratch == NULL || q->keys == NULL) {
        drift_preq_destroy(q);
        drift_seterr(err, errlen, DRIFT_ENOMEM,
                     "prequential: out of memory for a window of %zu pairs", cap);
        return NULL;
    }
    drift_preq_reset(q);
    return q;
}

void drift_preq_destroy(struct drift_preq *q)
{
    if (q == NULL) {
        return;
    }
    free(q->score);
    free(q->delay);
    free(q->scratch);
    free(q->keys);
    free(q);
}

void drift_preq_reset(struct drift_preq *q)
{
    if (q == NULL) {
        return;
    }
    q->npos = q->nneg = q->n = q->ndelay = 0;
    q->invalid = 0;
    q->tp = q->fp = q->tn = q->fn = 0;
    q->out_of_unit = 0;
    q->abs_err = (struct csum){0, 0};
    q->sq_err = (struct csum){0, 0};
    q->logloss = (struct csum){0, 0};
}

/* sklearn's per-sample log-loss (1.2, _classification.log_loss) with eps = 1e-15: y_pred is
 * clipped to [eps, 1 - eps], the two columns are (1 - p, p), each row is divided by its sum, and
 * the loss is -log of the label's column. Written the same way so the roundings agree. */
static double sample_logloss(double p, int label)
{
    double pc = p < LOGLOSS_EPS ? LOGLOSS_EPS : p;
    if (pc > 1.0 - LOGLOSS_EPS) {
        pc = 1.0 - LOGLOSS_EPS;
    }
    double qc = 1.0 - pc;
    double s = qc + pc;
    return -log((label ? pc : qc) / s);
}

int drift_preq_add(struct drift_preq *q, double prediction, double label, double delay_s,
                   double *error_out)
{
    if (error_out != NULL) {
        *error_out = NAN;
    }
    if (q == NULL) {
        return DRIFT_EINVAL;
    }
    if (!isfinite(prediction) || !isfinite(label) ||
        (q->task == DRIFT_PREQ_CLASSIFICATION && label != 0.0 && label != 1.0)) {
        q->invalid++;
        return DRIFT_EINVAL;
    }
    if (q->n >= q->cap) {
        return DRIFT_ERANGE;
    }
    double e;
    if (q->task == DRIFT_PREQ_CLASSIFICATION) {
        int y = label == 1.0;
        int yhat = prediction >= q->threshold;
        e = (double)(y != yhat);
        if (y) {
            if (yhat) {
                q->tp++;
            } else {
                q->fn++;
            }
            q->score[q->npos++] = prediction + 0.0; /* -0 -> +0 */
        } else {
            if (yhat) {
                q->fp++;
            } else {
                q->tn++;
            }
            q->score[q->cap - ++q->nneg] = prediction + 0.0;
        }
        if (prediction >= 0.0 && prediction <= 1.0) {
            csum_add(&q->logloss, sample_logloss(prediction, y));
        } else {
            q->out_of_unit++;
        }
    } else {
        double d = prediction - label;
        e = fabs(d);
        csum_add(&q->abs_err, e);
        csum_add(&q->sq_err, d * d);
    }
    if (isfinite(delay_s)) {
        q->delay[q->ndelay++] = delay_s;
    }
    q->n++;
    if (error_out != NULL) {
        *error_out = e;
    }
    return 0;
}

static void sort_values(double *a, size_t n, uint64_t *keys, size_t cap)
{
    drift_sort_doubles(a, n, keys, keys + cap);
}

/* ROC AUC = U / (npos nneg) with U = #{(pos, neg): pos > neg} + #{(pos, neg): pos == neg} / 2:
 * the Mann–Whitney U from midranks, equal to the trapezoidal area under sklearn's ROC curve
 * (whose tied scores make one diagonal step). 2U is counted exactly in integers; pos and neg are
 * sorted ascending. */
static double auc_sorted(const double *pos, size_t npos, const double *neg, size_t nneg)
{
    uint64_t twice_u = 0;
    size_t lt = 0, le = 0; /* #{neg < v}, #{neg <= v} for the current positive v */
    for (size_t i = 0; i < npos; i++) {
        double v = pos[i];
        while (lt < nneg && neg[lt] < v) {
            lt++;
        }
        if (le < lt) {
            le = lt;
        }
        while (le < nneg && neg[le] <= v) {
            le++;
        }
        twice_u += 2 * (uint64_t)lt + (uint64_t)(le - lt);
    }
    return (double)twice_u / (2.0 * (double)npos * (double)nneg);
}

static double ratio(uint64_t num, uint64_t den)
{
    return den == 0 ? NAN : (double)num / (double)den;
}

int drift_preq_metrics(const struct drift_preq *q, struct drift_preq_metrics *out)
{
    if (q == NULL || out == NULL) {
        return DRIFT_EINVAL;
    }
    out->n = q->n;
    out->invalid = q->invalid;
    out->accuracy = out->precision = out->recall = out->f1 = NAN;
    out->log_loss = out->auc = NAN;
    out->mae = out->rmse = NAN;
    out->delay_median = out->delay_p95 = NAN;
    double n = (double)q->n;

    if (q->n > 0 && q->task == DRIFT_PREQ_CLASSIFICATION) {
        out->accuracy = (double)(q->tp + q->tn) / n;
        out->precision = ratio(q->tp, q->tp + q->fp);
        out->recall = ratio(q->tp, q->tp + q->fn);
        out->f1 = ratio(2 * q->tp, 2 * q->tp + q->fp + q->fn);
        if (q->out_of_unit == 0) {
            out->log_loss = csum_value(&q->logloss) / n;
        }
        if (q->npos > 0 && q->nneg > 0) {
            double *pos = q->scratch, *neg = q->scratch + q->npos;
            memcpy(pos, q->score, q->npos * sizeof(double));
            memcpy(neg, q->score + (q->cap - q->nneg), q->nneg * sizeof(double));
            sort_values(pos, q->npos, q->keys, q->cap);
            sort_values(neg, q->nneg, q->keys, q->cap);
            out->auc = auc_sorted(pos, q->npos, neg, q->nneg);
        }
    } else if (q->n > 0) {
        out->mae = csum_value(&q->abs_err) / n;
        out->rmse = sqrt(csum_value(&q->sq_err) / n);
    }

    if (q->ndelay > 0) {
        memcpy(q->scratch, q->delay, q->ndelay * sizeof(double));
        sort_values(q->scratch, q->ndelay, q->keys, q->cap);
        out->delay_median = drift_quantile_sorted(q->scratch, q->ndelay, 0.5);
        out->delay_p95 = drift_quantile_sorted(q->scratch, q->ndelay, 0.95);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * State
 *
 * Header: magic, version, task; threshold; then npos, nneg, n, ndelay, invalid, tp, fp, tn, fn,
 * out_of_unit (u64 each); the three compensated sums (s, c); the positive scores, the negative
 * scores and the delays (doubles).
 * -------------------------------------------------------------------------------------------*/
#define PREQ_MAGIC 0x50524551u /* "PREQ" */
#define PREQ_VERSION 1u
#define PREQ_HEAD (16 + 8 + 10 * 8 + 6 * 8)

size_t drift_preq_save(const struct drift_preq *q, void *buf, size_t len)
{
    size_t need = PREQ_HEAD + (q->npos + q->nneg + q->ndelay) * 8;
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[4] = {PREQ_MAGIC, PREQ_VERSION, (uint32_t)q->task, 0};
    uint64_t cnt[10] = {q->npos, q->nneg, q->n, q->ndelay, q->invalid,
                        q->tp,   q->fp,   q->tn, q->fn,    q->out_of_unit};
    double sums[6] = {q->abs_err.s, q->abs_err.c, q->sq_err.s,
                      q->sq_err.c,  q->logloss.s, q->logloss.c};
    memcpy(p, hdr, 16);
    memcpy(p + 16, &q->threshold, 8);
    memcpy(p + 24, cnt, sizeof(cnt));
    memcpy(p + 104, sums, sizeof(sums));
    size_t o = PREQ_HEAD;
    memcpy(p + o, q->score, q->npos * 8);
    o += q->npos * 8;
    memcpy(p + o, q->score + (q->cap - q->nneg), q->nneg * 8);
    o += q->nneg * 8;
    memcpy(p + o, q->delay, q->ndelay * 8);
    return need;
}

int drift_preq_load(struct drift_preq *q, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (q == NULL || buf == NULL || len < PREQ_HEAD) {
        return DRIFT_ESTATE;
    }
    uint32_t hdr[4];
    uint64_t cnt[10];
    double thr, sums[6];
    memcpy(hdr, p, 16);
    memcpy(&thr, p + 16, 8);
    memcpy(cnt, p + 24, sizeof(cnt));
    memcpy(sums, p + 104, sizeof(sums));
    uint64_t npos = cnt[0], nneg = cnt[1], n = cnt[2], ndelay = cnt[3];
    if (hdr[0] != PREQ_MAGIC || hdr[1] != PREQ_VERSION || hdr[2] != (uint32_t)q->task ||
        hdr[3] != 0 || memcmp(&thr, &q->threshold, 8) != 0 || n > q->cap || ndelay > n) {
        return DRIFT_ESTATE;
    }
    /* classification stores every pair's score by class; regression stores none */
    int cls = q->task == DRIFT_PREQ_CLASSIFICATION;
    if ((cls && (npos + nneg != n || cnt[5] + cnt[6] + cnt[7] + cnt[8] != n)) ||
        (!cls && (npos != 0 || nneg != 0 || cnt[5] + cnt[6] + cnt[7] + cnt[8] != 0)) ||
        cnt[9] > n || len != PREQ_HEAD + (npos + nneg + ndelay) * 8) {
        return DRIFT_ESTATE;
    }
    for (int i = 0; i < 6; i++) {
        if (!isfinite(sums[i])) {
            return DRIFT_ESTATE;
        }
    }
    for (size_t i = 0; i < npos + nneg + ndelay; i++) {
        double v;
        memcpy(&v, p + PREQ_HEAD + i * 8, 8);
        if (!isfinite(v)) {
            return DRIFT_ESTATE;
        }
    }
    q->npos = npos;
    q->nneg = nneg;
    q->n = n;
    q->ndelay = ndelay;
    q->invalid = cnt[4];
    q->tp = cnt[5];
    q->fp = cnt[6];
    q->tn = cnt[7];
    q->fn = cnt[8];
    q->out_of_unit = cnt[9];
    q->abs_err = (struct csum){sums[0], sums[1]};
    q->sq_err = (struct csum){sums[2], sums[3]};
    q->logloss = (struct csum){sums[4], sums[5]};
    size_t o = PREQ_HEAD;
    memcpy(q->score, p + o, npos * 8);
    o += npos * 8;
    memcpy(q->score + (q->cap - nneg), p + o, nneg * 8);
    o += nneg * 8;
    memcpy(q->delay, p + o, ndelay * 8);
    return 0;
}
