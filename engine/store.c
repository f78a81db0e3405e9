/*
 * The SQLite store: triggers, their signals, and the outbox, in one file per deployment.
 *
 * WAL mode with synchronous=FULL: a commit here gates a delivery, so it must survive power loss,
 * not only a crash. Writers start with BEGIN IMMEDIATE so a busy database waits (busy_timeout)
 * instead of failing mid-transaction with SQLITE_BUSY_SNAPSHOT. Every statement is prepared once
 * at open, reset after each use, and takes values only through bound parameters. The schema
 * version lives in PRAGMA user_version and is advanced by migrations; a file written by a newer
 * driftd is refused rather than guessed at.
 */
#include "store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drift_op.h"

#define STORE_VERSION 1      /* schema version this code writes */
#define STORE_BUSY_MS 5000   /* wait this long for a lock before failing */

static const char *const migrations[STORE_VERSION] = {
    /* v1 */
    "CREATE TABLE triggers ("
    "  id INTEGER PRIMARY KEY,"
    "  idem_key TEXT NOT NULL UNIQUE,"
    "  stream TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  payload TEXT NOT NULL);"
    "CREATE TABLE signals ("
    "  id INTEGER PRIMARY KEY,"
    "  trigger_id INTEGER NOT NULL REFERENCES triggers(id),"
    "  feature TEXT NOT NULL,"
    "  statistic TEXT NOT NULL,"
    "  value REAL,"
    "  pvalue REAL,"
    "  threshold REAL,"
    "  drifted INTEGER NOT NULL);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  trigger_id INTEGER NOT NULL REFERENCES triggers(id),"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending','done','dead')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  http_status INTEGER,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_due ON outbox(status, next_ms);"
    "CREATE INDEX signals_trigger ON signals(trigger_id);",
};

enum {
    SQL_BEGIN,
    SQL_COMMIT,
    SQL_ROLLBACK,
    SQL_TRIGGER_INSERT,
    SQL_SIGNAL_INSERT,
    SQL_OUTBOX_INSERT,
    SQL_OUTBOX_DUE,
    SQL_OUTBOX_NEXT,
    SQL_OUTBOX_COUNT,
    SQL_OUTBOX_UPDATE,
    SQL_COUNT
};

static const char *const sql_text[SQL_COUNT] = {
    [SQL_BEGIN] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_TRIGGER_INSERT] = "INSERT INTO triggers (idem_key, stream, rule, kind, created_ms, payload)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(idem_key) DO NOTHING",
    [SQL_SIGNAL_INSERT] = "INSERT INTO signals (trigger_id, feature, statistic, value, pvalue,"
                          " threshold, drifted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQL_OUTBOX_INSERT] = "INSERT INTO outbox (trigger_id, action, target, body, status, attempts,"
                          " next_ms, created_ms, updated_ms) VALUES (?1, 'webhook', ?2, ?3,"
                          " 'pending', 0, ?4, ?4, ?4)",
    [SQL_OUTBOX_DUE] = "SELECT o.id, o.trigger_id, o.action, o.target, o.body, o.attempts,"
                       " o.next_ms, o.created_ms FROM outbox o WHERE o.status = 'pending' AND"
                       " o.next_ms <= ?1 ORDER BY o.next_ms, o.id LIMIT ?2",
    [SQL_OUTBOX_NEXT] = "SELECT MIN(next_ms) FROM outbox WHERE status = 'pending'",
    [SQL_OUTBOX_COUNT] = "SELECT COUNT(*) FROM outbox WHERE status = ?1",
    [SQL_OUTBOX_UPDATE] = "UPDATE outbox SET status = ?2, attempts = ?3, next_ms = ?4,"
                          " http_status = ?5, last_error = ?6, updated_ms = ?7 WHERE id = ?1",
};

struct drift_store {
    sqlite3 *db;
    sqlite3_stmt *st[SQL_COUNT];
};

static int exec_simple(struct drift_store *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rc;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
        return drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(db));
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    if (version > STORE_VERSION) {
        return drift_seterr(err, errlen, DRIFT_ESTATE,
                            "the store has schema version %d, newer than this driftd knows (%d);"
                            " use a newer driftd or another store.path",
                            version, STORE_VERSION);
    }
    for (int v = version; v < STORE_VERSION; v++) {
        char *msg = NULL;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            drift_seterr(err, errlen, DRIFT_EFAULT, "migration to schema version %d failed: %s",
                         v + 1, msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return DRIFT_EFAULT;
        }
    }
    return 0;
}

