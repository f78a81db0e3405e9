/*
 * Streaming mean and covariance, updated per batch through BLAS.
 *
 * Each update takes the batch's complete rows (rows with a missing value, NaN or ±inf, are skipped
 * and counted: listwise deletion; one infinite value would spoil the running state for good),
 * computes their mean with dgemv and their scatter matrix with a rank-k update (dsyrk) on the
 * centred rows, and merges that into the running state with Chan, Golub and LeVeque's pairwise
 * formula: M2 = M2a + M2b + δδᵀ·na·nb/n with δ = mean_b − mean_a (a rank-1 dsyr). The same merge
 * joins two partitions' moments, so summaries are mergeable. Only the upper triangle of M2 is
 * maintained.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "drift_op.h"

/* Memory: mean (d), m2 (d*d), then work: row scratch (d*max_rows), the batch's mean (d) and
 * scatter (d*d), delta (d), and a vector of max_rows ones for the dgemv column sums. */
size_t drift_moments_size(int d, size_t max_rows)
{
    size_t dd = (size_t)d;
    return (dd + dd * dd + dd * max_rows + dd + dd * dd + dd + max_rows) * sizeof(double);
}

void drift_moments_init(struct drift_moments *m, int d, size_t max_rows, void *mem)
{
    double *p = mem;
    size_t dd = (size_t)d;
    m->d = d;
    m->max_rows = max_rows;
    m->mean = p;
    m->m2 = p + dd;
    m->work = p + dd + dd * dd;
    double *ones = m->work + dd * max_rows + dd + dd * dd + dd;
    for (size_t i = 0; i < max_rows; i++) {
        ones[i] = 1.0;
    }
    drift_moments_reset(m);
}

void drift_moments_reset(struct drift_moments *m)
{
    size_t dd = (size_t)m->d;
    m->n = 0;
    m->skipped = 0;
    memset(m->mean, 0, dd * sizeof(double));
    memset(m->m2, 0, dd * dd * sizeof(double));
}

static double *batch_mean(const struct drift_moments *m)
{
    return m->work + (size_t)m->d * m->max_rows;
}

static double *batch_m2(const struct drift_moments *m)
{
    return batch_mean(m) + m->d;
}

static double *delta_buf(const struct drift_moments *m)
{
    return batch_m2(m) + (size_t)m->d * (size_t)m->d;
}

/* Merges (nb, mean_b, m2_b) into m: Chan et al.'s pairwise update. */
static void merge(struct drift_moments *m, uint64_t nb, const double *mean_b, const double *m2_b)
{
    int d = m->d;
    if (nb == 0) {
        return;
    }
    if (m->n == 0) {
        memcpy(m->mean, mean_b, (size_t)d * sizeof(double));
        memcpy(m->m2, m2_b, (size_t)d * (size_t)d * sizeof(double));
        m->n = nb;
        return;
    }
    double na = (double)m->n, nbd = (double)nb, n = na + nbd;
    double *delta = delta_buf(m);
    for (int j = 0; j < d; j++) {
        delta[j] = mean_b[j] - m->mean[j];
    }
    for (int j = 0; j < d; j++) {
        for (int i = 0; i <= j; i++) {
            m->m2[(size_t)j * (size_t)d + (size_t)i] += m2_b[(size_t)j * (size_t)d + (size_t)i];
        }
    }
    cblas_dsyr(CblasColMajor, CblasUpper, d, na * nbd / n, delta, 1, m->m2, d);
    cblas_daxpy(d, nbd / n, delta, 1, m->mean, 1);
    m->n += nb;
}

int drift_moments_update(struct drift_moments *m, const double *x, size_t ld, size_t n)
{
    int d = m->d;
    if (n > m->max_rows || (d > 1 && ld < n)) {
        return DRIFT_EINVAL;
    }
    if (d <= 0 || n == 0) {
        return 0;
    }
    /* Gather the complete rows, column-major with leading dimension max_rows. */
    double *w = m->work;
    size_t ldw = m->max_rows, k = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < d; j++) {
            if (!isfinite(x[(size_t)j * ld + i])) {
                ok = 0;
                break;
            }
        }
        if (!ok) {
            m->skipped++;
            continue;
        }
        for (int j = 0; j < d; j++) {
            w[(size_t)j * ldw + k] = x[(size_t)j * ld + i];
        }
        k++;
    }
    if (k == 0) {
        return 0;
    }
    /* Batch mean = wᵀ·1 / k (dgemv). */
    double *meanb = batch_mean(m), *m2b = batch_m2(m), *ones = delta_buf(m) + d;
    cblas_dgemv(CblasColMajor, CblasTrans, (int)k, d, 1.0 / (double)k, w, (int)ldw, ones, 1, 0.0,
                meanb, 1);
    for (int j = 0; j < d; j++) {
        double *col = w + (size_t)j * ldw;
        double mu = meanb[j];
        for (size_t i = 0; i < k; i++) {
            col[i] -= mu;
        }
    }
    /* Scatter of the centred rows: a rank-k update. */
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, d, (int)k, 1.0, w, (int)ldw, 0.0, m2b, d);
    merge(m, k, meanb, m2b);
    return 0;
}

