/* MMD drift test (operators/multivariate/mmd.c) against numpy: σ by the median heuristic, the
 * unbiased MMD², the exact permutation p-value (the same splitmix64 + Fisher–Yates sequence, so
 * the counts must agree), the linear-time estimate and the contributions, from
 * tests/golden/gen_mv_mmd.py. Also: a correlation flip with equal marginals is found, no drift is
 * not flagged, missing rows are skipped, exact ties count, bad arguments are refused, and every
 * call runs in exactly drift_mmd_work doubles (poisoned, with a canary after them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "golden.h"

#define MAX_CASES 32
#define CANARY 64 /* doubles checked after the work drift_mmd_work asked for */

enum {
    KIND_NULL = 0,
    KIND_SHIFT,
    KIND_CORR_FLIP,
    KIND_MISSING,
    KIND_LINEAR,
    KIND_SCALE,
    KIND_DISCRETE
};

struct mmd_case {
    int kind;
    size_t n, m;
    int d;
    struct drift_mmd_params p;
    double *x, *y; /* column-major, ld n and m */
    double stat, sigma, pvalue;
    int count, drifted, ntop;
    int top[DRIFT_MV_TOP];
    double contrib[DRIFT_MV_TOP];
};

static struct mmd_case cases[MAX_CASES];
static int ncases;

