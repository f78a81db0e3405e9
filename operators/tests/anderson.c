/*
 * k-sample Anderson–Darling test (Scholz and Stephens 1987), as scipy.stats.anderson_ksamp
 * reports it with its defaults (midrank=True); driftd uses it with k = 2.
 *
 * Statistic, eq. 7 (the midrank version, right for ties): over the distinct pooled values z_j
 * with l_j pooled copies, B_j = (pooled values < z_j) + l_j/2 and, per sample i of size n_i,
 * M_ij = (values of i ≤ z_j) − (values of i = z_j)/2:
 *   A²_akN = (N−1)/N · Σ_i 1/n_i · Σ_j l_j/N · (N·M_ij − B_j·n_i)² / (B_j(N − B_j) − N·l_j/4).
 * It is standardised with its exact variance under the null (eq. 4, with H, h and g the sums
 * of reciprocals given there): statistic = (A²_akN − (k−1)) / σ_N.
 *
 * p-value: Scholz and Stephens tabulate the critical values at 25%, 10%, 5%, 2.5%, 1%, 0.5% and
 * 0.1% as b0 + b1/√(k−1) + b2/(k−1); like scipy, driftd fits a quadratic in the statistic to the
 * log of those levels by least squares and evaluates it, and outside the tabulated range reports
 * the range's end: p is capped at 0.25 and floored at 0.001. So a p-value of exactly 0.25 means
 * "0.25 or more", 0.001 means "0.001 or less".
 *
 * Effect size: A²_akN·N/(n·m) for two samples, the CDF difference weighted by 1/(H(1−H)) that
 * the statistic integrates, without the factor that grows with the sample.
 */
#include <math.h>
#include <stdio.h>

#include "drift_op.h"

#define AD_MAX_SAMPLES 16

double drift_anderson_ksamp(const double *const *s, const size_t *n, int k, double *a2akn);
double drift_anderson_pvalue(double stat, int k);

/* Standardised A²_akN of k sorted samples; NAN when there are fewer than two distinct values,
 * an empty sample, fewer than four values in all, or k out of 2..AD_MAX_SAMPLES. *a2akn gets
 * the unstandardised statistic when non-NULL. */
double drift_anderson_ksamp(const double *const *s, const size_t *n, int k, double *a2akn)
{
    if (k < 2 || k > AD_MAX_SAMPLES) {
        return NAN;
    }
    size_t pos[AD_MAX_SAMPLES] = {0};
    double N = 0, H = 0;
    for (int i = 0; i < k; i++) {
        if (n[i] == 0) {
            return NAN;
        }
        N += (double)n[i];
        H += 1.0 / (double)n[i];
    }
    double sum[AD_MAX_SAMPLES] = {0};
    size_t below = 0, distinct = 0;
    for (;;) {
        /* The next distinct pooled value and its copies in each sample. */
        double z = INFINITY;
        int any = 0;
        for (int i = 0; i < k; i++) {
            if (pos[i] < n[i] && (!any || s[i][pos[i]] < z)) {
                z = s[i][pos[i]];
                any = 1;
            }
        }
        if (!any) {
            break;
        }
        size_t eq[AD_MAX_SAMPLES], l = 0;
        for (int i = 0; i < k; i++) {
            size_t e = pos[i];
            while (e < n[i] && s[i][e] == z) {
                e++;
            }
            eq[i] = e - pos[i];
            l += eq[i];
        }
        double lj = (double)l, bj = (double)below + lj / 2.0;
        double w = lj / (N * (bj * (N - bj) - N * lj / 4.0)); /* one division per value */
        for (int i = 0; i < k; i++) {
            double mij = (double)(pos[i] + eq[i]) - (double)eq[i] / 2.0;
            double d = N * mij - bj * (double)n[i];
            sum[i] += w * d * d;
            pos[i] += eq[i];
        }
        below += l;
        distinct++;
    }
    if (distinct < 2) {
        return NAN;
    }
    double akn = 0;
    for (int i = 0; i < k; i++) {
        akn += sum[i] / (double)n[i];
    }
    akn *= (N - 1.0) / N;
    if (a2akn != NULL) {
        *a2akn = akn;
    }
    /* h = Σ_{j=1}^{N−1} 1/j; g = Σ_{i=1}^{N−2} Σ_{j=i+1}^{N−1} 1/((N−i)·j), accumulated as
     * scipy does: the running sum of 1/(N−1), 1/(N−2), ... divided by 2, 3, ... */
    size_t nn = (size_t)N;
    double hs = 0, g = 0;
    for (size_t t = 0; t + 2 < nn; t++) {
        hs += 1.0 / (double)(nn - 1 - t);
        g += hs / (double)(t + 2);
    }
    double h = hs + 1.0, kk = k;
    double a = (4 * g - 6) * (kk - 1) + (10 - 6 * g) * H;
    double b = (2 * g - 4) * kk * kk + 8 * h * kk + (2 * g - 14 * h - 4) * H - 8 * h + 4 * g - 6;
    double c = (6 * h + 2 * g - 2) * kk * kk + (4 * h - 4 * g + 6) * kk + (2 * h - 6) * H + 4 * h;
    double d = (2 * h + 6) * kk * kk - 4 * h * kk;
    double var = (a * N * N * N + b * N * N + c * N + d) / ((N - 1) * (N - 2) * (N - 3));
    if (!(var > 0) || !isfinite(var)) {
        return NAN;
    }
    return (akn - (kk - 1)) / sqrt(var);
}

