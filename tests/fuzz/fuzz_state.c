/* libFuzzer target: the state loaders (every detector, moments, the quantile sketch, every
 * learner, the prediction/label join, the message decoder) on arbitrary bytes. The first byte
 * picks the loader. A load must either refuse the bytes and leave the object as it was (its
 * saved state unchanged), or accept them, and then saving gives bytes that load again to the
 * same state. */
#include <apr_general.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"
#include "join.h"
#include "stream.h"

#define MAXSTATE (1 << 20)

static unsigned char before[MAXSTATE], after[MAXSTATE], again[MAXSTATE];

/* save → compare: the object did not change on a refused load */
#define CHECK_UNCHANGED(save, obj)                                                           \
    do {                                                                                     \
        size_t n2 = save(obj, after, sizeof(after));                                          \
        if (n2 != n1 || memcmp(before, after, n1) != 0) {                                    \
            __builtin_trap();                                                                \
        }                                                                                    \
    } while (0)

/* A join with pending predictions, taken ones among them (so saved entries have gaps in age). */
static void fuzz_join(const uint8_t *data, size_t size)
{
    struct drift_join *j = drift_join_create(16, 50);
    char id[8] = "abcdefg";
    for (int i = 0; i < 40; i++) {
        drift_join_put(j, id, (size_t)(i % 5) + 1, i / 3.0, i);
        id[i % 8] = (char)('a' + i % 7);
        if (i % 3 == 0) {
            double p;
            int64_t t;
            drift_join_take(j, id, 2, &p, &t);
        }
    }
    drift_join_expire(j, 45);
    size_t n1 = drift_join_save(j, before, sizeof(before));
    if (drift_join_load(j, data, size) != 0) {
        CHECK_UNCHANGED(drift_join_save, j);
    } else {
        size_t n = drift_join_save(j, again, sizeof(again));
        if (n > sizeof(again) || drift_join_load(j, again, n) != 0) {
            __builtin_trap();
        }
        double p;
        int64_t t;
        drift_join_put(j, "x", 1, 1, 1000); /* a loaded state must be usable */
        drift_join_take(j, "a", 1, &p, &t);
        drift_join_expire(j, 2000);
    }
    drift_join_destroy(j);
}