int drift_moments_merge(struct drift_moments *dst, const struct drift_moments *src)
{
    if (dst->d != src->d) {
        return DRIFT_EINVAL;
    }
    dst->skipped += src->skipped;
    merge(dst, src->n, src->mean, src->m2);
    return 0;
}

double drift_moments_cov(const struct drift_moments *m, int i, int j)
{
    if (m->n < 2) {
        return NAN;
    }
    if (i > j) {
        int t = i;
        i = j;
        j = t;
    }
    return m->m2[(size_t)j * (size_t)m->d + (size_t)i] / (double)(m->n - 1);
}

/* Layout (host byte order): magic u32, version u32, d u32, pad u32, n u64, skipped u64, mean[d],
 * then the upper triangle of the scatter matrix column by column (d(d+1)/2 doubles). */
#define MOMENTS_MAGIC 0x4d4f4d31u /* "MOM1" */
#define MOMENTS_VERSION 1u

static size_t moments_state_size(int d)
{
    size_t dd = (size_t)d;
    return 32 + dd * 8 + dd * (dd + 1) / 2 * 8;
}

size_t drift_moments_save(const struct drift_moments *m, void *buf, size_t len)
{
    size_t need = moments_state_size(m->d);
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    uint32_t hdr[4] = {MOMENTS_MAGIC, MOMENTS_VERSION, (uint32_t)m->d, 0};
    uint64_t cnt[2] = {m->n, m->skipped};
    memcpy(p, hdr, 16);
    memcpy(p + 16, cnt, 16);
    memcpy(p + 32, m->mean, (size_t)m->d * 8);
    size_t o = 32 + (size_t)m->d * 8;
    for (int j = 0; j < m->d; j++) {
        memcpy(p + o, m->m2 + (size_t)j * (size_t)m->d, (size_t)(j + 1) * 8);
        o += (size_t)(j + 1) * 8;
    }
    return need;
}

int drift_moments_load(struct drift_moments *m, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (buf == NULL || len != moments_state_size(m->d)) {
        return DRIFT_ESTATE;
    }
    uint32_t hdr[4];
    uint64_t cnt[2];
    memcpy(hdr, p, 16);
    memcpy(cnt, p + 16, 16);
    if (hdr[0] != MOMENTS_MAGIC || hdr[1] != MOMENTS_VERSION || hdr[2] != (uint32_t)m->d) {
        return DRIFT_ESTATE;
    }
    /* Check before changing m: finite numbers, scatter diagonal >= 0, all zero when n = 0. */
    size_t nv = moments_state_size(m->d) / 8 - 4;
    const unsigned char *v = p + 32;
    size_t next_diag = (size_t)m->d; /* index of scatter entry (0,0) */
    for (size_t i = 0, j = 0; i < nv; i++) {
        double x;
        memcpy(&x, v + i * 8, 8);
        if (!isfinite(x) || (cnt[0] == 0 && x != 0)) {
            return DRIFT_ESTATE;
        }
        if (i == next_diag) { /* (j, j): the last entry of column j */
            if (x < 0) {
                return DRIFT_ESTATE;
            }
            j++;
            next_diag += j + 1;
        }
    }
    m->n = cnt[0];
    m->skipped = cnt[1];
    memcpy(m->mean, v, (size_t)m->d * 8);
    size_t o = (size_t)m->d * 8;
    for (int j = 0; j < m->d; j++) {
        memcpy(m->m2 + (size_t)j * (size_t)m->d, v + o, (size_t)(j + 1) * 8);
        o += (size_t)(j + 1) * 8;
    }
    return 0;
}
