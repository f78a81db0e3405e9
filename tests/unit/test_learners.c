/* The linear learners ("logistic", "linear", "rls") through their ops structs: against the numpy
 * reference of tests/golden/gen_learners.py (every task × optimizer × batch × standardisation,
 * RLS against its closed form too); batch 1 is the original logistic SGD bit for bit; FTRL's L1
 * gives exact zeros; save → load → continue equals never stopping, mid mini-batch included;
 * however a stream is split into learn calls (1-row calls, random cuts, a save and a load into a
 * fresh learner between calls) the state and a carried loss sum are the same bit for bit as in
 * one call; a mini-batch with an overflowing row skips its step and its state still loads;
 * corrupt, foreign and other-version states (version 2 included) are refused with the learner
 * unchanged; bad parameters are refused with a message naming them; missing features,
 * non-finite labels and absurdly large values neither poison the model nor count as learnt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "golden.h"

#define GN 300 /* rows of the golden data */
#define GD 4   /* features of the golden data */
#define MAX_CASES 64

static double gx[GD * GN], gylog[GN], gylin[GN]; /* column-major, ld = GN */
static double gcenter[GD], gscale[GD];

struct lcase {
    int task, opt, batch, mode; /* mode 0 raw, 1 fixed, 2 online */
    double lr, l2, l1, alpha, beta;
    double w[GD], bias, loss, learnt;
};
struct rcase {
    double forget, delta;
    int mode;
    double w[GD], bias, loss, learnt, lsw[GD], lsb;
};
static struct lcase lcases[MAX_CASES];
static struct rcase rcases[MAX_CASES];
static int nl, nr;

/* Largest relative differences seen against the goldens, reported at the end. */
static double max_w, max_loss, max_chunked, max_rls, max_ls, max_rls_ill, max_ls_ill;

static double reldiff(double got, double want)
{
    return fabs(got - want) / (fabs(want) > 1 ? fabs(want) : 1);
}

static void close_to(double got, double want, double tol, double *track, const char *what, int i)
{
    double r = reldiff(got, want);
    if (track != NULL && r > *track) {
        *track = r;
    }
    if (!(r <= tol)) {
        fail_msg("%s (case %d): %.17g vs %.17g", what, i, got, want);
    }
}

static void load_goldens(void)
{
    if (nl > 0) {
        return;
    }
    FILE *f = golden_open("learners.txt");
    assert_non_null(f);
    static char line[1 << 14];
    int row = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        double v[16];
        if (strncmp(line, "data ", 5) == 0) {
            assert_int_equal(golden_group(line + 5, 0, v, 2), 2);
            assert_true(v[0] == GN && v[1] == GD);
        } else if (strncmp(line, "row ", 4) == 0) {
            assert_true(row < GN);
            assert_int_equal(golden_group(line + 3, 1, v, GD), GD);
            for (int j = 0; j < GD; j++) {
                gx[j * GN + row] = v[j];
            }
            assert_int_equal(golden_group(line + 3, 2, &gylog[row], 1), 1);
            assert_int_equal(golden_group(line + 3, 3, &gylin[row], 1), 1);
            row++;
        } else if (strncmp(line, "ref ", 4) == 0) {
            assert_int_equal(golden_group(line + 3, 1, gcenter, GD), GD);
            assert_int_equal(golden_group(line + 3, 2, gscale, GD), GD);
        } else if (strncmp(line, "case ", 5) == 0) {
            assert_true(nl < MAX_CASES);
            struct lcase *c = &lcases[nl++];
            assert_int_equal(golden_group(line + 5, 0, v, 9), 9);
            c->task = (int)v[0];
            c->opt = (int)v[1];
            c->batch = (int)v[2];
            c->mode = (int)v[3];
            c->lr = v[4];
            c->l2 = v[5];
            c->l1 = v[6];
            c->alpha = v[7];
            c->beta = v[8];
            assert_int_equal(golden_group(line + 5, 1, c->w, GD), GD);
            assert_int_equal(golden_group(line + 5, 2, &c->bias, 1), 1);
            assert_int_equal(golden_group(line + 5, 3, &c->loss, 1), 1);
            assert_int_equal(golden_group(line + 5, 4, &c->learnt, 1), 1);
        } else if (strncmp(line, "rls ", 4) == 0) {
            assert_true(nr < MAX_CASES);
            struct rcase *c = &rcases[nr++];
            assert_int_equal(golden_group(line + 4, 0, v, 3), 3);
            c->forget = v[0];
            c->delta = v[1];
            c->mode = (int)v[2];
            assert_int_equal(golden_group(line + 4, 1, c->w, GD), GD);
            assert_int_equal(golden_group(line + 4, 2, &c->bias, 1), 1);
            assert_int_equal(golden_group(line + 4, 3, &c->loss, 1), 1);
            assert_int_equal(golden_group(line + 4, 4, &c->learnt, 1), 1);
            assert_int_equal(golden_group(line + 4, 5, c->lsw, GD), GD);
            assert_int_equal(golden_group(line + 4, 6, &c->lsb, 1), 1);
        }
    }
    fclose(f);
    assert_int_equal(row, GN);
    assert_true(nl >= 24 && nr >= 3);
}

static void mode_params(struct drift_learner_params *p, int mode)
{
    p->center = mode == 1 ? gcenter : NULL;
    p->scale = mode == 1 ? gscale : NULL;
    p->standardize = mode == 2;
}

/* Learns the golden rows in calls of `chunk` rows; returns the rows learnt, adds the loss. */
static size_t learn_chunked(const struct drift_learner_ops *ops, struct drift_learner *l,
                            const double *y, size_t chunk, double *loss)
{
    size_t learnt = 0;
    for (size_t at = 0; at < GN; at += chunk) {
        size_t m = GN - at < chunk ? GN - at : chunk;
        learnt += ops->learn(l, gx + at, GN, m, y + at, loss);
    }
    return learnt;
}

