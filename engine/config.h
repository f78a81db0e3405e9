/*
 * Configuration: the YAML deployment file, parsed into plain structs.
 *
 * The loader walks libyaml events into a small node tree that remembers every node's position,
 * then checks it against one declarative table per section. Unknown keys and bad values are
 * errors that carry file:line:column; every error is reported, not just the first, and a
 * config with any error is never used. All memory belongs to the pool given to the loader.
 */
#ifndef DRIFT_CONFIG_H
#define DRIFT_CONFIG_H

#include <apr_pools.h>
#include <stddef.h>
#include <stdint.h>

enum drift_feature_type { DRIFT_FEATURE_NUMERIC = 0, DRIFT_FEATURE_CATEGORICAL = 1 };
enum drift_window_type { DRIFT_WINDOW_TUMBLING = 0, DRIFT_WINDOW_SLIDING = 1 };
enum drift_ref_source { DRIFT_REF_WARMUP = 0, DRIFT_REF_FILE = 1 };
enum drift_log_level { DRIFT_LOG_ERROR = 0, DRIFT_LOG_WARN, DRIFT_LOG_INFO, DRIFT_LOG_DEBUG };

struct drift_pos {
    int line, col;  /* 1-based; 0 when unknown */
};

struct drift_feature_conf {
    const char *name;
    int type;  /* enum drift_feature_type */
    struct drift_pos pos;
};

struct drift_kv {
    const char *key, *value;
};

/* Where and how triggers are delivered over HTTP (one target). */
struct drift_webhook_conf {
    const char *url;       /* NULL: no webhook */
    int timeout_ms;        /* whole request (default 5000) */
    int max_attempts;      /* 0 = unlimited (bounded by max_age) (default 0) */
    int max_age_s;         /* entry marked dead after this (default 86400) */
    int backoff_base_ms;   /* first retry delay cap (default 250) */
    int backoff_max_ms;    /* retry delay cap (default 60000) */
    int format;            /* enum drift_webhook_format (default json) */
    struct drift_kv *headers; /* extra request headers */
    int nheaders;
    const char *bearer_token_env; /* env var: Authorization: Bearer <value> */
    const char *basic_auth_env;   /* env var: "user:password" for basic auth */
    const char *hmac_secret_env;  /* env var: X-Driftd-Signature-256 key */
    const char *routing_key_env;  /* env var: PagerDuty routing key (format pagerduty) */
    const char *event_type;       /* GitHub repository_dispatch event_type */
    int severity;          /* 0 warning (default), 1 critical */
    int tls_verify;        /* default 1 */
};

/* Multivariate tests (multivariate.tests), as bits and as indexes of drift_window_report.mv. */
enum { DRIFT_MV_HOTELLING = 0, DRIFT_MV_CORRELATION, DRIFT_MV_PCA, DRIFT_MV_MMD, DRIFT_MV_COUNT };

/* learner.categorical */
enum { DRIFT_CAT_NONE = 0, DRIFT_CAT_ONEHOT, DRIFT_CAT_HASH };

/* learner.on_drift */
enum { DRIFT_ON_DRIFT_NONE = 0, DRIFT_ON_DRIFT_RESET, DRIFT_ON_DRIFT_SHADOW };

/* Statistics whose verdicts may count toward a feature's drift (trigger.statistics). */
enum { DRIFT_STAT_PSI = 1, DRIFT_STAT_KS = 2, DRIFT_STAT_CVM = 4, DRIFT_STAT_ANDERSON = 8 };

/* What a stream's state depends on, fingerprinted from the config text (the YAML subtree of
 * each key, canonically serialised; an absent key has a fingerprint of its own). A checkpoint
 * records the fingerprints its parts were made under; a restart or reload keeps a part only
 * when they are unchanged, so the state of an operator whose definition did not change
 * survives. */
enum drift_fp {
    DRIFT_FP_FEATURES = 0,
    DRIFT_FP_FIELDS,      /* label, prediction, id_field, time_field, dedup, max_lateness_s */
    DRIFT_FP_WINDOW,
    DRIFT_FP_REFERENCE,
    DRIFT_FP_TRIGGER,
    DRIFT_FP_LEARNER,
    DRIFT_FP_PERFORMANCE,
    DRIFT_FP_LABELS,
    DRIFT_FP_COUNT
};

/* What only a restart applies: the parts the daemon wires up once (the consumer's topics, the
 * delivery targets, the store, the endpoint). A reload that changes one of these is refused and
 * names it. Each entry is a key path; the config keeps a fingerprint per entry. */
#define DRIFT_RESTART_TOP 5
#define DRIFT_RESTART_STREAM 10
extern const char *const drift_restart_top[DRIFT_RESTART_TOP];
extern const char *const drift_restart_stream[DRIFT_RESTART_STREAM];

