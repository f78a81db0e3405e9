/*
 * PCA reconstruction error: multivariate drift as NannyML's data reconstruction drift defines it.
 *
 * The reference's correlation structure is learnt once: features are standardised with the
 * reference mean and population std (sklearn's StandardScaler), and the principal axes of the
 * standardised data are the eigenvectors of the correlation matrix, which the fit builds from the
 * drift_moments scatter matrix instead of from the rows (so a reference of any length, merged
 * from partitions, fits in O(d³)). LAPACKE_dsyevr gives all eigenpairs; the fit keeps the fewest
 * leading components whose cumulative explained-variance ratio is strictly greater than
 * `variance`, which is sklearn's rule for a fractional n_components.
 *
 * A window row is standardised, projected on the kept axes and reconstructed; its error is the
 * distance from the reconstruction. Rows that respect the reference's correlations lie close to
 * the kept subspace, so a change in how features move together raises the mean error even when
 * every feature's own distribution is unchanged, which no per-feature test can see. The whole
 * block goes through two dgemm calls (projection, then residual = z − t·Vᵀ): the residual is
 * formed explicitly rather than as ‖z‖² − ‖t‖², because that difference cancels badly when the
 * error is small, and because the per-feature residuals say where the drift is.
 *
 * Departures from NannyML, on purpose: rows with a missing value are skipped, not imputed (the
 * reference moments skipped them too); features with zero reference variance are left out of the
 * model (sklearn keeps them with scale 1, so a constant feature that starts to vary raises its
 * error; here it contributes nothing, and the per-feature tests are the ones to catch it); the
 * data is centred on exactly 0 where sklearn's PCA subtracts the standardised reference's mean,
 * which is 0 up to rounding.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define CONST_EPS 2.220446049250313e-16 /* DBL_EPSILON: sklearn's constant-feature bound */

/* One allocation: the struct, then mean, std and the eigenvectors (m×m, column-major, component
 * c in column c, descending eigenvalue; only the first k are used), then the kept indices. */
struct drift_pca {
    int d;        /* features in the rows given to drift_pca_error */
    int m;        /* features kept: nonzero reference variance */
    int k;        /* principal components kept */
    int *keep;    /* m: the input feature of kept feature a */
    double *mean; /* m: reference mean */
    double *std;  /* m: reference population std (> 0) */
    double *v;    /* m*m: eigenvectors of the correlation matrix, leading dimension m */
    double mem[];
};

/* sklearn's _is_constant_feature: a variance within the rounding error of its two-pass
 * computation is zero. var is the population variance, mean the mean, n the count. */
static int is_constant(double var, double mean, double n)
{
    double bound = n * CONST_EPS * var + (n * mean * CONST_EPS) * (n * mean * CONST_EPS);
    return !(var > bound);
}

/* Returns a model the caller owns (one malloc; drift_pca_free releases it), or NULL with err
 * filled: variance outside (0, 1), no feature with nonzero variance over at least 2 rows, out of
 * memory, or a failed decomposition. ref is only read. */