static void test_goldens_gradient(void **state)
{
    load_goldens();
    char err[160];
    for (int i = 0; i < nl; i++) {
        const struct lcase *c = &lcases[i];
        const struct drift_learner_ops *ops = drift_learner_find(c->task ? "linear" : "logistic");
        assert_non_null(ops);
        struct drift_learner_params p = {.learning_rate = c->lr,
                                         .l2 = c->l2,
                                         .optimizer = c->opt,
                                         .l1 = c->l1,
                                         .ftrl_alpha = c->alpha,
                                         .ftrl_beta = c->beta,
                                         .batch = c->batch};
        mode_params(&p, c->mode);
        const double *y = c->task ? gylin : gylog;
        /* One call with every row, then the same rows in calls of 7 (blocks span calls): the
         * same state and loss, bit for bit. */
        unsigned char first[1024];
        size_t firstsz = 0;
        double firstloss = 0;
        for (int pass = 0; pass < 2; pass++) {
            struct drift_learner *l = ops->create(GD, &p, err, sizeof(err));
            if (l == NULL) {
                fail_msg("case %d: %s", i, err);
            }
            double loss = 0, w[GD], bias;
            size_t learnt = learn_chunked(ops, l, y, pass == 0 ? GN : 7, &loss);
            assert_int_equal(learnt, (size_t)c->learnt);
            assert_int_equal(ops->updates(l), (uint64_t)c->learnt);
            ops->weights(l, w, &bias);
            double *track = pass == 0 ? &max_w : &max_chunked;
            for (int j = 0; j < GD; j++) {
                close_to(w[j], c->w[j], 1e-11, track, "weight", i);
            }
            close_to(bias, c->bias, 1e-11, track, "bias", i);
            close_to(loss, c->loss, 1e-11, pass == 0 ? &max_loss : &max_chunked, "loss", i);
            size_t sz = ops->save(l, NULL, 0);
            assert_true(sz <= sizeof(first));
            if (pass == 0) {
                firstsz = ops->save(l, first, sizeof(first));
                firstloss = loss;
            } else {
                unsigned char again[1024];
                assert_int_equal(ops->save(l, again, sizeof(again)), firstsz);
                assert_memory_equal(again, first, firstsz);
                assert_true(loss == firstloss);
            }
            ops->destroy(l);
        }
    }
}

static void test_goldens_rls(void **state)
{
    load_goldens();
    const struct drift_learner_ops *ops = drift_learner_find("rls");
    assert_non_null(ops);
    char err[160];
    for (int i = 0; i < nr; i++) {
        const struct rcase *c = &rcases[i];
        struct drift_learner_params p = {
            .optimizer = DRIFT_OPT_RLS, .rls_forget = c->forget, .rls_delta = c->delta};
        mode_params(&p, c->mode);
        struct drift_learner *l = ops->create(GD, &p, err, sizeof(err));
        if (l == NULL) {
            fail_msg("rls case %d: %s", i, err);
        }
        double loss = 0, w[GD], bias;
        assert_int_equal(learn_chunked(ops, l, gylin, 13, &loss), (size_t)c->learnt);
        ops->weights(l, w, &bias);
        /* With P₀ = 10⁶·I and online standardisation the problem is ill-conditioned: the first
         * rows' z, standardised by two or three values, are large, and the first updates cancel
         * six digits; numpy's own recursion and closed form differ by 1e-6 there. */
        int ill = c->delta < 1e-3 && c->mode == 2;
        double tol = ill ? 1e-6 : 1e-10, *track = ill ? &max_rls_ill : &max_rls;
        for (int j = 0; j < GD; j++) {
            close_to(w[j], c->w[j], tol, track, "rls weight", i);
        }
        close_to(bias, c->bias, tol, track, "rls bias", i);
        close_to(loss, c->loss, tol, track, "rls loss", i);
        if (c->forget == 1) { /* the closed-form ridge solution */
            track = ill ? &max_ls_ill : &max_ls;
            for (int j = 0; j < GD; j++) {
                close_to(w[j], c->lsw[j], tol, track, "rls vs least squares", i);
            }
            close_to(bias, c->lsb, tol, track, "rls bias vs least squares", i);
        }
        ops->destroy(l);
    }
    printf("learner goldens: %d gradient cases, %d rls cases; max relative difference: weights "
           "%.2g, loss %.2g, in calls of 7 rows %.2g; rls %.2g, vs closed form %.2g (online "
           "with delta 1e-6: %.2g, %.2g)\n",
           nl, nr, max_w, max_loss, max_chunked, max_rls, max_ls, max_rls_ill, max_ls_ill);
}

/* ---------------------------------------------------------------------------------------------
 * Batch 1 is the original learner
 * -------------------------------------------------------------------------------------------*/

#define BN 4000
static double bx[4 * BN], by[BN]; /* 3 features, and a zero fourth for d = 4 learners */

static void make_data(unsigned seed)
{
    srand(seed);
    for (int i = 0; i < BN; i++) {
        double a = 100 + 20 * ((double)rand() / RAND_MAX - 0.5);
        double b = (double)rand() / RAND_MAX, c = (double)rand() / RAND_MAX - 0.5;
        bx[i] = a;
        bx[BN + i] = (i % 50 == 0) ? NAN : b;
        bx[2 * BN + i] = (i % 77 == 0) ? INFINITY : c;
        by[i] = (a - 100) / 10 + (b - 0.5) * 2 + c > 0 ? 1 : 0;
        if (i % 91 == 0) {
            by[i] = NAN;
        }
    }
}

/* The per-row update of the first logistic learner (logistic.c, state version 1), verbatim in
 * its arithmetic. */
static double v1_learn(const double *center, const double *scale, double lr, double l2, double *w,
                       double *bias)
{
    double z[3], loss = 0;
    for (int i = 0; i < BN; i++) {
        if (!isfinite(by[i])) {
            continue;
        }
        for (int j = 0; j < 3; j++) {
            double v = bx[j * BN + i];
            z[j] = isfinite(v) ? (v - center[j]) / scale[j] : 0;
        }
        double t = cblas_ddot(3, w, 1, z, 1) + *bias, p;
        if (t >= 0) {
            p = 1.0 / (1.0 + exp(-t));
        } else {
            double e = exp(t);
            p = e / (1.0 + e);
        }
        double pc = p < 1e-15 ? 1e-15 : (p > 1 - 1e-15 ? 1 - 1e-15 : p);
        loss += by[i] > 0.5 ? -log(pc) : -log(1 - pc);
        double g = p - by[i];
        if (l2 > 0) {
            cblas_dscal(3, 1.0 - lr * l2, w, 1);
        }
        cblas_daxpy(3, -lr * g, z, 1, w, 1);
        *bias -= lr * g;
    }
    return loss;
}

static void test_batch1_is_original(void **state)
{
    make_data(5);
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    double center[3] = {100, 0.5, 0}, scale[3] = {5.8, 0.29, 0.29};
    char err[160];
    for (int k = 0; k < 2; k++) {
        double l2 = k == 0 ? 0 : 1e-3;
        struct drift_learner_params old = {
            .learning_rate = 0.1, .l2 = l2, .center = center, .scale = scale};
        struct drift_learner_params explicit = old;
        explicit.optimizer = DRIFT_OPT_SGD;
        explicit.batch = 1;
        explicit.ftrl_alpha = 0.1;
        explicit.ftrl_beta = 1;
        explicit.rls_forget = 1;
        explicit.rls_delta = 1;
        explicit.standardize = 1; /* has no effect with center and scale given */
        struct drift_learner *a = ops->create(3, &old, err, sizeof(err));
        struct drift_learner *b = ops->create(3, &explicit, err, sizeof(err));
        assert_non_null(a);
        assert_non_null(b);
        double la = 0, lb = 0, ref_w[3] = {0}, ref_b = 0;
        size_t na = ops->learn(a, bx, BN, BN / 2, by, &la);
        na += ops->learn(a, bx + BN / 2, BN, BN / 2, by + BN / 2, &la);
        size_t nb = ops->learn(b, bx, BN, BN, by, &lb);
        double ref_loss = v1_learn(center, scale, 0.1, l2, ref_w, &ref_b);
        assert_int_equal(na, nb);
        double wa[3], wb[3], ba, bb;
        ops->weights(a, wa, &ba);
        ops->weights(b, wb, &bb);
        assert_memory_equal(wa, wb, sizeof(wa));
        assert_memory_equal(&ba, &bb, sizeof(ba));
        /* Against the original arithmetic, bit for bit, the loss summed over two calls too. */
        assert_true(lb == ref_loss);
        assert_true(la == ref_loss);
        for (int j = 0; j < 3; j++) {
            assert_true(wb[j] == ref_w[j] / scale[j]);
        }
        double rb = ref_b;
        for (int j = 0; j < 3; j++) {
            rb -= ref_w[j] * center[j] / scale[j];
        }
        assert_true(bb == rb);
        /* The state keeps the first format's size and layout (only the version differs). */
        assert_int_equal(ops->save(a, NULL, 0), 48 + 3 * 3 * 8);
        ops->destroy(a);
        ops->destroy(b);
    }
}

