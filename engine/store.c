/*
 * The SQLite store: triggers, their signals, and the outbox, in one file per deployment.
 *
 * WAL mode with synchronous=FULL: a commit here gates a delivery (and, later, an offset store),
 * so it must survive power loss, not only a crash; WAL+NORMAL could roll a committed trigger
 * back after a power cut. Writers start with BEGIN IMMEDIATE so a busy database waits
 * (busy_timeout) instead of failing mid-transaction with SQLITE_BUSY_SNAPSHOT. All SQL of this
 * module is in the "SQL" section below; every statement is prepared once at open, reset after
 * each use, and takes values only through bound parameters. The schema version lives in
 * PRAGMA user_version and is advanced by migrations, each in its own transaction; a file written
 * by a newer driftd is refused rather than guessed at.
 *
 * A new database file is created readable by its owner only (0600): it holds trigger payloads,
 * delivery targets and errors, and model weights. SQLite would create it 0644 less the umask;
 * the -wal and -shm files it makes beside it take the database file's mode.
 */
#include "store.h"

#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift_op.h"
#include "log.h"

#define STORE_BUSY_MS 2000 /* wait this long for a lock before failing (the loop waits too) */

/* ---------------------------------------------------------------------------------------------
 * SQL
 * -------------------------------------------------------------------------------------------*/

/* Per-connection settings, run outside any transaction (journal_mode and foreign_keys cannot
 * change inside one). journal_mode answers with the mode in force, which is checked. */
static const char sql_wal[] = "PRAGMA journal_mode=WAL";
static const char sql_settings[] = "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;";
static const char sql_version[] = "PRAGMA user_version";
static const char sql_begin_migration[] = "BEGIN IMMEDIATE";
static const char sql_commit_migration[] = "COMMIT";
static const char sql_rollback_migration[] = "ROLLBACK";

/* migrations[v] takes the schema from version v to v + 1 and records the new version itself.
 * Append only: a released migration is never edited. */
static const char *const migrations[] = {
    /* v1: triggers, the signals that caused them, and one outbox row per delivery. */
    "CREATE TABLE triggers ("
    "  id INTEGER PRIMARY KEY,"
    "  idem_key TEXT UNIQUE NOT NULL,"
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
    "  pvalue REAL," /* NULL when the statistic has no p-value */
    "  threshold REAL,"
    "  drifted INTEGER NOT NULL);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  trigger_id INTEGER NOT NULL REFERENCES triggers(id),"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  http_status INTEGER,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_due ON outbox(status, next_ms);"
    "CREATE INDEX signals_trigger ON signals(trigger_id);"
    "CREATE INDEX outbox_trigger ON outbox(trigger_id);"
    "PRAGMA user_version = 1;",
    /* v2: prequential metrics per window of labelled predictions (concept drift). */
    "CREATE TABLE performance_windows ("
    "  id INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  first_pair INTEGER NOT NULL,"
    "  pairs INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  metrics TEXT NOT NULL,"
    "  UNIQUE (stream, idx, first_pair));"
    "PRAGMA user_version = 2;",
    /* v3: models the retraining pipeline reported live (POST /models/STREAM/deployed). */
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version TEXT," /* NULL when the caller gave none */
    "  trained_until TEXT," /* a time or an offset, as the caller gave it */
    "  created_ms INTEGER NOT NULL);"
    "PRAGMA user_version = 3;",
    /* v4: the model registry: every model update the learner published, by stream and version. */
    "CREATE TABLE models ("
    "  id INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  model TEXT NOT NULL," /* the update as published (docs/models.md) */
    "  UNIQUE (stream, version));"
    "PRAGMA user_version = 4;",
    /* v5: checkpoints. Each instance's pipeline state per stream, in two parts (0: the
     * reference rows, 1: the live state), and the next offset to consume per partition of each
     * consumer group, written together in one transaction. The offsets are shared: an instance
     * that is assigned a partition starts where its last owner's checkpoint stopped. */
    "CREATE TABLE checkpoints ("
    "  stream TEXT NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  part INTEGER NOT NULL,"
    "  gen INTEGER NOT NULL,"
    "  state BLOB NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (stream, instance, part));"
    "CREATE TABLE offsets ("
    "  grp TEXT NOT NULL,"
    "  topic TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  instance TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (grp, topic, partition));"
    "PRAGMA user_version = 5;",
};

