/* The SQLite store on a real file in a temporary directory: the migration creates the schema and
 * records its version; a trigger, its signals and its outbox rows are written in one transaction
 * (checked by reading the file with sqlite3 directly); a duplicate idempotency key and a failing
 * insert leave nothing behind; the outbox queries and updates behave; a file with a newer schema
 * is refused, untouched, with a message naming its version; a new file is private to its owner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int teardown(void **state)
{
    return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Runs a one-value query on the file through a separate connection. */
static long long query_int(const char *file, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static long long count(const char *sql)
{
    return query_int(path, sql);
}

static void text_of(const char *file, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
            snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

struct seen {
    int n;
    int64_t id[8];
    int64_t next_ms[8];
    int attempts[8];
};

static void collect(void *ctx, const struct drift_outbox_row *r)
{
    struct seen *sn = ctx;
    assert_true(sn->n < 8);
    sn->id[sn->n] = r->id;
    sn->next_ms[sn->n] = r->next_ms;
    sn->attempts[sn->n] = r->attempts;
    sn->n++;
    assert_string_equal(r->action, "webhook");
    assert_string_equal(r->body, "{\"idempotency_key\":\"k1\"}");
    assert_int_equal(r->created_ms, 1000);
    assert_non_null(strstr(r->target, "http://127.0.0.1:1/"));
}

static void test_migration_creates_schema(void **state)
{
    char err[256], sql[512];
    struct drift_store *s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(count("PRAGMA user_version"), 5);
    assert_int_equal(count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                           " ('triggers', 'signals', 'outbox', 'performance_windows',"
                           " 'deployments', 'models', 'checkpoints', 'offsets')"),
                     8);
    /* The due-rows index covers (status, next_ms), in that order. */
    assert_int_equal(count("SELECT COUNT(*) FROM pragma_index_info('outbox_due') WHERE"
                           " (seqno = 0 AND name = 'status') OR (seqno = 1 AND name = 'next_ms')"),
                     2);
    assert_int_equal(count("SELECT COUNT(*) FROM pragma_index_list('triggers') WHERE"
                           " \"unique\" = 1"),
                     1);
    text_of(path, "PRAGMA journal_mode", sql, sizeof(sql));
    assert_string_equal(sql, "wal");
    text_of(path, "SELECT sql FROM sqlite_master WHERE name = 'outbox'", sql, sizeof(sql));
    assert_non_null(strstr(sql, "CHECK (status IN ('pending', 'done', 'dead'))"));
    assert_int_equal(drift_store_outbox_next(s), -1);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 0);
    drift_store_close(s);
    /* Opening again does not migrate again. */
    s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    drift_store_close(s);
    assert_int_equal(count("PRAGMA user_version"), 5);
}

struct got_models {
    int64_t last_version;
    char last_json[64];
};

static void got_model(void *ctx, int64_t version, int64_t created_ms, const char *js)
{
    struct got_models *g = ctx;
    g->last_version = version;
    snprintf(g->last_json, sizeof(g->last_json), "%s", js);
}

/* A version-1 file (before performance windows) is upgraded in place; rows survive. */
static int listed;

static void count_ckpt(void *ctx, const struct drift_ckpt_info *c)
{
    *(int *)ctx += strcmp(c->stream, "s") == 0 && strcmp(c->instance, "i1") == 0 && c->bytes > 0;
}

static void count_offset(void *ctx, const struct drift_offset_info *o)
{
    *(int *)ctx += (int)o->next_offset;
}