/* ---------------------------------------------------------------------------------------------
 * FTRL
 * -------------------------------------------------------------------------------------------*/

static void test_ftrl_l1_exact_zeros(void **state)
{
    make_data(9);
    /* Feature 2 of make_data is relevant; replace it by pure noise. */
    srand(3);
    for (int i = 0; i < BN; i++) {
        bx[2 * BN + i] = (double)rand() / RAND_MAX - 0.5;
        if (isfinite(by[i])) {
            by[i] = (bx[i] - 100) / 10 + (isfinite(bx[BN + i]) ? bx[BN + i] - 0.5 : 0) * 2 > 0;
        }
    }
    const struct drift_learner_ops *ops = drift_learner_find("logistic");
    char err[160];
    /* A huge L1: every weight is exactly zero, only the (unpenalised) bias moves. */
    struct drift_learner_params p = {.optimizer = DRIFT_OPT_FTRL, .l1 = 1e6, .standardize = 1};
    struct drift_learner *l = ops->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    ops->learn(l, bx, BN, BN, by, NULL);
    double w[3], bias;
    ops->weights(l, w, &bias);
    for (int j = 0; j < 3; j++) {
        assert_true(w[j] == 0.0);
    }
    assert_true(bias != 0.0 && isfinite(bias));
    ops->destroy(l);
    /* A moderate L1: the noise feature is exactly zero, the informative ones are not. */
    p.l1 = 20;
    p.ftrl_alpha = 0.5;
    l = ops->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    ops->learn(l, bx, BN, BN, by, NULL);
    ops->weights(l, w, &bias);
    assert_true(w[0] > 0 && w[1] > 0);
    assert_true(w[2] == 0.0);
    ops->destroy(l);
    /* The same with the linear task and mini-batches. */
    const struct drift_learner_ops *lin = drift_learner_find("linear");
    p.batch = 8;
    p.l1 = 1e6;
    l = lin->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    lin->learn(l, bx, BN, BN, by, NULL);
    lin->weights(l, w, &bias);
    assert_true(w[0] == 0.0 && w[1] == 0.0 && w[2] == 0.0);
    lin->destroy(l);
}

/* ---------------------------------------------------------------------------------------------
 * State
 * -------------------------------------------------------------------------------------------*/

struct config {
    const char *name;
    struct drift_learner_params p;
    int fixed; /* center/scale given */
};

/* A fourth value for the d = 4 learner of test_corrupt_fields_refused. */
static const double ccenter[4] = {100, 0.5, 0, 0}, cscale[4] = {5.8, 0.29, 0.29, 1};

static const struct config configs[] = {
    {"logistic", {.learning_rate = 0.1}, 1},
    {"logistic", {.optimizer = DRIFT_OPT_ADAGRAD, .l2 = 1e-3, .standardize = 1}, 0},
    {"logistic", {.optimizer = DRIFT_OPT_FTRL, .l1 = 0.5, .l2 = 0.1, .batch = 8}, 1},
    {"logistic", {.optimizer = DRIFT_OPT_FTRL, .l1 = 0.1, .batch = 5, .standardize = 1}, 0},
    {"linear", {.batch = 8, .standardize = 1}, 0},
    {"linear", {.optimizer = DRIFT_OPT_ADAGRAD, .batch = 3}, 1},
    {"linear", {.learning_rate = 1e-5}, 0}, /* raw features, of scale 100 */
    {"rls", {.rls_forget = 0.99, .standardize = 1}, 0},
    {"rls", {.optimizer = DRIFT_OPT_RLS, .rls_forget = 1, .rls_delta = 0.5}, 1},
};
#define NCONFIGS (sizeof(configs) / sizeof(configs[0]))

static struct drift_learner *make(const struct config *c, const struct drift_learner_ops **ops)
{
    char err[160];
    struct drift_learner_params p = c->p;
    if (c->fixed) {
        p.center = ccenter;
        p.scale = cscale;
    }
    *ops = drift_learner_find(c->name);
    assert_non_null(*ops);
    struct drift_learner *l = (*ops)->create(3, &p, err, sizeof(err));
    if (l == NULL) {
        fail_msg("%s: %s", c->name, err);
    }
    return l;
}

static unsigned char *saved(const struct drift_learner_ops *ops, const struct drift_learner *l,
                            size_t *sz)
{
    *sz = ops->save(l, NULL, 0);
    unsigned char *buf = malloc(*sz);
    assert_non_null(buf);
    assert_int_equal(ops->save(l, buf, *sz), *sz);
    return buf;
}

static void test_save_load_continue(void **state)
{
    make_data(21);
    for (size_t k = 0; k < NCONFIGS; k++) {
        const struct drift_learner_ops *ops;
        struct drift_learner *a = make(&configs[k], &ops), *b = make(&configs[k], &ops);
        struct drift_learner *whole = make(&configs[k], &ops);
        const size_t cut = 1003; /* mid mini-batch for every batch size above */
        double la = 0, lb = 0, lw = 0;
        ops->learn(a, bx, BN, cut, by, &la);
        size_t sz;
        unsigned char *buf = saved(ops, a, &sz);
        assert_int_equal(ops->load(b, buf, sz), 0);
        ops->learn(a, bx + cut, BN, BN - cut, by + cut, &la);
        lb = la;
        ops->learn(b, bx + cut, BN, BN - cut, by + cut, &lb);
        ops->learn(whole, bx, BN, BN, by, &lw);
        double wa[3], wb[3], ww[3], ba, bb, bw;
        ops->weights(a, wa, &ba);
        ops->weights(b, wb, &bb);
        ops->weights(whole, ww, &bw);
        /* The reloaded learner continues exactly as the one that never stopped. */
        assert_memory_equal(wa, wb, sizeof(wa));
        assert_true(ba == bb);
        assert_int_equal(ops->updates(a), ops->updates(b));
        for (int i = 0; i < 50; i++) {
            assert_true(ops->predict(a, bx + i, BN) == ops->predict(b, bx + i, BN));
        }
        size_t sz2;
        unsigned char *buf2 = saved(ops, a, &sz2), *buf3 = saved(ops, b, &sz2);
        assert_memory_equal(buf2, buf3, sz2);
        /* One call instead of two: the same model and loss, bit for bit. */
        unsigned char *bufw = saved(ops, whole, &sz2);
        assert_memory_equal(buf2, bufw, sz2);
        free(bufw);
        if (!(la == lw && memcmp(wa, ww, sizeof(wa)) == 0 && ba == bw)) {
            fail_msg("config %zu: bias %.17g vs %.17g, loss %.17g vs %.17g", k, ba, bw, la, lw);
        }
        /* reset: the state of a fresh learner. */
        struct drift_learner *fresh = make(&configs[k], &ops);
        ops->reset(a);
        free(buf2);
        buf2 = saved(ops, a, &sz2);
        free(buf3);
        buf3 = saved(ops, fresh, &sz2);
        assert_memory_equal(buf2, buf3, sz2);
        free(buf);
        free(buf2);
        free(buf3);
        ops->destroy(a);
        ops->destroy(b);
        ops->destroy(whole);
        ops->destroy(fresh);
    }
}