/* A decoder with two category dictionaries and a dedup memory of 8 ids, in a pool per input. */
static void fuzz_decoder(const uint8_t *data, size_t size)
{
    static struct drift_feature_conf feats[] = {
        {"a", DRIFT_FEATURE_NUMERIC, {0, 0}},
        {"c", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
        {"d", DRIFT_FEATURE_CATEGORICAL, {0, 0}},
    };
    static struct drift_stream_conf sc = {
        .name = "s", .features = feats, .nfeatures = 3, .id_field = "id", .time_field = "ts",
        .max_message_bytes = 4096, .max_lateness_s = 60, .dedup = 8,
    };
    static apr_pool_t *root;
    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    struct drift_decoder *dec = drift_decoder_create(pool, &sc);
    double x[1], lab[1], ts[1];
    int32_t cat[2], part[1];
    int64_t off[1];
    char ids[DRIFT_ID_MAX];
    uint8_t idlen[1];
    struct drift_batch b = {0, 1, 1, 2, x, cat, lab, ts, part, off, NULL, ids, idlen};
    int bad;
    const char *detail;
    for (int i = 0; i < 12; i++) {
        char msg[128];
        int n = snprintf(msg, sizeof(msg),
                         "{\"a\":1,\"c\":\"v%d\",\"d\":%d,\"id\":\"r%d\",\"ts\":%d}", i % 5,
                         i % 3, i % 10, 100 + i);
        b.n = 0;
        drift_decode(dec, msg, (size_t)n, &b, &bad, &detail);
    }
    size_t n1 = drift_decoder_save(dec, before, sizeof(before));
    if (drift_decoder_load(dec, data, size) != 0) {
        CHECK_UNCHANGED(drift_decoder_save, dec);
    } else {
        size_t n = drift_decoder_save(dec, again, sizeof(again));
        if (n > sizeof(again) || drift_decoder_load(dec, again, n) != 0) {
            __builtin_trap();
        }
        static const char msg[] =
            "{\"a\":2,\"c\":\"new\",\"d\":\"v1\",\"id\":\"r3\",\"ts\":500}";
        b.n = 0;
        drift_decode(dec, msg, sizeof(msg) - 1, &b, &bad, &detail); /* usable after a load */
    }
    apr_pool_destroy(pool);
}

/* The learners, by pick - ndet - 2: the first three as they always were, then mini-batches
 * (their state carries the rows of the unfinished block). */
struct learner_case {
    const char *name;
    struct drift_learner_params p;
};
static const struct learner_case learners[] = {
    {"logistic", {.rls_forget = 1, .rls_delta = 1, .standardize = 1}},
    {"linear", {.rls_forget = 1, .rls_delta = 1, .standardize = 1}},
    {"rls", {.rls_forget = 1, .rls_delta = 1, .standardize = 1}},
    {"logistic", {.optimizer = DRIFT_OPT_FTRL, .l1 = 0.1, .batch = 4, .standardize = 1}},
    {"linear", {.optimizer = DRIFT_OPT_ADAGRAD, .batch = 3}},
};
#define NLEARNERS (int)(sizeof(learners) / sizeof(learners[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    int pick = data[0];
    data++;
    size--;
    int ndet = 0;
    while (drift_detectors[ndet] != NULL) {
        ndet++;
    }
    char err[160];
    if (pick < ndet) {
        const struct drift_detector_ops *ops = drift_detectors[pick];
        struct drift_detector *dt = ops->create(NULL, 0, err, sizeof(err));
        for (int i = 0; i < 50; i++) {
            ops->update(dt, (double)(i % 7) / 7.0);
        }
        size_t n1 = ops->save(dt, before, sizeof(before));
        if (ops->load(dt, data, size) != 0) {
            CHECK_UNCHANGED(ops->save, dt);
        } else {
            size_t n = ops->save(dt, again, sizeof(again));
            if (n > sizeof(again) || ops->load(dt, again, n) != 0) {
                __builtin_trap();
            }
            ops->update(dt, 0.5); /* a loaded state must be usable */
        }
        ops->destroy(dt);
    } else if (pick == ndet) {
        static double mem[4096];
        struct drift_moments m;
        drift_moments_init(&m, 3, 8, mem);
        double x[24];
        for (int i = 0; i < 24; i++) {
            x[i] = i * 0.37 - 2;
        }
        drift_moments_update(&m, x, 8, 8);
        size_t n1 = drift_moments_save(&m, before, sizeof(before));
        if (drift_moments_load(&m, data, size) != 0) {
            CHECK_UNCHANGED(drift_moments_save, &m);
        } else if (drift_moments_load(&m, again, drift_moments_save(&m, again, sizeof(again))) != 0) {
            __builtin_trap();
        }
    } else if (pick == ndet + 1) {
        struct drift_sketch *s = drift_sketch_create(16, err, sizeof(err));
        for (int i = 0; i < 200; i++) {
            drift_sketch_add(s, (double)((i * 37) % 101));
        }
        size_t n1 = drift_sketch_save(s, before, sizeof(before));
        if (drift_sketch_load(s, data, size) != 0) {
            CHECK_UNCHANGED(drift_sketch_save, s);
        } else {
            size_t n = drift_sketch_save(s, again, sizeof(again));
            if (n > sizeof(again) || drift_sketch_load(s, again, n) != 0) {
                __builtin_trap();
            }
            drift_sketch_add(s, 1.0);
        }
        drift_sketch_destroy(s);
    } else if (pick < ndet + 2 + NLEARNERS) {
        const struct learner_case *lc = &learners[pick - ndet - 2];
        const struct drift_learner_ops *ops = drift_learner_find(lc->name);
        struct drift_learner *l = ops->create(3, &lc->p, err, sizeof(err));
        if (l == NULL) {
            __builtin_trap();
        }
        double x[30], y[10];
        for (int i = 0; i < 30; i++) {
            x[i] = (i * 13 % 17) / 5.0;
        }
        for (int i = 0; i < 10; i++) {
            y[i] = i % 2;
        }
        ops->learn(l, x, 10, 10, y, NULL); /* with batch > 1, ends mid-block */
        size_t n1 = ops->save(l, before, sizeof(before));
        if (ops->load(l, data, size) != 0) {
            CHECK_UNCHANGED(ops->save, l);
        } else {
            size_t n = ops->save(l, again, sizeof(again));
            if (n > sizeof(again) || ops->load(l, again, n) != 0) {
                __builtin_trap();
            }
            ops->predict(l, x, 10);
            ops->learn(l, x, 10, 10, y, NULL); /* completes a loaded unfinished block */
        }
        ops->destroy(l);
    } else if (pick == ndet + 2 + NLEARNERS) {
        fuzz_join(data, size);
    } else if (pick == ndet + 3 + NLEARNERS) {
        fuzz_decoder(data, size);
    }
    return 0;
}
