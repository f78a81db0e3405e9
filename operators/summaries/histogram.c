/*
 * Histogram bins fixed from the reference: interior edges at the reference quantiles k/B
 * (numpy's default linear interpolation), duplicates removed, so every bin holds reference mass
 * and a value's bin is the number of edges at or below it. An empty reference has no edges (one
 * bin), never a NaN edge.
 */
#include <math.h>

#include "drift_op.h"

double drift_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0 || isnan(q)) {
        return NAN;
    }
    if (q <= 0) {
        return sorted[0];
    }
    if (q >= 1) {
        return sorted[n - 1];
    }
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    double frac = h - (double)lo;
    if (lo + 1 >= n) {
        return sorted[n - 1];
    }
    /* numpy's _lerp: a + (b - a) * t, evaluated from the nearer end for t >= 0.5. */
    double a = sorted[lo], b = sorted[lo + 1], diff = b - a;
    double v = a + diff * frac;
    if (frac >= 0.5) {
        v = b - diff * (1.0 - frac);
    }
    return a == b ? a : v;
}

int drift_hist_edges(const double *sorted, size_t n, int nbins, double *edges)
{
    int ne = 0;
    if (n == 0) {
        return 0;
    }
    for (int k = 1; k < nbins; k++) {
        double e = drift_quantile_sorted(sorted, n, (double)k / (double)nbins);
        if (ne == 0 || e > edges[ne - 1]) {
            edges[ne++] = e;
        }
    }
    return ne;
}