struct drift_pca *drift_pca_fit(const struct drift_moments *ref, double variance, char *err,
                                size_t errlen)
{
    if (ref == NULL || ref->d <= 0) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "pca: the reference needs at least one feature");
        return NULL;
    }
    if (!(variance > 0 && variance < 1)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "pca: variance must be in (0, 1), got %g",
                     variance);
        return NULL;
    }
    int d = ref->d, m = 0;
    double n = (double)ref->n;
    if (ref->n >= 2) {
        for (int j = 0; j < d; j++) {
            double var = ref->m2[(size_t)j * (size_t)d + (size_t)j] / n;
            m += !is_constant(var, ref->mean[j], n);
        }
    }
    if (m == 0) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "pca: no feature varies in the reference (%d features, n = %llu)", d,
                     (unsigned long long)ref->n);
        return NULL;
    }

    size_t mm = (size_t)m;
    struct drift_pca *p =
        malloc(sizeof(*p) + (2 * mm + mm * mm) * sizeof(double) + mm * sizeof(int));
    /* Scratch for the decomposition: the correlation matrix (destroyed), the eigenvalues, and
     * the eigenvectors' support (2m ints). */
    double *a = malloc((mm * mm + mm) * sizeof(double) + 2 * mm * sizeof(lapack_int));
    if (p == NULL || a == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "pca: out of memory for %d features", m);
        goto fail;
    }
    p->d = d;
    p->m = m;
    p->mean = p->mem;
    p->std = p->mean + mm;
    p->v = p->std + mm;
    p->keep = (int *)(p->v + mm * mm);
    for (int j = 0, i = 0; j < d && ref->n >= 2; j++) {
        double var = ref->m2[(size_t)j * (size_t)d + (size_t)j] / n;
        if (!is_constant(var, ref->mean[j], n)) {
            p->keep[i] = j;
            p->mean[i] = ref->mean[j];
            p->std[i] = sqrt(var);
            i++;
        }
    }

    /* Correlation matrix of the kept features, upper triangle: the covariance of the
     * standardised reference. */
    double *w = a + mm * mm;
    lapack_int *isuppz = (lapack_int *)(w + mm);
    for (int c = 0; c < m; c++) {
        size_t jc = (size_t)p->keep[c];
        for (int r = 0; r < c; r++) {
            size_t jr = (size_t)p->keep[r];
            a[(size_t)c * mm + (size_t)r] =
                ref->m2[jc * (size_t)d + jr] / n / (p->std[r] * p->std[c]);
        }
        a[(size_t)c * mm + (size_t)c] = 1.0;
    }
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'A', 'U', m, a, m, 0.0, 0.0, 0, 0,
                                     LAPACKE_dlamch('S'), &found, w, p->v, m, isuppz);
    if (info != 0 || found != m) {
        drift_seterr(err, errlen, DRIFT_ERANGE,
                     "pca: eigen-decomposition of the %dx%d correlation matrix failed (info %d)", m,
                     m, (int)info);
        goto fail;
    }

    /* dsyevr orders ascending: reverse values and vectors to descending. */
    for (int c = 0; c < m / 2; c++) {
        int o = m - 1 - c;
        double t = w[c];
        w[c] = w[o];
        w[o] = t;
        cblas_dswap(m, p->v + (size_t)c * mm, 1, p->v + (size_t)o * mm, 1);
    }
    /* sklearn: k = searchsorted(cumsum(ratio), variance, side="right") + 1, i.e. the first k
     * whose cumulative ratio exceeds variance. Rounding can leave tiny negative eigenvalues of
     * a singular matrix; they explain nothing. */
    double total = 0;
    for (int c = 0; c < m; c++) {
        total += w[c] > 0 ? w[c] : 0;
    }
    double cum = 0;
    p->k = m;
    for (int c = 0; c < m; c++) {
        cum += (w[c] > 0 ? w[c] : 0) / total;
        if (cum > variance) {
            p->k = c + 1;
            break;
        }
    }
    free(a);
    return p;

fail:
    free(a);
    free(p);
    return NULL;
}

void drift_pca_free(struct drift_pca *p)
{
    free(p);
}

int drift_pca_components(const struct drift_pca *p)
{
    return p == NULL ? 0 : p->k;
}

/* Work: the standardised complete rows (n×m, becoming the residual in place) and their
 * projection (n×k, whose first column first flags incomplete rows and last holds the rows'
 * squared errors). */
size_t drift_pca_work(const struct drift_pca *p, size_t n)
{
    return p == NULL ? 0 : n * ((size_t)p->m + (size_t)p->k);
}

/* Also NAN (with *used = 0) for arguments it cannot use: no model, no work, ld < n, or more rows
 * than BLAS's int can count. feature_sq is 0 for left-out features and all NAN when no row was
 * complete. */
