/* libFuzzer target: the state loaders (every detector, moments, the quantile sketch, every
 * learner) on arbitrary bytes. The first byte picks the loader. A load must either refuse the
 * bytes and leave the object as it was (its saved state unchanged), or accept them, and then
 * saving gives bytes that load again to the same state. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

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
    } else if (pick < ndet + 5) {
        static const char *const names[] = {"logistic", "linear", "rls"};
        const struct drift_learner_ops *ops = drift_learner_find(names[pick - ndet - 2]);
        struct drift_learner_params lp = {.rls_forget = 1, .rls_delta = 1, .standardize = 1};
        struct drift_learner *l = ops->create(3, &lp, err, sizeof(err));
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
        ops->learn(l, x, 10, 10, y, NULL);
        size_t n1 = ops->save(l, before, sizeof(before));
        if (ops->load(l, data, size) != 0) {
            CHECK_UNCHANGED(ops->save, l);
        } else {
            size_t n = ops->save(l, again, sizeof(again));
            if (n > sizeof(again) || ops->load(l, again, n) != 0) {
                __builtin_trap();
            }
            ops->predict(l, x, 10);
        }
        ops->destroy(l);
    }
    return 0;
}
