/* The prediction/label join against a plain list model over a long random sequence of puts,
 * takes and expiries (so every probe-run and ring wrap-around case is met), plus each counted
 * outcome on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "drift_op.h"
#include "join.h"

static void test_each_outcome(void **state)
{
    (void)state;
    assert_null(drift_join_create(0, 10));
    assert_null(drift_join_create(4, 0));
    struct drift_join *j = drift_join_create(3, 100);
    struct drift_join_stats st;
    double p;
    int64_t t;
    assert_int_equal(drift_join_put(j, "a", 1, 0.9, 0), 0);
    assert_int_equal(drift_join_put(j, "a", 1, 0.1, 1), DRIFT_EEXIST);
    assert_int_equal(drift_join_put(j, "b", 1, 0.2, 2), 0);
    assert_int_equal(drift_join_take(j, "a", 1, &p, &t), 0);
    assert_true(p == 0.9 && t == 0);
    assert_int_equal(drift_join_take(j, "a", 1, &p, &t), DRIFT_ENOENT);
    char longid[DRIFT_JOIN_MAX_ID + 1];
    memset(longid, 'x', sizeof(longid));
    assert_int_equal(drift_join_put(j, longid, sizeof(longid), 1, 3), DRIFT_ERANGE);
    assert_int_equal(drift_join_put(j, longid, DRIFT_JOIN_MAX_ID, 1, 3), 0);
    assert_int_equal(drift_join_put(j, "c", 1, 0.3, 4), 0);
    assert_int_equal(drift_join_put(j, "d", 1, 0.4, 5), 0); /* ring full: b overflows */
    assert_int_equal(drift_join_take(j, "b", 1, &p, &t), DRIFT_ENOENT);
    assert_int_equal(drift_join_expire(j, 103), 1); /* the long id, put at 3 */
    assert_int_equal(drift_join_take(j, "c", 1, &p, &t), 0);
    assert_true(p == 0.3 && t == 4);
    drift_join_stats(j, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.inserted, 5);
    assert_int_equal(st.matched, 2);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.overflowed, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.unmatched, 2);
    assert_int_equal(st.id_too_long, 1);
    drift_join_destroy(j);
}

/* The model: every put in order with its state. */
#define NOPS 200000
static struct {
    char id[16];
    int64_t t;
    double p;
    int state; /* 1 pending, 0 gone */
} model[NOPS];
static int nmodel;

/* Puts older than the last cap have all left the ring (taken, expired or overflowed). */
static int lo(size_t cap)
{
    return nmodel > (int)cap ? nmodel - (int)cap : 0;
}

static void test_against_model(void **state)
{
    (void)state;
    size_t cap = 37; /* table of 128: long probe runs and wrap-around */
    int64_t ttl = 120, now = 0;
    struct drift_join *j = drift_join_create(cap, ttl);
    uint64_t rng = 12345;
    uint64_t matched = 0, unmatched = 0, expired = 0, overflowed = 0, dup = 0;
    for (int op = 0; op < NOPS; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        now += (int64_t)(rng % 7);
        int kind = (int)(rng >> 32) % 10, key = (int)((rng >> 40) % 100);
        char id[16];
        int n = snprintf(id, sizeof(id), "id%d", key);
        if (kind < 5) { /* put */
            int pending = 0;
            for (int i = lo(cap); i < nmodel; i++) {
                pending |= model[i].state == 1 && strcmp(model[i].id, id) == 0;
            }
            int rc = drift_join_put(j, id, (size_t)n, (double)op, now);
            if (pending) {
                assert_int_equal(rc, DRIFT_EEXIST);
                dup++;
                continue;
            }
            assert_int_equal(rc, 0);
            /* The ring holds the last cap puts (live or taken): the one cap back leaves. */
            int k = nmodel - (int)cap;
            if (k >= 0 && model[k].state == 1) {
                model[k].state = 0;
                overflowed++;
            }
            snprintf(model[nmodel].id, sizeof(model[nmodel].id), "%s", id);
            model[nmodel].t = now;
            model[nmodel].p = (double)op;
            model[nmodel].state = 1;
            nmodel++;
        } else if (kind < 9) { /* take */
            int at = -1;
            for (int i = lo(cap); i < nmodel; i++) {
                if (model[i].state == 1 && strcmp(model[i].id, id) == 0) {
                    at = i;
                }
            }
            double p;
            int64_t t;
            int rc = drift_join_take(j, id, (size_t)n, &p, &t);
            if (at < 0) {
                assert_int_equal(rc, DRIFT_ENOENT);
                unmatched++;
            } else {
                assert_int_equal(rc, 0);
                assert_true(p == model[at].p && t == model[at].t);
                model[at].state = 0;
                matched++;
            }
        } else { /* expire */
            size_t want = 0;
            for (int i = lo(cap); i < nmodel; i++) {
                if (model[i].state == 1 && model[i].t <= now - ttl) {
                    model[i].state = 0;
                    want++;
                }
            }
            assert_int_equal(drift_join_expire(j, now), want);
            expired += want;
        }
    }
    struct drift_join_stats st;
    drift_join_stats(j, &st);
    uint64_t pending = 0;
    for (int i = 0; i < nmodel; i++) {
        pending += model[i].state == 1;
    }
    assert_int_equal(st.pending, pending);
    assert_int_equal(st.matched, matched);
    assert_int_equal(st.unmatched, unmatched);
    assert_int_equal(st.expired, expired);
    assert_int_equal(st.overflowed, overflowed);
    assert_int_equal(st.duplicates, dup);
    assert_int_equal(st.inserted, (uint64_t)nmodel);
    print_message("join model run: %d puts, %llu matched, %llu expired, %llu overflowed\n",
                  nmodel, (unsigned long long)matched, (unsigned long long)expired,
                  (unsigned long long)overflowed);
    print_message("duplicates %llu, unmatched %llu\n", (unsigned long long)dup,
                  (unsigned long long)unmatched);
    assert_true(matched > 1000 && expired > 100 && overflowed > 100 && dup > 1000);
    drift_join_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_outcome),
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