static int load_cases(void **state)
{
    FILE *f = golden_open("mv_mmd.txt");
    if (f == NULL) {
        return -1;
    }
    static char line[1 << 20];
    double head[9], res[5], top[DRIFT_MV_TOP];
    while (fgets(line, sizeof(line), f) && ncases < MAX_CASES) {
        struct mmd_case *c = &cases[ncases++];
        if (golden_group(line, 0, head, 9) != 9) {
            return -1;
        }
        c->kind = (int)head[0];
        c->n = (size_t)head[1];
        c->m = (size_t)head[2];
        c->d = (int)head[3];
        c->p.permutations = (int)head[4];
        c->p.seed = (uint64_t)head[5];
        c->p.linear_above = (size_t)head[6];
        c->p.bandwidth = head[7];
        c->p.alpha = head[8];
        size_t nx = c->n * (size_t)c->d, ny = c->m * (size_t)c->d;
        c->x = malloc(nx * sizeof(double));
        c->y = malloc(ny * sizeof(double));
        if (c->x == NULL || c->y == NULL || golden_group(line, 1, c->x, nx) != nx ||
            golden_group(line, 2, c->y, ny) != ny || golden_group(line, 3, res, 5) != 5) {
            return -1;
        }
        c->stat = res[0];
        c->sigma = res[1];
        c->pvalue = res[2];
        c->count = (int)res[3];
        c->drifted = (int)res[4];
        c->ntop = (int)golden_group(line, 4, top, DRIFT_MV_TOP);
        for (int k = 0; k < c->ntop; k++) {
            c->top[k] = (int)top[k];
        }
        if (golden_group(line, 5, c->contrib, DRIFT_MV_TOP) != (size_t)c->ntop) {
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int free_cases(void **state)
{
    for (int i = 0; i < ncases; i++) {
        free(cases[i].x);
        free(cases[i].y);
    }
    return 0;
}

/* drift_mmd in exactly drift_mmd_work(n, m, d, p) doubles, poisoned with NaN (a read before a
 * write would show in the result), followed by a canary that must survive. */
static int run_checked(const double *x, size_t ldx, size_t n, const double *y, size_t ldy, size_t m,
                       int d, const struct drift_mmd_params *p, struct drift_mv_result *out)
{
    size_t need = drift_mmd_work(n, m, d, p);
    assert_true(need > 0);
    double *work = malloc((need + CANARY) * sizeof(double));
    assert_non_null(work);
    for (size_t i = 0; i < need; i++) {
        work[i] = NAN;
    }
    for (size_t i = 0; i < CANARY; i++) {
        work[need + i] = -12345.5 - (double)i;
    }
    int rc = drift_mmd(x, ldx, n, y, ldy, m, d, p, work, out);
    for (size_t i = 0; i < CANARY; i++) {
        if (work[need + i] != -12345.5 - (double)i) {
            fail_msg("drift_mmd wrote past drift_mmd_work = %zu doubles (n %zu, m %zu, d %d)", need,
                     n, m, d);
        }
    }
    free(work);
    return rc;
}

static int run_case(const struct mmd_case *c, const struct drift_mmd_params *p,
                    struct drift_mv_result *out)
{
    return run_checked(c->x, c->n, c->n, c->y, c->m, c->m, c->d, p, out);
}

static double rel_diff(double got, double want)
{
    return fabs(got - want) / fmax(fabs(want), 1e-300);
}

static int all_default(const struct drift_mmd_params *p)
{
    return p->bandwidth == 0 && p->permutations == 0 && p->seed == 0 && p->alpha == 0 &&
           p->linear_above == 0;
}

static void test_mmd_matches_numpy(void **state)
{
    assert_true(ncases >= 10);
    double max_stat = 0, max_sigma = 0, max_plin = 0, max_contrib = 0;
    for (int i = 0; i < ncases; i++) {
        const struct mmd_case *c = &cases[i];
        struct drift_mv_result r;
        assert_int_equal(run_case(c, &c->p, &r), 0);
        double ds = rel_diff(r.statistic, c->stat), dsig = rel_diff(r.bandwidth, c->sigma);
        max_stat = fmax(max_stat, ds);
        max_sigma = fmax(max_sigma, dsig);
        if (ds > 1e-10 || dsig > 1e-10) {
            fail_msg("case %d: MMD² %.17g vs %.17g, σ %.17g vs %.17g", i, r.statistic, c->stat,
                     r.bandwidth, c->sigma);
        }
        if (c->count >= 0) {
            /* Permutation p-values are counts: exactly numpy's. */
            if (r.pvalue != c->pvalue) {
                fail_msg("case %d: p %.17g vs %.17g (numpy count %d)", i, r.pvalue, c->pvalue,
                         c->count);
            }
        } else {
            double dp = rel_diff(r.pvalue, c->pvalue);
            max_plin = fmax(max_plin, dp);
            if (dp > 1e-9) {
                fail_msg("case %d: linear p %.17g vs %.17g", i, r.pvalue, c->pvalue);
            }
        }
        assert_int_equal(r.drifted, c->drifted);
        double alpha = c->p.alpha > 0 ? c->p.alpha : 0.01;
        assert_true(r.threshold == alpha);
        char rule[96];
        snprintf(rule, sizeof(rule), "mmd p < %g", alpha);
        assert_string_equal(r.rule, rule);
        assert_true(isnan(r.lower));
        assert_true(r.df1 == 0 && r.df2 == 0 && r.components == 0);
        assert_int_equal(r.ntop, c->ntop);
        for (int k = 0; k < r.ntop; k++) {
            double dc = fabs(r.contrib[k] - c->contrib[k]) / fmax(fabs(c->contrib[k]), 1e-6);
            max_contrib = fmax(max_contrib, dc);
            if (dc > 1e-10) {
                fail_msg("case %d: contribution %d: %.17g vs %.17g", i, k, r.contrib[k],
                         c->contrib[k]);
            }
            /* The flip's contributions are rounding noise around 0: their order is too. */
            if (c->kind != KIND_CORR_FLIP) {
                assert_int_equal(r.top[k], c->top[k]);
            }
            assert_int_equal(r.top2[k], -1);
        }
        for (int k = r.ntop; k < DRIFT_MV_TOP; k++) {
            assert_int_equal(r.top[k], -1);
        }
        if (all_default(&c->p)) {
            struct drift_mv_result q;
            assert_int_equal(run_case(c, NULL, &q), 0);
            assert_true(q.statistic == r.statistic && q.pvalue == r.pvalue &&
                        q.bandwidth == r.bandwidth && q.contrib[0] == r.contrib[0]);
        }
    }
    print_message("mmd goldens: %d cases, max rel diff: MMD² %.2g, σ %.2g, linear p %.2g, "
                  "contrib %.2g\n",
                  ncases, max_stat, max_sigma, max_plin, max_contrib);
}

static void test_mmd_corr_flip_found_with_equal_marginals(void **state)
{
    int seen = 0;
    for (int i = 0; i < ncases; i++) {
        const struct mmd_case *c = &cases[i];
        if (c->kind != KIND_CORR_FLIP) {
            continue;
        }
        seen++;
        /* The marginals agree (to the six decimals the golden file keeps)... */
        for (int j = 0; j < c->d; j++) {
            const double *a = c->x + (size_t)j * c->n, *b = c->y + (size_t)j * c->m;
            double ma = 0, mb = 0, va = 0, vb = 0;
            for (size_t k = 0; k < c->n; k++) {
                ma += a[k] / (double)c->n;
            }
            for (size_t k = 0; k < c->m; k++) {
                mb += b[k] / (double)c->m;
            }
            for (size_t k = 0; k < c->n; k++) {
                va += (a[k] - ma) * (a[k] - ma) / (double)(c->n - 1);
            }
            for (size_t k = 0; k < c->m; k++) {
                vb += (b[k] - mb) * (b[k] - mb) / (double)(c->m - 1);
            }
            assert_true(fabs(ma - mb) < 1e-6 && fabs(sqrt(va) - sqrt(vb)) < 1e-6);
        }
        /* ...so no feature stands out, yet the joint distribution has moved. */
        struct drift_mv_result r;
        assert_int_equal(run_case(c, &c->p, &r), 0);
        assert_true(r.pvalue < 0.01);
        assert_int_equal(r.drifted, 1);
        for (int k = 0; k < r.ntop; k++) {
            assert_true(r.contrib[k] < 1e-6);
        }
    }
    assert_true(seen >= 1);
}

static void test_mmd_no_drift_not_flagged(void **state)
{
    int seen = 0;
    for (int i = 0; i < ncases; i++) {
        const struct mmd_case *c = &cases[i];
        if (c->kind == KIND_NULL) {
            struct drift_mv_result r;
            assert_int_equal(run_case(c, &c->p, &r), 0);
            assert_int_equal(r.drifted, 0);
            assert_true(r.pvalue > 0.05);
            seen++;
        }
    }
    assert_true(seen >= 3);
}

/* Removing the rows with a NaN or ±inf by hand (and reading them through a larger leading
 * dimension) gives bit for bit the same result: they are skipped, and only they are. */
static void test_mmd_missing_rows_skipped(void **state)
{
    int seen = 0;
    for (int i = 0; i < ncases; i++) {
        const struct mmd_case *c = &cases[i];
        int skipped = 0;
        if (c->kind != KIND_MISSING && c->kind != KIND_LINEAR) {
            continue;
        }
        const size_t ld_pad = 3;
        double *cx = calloc((c->n + ld_pad) * (size_t)c->d, sizeof(double));
        double *cy = calloc((c->m + ld_pad) * (size_t)c->d, sizeof(double));
        assert_true(cx != NULL && cy != NULL);
        size_t n = 0, m = 0;
        for (int side = 0; side < 2; side++) {
            const double *src = side ? c->y : c->x;
            size_t rows = side ? c->m : c->n, ld = rows + ld_pad, *k = side ? &m : &n;
            double *dst = side ? cy : cx;
            for (size_t r = 0; r < rows; r++) {
                int ok = 1;
                for (int j = 0; j < c->d; j++) {
                    ok = ok && isfinite(src[r + (size_t)j * rows]);
                }
                if (!ok) {
                    skipped++;
                    continue;
                }
                for (int j = 0; j < c->d; j++) {
                    dst[*k + (size_t)j * ld] = src[r + (size_t)j * rows];
                }
                (*k)++;
            }
        }
        if (skipped > 0) {
            struct drift_mv_result a, b;
            assert_int_equal(run_case(c, &c->p, &a), 0);
            assert_int_equal(
                run_checked(cx, c->n + ld_pad, n, cy, c->m + ld_pad, m, c->d, &c->p, &b), 0);
            assert_true(a.statistic == b.statistic && a.pvalue == b.pvalue &&
                        a.bandwidth == b.bandwidth);
            for (int k = 0; k < a.ntop; k++) {
                assert_true(a.top[k] == b.top[k] && a.contrib[k] == b.contrib[k]);
            }
            seen++;
        }
        free(cx);
        free(cy);
    }
    assert_true(seen >= 2); /* the quadratic and the linear path */
}

/* All rows equal: σ falls back to 1, MMD² is exactly 0 and every permutation ties with it, so
 * p = 1; on the linear path every h is 0 and p = 1/2. A given bandwidth is reported as is. */
static void test_mmd_identical_rows_tie(void **state)
{
    enum { N = 30, D = 2 };
    double x[N * D], y[N * D];
    for (int i = 0; i < N * D; i++) {
        x[i] = y[i] = i < N ? 1.5 : -2.0;
    }
    struct drift_mv_result r;
    assert_int_equal(run_checked(x, N, N, y, N, N, D, NULL, &r), 0);
    assert_true(r.bandwidth == 1.0 && r.statistic == 0 && r.pvalue == 1.0 && r.drifted == 0);
    assert_true(r.ntop == D && r.contrib[0] == 0 && r.contrib[1] == 0);
    assert_true(r.top[0] == 0 && r.top[1] == 1); /* ties keep feature order */
    struct drift_mmd_params p = {.linear_above = 10, .bandwidth = 2.0};
    assert_int_equal(run_checked(x, N, N, y, N, N, D, &p, &r), 0);
    assert_true(r.bandwidth == 2.0 && r.statistic == 0 && r.pvalue == 0.5 && r.drifted == 0);
}

/* One-hot style data: many permutations give the observed partition's statistic exactly, and
 * must count as ties whichever way rounding falls. x and y hold the same rows, so the observed
 * statistic is the smallest possible value (exact by symmetry): every permutation is >= it. */
static void test_mmd_discrete_ties_count(void **state)
{
    enum { N = 40, D = 3 };
    double x[N * D], y[N * D];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) {
            x[i + j * N] = y[i + j * N] = (i % D) == j ? 1.0 : 0.0;
        }
    }
    struct drift_mv_result r;
    struct drift_mmd_params p = {.permutations = 500};
    assert_int_equal(run_checked(x, N, N, y, N, N, D, &p, &r), 0);
    assert_true(r.pvalue == 1.0);
}

static void test_mmd_bad_arguments(void **state)
{
    double x[8 * 2] = {0, 1, 2, 3, 4, 5, 6, 7, 1, 0, 1, 0, 1, 0, 1, 0};
    double y[8 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 1, 1, 0, 0, 1, 1};
    static double work[1 << 16];
    struct drift_mv_result r, before;
    memset(&r, 0x5a, sizeof(r));
    before = r;
    assert_true(drift_mmd_work(8, 8, 2, NULL) <= sizeof(work) / sizeof(work[0]));
    assert_int_equal(drift_mmd(x, 8, 8, y, 8, 8, 0, NULL, work, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 8, 8, y, 8, 8, -1, NULL, work, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(NULL, 8, 8, y, 8, 8, 2, NULL, work, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 8, 8, NULL, 8, 8, 2, NULL, work, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 8, 8, y, 8, 8, 2, NULL, NULL, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 8, 8, y, 8, 8, 2, NULL, work, NULL), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 7, 8, y, 8, 8, 2, NULL, work, &r), DRIFT_EINVAL); /* ld < n */
    assert_int_equal(drift_mmd(x, 8, 8, y, 7, 8, 2, NULL, work, &r), DRIFT_EINVAL);
    assert_int_equal(drift_mmd(x, 8, 1, y, 8, 8, 2, NULL, work, &r), DRIFT_EINVAL); /* 1 row */
    assert_int_equal(drift_mmd(x, 8, 8, y, 8, 0, 2, NULL, work, &r), DRIFT_EINVAL);
    struct drift_mmd_params bad[] = {
        {.permutations = -1}, {.bandwidth = -1}, {.bandwidth = NAN}, {.bandwidth = INFINITY},
        {.alpha = 1.5},       {.alpha = -0.1},   {.alpha = NAN},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(drift_mmd(x, 8, 8, y, 8, 8, 2, &bad[i], work, &r), DRIFT_EINVAL);
        assert_true(drift_mmd_work(8, 8, 2, &bad[i]) == 0);
    }
    assert_true(drift_mmd_work(8, 8, 0, NULL) == 0);
    /* Two complete rows a side at least: NaN rows do not count. */
    double xm[3 * 2] = {1, NAN, 3, 4, 5, INFINITY};
    assert_int_equal(drift_mmd(xm, 3, 3, y, 8, 8, 2, NULL, work, &r), DRIFT_EINVAL);
    /* The linear path needs two pairs (4 complete rows) a side for sd(h). */
    struct drift_mmd_params lin = {.linear_above = 4};
    assert_int_equal(drift_mmd(x, 8, 3, y, 8, 8, 2, &lin, work, &r), DRIFT_EINVAL);
    assert_true(memcmp(&r, &before, sizeof(r)) == 0); /* out untouched on error */
    assert_int_equal(drift_mmd(x, 8, 4, y, 8, 8, 2, &lin, work, &r), 0);
    assert_true(r.pvalue >= 0 && r.pvalue <= 1);
}

/* The size drift_mmd_work reports covers every path: quadratic, linear with the median on the
 * subsample (both sides large, one side short), and a sample above linear_above that falls to
 * the quadratic path once its missing rows are gone. */
static void test_mmd_work_is_enough(void **state)
{
    struct {
        size_t n, m;
        int d;
        struct drift_mmd_params p;
        size_t missing; /* rows of x made missing */
    } shapes[] = {
        {2, 2, 1, {.permutations = 0}, 0},
        {3, 70, 5, {.permutations = 1}, 0},
        {64, 65, 2, {.permutations = 130}, 0},
        {40, 30, 9, {.linear_above = 50}, 0},
        {40, 30, 9, {.linear_above = 50}, 25},
        {1500, 700, 3, {.linear_above = 100, .permutations = 7}, 0},
        {1500, 9, 2, {.linear_above = 100}, 0},
        {300, 300, 2, {.linear_above = 599, .bandwidth = 1.5}, 0},
    };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t n = shapes[s].n, m = shapes[s].m;
        int d = shapes[s].d;
        double *x = malloc(n * (size_t)d * sizeof(double));
        double *y = malloc(m * (size_t)d * sizeof(double));
        assert_true(x != NULL && y != NULL);
        uint64_t st = 42 + s;
        for (size_t i = 0; i < n * (size_t)d; i++) {
            st = st * 6364136223846793005u + 1442695040888963407u;
            x[i] = (double)(st >> 11) / 9007199254740992.0;
        }
        for (size_t i = 0; i < m * (size_t)d; i++) {
            st = st * 6364136223846793005u + 1442695040888963407u;
            y[i] = (double)(st >> 11) / 9007199254740992.0 + 0.1;
        }
        for (size_t i = 0; i < shapes[s].missing; i++) {
            x[i + (size_t)(d - 1) * n] = NAN;
        }
        struct drift_mv_result r;
        assert_int_equal(run_checked(x, n, n, y, m, m, d, &shapes[s].p, &r), 0);
        assert_true(isfinite(r.statistic) && r.pvalue > 0 && r.pvalue <= 1 && r.bandwidth > 0);
        free(x);
        free(y);
    }
}