#define STORE_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0]))) /* schema we write */

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
    SQL_PERF_WINDOW_INSERT,
    SQL_DEPLOYMENT_INSERT,
    SQL_MODEL_INSERT,
    SQL_MODEL_GET,
    SQL_MODEL_LIST,
    SQL_TRIGGER_LIST,
    SQL_CKPT_PUT,
    SQL_CKPT_GET,
    SQL_OFFSET_PUT,
    SQL_OFFSET_GET,
    SQL_CKPT_LIST,
    SQL_OFFSET_LIST,
    SQL_CKPT_PEER,
    SQL_COUNT
};

static const char *const sql_text[SQL_COUNT] = {
    [SQL_BEGIN] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_TRIGGER_INSERT] =
        "INSERT INTO triggers (idem_key, stream, rule, kind, created_ms, payload)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(idem_key) DO NOTHING",
    [SQL_SIGNAL_INSERT] = "INSERT INTO signals (trigger_id, feature, statistic, value, pvalue,"
                          " threshold, drifted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQL_OUTBOX_INSERT] = "INSERT INTO outbox (trigger_id, action, target, body, status, attempts,"
                          " next_ms, created_ms, updated_ms) VALUES (?1, ?5, ?2, ?3,"
                          " 'pending', 0, ?4, ?4, ?4)",
    [SQL_OUTBOX_DUE] = "SELECT id, trigger_id, action, target, body, attempts, next_ms, created_ms"
                       " FROM outbox WHERE status = 'pending' AND next_ms <= ?1"
                       " ORDER BY next_ms, id LIMIT ?2",
    [SQL_OUTBOX_NEXT] = "SELECT MIN(next_ms) FROM outbox WHERE status = 'pending'",
    [SQL_OUTBOX_COUNT] = "SELECT COUNT(*) FROM outbox WHERE status = ?1",
    [SQL_OUTBOX_UPDATE] = "UPDATE outbox SET status = ?2, attempts = ?3, next_ms = ?4,"
                          " http_status = ?5, last_error = ?6, updated_ms = ?7 WHERE id = ?1",
    [SQL_PERF_WINDOW_INSERT] = "INSERT INTO performance_windows (stream, idx, first_pair, pairs,"
                               " created_ms, metrics) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                               " ON CONFLICT DO NOTHING",
    [SQL_DEPLOYMENT_INSERT] = "INSERT INTO deployments (stream, version, trained_until,"
                              " created_ms) VALUES (?1, ?2, ?3, ?4)",
    [SQL_MODEL_INSERT] = "INSERT INTO models (stream, version, created_ms, model)"
                         " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [SQL_MODEL_GET] = "SELECT version, created_ms, model FROM models WHERE stream = ?1 AND"
                      " (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1",
    [SQL_MODEL_LIST] = "SELECT version, created_ms, model FROM models WHERE stream = ?1"
                       " ORDER BY version",
    [SQL_TRIGGER_LIST] =
        "SELECT t.idem_key, t.stream, t.rule, t.kind, t.created_ms, t.payload,"
        " COALESCE(SUM(o.status = 'done'), 0), COALESCE(SUM(o.status = 'pending'), 0),"
        " COALESCE(SUM(o.status = 'dead'), 0)"
        " FROM triggers t LEFT JOIN outbox o ON o.trigger_id = t.id"
        " WHERE t.created_ms >= ?1 AND (?2 IS NULL OR t.stream = ?2)"
        " GROUP BY t.id ORDER BY t.created_ms, t.id",
    [SQL_CKPT_PUT] = "INSERT INTO checkpoints (stream, instance, part, gen, state, updated_ms)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (stream, instance, part)"
                     " DO UPDATE SET gen = ?4, state = ?5, updated_ms = ?6",
    [SQL_CKPT_GET] = "SELECT part, gen, state, updated_ms FROM checkpoints"
                     " WHERE stream = ?1 AND instance = ?2 ORDER BY part",
    [SQL_OFFSET_PUT] = "INSERT INTO offsets (grp, topic, partition, next_offset, instance,"
                       " updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                       " ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = ?4,"
                       " instance = ?5, updated_ms = ?6",
    /* the group's own row; else this instance's latest under another group (its state is at
     * that offset: a renamed group must not re-read what the state already holds) */
    [SQL_OFFSET_GET] = "SELECT next_offset, grp FROM offsets WHERE topic = ?2 AND partition = ?3"
                       " AND (grp = ?1 OR instance = ?4)"
                       " ORDER BY grp = ?1 DESC, updated_ms DESC LIMIT 1",
    [SQL_CKPT_LIST] = "SELECT stream, instance, part, length(state), updated_ms FROM checkpoints"
                      " ORDER BY stream, instance, part",
    [SQL_CKPT_PEER] = "SELECT instance FROM checkpoints WHERE stream = ?1 AND instance != ?2"
                      " AND part = 1 ORDER BY updated_ms DESC LIMIT 1",
    [SQL_OFFSET_LIST] = "SELECT grp, topic, partition, next_offset, instance, updated_ms"
                        " FROM offsets ORDER BY grp, topic, partition",
};