double drift_pca_error(const struct drift_pca *p, const double *x, size_t ld, size_t n,
                       double *work, double *feature_sq, size_t *used)
{
    if (used != NULL) {
        *used = 0;
    }
    if (feature_sq != NULL && p != NULL) {
        for (int j = 0; j < p->d; j++) {
            feature_sq[j] = 0;
        }
    }
    if (p == NULL || n == 0 || n > 0x7fffffffu || x == NULL || work == NULL ||
        (p->d > 1 && ld < n)) {
        return NAN;
    }
    size_t m = (size_t)p->m, k = (size_t)p->k;
    double *z = work, *t = work + n * m;

    /* Flag rows with a missing value in any feature (kept or not), column by column so x is
     * read in its storage order. */
    double *bad = t;
    memset(bad, 0, n * sizeof(double));
    for (int j = 0; j < p->d; j++) {
        const double *col = x + (size_t)j * ld;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(col[i])) {
                bad[i] = 1;
            }
        }
    }
    /* Standardise the complete rows into z (leading dimension n), compacted. */
    size_t r = 0;
    for (size_t a = 0; a < m; a++) {
        const double *col = x + (size_t)p->keep[a] * ld;
        double mu = p->mean[a], sd = p->std[a], *zc = z + a * n;
        r = 0;
        for (size_t i = 0; i < n; i++) {
            if (bad[i] == 0) {
                zc[r++] = (col[i] - mu) / sd;
            }
        }
    }
    if (r == 0) {
        if (feature_sq != NULL) {
            for (int j = 0; j < p->d; j++) {
                feature_sq[j] = NAN;
            }
        }
        return NAN;
    }
    if (used != NULL) {
        *used = r;
    }

    /* t = z·V_k, then z ← z − t·V_kᵀ: the residual of every row on every kept feature. */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)k, (int)m, 1.0, z, (int)n,
                p->v, (int)m, 0.0, t, (int)n);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)r, (int)m, (int)k, -1.0, t, (int)n,
                p->v, (int)m, 1.0, z, (int)n);

    double *sq = t; /* the projection is spent: reuse its first column for row sums */
    memset(sq, 0, r * sizeof(double));
    for (size_t a = 0; a < m; a++) {
        const double *zc = z + a * n;
        double s = 0;
        for (size_t i = 0; i < r; i++) {
            double e2 = zc[i] * zc[i];
            sq[i] += e2;
            s += e2;
        }
        if (feature_sq != NULL) {
            feature_sq[p->keep[a]] = s / (double)r;
        }
    }
    double sum = 0;
    for (size_t i = 0; i < r; i++) {
        sum += sqrt(sq[i]);
    }
    return sum / (double)r;
}

void drift_pca_verdict(const struct drift_pca *p, double value, const double *ref_chunks,
                       size_t nref, double k, const double *feature_sq, struct drift_mv_result *out)
{
    memset(out, 0, sizeof(*out));
    out->statistic = value;
    out->pvalue = NAN;
    out->components = drift_pca_components(p);

    /* Mean and population std (np.std, ddof 0) of the reference chunks, two-pass; a chunk
     * without complete rows (NAN) has no value and is left out. */
    double sum = 0, ss = 0;
    size_t c = 0;
    for (size_t i = 0; i < nref; i++) {
        if (isfinite(ref_chunks[i])) {
            sum += ref_chunks[i];
            c++;
        }
    }
    double mean = c > 0 ? sum / (double)c : NAN;
    for (size_t i = 0; i < nref; i++) {
        if (isfinite(ref_chunks[i])) {
            ss += (ref_chunks[i] - mean) * (ref_chunks[i] - mean);
        }
    }
    double std = c > 0 ? sqrt(ss / (double)c) : NAN;
    out->lower = mean - k * std;
    out->threshold = mean + k * std;
    out->drifted = value > out->threshold || value < out->lower;
    drift_seterr(out->rule, sizeof(out->rule), 0, "error outside [%.4g, %.4g]", out->lower,
                 out->threshold);

    for (int i = 0; i < DRIFT_MV_TOP; i++) {
        out->top[i] = -1;
        out->top2[i] = -1;
    }
    if (p == NULL || feature_sq == NULL) {
        return;
    }
    /* The kept features by their share of the error, largest first (ties: lower index first);
     * left-out features carry nothing by construction and are not listed. */
    for (int a = 0; a < p->m; a++) {
        int j = p->keep[a];
        double s = feature_sq[j];
        if (isnan(s)) {
            continue;
        }
        int pos = out->ntop;
        while (pos > 0 && out->contrib[pos - 1] < s) {
            pos--;
        }
        if (pos >= DRIFT_MV_TOP) {
            continue;
        }
        int last = out->ntop < DRIFT_MV_TOP ? out->ntop : DRIFT_MV_TOP - 1;
        for (int q = last; q > pos; q--) {
            out->top[q] = out->top[q - 1];
            out->contrib[q] = out->contrib[q - 1];
        }
        out->top[pos] = j;
        out->contrib[pos] = s;
        if (out->ntop < DRIFT_MV_TOP) {
            out->ntop++;
        }
    }
}
