/* PCA reconstruction error against scikit-learn (tests/golden/gen_mv_pca.py: StandardScaler, then
 * PCA with a fractional n_components, errors as NannyML's data reconstruction drift computes
 * them): the number of components, the reference chunks' errors and thresholds, the analysis
 * chunks' errors, per-feature squared residuals and verdicts. Then the point of the operator (a
 * correlation that flips sign with every marginal unchanged is caught), the bookkeeping
 * (feature_sq adds up to the mean squared error, rows with a missing value are skipped and
 * counted, the work buffer is not overrun) and clean errors for bad parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "drift_op.h"
#include "golden.h"

#define MAX_D 16
#define MAX_REF 2000
#define MAX_ROWS 256
#define MAX_CASES 8
#define NCHUNKS 3 /* same, flip, shift: in that order in every case */

struct golden_chunk {
    char name[16];
    size_t rows;
    double x[MAX_ROWS * MAX_D]; /* row-major */
    double error;
    double feature_sq[MAX_D];
    int drifted;
};

struct golden_case {
    char name[16];
    int d, k;
    double variance;
    size_t nref, chunk;
    double ref[MAX_REF * MAX_D]; /* row-major */
    size_t nrefchunks;
    double refchunks[64];
    double stats[4]; /* mean std lower upper */
    struct golden_chunk ch[NCHUNKS];
};

static struct golden_case cases[MAX_CASES];
static int ncases;

/* Largest relative differences seen against the goldens, reported at the end. */
static double max_err, max_thr, max_fsq;

static double reldiff(double got, double want)
{
    return fabs(got - want) / (fabs(want) > 1 ? fabs(want) : 1);
}

static void close_to(double got, double want, double tol, double *track, const char *what,
                     const struct golden_case *c)
{
    double r = reldiff(got, want);
    if (track != NULL && r > *track) {
        *track = r;
    }
    if (!(r <= tol)) {
        fail_msg("%s (case %s): %.17g vs %.17g", what, c->name, got, want);
    }
}

static void load_goldens(void)
{
    if (ncases > 0) {
        return;
    }
    FILE *f = golden_open("mv_pca.txt");
    assert_non_null(f);
    static char line[1 << 20];
    struct golden_case *c = NULL;
    int nch = 0;
    while (fgets(line, sizeof(line), f)) {
        char kw[16], name[16];
        int off = 0;
        if (line[0] == '#' || sscanf(line, "%15s", kw) != 1) {
            continue;
        }
        if (strcmp(kw, "case") == 0) {
            assert_true(ncases < MAX_CASES);
            c = &cases[ncases++];
            nch = 0;
            assert_int_equal(sscanf(line, "case %15s %d %lf %zu %zu %d", c->name, &c->d,
                                    &c->variance, &c->nref, &c->chunk, &c->k),
                             6);
            assert_true(c->d <= MAX_D && c->nref <= MAX_REF);
        } else if (strcmp(kw, "ref") == 0) {
            assert_non_null(c);
            size_t got = golden_group(line + 4, 0, c->ref, MAX_REF * MAX_D);
            assert_int_equal(got, c->nref * (size_t)c->d);
        } else if (strcmp(kw, "refchunks") == 0) {
            assert_non_null(c);
            c->nrefchunks = golden_group(line + 10, 0, c->refchunks, 64);
            assert_int_equal(c->nrefchunks, c->nref / c->chunk);
            assert_int_equal(golden_group(line + 10, 1, c->stats, 4), 4);
        } else if (strcmp(kw, "chunk") == 0) {
            assert_non_null(c);
            assert_true(nch < NCHUNKS);
            struct golden_chunk *h = &c->ch[nch++];
            size_t rows = 0;
            assert_int_equal(sscanf(line, "chunk %15s %zu %n", name, &rows, &off), 2);
            assert_true(rows <= MAX_ROWS);
            strcpy(h->name, name);
            h->rows = rows;
            const char *p = line + off;
            assert_int_equal(golden_group(p, 0, h->x, MAX_ROWS * MAX_D), rows * (size_t)c->d);
            assert_int_equal(golden_group(p, 1, &h->error, 1), 1);
            assert_int_equal(golden_group(p, 2, h->feature_sq, MAX_D), (size_t)c->d);
            double dr = 0;
            assert_int_equal(golden_group(p, 3, &dr, 1), 1);
            h->drifted = (int)dr;
        }
    }
    fclose(f);
    assert_int_equal(ncases, 5);
    for (int i = 0; i < ncases; i++) {
        assert_string_equal(cases[i].ch[0].name, "same");
        assert_string_equal(cases[i].ch[1].name, "flip");
        assert_string_equal(cases[i].ch[2].name, "shift");
    }
}

