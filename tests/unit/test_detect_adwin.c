/* ADWIN against tests/golden/gen_detect_adwin.py (a model of River's ADWIN written from its
 * source; River could not be installed): every detection index on every stream and parameter
 * set, River's docstring example (index 1023), the fresh window after a detection, save/load in
 * the middle of a stream, corrupt state rejected without change, parameter errors, and
 * NaN/infinite values ignored. */
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

extern const struct drift_detector_ops drift_detector_adwin;
static const struct drift_detector_ops *const ops = &drift_detector_adwin;

#define MAXDET 64

struct stream {
    double *x;
    size_t n;
};

static struct stream load_stream(const char *name)
{
    char file[128];
    snprintf(file, sizeof(file), "detect_adwin_stream_%s.txt", name);
    FILE *f = golden_open(file);
    assert_non_null(f);
    struct stream s = {NULL, 0};
    size_t cap = 0;
    char line[64];
    while (fgets(line, sizeof(line), f)) {
        if (s.n == cap) {
            cap = cap ? 2 * cap : 1024;
            s.x = realloc(s.x, cap * sizeof(double));
            assert_non_null(s.x);
        }
        char *end;
        s.x[s.n] = strtod(line, &end);
        assert_true(end != line);
        s.n++;
    }
    fclose(f);
    assert_true(s.n > 0);
    return s;
}

/* "default" or "k=v,k=v" into p (pointing into buf); returns the count. */
static int parse_label(const char *label, char *buf, size_t len, struct drift_param *p, int max)
{
    if (strcmp(label, "default") == 0) {
        return 0;
    }
    snprintf(buf, len, "%s", label);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok != NULL && n < max; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        p[n].key = tok;
        p[n].value = eq + 1;
        n++;
    }
    return n;
}

static struct drift_detector *make(const char *label)
{
    char buf[256], err[256];
    struct drift_param p[8];
    int np = parse_label(label, buf, sizeof(buf), p, 8);
    struct drift_detector *d = ops->create(p, np, err, sizeof(err));
    if (d == NULL) {
        fail_msg("create %s: %s", label, err);
    }
    return d;
}

/* Feeds x[from..n) and appends detection indices (offset by from) to out; returns the count. */
static size_t run(struct drift_detector *d, const double *x, size_t from, size_t n, size_t *out,
                  size_t have)
{
    for (size_t i = from; i < n; i++) {
        int r = ops->update(d, x[i]);
        assert_false(r & DRIFT_DETECT_WARNING);
        if (r & DRIFT_DETECT_DRIFT) {
            assert_true(have < MAXDET);
            out[have++] = i;
        }
    }
    return have;
}

static unsigned char *save(const struct drift_detector *d, size_t *len)
{
    *len = ops->save(d, NULL, 0);
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(ops->save(d, b, *len), *len);
    return b;
}

static void test_ops(void **state)
{
    (void)state;
    assert_string_equal(ops->name, "adwin");
    assert_string_equal(ops->params, "delta=0.002, clock=32, max_buckets=5, min_window_length=5, "
                                     "grace_period=10");
    assert_non_null(ops->description);
}

static void test_golden(void **state)
{
    (void)state;
    FILE *f = golden_open("detect_adwin_expected.txt");
    assert_non_null(f);
    char line[1024];
    int cases = 0, total_det = 0;
    while (fgets(line, sizeof(line), f)) {
        char name[64], label[192];
        assert_int_equal(sscanf(line, "%63s %191s", name, label), 2);
        double want[MAXDET];
        size_t nwant = golden_group(line, 1, want, MAXDET);
        struct stream s = load_stream(name);
        struct drift_detector *d = make(label);
        size_t got[MAXDET];
        size_t ngot = run(d, s.x, 0, s.n, got, 0);
        if (ngot != nwant) {
            fail_msg("%s %s: %zu detections, want %zu", name, label, ngot, nwant);
        }
        for (size_t k = 0; k < ngot; k++) {
            if ((double)got[k] != want[k]) {
                fail_msg("%s %s: detection %zu at %zu, want %.0f", name, label, k, got[k], want[k]);
            }
        }
        total_det += (int)ngot;
        cases++;
        ops->destroy(d);
        free(s.x);
    }
    fclose(f);
    assert_true(cases >= 56);
    assert_true(total_det >= 100);
}