static void test_upgrade_from_v1(void **state)
{
    char err[256], saved[sizeof(path)];
    memcpy(saved, path, sizeof(path));
    snprintf(path, sizeof(path), "%s/v1.db", dir); /* a file of its own */
    struct drift_store *s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    drift_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE performance_windows; DROP TABLE deployments;"
                                      " DROP TABLE models; DROP TABLE checkpoints;"
                                      " DROP TABLE offsets;"
                                      " PRAGMA user_version = 1;"
                                      "INSERT INTO triggers (idem_key, stream, rule, kind,"
                                      " created_ms, payload) VALUES ('old', 's', 'r', 'data_drift',"
                                      " 1, '{}')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(count("PRAGMA user_version"), 5);
    assert_int_equal(count("SELECT COUNT(*) FROM triggers WHERE idem_key = 'old'"), 1);
    assert_int_equal(drift_store_perf_window_add(s, "s", 0, 0, 1000, 5, "{\"accuracy\":0.9}", err,
                                                 sizeof(err)),
                     0);
    /* v3's deployments came with the upgrade */
    assert_int_equal(drift_store_deployment_add(s, "s", "v7", "2026-11-23T00:00:00Z", 9, err,
                                                sizeof(err)),
                     0);
    assert_int_equal(drift_store_deployment_add(s, "s", NULL, NULL, 10, err, sizeof(err)), 0);
    assert_int_equal(count("SELECT COUNT(*) FROM deployments WHERE stream = 's' AND"
                           " version = 'v7' AND trained_until = '2026-11-23T00:00:00Z'"),
                     1);
    assert_int_equal(count("SELECT COUNT(*) FROM deployments WHERE version IS NULL AND"
                           " trained_until IS NULL"),
                     1);
    /* v4's model registry: versions by stream, the latest by default, a repeat ignored */
    assert_int_equal(drift_store_model_add(s, "s", 1, 11, "{\"version\":1}", err, sizeof(err)), 0);
    assert_int_equal(drift_store_model_add(s, "s", 2, 12, "{\"version\":2}", err, sizeof(err)), 0);
    assert_int_equal(drift_store_model_add(s, "s", 2, 13, "{\"other\":0}", err, sizeof(err)), 0);
    assert_int_equal(drift_store_model_add(s, "t", 1, 14, "{\"t\":1}", err, sizeof(err)), 0);
    assert_int_equal(drift_store_model_add(s, "s", 0, 15, "{}", err, sizeof(err)), DRIFT_EINVAL);
    struct got_models gm = {0};
    assert_int_equal(drift_store_models(s, "s", 0, got_model, &gm), 1);
    assert_int_equal(gm.last_version, 2);
    assert_string_equal(gm.last_json, "{\"version\":2}");
    assert_int_equal(drift_store_models(s, "s", 1, got_model, &gm), 1);
    assert_int_equal(gm.last_version, 1);
    assert_int_equal(drift_store_models(s, "s", -1, got_model, &gm), 2);
    assert_int_equal(drift_store_models(s, "s", 3, got_model, &gm), 0);
    assert_int_equal(drift_store_models(s, "nope", 0, got_model, &gm), 0);
    /* v5's checkpoints: parts replaced in place, offsets per group and partition, one
     * transaction */
    struct drift_ckpt_part parts[2] = {{"s", 0, 3, "ref", 3}, {"s", 1, 3, "live1", 5}};
    struct drift_ckpt_offset offs[2] = {{"t", 0, 100}, {"t", 1, 7}};
    assert_int_equal(drift_store_checkpoint(s, "i1", "g", parts, 2, offs, 2, 20, err,
                                            sizeof(err)),
                     0);
    parts[1].state = "live22";
    parts[1].len = 6;
    offs[0].next = 150;
    assert_int_equal(drift_store_checkpoint(s, "i1", "g", parts + 1, 1, offs, 1, 21, err,
                                            sizeof(err)),
                     0);
    char from[32];
    assert_int_equal(drift_store_offset(s, "g", "i1", "t", 0, from, sizeof(from)), 150);
    assert_string_equal(from, "g");
    assert_int_equal(drift_store_offset(s, "g", "i1", "t", 1, NULL, 0), 7);
    assert_int_equal(drift_store_offset(s, "g", "i1", "t", 2, NULL, 0), -1);
    /* another group: nothing of its own; this instance's state is at g's offset */
    assert_int_equal(drift_store_offset(s, "other", "i2", "t", 0, NULL, 0), -1);
    assert_int_equal(drift_store_offset(s, "other", "i1", "t", 0, from, sizeof(from)), 150);
    assert_string_equal(from, "g");
    /* once the new group has its own row, that one counts */
    offs[0].next = 160;
    assert_int_equal(drift_store_checkpoint(s, "i1", "other", parts + 1, 1, offs, 1, 22, err,
                                            sizeof(err)),
                     0);
    assert_int_equal(drift_store_offset(s, "other", "i1", "t", 0, from, sizeof(from)), 160);
    assert_string_equal(from, "other");
    assert_int_equal(drift_store_offset(s, "g", "i1", "t", 0, NULL, 0), 150);
    /* what driftd status lists */
    assert_int_equal(drift_store_checkpoints_list(s, count_ckpt, &listed), 2);
    assert_int_equal(listed, 2);
    listed = 0;
    assert_int_equal(drift_store_offsets_list(s, count_offset, &listed), 3);
    assert_int_equal(listed, 160 + 150 + 7);
    assert_int_equal(count("SELECT COUNT(*) FROM checkpoints WHERE stream = 's' AND"
                           " instance = 'i1' AND part = 1 AND state = CAST('live22' AS BLOB)"),
                     1);
    assert_int_equal(count("SELECT COUNT(*) FROM checkpoints WHERE part = 0 AND"
                           " state = CAST('ref' AS BLOB)"),
                     1);
    /* The same window again (a replayed stream) is not a second row. */
    assert_int_equal(drift_store_perf_window_add(s, "s", 0, 0, 1000, 6, "{}", err, sizeof(err)),
                     0);
    assert_int_equal(drift_store_perf_window_add(s, "s", 1, 1000, 1000, 7, "{}", err,
                                                 sizeof(err)),
                     0);
    assert_int_equal(count("SELECT COUNT(*) FROM performance_windows"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM performance_windows WHERE idx = 0 AND"
                           " json_extract(metrics, '$.accuracy') = 0.9"),
                     1);
    drift_store_close(s);
    memcpy(path, saved, sizeof(path));
}