/* Row-major rows [0, n) into column-major out with leading dimension ld. */
static void to_cols(const double *rowmajor, size_t n, int d, size_t ld, double *out)
{
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) {
            out[(size_t)j * ld + i] = rowmajor[i * (size_t)d + (size_t)j];
        }
    }
}

/* Moments of row-major rows, fed in batches of 128 as the engine would. */
static double moments_mem[200000];
static void moments_of(struct drift_moments *m, const double *rowmajor, size_t n, int d)
{
    static double col[128 * MAX_D];
    assert_true(drift_moments_size(d, 128) <= sizeof(moments_mem));
    drift_moments_init(m, d, 128, moments_mem);
    for (size_t s = 0; s < n; s += 128) {
        size_t k = n - s < 128 ? n - s : 128;
        to_cols(rowmajor + s * (size_t)d, k, d, 128, col);
        assert_int_equal(drift_moments_update(m, col, 128, k), 0);
    }
}

static struct drift_pca *fit_case(const struct golden_case *c)
{
    struct drift_moments m;
    char err[128] = "";
    moments_of(&m, c->ref, c->nref, c->d);
    struct drift_pca *p = drift_pca_fit(&m, c->variance, err, sizeof(err));
    if (p == NULL) {
        fail_msg("case %s: fit failed: %s", c->name, err);
    }
    return p;
}

/* drift_pca_error on row-major rows, through a work buffer of exactly drift_pca_work doubles
 * followed by guard values that must survive. */
#define GUARD 64
static double error_of(const struct drift_pca *p, const double *rowmajor, size_t n, int d,
                       double *feature_sq, size_t *used)
{
    static double col[MAX_REF * MAX_D];
    to_cols(rowmajor, n, d, n, col);
    size_t nw = drift_pca_work(p, n);
    double *work = malloc((nw + GUARD) * sizeof(double));
    assert_non_null(work);
    for (size_t i = 0; i < GUARD; i++) {
        work[nw + i] = -12345.0;
    }
    double e = drift_pca_error(p, col, n, n, work, feature_sq, used);
    for (size_t i = 0; i < GUARD; i++) {
        assert_true(work[nw + i] == -12345.0);
    }
    free(work);
    return e;
}

static void test_pca_matches_sklearn(void **state)
{
    load_goldens();
    for (int ci = 0; ci < ncases; ci++) {
        const struct golden_case *c = &cases[ci];
        struct drift_pca *p = fit_case(c);
        if (drift_pca_components(p) != c->k) {
            fail_msg("case %s: %d components, sklearn keeps %d", c->name, drift_pca_components(p),
                     c->k);
        }
        /* The reference's own chunks and the thresholds drawn from them. */
        double ref_err[64];
        for (size_t i = 0; i < c->nrefchunks; i++) {
            size_t used = 0;
            ref_err[i] =
                error_of(p, c->ref + i * c->chunk * (size_t)c->d, c->chunk, c->d, NULL, &used);
            assert_int_equal(used, c->chunk);
            close_to(ref_err[i], c->refchunks[i], 1e-9, &max_err, "reference chunk error", c);
        }
        for (int h = 0; h < NCHUNKS; h++) {
            const struct golden_chunk *g = &c->ch[h];
            double fsq[MAX_D];
            size_t used = 0;
            double e = error_of(p, g->x, g->rows, c->d, fsq, &used);
            assert_int_equal(used, g->rows);
            close_to(e, g->error, 1e-9, &max_err, g->name, c);
            for (int j = 0; j < c->d; j++) {
                close_to(fsq[j], g->feature_sq[j], 1e-9, &max_fsq, "feature_sq", c);
            }
            struct drift_mv_result r;
            drift_pca_verdict(p, e, ref_err, c->nrefchunks, 3.0, fsq, &r);
            double sd = (r.threshold - r.lower) / 6;
            close_to((r.threshold + r.lower) / 2, c->stats[0], 1e-9, &max_thr, "mean", c);
            close_to(sd, c->stats[1], 1e-9, &max_thr, "std", c);
            close_to(r.lower, c->stats[2], 1e-9, &max_thr, "lower", c);
            close_to(r.threshold, c->stats[3], 1e-9, &max_thr, "upper", c);
            if (r.drifted != g->drifted) {
                fail_msg("case %s chunk %s: drifted %d, expected %d", c->name, g->name, r.drifted,
                         g->drifted);
            }
            assert_true(r.statistic == e);
            assert_true(isnan(r.pvalue));
            assert_int_equal(r.components, c->k);
        }
        drift_pca_free(p);
    }
    printf("pca goldens: %d cases; max relative difference: errors %.2g, thresholds %.2g, "
           "feature_sq %.2g\n",
           ncases, max_err, max_thr, max_fsq);
}