/* ---------------------------------------------------------------------------------------------
 * Opening and migrating
 * -------------------------------------------------------------------------------------------*/
struct drift_store {
    sqlite3 *db;
    sqlite3_stmt *st[SQL_COUNT];
};

/* Reads PRAGMA user_version into *version. Returns 0 or DRIFT_EFAULT (err filled). */
static int read_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql_version, -1, &st, NULL) != SQLITE_OK) {
        return drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(db));
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
    } else {
        drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : DRIFT_EFAULT;
}

static int refuse_newer(int version, char *err, size_t errlen)
{
    return drift_seterr(err, errlen, DRIFT_ESTATE,
                        "schema version %d is newer than this driftd knows (%d);"
                        " use a newer driftd or another store.path",
                        version, STORE_VERSION);
}

/* Applies every migration the file lacks, each in its own BEGIN IMMEDIATE transaction. The
 * version is read again inside the transaction, so two processes opening a new file at once do
 * not both migrate it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    for (;;) {
        char *msg = NULL;
        int version = 0;
        if (sqlite3_exec(db, sql_begin_migration, NULL, NULL, &msg) != SQLITE_OK) {
            drift_seterr(err, errlen, DRIFT_EFAULT, "cannot start migration: %s",
                         msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            return DRIFT_EFAULT;
        }
        int rc = read_version(db, &version, err, errlen);
        if (rc == 0 && version > STORE_VERSION) {
            rc = refuse_newer(version, err, errlen);
        }
        if (rc != 0 || version == STORE_VERSION) {
            sqlite3_exec(db, sql_rollback_migration, NULL, NULL, NULL);
            return rc;
        }
        if (sqlite3_exec(db, migrations[version], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, sql_commit_migration, NULL, NULL, &msg) != SQLITE_OK) {
            drift_seterr(err, errlen, DRIFT_EFAULT, "migration to schema version %d failed: %s",
                         version + 1, msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, sql_rollback_migration, NULL, NULL, NULL);
            return DRIFT_EFAULT;
        }
    }
}

/* Switches the file to WAL and sets the per-connection pragmas. */
static int configure(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql_wal, -1, &st, NULL) != SQLITE_OK) {
        return drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(db));
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "cannot enable WAL: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return DRIFT_EFAULT;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        /* ":memory:" and some file systems cannot do WAL; the store still works, but commits are
         * not as cheap and readers block writers. Worth a line, not a refusal. */
        DRIFT_WARN("store is not in WAL mode", "journal_mode=%s", mode ? mode : "?");
    }
    sqlite3_finalize(st);
    char *msg = NULL;
    if (sqlite3_exec(db, sql_settings, NULL, NULL, &msg) != SQLITE_OK) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return DRIFT_EFAULT;
    }
    return 0;
}

/* Creates path as an empty file with mode 0600 when nothing is there yet, for SQLite to open as
 * a new database. An existing file keeps its mode (an operator may have chosen it); any other
 * failure is left for sqlite3_open_v2 to report. */
static void create_private(const char *path)
{
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
    }
}

