/*
 * Chi-square test of homogeneity on the 2×k table of reference and current counts per category
 * (or bin): as scipy.stats.chi2_contingency(table, correction=False). Categories absent from both
 * samples are dropped (they would give expected counts of zero); dof = (2−1)(k'−1) for the k'
 * categories left. Statistic Σ (O − E)²/E with E from the margins; p = Q(dof/2, statistic/2).
 * Effect size: Cramér's V = √(χ² / N) (for a 2×k table min(r−1, k−1) = 1).
 *
 * Q, the regularised upper incomplete gamma function, is computed by its power series below
 * x < a + 1 and by its continued fraction (modified Lentz) above, the standard split that keeps
 * both converging quickly and accurately.
 */
#include <math.h>
#include <stdio.h>

#include "drift_op.h"

static double gamma_p_series(double a, double x)
{
    double sum = 1.0 / a, term = sum, ap = a;
    for (int n = 0; n < 10000; n++) {
        ap += 1;
        term *= x / ap;
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) {
            break;
        }
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

static double gamma_q_fraction(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny) {
            d = tiny;
        }
        c = b + an / c;
        if (fabs(c) < tiny) {
            c = tiny;
        }
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-17) {
            break;
        }
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double drift_gamma_q(double a, double x)
{
    if (!(a > 0) || x < 0 || isnan(x)) {
        return NAN;
    }
    if (x == 0) {
        return 1;
    }
    if (isinf(x)) {
        return 0;
    }
    if (x < a + 1) {
        double pr = gamma_p_series(a, x);
        return pr >= 1 ? 0 : 1 - pr;
    }
    return gamma_q_fraction(a, x);
}

static int chi2_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                        const struct drift_stat_params *p, struct drift_stat_result *out)
{
    if (ref->nbins != cur->nbins || ref->nbins < 1) {
        return DRIFT_EINVAL;
    }
    double tr = 0, tc = 0;
    int k = 0;
    for (int i = 0; i < ref->nbins; i++) {
        tr += (double)ref->counts[i];
        tc += (double)cur->counts[i];
        k += ref->counts[i] + cur->counts[i] > 0;
    }
    if (tr <= 0 || tc <= 0) {
        return DRIFT_EINVAL;
    }
    double n = tr + tc, stat = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double col = (double)ref->counts[i] + (double)cur->counts[i];
        if (col <= 0) {
            continue;
        }
        double er = col * tr / n, ec = col * tc / n;
        double dr = (double)ref->counts[i] - er, dc = (double)cur->counts[i] - ec;
        stat += dr * dr / er + dc * dc / ec;
    }
    int dof = k - 1;
    double alpha = p != NULL && p->threshold > 0 ? p->threshold : 0.05;
    out->statistic = stat;
    out->dof = dof;
    out->pvalue = dof > 0 ? drift_gamma_q(dof / 2.0, stat / 2.0) : 1.0;
    out->effect = sqrt(stat / n);
    out->threshold = alpha;
    out->drifted = out->pvalue < alpha;
    snprintf(out->rule, sizeof(out->rule), "chi2 p < %g", alpha);
    return 0;
}

const struct drift_stat_ops drift_stat_chi2 = {"chi2", "chi-square test of homogeneity", 0, 1, 0.05,
                                               chi2_compare};