/* Loads bad into l and checks it is refused with l's state unchanged. */
static void refused(const struct drift_learner_ops *ops, struct drift_learner *l, const void *bad,
                    size_t len, const char *what)
{
    size_t sz;
    unsigned char *before = saved(ops, l, &sz);
    double pb = ops->predict(l, bx + 1, BN);
    if (ops->load(l, bad, len) != DRIFT_ESTATE) {
        fail_msg("%s: accepted", what);
    }
    unsigned char *after = saved(ops, l, &sz);
    assert_memory_equal(before, after, sz);
    assert_true(ops->predict(l, bx + 1, BN) == pb);
    free(before);
    free(after);
}

static void patch(unsigned char *buf, size_t off, double v)
{
    memcpy(buf + off, &v, 8);
}

static void test_corrupt_states_refused(void **state)
{
    make_data(33);
    for (size_t k = 0; k < NCONFIGS; k++) {
        const struct drift_learner_ops *ops;
        struct drift_learner *src = make(&configs[k], &ops), *l = make(&configs[k], &ops);
        ops->learn(src, bx, BN, 1001, by, NULL);
        ops->learn(l, bx + 2000, BN, 500, by + 2000, NULL); /* l's own, different state */
        size_t sz;
        unsigned char *good = saved(ops, src, &sz), *bad = malloc(sz);
        assert_non_null(bad);
        /* Header: magic, version, d, kind; the length. */
        for (size_t off = 0; off < 16; off += 4) {
            memcpy(bad, good, sz);
            bad[off] ^= 1;
            refused(ops, l, bad, sz, "header");
        }
        uint32_t version;
        memcpy(&version, good + 4, 4);
        for (int dv = -1; dv <= 1; dv += 2) { /* the previous and the next version */
            memcpy(bad, good, sz);
            uint32_t v = version + (uint32_t)dv;
            memcpy(bad + 4, &v, 4);
            refused(ops, l, bad, sz, "other version");
        }
        refused(ops, l, good, sz - 1, "short");
        refused(ops, l, NULL, sz, "NULL");
        /* Any double set to NaN is refused (the count of updates is an integer, at 16). */
        for (size_t off = 24; off + 8 <= sz; off += 8) {
            memcpy(bad, good, sz);
            patch(bad, off, NAN);
            refused(ops, l, bad, sz, "NaN");
        }
        /* The intact state loads and reproduces the source. */
        assert_int_equal(ops->load(l, good, sz), 0);
        assert_true(ops->predict(l, bx + 7, BN) == ops->predict(src, bx + 7, BN));
        free(good);
        free(bad);
        ops->destroy(src);
        ops->destroy(l);
    }
}