/* River's docstring: "Change detected at index 1023, input value: 4". */
static void test_docstring(void **state)
{
    (void)state;
    struct stream s = load_stream("docstring");
    assert_int_equal(s.n, 2000);
    struct drift_detector *d = make("default");
    size_t got[MAXDET];
    size_t n = run(d, s.x, 0, s.n, got, 0);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], 1023);
    assert_true(s.x[1023] == 4.0);
    ops->destroy(d);
    free(s.x);
}

/* After a detection the next update starts from an empty window with the clock at 0: the rest
 * of the run equals a new detector fed the values after the detection. */
static void test_fresh_after_drift(void **state)
{
    (void)state;
    const char *names[] = {"river_multi", "gauss_gradual", "bern_abrupt"};
    const char *labels[] = {"default", "clock=7,max_buckets=2,min_window_length=1,grace_period=0",
                            "delta=0.1,clock=1,grace_period=50"};
    for (size_t t = 0; t < 3; t++) {
        struct stream s = load_stream(names[t]);
        struct drift_detector *d = make(labels[t]);
        size_t got[MAXDET];
        size_t n = run(d, s.x, 0, s.n, got, 0);
        assert_true(n >= 2);
        struct drift_detector *e = make(labels[t]);
        size_t again[MAXDET];
        size_t m = run(e, s.x, got[0] + 1, s.n, again, 0);
        assert_int_equal(m, n - 1);
        for (size_t k = 0; k < m; k++) {
            assert_int_equal(again[k], got[k + 1]);
        }
        ops->destroy(d);
        ops->destroy(e);
        free(s.x);
    }
}

/* Save at several points (including on a detection, with the reset pending), load into a new
 * detector, continue: the same detections and the same final state as an uninterrupted run. */
static void test_save_load_continue(void **state)
{
    (void)state;
    const char *names[] = {"river_multi", "gauss_abrupt", "bern_gradual", "stationary"};
    const char *labels[] = {"default", "delta=0.1,clock=1,grace_period=50",
                            "max_buckets=2,min_window_length=10"};
    for (size_t t = 0; t < 4; t++) {
        struct stream s = load_stream(names[t]);
        for (size_t l = 0; l < 3; l++) {
            struct drift_detector *whole = make(labels[l]);
            size_t all[MAXDET];
            size_t nall = run(whole, s.x, 0, s.n, all, 0);
            size_t cuts[6] = {1, 17, s.n / 3, s.n / 2 + 5, nall ? all[0] + 1 : 999, s.n - 1};
            for (size_t c = 0; c < 6; c++) {
                struct drift_detector *a = make(labels[l]);
                size_t got[MAXDET];
                size_t ng = run(a, s.x, 0, cuts[c], got, 0);
                size_t len;
                unsigned char *b = save(a, &len);
                struct drift_detector *r = make(labels[l]);
                assert_int_equal(ops->load(r, b, len), 0);
                ng = run(r, s.x, cuts[c], s.n, got, ng);
                assert_int_equal(ng, nall);
                for (size_t k = 0; k < ng; k++) {
                    assert_int_equal(got[k], all[k]);
                }
                size_t l1, l2;
                unsigned char *s1 = save(whole, &l1), *s2 = save(r, &l2);
                assert_int_equal(l1, l2);
                assert_memory_equal(s1, s2, l1);
                free(s1);
                free(s2);
                free(b);
                ops->destroy(a);
                ops->destroy(r);
            }
            ops->destroy(whole);
        }
        free(s.x);
    }
}

/* Offsets in the saved state (see adwin.c): header fields, then counts, then buckets. */
#define OFF_VERSION 4
#define OFF_CLOCK 16
#define OFF_NROWS 52
#define OFF_WIDTH 64
#define OFF_TOTAL 72
#define OFF_VARIANCE 80
#define OFF_COUNTS 88

