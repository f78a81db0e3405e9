/*
 * A stream's data path: the column-major batch, the flat-JSON decoder that fills it, and the
 * pipeline that pushes batches through reference profiling, windows, drift statistics, the
 * trigger policy and the online learner.
 *
 * The pipeline does no I/O. What it decides leaves through hooks (a window closed, a trigger
 * fired, a model update is ready); `driftd run` turns those into SQLite rows, webhooks and Kafka
 * messages, `driftd replay` into JSON lines, `driftd demo` into a narrated timeline. That is
 * what makes replay a faithful backtest of run: both call exactly the same code.
 */
#ifndef DRIFT_STREAM_H
#define DRIFT_STREAM_H

#include <apr_pools.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "drift_op.h"

#define DRIFT_MAX_CATEGORIES 256 /* distinct categories per feature; more share one code */
#define DRIFT_CATEGORY_MAX_BYTES 256 /* a category value's length; longer is wrong_type */
#define DRIFT_MAX_PARTITIONS 256 /* partitions whose offset ranges a window records */

/* ---------------------------------------------------------------------------------------------
 * Batch: n records, numeric features as one column-major matrix (NaN = missing), categorical
 * features as codes (-1 = missing), plus label, event time and source position per record.
 * -------------------------------------------------------------------------------------------*/
struct drift_batch {
    size_t n, cap;
    int d;           /* numeric features */
    int k;           /* categorical features */
    double *x;       /* cap*d, column j at x + j*cap */
    int32_t *cat;    /* cap*k, column j at cat + j*cap */
    double *label;   /* cap; NaN when absent */
    double *ts;      /* cap; event time in epoch seconds, NaN when absent */
    int32_t *part;   /* cap; Kafka partition, or -1 for files */
    int64_t *off;    /* cap; Kafka offset, or line number for files */
    double *pred;    /* cap; the model's prediction, NaN when absent (NULL: no such field) */
    char *id;        /* cap * DRIFT_ID_MAX: the record id's text (labels joined by id only) */
    uint8_t *idlen;  /* cap; 0 = no id, DRIFT_ID_MAX + 1 = too long */
};
#define DRIFT_ID_MAX 64 /* bytes of a record id (= DRIFT_JOIN_MAX_ID) */

/* Reasons a message is skipped. Counted per stream; names appear in logs, replay summaries and
 * metrics. */
enum drift_bad {
    DRIFT_BAD_INVALID_JSON = 0,
    DRIFT_BAD_NOT_OBJECT,
    DRIFT_BAD_WRONG_TYPE,
    DRIFT_BAD_TOO_LARGE,
    DRIFT_BAD_EMPTY,
    DRIFT_BAD_NO_FEATURES,
    DRIFT_BAD_BAD_LABEL,
    DRIFT_BAD_TOO_LATE,  /* event time further behind the latest than max_lateness_s */
    DRIFT_BAD_DUPLICATE, /* id seen among the last `dedup` ids */
    DRIFT_BAD_BAD_TIME,  /* event time outside 1970..9999, or (with max_lateness_s) a jump far
                          * ahead of the latest that the next event does not confirm */
    DRIFT_BAD_COUNT
};
extern const char *const drift_bad_names[DRIFT_BAD_COUNT];

/* ---------------------------------------------------------------------------------------------
 * Decoder: flat JSON object → one batch row
 * -------------------------------------------------------------------------------------------*/
struct drift_decoder;

/* Creates a decoder for the stream's schema in pool. */
struct drift_decoder *drift_decoder_create(apr_pool_t *pool, const struct drift_stream_conf *sc);
/* Decodes buf[0..len) into row b->n (which must be < b->cap) and, on success, increments b->n.
 * On failure returns DRIFT_EPARSE, leaves b->n unchanged, and sets *bad and *detail (a short
 * static or decoder-owned text naming the field or position). */
int drift_decode(struct drift_decoder *dec, const char *buf, size_t len, struct drift_batch *b,
                 int *bad, const char **detail);
/* Category dictionary of categorical feature j: looks up (or, while not frozen, adds) a value.
 * A value that is not UTF-8, holds a NUL or is longer than DRIFT_CATEGORY_MAX_BYTES is never
 * added: it gets the unseen code (drift_decode refuses such a message as wrong_type first). */
