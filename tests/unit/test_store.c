/* The SQLite store on a real file: schema migration, a trigger with its signals and outbox rows
 * in one transaction, duplicate idempotency keys refused without side effects, outbox queries
 * and updates, and a newer schema refused with a clear message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift_op.h"
#include "store.h"

static char dir[64], path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/driftd-test-store.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static long long count(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void collect(void *ctx, const struct drift_outbox_row *r)
{
    int64_t *ids = ctx;
    ids[ids[0] + 1] = r->id;
    ids[0]++;
    assert_string_equal(r->body, "{\"idempotency_key\":\"k1\"}");
}

static void test_trigger_and_outbox(void **state)
{
    char err[256];
    struct drift_store *s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(count("PRAGMA user_version"), 1);
    struct drift_signal_row sig[2] = {{"amount", "psi", 0.7, NAN, 0.2, 1},
                                      {"amount", "ks", 0.3, 1e-9, 0.01, 1}};
    struct drift_trigger_row t = {"k1", "payments", "retrain", "data_drift", 1000,
                                  "{\"idempotency_key\":\"k1\"}"};
    const char *targets[2] = {"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"};
    int64_t id = 0;
    assert_int_equal(drift_store_trigger_add(s, &t, sig, 2, targets, 2, &id, err, sizeof(err)), 0);
    assert_true(id > 0);
    assert_int_equal(count("SELECT COUNT(*) FROM triggers"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM signals"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM signals WHERE pvalue IS NULL"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox WHERE status='pending'"), 2);
    /* The same key again: refused, nothing added. */
    assert_int_equal(drift_store_trigger_add(s, &t, sig, 2, targets, 2, &id, err, sizeof(err)),
                     DRIFT_EEXIST);
    assert_int_equal(count("SELECT COUNT(*) FROM signals"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 2);
    /* Due rows, next, updates. */
    int64_t ids[8] = {0};
    assert_int_equal(drift_store_outbox_due(s, 999, 10, collect, ids), 0);
    assert_int_equal(drift_store_outbox_due(s, 1000, 10, collect, ids), 2);
    assert_int_equal(drift_store_outbox_next(s), 1000);
    assert_int_equal(drift_store_outbox_update(s, ids[1], "done", 1, 1000, 200, NULL), 0);
    assert_int_equal(drift_store_outbox_update(s, ids[2], "pending", 1, 5000, 503, "HTTP 503"), 0);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    assert_int_equal(drift_store_outbox_next(s), 5000);
    assert_int_equal(count("SELECT http_status FROM outbox WHERE status='pending'"), 503);
    drift_store_close(s);
    /* Reopening keeps everything and does not migrate again. */
    s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    drift_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    char p2[160], err[256];
    snprintf(p2, sizeof(p2), "%s/new.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(drift_store_open(p2, err, sizeof(err)));
    assert_non_null(strstr(err, "999"));
    assert_null(drift_store_open("/nonexistent-dir/x.db", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trigger_and_outbox),
        cmocka_unit_test(test_newer_schema_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