/* The flip chunk holds the same rows as the same chunk with one feature reflected around (about)
 * its mean: every feature's mean and variance are unchanged, so per-feature tests see nothing,
 * while the reconstruction error leaves the reference band, and the reflected feature is the one
 * the verdict names first. */
static void test_correlation_flip_caught(void **state)
{
    load_goldens();
    for (int ci = 0; ci < ncases; ci++) {
        const struct golden_case *c = &cases[ci];
        const struct golden_chunk *same = &c->ch[0], *flip = &c->ch[1];
        struct drift_moments ms, mf;
        moments_of(&ms, same->x, same->rows, c->d);
        /* moments_of reuses one buffer; copy the first summary's numbers aside. */
        double mean_s[MAX_D], var_s[MAX_D];
        for (int j = 0; j < c->d; j++) {
            mean_s[j] = ms.mean[j];
            var_s[j] = ms.m2[j * c->d + j];
        }
        moments_of(&mf, flip->x, flip->rows, c->d);
        int flipped = -1;
        for (int j = 0; j < c->d; j++) {
            double sd = sqrt(var_s[j] / (double)same->rows);
            assert_true(fabs(mf.mean[j] - mean_s[j]) <= 1e-3 * (sd > 0 ? sd : 1));
            assert_true(fabs(mf.m2[j * c->d + j] - var_s[j]) <= 1e-9 * (var_s[j] + 1e-300));
            for (size_t i = 0; i < flip->rows; i++) {
                if (flip->x[i * (size_t)c->d + (size_t)j] !=
                    same->x[i * (size_t)c->d + (size_t)j]) {
                    flipped = j;
                }
            }
        }
        assert_true(flipped >= 0);

        struct drift_pca *p = fit_case(c);
        double ref_err[64], fsq[MAX_D];
        for (size_t i = 0; i < c->nrefchunks; i++) {
            ref_err[i] =
                error_of(p, c->ref + i * c->chunk * (size_t)c->d, c->chunk, c->d, NULL, NULL);
        }
        struct drift_mv_result r;
        double e = error_of(p, same->x, same->rows, c->d, fsq, NULL);
        drift_pca_verdict(p, e, ref_err, c->nrefchunks, 3.0, fsq, &r);
        assert_false(r.drifted);
        e = error_of(p, flip->x, flip->rows, c->d, fsq, NULL);
        drift_pca_verdict(p, e, ref_err, c->nrefchunks, 3.0, fsq, &r);
        assert_true(r.drifted);
        assert_true(r.statistic > r.threshold);
        if (r.top[0] != flipped) {
            fail_msg("case %s: top feature %d, reflected %d", c->name, r.top[0], flipped);
        }
        drift_pca_free(p);
    }
}

/* The per-feature mean squared residuals add up to the mean of the rows' squared errors; each
 * row's error comes from a one-row call. */
static void test_feature_sq_sums_to_mean_square(void **state)
{
    load_goldens();
    for (int ci = 0; ci < ncases; ci++) {
        const struct golden_case *c = &cases[ci];
        struct drift_pca *p = fit_case(c);
        for (int h = 0; h < NCHUNKS; h++) {
            const struct golden_chunk *g = &c->ch[h];
            double fsq[MAX_D], one[MAX_D], sum = 0, mse = 0, mean = 0;
            error_of(p, g->x, g->rows, c->d, fsq, NULL);
            for (int j = 0; j < c->d; j++) {
                sum += fsq[j];
            }
            for (size_t i = 0; i < g->rows; i++) {
                size_t used = 0;
                double e = error_of(p, g->x + i * (size_t)c->d, 1, c->d, one, &used);
                assert_int_equal(used, 1);
                mse += e * e;
                mean += e;
            }
            mse /= (double)g->rows;
            mean /= (double)g->rows;
            close_to(sum, mse, 1e-12, NULL, "sum of feature_sq", c);
            close_to(mean, g->error, 1e-9, NULL, "mean of one-row errors", c);
        }
        drift_pca_free(p);
    }
}

