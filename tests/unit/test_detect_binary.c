/* The binary drift detectors DDM, EDDM, HDDM_A and HDDM_W against River's behaviour:
 *  - River's own docstring examples (a random.Random(42) stream, regenerated here with Python's
 *    Mersenne Twister) print River's warning and change indices;
 *  - every warning and drift index on the golden streams of tests/golden/gen_detect_binary.py
 *    (Bernoulli error streams with abrupt, gradual and incremental changes, a decrease, several
 *    changes in a row, a stationary stream and values in [0, 1] that are not 0/1), for default
 *    and non-default parameters;
 *  - values outside [0, 1], NaN and inf are ignored without changing anything;
 *  - save mid-stream, load into a fresh detector and continue equals an uninterrupted run;
 *    corrupt or foreign state is rejected and leaves the detector as it was;
 *  - bad parameters give messages naming the key, the value and what is allowed. */
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

extern const struct drift_detector_ops drift_detector_ddm;
extern const struct drift_detector_ops drift_detector_eddm;
extern const struct drift_detector_ops drift_detector_hddm_a;
extern const struct drift_detector_ops drift_detector_hddm_w;

static const struct drift_detector_ops *const binary_ops[] = {
    &drift_detector_ddm, &drift_detector_eddm, &drift_detector_hddm_a, &drift_detector_hddm_w};
#define NOPS 4

static const struct drift_detector_ops *ops_named(const char *name)
{
    for (int i = 0; i < NOPS; i++) {
        if (strcmp(binary_ops[i]->name, name) == 0) {
            return binary_ops[i];
        }
    }
    return NULL;
}

/* ---- Python's random.Random(seed): MT19937 seeded by init_by_array, random() in 53 bits ---- */
struct mt {
    uint32_t s[624];
    int i;
};

static void mt_init(struct mt *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++) {
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    }
    m->i = 624;
}