int32_t drift_decoder_category(struct drift_decoder *dec, int j, const char *s, size_t len);
/* Stops adding categories: unseen values from now on get the feature's "unseen" code. */
void drift_decoder_freeze(struct drift_decoder *dec);
/* Number of category codes in use for feature j (excluding the unseen code), and the name of a
 * code. The unseen code is DRIFT_MAX_CATEGORIES. */
int drift_decoder_ncategories(const struct drift_decoder *dec, int j);
const char *drift_decoder_category_name(const struct drift_decoder *dec, int j, int32_t code);

/* State to bytes (checkpoints): each categorical feature's name and its dictionary (values in
 * code order, the frozen flags), the latest event time seen, a far-ahead time waiting for its
 * confirmation, and the dedup memory. Returns the
 * size needed; writes only when len is large enough; equal decoders give equal bytes. */
size_t drift_decoder_save(const struct drift_decoder *dec, void *buf, size_t len);
/* Restores a saved state into a decoder of the same stream schema: the categorical features'
 * names must match in order, and the dedup memory is restored only when the decoder has one
 * (dedup > 0; its saved ids beyond this decoder's size are the oldest and are dropped). Checks
 * everything first; returns DRIFT_ESTATE and leaves dec unchanged on a mismatch or corrupt
 * bytes (DRIFT_ENOMEM, also with dec unchanged, when checking the dedup memory runs out). A
 * saved dedup memory is checked even when this decoder keeps none; a decoder with dedup loading
 * a state without one starts with an empty memory. */
int drift_decoder_load(struct drift_decoder *dec, const void *buf, size_t len);
/* Forgets what came from one instance's partitions (the latest event time, a pending jump, the
 * ids remembered for dedup), keeping the category dictionary. */
void drift_decoder_forget_stream(struct drift_decoder *dec);

/* Fast, exact JSON number parse of s[0..len): returns chars consumed (0 if none). */
size_t drift_parse_number(const char *s, size_t len, double *out);

/* One member of a flat JSON object, as drift_json_each reports it. */
enum drift_json_kind {
    DRIFT_JSON_STRING,  /* val: the unescaped text */
    DRIFT_JSON_NUMBER,  /* val: the raw token (NaN, Infinity, -Infinity included) */
    DRIFT_JSON_BOOL,    /* val: "true" or "false" */
    DRIFT_JSON_NULL,
    DRIFT_JSON_NESTED,  /* val: the raw object or array text */
};
typedef void (*drift_json_member_fn)(void *ctx, const char *key, size_t klen,
                                     enum drift_json_kind kind, const char *val, size_t vlen);

/* Walks the JSON object s[0..n) (surrounding whitespace allowed), calling fn for each member in
 * order. Keys and string values with escapes are unescaped into scratch (cap bytes), which must
 * outlive the values' use. Returns 0, or DRIFT_EPARSE with *errpos the byte offset of the fault
 * and *what naming it. */
int drift_json_each(const char *s, size_t n, char *scratch, size_t cap, drift_json_member_fn fn,
                    void *ctx, size_t *errpos, const char **what);

/* ---------------------------------------------------------------------------------------------
 * Pipeline
 * -------------------------------------------------------------------------------------------*/
struct drift_pipeline;

/* One feature's verdict in a closed window. */
struct drift_feature_report {
    const char *name;
    int categorical;
    double psi, ks, ks_p;    /* NAN when not computed */
    double cvm, cvm_p;       /* Cramér–von Mises statistic and p-value (NAN when off) */
    double ad, ad_p;         /* Anderson–Darling standardised statistic and p-value */
    double ks_padj, cvm_padj, ad_padj; /* p-values after drift.correction (= raw when none) */
    double mean, ref_mean;   /* numeric: window and reference means (NAN if none) */
    double std, ref_std;     /* numeric: window std (from the merged BLAS moments, rows with
                              * every feature present) and reference std (NAN if none) */
    double missing_share;    /* share of missing values in the window */
    double ref_edges_rank_error; /* numeric, reference file longer than reference.sample: the
                                  * quantile sketch's rank-error bound over n behind the bin
                                  * edges; 0 when the edges are exact */
    int psi_drift, ks_drift, cvm_drift, ad_drift, drifted;
    int counted;             /* 1 when it counts toward the share (trigger.features) */
};

