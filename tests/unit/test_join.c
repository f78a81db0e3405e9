/* The prediction/label join against a plain list model over a long random sequence of puts,
 * takes and expiries (so every probe-run and ring wrap-around case is met), plus each counted
 * outcome on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
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

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 * -------------------------------------------------------------------------------------------*/
static unsigned char sbuf[1 << 16], sbuf2[1 << 16];

static uint64_t next_rng(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return *rng;
}

/* One random put, take or expire on a and, when b is not NULL, on b, which must answer alike. */
static void step(struct drift_join *a, struct drift_join *b, uint64_t *rng, int64_t *now)
{
    uint64_t r = next_rng(rng);
    *now += (int64_t)(r % 5);
    int kind = (int)((r >> 32) % 10), key = (int)((r >> 40) % 60);
    char id[16];
    size_t n = (size_t)snprintf(id, sizeof(id), "k%d", key);
    double pa = -1, pb = -1;
    int64_t ta = -1, tb = -1;
    int rca, rcb;
    if (kind < 5) {
        rca = drift_join_put(a, id, n, (double)key / 7, *now);
        rcb = b != NULL ? drift_join_put(b, id, n, (double)key / 7, *now) : rca;
    } else if (kind < 9) {
        rca = drift_join_take(a, id, n, &pa, &ta);
        rcb = b != NULL ? drift_join_take(b, id, n, &pb, &tb) : rca;
        assert_true(b == NULL || (pa == pb && ta == tb));
    } else {
        rca = (int)drift_join_expire(a, *now);
        rcb = b != NULL ? (int)drift_join_expire(b, *now) : rca;
    }
    assert_int_equal(rca, rcb);
}

static void assert_same_state(const struct drift_join *a, const struct drift_join *b)
{
    size_t na = drift_join_save(a, sbuf, sizeof(sbuf));
    size_t nb = drift_join_save(b, sbuf2, sizeof(sbuf2));
    assert_true(na <= sizeof(sbuf));
    assert_int_equal(na, nb);
    assert_memory_equal(sbuf, sbuf2, na);
    struct drift_join_stats sa, sb;
    drift_join_stats(a, &sa);
    drift_join_stats(b, &sb);
    assert_memory_equal(&sa, &sb, sizeof(sa));
}

/* A join loaded from a checkpoint answers every later put, take and expire as the original does
 * (taken predictions still count toward overflow), and saves to the same bytes. */
static void test_state_round_trip(void **state)
{
    (void)state;
    struct drift_join *a = drift_join_create(23, 40);
    uint64_t rng = 99;
    int64_t now = 0;
    struct drift_join_stats st;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 300; i++) {
            step(a, NULL, &rng, &now);
        }
        size_t n = drift_join_save(a, NULL, 0);
        assert_int_equal(drift_join_save(a, sbuf, n - 1), n); /* too small: nothing written */
        struct drift_join *b = drift_join_create(23, 40);
        assert_int_equal(drift_join_put(b, "junk", 4, 1, 0), 0); /* replaced by the load */
        assert_int_equal(drift_join_save(a, sbuf, sizeof(sbuf)), n);
        assert_int_equal(drift_join_load(b, sbuf, n), 0);
        assert_same_state(a, b);
        uint64_t rng2 = rng;
        int64_t now2 = now;
        for (int i = 0; i < 500; i++) {
            step(a, b, &rng2, &now2);
        }
        assert_same_state(a, b);
        drift_join_destroy(b);
    }
    drift_join_stats(a, &st);
    assert_true(st.matched > 100 && st.expired > 100 && st.overflowed > 10);
    drift_join_destroy(a);
}

/* The wall clock can be set back: predictions held with a time earlier than the one before
 * still save and load (a checkpoint taken then must not be refused). */
static void test_state_clock_set_back(void **state)
{
    (void)state;
    struct drift_join *a = drift_join_create(16, 100);
    assert_int_equal(drift_join_put(a, "a", 1, 0.5, 5000), 0);
    assert_int_equal(drift_join_put(a, "b", 1, 0.5, 1000), 0); /* the clock went back */
    assert_int_equal(drift_join_put(a, "c", 1, 0.5, 3000), 0);
    size_t n = drift_join_save(a, sbuf, sizeof(sbuf));
    struct drift_join *b = drift_join_create(16, 100);
    assert_int_equal(drift_join_load(b, sbuf, n), 0);
    assert_same_state(a, b);
    drift_join_destroy(a);
    drift_join_destroy(b);
}

/* Into a smaller join, the saved predictions too old for its max_pending are dropped and counted
 * as overflowed: the result is what a join of that size fed the same operations would hold. */
