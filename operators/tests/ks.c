/*
 * Two-sample Kolmogorov–Smirnov test on the raw values of the reference and the window.
 *
 * D = sup |F_ref(x) − F_cur(x)| is exact, ties included: both empirical CDFs step past all values
 * equal to x before they are compared (as scipy.stats.ks_2samp does).
 *
 * The two-sided p-value follows scipy's ks_2samp default (method='auto'):
 * - exact when max(n, m) <= 10000: the probability that a random lattice path from (0,0) to
 *   (n,m) stays strictly inside |i/n − j/m| < D, by dynamic programming over the normalised
 *   path counts f(i,j) = paths(i,j)/C(i+j,i), f(i,j) = f(i−1,j)·i/(i+j) + f(i,j−1)·j/(i+j),
 *   which stays in [0,1] and never overflows; p = 1 − f(n,m). The band test is done in integers,
 *   |i·m − j·n| < round(D·n·m), so ties and rounding cannot move a path across it.
 * - asymptotic otherwise: kstwo.sf(D, round(n·m/(n+m))), the exact distribution of the
 *   one-sample statistic at the effective size, rounded half to even as numpy does
 *   (operators/tests/kstwo.c).
 * The exact path costs O(n·m); params->ks_exact_cells can lower the switch (the daemon bounds
 * window closes to 10⁶ cells), in which case larger samples get scipy's asymptotic value.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "drift_op.h"

#define KS_AUTO_MAX_N 10000 /* scipy's switch: exact while both samples are this small */

double drift_ks_statistic(const double *a, size_t n, const double *b, size_t m);

/* Index of the first element of a[lo..n) that is >= x (strict = 0) or > x (strict = 1),
 * found by galloping from lo: cheap when consecutive queries are close. */
static size_t gallop(const double *a, size_t n, size_t lo, double x, int strict)
{
    size_t step = 1, hi = lo;
    while (hi < n && (strict ? a[hi] <= x : a[hi] < x)) {
        lo = hi + 1;
        hi += step;
        step <<= 1;
    }
    if (hi > n) {
        hi = n;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strict ? a[mid] <= x : a[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* D between sample a (n, sorted) and sample b (m, sorted). Both ECDFs are step functions; on
 * each interval between consecutive distinct values of b the ECDF of b is constant and that of a
 * is monotone, so the supremum is reached at a value w of b, either just below it or at it:
 * D = max over distinct w of |A(w-) - B(w-)| and |A(w) - B(w)|. A(w-) and A(w) are found by
 * a linear advance through a, or by galloping when a is much longer than b, so a long reference
 * costs O(m log(n/m)) per window rather than O(n). */
double drift_ks_statistic(const double *a, size_t n, const double *b, size_t m)
{
    double d = 0;
    size_t j = 0;
    int sparse = n > 8 * m; /* gallop only when b is much shorter than a */
    for (size_t i = 0; i < m;) {
        double w = b[i];
        size_t i2 = i + 1;
        while (i2 < m && b[i2] == w) {
            i2++;
        }
        size_t jlt = j, jle;
        if (sparse) {
            jlt = gallop(a, n, j, w, 0);
            jle = gallop(a, n, jlt, w, 1);
        } else {
            while (jlt < n && a[jlt] < w) {
                jlt++;
            }
            jle = jlt;
            while (jle < n && a[jle] <= w) {
                jle++;
            }
        }
        double lo = fabs((double)jlt / (double)n - (double)i / (double)m);
        double hi = fabs((double)jle / (double)n - (double)i2 / (double)m);
        if (lo > d) {
            d = lo;
        }
        if (hi > d) {
            d = hi;
        }
        j = jle;
        i = i2;
    }
    return d;
}

/* P(D >= d) exactly, for the two-sided statistic d of samples of sizes n and m; NAN when the
 * m+1 doubles of scratch cannot be allocated. Up to m = 1023 the scratch is on the stack, so the
 * small tests a detector runs per update (KSWIN) never allocate. */
static double ks_exact_sf(double d, size_t n, size_t m)
{
    long long h = llround(d * (double)n * (double)m);
    if (h <= 0) {
        return 1.0;
    }
    double stackbuf[1024];
    double *f = m + 1 <= sizeof(stackbuf) / sizeof(stackbuf[0]) ? stackbuf
                                                                : malloc((m + 1) * sizeof(double));
    if (f == NULL) {
        return NAN;
    }
    /* Row i = 0: f(0,j) = 1 while inside, 0 after the first point outside. */
    f[0] = 1.0;
    for (size_t j = 1; j <= m; j++) {
        long long v = (long long)j * (long long)n;
        f[j] = (v < h && f[j - 1] > 0) ? 1.0 : 0.0;
    }
    for (size_t i = 1; i <= n; i++) {
        long long im = (long long)i * (long long)m;
        f[0] = (im < h && f[0] > 0) ? 1.0 : 0.0;
        for (size_t j = 1; j <= m; j++) {
            long long v = im - (long long)j * (long long)n;
            if (v < 0) {
                v = -v;
            }
            if (v >= h) {
                f[j] = 0.0;
            } else {
                double s = (double)(i + j);
                f[j] = f[j] * ((double)i / s) + f[j - 1] * ((double)j / s);
            }
        }
    }
    double inside = f[m];
    if (f != stackbuf) {
        free(f);
    }
    double p = 1.0 - inside;
    return p < 0 ? 0 : (p > 1 ? 1 : p);
}

static int ks_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                      const struct drift_stat_params *p, struct drift_stat_result *out)
{
    size_t n = ref->nsorted, m = cur->nsorted;
    if (ref->sorted == NULL || cur->sorted == NULL || n == 0 || m == 0) {
        return DRIFT_EINVAL;
    }
    double d = drift_ks_statistic(ref->sorted, n, cur->sorted, m);
    double pv;
    double cells = p != NULL ? p->ks_exact_cells : 0;
    int exact = n <= KS_AUTO_MAX_N && m <= KS_AUTO_MAX_N &&
                (cells <= 0 || (double)n * (double)m <= cells);
    if (exact) {
        pv = ks_exact_sf(d, n, m);
    } else {
        /* en >= 1/2; it rounds to 0 only for n = m = 1, which reaches here only with a budget
         * below one cell: that case gets size 1 rather than scipy's NaN. */
        double en = (double)n * (double)m / (double)(n + m);
        int ne = (int)rint(en);
        pv = drift_kstwo_sf(ne > 0 ? ne : 1, d);
    }
    if (isnan(pv)) {
        /* Both methods return NaN only when their scratch could not be allocated; a NaN p-value
         * would read as "no drift", so the failure is reported instead. */
        return DRIFT_ENOMEM;
    }
    double alpha = p != NULL && p->threshold > 0 ? p->threshold : 0.01;
    out->statistic = d;
    out->pvalue = pv;
    out->effect = d;
    out->threshold = alpha;
    out->drifted = pv < alpha;
    snprintf(out->rule, sizeof(out->rule), "ks p < %g", alpha);
    return 0;
}

const struct drift_stat_ops drift_stat_ks = {
    .name = "ks",
    .description = "two-sample Kolmogorov-Smirnov test on raw values",
    .numeric = 1,
    .categorical = 0,
    .default_threshold = 0.01,
    .compare = ks_compare,
};