/* Rows with NaN or ±inf in any feature (a left-out constant one included) are skipped and not
 * counted; the block may sit in a larger matrix (ld > n). */
static void test_missing_rows_skipped(void **state)
{
    load_goldens();
    const struct golden_case *c = &cases[4]; /* "const": feature 2 is left out */
    assert_string_equal(c->name, "const");
    const struct golden_chunk *g = &c->ch[2];
    struct drift_pca *p = fit_case(c);

    /* Every fourth row of the block is an extra row with a missing value somewhere. */
    static double col[4 * MAX_ROWS * MAX_D];
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    size_t n = 0, ld = 2 * g->rows, extra = 0;
    for (size_t i = 0; i < g->rows; i++) {
        if (i % 3 == 0) {
            for (int j = 0; j < c->d; j++) {
                col[(size_t)j * ld + n] = g->x[i * (size_t)c->d + (size_t)j];
            }
            col[(size_t)(extra % (size_t)c->d) * ld + n] = bad[extra % 3];
            n++;
            extra++;
        }
        for (int j = 0; j < c->d; j++) {
            col[(size_t)j * ld + n] = g->x[i * (size_t)c->d + (size_t)j];
        }
        n++;
    }
    assert_true(n <= ld);
    double *work = malloc(drift_pca_work(p, n) * sizeof(double));
    assert_non_null(work);
    double fsq[MAX_D];
    size_t used = 0;
    double e = drift_pca_error(p, col, ld, n, work, fsq, &used);
    assert_int_equal(used, g->rows);
    close_to(e, g->error, 1e-9, NULL, "error with missing rows", c);
    for (int j = 0; j < c->d; j++) {
        close_to(fsq[j], g->feature_sq[j], 1e-9, NULL, "feature_sq with missing rows", c);
    }
    assert_true(fsq[2] == 0); /* left out */

    /* No complete row: NAN, nothing used. */
    for (size_t i = 0; i < n; i++) {
        col[(size_t)(i % (size_t)c->d) * ld + i] = NAN;
    }
    e = drift_pca_error(p, col, ld, n, work, fsq, &used);
    assert_true(isnan(e));
    assert_int_equal(used, 0);
    assert_true(isnan(fsq[0]));
    /* Empty block, or a leading dimension below n: NAN. */
    assert_true(isnan(drift_pca_error(p, col, ld, 0, work, NULL, &used)));
    assert_true(isnan(drift_pca_error(p, col, n - 1, n, work, NULL, &used)));
    assert_int_equal(used, 0);
    free(work);
    drift_pca_free(p);
}

static void test_fit_errors(void **state)
{
    static double mem[4096];
    struct drift_moments m;
    char err[128];
    /* Three features, four rows, the middle one varying. */
    double col[12] = {1, 1, 1, 1, 0, 2, 4, 8, 5, 5, 5, 5};
    drift_moments_init(&m, 3, 4, mem);
    assert_int_equal(drift_moments_update(&m, col, 4, 4), 0);

    const double bad[] = {1.5, 0, 1, -0.1, NAN, INFINITY};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_null(drift_pca_fit(&m, bad[i], err, sizeof(err)));
        assert_true(strstr(err, "pca: variance must be in (0, 1), got ") == err);
    }
    assert_null(drift_pca_fit(&m, 1.5, err, sizeof(err)));
    assert_string_equal(err, "pca: variance must be in (0, 1), got 1.5");

    /* One varying feature: a one-component model, in which every row reconstructs exactly. */
    struct drift_pca *p = drift_pca_fit(&m, 0.65, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(drift_pca_components(p), 1);
    assert_int_equal(drift_pca_work(p, 10), 20);
    double x[3] = {1, 100, 5}, w[2], fsq[3];
    size_t used;
    assert_true(drift_pca_error(p, x, 1, 1, w, fsq, &used) == 0);
    assert_true(used == 1 && fsq[0] == 0 && fsq[1] == 0 && fsq[2] == 0);
    drift_pca_free(p);

    /* All features constant, or too few rows: nothing to model. */
    double flat[12] = {1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, -3, -3, -3, -3};
    drift_moments_reset(&m);
    assert_int_equal(drift_moments_update(&m, flat, 4, 4), 0);
    err[0] = 0;
    assert_null(drift_pca_fit(&m, 0.65, err, sizeof(err)));
    assert_string_equal(err, "pca: no feature varies in the reference (3 features, n = 4)");
    drift_moments_reset(&m);
    assert_int_equal(drift_moments_update(&m, col, 4, 1), 0);
    assert_null(drift_pca_fit(&m, 0.65, err, sizeof(err)));
    assert_string_equal(err, "pca: no feature varies in the reference (3 features, n = 1)");
    drift_moments_reset(&m);
    assert_null(drift_pca_fit(&m, 0.65, err, sizeof(err)));
    assert_null(drift_pca_fit(NULL, 0.65, err, sizeof(err)));
    assert_null(drift_pca_fit(&m, 0.65, NULL, 0)); /* no error buffer: still clean */

    drift_pca_free(NULL);
    assert_int_equal(drift_pca_components(NULL), 0);
    assert_int_equal(drift_pca_work(NULL, 10), 0);
    assert_true(isnan(drift_pca_error(NULL, x, 1, 1, w, NULL, &used)));
}