struct drift_store *drift_store_open(const char *path, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0') {
        drift_seterr(err, errlen, DRIFT_EINVAL, "store path is empty");
        return NULL;
    }
    struct drift_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "store %s: out of memory", path);
        return NULL;
    }
    char msg[256];
    int version = 0;
    create_private(path);
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(msg, sizeof(msg), "%s", s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
    /* Refuse a newer file before touching it (switching it to WAL would be a change). */
    if (read_version(s->db, &version, msg, sizeof(msg)) != 0) {
        goto fail;
    }
    if (version > STORE_VERSION) {
        refuse_newer(version, msg, sizeof(msg));
        goto fail;
    }
    if (configure(s->db, msg, sizeof(msg)) != 0 || migrate(s->db, msg, sizeof(msg)) != 0) {
        goto fail;
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    return s;
fail:
    drift_seterr(err, errlen, DRIFT_EFAULT, "store %s: %s", path, msg);
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

/* ---------------------------------------------------------------------------------------------
 * Triggers
 * -------------------------------------------------------------------------------------------*/

/* Steps a statement that returns no row, then resets it and clears its bindings. Returns the
 * step's result code; on failure the message is copied into err first, while it is fresh. */
static int step_done(struct drift_store *s, sqlite3_stmt *st, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        drift_seterr(err, errlen, DRIFT_EFAULT, "%s", sqlite3_errmsg(s->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
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
                            const struct drift_action_ref *actions, size_t nactions,
                            int64_t *trigger_id, char *err, size_t errlen)
{
    if (s == NULL || t == NULL || t->idem_key == NULL || (nsig > 0 && sig == NULL) ||
        (nactions > 0 && actions == NULL)) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "trigger_add: missing argument");
    }
    if (step_done(s, s->st[SQL_BEGIN], err, errlen) != SQLITE_DONE) {
        return DRIFT_EFAULT;
    }
    sqlite3_stmt *st = s->st[SQL_TRIGGER_INSERT];
    sqlite3_bind_text(st, 1, t->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t->created_ms);
    sqlite3_bind_text(st, 6, t->payload, -1, SQLITE_STATIC);
    if (step_done(s, st, err, errlen) != SQLITE_DONE) {
        goto fail;
    }
    /* ON CONFLICT DO NOTHING: zero changes means the key is already recorded. */
    if (sqlite3_changes(s->db) == 0) {
        step_done(s, s->st[SQL_ROLLBACK], NULL, 0);
        return drift_seterr(err, errlen, DRIFT_EEXIST, "trigger %s is already recorded",
                            t->idem_key);
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
        if (step_done(s, st, err, errlen) != SQLITE_DONE) {
            goto fail;
        }
    }
    st = s->st[SQL_OUTBOX_INSERT];
    for (size_t i = 0; i < nactions; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, actions[i].target, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->payload, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, t->created_ms);
        sqlite3_bind_text(st, 5, actions[i].action, -1, SQLITE_STATIC);
        if (step_done(s, st, err, errlen) != SQLITE_DONE) {
            goto fail;
        }
    }
    if (step_done(s, s->st[SQL_COMMIT], err, errlen) != SQLITE_DONE) {
        goto fail;
    }
    if (trigger_id != NULL) {
        *trigger_id = id;
    }
    return 0;
fail:
    /* err holds the failing statement's message; ROLLBACK's own outcome would only hide it. */
    step_done(s, s->st[SQL_ROLLBACK], NULL, 0);
    return DRIFT_EFAULT;
}

/* ---------------------------------------------------------------------------------------------
 * Outbox
 * -------------------------------------------------------------------------------------------*/

/* fn runs while the SELECT is being stepped: it must not write to this store (copy what it
 * needs and act after the call returns). */
int drift_store_outbox_due(struct drift_store *s, int64_t now_ms, int max,
                           void (*fn)(void *ctx, const struct drift_outbox_row *r), void *ctx)
{
    if (max <= 0) {
        return 0; /* LIMIT with a negative value would mean "no limit" */
    }
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
    if (rc != SQLITE_DONE) {
        DRIFT_ERROR("cannot read due outbox rows", "error=\"%s\"", sqlite3_errmsg(s->db));
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

/* Returns 0, DRIFT_EINVAL for an unknown status, DRIFT_ENOENT when no row has this id, or
 * DRIFT_EFAULT on a database error. */
int drift_store_outbox_update(struct drift_store *s, int64_t id, const char *status, int attempts,
                              int64_t next_ms, int http_status, const char *last_error)
{
    if (status == NULL || (strcmp(status, "pending") != 0 && strcmp(status, "done") != 0 &&
                           strcmp(status, "dead") != 0)) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_OUTBOX_UPDATE];
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
    sqlite3_bind_int64(st, 7, (int64_t)drift_wall_ms());
    int rc = sqlite3_step(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    if (rc != SQLITE_DONE) {
        DRIFT_ERROR("cannot update outbox row", "outbox_id=%lld error=\"%s\"", (long long)id,
                    sqlite3_errmsg(s->db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        return DRIFT_EFAULT;
    }
    return changed > 0 ? 0 : DRIFT_ENOENT;
}

int drift_store_perf_window_add(struct drift_store *s, const char *stream, uint64_t idx,
                                uint64_t first_pair, uint64_t pairs, int64_t created_ms,
                                const char *metrics_json, char *err, size_t errlen)
{
    if (s == NULL || stream == NULL || metrics_json == NULL) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "missing argument");
    }
    sqlite3_stmt *st = s->st[SQL_PERF_WINDOW_INSERT];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)first_pair);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)pairs);
    sqlite3_bind_int64(st, 5, created_ms);
    sqlite3_bind_text(st, 6, metrics_json, -1, SQLITE_STATIC);
    return step_done(s, st, err, errlen) == SQLITE_DONE ? 0 : DRIFT_EFAULT;
}