static void expect_rejected(struct drift_detector *d, const unsigned char *b, size_t len,
                            const char *what)
{
    size_t l0;
    unsigned char *before = save(d, &l0);
    int rc = ops->load(d, b, len);
    if (rc != DRIFT_ESTATE) {
        fail_msg("%s: load returned %d, want DRIFT_ESTATE", what, rc);
    }
    size_t l1;
    unsigned char *after = save(d, &l1);
    assert_int_equal(l0, l1);
    assert_memory_equal(before, after, l0);
    free(before);
    free(after);
}

static void test_corrupt_state(void **state)
{
    (void)state;
    struct stream s = load_stream("gauss_abrupt");
    struct drift_detector *src = make("default");
    size_t got[MAXDET];
    run(src, s.x, 0, 1500, got, 0);
    size_t len;
    unsigned char *good = save(src, &len);
    uint32_t nrows;
    memcpy(&nrows, good + OFF_NROWS, 4);
    assert_true(nrows >= 5);
    size_t first_bucket = OFF_COUNTS + 4 * (size_t)nrows;

    /* The target: a detector in the middle of another stream, to check nothing changes. */
    struct drift_detector *d = make("default");
    run(d, s.x, 3000, 3700, got, 0);
    unsigned char *b = malloc(len + 1);
    assert_non_null(b);
    double nan = NAN, inf = INFINITY;

#define MUTATE(what, stmt)                                                                         \
    do {                                                                                           \
        memcpy(b, good, len);                                                                      \
        stmt;                                                                                      \
        expect_rejected(d, b, len, what);                                                          \
    } while (0)

    MUTATE("bad magic", b[0] = 'X');
    MUTATE("bad version", b[OFF_VERSION] = 9);
    MUTATE("other clock", b[OFF_CLOCK] = 33);
    MUTATE("NaN total", memcpy(b + OFF_TOTAL, &nan, 8));
    MUTATE("inf width", memcpy(b + OFF_WIDTH, &inf, 8));
    MUTATE("NaN variance", memcpy(b + OFF_VARIANCE, &nan, 8));
    MUTATE("NaN bucket sum", memcpy(b + first_bucket, &nan, 8));
    MUTATE("negative bucket variance", {
        double v = -1.0;
        memcpy(b + first_bucket + 8, &v, 8);
    });
    MUTATE("width off by one", {
        double w;
        memcpy(&w, b + OFF_WIDTH, 8);
        w += 1;
        memcpy(b + OFF_WIDTH, &w, 8);
    });
    MUTATE("row over max_buckets", {
        uint32_t c = 6;
        memcpy(b + OFF_COUNTS, &c, 4);
    });
    MUTATE("empty middle row", {
        uint32_t c = 0;
        memcpy(b + OFF_COUNTS + 4, &c, 4);
    });
    MUTATE("too many rows", {
        uint32_t c = 65;
        memcpy(b + OFF_NROWS, &c, 4);
    });
    MUTATE("drift flag 2", b[OFF_NROWS - 4] = 2);
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(b, good, len);
        expect_rejected(d, b, cut, "truncated");
    }
    memcpy(b, good, len);
    b[len] = 0;
    expect_rejected(d, b, len + 1, "trailing byte");
    expect_rejected(d, NULL, 0, "NULL");

    /* Other parameters: state saved by a delta=0.1 detector. */
    struct drift_detector *other = make("delta=0.1");
    run(other, s.x, 0, 1500, got, 0);
    size_t olen;
    unsigned char *ob = save(other, &olen);
    expect_rejected(d, ob, olen, "other delta");

    /* Still works, and equals a detector that never saw the bad loads. */
    struct drift_detector *ref = make("default");
    run(ref, s.x, 3000, 3700, got, 0);
    size_t g1[MAXDET], g2[MAXDET];
    size_t n1 = run(d, s.x, 3700, s.n, g1, 0), n2 = run(ref, s.x, 3700, s.n, g2, 0);
    assert_int_equal(n1, n2);
    for (size_t k = 0; k < n1; k++) {
        assert_int_equal(g1[k], g2[k]);
    }
    /* And the good state loads. */
    assert_int_equal(ops->load(d, good, len), 0);

    free(ob);
    free(b);
    free(good);
    ops->destroy(other);
    ops->destroy(ref);
    ops->destroy(src);
    ops->destroy(d);
    free(s.x);
}

