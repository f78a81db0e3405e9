/*
 * Binned and categorical drift statistics: PSI, KL, Jensen–Shannon, Hellinger, L-infinity and
 * the unseen share, on the shares of non-missing values per bin (numeric features, bins fixed
 * from the reference) or per category.
 *
 *   PSI       = Σ (cᵢ − rᵢ) ln(cᵢ/rᵢ), zero shares replaced by ε (1e-4) in both terms, so a bin
 *               one side never saw counts as strongly different rather than infinitely; rule of
 *               thumb: < 0.1 stable, 0.1–0.2 moderate, > 0.2 significant (the default)
 *   KL(c‖r)   = Σ cᵢ ln(cᵢ/rᵢ), zero shares replaced by ε (1e-4) in both terms, as for PSI
 *   JS        = √(½ Σ cᵢ log₂(cᵢ/mᵢ) + ½ Σ rᵢ log₂(rᵢ/mᵢ)), mᵢ = (cᵢ+rᵢ)/2, unsmoothed
 *               (scipy.spatial.distance.jensenshannon(c, r, base=2)); in [0, 1]
 *   Hellinger = √(1 − Σ √(cᵢ rᵢ)) = ‖√c − √r‖₂/√2, unsmoothed; in [0, 1]
 *   L∞        = maxᵢ |cᵢ − rᵢ| (TFDV's categorical distance)
 *   unseen    = share of current values in categories the reference never had
 *
 * Each reports its value as both statistic and effect size, has no p-value, and drifts when the
 * value reaches its threshold.
 */
#include <math.h>
#include <stdio.h>

#include "drift_op.h"

/* Shares of the two colsums into r and c (at most 4096 bins). Returns 0 or DRIFT_EINVAL. */
static int shares(const struct drift_colsum *ref, const struct drift_colsum *cur, double *r,
                  double *c)
{
    if (ref->nbins != cur->nbins || ref->nbins < 1 || ref->nbins > 4096) {
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
    for (int i = 0; i < ref->nbins; i++) {
        r[i] = (double)ref->counts[i] / tr;
        c[i] = (double)cur->counts[i] / tc;
    }
    return 0;
}

static int finish(struct drift_stat_result *out, double v, const struct drift_stat_params *p,
                  double dflt, const char *name)
{
    double thr = p != NULL && p->threshold > 0 ? p->threshold : dflt;
    out->statistic = v;
    out->effect = v;
    out->pvalue = NAN;
    out->threshold = thr;
    out->dof = 0;
    out->drifted = v >= thr;
    snprintf(out->rule, sizeof(out->rule), "%s >= %g", name, thr);
    return 0;
}

static int psi_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                       const struct drift_stat_params *p, struct drift_stat_result *out)
{
    double r[4096], c[4096];
    int rc = shares(ref, cur, r, c);
    if (rc != 0) {
        return rc;
    }
    double eps = p != NULL && p->epsilon > 0 ? p->epsilon : 1e-4, psi = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double ri = r[i] > 0 ? r[i] : eps, ci = c[i] > 0 ? c[i] : eps;
        psi += (ci - ri) * log(ci / ri);
    }
    return finish(out, psi, p, 0.2, "psi");
}

static int kl_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                      const struct drift_stat_params *p, struct drift_stat_result *out)
{
    double r[4096], c[4096];
    int rc = shares(ref, cur, r, c);
    if (rc != 0) {
        return rc;
    }
    double eps = p != NULL && p->epsilon > 0 ? p->epsilon : 1e-4, kl = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double ri = r[i] > 0 ? r[i] : eps, ci = c[i] > 0 ? c[i] : eps;
        kl += ci * log(ci / ri);
    }
    return finish(out, kl, p, 0.1, "kl");
}

static int js_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                      const struct drift_stat_params *p, struct drift_stat_result *out)
{
    double r[4096], c[4096];
    int rc = shares(ref, cur, r, c);
    if (rc != 0) {
        return rc;
    }
    double js = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double m = (r[i] + c[i]) / 2;
        if (c[i] > 0) {
            js += 0.5 * c[i] * log2(c[i] / m);
        }
        if (r[i] > 0) {
            js += 0.5 * r[i] * log2(r[i] / m);
        }
    }
    return finish(out, sqrt(js > 0 ? js : 0), p, 0.1, "js");
}

static int hellinger_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                             const struct drift_stat_params *p, struct drift_stat_result *out)
{
    double r[4096], c[4096];
    int rc = shares(ref, cur, r, c);
    if (rc != 0) {
        return rc;
    }
    /* ‖√c − √r‖²/2 rather than 1 − Σ√(cr): no cancellation for nearly equal shares. */
    double s = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double d = sqrt(c[i]) - sqrt(r[i]);
        s += d * d;
    }
    return finish(out, sqrt(s / 2), p, 0.1, "hellinger");
}

static int linf_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                        const struct drift_stat_params *p, struct drift_stat_result *out)
{
    double r[4096], c[4096];
    int rc = shares(ref, cur, r, c);
    if (rc != 0) {
        return rc;
    }
    double m = 0;
    for (int i = 0; i < ref->nbins; i++) {
        double d = fabs(c[i] - r[i]);
        if (d > m) {
            m = d;
        }
    }
    return finish(out, m, p, 0.2, "linf");
}

static int unseen_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                          const struct drift_stat_params *p, struct drift_stat_result *out)
{
    if (cur->nbins < 1) {
        return DRIFT_EINVAL;
    }
    double t = 0;
    for (int i = 0; i < cur->nbins; i++) {
        t += (double)cur->counts[i];
    }
    if (t <= 0) {
        return DRIFT_EINVAL;
    }
    double u = 0;
    if (cur->unseen_last) {
        u = (double)cur->counts[cur->nbins - 1] / t;
    } else {
        /* Without an unseen bucket: categories with no reference mass. */
        for (int i = 0; i < cur->nbins && i < ref->nbins; i++) {
            if (ref->counts[i] == 0) {
                u += (double)cur->counts[i];
            }
        }
        u /= t;
    }
    return finish(out, u, p, 0.05, "unseen_share");
}

const struct drift_stat_ops drift_stat_psi = {
    "psi", "Population Stability Index on reference-quantile bins or category shares", 1, 1, 0.2,
    psi_compare};
const struct drift_stat_ops drift_stat_kl = {
    "kl", "Kullback-Leibler divergence KL(current||reference)", 1, 1, 0.1, kl_compare};
const struct drift_stat_ops drift_stat_js = {"js", "Jensen-Shannon distance, base 2", 1, 1, 0.1,
                                             js_compare};
const struct drift_stat_ops drift_stat_hellinger = {"hellinger", "Hellinger distance", 1, 1, 0.1,
                                                    hellinger_compare};
const struct drift_stat_ops drift_stat_linf = {"linf", "L-infinity distance of shares", 0, 1, 0.2,
                                               linf_compare};
const struct drift_stat_ops drift_stat_unseen = {"unseen", "share of unseen categories", 0, 1, 0.05,
                                                 unseen_compare};