int drift_store_deployment_add(struct drift_store *s, const char *stream, const char *version,
                               const char *trained_until, int64_t created_ms, char *err,
                               size_t errlen)
{
    if (s == NULL || stream == NULL) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "missing argument");
    }
    sqlite3_stmt *st = s->st[SQL_DEPLOYMENT_INSERT];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC); /* NULL binds NULL */
    sqlite3_bind_text(st, 3, trained_until, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, created_ms);
    return step_done(s, st, err, errlen) == SQLITE_DONE ? 0 : DRIFT_EFAULT;
}

int drift_store_model_add(struct drift_store *s, const char *stream, int64_t version,
                          int64_t created_ms, const char *model_json, char *err, size_t errlen)
{
    if (s == NULL || stream == NULL || model_json == NULL || version < 1) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "missing argument");
    }
    sqlite3_stmt *st = s->st[SQL_MODEL_INSERT];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_int64(st, 3, created_ms);
    sqlite3_bind_text(st, 4, model_json, -1, SQLITE_STATIC);
    return step_done(s, st, err, errlen) == SQLITE_DONE ? 0 : DRIFT_EFAULT;
}

int drift_store_models(struct drift_store *s, const char *stream, int64_t version,
                       void (*fn)(void *ctx, int64_t version, int64_t created_ms,
                                  const char *model_json),
                       void *ctx)
{
    if (s == NULL || stream == NULL || fn == NULL || version < -1) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[version < 0 ? SQL_MODEL_LIST : SQL_MODEL_GET];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    if (version >= 0) {
        sqlite3_bind_int64(st, 2, version);
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
           (const char *)sqlite3_column_text(st, 2));
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

int drift_store_triggers(struct drift_store *s, int64_t since_ms, const char *stream,
                         void (*fn)(void *ctx, const struct drift_trigger_info *t), void *ctx)
{
    if (s == NULL || fn == NULL) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_TRIGGER_LIST];
    sqlite3_bind_int64(st, 1, since_ms);
    if (stream != NULL) {
        sqlite3_bind_text(st, 2, stream, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 2);
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct drift_trigger_info t = {
            .idem_key = (const char *)sqlite3_column_text(st, 0),
            .stream = (const char *)sqlite3_column_text(st, 1),
            .rule = (const char *)sqlite3_column_text(st, 2),
            .kind = (const char *)sqlite3_column_text(st, 3),
            .created_ms = sqlite3_column_int64(st, 4),
            .payload = (const char *)sqlite3_column_text(st, 5),
            .done = sqlite3_column_int(st, 6),
            .pending = sqlite3_column_int(st, 7),
            .dead = sqlite3_column_int(st, 8),
        };
        fn(ctx, &t);
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 * -------------------------------------------------------------------------------------------*/
int drift_store_checkpoint(struct drift_store *s, const char *instance, const char *group,
                           const struct drift_ckpt_part *parts, int nparts,
                           const struct drift_ckpt_offset *offs, int noffs, int64_t now_ms,
                           char *err, size_t errlen)
{
    if (s == NULL || instance == NULL || group == NULL || (nparts > 0 && parts == NULL) ||
        (noffs > 0 && offs == NULL)) {
        return drift_seterr(err, errlen, DRIFT_EINVAL, "missing argument");
    }
    if (step_done(s, s->st[SQL_BEGIN], err, errlen) != SQLITE_DONE) {
        return DRIFT_EFAULT;
    }
    for (int i = 0; i < nparts; i++) {
        sqlite3_stmt *st = s->st[SQL_CKPT_PUT];
        sqlite3_bind_text(st, 1, parts[i].stream, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, instance, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, parts[i].part);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)parts[i].gen);
        sqlite3_bind_blob64(st, 5, parts[i].state, parts[i].len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now_ms);
        if (step_done(s, st, err, errlen) != SQLITE_DONE) {
            goto fail;
        }
    }
    for (int i = 0; i < noffs; i++) {
        sqlite3_stmt *st = s->st[SQL_OFFSET_PUT];
        sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, offs[i].topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, offs[i].partition);
        sqlite3_bind_int64(st, 4, offs[i].next);
        sqlite3_bind_text(st, 5, instance, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now_ms);
        if (step_done(s, st, err, errlen) != SQLITE_DONE) {
            goto fail;
        }
    }
    if (step_done(s, s->st[SQL_COMMIT], err, errlen) != SQLITE_DONE) {
        goto fail;
    }
    return 0;