struct drift_window_report {
    const char *stream;
    uint64_t index;             /* 0-based window number since the reference */
    uint64_t first_seq, last_seq; /* 0-based positions of the window's events in the stream */
    uint64_t events;
    double ts_min, ts_max;      /* event-time bounds (NaN if no time field) */
    int nparts;                 /* partitions with offsets in this window */
    const int32_t *parts;       /* partition ids */
    const int64_t *first_off, *last_off;
    int nfeatures, ndrifted;
    double share, share_threshold;
    int dataset_drift;
    int consecutive;            /* dataset-drift windows in a row, this one included */
    int mv_tests;               /* bit 1 << DRIFT_MV_*: multivariate tests run on this window */
    int mv_drift;               /* 1 when one of them fired (the window then has dataset drift) */
    struct drift_mv_result mv[DRIFT_MV_COUNT]; /* their results, by DRIFT_MV_* */
    const char *const *num_names; /* numeric feature names, as the mv results index them */
    const struct drift_feature_report *features;
};

struct drift_trigger {
    const char *stream, *rule, *kind;
    const char *idem_key;
    const char *payload;        /* JSON body */
    const struct drift_window_report *window; /* data drift: the window; NULL for performance */
    uint64_t pair;              /* performance: 0-based labelled prediction that detected */
    double error_recent;        /* performance: mean error over the recent pairs */
};

/* A closed window of prequential metrics: `pairs` labelled predictions (metrics NAN where
 * undefined or of the other task; see operators/metrics/prequential.h). */
struct drift_perf_window {
    const char *stream;
    uint64_t index;        /* 0-based metrics window */
    uint64_t first_pair;   /* 0-based labelled prediction that opened it */
    uint64_t pairs, invalid;
    double accuracy, precision, recall, f1, log_loss, auc; /* classification */
    double mae, rmse;                                        /* regression */
    double delay_median_s, delay_p95_s; /* label time - prediction time (labels topic) */
};

/* The metrics of a closed window as a JSON object (jansson; the caller owns it). */
typedef struct json_t json_t;
json_t *drift_perf_window_json(const struct drift_perf_window *w, int task);

struct drift_pipeline_hooks {
    void *ctx;
    void (*reference_ready)(void *ctx, const char *stream, uint64_t events);
    void (*window)(void *ctx, const struct drift_window_report *w);
    void (*trigger)(void *ctx, const struct drift_trigger *t);
    /* A model update: JSON text, ready to publish. */
    void (*model_update)(void *ctx, const char *stream, const char *topic, const char *json);
    /* Wall clock in ms for "detected_at" in payloads; NULL leaves it out (replay stays
     * byte-for-byte deterministic). */
    uint64_t (*now_ms)(void *ctx);
    /* A closed window of prequential metrics (performance section). */
    void (*performance_window)(void *ctx, const struct drift_perf_window *w);
};

/* Creates the pipeline of a stream: batch buffers for batch_max records, reference, windows,
 * statistics, policy and learner, all in a subpool of pool. A file reference (reference.from:
 * file) is loaded now; base_dir resolves a relative path. Returns NULL and fills err. */
struct drift_pipeline *drift_pipeline_create(apr_pool_t *pool, const struct drift_stream_conf *sc,
                                             size_t batch_max, const char *base_dir,
                                             const struct drift_pipeline_hooks *hooks, char *err,
                                             size_t errlen);
/* The batch to fill and the decoder that fills it (b->n is reset by drift_pipeline_push). */
struct drift_batch *drift_pipeline_batch(struct drift_pipeline *p);
struct drift_decoder *drift_pipeline_decoder(struct drift_pipeline *p);
/* Processes the batch's rows. */
void drift_pipeline_push(struct drift_pipeline *p);
/* A label event from the stream's labels topic (partition, offset): joined by id with its
 * pending prediction, its error goes to the performance detector. Returns 0 (matched, or
 * counted unmatched by the join) or DRIFT_EPARSE/DRIFT_EINVAL with *why. Pushes the pending
 * batch first, so a prediction decoded before its label is always waiting for it. */
int drift_pipeline_label(struct drift_pipeline *p, const char *buf, size_t len, int32_t part,
                         int64_t off, const char **why);
/* Closing the loop: a new model is live. The next reference.size events (5000 for a file
 * reference) become the new reference, the windows and the trigger streak start over under a
 * cooldown, the concept-drift detector and its metrics window start fresh, and model_version is
 * carried in the evidence from now on. The category dictionary stays as it was. */
