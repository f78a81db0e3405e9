/*
 * The SQLite store: one file per deployment, WAL mode, holding triggers, the signals that
 * caused them, and the outbox of deliveries. A trigger, its signals and its outbox rows are
 * written in one BEGIN IMMEDIATE transaction, so a trigger is either fully recorded with its
 * pending deliveries or not at all. The idempotency key is UNIQUE: recording the same trigger
 * twice (a replay after a restart) is detected and nothing new is queued.
 *
 * Schema versions are tracked in `PRAGMA user_version` and applied as migrations.
 */
#ifndef DRIFT_STORE_H
#define DRIFT_STORE_H

#include <stddef.h>
#include <stdint.h>

struct drift_store;

struct drift_signal_row {
    const char *feature;    /* feature name, or "*" for the dataset-level signal */
    const char *statistic;  /* "psi", "ks", "share" */
    double value;
    double pvalue;          /* NAN when none */
    double threshold;
    int drifted;
};

struct drift_trigger_row {
    const char *idem_key;  /* deterministic: stream + rule + window */
    const char *stream;
    const char *rule;      /* trigger rule name */
    const char *kind;      /* "data_drift", ... */
    int64_t created_ms;    /* wall clock */
    const char *payload;   /* the JSON body delivered to actions */
};

/* One delivery a trigger owes: the action kind and its target (a webhook's URL, a Kafka
 * topic, an exec command as a JSON array of its argv). */
struct drift_action_ref {
    const char *action; /* "webhook", "kafka" or "exec" */
    const char *target;
};

struct drift_outbox_row {
    int64_t id;
    int64_t trigger_id;
    char *action;     /* "webhook", "kafka" or "exec" */
    char *target;     /* URL, topic, or argv as JSON */
    char *body;       /* payload to send */
    int attempts;
    int64_t next_ms;     /* wall clock ms of the next attempt */
    int64_t created_ms;
};

/* Records a closed window of prequential metrics (metrics_json: the window as JSON). A window
 * already recorded (same stream, index and first pair) is left as it is. */
int drift_store_perf_window_add(struct drift_store *s, const char *stream, uint64_t idx,
                                uint64_t first_pair, uint64_t pairs, int64_t created_ms,
                                const char *metrics_json, char *err, size_t errlen);

/* Records a model the retraining pipeline reported live: its version and what it was trained
 * up to (a time or an offset, as given), either may be NULL. */
int drift_store_deployment_add(struct drift_store *s, const char *stream, const char *version,
                               const char *trained_until, int64_t created_ms, char *err,
                               size_t errlen);

/* Records a model update the learner published (version >= 1; the same stream and version
 * again is left as it is). */
int drift_store_model_add(struct drift_store *s, const char *stream, int64_t version,
                          int64_t created_ms, const char *model_json, char *err, size_t errlen);
/* Calls fn for the stored models of a stream: version > 0 that version, 0 the latest, -1 all in
 * version order. The JSON is valid only during the call. Returns how many or a negative code. */
int drift_store_models(struct drift_store *s, const char *stream, int64_t version,
                       void (*fn)(void *ctx, int64_t version, int64_t created_ms,
                                  const char *model_json),
                       void *ctx);

/* A recorded trigger with its deliveries by status, as drift_store_triggers reports it. */
struct drift_trigger_info {
    const char *idem_key, *stream, *rule, *kind, *payload;
    int64_t created_ms;
    int done, pending, dead; /* outbox rows by status */
};
/* Calls fn for the triggers recorded at or after since_ms (of one stream, or all with NULL),
 * oldest first; strings valid only during the call. Returns how many or a negative code. */
int drift_store_triggers(struct drift_store *s, int64_t since_ms, const char *stream,
                         void (*fn)(void *ctx, const struct drift_trigger_info *t), void *ctx);

/* Opens (creating if needed) the store at path and migrates it. Returns NULL and fills err. */
struct drift_store *drift_store_open(const char *path, char *err, size_t errlen);
void drift_store_close(struct drift_store *s);

/* Records a trigger, its signals and one outbox row per action, in one transaction. Returns 0
 * and the trigger row id in *trigger_id; DRIFT_EEXIST if a trigger with the same idempotency
 * key exists (nothing written); DRIFT_EFAULT on a database error (err filled, rolled back). */