/* The verdict's bookkeeping: the rule text, the top list without left-out features and capped
 * at DRIFT_MV_TOP, no top without feature_sq, NAN chunks ignored, no reference no verdict. */
static void test_verdict(void **state)
{
    load_goldens();
    const struct golden_case *c = &cases[4]; /* "const", d = 5, feature 2 left out */
    struct drift_pca *p = fit_case(c);
    const double ref[] = {1.0, 2.0, NAN, 3.0}; /* mean 2, std sqrt(2/3) */
    double sd = sqrt(2.0 / 3.0);
    struct drift_mv_result r;
    drift_pca_verdict(p, 4.5, ref, 4, 3.0, c->ch[1].feature_sq, &r);
    assert_true(fabs(r.threshold - (2 + 3 * sd)) < 1e-15 && fabs(r.lower - (2 - 3 * sd)) < 1e-15);
    assert_true(r.drifted && r.statistic == 4.5 && isnan(r.pvalue));
    assert_string_equal(r.rule, "error outside [-0.4495, 4.449]");
    assert_int_equal(r.components, 1);
    assert_int_equal(r.ntop, 4);
    for (int i = 0; i < DRIFT_MV_TOP; i++) {
        assert_int_equal(r.top2[i], -1);
        assert_true(i >= r.ntop || r.top[i] != 2);
        assert_true(i >= r.ntop || r.contrib[i] == c->ch[1].feature_sq[r.top[i]]);
        assert_true(i == 0 || i >= r.ntop || r.contrib[i] <= r.contrib[i - 1]);
    }
    drift_pca_verdict(p, 2.0, ref, 4, 3.0, NULL, &r);
    assert_false(r.drifted);
    assert_int_equal(r.ntop, 0);
    drift_pca_verdict(p, -1.0, ref, 4, 3.0, NULL, &r); /* below the band */
    assert_true(r.drifted);
    drift_pca_verdict(p, NAN, ref, 4, 3.0, NULL, &r);
    assert_false(r.drifted);
    drift_pca_verdict(p, 2.0, ref, 0, 3.0, NULL, &r);
    assert_true(isnan(r.threshold) && isnan(r.lower) && !r.drifted);
    drift_pca_free(p);

    /* Twelve features: the top eight, largest first. */
    c = &cases[2];
    assert_string_equal(c->name, "d12");
    p = fit_case(c);
    const double *fsq = c->ch[2].feature_sq;
    drift_pca_verdict(p, 1.0, ref, 4, 3.0, fsq, &r);
    assert_int_equal(r.ntop, DRIFT_MV_TOP);
    for (int i = 0; i < DRIFT_MV_TOP; i++) {
        int bigger = 0;
        for (int j = 0; j < c->d; j++) {
            bigger += fsq[j] > fsq[r.top[i]];
        }
        assert_int_equal(bigger, i);
    }
    drift_pca_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca_matches_sklearn),
        cmocka_unit_test(test_correlation_flip_caught),
        cmocka_unit_test(test_feature_sq_sums_to_mean_square),
        cmocka_unit_test(test_missing_rows_skipped),
        cmocka_unit_test(test_fit_errors),
        cmocka_unit_test(test_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