/* The interpolated significance level of the standardised statistic for k samples. */
double drift_anderson_pvalue(double stat, int k)
{
    static const double b0[7] = {0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085};
    static const double b1[7] = {-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615};
    static const double b2[7] = {-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154};
    static const double sig[7] = {0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001};
    if (isnan(stat) || k < 2) {
        return NAN;
    }
    double m = k - 1, crit[7];
    for (int i = 0; i < 7; i++) {
        crit[i] = b0[i] + b1[i] / sqrt(m) + b2[i] / m;
    }
    /* The critical values increase with the level's rarity, so the table's ends are its
     * first and last entries. */
    if (stat < crit[0]) {
        return sig[0];
    }
    if (stat > crit[6]) {
        return sig[6];
    }
    /* Least-squares quadratic through (crit, log sig), by Householder QR of the 7×3 Vandermonde
     * matrix (the normal equations would square its condition number). */
    double A[3][7], y[7];
    for (int i = 0; i < 7; i++) {
        A[0][i] = crit[i] * crit[i];
        A[1][i] = crit[i];
        A[2][i] = 1;
        y[i] = log(sig[i]);
    }
    for (int c = 0; c < 3; c++) {
        double nrm = 0;
        for (int i = c; i < 7; i++) {
            nrm += A[c][i] * A[c][i];
        }
        nrm = sqrt(nrm);
        double alpha = A[c][c] > 0 ? -nrm : nrm;
        double v[7] = {0}, vv = 0;
        for (int i = c; i < 7; i++) {
            v[i] = A[c][i];
        }
        v[c] -= alpha;
        for (int i = c; i < 7; i++) {
            vv += v[i] * v[i];
        }
        /* Reflect every remaining column and y through v. */
        for (int cc = c; cc < 3; cc++) {
            double dot = 0;
            for (int i = c; i < 7; i++) {
                dot += v[i] * A[cc][i];
            }
            for (int i = c; i < 7; i++) {
                A[cc][i] -= 2 * dot / vv * v[i];
            }
        }
        double dot = 0;
        for (int i = c; i < 7; i++) {
            dot += v[i] * y[i];
        }
        for (int i = c; i < 7; i++) {
            y[i] -= 2 * dot / vv * v[i];
        }
    }
    double coef[3];
    for (int c = 2; c >= 0; c--) {
        double r = y[c];
        for (int cc = c + 1; cc < 3; cc++) {
            r -= A[cc][c] * coef[cc];
        }
        coef[c] = r / A[c][c];
    }
    return exp((coef[0] * stat + coef[1]) * stat + coef[2]);
}

static int anderson_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                            const struct drift_stat_params *p, struct drift_stat_result *out)
{
    if (ref->sorted == NULL || cur->sorted == NULL || ref->nsorted == 0 || cur->nsorted == 0) {
        return DRIFT_EINVAL;
    }
    const double *s[2] = {ref->sorted, cur->sorted};
    size_t n[2] = {ref->nsorted, cur->nsorted};
    double akn = NAN;
    double stat = drift_anderson_ksamp(s, n, 2, &akn);
    if (isnan(stat)) {
        return DRIFT_EINVAL; /* one distinct value in all, or too few values */
    }
    double alpha = p != NULL && p->threshold > 0 ? p->threshold : 0.01;
    double N = (double)n[0] + (double)n[1];
    out->statistic = stat;
    out->pvalue = drift_anderson_pvalue(stat, 2);
    out->effect = akn * N / ((double)n[0] * (double)n[1]);
    out->threshold = alpha;
    out->dof = 0;
    out->drifted = out->pvalue < alpha;
    snprintf(out->rule, sizeof(out->rule), "anderson p < %g", alpha);
    return 0;
}

const struct drift_stat_ops drift_stat_anderson = {
    .name = "anderson",
    .description = "k-sample Anderson-Darling test (two samples) on raw values",
    .numeric = 1,
    .categorical = 0,
    .default_threshold = 0.01,
    .compare = anderson_compare,
};
