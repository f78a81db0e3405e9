/*
 * Multiple-testing correction across features: with many features tested in every window, some
 * p-values fall below alpha by chance alone. Adjusted p-values are compared with alpha as the
 * raw ones would be.
 *
 *   Bonferroni:          p'ᵢ = min(1, m·pᵢ)       (controls the family-wise error rate)
 *   Benjamini–Hochberg:  p'₍ᵢ₎ = min over j >= i of min(1, m·p₍ⱼ₎/j), p₍₁₎ <= ... <= p₍ₘ₎
 *                                                (controls the false discovery rate)
 * as statsmodels' multipletests('bonferroni' / 'fdr_bh') and scipy's false_discovery_control.
 * NaN p-values (untested features) stay NaN and do not count in m.
 */
#include <math.h>
#include <stdlib.h>

#include "drift_op.h"

static const double *sort_base;

static int by_p(const void *a, const void *b)
{
    double x = sort_base[*(const size_t *)a], y = sort_base[*(const size_t *)b];
    return x < y ? -1 : (x > y ? 1 : 0);
}

int drift_pvalue_adjust(const double *p, size_t n, int method, double *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m += !isnan(p[i]);
        out[i] = NAN;
    }
    if (m == 0) {
        return 0;
    }
    if (method == DRIFT_ADJUST_BONFERRONI) {
        for (size_t i = 0; i < n; i++) {
            if (!isnan(p[i])) {
                double v = p[i] * (double)m;
                out[i] = v < 1 ? v : 1;
            }
        }
        return 0;
    }
    if (method != DRIFT_ADJUST_BH) {
        return DRIFT_EINVAL;
    }
    size_t *idx = malloc(m * sizeof(size_t));
    if (idx == NULL) {
        return DRIFT_ENOMEM;
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!isnan(p[i])) {
            idx[k++] = i;
        }
    }
    sort_base = p; /* qsort has no context argument; this runs on one thread */
    qsort(idx, m, sizeof(size_t), by_p);
    double run = 1;
    for (size_t r = m; r-- > 0;) {
        double v = p[idx[r]] * (double)m / (double)(r + 1);
        if (v < run) {
            run = v;
        }
        out[idx[r]] = run;
    }
    free(idx);
    return 0;
}