/* Field-specific corruptions, at offsets from the documented layouts (d = 3). */
static void test_corrupt_fields_refused(void **state)
{
    make_data(34);
    const struct drift_learner_ops *ops;
    /* FTRL, fixed, batch 8: 48 + 72, then l1 α β at 120, z[4] at 144, n[4] at 176, then batch
     * at 208, pending at 216, spoilt at 224, and the 990 % 8 = 6 pending rows: z[6 × 3] at 232,
     * residuals[6] at 376. */
    struct drift_learner *src = make(&configs[2], &ops), *l = make(&configs[2], &ops);
    ops->learn(src, bx, BN, 1001, by, NULL);
    size_t sz;
    unsigned char *good = saved(ops, src, &sz), bad[512];
    assert_int_equal(sz, 424);
    assert_true(ops->updates(src) % 8 == 6);
    /* batch; pending: not below the batch, whole, and matching both the length and the count of
     * updates; spoilt 0 or 1 */
    const size_t off[] = {24, 32, 120, 128, 136, 176, 208, 208, 216, 216, 216, 216, 216, 224, 224};
    const double val[] = {0, -1, -1, 0, -1, -1, 4, 1e300, 8, 2.5, -1, 5, 7, 2, 0.5};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        memcpy(bad, good, sz);
        patch(bad, off[i], val[i]);
        refused(ops, l, bad, sz, "ftrl field");
    }
    /* One pending row less, consistently cut: the count of updates gives it away. A row more or
     * less in the length alone is refused too. */
    memcpy(bad, good, sz);
    patch(bad, 216, 5);
    memmove(bad + 232 + 5 * 24, bad + 376, 5 * 8);
    refused(ops, l, bad, sz - 32, "pending 5 of 6 rows");
    refused(ops, l, good, sz - 32, "a row short");
    memcpy(bad, good, sz);
    memset(bad + sz, 0, 32);
    refused(ops, l, bad, sz + 32, "a row long");
    /* The flag itself is a state: spoilt 1 with rows loads, and round-trips. */
    memcpy(bad, good, sz);
    patch(bad, 224, 1);
    struct drift_learner *sp = make(&configs[2], &ops);
    assert_int_equal(ops->load(sp, bad, sz), 0);
    size_t spsz;
    unsigned char *spb = saved(ops, sp, &spsz);
    assert_int_equal(spsz, sz);
    assert_memory_equal(spb, bad, sz);
    free(spb);
    ops->destroy(sp);
    /* Version 2 kept the block as partial sums (batch, pending, Σg, Σg·z[d]): refused, in its
     * own layout and length, as is a version 2 header on the new layout. */
    memcpy(bad, good, 232);
    uint32_t v2 = 2;
    memcpy(bad + 4, &v2, 4);
    patch(bad, 224, 0.25);
    memset(bad + 232, 0, 24);
    refused(ops, l, bad, 256, "version 2 layout");
    memcpy(bad, good, sz);
    memcpy(bad + 4, &v2, 4);
    refused(ops, l, bad, sz, "version 2 header");
    /* A state of another kind: logistic FTRL into a linear one, batch 8 into batch 5. */
    struct drift_learner_params p = configs[2].p;
    p.center = ccenter;
    p.scale = cscale;
    char err[160];
    struct drift_learner *lin = drift_learner_find("linear")->create(3, &p, err, sizeof(err));
    assert_non_null(lin);
    refused(drift_learner_find("linear"), lin, good, sz, "other task");
    p.batch = 5;
    struct drift_learner *b5 = ops->create(3, &p, err, sizeof(err));
    assert_non_null(b5);
    memcpy(bad, good, sz);
    refused(ops, b5, bad, sz, "other batch");
    p.batch = 8;
    p.optimizer = DRIFT_OPT_ADAGRAD;
    p.l1 = 0;
    struct drift_learner *ada = ops->create(3, &p, err, sizeof(err));
    assert_non_null(ada);
    refused(ops, ada, good, sz, "other optimizer");
    struct drift_learner *d4 = NULL;
    p.optimizer = DRIFT_OPT_FTRL;
    d4 = ops->create(4, &p, err, sizeof(err));
    assert_non_null(d4);
    refused(ops, d4, good, sz, "other d");
    free(good);
    ops->destroy(src);
    ops->destroy(l);
    ops->destroy(b5);
    ops->destroy(ada);
    ops->destroy(d4);
    drift_learner_find("linear")->destroy(lin);

    /* Online standardisation (AdaGrad): 48 + 72, G[4] at 120, count[3] at 152, mean at 176,
     * m2 at 200. */
    src = make(&configs[1], &ops);
    l = make(&configs[1], &ops);
    ops->learn(src, bx, BN, 100, by, NULL);
    good = saved(ops, src, &sz);
    assert_int_equal(sz, 224);
    const size_t off2[] = {120, 152, 152, 200, 96};
    const double val2[] = {-1, 2.5, -1, -1, 0};
    for (size_t i = 0; i < sizeof(off2) / sizeof(off2[0]); i++) {
        memcpy(bad, good, sz);
        patch(bad, off2[i], val2[i]);
        refused(ops, l, bad, sz, "online field");
    }
    free(good);
    ops->destroy(src);
    ops->destroy(l);

    /* RLS, fixed: 40 + w[4] at 40, center at 72, scale at 96, P (10 packed) at 120. P[0][0] at
     * 120, P[0][1] at 128, P[1][1] at 136. */
    src = make(&configs[8], &ops);
    l = make(&configs[8], &ops);
    ops->learn(src, bx, BN, 10, by, NULL);
    good = saved(ops, src, &sz);
    assert_int_equal(sz, 40 + (4 + 6 + 10) * 8);
    const size_t off3[] = {24, 24, 32, 104, 120, 136, 128};
    const double val3[] = {0, 1.5, 0, 0, -1, 0, 1e6};
    for (size_t i = 0; i < sizeof(off3) / sizeof(off3[0]); i++) {
        memcpy(bad, good, sz);
        patch(bad, off3[i], val3[i]);
        refused(ops, l, bad, sz, "rls field");
    }
    /* An online RLS state into a fixed one, and a gradient learner's state into RLS. */
    const struct drift_learner_ops *ops7;
    struct drift_learner *online = make(&configs[7], &ops7);
    unsigned char *os = saved(ops7, online, &sz);
    refused(ops, l, os, sz, "rls other kind");
    free(os);
    const struct drift_learner_ops *ops6;
    struct drift_learner *lin6 = make(&configs[6], &ops6);
    os = saved(ops6, lin6, &sz);
    refused(ops, l, os, sz, "linear state into rls");
    free(os);
    ops6->destroy(lin6);
    ops7->destroy(online);
    free(good);
    ops->destroy(src);
    ops->destroy(l);
}

/* ---------------------------------------------------------------------------------------------
 * Call boundaries
 *
 * The daemon checkpoints the learner and, after a crash, replays from Kafka, whose batches are
 * cut anywhere: the learner after rows 1..N, and a loss accumulator carried across the calls,
 * must be the same bit for bit however the rows were split into learn calls, with or without a
 * save and a load into a fresh learner at a call boundary (mid mini-batch included).
 * -------------------------------------------------------------------------------------------*/

#define SN 1000       /* rows of the split tests (of bx, ld = BN) */
static double sy[BN]; /* a continuous label for the linear learners, NaN where by is */

static void make_split_data(void)
{
    make_data(61);
    for (int i = 0; i < BN; i++) {
        sy[i] = isfinite(by[i]) ? 0.2 * (bx[i] - 100) + sin(0.1 * i) - 0.3 : NAN;
    }
}

/* xorshift64*: the test's own fixed-seed stream of cut points, independent of rand(). */
static uint64_t cut_state;

static size_t cut_next(size_t lo, size_t hi)
{
    cut_state ^= cut_state >> 12;
    cut_state ^= cut_state << 25;
    cut_state ^= cut_state >> 27;
    return lo + (size_t)((cut_state * 0x2545F4914F6CDD1DULL) >> 33) % (hi - lo + 1);
}

enum split { SPLIT_NONE, SPLIT_ROWS, SPLIT_SMALL, SPLIT_LARGE, NSPLITS };
enum restore { RESTORE_NONE, RESTORE_ONCE, RESTORE_EVERY };
static const char *const split_names[] = {"one call", "1-row calls", "calls of 1..64 rows",
                                          "calls of 0..300 rows"};

/* Learns rows [0, SN) of bx in calls cut as `how` says, adding every loss to *loss and the
 * rows learnt to *learnt. RESTORE_ONCE saves at the first boundary after SN / 3 where a
 * mini-batch is unfinished (any boundary with batch 1), destroys the learner and continues with
 * a fresh one loaded from the bytes, as a restart would; RESTORE_EVERY does so at every
 * boundary. Returns the learner (caller destroys) and sets *restores. */
static struct drift_learner *learn_split(const struct drift_learner_ops *ops,
                                         const struct drift_learner_params *p, const double *y,
                                         enum split how, enum restore rs, double *loss,
                                         size_t *learnt, int *restores)
{
    char err[160];
    struct drift_learner *l = ops->create(3, p, err, sizeof(err));
    if (l == NULL) {
        fail_msg("%s: %s", ops->name, err);
    }
    size_t empty = ops->save(l, NULL, 0); /* a fresh learner: no unfinished block */
    cut_state = 0x9E3779B97F4A7C15ULL + (uint64_t)how;
    *restores = 0;
    for (size_t at = 0; at < SN;) {
        size_t m = how == SPLIT_NONE    ? SN
                   : how == SPLIT_ROWS  ? 1
                   : how == SPLIT_SMALL ? cut_next(1, 64)
                                        : cut_next(0, 300);
        m = m > SN - at ? SN - at : m;
        *learnt += ops->learn(l, bx + at, BN, m, y + at, loss);
        at += m;
        size_t sz = ops->save(l, NULL, 0);
        int unfinished = p->batch <= 1 || sz > empty;
        if (at < SN && (rs == RESTORE_EVERY ||
                        (rs == RESTORE_ONCE && *restores == 0 && at >= SN / 3 && unfinished))) {
            unsigned char *buf = saved(ops, l, &sz);
            ops->destroy(l);
            l = ops->create(3, p, err, sizeof(err));
            assert_non_null(l);
            assert_int_equal(ops->load(l, buf, sz), 0);
            free(buf);
            *restores += 1;
        }
    }
    return l;
}

