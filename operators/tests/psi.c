/*
 * Population Stability Index on bins fixed from the reference (numeric) or on category shares
 * (categorical): PSI = Σ (c_i − r_i)·ln(c_i / r_i) over shares of non-missing values, with zero
 * shares replaced by ε (1e-4 unless the params say otherwise) in both terms, so a bin that one
 * side never saw counts as strongly different rather than infinitely. Effect size = PSI itself.
 * Rule of thumb: < 0.1 stable, 0.1–0.2 moderate shift, > 0.2 significant (the default threshold).
 */
#include <math.h>
#include <stdio.h>

#include "drift_op.h"

static int psi_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                       const struct drift_stat_params *p, struct drift_stat_result *out)
{
    if (ref->nbins != cur->nbins || ref->nbins < 1) {
        return DRIFT_EINVAL;
    }
    double tr = 0, tc = 0;
    for (int i = 0; i < ref->nbins; i++) {
        tr += (double)ref->counts[i];
        tc += (double)cur->counts[i];
    }
    if (tr <= 0 || tc <= 0) {
        return DRIFT_EINVAL;
    }
    double eps = p != NULL && p->epsilon > 0 ? p->epsilon : 1e-4;
    double psi = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double r = (double)ref->counts[i] / tr, c = (double)cur->counts[i] / tc;
        if (r == 0) {
            r = eps;
        }
        if (c == 0) {
            c = eps;
        }
        psi += (c - r) * log(c / r);
    }
    double thr = p != NULL && p->threshold > 0 ? p->threshold : 0.2;
    out->statistic = psi;
    out->pvalue = NAN;
    out->effect = psi;
    out->threshold = thr;
    out->drifted = psi >= thr;
    snprintf(out->rule, sizeof(out->rule), "psi >= %g", thr);
    return 0;
}

const struct drift_stat_ops drift_stat_psi = {
    .name = "psi",
    .description = "Population Stability Index on reference-quantile bins or category shares",
    .numeric = 1,
    .categorical = 1,
    .default_threshold = 0.2,
    .compare = psi_compare,
};