struct drift_stream_conf {
    uint64_t fp[DRIFT_FP_COUNT]; /* enum drift_fp */
    uint64_t fp_restart[DRIFT_RESTART_STREAM]; /* drift_restart_stream */
    const char *name;
    const char *topic;
    int partitions;  /* partitions the embedded cluster creates for the topic (default 4) */
    struct drift_feature_conf *features;
    int nfeatures;
    const char *label;       /* field holding the label (0/1; any number for a regression
                              * performance task), or NULL */
    const char *prediction;  /* field holding the model's prediction (score, class or value) */
    const char *id_field;    /* optional record id field, or NULL */
    const char *time_field;  /* optional event time field (epoch seconds or ms), or NULL */
    int max_message_bytes;   /* larger messages are skipped as "too_large" (default 1 MiB) */
    const char *dead_letter_topic; /* skipped messages go here with the reason, or NULL */
    int max_lateness_s;      /* skip events whose time is this far behind the latest (0: off) */
    int dedup;               /* skip events whose id is among the last this many (0: off) */

    struct {
        int type;   /* enum drift_window_type (default tumbling) */
        int size;   /* events per window (default 1000, >= 10) */
        int slide;  /* sliding only: events between evaluations; divides size (default size/2) */
    } window;

    struct {
        int source;        /* enum drift_ref_source (default warmup) */
        int size;          /* warmup: first N events (default 5000, >= 10) */
        const char *path;  /* file: CSV with a header row */
        int bins;          /* histogram bins from reference quantiles (default 10, 2..1000) */
        int sample;        /* file: rows kept for the rank tests (default 500000) */
        int sketch_k;      /* file: sketch capacity for edges of a longer file (default 1024) */
    } reference;

    struct {
        int psi;             /* PSI enabled (default 1) */
        double psi_threshold;  /* default 0.2 */
        int ks;              /* KS enabled for numeric features (default 1) */
        double ks_alpha;     /* drift when p < alpha (default 0.01) */
        int cvm;             /* Cramér–von Mises enabled (default 0) */
        double cvm_alpha;
        int anderson;        /* Anderson–Darling enabled (default 0) */
        double anderson_alpha;
        const char *correction; /* p-values adjusted across features: "none" (default),
                                 * "bonferroni" or "bh" */
        double share;        /* dataset drift when drifted/total >= share (default 0.5) */
        double min_effect;   /* p-value tests vote drift only when KS D >= this (default 0) */
        const char *rule;    /* which verdicts make a feature drifted: "any" (default) or "all" */
    } drift;

    struct {
        int enabled;           /* default 1: triggers are recorded (and replayed) even without
                                * a webhook */
        int consecutive;       /* dataset-drift windows required (default 2): in a row, or
                                * among the last of_last windows */
        int of_last;           /* 0: in a row; else k-of-n over this many windows (<= 64) */
        int volume;            /* 0: off; else a data_volume trigger after this many labelled
                                * events since the last trigger */
        double critical_share; /* share of drifted features from which a data-drift trigger is
                                * critical, not warning (0: never) */
        int resolve_after;     /* 0: off; else windows clear of dataset drift after a trigger
                                * that send its resolution */
        int cooldown_windows;  /* windows after a trigger during which none fires (default 10) */
        const char *name;      /* trigger rule name (default "retrain") */
        const char **features; /* only these features count toward the share (NULL: all) */
        int nfeatures;
        struct drift_pos features_pos;
        int statistics;        /* bitmask of DRIFT_STAT_* whose verdicts count (0: all) */
        int min_severity;      /* 0 warning (default): any; 1 critical: only critical windows */
    } trigger;

    struct drift_webhook_conf webhook;  /* the first target (url NULL: none) */
    struct drift_webhook_conf *webhooks; /* further targets (the webhooks list) */
    int nwebhooks;

    struct {
        int enabled;           /* the mapping's presence enables it */
        int tests;             /* bit 1 << DRIFT_MV_*: the tests run (default hotelling and
                                * correlation) */
        double alpha;          /* hotelling: drift when p < alpha (default 0.01) */
        double shrinkage;      /* hotelling: pooled covariance shrinkage λ (default 0.01) */
        double correlation_threshold; /* correlation: drift when max |Δρ| >= this (default
                                       * 0.3) */
        double pca_variance;   /* pca: explained variance the components keep (default 0.65) */
        double pca_std;        /* pca: thresholds at mean ± this many reference stds (default 3) */
        int mmd_sample;        /* mmd: rows of the reference and of the window compared
                                * (default 250) */
        int mmd_permutations;  /* mmd: permutations of the p-value (default 100) */
    } multivariate;

    struct {
        int enabled;           /* the mapping's presence enables it */
        const char *topic;     /* the trigger as a CloudEvent goes here, keyed by stream */
    } kafka_action;

    struct {
        int enabled;           /* the mapping's presence enables it */
        const char **argv;     /* the program and its arguments (NULL-terminated); no shell */
        int argc;
        int timeout_s;         /* SIGTERM after this, SIGKILL 2 s later (default 60) */
        int resolutions;       /* run for resolutions too (default 0: triggers only) */
        const char **env;      /* names of driftd's environment variables passed to the program
                                * (NULL-terminated, NULL when none); it gets no others but
                                * PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME and TMPDIR */
        int nenv;
    } exec;

