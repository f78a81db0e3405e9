/*
 * The pipeline's insides, shared by pipeline.c (the data path) and pipeline_state.c (its
 * checkpoints). Nothing outside those two files includes this.
 */
#ifndef DRIFT_PIPELINE_INT_H
#define DRIFT_PIPELINE_INT_H

#include "drift_op.h"
#include "stream.h"
#include "join.h"
#include "metrics/prequential.h"

#define MOM_BLOCK 256    /* window rows per moments update (BLAS batch) */
#define MV_REF_CHUNK 256 /* reference rows per moments update (BLAS batch) */
#define LEARNER_PREQ_MAX 100000 /* pairs the learner's metrics hold between two versions */
#define SHADOW_MIN_ROWS 32  /* a shadow learner is compared after at least this many rows */
#define LEARN_STEP_ROWS 32  /* rows per learner step, counted from the learner's first row */
#define PCA_MAX_CHUNKS 1000 /* reference chunks whose errors set the PCA thresholds */
#define PCA_MIN_CHUNKS 5    /* a reference shorter than this many windows is cut finer */
#define NCODES (DRIFT_MAX_CATEGORIES + 1) /* category codes incl. the unseen code */
#define REF_MAX_FIELDS 4096                /* columns of a reference file, plus one */

struct pane {
    uint64_t events;
    uint64_t first_seq, last_seq;
    double ts_min, ts_max;
    uint64_t mom_rows;      /* rows already in mom: taken from the ring in blocks of
                             * mom.max_rows counted from the pane's start, so that the sums do
                             * not depend on how the events were batched */
    uint64_t *hist;         /* d * B */
    uint64_t *missing;      /* d */
    uint64_t *cat;          /* k * NCODES */
    uint64_t *cat_missing;  /* k */
    struct drift_moments mom;
    int64_t *first_off;     /* DRIFT_MAX_PARTITIONS, -1 = none */
    int64_t *last_off;
};

struct drift_pipeline {
    apr_pool_t *pool;
    const struct drift_stream_conf *sc;
    struct drift_pipeline_hooks hooks;
    struct drift_decoder *dec;
    struct drift_batch b;
    int d, k, B;
    const char **num_names, **cat_names;
    int *num_feature, *cat_feature; /* column → feature index */

    /* Reference. */
    uint64_t ref_gen;       /* changes whenever the reference part of the state does */
    uint64_t ref_file_id;   /* a reference file's path, size and mtime, hashed (0: none) */
    int ref_ready;
    uint64_t ref_events;
    uint64_t ref_sample;    /* rows the rank tests compare with (< ref_events: a uniform sample) */
    size_t warm_cap, warm_n;
    double *warm_x;     /* warm_cap * d, column-major */
    int32_t *warm_cat;  /* warm_cap * k */
    double **ref_sorted;
    size_t *ref_nvalid;
    double *edges;      /* d * (B-1) */
    int *nedges;
    uint64_t *ref_hist, *ref_missing, *ref_cat, *ref_cat_missing;
    double *ref_mean, *ref_std;
    struct drift_moments ref_mom; /* multivariate: mean and scatter of the reference rows */
    double *mv_work;              /* multivariate: scratch (drift_hotelling_work) */
    struct drift_pca *pca;        /* pca: the reference's model (malloc'd; refit on rebaseline) */
    double *pca_ref;              /* pca: the reference chunks' errors (PCA_MAX_CHUNKS) */
    size_t pca_nref;
    double *pca_work, *pca_sq;    /* pca: scratch for W rows (malloc'd), per-feature residuals */
    size_t mmd_n;                 /* mmd: reference rows kept (<= mmd_sample) */
    double *mmd_ref, *mmd_win;    /* mmd: reference sample and window sample, column-major */
    double *mmd_work;             /* mmd: scratch (malloc'd) */
    double *ref_rank_error; /* per numeric feature: the sketch's rank-error bound / n behind the
                             * bin edges of a reference file longer than its sample; else 0 */

    /* Windows. */
    size_t W, S, npanes;
    struct pane *panes;
    uint64_t seq;          /* events seen since start (warm-up included) */
    uint64_t win_events;   /* events since the reference was fixed */
    uint64_t win_index;
    double *ring;          /* W * d raw values */
    double *sorted;        /* W scratch */
    uint64_t *keys0, *keys1; /* radix sort scratch, max(W, reference) keys each */
    uint64_t *sum_hist, *sum_missing, *sum_cat, *sum_cat_missing, *catbuf, *refcatbuf;
    struct drift_moments sum_mom;
    int32_t *rep_parts;
    int64_t *rep_first, *rep_last;
    struct drift_feature_report *rep;