int drift_pipeline_rebaseline(struct drift_pipeline *p, const char *model_version);
/* Publishes the learner's current model as the next version (reason: "request", "timer").
 * Returns 0; DRIFT_ENOENT without a learner (none configured, or no reference yet). The
 * _if_new form publishes only when the learner learnt since the last version (else
 * DRIFT_EAGAIN). */
int drift_pipeline_publish(struct drift_pipeline *p, const char *reason);
int drift_pipeline_publish_if_new(struct drift_pipeline *p, const char *reason);
/* A trigger asked for through the control endpoint (kind on_request). With a request_id the key
 * is derived from it, so the caller's retries make one trigger; without, each call is new. The
 * key is copied to key_out. */
void drift_pipeline_fire_request(struct drift_pipeline *p, const char *reason,
                                 const char *request_id, int64_t now_ms, char *key_out,
                                 size_t key_len);
/* A scheduled trigger for the slot at slot_s (epoch seconds): its key is derived from the slot,
 * so a slot fires at most once however often it is asked (the store keeps keys unique). */
void drift_pipeline_fire_schedule(struct drift_pipeline *p, int64_t slot_s);
/* Drops the predictions that waited longer than labels.ttl_s (also done on every batch and
 * label; the daemon calls it from its stats timer so that a quiet stream expires too). */
void drift_pipeline_expire(struct drift_pipeline *p);
struct drift_join_stats;
void drift_pipeline_join_stats(const struct drift_pipeline *p, struct drift_join_stats *out);
/* Counts a skipped message. */
void drift_pipeline_count_bad(struct drift_pipeline *p, int bad);
const struct drift_stream_conf *drift_pipeline_conf(const struct drift_pipeline *p);

/* Checkpoints (engine/pipeline_state.c). The state has two parts: the reference part (the rows
 * the reference was built from; it changes during a warm-up only, and drift_pipeline_ref_gen
 * changes with it, so a caller writes it only then) and the live part (categories, windows,
 * policy, learner, performance, counters). save returns 0 and a malloc'd buffer, or
 * DRIFT_ENOMEM; equal states give equal bytes. load restores both parts into a pipeline just
 * created from a config: each section whose config fingerprint still matches is restored, the
 * others start fresh, and *what tells which ("kept=... fresh=..."). On DRIFT_ESTATE (corrupt
 * bytes) the pipeline may be half restored: destroy it and create a fresh one. */
enum { DRIFT_STATE_REFERENCE = 0, DRIFT_STATE_LIVE = 1 };
uint64_t drift_pipeline_ref_gen(const struct drift_pipeline *p);
int drift_pipeline_save(const struct drift_pipeline *p, int part, unsigned char **out,
                        size_t *outlen);
int drift_pipeline_load(struct drift_pipeline *p, const void *ref, size_t reflen,
                        const void *live, size_t livelen, char *what, size_t whatlen);
/* For a pipeline that starts without a checkpoint of its own while another instance of the
 * stream has one (a new instance in the group): takes that instance's category dictionary and
 * complete reference, so both judge drift against the same baseline, instead of warming up on
 * its own first events (which may have drifted already). Its windows, policy, learner and
 * counters start fresh. 0, or DRIFT_ESTATE (nothing usable: the pipeline must be recreated). */
int drift_pipeline_adopt_reference(struct drift_pipeline *p, const void *ref, size_t reflen,
                                   const void *live, size_t livelen);
/* The pool the pipeline lives in (destroying it frees the pipeline). */
apr_pool_t *drift_pipeline_pool(struct drift_pipeline *p);

struct drift_pipeline_stats {
    uint64_t events;            /* decoded records */
    uint64_t bad[DRIFT_BAD_COUNT];
    uint64_t windows, drift_windows, triggers, model_updates, labelled;
    uint64_t learner_resets, learner_swaps; /* the learner's drift policy acted */
    uint64_t performance_triggers, performance_detections, performance_warnings;
    uint64_t labels_in, labels_bad; /* label events read, and refused (bad JSON, id, label) */
    uint64_t rebaselines;           /* model deployments that reset the reference */
    uint64_t resolutions;           /* data-drift alerts resolved (hysteresis) */
    double label_delay_ms_sum;      /* over matched labels: label time - prediction time */
    int reference_ready;
    uint64_t reference_events;
};
void drift_pipeline_stats(const struct drift_pipeline *p, struct drift_pipeline_stats *out);

#endif
