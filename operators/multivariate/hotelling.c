/*
 * Multivariate drift from moments: the two-sample Hotelling T² with its F p-value, and the
 * largest change of a pairwise correlation.
 *
 * Both work from drift_moments (mean and scatter, updated per batch with dsyrk and mergeable
 * across partitions), so a window's test costs O(d³) at close, independent of the window's
 * length, and never touches the rows again. T² solves S_λ v = δ through a Cholesky factor
 * (LAPACKE dpotrf/dpotrs) rather than forming an inverse. The pooled covariance is shrunk toward
 * its mean variance (S_λ = (1−λ)S + λ·tr(S)/d·I, the target of Ledoit and Wolf's simplest
 * estimator) so that nearly collinear or constant features do not make the test explode; λ = 0
 * is the textbook test, whose F distribution is exact for Gaussian data.
 *
 * The F survival function is the regularised incomplete beta function, evaluated by its
 * continued fraction (modified Lentz) on the side where it converges, with the prefactor in
 * logarithms so that p-values far below 1e-300 underflow to 0 gracefully instead of to NaN.
 */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "drift_op.h"

#define BETA_ITERS 10000 /* continued-fraction terms at most; ~100 suffice for moderate a, b */
#define BETA_EPS 1e-16   /* relative change at which the fraction has converged */
#define TINY 1e-300      /* Lentz's guard against division by zero */

/* The continued fraction of I_x(a, b) (valid for x < (a+1)/(a+b+2)), without its prefactor. */
static double beta_cf(double a, double b, double x)
{
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < TINY) {
        d = TINY;
    }
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= BETA_ITERS; m++) {
        double m2 = 2.0 * m;
        /* even step */
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = fabs(d) < TINY ? 1.0 / TINY : 1.0 / d;
        c = fabs(c) < TINY ? TINY : c;
        h *= d * c;
        /* odd step */
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        d = fabs(d) < TINY ? 1.0 / TINY : 1.0 / d;
        c = fabs(c) < TINY ? TINY : c;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < BETA_EPS) {
            break;
        }
    }
    return h;
}

/* δ(x) = lnΓ(x) − [(x−½)ln x − x + ½ln 2π]: Stirling's remainder, small for large x. */
static double stirling_rest(double x)
{
    if (x >= 10) {
        double r = 1.0 / x, r2 = r * r;
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 -
                    r2 / 1188))));
    }
    return lgamma(x) - ((x - 0.5) * log(x) - x + 0.5 * log(2 * M_PI));
}

/* x^a (1−x)^b / (a·B(a, b)), through logarithms. lnΓ(a+b) − lnΓ(a) − lnΓ(b) taken directly
 * loses ~1e-9 of the result when a or b is large (lnΓ(5·10⁵) ≈ 6·10⁶), so the Stirling parts
 * are combined by hand around the mode p0 = a/(a+b) and only the small remainders are left:
 *   a·ln(x/p0) + b·ln((1−x)/q0) + ½ln(ab/(a+b)) − ½ln 2π + δ(a+b) − δ(a) − δ(b). */
static double beta_front(double a, double b, double x, double y)
{
    double p0 = a / (a + b), q0 = b / (a + b);
    double dx = x < 0.5 ? x - p0 : q0 - y; /* x − p0 from whichever of x, y = 1−x is exact */
    double lf = a * log1p(dx / p0) + b * log1p(-dx / q0) +
                0.5 * log(a * b / (a + b)) - 0.5 * log(2 * M_PI) + stirling_rest(a + b) -
                stirling_rest(a) - stirling_rest(b);
    return exp(lf) / a;
}

/* I_x(a, b) given x and y = 1 − x, each as exact as the caller has it (1 − x computed from an x
 * near 1 would lose digits). */
static double betainc2(double a, double b, double x, double y)
{
    if (x == 0 || y == 0) {
        return x == 0 ? 0.0 : 1.0;
    }
    if (x < (a + 1.0) / (a + b + 2.0)) {
        return beta_front(a, b, x, y) * beta_cf(a, b, x);
    }
    return 1.0 - beta_front(b, a, y, x) * beta_cf(b, a, y);
}

double drift_betainc(double a, double b, double x)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1) || isinf(a) || isinf(b)) {
        return NAN;
    }
    return betainc2(a, b, x, 1.0 - x);
}

double drift_f_sf(double x, double d1, double d2)
{
    if (isnan(x) || !(d1 > 0) || !(d2 > 0)) {
        return NAN;
    }
    if (x <= 0) {
        return 1.0;
    }
    if (isinf(x)) {
        return 0.0;
    }
    /* P(F > x) = I_{d2/(d2 + d1·x)}(d2/2, d1/2); the complement form keeps a small p exact */
    double den = d2 + d1 * x;
    return betainc2(d2 / 2.0, d1 / 2.0, d2 / den, d1 * x / den);
}