static void test_state_into_smaller(void **state)
{
    (void)state;
    struct drift_join *big = drift_join_create(10, 1000), *small = drift_join_create(4, 1000);
    struct drift_join *direct = drift_join_create(4, 1000);
    char id[8];
    double p;
    int64_t t;
    for (int i = 0; i < 10; i++) {
        int n = snprintf(id, sizeof(id), "a%d", i);
        assert_int_equal(drift_join_put(big, id, (size_t)n, i, i), 0);
        assert_int_equal(drift_join_put(direct, id, (size_t)n, i, i), 0);
    }
    assert_int_equal(drift_join_take(big, "a8", 2, &p, &t), 0);
    assert_int_equal(drift_join_take(direct, "a8", 2, &p, &t), 0);
    size_t n = drift_join_save(big, sbuf, sizeof(sbuf));
    assert_int_equal(drift_join_load(small, sbuf, n), 0);
    struct drift_join_stats st;
    drift_join_stats(small, &st);
    assert_int_equal(st.pending, 3); /* a6, a7, a9: a6 has 3 newer arrivals (a8 taken) */
    assert_int_equal(st.overflowed, 6);
    assert_same_state(small, direct);
    assert_int_equal(drift_join_take(small, "a5", 2, &p, &t), DRIFT_ENOENT);
    /* One more arrival and a6 has max_pending newer ones: it overflows. */
    assert_int_equal(drift_join_put(small, "b", 1, 0, 20), 0);
    assert_int_equal(drift_join_take(small, "a6", 2, &p, &t), DRIFT_ENOENT);
    assert_int_equal(drift_join_take(small, "a7", 2, &p, &t), 0);
    assert_true(p == 7 && t == 7);
    drift_join_destroy(big);
    drift_join_destroy(small);
    drift_join_destroy(direct);
}

/* Loads bad[0..n) into j: DRIFT_ESTATE, and j saves to the same bytes as before. */
static void assert_refused(struct drift_join *j, const unsigned char *bad, size_t n)
{
    static unsigned char before[4096], after[4096];
    size_t n1 = drift_join_save(j, before, sizeof(before));
    assert_int_equal(drift_join_load(j, bad, n), DRIFT_ESTATE);
    size_t n2 = drift_join_save(j, after, sizeof(after));
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
}

/* Entry i's offset in a state whose ids are all idlen bytes long. */
#define ENTRY(i, idlen) (72 + (size_t)(i) * (21 + (idlen)))

static void test_state_refuses_corrupt(void **state)
{
    (void)state;
    struct drift_join *src = drift_join_create(8, 100), *j = drift_join_create(8, 100);
    assert_int_equal(drift_join_put(src, "k1", 2, 0.5, 10), 0);
    assert_int_equal(drift_join_put(src, "k2", 2, 0.25, 11), 0);
    assert_int_equal(drift_join_put(src, "k3", 2, 0.75, 12), 0);
    assert_int_equal(drift_join_put(j, "mine", 4, 1, 5), 0);
    unsigned char good[512], bad[520];
    size_t n = drift_join_save(src, good, sizeof(good));
    assert_int_equal(n, ENTRY(3, 2));
    assert_refused(j, NULL, 0);
    for (size_t len = 0; len < n; len++) { /* truncated anywhere */
        assert_refused(j, good, len);
    }
    memcpy(bad, good, n);
    bad[n] = 0;
    assert_refused(j, bad, n + 1);    /* trailing byte */
    for (size_t i = 0; i < 48; i++) { /* magic, version, count, inserted..overflowed */
        memcpy(bad, good, n);
        bad[i] ^= 0x10;
        assert_refused(j, bad, n);
    }
    memcpy(bad, good, n);
    memcpy(bad + ENTRY(1, 2) + 21, "k1", 2); /* a duplicate id */
    assert_refused(j, bad, n);
    /* (an entry earlier than the one before it is fine: test_state_clock_set_back) */
    memcpy(bad, good, n);
    double nan = NAN;
    memcpy(bad + ENTRY(2, 2) + 8, &nan, 8);
    assert_refused(j, bad, n);
    memcpy(bad, good, n);
    uint32_t age = 5; /* not younger than the entry before it */
    memcpy(bad + ENTRY(2, 2) + 16, &age, 4);
    assert_refused(j, bad, n);
    memcpy(bad, good, n);
    bad[ENTRY(2, 2) + 20] = DRIFT_JOIN_MAX_ID + 1; /* id too long (and past the end) */
    assert_refused(j, bad, n);
    /* The untouched bytes load. */
    assert_int_equal(drift_join_load(j, good, n), 0);
    assert_same_state(j, src);
    drift_join_destroy(src);
    drift_join_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_outcome),
        cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_into_smaller),
        cmocka_unit_test(test_state_refuses_corrupt),
        cmocka_unit_test(test_state_clock_set_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