/* The p-value is a function of the seed and the number of permutations, on the lattice
 * (1 + count)/(1 + permutations); other seeds draw other permutations. */
static void test_mmd_seeded_permutations(void **state)
{
    const struct mmd_case *c = NULL;
    for (int i = 0; i < ncases && c == NULL; i++) {
        if (cases[i].kind == KIND_NULL && cases[i].p.bandwidth == 0) {
            c = &cases[i];
        }
    }
    assert_non_null(c);
    struct drift_mv_result a, b;
    struct drift_mmd_params p = {.permutations = 99, .seed = 5};
    assert_int_equal(run_case(c, &p, &a), 0);
    assert_int_equal(run_case(c, &p, &b), 0);
    assert_true(a.pvalue == b.pvalue);
    int differs = 0;
    for (uint64_t seed = 6; seed < 12; seed++) {
        p.seed = seed;
        assert_int_equal(run_case(c, &p, &b), 0);
        double count = b.pvalue * 100 - 1;
        assert_true(fabs(count - round(count)) < 1e-9 && count >= 0 && count <= 99);
        assert_true(b.statistic == a.statistic);
        differs += b.pvalue != a.pvalue;
    }
    assert_true(differs > 0);
}

/* The rule prints alpha as %g would, without stdio in the operator. */
static void test_mmd_rule_text(void **state)
{
    const struct mmd_case *c = &cases[0];
    double alphas[] = {0.01,        0.05,       0.001, 1e-4, 1e-5,         2.5e-7,
                       0.123456789, 0.99999999, 1,     0.1,  0.0001234567, 3e-12};
    for (size_t i = 0; i < sizeof(alphas) / sizeof(alphas[0]); i++) {
        struct drift_mmd_params p = {.alpha = alphas[i], .permutations = 1};
        struct drift_mv_result r;
        char want[96];
        assert_int_equal(run_case(c, &p, &r), 0);
        snprintf(want, sizeof(want), "mmd p < %g", alphas[i]);
        assert_string_equal(r.rule, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mmd_matches_numpy),
        cmocka_unit_test(test_mmd_corr_flip_found_with_equal_marginals),
        cmocka_unit_test(test_mmd_no_drift_not_flagged),
        cmocka_unit_test(test_mmd_missing_rows_skipped),
        cmocka_unit_test(test_mmd_identical_rows_tie),
        cmocka_unit_test(test_mmd_discrete_ties_count),
        cmocka_unit_test(test_mmd_bad_arguments),
        cmocka_unit_test(test_mmd_work_is_enough),
        cmocka_unit_test(test_mmd_seeded_permutations),
        cmocka_unit_test(test_mmd_rule_text),
    };
    return cmocka_run_group_tests(tests, load_cases, free_cases);
}
