/*
 * Prequential performance metrics over one window of joined (prediction, label) pairs
 * (operators/metrics/prequential.c). Pure: no I/O, and no allocation after create.
 *
 * The window keeps counts and compensated sums as pairs arrive, plus what the sample metrics
 * need as values: the scores of each class (ROC AUC) and the known delays (their quantiles), at
 * most `capacity` pairs. Every metric equals its scikit-learn / numpy counterpart within
 * rounding (golden tests: tests/golden/gen_prequential.py):
 *
 *  classification (labels 0/1, positive class 1; predicted class = prediction >= threshold)
 *    accuracy   accuracy_score: (tp + tn) / n
 *    precision  precision_score: tp / (tp + fp)           NAN when tp + fp = 0
 *    recall     recall_score:    tp / (tp + fn)           NAN when tp + fn = 0
 *    f1         f1_score:  2 tp / (2 tp + fp + fn)        NAN when tp + fp + fn = 0
 *               (sklearn's zero_division cases: where sklearn would return the zero_division
 *               value we return NAN; elsewhere, e.g. tp = 0 < fp + fn, F1 is 0 as in sklearn)
 *    log_loss   log_loss(labels=[0, 1]) of the predictions as P(class 1), clipped to
 *               [1e-15, 1 - 1e-15] and renormalised exactly as sklearn does (p, 1 - p, divided
 *               by their sum); the mean over pairs. NAN when any prediction is outside [0, 1]
 *               (decision scores / margins: sklearn would silently clip them)
 *    auc        roc_auc_score: the Mann–Whitney U with midranks for ties over npos·nneg, which
 *               is the area under sklearn's ROC curve (trapezoids over tied scores); NAN when
 *               one class is absent (sklearn raises)
 *  regression (any finite prediction and label)
 *    mae        mean_absolute_error: mean |prediction - label|
 *    rmse       sqrt(mean_squared_error): sqrt(mean (prediction - label)^2)
 *  both
 *    delay_median, delay_p95   numpy.quantile(known delays, [0.5, 0.95]) (linear method);
 *                              NAN when no pair has a known delay
 *
 * Metrics of the other task are NAN, and every metric is NAN on an empty window. Sums (absolute
 * and squared errors, log-losses) are Neumaier-compensated, so a window of any size keeps about
 * full double precision; the AUC's U is counted exactly in integers.
 *
 * Not thread-safe: drift_preq_metrics is const in meaning but sorts copies in the window's own
 * scratch, so one window must not be used from two threads at once.
 */
#ifndef DRIFT_PREQUENTIAL_H
#define DRIFT_PREQUENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "drift_op.h"

struct drift_preq; /* one window's accumulators */

enum drift_preq_task { DRIFT_PREQ_CLASSIFICATION = 0, DRIFT_PREQ_REGRESSION = 1 };

#define DRIFT_PREQ_DEFAULT_THRESHOLD 0.5
#define DRIFT_PREQ_MAX_CAPACITY ((size_t)UINT32_MAX)

struct drift_preq_params {
    int task;         /* enum drift_preq_task */
    double threshold; /* classification: prediction >= threshold -> class 1 (the default is
                       * DRIFT_PREQ_DEFAULT_THRESHOLD; 0 is a threshold, not "default").
                       * Must be finite; ignored for regression */
    size_t capacity;  /* max pairs per window, 1..DRIFT_PREQ_MAX_CAPACITY (AUC and the delay
                       * quantiles need the values): about 40 bytes per pair are allocated */
};

/* Creates an empty window; NULL and err (naming the bad parameter) on failure. The caller frees
 * it with drift_preq_destroy. */
struct drift_preq *drift_preq_create(const struct drift_preq_params *p, char *err, size_t errlen);
void drift_preq_destroy(struct drift_preq *q);
/* Empties the window (counts, sums, values; the invalid count too). */
void drift_preq_reset(struct drift_preq *q);

/* Adds one joined pair: prediction (classification: a score, usually a probability in [0, 1],
 * or a class 0/1; regression: a value), label (classification: exactly 0 or 1; regression: a
 * value) and delay_s (label time - prediction time in seconds; NaN or ±inf = unknown: the pair
 * counts, its delay does not).
 *
 * Returns 0 and writes to *error_out (when non-NULL) the error fed to detectors:
 * classification 1 if (prediction >= threshold) != (label == 1) else 0 (misclassification);
 * regression |prediction - label|.
 * Returns DRIFT_EINVAL when prediction or label is NaN or ±inf, or (classification) the label is
 * not exactly 0 or 1: the pair is counted in `invalid` and nothing else changes. Checked first.
 * Returns DRIFT_ERANGE when the window already holds `capacity` pairs: nothing changes (the
 * caller closes windows before they fill).
 * On any failure *error_out is NAN. */
int drift_preq_add(struct drift_preq *q, double prediction, double label, double delay_s,
                   double *error_out);

struct drift_preq_metrics {
    uint64_t n;       /* pairs in the window */
    uint64_t invalid; /* pairs rejected with DRIFT_EINVAL since create/reset */
    /* classification (positive class 1; NAN where undefined, 0/0) */
    double accuracy, precision, recall, f1;
    /* mean; NAN when some prediction is outside [0, 1] */
    double log_loss;
    /* ROC AUC, ties as sklearn; NAN when one class is absent */
    double auc;
    /* regression */
    double mae, rmse;
    /* both */
    double delay_median, delay_p95; /* seconds, numpy.quantile linear; NAN if no known delay */
};

/* State to bytes (checkpoints): counts, compensated sums and the stored scores and delays.
 * Returns the size needed; writes only when len is large enough. load needs a window of the
 * same task and threshold whose capacity holds the saved pairs, checks every field first
 * (counts that agree, finite values) and returns DRIFT_ESTATE, leaving q unchanged, otherwise. */
size_t drift_preq_save(const struct drift_preq *q, void *buf, size_t len);
int drift_preq_load(struct drift_preq *q, const void *buf, size_t len);

/* Computes the window's metrics into *out: O(n) (radix sorts of the scores and delays in the
 * window's scratch, then one merge for U). Returns 0, or DRIFT_EINVAL on NULL arguments. */
int drift_preq_metrics(const struct drift_preq *q, struct drift_preq_metrics *out);

#endif