    struct {
        int enabled;
        const char *kind;      /* "logistic" (default) or "linear" */
        int optimizer;         /* enum drift_optimizer: sgd (default), adagrad, ftrl, rls */
        double learning_rate;  /* default 0.05 */
        double l2;             /* default 0 */
        double l1;             /* ftrl (default 0) */
        double ftrl_alpha, ftrl_beta; /* ftrl (defaults 0.1, 1) */
        double rls_forget, rls_delta; /* rls (defaults 1, 1) */
        int batch;             /* rows per update (default 1) */
        int standardize;       /* 0: with the reference's mean and std (default); 1: running
                                * (Welford) over the rows learnt before */
        int categorical;       /* DRIFT_CAT_*: how categorical features enter the learner */
        int hash_buckets;      /* hash: shared 0/1 columns (default 64) */
        int on_drift;          /* DRIFT_ON_DRIFT_*: what a concept-drift signal does */
        int shadow_window;     /* shadow: labelled rows the trial lasts at most (default 500) */
        int publish_every;     /* updates between published weights (default 1000) */
        int publish_every_s;   /* and at least this often when it learnt (0: off, default) */
        const char *topic;     /* Kafka topic for model updates (default "<stream>.model") */
    } learner;

    struct {
        int enabled;           /* the mapping's presence enables it (needs prediction, label) */
        int task;              /* 0 classification (default), 1 regression */
        double threshold;      /* classification: score >= threshold is class 1 (default 0.5) */
        int error;             /* regression: 0 absolute (default), 1 squared */
        const char *detector;  /* change detector on the error values (default "adwin") */
        struct drift_kv *params; /* its parameters, River's names */
        int nparams;
        int cooldown_pairs;    /* joined pairs after a trigger during which none fires
                                * (default 1000) */
        int window;            /* labelled predictions per metrics window (default 1000) */
        double min_accuracy, min_auc, max_log_loss, max_mae, max_rmse; /* NAN: no bound */
        const char *name;      /* trigger rule name (default "performance") */
    } performance;

    struct {
        int enabled;           /* the mapping's presence enables it */
        const char *cron;      /* five-field cron expression (UTC), or NULL */
        int every_s;           /* or a fixed interval in seconds (aligned to the epoch) */
        const char *name;      /* trigger rule name (default "scheduled") */
    } schedule;

    struct {
        int enabled;           /* the mapping's presence enables it */
        const char *topic;     /* Kafka topic of the label events */
        const char *id_field;  /* id in label events (default: the stream's id_field) */
        const char *field;     /* label in label events (default: the stream's label, else
                                * "label") */
        const char *time_field; /* label time in label events (epoch s or ms), or NULL */
        int ttl_s;             /* a prediction waits this long for its label (default 86400) */
        int max_pending;       /* predictions held at most (default 1000000) */
        int partitions;        /* embedded cluster: partitions of the topic (default 4) */
    } labels;

    struct drift_pos pos;
};

struct drift_config {
    const char *path;  /* file name used in messages */
    uint64_t fp_restart[DRIFT_RESTART_TOP]; /* drift_restart_top */
    struct {
        const char *brokers;  /* "embedded" or a bootstrap list */
        int embedded;         /* 1 when brokers == "embedded" */
        int embedded_brokers; /* brokers in the embedded cluster (default 1) */
        const char *group;    /* consumer group id (default "driftd") */
        const char *offset_reset; /* auto.offset.reset for new groups (default "earliest") */
        int batch_max;        /* messages per consume call (default 1024) */
        struct drift_kv *properties;  /* passed through to librdkafka */
        int nproperties;
    } kafka;
    struct {
        const char *path;  /* SQLite file (default "driftd.db") */
        const char *instance; /* this daemon's name in it (default "default") */
        int checkpoint_s;     /* seconds between checkpoints (default 5) */
    } store;
    struct {
        int level;   /* enum drift_log_level (default info) */
        int json;    /* 0 = logfmt (default), 1 = JSON lines */
    } log;
    struct {
        int port;              /* control endpoint on 127.0.0.1; 0 = off (default) */
        const char *token_env; /* env var holding the bearer token write endpoints need */
    } http;
    struct {
        int threads;           /* OpenBLAS threads (default 1) */
    } blas;
    struct drift_stream_conf *streams;
    int nstreams;
};

/* Called once per error with "FILE:LINE:COL: message" (no newline). */
typedef void (*drift_config_error_fn)(void *ctx, const char *msg);

/* Loads and validates the file at path. On success returns 0 and sets *out (allocated in pool).
 * On failure calls errfn for every error found and returns the number of errors as a negative
 * count (e.g. -3); *out is left NULL. A file that cannot be read is one error. */
int drift_config_load(apr_pool_t *pool, const char *path, struct drift_config **out,
                      drift_config_error_fn errfn, void *errctx);
/* The same from a buffer; name is used in messages in place of the path. */
int drift_config_load_buffer(apr_pool_t *pool, const char *name, const char *buf, size_t len,
                             struct drift_config **out, drift_config_error_fn errfn,
                             void *errctx);

#endif