/* Inserts (i, j, v) into the top list by |v| descending, keeping at most DRIFT_MV_TOP. */
static void top_insert(struct drift_mv_result *out, int i, int j, double v)
{
    int n = out->ntop;
    if (n == DRIFT_MV_TOP && fabs(v) <= fabs(out->contrib[n - 1])) {
        return;
    }
    int at = n < DRIFT_MV_TOP ? n : n - 1;
    while (at > 0 && fabs(out->contrib[at - 1]) < fabs(v)) {
        out->top[at] = out->top[at - 1];
        out->top2[at] = out->top2[at - 1];
        out->contrib[at] = out->contrib[at - 1];
        at--;
    }
    out->top[at] = i;
    out->top2[at] = j;
    out->contrib[at] = v;
    if (n < DRIFT_MV_TOP) {
        out->ntop++;
    }
}

static void result_init(struct drift_mv_result *out)
{
    memset(out, 0, sizeof(*out));
    out->statistic = out->pvalue = out->threshold = out->lower = NAN;
    for (int i = 0; i < DRIFT_MV_TOP; i++) {
        out->top[i] = out->top2[i] = -1;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Hotelling T²
 * -------------------------------------------------------------------------------------------*/
size_t drift_hotelling_work(int d)
{
    return d > 0 ? (size_t)d * (size_t)d + (size_t)d : 0;
}

int drift_hotelling(const struct drift_moments *r, const struct drift_moments *w, double shrinkage,
                    double alpha, double *work, struct drift_mv_result *out)
{
    result_init(out);
    if (r == NULL || w == NULL || work == NULL || r->d != w->d || r->d < 1 ||
        !(shrinkage >= 0 && shrinkage <= 1)) {
        return DRIFT_EINVAL;
    }
    int d = r->d;
    double nr = (double)r->n, nw = (double)w->n, n = nr + nw;
    if (!(n > d + 1.0) || r->n == 0 || w->n == 0) {
        return DRIFT_EINVAL;
    }
    size_t dd = (size_t)d;
    double *s = work, *v = work + dd * dd;
    /* pooled covariance, upper triangle, and its mean variance */
    double tr = 0;
    for (size_t j = 0; j < dd; j++) {
        for (size_t i = 0; i <= j; i++) {
            s[i + j * dd] = (r->m2[i + j * dd] + w->m2[i + j * dd]) / (n - 2.0);
        }
        tr += s[j + j * dd];
    }
    double target = tr / d;
    for (size_t j = 0; j < dd; j++) {
        for (size_t i = 0; i <= j; i++) {
            s[i + j * dd] *= 1.0 - shrinkage;
        }
        s[j + j * dd] += shrinkage * target;
        v[j] = w->mean[j] - r->mean[j];
    }
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', d, s, d) != 0) {
        return DRIFT_ERANGE; /* not positive definite: a constant feature with λ = 0 */
    }
    /* v = S⁻¹δ, with δ still readable from the means */
    if (LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', d, 1, s, d, v, d) != 0) {
        return DRIFT_ERANGE;
    }
    double scale = nr * nw / n, t2 = 0;
    for (int j = 0; j < d; j++) {
        double c = scale * (w->mean[j] - r->mean[j]) * v[j];
        t2 += c;
        top_insert(out, j, -1, c);
    }
    out->statistic = t2;
    out->df1 = d;
    out->df2 = n - d - 1.0;
    double f = (n - d - 1.0) / (d * (n - 2.0)) * t2;
    out->pvalue = drift_f_sf(f, out->df1, out->df2);
    out->threshold = alpha;
    out->drifted = out->pvalue < alpha;
    snprintf(out->rule, sizeof(out->rule), "hotelling p < %g", alpha);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Correlation drift
 * -------------------------------------------------------------------------------------------*/
/* Pearson correlation (i < j) from a scatter matrix's upper triangle; NAN with a zero variance. */
static double corr(const struct drift_moments *m, int i, int j)
{
    size_t dd = (size_t)m->d;
    double vi = m->m2[i + i * dd], vj = m->m2[j + j * dd];
    if (!(vi > 0) || !(vj > 0)) {
        return NAN;
    }
    return m->m2[(size_t)i + (size_t)j * dd] / sqrt(vi * vj);
}

int drift_corr_drift(const struct drift_moments *r, const struct drift_moments *w,
                     double threshold, struct drift_mv_result *out)
{
    result_init(out);
    if (r == NULL || w == NULL || r->d != w->d || r->d < 2 || r->n < 2 || w->n < 2) {
        return DRIFT_EINVAL;
    }
    double best = 0;
    for (int j = 1; j < r->d; j++) {
        for (int i = 0; i < j; i++) {
            double a = corr(r, i, j), b = corr(w, i, j);
            if (isnan(a) || isnan(b)) {
                continue;
            }
            double delta = b - a;
            if (fabs(delta) > best) {
                best = fabs(delta);
            }
            top_insert(out, i, j, delta);
        }
    }
    out->statistic = best;
    out->threshold = threshold;
    out->drifted = best >= threshold;
    snprintf(out->rule, sizeof(out->rule), "max |delta correlation| >= %g", threshold);
    return 0;
}