static void mt_seed_py(struct mt *m, uint32_t key)
{
    mt_init(m, 19650218u);
    int i = 1, j = 0;
    for (int k = 624; k > 0; k--) {
        m->s[i] = (m->s[i] ^ ((m->s[i - 1] ^ (m->s[i - 1] >> 30)) * 1664525u)) + key + (uint32_t)j;
        i++;
        j = 0; /* the key has one word */
        if (i >= 624) {
            m->s[0] = m->s[623];
            i = 1;
        }
    }
    for (int k = 623; k > 0; k--) {
        m->s[i] = (m->s[i] ^ ((m->s[i - 1] ^ (m->s[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) {
            m->s[0] = m->s[623];
            i = 1;
        }
    }
    m->s[0] = 0x80000000u;
    m->i = 624;
}

static uint32_t mt_next(struct mt *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static double mt_random(struct mt *m)
{
    uint32_t a = mt_next(m) >> 5, b = mt_next(m) >> 6;
    return ((double)a * 67108864.0 + (double)b) * (1.0 / 9007199254740992.0);
}

/* River's docstring stream: rng.choices([0, 1], k=1000) then
 * rng.choices([0, 1], k=1000, weights=[0.3, 0.7]) with rng = random.Random(42). */
static void docstring_stream(double *x)
{
    struct mt m;
    mt_seed_py(&m, 42);
    for (int i = 0; i < 1000; i++) {
        x[i] = floor(mt_random(&m) * 2.0);
    }
    double cum0 = 0.3, total = 0.3 + 0.7;
    for (int i = 1000; i < 2000; i++) {
        x[i] = mt_random(&m) * total < cum0 ? 0.0 : 1.0;
    }
}

/* ---- golden streams and cases ---- */
#define MAX_STREAMS 16
struct stream {
    char name[32];
    size_t n;
    double *x;
};
static struct stream streams[MAX_STREAMS];
static int nstreams;

static void load_streams(void)
{
    if (nstreams > 0) {
        return;
    }
    FILE *f = golden_open("detect_binary_streams.txt");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        struct stream *s = &streams[nstreams];
        assert_true(nstreams < MAX_STREAMS);
        assert_int_equal(sscanf(line, "stream %31s %zu", s->name, &s->n), 2);
        s->x = malloc(s->n * sizeof(double));
        assert_non_null(s->x);
        assert_true(getline(&line, &cap, f) > 0);
        char *p = line;
        for (size_t i = 0; i < s->n; i++) {
            char *q;
            s->x[i] = strtod(p, &q);
            assert_true(q != p);
            p = q;
        }
        nstreams++;
    }
    free(line);
    fclose(f);
}

static const struct stream *stream_named(const char *name)
{
    load_streams();
    for (int i = 0; i < nstreams; i++) {
        if (strcmp(streams[i].name, name) == 0) {
            return &streams[i];
        }
    }
    fail_msg("no golden stream %s", name);
    return NULL;
}

static struct drift_detector *make(const struct drift_detector_ops *ops, const char *kv)
{
    /* kv: "KEY=VALUE KEY=VALUE ..." */
    char buf[512], err[256];
    struct drift_param p[8];
    int np = 0;
    snprintf(buf, sizeof(buf), "%s", kv ? kv : "");
    for (char *t = strtok(buf, " \n"); t != NULL; t = strtok(NULL, " \n")) {
        char *eq = strchr(t, '=');
        assert_non_null(eq);
        *eq = '\0';
        p[np].key = t;
        p[np].value = eq + 1;
        np++;
    }
    struct drift_detector *d = ops->create(p, np, err, sizeof(err));
    if (d == NULL) {
        fail_msg("%s %s: %s", ops->name, kv ? kv : "", err);
    }
    return d;
}

/* Event codes per index: bits of the update result. */
static void run(const struct drift_detector_ops *ops, struct drift_detector *d, const double *x,
                size_t from, size_t to, int *ev)
{
    for (size_t i = from; i < to; i++) {
        ev[i] = ops->update(d, x[i]);
    }
}

static void test_docstring_anchors(void **state)
{
    (void)state;
    static double x[2000];
    docstring_stream(x);
    /* The same stream the generator wrote (it is Python's own random.Random(42)). */
    const struct stream *g = stream_named("docstring");
    assert_int_equal(g->n, 2000);
    for (int i = 0; i < 2000; i++) {
        assert_true(x[i] == g->x[i]);
    }
    struct {
        const struct drift_detector_ops *ops;
        const char *params;
        const char *want;
    } anchors[] = {
        /* River's docstrings: DDM(), EDDM(alpha=0.8, beta=0.75), HDDMA(), HDDMW() */
        {&drift_detector_ddm, "", "W1084 C1334 W1492 "},
        {&drift_detector_eddm, "alpha=0.8 beta=0.75", "W1059 C1278 "},
        {&drift_detector_hddm_a, "", "W451 C1206 "},
        {&drift_detector_hddm_w, "", "W451 C1077 "},
    };
    for (size_t a = 0; a < sizeof(anchors) / sizeof(anchors[0]); a++) {
        struct drift_detector *d = make(anchors[a].ops, anchors[a].params);
        char got[256] = "";
        int print_warning = 1;
        for (int i = 0; i < 2000; i++) {
            int r = anchors[a].ops->update(d, x[i]);
            char item[32];
            if ((r & DRIFT_DETECT_WARNING) && print_warning) {
                snprintf(item, sizeof(item), "W%d ", i);
                strncat(got, item, sizeof(got) - strlen(got) - 1);
                print_warning = 0;
            }
            if (r & DRIFT_DETECT_DRIFT) {
                snprintf(item, sizeof(item), "C%d ", i);
                strncat(got, item, sizeof(got) - strlen(got) - 1);
                print_warning = 1;
            }
        }
        if (strcmp(got, anchors[a].want) != 0) {
            fail_msg("%s docstring: got '%s', River prints '%s'", anchors[a].ops->name, got,
                     anchors[a].want);
        }
        anchors[a].ops->destroy(d);
    }
}

/* One event line: "INDEX drift" or "INDEX warning". */
struct event {
    size_t i;
    int bit;
};

/* Our events in the generator's order: per index, the drift line before the warning line. */
static size_t events_of(const int *ev, size_t n, struct event *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ev[i] & DRIFT_DETECT_DRIFT) {
            out[k++] = (struct event){i, DRIFT_DETECT_DRIFT};
        }
        if (ev[i] & DRIFT_DETECT_WARNING) {
            out[k++] = (struct event){i, DRIFT_DETECT_WARNING};
        }
    }
    return k;
}

static const char *kind_name(int bit)
{
    return bit == DRIFT_DETECT_DRIFT ? "drift" : "warning";
}

static int golden_file(const char *det)
{
    const struct drift_detector_ops *ops = ops_named(det);
    assert_non_null(ops);
    char fname[64];
    snprintf(fname, sizeof(fname), "detect_binary_%s.txt", det);
    FILE *f = golden_open(fname);
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int ncases = 0;
    while (getline(&line, &cap, f) > 0) {
        char sname[32], dname[32];
        int off = 0;
        assert_int_equal(sscanf(line, "case %31s %31s %n", dname, sname, &off), 2);
        assert_string_equal(dname, det);
        char params[256];
        snprintf(params, sizeof(params), "%s", off > 0 ? line + off : "");
        params[strcspn(params, "\n")] = '\0';
        const struct stream *s = stream_named(sname);
        struct drift_detector *d = make(ops, params);
        int *ev = malloc(s->n * sizeof(int));
        struct event *ours = malloc(2 * s->n * sizeof(*ours));
        struct event *want = malloc(2 * s->n * sizeof(*want));
        assert_non_null(ev);
        assert_non_null(ours);
        assert_non_null(want);
        run(ops, d, s->x, 0, s->n, ev);
        size_t nours = events_of(ev, s->n, ours), nwant = 0;
        for (;;) {
            assert_true(getline(&line, &cap, f) > 0);
            if (strcmp(line, "end\n") == 0) {
                break;
            }
            char kind[16];
            assert_true(nwant < 2 * s->n);
            assert_int_equal(sscanf(line, "%zu %15s", &want[nwant].i, kind), 2);
            assert_true(strcmp(kind, "drift") == 0 || strcmp(kind, "warning") == 0);
            want[nwant].bit =
                strcmp(kind, "drift") == 0 ? DRIFT_DETECT_DRIFT : DRIFT_DETECT_WARNING;
            nwant++;
        }
        for (size_t k = 0; k < nours || k < nwant; k++) {
            if (k >= nours || k >= nwant || ours[k].i != want[k].i || ours[k].bit != want[k].bit) {
                fail_msg("%s %s [%s]: event %zu: expected %s%zu %s, got %s%zu %s", det, sname,
                         params, k, k < nwant ? "" : "(none) ", k < nwant ? want[k].i : 0,
                         k < nwant ? kind_name(want[k].bit) : "", k < nours ? "" : "(none) ",
                         k < nours ? ours[k].i : 0, k < nours ? kind_name(ours[k].bit) : "");
            }
        }
        free(ev);
        free(ours);
        free(want);
        ops->destroy(d);
        ncases++;
    }
    free(line);
    fclose(f);
    return ncases;
}

static void test_golden_ddm(void **state)
{
    (void)state;
    assert_true(golden_file("ddm") >= 30);
}

static void test_golden_eddm(void **state)
{
    (void)state;
    assert_true(golden_file("eddm") >= 30);
}

static void test_golden_hddm_a(void **state)
{
    (void)state;
    assert_true(golden_file("hddm_a") >= 30);
}

static void test_golden_hddm_w(void **state)
{
    (void)state;
    assert_true(golden_file("hddm_w") >= 30);
}

/* The state fields of a saved state, in the generator's order (ints as doubles). */
static size_t state_fields(const char *det, const unsigned char *b, double *out)
{
    size_t k = 0;
    uint32_t u32;
    uint64_t u64;
    if (strcmp(det, "ddm") == 0) {
        for (int j = 0; j < 5; j++) {
            memcpy(&out[k++], b + 36 + 8 * j, 8);
        }
    } else if (strcmp(det, "eddm") == 0) {
        for (int j = 0; j < 3; j++) {
            memcpy(&u64, b + 36 + 8 * j, 8);
            out[k++] = (double)u64;
        }
        for (int j = 0; j < 4; j++) {
            memcpy(&out[k++], b + 60 + 8 * j, 8);
        }
    } else if (strcmp(det, "hddm_a") == 0) {
        for (int j = 0; j < 6; j++) {
            memcpy(&out[k++], b + 32 + 8 * j, 8);
        }
    } else {
        for (int j = 0; j < 5; j++) {
            memcpy(&u32, b + 40 + 20 * j, 4);
            out[k++] = (double)u32;
            memcpy(&out[k++], b + 44 + 20 * j, 8);
            memcpy(&out[k++], b + 52 + 20 * j, 8);
        }
        memcpy(&out[k++], b + 140, 8);
        memcpy(&out[k++], b + 148, 8);
    }
    return k;
}

/* The internal state after COUNT values equals the generator's bit for bit: River's order of
 * floating-point operations, which the event indices alone rarely reveal. */
static void test_state_bits(void **state)
{
    (void)state;
    FILE *f = golden_open("detect_binary_state.txt");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int ncases = 0;
    while (getline(&line, &cap, f) > 0) {
        char det[32], sname[32];
        size_t count;
        int off = 0;
        char *colon = strstr(line, " : ");
        assert_non_null(colon);
        *colon = '\0';
        assert_int_equal(sscanf(line, "state %31s %31s %zu%n", det, sname, &count, &off), 3);
        const struct drift_detector_ops *ops = ops_named(det);
        assert_non_null(ops);
        const struct stream *s = stream_named(sname);
        assert_true(count <= s->n);
        struct drift_detector *d = make(ops, line + off);
        for (size_t i = 0; i < count; i++) {
            ops->update(d, s->x[i]);
        }
        unsigned char buf[512];
        size_t n = ops->save(d, buf, sizeof(buf));
        assert_true(n <= sizeof(buf));
        double ours[32], want[32];
        size_t nf = state_fields(det, buf, ours), nw = 0;
        char *p = colon + 3;
        for (;;) {
            char *q;
            double v = strtod(p, &q);
            if (q == p) {
                break;
            }
            assert_true(nw < 32);
            want[nw++] = v;
            p = q;
        }
        assert_int_equal(nf, nw);
        for (size_t k = 0; k < nf; k++) {
            if (memcmp(&ours[k], &want[k], 8) != 0) {
                fail_msg("%s [%s] %s after %zu: state field %zu is %a, the generator has %a", det,
                         line + off, sname, count, k, ours[k], want[k]);
            }
        }
        ops->destroy(d);
        ncases++;
    }
    assert_true(ncases >= 60);
    free(line);
    fclose(f);
}

/* Saved bytes of d (for "unchanged" comparisons). */
static size_t snapshot(const struct drift_detector_ops *ops, const struct drift_detector *d,
                       unsigned char *buf, size_t len)
{
    size_t need = ops->save(d, NULL, 0);
    assert_true(need <= len);
    assert_int_equal(ops->save(d, buf, len), need);
    return need;
}

static void test_ignored_values(void **state)
{
    (void)state;
    const struct stream *s = stream_named("multi");
    const double bad[] = {NAN, INFINITY, -INFINITY, -0.5, 1.5, 2.0, -1e-300, 1.0000000000000002};
    for (int o = 0; o < NOPS; o++) {
        const struct drift_detector_ops *ops = binary_ops[o];
        struct drift_detector *a = make(ops, NULL), *b = make(ops, NULL);
        unsigned char s1[512], s2[512];
        int drifts = 0;
        for (size_t i = 0; i < s->n; i++) {
            int ra = ops->update(a, s->x[i]);
            drifts += (ra & DRIFT_DETECT_DRIFT) != 0;
            /* b sees bad values around every value, and especially right after a drift (its
             * pending reset must wait for the next accepted value). */
            size_t before = snapshot(ops, b, s1, sizeof(s1));
            for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
                assert_int_equal(ops->update(b, bad[(i + k) % 8]), 0);
            }
            size_t after = snapshot(ops, b, s2, sizeof(s2));
            assert_int_equal(before, after);
            assert_memory_equal(s1, s2, before);
            int rb = ops->update(b, s->x[i]);
            assert_int_equal(ra, rb);
        }
        assert_true(drifts > 0);
        ops->destroy(a);
        ops->destroy(b);
    }
}

static void test_save_load_continue(void **state)
{
    (void)state;
    static const char *const params[NOPS][2] = {
        {"", "warm_start=100 warning_threshold=1.5 drift_threshold=2.5"},
        {"", "alpha=0.8 beta=0.75"},
        {"", "two_sided_test=true"},
        {"", "lambda_val=0.01 drift_confidence=0.01 warning_confidence=0.05 two_sided_test=1"},
    };
    const char *names[] = {"multi", "gradual", "fractional", "decrease"};
    for (int o = 0; o < NOPS; o++) {
        const struct drift_detector_ops *ops = binary_ops[o];
        for (int pi = 0; pi < 2; pi++) {
            for (int si = 0; si < 4; si++) {
                const struct stream *s = stream_named(names[si]);
                int *ref = malloc(s->n * sizeof(int)), *got = malloc(s->n * sizeof(int));
                assert_non_null(ref);
                assert_non_null(got);
                struct drift_detector *d = make(ops, params[o][pi]);
                run(ops, d, s->x, 0, s->n, ref);
                ops->destroy(d);
                /* Cut points: a spread, and every index right after a detection (saved with the
                 * reset pending) and at one. */
                for (size_t cut = 0; cut <= s->n; cut++) {
                    int at_event = cut > 0 && ref[cut - 1] != 0;
                    if (!(cut % 397 == 0 || cut == s->n ||
                          (at_event && (ref[cut - 1] & DRIFT_DETECT_DRIFT)) ||
                          (at_event && cut % 7 == 0))) {
                        continue;
                    }
                    struct drift_detector *a = make(ops, params[o][pi]);
                    run(ops, a, s->x, 0, cut, got);
                    size_t need = ops->save(a, NULL, 0);
                    unsigned char *buf = malloc(need);
                    assert_non_null(buf);
                    assert_int_equal(ops->save(a, buf, need), need);
                    ops->destroy(a);
                    struct drift_detector *b = make(ops, params[o][pi]);
                    assert_int_equal(ops->load(b, buf, need), 0);
                    run(ops, b, s->x, cut, s->n, got);
                    if (memcmp(ref, got, s->n * sizeof(int)) != 0) {
                        fail_msg("%s [%s] %s: save at %zu, load and continue differs", ops->name,
                                 params[o][pi], s->name, cut);
                    }
                    free(buf);
                    ops->destroy(b);
                }
                free(ref);
                free(got);
            }
        }
    }
}

/* Writes a double at byte offset off. */
static void poke_f64(unsigned char *b, size_t off, double v)
{
    memcpy(b + off, &v, 8);
}

static void poke_u32(unsigned char *b, size_t off, uint32_t v)
{
    memcpy(b + off, &v, 4);
}

struct corruption {
    const char *what;
    size_t off; /* byte offset */
    int type;   /* 0 f64, 1 u32, 2 u64 */
    double f;
    uint64_t u;
};

/* Layout offsets of each detector's saved state (see the comments above each *_save). */
static const struct corruption ddm_bad[] = {
    {"warm_start", 8, 2, 0, 31},     {"warning_threshold", 16, 0, 2.5, 0},
    {"flags 3", 32, 1, 0, 3},        {"n fraction", 36, 0, 10.5, 0},
    {"n negative", 36, 0, -1, 0},    {"mean > 1", 44, 0, 1.5, 0},
    {"mean NaN", 44, 0, NAN, 0},     {"p_min NaN", 52, 0, NAN, 0},
    {"s_min > 0.5", 60, 0, 0.75, 0}, {"ps_min mismatch", 68, 0, 0.123, 0},
};
static const struct corruption eddm_bad[] = {
    {"alpha", 16, 0, 0.9, 0},
    {"flags 4", 32, 1, 0, 4},
    {"errors > n", 52, 2, 0, UINT64_C(1) << 40},
    {"last_error > n", 44, 2, 0, UINT64_C(1) << 40},
    {"var_n", 60, 0, 3.5, 0},
    {"mean 0.5", 68, 0, 0.5, 0},
    {"S negative", 76, 0, -1, 0},
    {"m_max", 84, 0, 0.5, 0},
};
static const struct corruption hddm_a_bad[] = {
    {"drift_confidence", 8, 0, 0.002, 0}, {"two_sided", 24, 1, 0, 1},
    {"flags 3 one-sided", 28, 1, 0, 3},   {"z.n fraction", 32, 0, 3.5, 0},
    {"x_min.n > z.n", 48, 0, 1e15, 0},    {"mean inf", 40, 0, INFINITY, 0},
    {"x_max.n zero", 64, 0, 0, 0},
};
static const struct corruption hddm_w_bad[] = {
    {"lambda_val", 24, 0, 0.5, 0},
    {"flags 7", 36, 1, 0, 7},
    {"init 2", 40, 1, 0, 2},
    {"ewma 3", 44, 0, 3.0, 0},
    {"ibc 0", 52, 0, 0.0, 0},
    {"s1_incr uninit", 60, 1, 0, 0},
    {"incr_cut inf", 140, 0, INFINITY, 0},
    {"decr_cut NaN", 148, 0, NAN, 0},
};

static void test_corrupt_state_rejected(void **state)
{
    (void)state;
    const struct corruption *bad[NOPS] = {ddm_bad, eddm_bad, hddm_a_bad, hddm_w_bad};
    const size_t nbad[NOPS] = {
        sizeof(ddm_bad) / sizeof(ddm_bad[0]), sizeof(eddm_bad) / sizeof(eddm_bad[0]),
        sizeof(hddm_a_bad) / sizeof(hddm_a_bad[0]), sizeof(hddm_w_bad) / sizeof(hddm_w_bad[0])};
    const size_t sizes[NOPS] = {76, 92, 80, 156};
    const struct stream *s = stream_named("abrupt");
    for (int o = 0; o < NOPS; o++) {
        const struct drift_detector_ops *ops = binary_ops[o];
        /* A good state from mid-stream. */
        struct drift_detector *src = make(ops, NULL);
        for (size_t i = 0; i < 1500; i++) {
            ops->update(src, s->x[i]);
        }
        unsigned char good[512], before[512], after[512], b[512];
        size_t n = snapshot(ops, src, good, sizeof(good));
        assert_int_equal(n, sizes[o]);
        /* The victim: another detector at another point of the stream. */
        struct drift_detector *d = make(ops, NULL);
        for (size_t i = 0; i < 700; i++) {
            ops->update(d, s->x[i]);
        }
        size_t nb = snapshot(ops, d, before, sizeof(before));
        /* Generic corruptions. */
        memcpy(b, good, n);
        b[0] ^= 0x20;
        assert_int_equal(ops->load(d, b, n), DRIFT_ESTATE); /* magic */
        memcpy(b, good, n);
        poke_u32(b, 4, 2);
        assert_int_equal(ops->load(d, b, n), DRIFT_ESTATE); /* version */
        assert_int_equal(ops->load(d, good, n - 1), DRIFT_ESTATE);
        memcpy(b, good, n);
        b[n] = 0;
        assert_int_equal(ops->load(d, b, n + 1), DRIFT_ESTATE);
        assert_int_equal(ops->load(d, NULL, n), DRIFT_ESTATE);
        assert_int_equal(ops->load(d, good, 0), DRIFT_ESTATE);
        for (size_t k = 0; k < nbad[o]; k++) {
            const struct corruption *c = &bad[o][k];
            memcpy(b, good, n);
            if (c->type == 0) {
                poke_f64(b, c->off, c->f);
            } else if (c->type == 1) {
                poke_u32(b, c->off, (uint32_t)c->u);
            } else {
                memcpy(b + c->off, &c->u, 8);
            }
            assert_true(memcmp(b, good, n) != 0);
            if (ops->load(d, b, n) != DRIFT_ESTATE) {
                fail_msg("%s: corrupt state (%s) accepted", ops->name, c->what);
            }
        }
        /* A state of the same detector with other parameters. */
        const char *other[NOPS] = {"drift_threshold=3.5", "warm_start=31",
                                   "warning_confidence=0.01", "two_sided_test=true"};
        struct drift_detector *o2 = make(ops, other[o]);
        assert_int_equal(ops->load(o2, good, n), DRIFT_ESTATE);
        ops->destroy(o2);
        /* A state of another detector. */
        const struct drift_detector_ops *next = binary_ops[(o + 1) % NOPS];
        struct drift_detector *x = make(next, NULL);
        unsigned char foreign[512];
        size_t nf = snapshot(next, x, foreign, sizeof(foreign));
        assert_int_equal(ops->load(d, foreign, nf), DRIFT_ESTATE);
        next->destroy(x);
        /* d is exactly as it was, and still takes the good state. */
        size_t na = snapshot(ops, d, after, sizeof(after));
        assert_int_equal(na, nb);
        assert_memory_equal(before, after, nb);
        assert_int_equal(ops->load(d, good, n), 0);
        na = snapshot(ops, d, after, sizeof(after));
        assert_memory_equal(good, after, n);
        ops->destroy(d);
        ops->destroy(src);
    }
}

static void expect_error(const struct drift_detector_ops *ops, const char *key, const char *value,
                         const char *want)
{
    char err[256] = "";
    struct drift_param p[2] = {{key, value}, {NULL, NULL}};
    struct drift_detector *d = ops->create(p, 1, err, sizeof(err));
    if (d != NULL) {
        ops->destroy(d);
        fail_msg("%s: %s=%s accepted", ops->name, key, value);
    }
    if (strstr(err, want) == NULL) {
        fail_msg("%s: %s=%s: message '%s' lacks '%s'", ops->name, key, value, err, want);
    }
}

static void test_bad_parameters(void **state)
{
    (void)state;
    expect_error(&drift_detector_ddm, "foo", "1",
                 "ddm: unknown parameter 'foo' (allowed: warm_start, warning_threshold, "
                 "drift_threshold)");
    expect_error(&drift_detector_ddm, "warm_start", "-1", "warm_start must be an integer >= 0");
    expect_error(&drift_detector_ddm, "warm_start", "2.5", "got '2.5'");
    expect_error(&drift_detector_ddm, "warning_threshold", "0",
                 "warning_threshold must be a number > 0, got '0'");
    expect_error(&drift_detector_ddm, "drift_threshold", "x", "drift_threshold must be a number");
    expect_error(&drift_detector_eddm, "lambda", "1",
                 "eddm: unknown parameter 'lambda' (allowed: warm_start, alpha, beta)");
    expect_error(&drift_detector_eddm, "alpha", "1.5", "alpha must be a number in (0, 1], got");
    expect_error(&drift_detector_eddm, "beta", "0", "beta must be a number in (0, 1]");
    expect_error(&drift_detector_eddm, "alpha", "0.85",
                 "eddm: alpha must be greater than or equal to beta, got alpha=0.85, beta=0.9");
    expect_error(&drift_detector_hddm_a, "lambda_val", "0.1",
                 "hddm_a: unknown parameter 'lambda_val' (allowed: drift_confidence, "
                 "warning_confidence, two_sided_test)");
    expect_error(&drift_detector_hddm_a, "drift_confidence", "1",
                 "drift_confidence must be a number in (0, 1), got '1'");
    expect_error(&drift_detector_hddm_a, "warning_confidence", "0", "in (0, 1)");
    expect_error(&drift_detector_hddm_a, "two_sided_test", "maybe",
                 "two_sided_test must be true or false, got 'maybe'");
    expect_error(&drift_detector_hddm_w, "warm_start", "3",
                 "hddm_w: unknown parameter 'warm_start' (allowed: drift_confidence, "
                 "warning_confidence, lambda_val, two_sided_test)");
    expect_error(&drift_detector_hddm_w, "lambda_val", "0",
                 "lambda_val must be a number in (0, 1], got '0'");
    expect_error(&drift_detector_hddm_w, "lambda_val", "1.01", "in (0, 1]");
    expect_error(&drift_detector_hddm_w, "drift_confidence", "nan", "in (0, 1)");
    /* Edges that are allowed. */
    const char *fine[][2] = {{"ddm", "warm_start=0"},    {"eddm", "alpha=1 beta=1"},
                             {"hddm_w", "lambda_val=1"}, {"hddm_a", "two_sided_test=TRUE"},
                             {"eddm", "warm_start=0"},   {"ddm", "drift_threshold=0.5"}};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        const struct drift_detector_ops *ops = ops_named(fine[i][0]);
        struct drift_detector *d = make(ops, fine[i][1]);
        ops->destroy(d);
    }
    /* Names, descriptions and parameter texts. */
    assert_string_equal(drift_detector_ddm.params,
                        "warm_start=30, warning_threshold=2, drift_threshold=3");
    assert_string_equal(drift_detector_eddm.params, "warm_start=30, alpha=0.95, beta=0.9");
    assert_string_equal(drift_detector_hddm_a.params,
                        "drift_confidence=0.001, warning_confidence=0.005, two_sided_test=false");
    assert_string_equal(drift_detector_hddm_w.params,
                        "drift_confidence=0.001, warning_confidence=0.005, lambda_val=0.05, "
                        "two_sided_test=false");
    for (int o = 0; o < NOPS; o++) {
        assert_non_null(binary_ops[o]->description);
    }
}