    /* Statistics and policy. */
    const struct drift_stat_ops *psi, *ks, *cvm, *ad;
    double *pbuf, *padj;   /* d p-values of one test across the numeric features, and adjusted */
    int consecutive, cooldown;
    uint64_t history;       /* bit i: dataset drift i windows ago (k-of-n policy) */
    uint64_t labelled_since; /* labelled events since the last trigger (volume policy) */
    char model_version[128]; /* the deployed model, as the last deployment said ("" unknown) */
    char open_key[256];      /* the last data-drift trigger, until its resolution ("" none) */
    char open_severity[16];
    int clear_streak;        /* windows without dataset drift since it */

    /* Learner. */
    const struct drift_learner_ops *lops;
    struct drift_learner *learner;
    uint64_t last_published;
    int learner_signal;           /* a concept-drift signal waits for the next learner step */
    int ld;                       /* the learner's inputs: d numeric + encoded categories */
    int32_t *lcol;                /* k * NCODES: a category's input column, or -1 */
    double *lx;                   /* batch cap * ld inputs, column-major (NULL: the numeric
                                   * batch is the input) */
    double *lcenter, *lscale, *lw; /* ld each (lw: ld + 1, the published weights) */
    const char **lnames;          /* ld input names: features, "cat=value", "cat#bucket" */
    int64_t *ltrained;            /* DRIFT_MAX_PARTITIONS: last offset learnt per partition
                                   * (-1 none) */
    double lts;                   /* event time of the last labelled row learnt (NaN none) */
    struct drift_preq *lpreq;     /* the learner's own prequential metrics since the last
                                   * version (like the model's own), or NULL */
    struct drift_learner *shadow; /* on_drift shadow: the fresh learner on trial, or NULL */
    uint64_t shadow_rows;         /* labelled rows both have learnt since the trial began */
    double shadow_loss, main_loss; /* their prequential losses over those rows */
    double loss_sum;              /* the learner's prequential loss since the last version */
    uint64_t loss_n;
    size_t signal_row;            /* batch row before which the pending signal acts */
    size_t cur_row;               /* the batch row perf_pair is looking at */
    uint64_t lseen;               /* rows given to the learner (steps end at multiples of
                                   * LEARN_STEP_ROWS) */
    double step_loss, step_shadow_loss; /* the open step's losses (learner, shadow) */
    uint64_t step_learnt;         /* labelled rows learnt in the open step */
    double trial_loss0;           /* step_loss when the shadow's trial began in this step */
    uint64_t trial_learnt0;
    uint64_t lthrough;            /* 0-based event the learner has learnt through */
    uint64_t batch_seq0;          /* seq of the batch's first row */
    double *wbuf;

    /* Concept drift: a change detector on the model's errors (the performance section). */
    const struct drift_detector_ops *cops;
    struct drift_detector *cdet;
    uint64_t pairs;            /* labelled predictions seen */
    uint64_t perf_quiet_until; /* no performance trigger before this many pairs (cooldown) */
    double since_sum;          /* errors since the last detection (or the start) */
    uint64_t since_n;
    double *recent;            /* the last RECENT errors, a ring */
    size_t recent_n, recent_head;
    struct drift_join *join;   /* predictions waiting for labels from the labels topic */
    struct drift_preq *preq;   /* the open window of prequential metrics */
    uint64_t perf_windows;     /* metrics windows closed */
    uint64_t preq_n;           /* pairs in the open metrics window */
    struct drift_perf_window last_pw; /* the last one closed (evidence), index UINT64_MAX if none */
    int64_t join_clock_ms;     /* replay: the latest event time seen, the join's clock */
    char *label_scratch;       /* unescaping label events */

    struct drift_pipeline_stats st;
};

#define RECENT 200 /* errors the evidence's "recent" error averages over */
#define LABEL_SCRATCH 4096

/* Shared between the data path and the checkpoint code. */
void drift_pl_pane_reset(struct pane *pn, int d, int k, int B);
void drift_pl_learner_make(struct drift_pipeline *p);
/* Builds the reference from p->warm_x/warm_cat (n rows) and fixes it, without the
 * reference_ready hook: what a restore does with the saved rows. */
void drift_pl_reference_restore(struct drift_pipeline *p, size_t n);
/* The learner's parameters from the config (center and scale: the reference's). */
void drift_pl_learner_params(const struct drift_pipeline *p, struct drift_learner_params *lp);

#endif