/* Every split and restore of p's learner against one call: the same bytes, loss and count. */
static void check_splits(const char *name, struct drift_learner_params p, const char *what)
{
    const struct drift_learner_ops *ops = drift_learner_find(name);
    assert_non_null(ops);
    const double *y = strcmp(name, "logistic") == 0 ? by : sy;
    double loss0 = 0;
    size_t n0 = 0, sz0, sz;
    int restores;
    struct drift_learner *whole =
        learn_split(ops, &p, y, SPLIT_NONE, RESTORE_NONE, &loss0, &n0, &restores);
    unsigned char *b0 = saved(ops, whole, &sz0);
    assert_true(isfinite(loss0) && n0 > 900);
    for (int how = SPLIT_ROWS; how < NSPLITS; how++) {
        for (int rs = RESTORE_NONE; rs <= RESTORE_EVERY; rs++) {
            double loss = 0;
            size_t n = 0;
            struct drift_learner *l =
                learn_split(ops, &p, y, (enum split)how, (enum restore)rs, &loss, &n, &restores);
            if (rs != RESTORE_NONE && restores == 0) {
                fail_msg("%s, %s: no boundary to restore at", what, split_names[how]);
            }
            unsigned char *b = saved(ops, l, &sz);
            if (n != n0 || sz != sz0 || memcmp(b, b0, sz) != 0 || loss != loss0) {
                fail_msg("%s, %s, %d restores: %zu rows, %zu bytes, loss %.17g; in one call %zu "
                         "rows, %zu bytes, loss %.17g%s",
                         what, split_names[how], restores, n, sz, loss, n0, sz0, loss0,
                         sz == sz0 && memcmp(b, b0, sz) != 0 ? " (the states differ)" : "");
            }
            free(b);
            ops->destroy(l);
        }
    }
    free(b0);
    ops->destroy(whole);
}

static void test_split_invariance_gradient(void **state)
{
    make_split_data();
    static const char *const mode_names[] = {"reference", "online", "raw"};
    int ncases = 0;
    for (int task = 0; task < 2; task++) {
        for (int opt = DRIFT_OPT_SGD; opt <= DRIFT_OPT_FTRL; opt++) {
            static const int batches[] = {1, 7, 32};
            for (size_t bi = 0; bi < 3; bi++) {
                for (int mode = 0; mode < 3; mode++) {
                    struct drift_learner_params p = {.optimizer = opt, .batch = batches[bi]};
                    p.l2 = opt == DRIFT_OPT_SGD ? 0 : 1e-3;
                    p.l1 = opt == DRIFT_OPT_FTRL ? 0.01 : 0;
                    p.learning_rate = task == 1 && mode == 2 ? 1e-5 : 0; /* raw: scale 100 */
                    p.center = mode == 0 ? ccenter : NULL;
                    p.scale = mode == 0 ? cscale : NULL;
                    p.standardize = mode == 1;
                    char what[96];
                    snprintf(what, sizeof(what), "%s %s batch %d %s", task ? "linear" : "logistic",
                             opt == DRIFT_OPT_SGD       ? "sgd"
                             : opt == DRIFT_OPT_ADAGRAD ? "adagrad"
                                                        : "ftrl",
                             batches[bi], mode_names[mode]);
                    check_splits(task ? "linear" : "logistic", p, what);
                    ncases++;
                }
            }
        }
    }
    assert_int_equal(ncases, 54);
}

static void test_split_invariance_rls(void **state)
{
    make_split_data();
    for (int k = 0; k < 6; k++) {
        struct drift_learner_params p = {.optimizer = DRIFT_OPT_RLS,
                                         .rls_forget = k % 2 ? 0.97 : 1,
                                         .rls_delta = k % 2 ? 1 : 1e-3};
        int mode = k / 2; /* reference, online, raw */
        p.center = mode == 0 ? ccenter : NULL;
        p.scale = mode == 0 ? cscale : NULL;
        p.standardize = mode == 1;
        char what[64];
        snprintf(what, sizeof(what), "rls forget %g mode %d", p.rls_forget, mode);
        check_splits("rls", p, what);
    }
}

/* A block with a row whose standardised value overflows cannot step; it is marked spoilt rather
 * than kept as non-finite numbers, so its state still loads (mid-block), it skips its step,
 * and the next block learns as usual. */