static void test_trigger_and_outbox(void **state)
{
    char err[256];
    struct drift_store *s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    struct drift_signal_row sig[2] = {{"amount", "psi", 0.7, NAN, 0.2, 1},
                                      {"amount", "ks", 0.3, 1e-9, 0.01, 1}};
    struct drift_trigger_row t = {"k1",         "payments", "retrain",
                                  "data_drift", 1000,       "{\"idempotency_key\":\"k1\"}"};
    const struct drift_action_ref targets[2] = {{"webhook", "http://127.0.0.1:1/a"},
                                                {"webhook", "http://127.0.0.1:1/b"}};
    int64_t id = 0;
    assert_int_equal(drift_store_trigger_add(s, &t, sig, 2, targets, 2, &id, err, sizeof(err)), 0);
    assert_true(id > 0);
    assert_int_equal(count("SELECT COUNT(*) FROM triggers WHERE idem_key = 'k1'"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM signals"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM signals WHERE pvalue IS NULL"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM signals s JOIN triggers t ON s.trigger_id = t.id"
                           " WHERE t.idem_key = 'k1'"),
                     2);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND"
                           " action = 'webhook' AND attempts = 0 AND next_ms = 1000 AND"
                           " body = '{\"idempotency_key\":\"k1\"}'"),
                     2);

    /* The same key again: refused, nothing added. */
    const struct drift_action_ref one[1] = {{"webhook", "http://127.0.0.1:1/c"}};
    err[0] = '\0';
    assert_int_equal(drift_store_trigger_add(s, &t, sig, 1, one, 1, &id, err, sizeof(err)),
                     DRIFT_EEXIST);
    assert_non_null(strstr(err, "k1"));
    assert_int_equal(count("SELECT COUNT(*) FROM triggers"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM signals"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 2);

    /* A failure half-way (a NULL target violates NOT NULL) rolls the whole trigger back. */
    struct drift_trigger_row t2 = {"k2", "payments", "retrain", "data_drift", 2000, "{}"};
    const struct drift_action_ref bad[2] = {{"webhook", "http://127.0.0.1:1/ok"},
                                            {"webhook", NULL}};
    err[0] = '\0';
    assert_int_equal(drift_store_trigger_add(s, &t2, sig, 2, bad, 2, NULL, err, sizeof(err)),
                     DRIFT_EFAULT);
    assert_non_null(strstr(err, "NOT NULL"));
    assert_int_equal(count("SELECT COUNT(*) FROM triggers"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM signals"), 2);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox"), 2);
    /* ... and the connection is usable afterwards (no transaction left open). */
    assert_int_equal(drift_store_trigger_add(s, &t2, NULL, 0, NULL, 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(count("SELECT COUNT(*) FROM triggers"), 2);

    /* Due rows: none before created_ms, both at it, oldest first, bounded by max. */
    struct seen sn = {0};
    assert_int_equal(drift_store_outbox_due(s, 999, 10, collect, &sn), 0);
    assert_int_equal(drift_store_outbox_due(s, 1000, 1, collect, &sn), 1);
    assert_int_equal(drift_store_outbox_due(s, 1000, 0, collect, &sn), 0);
    sn.n = 0;
    assert_int_equal(drift_store_outbox_due(s, 1000, 10, collect, &sn), 2);
    assert_true(sn.id[0] < sn.id[1]);
    assert_int_equal(sn.attempts[0], 0);
    assert_int_equal(drift_store_outbox_next(s), 1000);

    /* Updates. */
    assert_int_equal(drift_store_outbox_update(s, sn.id[0], "done", 1, 1000, 200, NULL), 0);
    assert_int_equal(drift_store_outbox_update(s, sn.id[1], "pending", 1, 5000, 503, "HTTP 503"),
                     0);
    assert_int_equal(drift_store_outbox_count(s, "pending"), 1);
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    assert_int_equal(drift_store_outbox_count(s, "dead"), 0);
    assert_int_equal(drift_store_outbox_next(s), 5000);
    assert_int_equal(count("SELECT http_status FROM outbox WHERE status = 'pending'"), 503);
    assert_int_equal(count("SELECT attempts FROM outbox WHERE status = 'pending'"), 1);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox WHERE status = 'done' AND"
                           " http_status = 200 AND last_error IS NULL AND updated_ms > 1000"),
                     1);
    sn.n = 0;
    assert_int_equal(drift_store_outbox_due(s, 4999, 10, collect, &sn), 0);
    assert_int_equal(drift_store_outbox_due(s, 5000, 10, collect, &sn), 1);
    assert_int_equal(sn.next_ms[0], 5000);
    assert_int_equal(sn.attempts[0], 1);
    assert_int_equal(drift_store_outbox_update(s, sn.id[1], "dead", 2, 5000, 0, "gone"), 0);
    assert_int_equal(drift_store_outbox_next(s), -1);
    assert_int_equal(count("SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND"
                           " http_status IS NULL AND last_error = 'gone'"),
                     1);
    assert_int_equal(drift_store_outbox_update(s, 12345, "done", 1, 0, 200, NULL), DRIFT_ENOENT);
    assert_int_equal(drift_store_outbox_update(s, sn.id[1], "lost", 1, 0, 200, NULL), DRIFT_EINVAL);
    drift_store_close(s);

    /* Reopening keeps everything. */
    s = drift_store_open(path, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(drift_store_outbox_count(s, "done"), 1);
    assert_int_equal(drift_store_outbox_count(s, "dead"), 1);
    drift_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    char p2[160], err[256], mode[32];
    snprintf(p2, sizeof(p2), "%s/new.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p2, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    err[0] = '\0';
    assert_null(drift_store_open(p2, err, sizeof(err)));
    assert_non_null(strstr(err, "999"));
    assert_non_null(strstr(err, "(5)")); /* and the version this code knows */
    /* Untouched: still version 999, not switched to WAL. */
    assert_int_equal(query_int(p2, "PRAGMA user_version"), 999);
    text_of(p2, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "delete");
}

static void test_bad_files_refused(void **state)
{
    char p3[160], err[256];
    assert_null(drift_store_open("/nonexistent-dir/x.db", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
    snprintf(p3, sizeof(p3), "%s/junk.db", dir);
    FILE *f = fopen(p3, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++) {
        fputs("this is not a database, ", f);
    }
    fclose(f);
    err[0] = '\0';
    assert_null(drift_store_open(p3, err, sizeof(err)));
    assert_non_null(strstr(err, "junk.db"));
}

static unsigned file_mode(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0;
}

/* Regression (security review L3): the database (trigger payloads, targets, model weights) was
 * created 0644 under the usual umask. A new file is 0600, and so are the -wal and -shm files
 * SQLite makes beside it; an existing file keeps the mode it has. */
static void test_new_file_is_private(void **state)
{
    mode_t old = umask(022);
    char err[256], p[200], db[160];
    snprintf(db, sizeof(db), "%s/private.db", dir);
    struct drift_store *s = drift_store_open(db, err, sizeof(err));
    assert_non_null(s);
    struct drift_trigger_row t = {"k:1", "s", "retrain", "data_drift", 1, "{}"};
    assert_int_equal(drift_store_trigger_add(s, &t, NULL, 0, NULL, 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(file_mode(db), 0600);
    snprintf(p, sizeof(p), "%s-wal", db);
    assert_int_equal(file_mode(p), 0600);
    snprintf(p, sizeof(p), "%s-shm", db);
    assert_int_equal(file_mode(p), 0600);
    drift_store_close(s);

    snprintf(p, sizeof(p), "%s/shared.db", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(p, 0640), 0);
    s = drift_store_open(p, err, sizeof(err));
    assert_non_null(s);
    drift_store_close(s);
    assert_int_equal(file_mode(p), 0640);
    umask(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_creates_schema),
        cmocka_unit_test(test_trigger_and_outbox),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_upgrade_from_v1),
        cmocka_unit_test(test_bad_files_refused),
        cmocka_unit_test(test_new_file_is_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