/* Small hand-checked facts of the contract. */
static void test_contract(void **state)
{
    (void)state;
    /* DDM: silent up to warm_start values; the first value past it sets p_min/s_min (here
     * p = 0, s = 0), so the next error is past p_min + 3 s_min = 0: drift, no warning... */
    struct drift_detector *d = make(&drift_detector_ddm, "warm_start=5");
    for (int i = 0; i < 6; i++) {
        assert_int_equal(drift_detector_ddm.update(d, 0.0), 0);
    }
    assert_int_equal(drift_detector_ddm.update(d, 1.0), DRIFT_DETECT_DRIFT);
    /* ...and the next value starts from scratch: n = 1 <= 5, silent. */
    assert_int_equal(drift_detector_ddm.update(d, 1.0), 0);
    drift_detector_ddm.destroy(d);

    /* EDDM: a drift does not clear a standing warning (River sets only the drift flag), and the
     * warning stands over correct predictions. */
    d = make(&drift_detector_eddm, "warm_start=0 alpha=0.99 beta=0.7");
    const double x[] = {0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0};
    int last = 0, both = 0;
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
        last = drift_detector_eddm.update(d, x[i]);
        both |= last == (DRIFT_DETECT_DRIFT | DRIFT_DETECT_WARNING);
    }
    assert_true(both);
    drift_detector_eddm.destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docstring_anchors),
        cmocka_unit_test(test_golden_ddm),
        cmocka_unit_test(test_golden_eddm),
        cmocka_unit_test(test_golden_hddm_a),
        cmocka_unit_test(test_golden_hddm_w),
        cmocka_unit_test(test_state_bits),
        cmocka_unit_test(test_ignored_values),
        cmocka_unit_test(test_save_load_continue),
        cmocka_unit_test(test_corrupt_state_rejected),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_contract),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < nstreams; i++) {
        free(streams[i].x);
    }
    return rc;
}
