/* The quantile sketch against exact ranks from a full sort: the tracked bound holds at every
 * point on uniform, sorted, reversed, tied and heavy-tailed streams; below k values it is exact
 * (numpy's quantiles); merge is the sketch of the union; save/load round-trips and rejects
 * corrupt state without changing the sketch. Also the moments' save/load. */
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

static uint64_t rng = 88172645463325252ull;

static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

enum shape { UNIFORM, SORTED, REVERSED, TIES, CAUCHY, NSHAPES };
static const char *const shape_name[] = {"uniform", "sorted", "reversed", "ties", "cauchy"};

static void fill(double *x, size_t n, enum shape sh)
{
    for (size_t i = 0; i < n; i++) {
        switch (sh) {
        case UNIFORM: x[i] = unif(); break;
        case SORTED: x[i] = (double)i * 0.5; break;
        case REVERSED: x[i] = (double)(n - i); break;
        case TIES: x[i] = floor(unif() * 5); break;
        default: x[i] = tan(M_PI * (unif() - 0.5)); break;
        }
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* #{sorted <= x} */
static size_t true_rank(const double *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The largest rank error at every distinct value and between neighbours; fails over the bound. */
static double check_ranks(const struct drift_sketch *s, const double *sorted, size_t n,
                          const char *what)
{
    double bound = (double)drift_sketch_rank_error(s), worst = 0;
    size_t step = n > 20000 ? n / 20000 : 1;
    for (size_t i = 0; i < n; i += step) {
        double xs[2] = {sorted[i], i + 1 < n ? 0.5 * (sorted[i] + sorted[i + 1]) : sorted[i] + 1};
        for (int t = 0; t < 2; t++) {
            double e = fabs(drift_sketch_rank(s, xs[t]) - (double)true_rank(sorted, n, xs[t]));
            if (e > bound) {
                fail_msg("%s: rank error %g at %g exceeds the bound %g", what, e, xs[t], bound);
            }
            worst = e > worst ? e : worst;
        }
    }
    double e = fabs(drift_sketch_rank(s, sorted[0] - 1.0));
    assert_true(e <= bound);
    return worst;
}

static void test_exact_below_k(void **state)
{
    (void)state;
    static double x[1000], s[1000], q[101], got[101], edges[20], want[20];
    for (int sh = 0; sh < NSHAPES; sh++) {
        struct drift_sketch *sk = drift_sketch_create(1024, NULL, 0);
        assert_non_null(sk);
        fill(x, 1000, (enum shape)sh);
        for (int i = 0; i < 1000; i++) {
            assert_int_equal(drift_sketch_add(sk, x[i]), 0);
        }
        memcpy(s, x, sizeof(x));
        qsort(s, 1000, sizeof(double), cmp);
        assert_int_equal(drift_sketch_rank_error(sk), 0);
        assert_int_equal(drift_sketch_retained(sk), 1000);
        for (int i = 0; i <= 100; i++) {
            q[i] = i / 100.0;
        }
        q[37] = 0.123456789;
        assert_int_equal(drift_sketch_quantiles(sk, q, 101, got), 0);
        for (int i = 0; i <= 100; i++) {
            double w = drift_quantile_sorted(s, 1000, q[i]);
            if (got[i] != w) {
                fail_msg("%s q=%g: %.17g vs numpy-linear %.17g", shape_name[sh], q[i], got[i], w);
            }
        }
        for (int i = 0; i < 1000; i += 7) {
            assert_true(drift_sketch_rank(sk, s[i]) == (double)true_rank(s, 1000, s[i]));
        }
        int ne = drift_sketch_edges(sk, 10, edges), we = drift_hist_edges(s, 1000, 10, want);
        assert_int_equal(ne, we);
        for (int i = 0; i < ne; i++) {
            assert_true(edges[i] == want[i]);
        }
        drift_sketch_destroy(sk);
    }
}

static void test_rank_error_within_bound(void **state)
{
    (void)state;
    size_t n = 300000;
    double *x = malloc(n * sizeof(double)), *s = malloc(n * sizeof(double));
    assert_non_null(x);
    assert_non_null(s);
    int ks[3] = {64, 256, 1024};
    for (int sh = 0; sh < NSHAPES; sh++) {
        fill(x, n, (enum shape)sh);
        memcpy(s, x, n * sizeof(double));
        qsort(s, n, sizeof(double), cmp);
        for (int t = 0; t < 3; t++) {
            int k = ks[t];
            struct drift_sketch *sk = drift_sketch_create(k, NULL, 0);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(drift_sketch_add(sk, x[i]), 0);
            }
            assert_int_equal(drift_sketch_count(sk), n);
            char what[64];
            snprintf(what, sizeof(what), "%s k=%d", shape_name[sh], k);
            double worst = check_ranks(sk, s, n, what);
            /* The documented size of the bound: (n/k)·log2(n/k), give or take one level. */
            double nk = (double)n / k, bound = (double)drift_sketch_rank_error(sk);
            assert_true(bound <= nk * (log2(nk) + 1));
            assert_true(drift_sketch_retained(sk) <= (size_t)k * (size_t)(log2(nk) + 2));
            /* Quantiles: the value returned at q has a true rank around q·(n-1), within the
             * bound (plus the one position linear interpolation can move). */
            double q[5] = {0.01, 0.25, 0.5, 0.9, 0.999}, v[5];
            assert_int_equal(drift_sketch_quantiles(sk, q, 5, v), 0);
            for (int i = 0; i < 5; i++) {
                double pos = q[i] * (double)(n - 1);
                double lo = (double)true_rank(s, n, nextafter(v[i], -INFINITY));
                double hi = (double)true_rank(s, n, v[i]);
                if (pos < lo - bound - 1 || pos > hi + bound + 1) {
                    fail_msg("%s q=%g: value %g has ranks [%g, %g], position %g, bound %g", what,
                             q[i], v[i], lo, hi, pos, bound);
                }
            }
            double mn, mx, q01[2] = {0, 1};
            double ext[2];
            assert_int_equal(drift_sketch_quantiles(sk, q01, 2, ext), 0);
            mn = s[0];
            mx = s[n - 1];
            assert_true(ext[0] == mn && ext[1] == mx);
            print_message("sketch %-8s k=%-4d n=%zu: worst rank error %.0f (%.4f%%), bound %.0f "
                          "(%.3f%%), %zu values held\n", shape_name[sh], k, n, worst,
                          100 * worst / (double)n, bound, 100 * bound / (double)n,
                          drift_sketch_retained(sk));
            drift_sketch_destroy(sk);
        }
    }
    free(x);
    free(s);
}

static void test_missing_and_arguments(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(drift_sketch_create(7, err, sizeof(err)));
    assert_non_null(strstr(err, "even"));
    assert_null(drift_sketch_create(4, NULL, 0));
    assert_null(drift_sketch_create(DRIFT_SKETCH_MAX_K + 2, NULL, 0));
    struct drift_sketch *a = drift_sketch_create(8, NULL, 0), *b = drift_sketch_create(16, NULL, 0);
    double q = 0.5, v = 0;
    assert_int_equal(drift_sketch_quantiles(a, &q, 1, &v), 0);
    assert_true(isnan(v));
    assert_true(isnan(drift_sketch_cdf(a, 0)));
    assert_int_equal(drift_sketch_edges(a, 10, &v), 0);
    assert_int_equal(drift_sketch_add(a, NAN), 0);
    assert_int_equal(drift_sketch_add(a, INFINITY), 0);
    assert_int_equal(drift_sketch_add(a, -INFINITY), 0);
    assert_int_equal(drift_sketch_add(a, 2.5), 0);
    assert_int_equal(drift_sketch_missing(a), 3);
    assert_int_equal(drift_sketch_count(a), 1);
    assert_true(drift_sketch_cdf(a, 2.5) == 1.0 && drift_sketch_cdf(a, 2.4) == 0.0);
    assert_true(isnan(drift_sketch_rank(a, NAN)));
    assert_int_equal(drift_sketch_merge(a, b), DRIFT_EINVAL);
    assert_int_equal(drift_sketch_merge(a, a), DRIFT_EINVAL);
    drift_sketch_destroy(a);
    drift_sketch_destroy(b);
    drift_sketch_destroy(NULL);
}

static void test_merge_is_union(void **state)
{
    (void)state;
    size_t n = 200000;
    double *x = malloc(n * sizeof(double)), *s = malloc(n * sizeof(double));
    fill(x, n, CAUCHY);
    for (size_t i = n / 2; i < n; i++) {
        x[i] = 3 + unif(); /* a second partition that looks nothing like the first */
    }
    memcpy(s, x, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp);
    /* Four partitions of unequal sizes, merged as a tree and as a chain. */
    size_t cut[5] = {0, 1000, 90001, 150000, n};
    for (int order = 0; order < 2; order++) {
        struct drift_sketch *p[4];
        for (int i = 0; i < 4; i++) {
            p[i] = drift_sketch_create(128, NULL, 0);
            for (size_t j = cut[i]; j < cut[i + 1]; j++) {
                drift_sketch_add(p[i], x[j]);
            }
            drift_sketch_add(p[i], NAN);
        }
        if (order == 0) {
            assert_int_equal(drift_sketch_merge(p[0], p[1]), 0);
            assert_int_equal(drift_sketch_merge(p[2], p[3]), 0);
            assert_int_equal(drift_sketch_merge(p[0], p[2]), 0);
        } else {
            for (int i = 3; i > 0; i--) {
                assert_int_equal(drift_sketch_merge(p[i - 1], p[i]), 0);
            }
        }
        assert_int_equal(drift_sketch_count(p[0]), n);
        assert_int_equal(drift_sketch_missing(p[0]), 4);
        double worst = check_ranks(p[0], s, n, order ? "chain merge" : "tree merge");
        print_message("merge (%s): worst rank error %.0f, bound %llu\n", order ? "chain" : "tree",
                      worst, (unsigned long long)drift_sketch_rank_error(p[0]));
        double ext[2], q01[2] = {0, 1};
        drift_sketch_quantiles(p[0], q01, 2, ext);
        assert_true(ext[0] == s[0] && ext[1] == s[n - 1]);
        for (int i = 0; i < 4; i++) {
            drift_sketch_destroy(p[i]);
        }
    }
    /* Merging into an empty sketch copies; merging an empty one changes nothing. */
    struct drift_sketch *e = drift_sketch_create(64, NULL, 0);
    struct drift_sketch *f = drift_sketch_create(64, NULL, 0);
    for (size_t i = 0; i < 5000; i++) {
        drift_sketch_add(f, x[i]);
    }
    assert_int_equal(drift_sketch_merge(e, f), 0);
    size_t len = drift_sketch_save(f, NULL, 0);
    unsigned char *b1 = malloc(len), *b2 = malloc(len);
    drift_sketch_save(f, b1, len);
    assert_int_equal(drift_sketch_save(e, NULL, 0), len);
    drift_sketch_save(e, b2, len);
    assert_memory_equal(b1, b2, len);
    drift_sketch_reset(e);
    assert_int_equal(drift_sketch_merge(f, e), 0);
    drift_sketch_save(f, b2, len);
    assert_memory_equal(b1, b2, len);
    free(b1);
    free(b2);
    drift_sketch_destroy(e);
    drift_sketch_destroy(f);
    free(x);
    free(s);
}

static void test_save_load(void **state)
{
    (void)state;
    size_t n = 50000;
    double *x = malloc(n * sizeof(double));
    fill(x, n, UNIFORM);
    struct drift_sketch *a = drift_sketch_create(64, NULL, 0);
    struct drift_sketch *b = drift_sketch_create(64, NULL, 0);
    for (size_t i = 0; i < n / 2; i++) {
        drift_sketch_add(a, x[i]);
    }
    drift_sketch_add(a, NAN);
    size_t len = drift_sketch_save(a, NULL, 0);
    unsigned char *buf = malloc(len), *buf2;
    assert_int_equal(drift_sketch_save(a, buf, len), len);
    assert_int_equal(drift_sketch_load(b, buf, len), 0);
    assert_int_equal(drift_sketch_count(b), drift_sketch_count(a));
    assert_int_equal(drift_sketch_missing(b), 1);
    assert_int_equal(drift_sketch_rank_error(b), drift_sketch_rank_error(a));
    /* Continuing after a load is continuing without one: identical bytes at the end. */
    for (size_t i = n / 2; i < n; i++) {
        drift_sketch_add(a, x[i]);
        drift_sketch_add(b, x[i]);
    }
    size_t l2 = drift_sketch_save(a, NULL, 0);
    unsigned char *sa = malloc(l2), *sb = malloc(l2);
    buf2 = malloc(l2 + 64);
    drift_sketch_save(a, sa, l2);
    assert_int_equal(drift_sketch_save(b, sb, l2), l2);
    assert_memory_equal(sa, sb, l2);
    /* Corrupt states: each rejected, b unchanged. */
    struct {
        const char *what;
        size_t off;
        int kind; /* 0: set u32, 1: set f64, 2: set u64, 3: truncate, 4: extend */
        double v;
    } bad[] = {
        {"magic", 0, 0, 7},
        {"version", 4, 0, 2},
        {"other k", 8, 0, 128},
        {"no levels", 12, 0, 0},
        {"too many levels", 12, 0, 65},
        {"count off by one", 16, 2, 0},
        {"bound above count", 32, 2, 1e18},
        {"min above a value", 48, 1, 0.9999},
        {"max nan", 56, 1, NAN},
        {"level 0 full", 64, 0, 64},
        {"value nan", 0, 1, NAN},
        {"value beyond max", 0, 1, 2.0},
        {"truncated", 0, 3, 0},
        {"trailing bytes", 0, 4, 0},
    };
    for (size_t t = 0; t < sizeof(bad) / sizeof(bad[0]); t++) {
        memcpy(buf2, sa, l2);
        size_t l = l2;
        if (bad[t].kind == 0) {
            uint32_t v = (uint32_t)bad[t].v;
            memcpy(buf2 + bad[t].off, &v, 4);
        } else if (bad[t].kind == 1) {
            size_t off = bad[t].off ? bad[t].off : l2 - 8; /* 0: the last value */
            memcpy(buf2 + off, &bad[t].v, 8);
        } else if (bad[t].kind == 2) {
            uint64_t v;
            memcpy(&v, buf2 + bad[t].off, 8);
            v = bad[t].v == 0 ? v + 1 : (uint64_t)bad[t].v;
            memcpy(buf2 + bad[t].off, &v, 8);
        } else if (bad[t].kind == 3) {
            l = l2 - 8;
        } else {
            memset(buf2 + l2, 0, 8);
            l = l2 + 8;
        }
        if (drift_sketch_load(b, buf2, l) != DRIFT_ESTATE) {
            fail_msg("corrupt state accepted: %s", bad[t].what);
        }
        drift_sketch_save(b, sb, l2);
        assert_memory_equal(sa, sb, l2);
    }
    assert_int_equal(drift_sketch_load(b, NULL, 0), DRIFT_ESTATE);
    assert_int_equal(drift_sketch_load(b, sa, 10), DRIFT_ESTATE);
    /* An empty sketch round-trips too. */
    struct drift_sketch *e = drift_sketch_create(64, NULL, 0);
    size_t le = drift_sketch_save(e, NULL, 0);
    drift_sketch_save(e, buf2, le);
    assert_int_equal(drift_sketch_load(b, buf2, le), 0);
    assert_int_equal(drift_sketch_count(b), 0);
    drift_sketch_destroy(e);
    free(buf);
    free(buf2);
    free(sa);
    free(sb);
    drift_sketch_destroy(a);
    drift_sketch_destroy(b);
    free(x);
}

static double mem_a[4096], mem_b[4096];

static void test_moments_save_load(void **state)
{
    (void)state;
    int d = 5;
    struct drift_moments a, b;
    drift_moments_init(&a, d, 100, mem_a);
    drift_moments_init(&b, d, 100, mem_b);
    double x[5 * 100];
    for (int i = 0; i < 5 * 100; i++) {
        x[i] = unif() * (1 + i % 5);
    }
    x[3] = NAN;
    assert_int_equal(drift_moments_update(&a, x, 100, 100), 0);
    size_t len = drift_moments_save(&a, NULL, 0);
    assert_int_equal(len, 32 + 5 * 8 + 15 * 8);
    unsigned char buf[256], bad[256];
    assert_int_equal(drift_moments_save(&a, buf, sizeof(buf)), len);
    assert_int_equal(drift_moments_load(&b, buf, len), 0);
    assert_int_equal(b.n, 99);
    assert_int_equal(b.skipped, 1);
    for (int i = 0; i < d; i++) {
        assert_true(b.mean[i] == a.mean[i]);
        for (int j = 0; j < d; j++) {
            assert_true(drift_moments_cov(&b, i, j) == drift_moments_cov(&a, i, j));
        }
    }
    /* Corrupt: wrong d, truncated, NaN mean, negative variance; b keeps its state. */
    uint32_t d6 = 6;
    double nan = NAN, neg = -1;
    memcpy(bad, buf, len);
    memcpy(bad + 8, &d6, 4);
    assert_int_equal(drift_moments_load(&b, bad, len), DRIFT_ESTATE);
    assert_int_equal(drift_moments_load(&b, buf, len - 1), DRIFT_ESTATE);
    memcpy(bad, buf, len);
    memcpy(bad + 32, &nan, 8);
    assert_int_equal(drift_moments_load(&b, bad, len), DRIFT_ESTATE);
    memcpy(bad, buf, len);
    memcpy(bad + 32 + 5 * 8 + 2 * 8, &neg, 8); /* scatter (1,1) */
    assert_int_equal(drift_moments_load(&b, bad, len), DRIFT_ESTATE);
    memcpy(bad, buf, len);
    memcpy(bad + 32 + 5 * 8 + 1 * 8, &neg, 8); /* scatter (0,1): may be negative */
    assert_int_equal(drift_moments_load(&b, bad, len), 0);
    assert_true(drift_moments_cov(&b, 0, 1) == -1.0 / 98);
    assert_int_equal(drift_moments_load(&b, buf, len), 0);
    assert_true(b.mean[0] == a.mean[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_below_k),
        cmocka_unit_test(test_rank_error_within_bound),
        cmocka_unit_test(test_missing_and_arguments),
        cmocka_unit_test(test_merge_is_union),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_moments_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