int drift_store_trigger_add(struct drift_store *s, const struct drift_trigger_row *t,
                            const struct drift_signal_row *sig, size_t nsig,
                            const struct drift_action_ref *actions, size_t nactions,
                            int64_t *trigger_id,
                            char *err, size_t errlen);

/* Calls fn for up to max pending outbox rows whose next attempt is <= now_ms, oldest first.
 * Row strings are valid only during the call. Returns the number of rows or a negative code. */
int drift_store_outbox_due(struct drift_store *s, int64_t now_ms, int max,
                           void (*fn)(void *ctx, const struct drift_outbox_row *r), void *ctx);
/* Earliest next_ms among pending rows, or -1 when none is pending. */
int64_t drift_store_outbox_next(struct drift_store *s);
/* Counts rows by status: "pending", "done", "dead". */
int drift_store_outbox_count(struct drift_store *s, const char *status);

/* Outcome of one delivery attempt. status: "done", "pending" (retry at next_ms) or "dead". */
int drift_store_outbox_update(struct drift_store *s, int64_t id, const char *status,
                              int attempts, int64_t next_ms, int http_status,
                              const char *last_error);

/* Checkpoints (schema v5): the pipeline state of each stream of an instance, in parts (0: the
 * reference, written when it changed; 1: the live state), and the next offset to consume of
 * each partition the instance owns, all in one transaction. */
struct drift_ckpt_part {
    const char *stream;
    int part;          /* DRIFT_STATE_REFERENCE or DRIFT_STATE_LIVE */
    uint64_t gen;      /* the reference's generation when part 0 was made */
    const void *state;
    size_t len;
};
struct drift_ckpt_offset {
    const char *topic;
    int32_t partition;
    int64_t next;      /* the next offset to consume */
};
/* Writes the parts and offsets of one checkpoint at once. Returns 0, or DRIFT_EFAULT with err
 * filled (nothing written: busy, locked, full disk...). */
int drift_store_checkpoint(struct drift_store *s, const char *instance, const char *group,
                           const struct drift_ckpt_part *parts, int nparts,
                           const struct drift_ckpt_offset *offs, int noffs, int64_t now_ms,
                           char *err, size_t errlen);
/* Calls fn with each stored part of a stream's checkpoint (bytes valid during the call).
 * Returns how many, or a negative code. */
int drift_store_checkpoint_get(struct drift_store *s, const char *instance, const char *stream,
                               void (*fn)(void *ctx, const struct drift_ckpt_part *p,
                                          int64_t updated_ms),
                               void *ctx);
/* The stored next offset of a partition for a group: >= 0, -1 when none, or DRIFT_EFAULT on a
 * database error. When the group has none, the latest one this instance wrote under another
 * group (its state is there: a renamed group). from_group (may be NULL) gets the group whose
 * offset it is. */
int64_t drift_store_offset(struct drift_store *s, const char *group, const char *instance,
                           const char *topic, int32_t partition, char *from_group, size_t len);

/* What `driftd status` shows of the checkpoints: one row per stream, instance and part. */
struct drift_ckpt_info {
    const char *stream, *instance;
    int part;            /* DRIFT_STATE_REFERENCE or DRIFT_STATE_LIVE */
    int64_t bytes;
    int64_t updated_ms;
};
struct drift_offset_info {
    const char *group, *topic;
    int32_t partition;
    int64_t next_offset;
    const char *instance; /* who wrote it last */
    int64_t updated_ms;
};
/* Call fn for every checkpoint part / stored offset (strings valid during the call). Return the
 * count or DRIFT_EFAULT. */
int drift_store_checkpoints_list(struct drift_store *s,
                                 void (*fn)(void *ctx, const struct drift_ckpt_info *c),
                                 void *ctx);
int drift_store_offsets_list(struct drift_store *s,
                             void (*fn)(void *ctx, const struct drift_offset_info *o), void *ctx);
/* The instance other than `instance` with the most recent checkpoint of stream: 1 and its name
 * in out, 0 when there is none, DRIFT_EFAULT on a database error. */
int drift_store_checkpoint_peer(struct drift_store *s, const char *stream, const char *instance,
                                char *out, size_t len);

#endif