fail:
    step_done(s, s->st[SQL_ROLLBACK], NULL, 0);
    return DRIFT_EFAULT;
}

int drift_store_checkpoint_get(struct drift_store *s, const char *instance, const char *stream,
                               void (*fn)(void *ctx, const struct drift_ckpt_part *p,
                                          int64_t updated_ms),
                               void *ctx)
{
    if (s == NULL || instance == NULL || stream == NULL || fn == NULL) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_CKPT_GET];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, instance, -1, SQLITE_STATIC);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct drift_ckpt_part p = {
            .stream = stream,
            .part = sqlite3_column_int(st, 0),
            .gen = (uint64_t)sqlite3_column_int64(st, 1),
            .state = sqlite3_column_blob(st, 2),
            .len = (size_t)sqlite3_column_bytes(st, 2),
        };
        fn(ctx, &p, sqlite3_column_int64(st, 3));
        n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

int64_t drift_store_offset(struct drift_store *s, const char *group, const char *instance,
                           const char *topic, int32_t partition, char *from_group, size_t len)
{
    if (s == NULL || group == NULL || topic == NULL) {
        return DRIFT_EFAULT;
    }
    sqlite3_stmt *st = s->st[SQL_OFFSET_GET];
    sqlite3_bind_text(st, 1, group, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    sqlite3_bind_text(st, 4, instance != NULL ? instance : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? -1
                                                                                  : DRIFT_EFAULT;
    if (from_group != NULL && len > 0) {
        const unsigned char *g = rc == SQLITE_ROW ? sqlite3_column_text(st, 1) : NULL;
        snprintf(from_group, len, "%s", g != NULL ? (const char *)g : group);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Listing checkpoints and offsets (driftd status)
 * -------------------------------------------------------------------------------------------*/
int drift_store_checkpoints_list(struct drift_store *s,
                                 void (*fn)(void *ctx, const struct drift_ckpt_info *c),
                                 void *ctx)
{
    if (s == NULL || fn == NULL) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_CKPT_LIST];
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct drift_ckpt_info c = {
            .stream = (const char *)sqlite3_column_text(st, 0),
            .instance = (const char *)sqlite3_column_text(st, 1),
            .part = sqlite3_column_int(st, 2),
            .bytes = sqlite3_column_int64(st, 3),
            .updated_ms = sqlite3_column_int64(st, 4),
        };
        fn(ctx, &c);
        n++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

int drift_store_offsets_list(struct drift_store *s,
                             void (*fn)(void *ctx, const struct drift_offset_info *o), void *ctx)
{
    if (s == NULL || fn == NULL) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_OFFSET_LIST];
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct drift_offset_info o = {
            .group = (const char *)sqlite3_column_text(st, 0),
            .topic = (const char *)sqlite3_column_text(st, 1),
            .partition = sqlite3_column_int(st, 2),
            .next_offset = sqlite3_column_int64(st, 3),
            .instance = (const char *)sqlite3_column_text(st, 4),
            .updated_ms = sqlite3_column_int64(st, 5),
        };
        fn(ctx, &o);
        n++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : DRIFT_EFAULT;
}

int drift_store_checkpoint_peer(struct drift_store *s, const char *stream, const char *instance,
                                char *out, size_t len)
{
    if (s == NULL || stream == NULL || instance == NULL || out == NULL || len == 0) {
        return DRIFT_EINVAL;
    }
    sqlite3_stmt *st = s->st[SQL_CKPT_PEER];
    sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, instance, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : DRIFT_EFAULT;
}