static void expect_error(const char *key, const char *value, const char *msg)
{
    char err[256] = "";
    struct drift_param p = {key, value};
    struct drift_detector *d = ops->create(&p, 1, err, sizeof(err));
    assert_null(d);
    if (strcmp(err, msg) != 0) {
        fail_msg("%s=%s: got \"%s\", want \"%s\"", key, value, err, msg);
    }
}

static void test_bad_params(void **state)
{
    (void)state;
    expect_error("foo", "1",
                 "adwin: unknown parameter 'foo' (allowed: delta, clock, max_buckets, "
                 "min_window_length, grace_period)");
    expect_error("delta", "2", "adwin: delta must be a number in (0, 1), got '2'");
    expect_error("delta", "0", "adwin: delta must be a number in (0, 1), got '0'");
    expect_error("delta", "x", "adwin: delta must be a number in (0, 1), got 'x'");
    expect_error("clock", "0", "adwin: clock must be an integer in [1, 2147483647], got '0'");
    expect_error("clock", "1.5", "adwin: clock must be an integer in [1, 2147483647], got '1.5'");
    expect_error("max_buckets", "1", "adwin: max_buckets must be an integer in [2, 1024], got '1'");
    expect_error("min_window_length", "0",
                 "adwin: min_window_length must be an integer in [1, 2147483647], got '0'");
    expect_error("grace_period", "-1",
                 "adwin: grace_period must be an integer in [0, 2147483647], got '-1'");

    char err[256];
    struct drift_param twice[2] = {{"delta", "0.1"}, {"delta", "0.2"}};
    assert_null(ops->create(twice, 2, err, sizeof(err)));
    assert_string_equal(err, "adwin: delta given twice");

    struct drift_param ok[5] = {{"delta", "0.5"},
                                {"clock", "1"},
                                {"max_buckets", "1024"},
                                {"min_window_length", "1"},
                                {"grace_period", "0"}};
    struct drift_detector *d = ops->create(ok, 5, err, sizeof(err));
    assert_non_null(d);
    ops->destroy(d);
}

/* NaN and infinities are ignored: 0 returned, state unchanged (also with a reset pending), and
 * the detections are those of the finite values alone. */
static void test_nonfinite_ignored(void **state)
{
    (void)state;
    struct stream s = load_stream("river_multi");
    struct drift_detector *ref = make("default");
    size_t want[MAXDET];
    size_t nwant = run(ref, s.x, 0, s.n, want, 0);
    assert_int_equal(nwant, 3);

    struct drift_detector *d = make("default");
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    size_t got = 0, seen = 0;
    for (size_t i = 0; i < s.n; i++) {
        int r = ops->update(d, s.x[i]);
        if (r & DRIFT_DETECT_DRIFT) {
            assert_true(got < nwant);
            assert_int_equal(i, want[got]);
            got++;
        }
        if (i % 97 == 0 || r) { /* right after each detection too */
            size_t l0, l1;
            unsigned char *before = save(d, &l0);
            for (int k = 0; k < 3; k++) {
                assert_int_equal(ops->update(d, bad[k]), 0);
            }
            unsigned char *after = save(d, &l1);
            assert_int_equal(l0, l1);
            assert_memory_equal(before, after, l0);
            free(before);
            free(after);
            seen++;
        }
    }
    assert_int_equal(got, nwant);
    assert_true(seen > 40);
    ops->destroy(d);
    ops->destroy(ref);
    free(s.x);
}

/* River's regression tests: a constant stream never drifts; a large shift is found. */
static void test_constant_and_shift(void **state)
{
    (void)state;
    struct drift_detector *d = make("default");
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(ops->update(d, 1.0), 0);
    }
    ops->destroy(d);
    d = make("delta=0.01");
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ops->update(d, 0.0), 0);
    }
    int found = 0;
    for (int i = 0; i < 200 && !found; i++) {
        found = ops->update(d, 100.0) & DRIFT_DETECT_DRIFT;
    }
    assert_true(found);
    ops->destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_docstring),
        cmocka_unit_test(test_fresh_after_drift),
        cmocka_unit_test(test_save_load_continue),
        cmocka_unit_test(test_corrupt_state),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_nonfinite_ignored),
        cmocka_unit_test(test_constant_and_shift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
