/*
 * Feature standardisation shared by the linear learners (logistic.c, rls.c): either fixed (the
 * reference's center and scale) or running (Welford's mean and variance of the rows seen before,
 * so that a row is predicted with statistics it has not influenced). A missing value (NaN, ±inf)
 * standardises to 0, as does a feature with fewer than 2 values or no spread.
 */
#ifndef DRIFT_LEARNERS_SCALER_H
#define DRIFT_LEARNERS_SCALER_H

#include <math.h>
#include <stddef.h>

#define SCALER_SD_MIN 1e-12 /* a running std at or below this is no spread */

struct scaler {
    int d, online;
    const double *center, *scale; /* fixed: d values each */
    double *cnt, *mean, *m2;      /* running: d values each */
};

/* The running standard deviation of feature j (n − 1 divisor), or 0. */
static inline double scaler_sd(const struct scaler *s, int j)
{
    if (s->cnt[j] < 2) {
        return 0;
    }
    double sd = sqrt(s->m2[j] / (s->cnt[j] - 1));
    return sd > SCALER_SD_MIN ? sd : 0;
}

/* Standardises row x (stride incx) into out[0..d-1]. */
static inline void scaler_apply(const struct scaler *s, const double *x, size_t incx, double *out)
{
    for (int j = 0; j < s->d; j++) {
        double v = x[(size_t)j * incx];
        if (!s->online) {
            out[j] = isfinite(v) ? (v - s->center[j]) / s->scale[j] : 0;
        } else {
            double sd = scaler_sd(s, j);
            out[j] = isfinite(v) && sd > 0 ? (v - s->mean[j]) / sd : 0;
        }
    }
}

/* Adds row x to the running statistics; missing values, and values so large that the statistics
 * would overflow, are left out. */
static inline void scaler_add(struct scaler *s, const double *x, size_t incx)
{
    for (int j = 0; j < s->d; j++) {
        double v = x[(size_t)j * incx];
        if (!isfinite(v)) {
            continue;
        }
        double n = s->cnt[j] + 1, delta = v - s->mean[j];
        double mean = s->mean[j] + delta / n;
        double m2 = s->m2[j] + delta * (v - mean);
        if (isfinite(mean) && isfinite(m2)) {
            s->cnt[j] = n;
            s->mean[j] = mean;
            s->m2[j] = m2;
        }
    }
}

#endif
