/*
 * mv-bench: the matrix work of the multivariate tests, in CPU time.
 *
 * usage: mv-bench [THREADS]   (OpenBLAS threads, default 1)
 *
 * 1. Covariance per batch: one drift_moments_update (dgemv + dsyrk + dsyr) of 1024 rows
 *    against a naive triple loop computing the same mean and upper scatter, at d = 16, 64, 128,
 *    256, on the same data in the same run; the ratio is naive / BLAS.
 * 2. Window-close latency at d = 128, window 1024 (reference 5000 rows): Hotelling T² and
 *    correlation drift from moments, the PCA reconstruction error of the 1024 window rows, and
 *    MMD on 250 vs 250 rows with 100 permutations (the daemon's defaults) and its linear-time
 *    estimate on 1024 vs 1024 rows, each the median of repeated calls (wall time).
 * Prints one JSON object per line.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drift_op.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double gauss(void)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        u[i] = ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* rows × d column-major, features correlated through a random mixing of the first ones */
static double *make_rows(size_t rows, int d, double shift)
{
    double *x = malloc(rows * (size_t)d * sizeof(double));
    for (size_t i = 0; i < rows; i++) {
        double z0 = gauss();
        for (int j = 0; j < d; j++) {
            x[i + (size_t)j * rows] = 0.5 * z0 + gauss() + (j == 0 ? shift : 0);
        }
    }
    return x;
}

/* The same mean and upper scatter as a moments update, by three loops. */
static void naive(const double *x, size_t n, int d, double *mean, double *m2)
{
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            s += x[i + (size_t)j * n];
        }
        mean[j] = s / (double)n;
    }
    for (int k = 0; k < d; k++) {
        for (int j = 0; j <= k; j++) {
            double s = 0;
            for (size_t i = 0; i < n; i++) {
                s += (x[i + (size_t)j * n] - mean[j]) * (x[i + (size_t)k * n] - mean[k]);
            }
            m2[j + (size_t)k * (size_t)d] = s;
        }
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    openblas_set_num_threads(threads > 0 ? threads : 1);
    const size_t B = 1024;
    static const int ds[] = {16, 64, 128, 256};
    for (size_t t = 0; t < sizeof(ds) / sizeof(ds[0]); t++) {
        int d = ds[t];
        double *x = make_rows(B, d, 0);
        struct drift_moments m;
        void *mem = malloc(drift_moments_size(d, B));
        drift_moments_init(&m, d, B, mem);
        double *mean = malloc((size_t)d * sizeof(double));
        double *m2 = malloc((size_t)d * (size_t)d * sizeof(double));
        int reps = (int)(2e8 / ((double)B * d * d)) + 3;
        double c0 = cpu_now();
        for (int r = 0; r < reps; r++) {
            drift_moments_reset(&m);
            drift_moments_update(&m, x, B, B);
        }
        double blas = (cpu_now() - c0) / reps;
        c0 = cpu_now();
        for (int r = 0; r < reps; r++) {
            naive(x, B, d, mean, m2);
        }
        double loop = (cpu_now() - c0) / reps;
        /* the two agree (a benchmark of a wrong result is no benchmark) */
        double worst = 0;
        for (int k = 0; k < d; k++) {
            for (int j = 0; j <= k; j++) {
                double a = m.m2[j + (size_t)k * (size_t)d], b = m2[j + (size_t)k * (size_t)d];
                worst = fmax(worst, fabs(a - b) / (1 + fabs(b)));
            }
        }
        printf("{\"bench\": \"covariance\", \"threads\": %d, \"d\": %d, \"rows\": %zu, "
               "\"blas_us\": %.2f, \"naive_us\": %.2f, \"ratio\": %.2f, "
               "\"rows_per_cpu_s\": %.0f, \"max_rel_diff\": %.2g}\n",
               threads, d, B, blas * 1e6, loop * 1e6, loop / blas, (double)B / blas, worst);
        free(x);
        free(mem);
        free(mean);
        free(m2);
    }

    /* window-close latency at d = 128, window 1024, reference 5000 */
    const int d = 128;
    const size_t W = 1024, R = 5000;
    double *ref = make_rows(R, d, 0), *win = make_rows(W, d, 0.3);
    struct drift_moments mr, mw;
    void *memr = malloc(drift_moments_size(d, 256)), *memw = malloc(drift_moments_size(d, 256));
    drift_moments_init(&mr, d, 256, memr);
    drift_moments_init(&mw, d, 256, memw);
    for (size_t s = 0; s < R; s += 250) {
        drift_moments_update(&mr, ref + s, R, 250);
    }
    for (size_t s = 0; s < W; s += 256) {
        drift_moments_update(&mw, win + s, W, 256);
    }
    double *work = malloc(drift_hotelling_work(d) * sizeof(double));
    char err[160];
    struct drift_pca *pca = drift_pca_fit(&mr, 0.65, err, sizeof(err));
    double *pwork = malloc(drift_pca_work(pca, W) * sizeof(double));
    double *sq = malloc((size_t)d * sizeof(double));
    const size_t S = 250; /* the daemon's default multivariate.mmd_sample */
    double *xs = malloc(S * (size_t)d * sizeof(double)), *ys = malloc(S * (size_t)d * sizeof(double));
    for (size_t i = 0; i < S; i++) {
        for (int j = 0; j < d; j++) {
            xs[i + (size_t)j * S] = ref[i * R / S + (size_t)j * R];
            ys[i + (size_t)j * S] = win[i * W / S + (size_t)j * W];
        }
    }
    struct drift_mmd_params mp = {.permutations = 100};
    double *mwork = malloc(drift_mmd_work(S, S, d, &mp) * sizeof(double));
    static const char *const names[] = {"hotelling", "correlation", "pca", "mmd",
                                        "mmd_linear"};
    struct drift_mmd_params lin = {.permutations = 100, .linear_above = 100};
    double *lwork = malloc(drift_mmd_work(W, W, d, &lin) * sizeof(double));
    for (int test = 0; test < 5; test++) {
        double times[31];
        int reps = test == 3 ? 9 : 31;
        struct drift_mv_result res;
        for (int r = 0; r < reps; r++) {
            double t0 = wall_now();
            switch (test) {
            case 0: drift_hotelling(&mr, &mw, 0.01, 0.01, work, &res); break;
            case 1: drift_corr_drift(&mr, &mw, 0.3, &res); break;
            case 2: drift_pca_error(pca, win, W, W, pwork, sq, NULL); break;
            case 3: drift_mmd(xs, S, S, ys, S, S, d, &mp, mwork, &res); break;
            default: drift_mmd(ref, R, W, win, W, W, d, &lin, lwork, &res); break;
            }
            times[r] = wall_now() - t0;
        }
        printf("{\"bench\": \"window_close\", \"threads\": %d, \"test\": \"%s\", \"d\": %d, "
               "\"window\": %zu, \"ms\": %.3f}\n",
               threads, names[test], d, test == 3 ? S : W, median(times, reps) * 1e3);
    }
    drift_pca_free(pca);
    free(ref);
    free(win);
    free(memr);
    free(memw);
    free(work);
    free(pwork);
    free(sq);
    free(xs);
    free(ys);
    free(mwork);
    free(lwork);
    return 0;
}