struct drift_store *drift_store_open(const char *path, char *err, size_t errlen)
{
    struct drift_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "store %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            " PRAGMA foreign_keys=ON;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "store %s: %s", path, msg);
        sqlite3_free(msg);
        goto fail;
    }
    char merr[256];
    if (migrate(s->db, merr, sizeof(merr)) != 0) {
        drift_seterr(err, errlen, DRIFT_ESTATE, "store %s: %s", path, merr);
        goto fail;
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            drift_seterr(err, errlen, DRIFT_EFAULT, "store %s: %s", path, sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    return s;
fail:
    drift_store_close(s);
    return NULL;
}

void drift_store_close(struct drift_store *s)
{
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
    }
    sqlite3_close(s->db);
    free(s);
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v)) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_double(st, i, v);
    }
}

int drift_store_trigger_add(struct drift_store *s, const struct drift_trigger_row *t,
                            const struct drift_signal_row *sig, size_t nsig,
                            const char *const *targets, size_t ntargets, int64_t *trigger_id,
                            char *err, size_t errlen)
{
    int rc = exec_simple(s, SQL_BEGIN);
    if (rc != 0) {
        return drift_seterr(err, errlen, DRIFT_EFAULT, "begin: %s", sqlite3_errmsg(s->db));
    }
    sqlite3_stmt *st = s->st[SQL_TRIGGER_INSERT];
    sqlite3_bind_text(st, 1, t->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t->created_ms);
    sqlite3_bind_text(st, 6, t->payload, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        goto fail;
    }
    if (sqlite3_changes(s->db) == 0) {
        exec_simple(s, SQL_ROLLBACK);
        return DRIFT_EEXIST;
    }
    int64_t id = sqlite3_last_insert_rowid(s->db);
    st = s->st[SQL_SIGNAL_INSERT];
    for (size_t i = 0; i < nsig; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, sig[i].feature, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sig[i].statistic, -1, SQLITE_STATIC);
        bind_real_or_null(st, 4, sig[i].value);
        bind_real_or_null(st, 5, sig[i].pvalue);
        bind_real_or_null(st, 6, sig[i].threshold);
        sqlite3_bind_int(st, 7, sig[i].drifted);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            goto fail;
        }
    }
    st = s->st[SQL_OUTBOX_INSERT];
    for (size_t i = 0; i < ntargets; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, targets[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->payload, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, t->created_ms);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE) {
            goto fail;
        }
    }
    if (exec_simple(s, SQL_COMMIT) != 0) {
        goto fail;
    }
    if (trigger_id != NULL) {
        *trigger_id = id;
    }
    return 0;
fail:
    drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(s->db));
    exec_simple(s, SQL_ROLLBACK);
    return DRIFT_EFAULT;
}

int drift_store_outbox_due(struct drift_store *s, int64_t now_ms, int max,
                           void (*fn)(void *ctx, const struct drift_outbox_row *r), void *ctx)
{
    sqlite3_stmt *st = s->st[SQL_OUTBOX_DUE];
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, max);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct drift_outbox_row r = {
            .id = sqlite3_column_int64(st, 0),
            .trigger_id = sqlite3_column_int64(st, 1),
            .action = (char *)sqlite3_column_text(st, 2),
            .target = (char *)sqlite3_column_text(st, 3),
            .body = (char *)sqlite3_column_text(st, 4),
            .attempts = sqlite3_column_int(st, 5),
            .next_ms = sqlite3_column_int64(st, 6),
            .created_ms = sqlite3_column_int64(st, 7),
        };
        fn(ctx, &r);
        n++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

int64_t drift_store_outbox_next(struct drift_store *s)
{
    sqlite3_stmt *st = s->st[SQL_OUTBOX_NEXT];
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    return v;
}

int drift_store_outbox_count(struct drift_store *s, const char *status)
{
    sqlite3_stmt *st = s->st[SQL_OUTBOX_COUNT];
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    int v = DRIFT_EFAULT;
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int(st, 0);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return v;
}

int drift_store_outbox_update(struct drift_store *s, int64_t id, const char *status,
                              int attempts, int64_t next_ms, int http_status,
                              const char *last_error)
{
    sqlite3_stmt *st = s->st[SQL_OUTBOX_UPDATE];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, attempts);
    sqlite3_bind_int64(st, 4, next_ms);
    if (http_status > 0) {
        sqlite3_bind_int(st, 5, http_status);
    } else {
        sqlite3_bind_null(st, 5);
    }
    if (last_error != NULL) {
        sqlite3_bind_text(st, 6, last_error, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 6);
    }
    sqlite3_bind_int64(st, 7, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : DRIFT_EFAULT;
}
