/*
 * Wasserstein-1 (earth mover's) distance between the raw samples: W = ∫ |F_ref(x) − F_cur(x)| dx,
 * the area between the two empirical CDFs, as scipy.stats.wasserstein_distance(u, v). Computed in
 * one merge over the sorted samples, accumulating |F_ref − F_cur| times the gap to the next
 * value. Effect size and drift rule use W normalised by the reference's population standard
 * deviation (floored at 0.001, so a constant reference does not divide by zero); Evidently's
 * default threshold for it is 0.1.
 */
#include <math.h>
#include <stdio.h>

#include "drift_op.h"

double drift_wasserstein1(const double *a, size_t n, const double *b, size_t m);

double drift_wasserstein1(const double *a, size_t n, const double *b, size_t m)
{
    size_t i = 0, j = 0;
    double w = 0;
    double x = a[0] < b[0] ? a[0] : b[0];
    while (i < n || j < m) {
        /* Advance past every value equal to x on both sides, then add the strip to the next. */
        while (i < n && a[i] <= x) {
            i++;
        }
        while (j < m && b[j] <= x) {
            j++;
        }
        if (i == n && j == m) {
            break;
        }
        double next = i < n ? a[i] : b[j];
        if (j < m && b[j] < next) {
            next = b[j];
        }
        w += fabs((double)i / (double)n - (double)j / (double)m) * (next - x);
        x = next;
    }
    return w;
}

static int wasserstein_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                               const struct drift_stat_params *p, struct drift_stat_result *out)
{
    if (ref->sorted == NULL || cur->sorted == NULL || ref->nsorted == 0 || cur->nsorted == 0) {
        return DRIFT_EINVAL;
    }
    double w = drift_wasserstein1(ref->sorted, ref->nsorted, cur->sorted, cur->nsorted);
    double sd = ref->ref_std;
    if (!(sd > 0)) {
        /* Not given: the reference sample's own population std. */
        double s = 0, s2 = 0;
        for (size_t i = 0; i < ref->nsorted; i++) {
            s += ref->sorted[i];
        }
        double mean = s / (double)ref->nsorted;
        for (size_t i = 0; i < ref->nsorted; i++) {
            s2 += (ref->sorted[i] - mean) * (ref->sorted[i] - mean);
        }
        sd = sqrt(s2 / (double)ref->nsorted);
    }
    if (sd < 0.001) {
        sd = 0.001;
    }
    double thr = p != NULL && p->threshold > 0 ? p->threshold : 0.1;
    out->statistic = w;
    out->effect = w / sd;
    out->pvalue = NAN;
    out->threshold = thr;
    out->dof = 0;
    out->drifted = out->effect >= thr;
    snprintf(out->rule, sizeof(out->rule), "wasserstein/std >= %g", thr);
    return 0;
}

const struct drift_stat_ops drift_stat_wasserstein = {
    "wasserstein", "Wasserstein-1 distance on raw values, normalised by the reference std", 1, 0,
    0.1, wasserstein_compare};