static void test_spoilt_block(void **state)
{
    const struct drift_learner_ops *ops = drift_learner_find("linear");
    double c[2] = {0, 0}, s[2] = {1e-11, 1}; /* 1e300 / 1e-11 overflows */
    struct drift_learner_params p = {.learning_rate = 0.1, .center = c, .scale = s, .batch = 4};
    char err[160];
    struct drift_learner *a = ops->create(2, &p, err, sizeof(err));
    struct drift_learner *b = ops->create(2, &p, err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    enum { R = 12 };
    double x[2 * R], y[R];
    for (int i = 0; i < R; i++) {
        x[i] = 1e-12 * (i % 5);
        x[R + i] = 0.1 * i - 0.4;
        y[i] = 0.5 * i;
    }
    x[5] = 1e300; /* row 5, in the second block */
    double la = 0, lb = 0, w1[2], b1, w2[2], b2;
    ops->learn(a, x, R, 4, y, &la);
    ops->weights(a, w1, &b1);
    assert_true(w1[1] != 0);
    ops->learn(a, x + 4, R, 3, y + 4, &la); /* rows 4..6: row 5 spoils the block */
    size_t sz;
    unsigned char *buf = saved(ops, a, &sz);
    struct drift_learner *r = ops->create(2, &p, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(ops->load(r, buf, sz), 0); /* finite, so it loads */
    free(buf);
    ops->destroy(a);
    ops->learn(r, x + 7, R, 1, y + 7, &la); /* completes the block: no step */
    ops->weights(r, w2, &b2);
    assert_memory_equal(w1, w2, sizeof(w1));
    assert_memory_equal(&b1, &b2, sizeof(b1));
    ops->learn(r, x + 8, R, 4, y + 8, &la); /* the next block steps */
    ops->weights(r, w2, &b2);
    assert_true(isfinite(w2[0]) && isfinite(w2[1]) && isfinite(b2) && b2 != b1);
    /* The same rows in one call, uninterrupted: the same bytes and loss. */
    ops->learn(b, x, R, R, y, &lb);
    size_t sz2;
    unsigned char *rb = saved(ops, r, &sz), *bb = saved(ops, b, &sz2);
    assert_int_equal(sz, sz2);
    assert_memory_equal(rb, bb, sz);
    assert_true(memcmp(&la, &lb, sizeof(la)) == 0); /* NaN or inf for row 5: compare bytes */
    free(rb);
    free(bb);
    ops->destroy(r);
    ops->destroy(b);
}

/* ---------------------------------------------------------------------------------------------
 * Parameters
 * -------------------------------------------------------------------------------------------*/

/* Creating with p fails, and err contains want. */
static void bad(const char *name, int d, struct drift_learner_params p, const char *want)
{
    char err[200] = "";
    const struct drift_learner_ops *ops = drift_learner_find(name);
    assert_non_null(ops);
    struct drift_learner *l = ops->create(d, &p, err, sizeof(err));
    if (l != NULL) {
        ops->destroy(l);
        fail_msg("%s accepted (want an error with '%s')", name, want);
    }
    if (strstr(err, want) == NULL) {
        fail_msg("%s: '%s' does not say '%s'", name, err, want);
    }
}

static void test_bad_params(void **state)
{
    struct drift_learner_params z = {0};
    struct drift_learner_params p = z;
    p.optimizer = DRIFT_OPT_RLS;
    bad("logistic", 2, p, "optimizer rls");
    bad("linear", 2, p, "optimizer rls");
    p.optimizer = 7;
    bad("linear", 2, p, "learner.optimizer must be sgd, adagrad or ftrl");
    p = z;
    p.learning_rate = -0.1;
    bad("linear", 2, p, "learner.learning_rate must be > 0, got -0.1");
    p.learning_rate = NAN;
    bad("logistic", 2, p, "learning_rate");
    p = z;
    p.l2 = -1;
    bad("linear", 2, p, "learner.l2 must be >= 0");
    p = z;
    p.l1 = -1;
    p.optimizer = DRIFT_OPT_FTRL;
    bad("logistic", 2, p, "learner.l1 must be >= 0");
    p.l1 = 0.5;
    p.optimizer = DRIFT_OPT_SGD;
    bad("logistic", 2, p, "learner.l1 needs optimizer ftrl");
    p = z;
    p.optimizer = DRIFT_OPT_FTRL;
    p.ftrl_alpha = -1;
    bad("logistic", 2, p, "learner.ftrl_alpha must be > 0");
    p.ftrl_alpha = 0;
    p.ftrl_beta = -1;
    bad("logistic", 2, p, "learner.ftrl_beta must be >= 0");
    p = z;
    p.batch = -1;
    bad("linear", 2, p, "learner.batch must be between 1 and 4096, got -1");
    p.batch = 5000;
    bad("linear", 2, p, "learner.batch must be between 1 and 4096, got 5000");
    p = z;
    p.standardize = 2;
    bad("linear", 2, p, "learner.standardize must be 0 or 1");
    bad("linear", 0, z, "at least one numeric feature");
    /* RLS */
    p = z;
    p.optimizer = DRIFT_OPT_RLS;
    bad("rls", 2, p, "rls: learner.rls_forget must be in (0, 1], got 0");
    p.rls_forget = 1.5;
    bad("rls", 2, p, "rls: learner.rls_forget must be in (0, 1], got 1.5");
    p.rls_forget = -0.5;
    bad("rls", 2, p, "rls_forget");
    p.rls_forget = NAN;
    bad("rls", 2, p, "rls_forget");
    p.rls_forget = 1;
    bad("rls", 600, p, "rls: d must be <= 512 (O(d²) per row), got 600");
    p.rls_delta = -1;
    bad("rls", 2, p, "rls: learner.rls_delta must be > 0, got -1");
    p.rls_delta = INFINITY;
    bad("rls", 2, p, "rls_delta");
    p.rls_delta = 0; /* the default, 1 */
    p.batch = 8;
    bad("rls", 2, p, "rls: learner.batch must be 1");
    p.batch = 0;
    p.optimizer = DRIFT_OPT_ADAGRAD;
    bad("rls", 2, p, "rls: learner.optimizer must be rls");
    p.optimizer = DRIFT_OPT_RLS;
    bad("rls", 0, p, "at least one numeric feature");
    /* The limits themselves are accepted, and NULL parameters mean the defaults. */
    char err[160];
    const struct drift_learner_ops *rls = drift_learner_find("rls");
    struct drift_learner *l = rls->create(512, &p, err, sizeof(err));
    assert_non_null(l);
    rls->destroy(l);
    l = rls->create(3, NULL, err, sizeof(err));
    assert_non_null(l);
    rls->destroy(l);
    p = z;
    p.batch = 4096;
    const struct drift_learner_ops *lin = drift_learner_find("linear");
    l = lin->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    lin->destroy(l);
    l = lin->create(3, NULL, err, sizeof(err));
    assert_non_null(l);
    lin->destroy(l);
}

/* ---------------------------------------------------------------------------------------------
 * Values
 * -------------------------------------------------------------------------------------------*/

/* predict on the linear task is w·z + b, and matches the published weights on complete rows. */
static void test_linear_predict(void **state)
{
    make_data(44);
    for (size_t k = 0; k < NCONFIGS; k++) {
        const struct drift_learner_ops *ops;
        struct drift_learner *l = make(&configs[k], &ops);
        ops->learn(l, bx, BN, BN, bx + 2 * BN, NULL); /* any number: a regression on x2 */
        double w[3], bias;
        ops->weights(l, w, &bias);
        double row[3] = {104, 0.3, 0.2};
        double t = w[0] * row[0] + w[1] * row[1] + w[2] * row[2] + bias;
        double want = strcmp(configs[k].name, "logistic") == 0 ? 1 / (1 + exp(-t)) : t;
        if (!(reldiff(ops->predict(l, row, 1), want) < 1e-9)) {
            fail_msg("config %zu: %.17g vs %.17g", k, ops->predict(l, row, 1), want);
        }
        /* A row of missing features is the centre: the prediction is the bias in z-space, and
         * with the published weights it is the same as the row of centres. */
        double miss[3] = {NAN, INFINITY, -INFINITY};
        assert_true(isfinite(ops->predict(l, miss, 1)));
        ops->destroy(l);
    }
    /* By hand, fixed standardisation: w·z + b with z = (x − c)/s. */
    const struct drift_learner_ops *lin = drift_learner_find("linear");
    double c[2] = {10, -1}, s[2] = {2, 4};
    struct drift_learner_params p = {.learning_rate = 0.5, .center = c, .scale = s};
    char err[160];
    struct drift_learner *l = lin->create(2, &p, err, sizeof(err));
    assert_non_null(l);
    double x0[2] = {12, 3}, y0 = 2, loss = 0; /* z = (1, 1); ŷ = 0; g = −2 */
    assert_int_equal(lin->learn(l, x0, 1, 1, &y0, &loss), 1);
    assert_true(loss == 4);
    /* w = (1, 1), b = 1: for x = (14, −5), z = (2, −1), ŷ = 2 − 1 + 1 = 2. */
    double x1[2] = {14, -5};
    assert_true(lin->predict(l, x1, 1) == 2);
    double w[2], bias;
    lin->weights(l, w, &bias);
    assert_true(w[0] == 0.5 && w[1] == 0.25 && bias == 1 - 5 + 0.25);
    lin->destroy(l);
}

/* Online standardisation is prequential: the first rows see no statistics (z = 0), so only the
 * bias learns from them; then the statistics of the rows before. */
static void test_online_prequential(void **state)
{
    const struct drift_learner_ops *lin = drift_learner_find("linear");
    struct drift_learner_params p = {.learning_rate = 0.5, .standardize = 1};
    char err[160];
    struct drift_learner *l = lin->create(1, &p, err, sizeof(err));
    assert_non_null(l);
    /* Rows 1 and 2 have fewer than 2 values before them: z = 0, ŷ = b. */
    double x[4] = {1, 3, 5, NAN}, y[4] = {2, 2, 4, 1}, loss = 0;
    assert_int_equal(lin->learn(l, x, 1, 2, y, &loss), 2);
    double w[1], bias;
    lin->weights(l, w, &bias);
    /* b: 0 → 1 (ŷ 0, g −2) → 1.5 (ŷ 1, g −1); w stays 0. */
    assert_true(w[0] == 0 && bias == 1.5 && loss == 4 + 1);
    /* Row 3: mean 2, sd √2 of (1, 3): z = 3/√2, ŷ = 1.5, g = −2.5. */
    loss = 0;
    assert_int_equal(lin->learn(l, x + 2, 1, 1, y + 2, &loss), 1);
    assert_true(loss == 2.5 * 2.5);
    double z = 3 / sqrt(2.0), wz = 0.5 * 2.5 * z, b = 1.5 + 0.5 * 2.5;
    /* Published with the statistics of (1, 3, 5): mean 3, sd 2. */
    lin->weights(l, w, &bias);
    assert_true(fabs(w[0] - wz / 2) < 1e-15 && fabs(bias - (b - wz * 3 / 2)) < 1e-14);
    /* A missing feature is the centre and does not enter the statistics. */
    assert_true(fabs(lin->predict(l, x + 3, 1) - b) < 1e-15);
    assert_int_equal(lin->learn(l, x + 3, 1, 1, y + 3, NULL), 1);
    lin->weights(l, w, &bias);
    assert_true(fabs(w[0] - wz / 2) < 1e-15); /* the same statistics: weight maps the same */
    lin->destroy(l);
    /* standardize 0 and no center/scale: raw features. */
    p.standardize = 0;
    p.learning_rate = 0.1;
    l = lin->create(1, &p, err, sizeof(err));
    double xr = 3, yr = 1;
    lin->learn(l, &xr, 1, 1, &yr, NULL); /* g = −1: w = 0.3, b = 0.1 */
    lin->weights(l, w, &bias);
    assert_true(fabs(w[0] - 0.3) < 1e-15 && fabs(bias - 0.1) < 1e-15);
    lin->destroy(l);
}

/* NaN features, non-finite labels, and finite values large enough to overflow. */
static void test_missing_and_extreme(void **state)
{
    make_data(55);
    for (size_t k = 0; k < NCONFIGS; k++) {
        const struct drift_learner_ops *ops;
        struct drift_learner *l = make(&configs[k], &ops);
        /* Column-major 6 × 3: missing features; labels NaN, +inf and −inf skipped. */
        double xs[18] = {1,   NAN, 2,         -1,   INFINITY, 0.5, /* */
                         0.2, 0.4, -INFINITY, 0.1,  0.9,      NAN, /* */
                         0,   1,   NAN,       -0.5, 0.25,     2};
        double ys[6] = {1, NAN, 0, INFINITY, 1, -INFINITY}, loss = 0;
        assert_int_equal(ops->learn(l, xs, 6, 6, ys, &loss), 3);
        assert_int_equal(ops->updates(l), 3);
        assert_true(isfinite(loss));
        /* Absurd but finite values: the learner stays finite and its state still loads. */
        double huge[6] = {1e300, -1e300, 1e300, 1e300, 1e-300, -1e300}, yh[2] = {1, 1e300};
        ops->learn(l, huge, 2, 2, yh, NULL);
        ops->learn(l, bx, BN, 500, by, NULL);
        double w[3], bias;
        ops->weights(l, w, &bias);
        for (int j = 0; j < 3; j++) {
            assert_true(isfinite(w[j]));
        }
        assert_true(isfinite(bias));
        if (!isfinite(ops->predict(l, bx + 3, BN))) {
            fail_msg("config %zu: %g; w %g %g %g b %g", k, ops->predict(l, bx + 3, BN), w[0], w[1],
                     w[2], bias);
        }
        size_t sz;
        unsigned char *buf = saved(ops, l, &sz);
        struct drift_learner *l2 = make(&configs[k], &ops);
        if (ops->load(l2, buf, sz) != 0) {
            fail_msg("config %zu: the state of a learner fed extreme values does not load", k);
        }
        free(buf);
        ops->destroy(l);
        ops->destroy(l2);
    }
}

/* RLS fits an exact linear relation in about d rows. */
static void test_rls_exact(void **state)
{
    const struct drift_learner_ops *ops = drift_learner_find("rls");
    struct drift_learner_params p = {.rls_forget = 1, .rls_delta = 1e-9}; /* raw features */
    char err[160];
    struct drift_learner *l = ops->create(3, &p, err, sizeof(err));
    assert_non_null(l);
    srand(77);
    enum { R = 200 };
    static double x[3 * R], y[R];
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < 3; j++) {
            x[j * R + i] = (double)rand() / RAND_MAX * (j + 1) * 10 - j;
        }
        y[i] = 3 * x[i] - 0.5 * x[R + i] + 2 * x[2 * R + i] - 7;
    }
    double loss = 0;
    ops->learn(l, x, R, R, y, &loss);
    double w[3], bias;
    ops->weights(l, w, &bias);
    assert_true(fabs(w[0] - 3) < 1e-6 && fabs(w[1] + 0.5) < 1e-6 && fabs(w[2] - 2) < 1e-6);
    assert_true(fabs(bias + 7) < 1e-5);
    double row[3] = {1, 2, 3};
    assert_true(fabs(ops->predict(l, row, 1) - (3 - 1 + 6 - 7)) < 1e-6);
    ops->destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens_gradient),
        cmocka_unit_test(test_goldens_rls),
        cmocka_unit_test(test_batch1_is_original),
        cmocka_unit_test(test_ftrl_l1_exact_zeros),
        cmocka_unit_test(test_save_load_continue),
        cmocka_unit_test(test_corrupt_states_refused),
        cmocka_unit_test(test_corrupt_fields_refused),
        cmocka_unit_test(test_split_invariance_gradient),
        cmocka_unit_test(test_split_invariance_rls),
        cmocka_unit_test(test_spoilt_block),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_linear_predict),
        cmocka_unit_test(test_online_prequential),
        cmocka_unit_test(test_missing_and_extreme),
        cmocka_unit_test(test_rls_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
