/*
 * The operator API: the only header an operator includes.
 *
 * Operators are the mathematics of driftd (summaries, drift statistics, sequential detectors,
 * online learners). They are pure: no libuv, librdkafka, SQLite, curl, APR or config parser in
 * here. Numbers go in, numbers and verdicts come out, and state can be saved to bytes. That
 * keeps every statistic testable in isolation, deterministic, and reusable offline
 * (`driftd score`, `driftd replay`). Operators may use BLAS/LAPACKE and libm.
 *
 * Conventions: functions return 0 or a negative DRIFT_E* code; constructors take an error
 * buffer and say what they own; a missing value is NaN (summaries and learners also count ±inf
 * as missing). Operators keep no global state: different objects may be used from different
 * threads at once, one object from one thread at a time.
 */
#ifndef DRIFT_OP_H
#define DRIFT_OP_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Errors
 * -------------------------------------------------------------------------------------------*/
#define DRIFT_OK 0
#define DRIFT_EINVAL (-1)   /* invalid argument or parameter */
#define DRIFT_ENOMEM (-2)   /* allocation failed */
#define DRIFT_ERANGE (-3)   /* value out of range / too large */
#define DRIFT_EIO (-4)      /* I/O failure (engine only) */
#define DRIFT_ESTATE (-5)   /* saved state is corrupt or of another version */
#define DRIFT_EEXIST (-6)   /* already exists (e.g. duplicate idempotency key) */
#define DRIFT_ENOENT (-7)   /* not found */
#define DRIFT_EPARSE (-8)   /* malformed input */
#define DRIFT_EAGAIN (-9)   /* try again later */
#define DRIFT_EFAULT (-10)  /* external system failed (broker, HTTP, database) */

/* Returns a static description of a DRIFT_E* code. */
const char *drift_strerror(int rc);

/* Formats into err (if non-NULL) and returns rc; for one-line error returns. */
int drift_seterr(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---------------------------------------------------------------------------------------------
 * Summaries of one feature over a window or a reference
 *
 * A numeric feature is summarised by its bin counts on edges fixed from the reference, a missing
 * count, and (for KS and other sample tests) its valid values sorted ascending. A categorical
 * feature is summarised by counts per category code; code k-1 is the "unseen" code for
 * categories that were not in the reference dictionary.
 * -------------------------------------------------------------------------------------------*/
struct drift_colsum {
    int nbins;             /* number of bins (= number of counts) */
    const double *edges;   /* nbins-1 interior edges, ascending, numeric only (NULL otherwise) */
    const uint64_t *counts; /* nbins counts */
    uint64_t missing;      /* missing (NaN) values, never binned */
    const double *sorted;  /* valid values sorted ascending, numeric only (NULL if absent) */
    size_t nsorted;
    int unseen_last;       /* categorical: 1 when the last bin counts the categories the
                            * reference never had (zero-initialised = no such bin) */
    double ref_std;        /* reference population std (Wasserstein normalisation), or 0 */
};

/* The verdict of one statistic on one feature. */
struct drift_stat_result {
    double statistic;  /* the test statistic (PSI value, KS D, ...) */
    double pvalue;     /* NAN where the statistic has no p-value */
    double effect;     /* effect size (for PSI and KS: the statistic itself) */
    double threshold;  /* the threshold the rule compared with */
    int dof;           /* degrees of freedom (chi-square), else 0 */
    int drifted;       /* 1 when the rule fired */
    char rule[64];     /* the rule, e.g. "psi >= 0.2" or "p < 0.01" */
};

/* Parameters shared by the thin statistics of the spine; later families add their own. */
struct drift_stat_params {
    double threshold;  /* psi: drift when psi >= threshold; ks: drift when p < threshold */
    double epsilon;    /* zero-share replacement for PSI/KL (default 1e-4) */
    double ks_exact_cells; /* ks: largest n·m for the exact p-value; 0 = scipy's own rule
                            * (exact iff max(n, m) <= 10000) */
};

/* Sorts a[0..n) ascending (no NaN); k0 and k1 are scratch of n keys each. */
void drift_sort_doubles(double *a, size_t n, uint64_t *k0, uint64_t *k1);
/* Insertion sort, for small n. */
void drift_sort_doubles_small(double *a, size_t n);

/* Multiple-testing correction of n p-values (NaN = not tested) into out: adjusted p-values. */
#define DRIFT_ADJUST_BONFERRONI 1
#define DRIFT_ADJUST_BH 2 /* Benjamini–Hochberg */
int drift_pvalue_adjust(const double *p, size_t n, int method, double *out);

/* Regularised upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a); chi-square sf is Q(k/2, x/2). */
double drift_gamma_q(double a, double x);

/* P(D_n >= x) of the one-sample two-sided KS statistic (= scipy.stats.kstwo.sf(x, n)). */
double drift_kstwo_sf(int n, double x);
/* P(D+_n >= x), the one-sided Smirnov statistic (= scipy.special.smirnov(n, x)). */
double drift_smirnov_sf(int n, double x);

/* A drift statistic: compares a window summary with the reference summary. compare returns 0,
 * DRIFT_EINVAL when the statistic is not defined on these summaries (say, too few values), or
 * DRIFT_ENOMEM: the exact p-values (KS, CvM) allocate scratch for their lattice. */
struct drift_stat_ops {
    const char *name;         /* the name the config uses: "psi", "ks" */
    const char *description;
    int numeric;              /* 1 if defined for numeric features */
    int categorical;          /* 1 if defined for categorical features */
    double default_threshold;
    int (*compare)(const struct drift_colsum *ref, const struct drift_colsum *cur,
                   const struct drift_stat_params *p, struct drift_stat_result *out);
};

/* Registry: returns the statistic called name, or NULL. */
const struct drift_stat_ops *drift_stat_find(const char *name);
/* NULL-terminated list of all statistics. */
extern const struct drift_stat_ops *const drift_stats[];

/* ---------------------------------------------------------------------------------------------
 * Histogram bins (operators/summaries/histogram.c)
 * -------------------------------------------------------------------------------------------*/

/* Quantile of sorted[0..n-1] at probability q, linear interpolation (numpy's default method). */
double drift_quantile_sorted(const double *sorted, size_t n, double q);

/* Fills edges with the interior bin edges for nbins bins from sorted reference values: the
 * quantiles at k/nbins, k=1..nbins-1, with duplicates removed. Returns the number of edges
 * written (<= nbins-1); the resulting bin count is that plus one. edges must hold nbins-1. */
int drift_hist_edges(const double *sorted, size_t n, int nbins, double *edges);

/* The bin of x: the number of edges <= x (0..nedges). x must not be NaN. */
static inline int drift_hist_bin(const double *edges, int nedges, double x)
{
    int lo = 0, hi = nedges;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (edges[mid] <= x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* ---------------------------------------------------------------------------------------------
 * Quantile sketch (operators/summaries/sketch.c)
 *
 * A mergeable summary of a numeric feature in bounded memory (at most k values per level, about
 * log2(n/k)+1 levels), for references and windows larger than memory allows. Its rank error is
 * deterministic and tracked: for every x, |drift_sketch_rank(x) - #{values <= x}| <=
 * drift_sketch_rank_error(), which is about (n/k)·log2(n/k). NaN and ±inf are missing. A sketch
 * is a function of its input order; merging two sketches gives a sketch of the union whose bound
 * is the sum of both bounds plus the merge's own compactions. Not thread-safe.
 * -------------------------------------------------------------------------------------------*/
struct drift_sketch;

#define DRIFT_SKETCH_MIN_K 8
#define DRIFT_SKETCH_MAX_K 65536
#define DRIFT_SKETCH_DEFAULT_K 1024

/* Creates an empty sketch of capacity k (even, in [DRIFT_SKETCH_MIN_K, DRIFT_SKETCH_MAX_K]);
 * NULL and err on failure. */
struct drift_sketch *drift_sketch_create(int k, char *err, size_t errlen);
void drift_sketch_destroy(struct drift_sketch *s);
void drift_sketch_reset(struct drift_sketch *s);
/* Adds one value (NaN/±inf: counted missing). Fails only with DRIFT_ENOMEM, leaving s as it was. */
int drift_sketch_add(struct drift_sketch *s, double x);
/* Merges src into dst (same k, distinct sketches); src is unchanged. */
int drift_sketch_merge(struct drift_sketch *dst, const struct drift_sketch *src);
int drift_sketch_k(const struct drift_sketch *s);
uint64_t drift_sketch_count(const struct drift_sketch *s);     /* valid values absorbed */
uint64_t drift_sketch_missing(const struct drift_sketch *s);
uint64_t drift_sketch_rank_error(const struct drift_sketch *s); /* guaranteed rank bound */
size_t drift_sketch_retained(const struct drift_sketch *s);    /* values held */
/* Estimated number of values <= x, and that over the count (NAN when empty). */
double drift_sketch_rank(const struct drift_sketch *s, double x);
double drift_sketch_cdf(const struct drift_sketch *s, double x);
/* The retained values ascending with their weights (arrays of drift_sketch_retained entries);
 * returns how many, or DRIFT_ENOMEM. Weights add up to the count. */
int drift_sketch_weighted(const struct drift_sketch *s, double *values, uint64_t *weights);
/* Quantiles at q[0..nq) (numpy's linear interpolation on the values the sketch stands for; q <= 0
 * and q >= 1 give the exact minimum and maximum; NAN when empty). With no compaction yet
 * (count < k) they equal numpy.quantile exactly. */
int drift_sketch_quantiles(const struct drift_sketch *s, const double *q, int nq, double *out);
/* drift_hist_edges from the sketch: interior edges at quantiles i/nbins, duplicates removed;
 * returns how many (<= nbins-1), or a DRIFT_E* code. */
int drift_sketch_edges(const struct drift_sketch *s, int nbins, double *edges);
/* State to bytes: returns the size needed; writes when buf is large enough. load checks every
 * field (sizes, weights adding up to the count, finite values within the extremes, the bound no
 * larger than the count) before changing s, and needs the same k. */
size_t drift_sketch_save(const struct drift_sketch *s, void *buf, size_t len);
int drift_sketch_load(struct drift_sketch *s, const void *buf, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Streaming mean and covariance (operators/summaries/moments.c), BLAS-backed
 *
 * Updated per batch: the batch's own mean (dgemv) and scatter matrix (dsyrk on the centred
 * rows) are merged into the running state with Chan et al.'s pairwise formula, so moments of two
 * partitions merge into the moments of their union. Rows with any missing value are skipped
 * (listwise deletion) and counted.
 * -------------------------------------------------------------------------------------------*/
struct drift_moments {
    int d;
    uint64_t n;         /* complete rows absorbed */
    uint64_t skipped;   /* rows skipped for a missing value */
    double *mean;       /* d */
    double *m2;         /* d*d column-major scatter matrix; upper triangle valid */
    double *work;       /* scratch for a batch (the rest of drift_moments_size's bytes) */
    size_t max_rows;    /* rows per update call that work can hold */
};

/* Bytes needed for a drift_moments of dimension d updated with at most max_rows per call
 * (the struct itself excluded). */
size_t drift_moments_size(int d, size_t max_rows);
/* Lays the moments out in mem (drift_moments_size bytes, 8-byte aligned). Never fails. */
void drift_moments_init(struct drift_moments *m, int d, size_t max_rows, void *mem);
void drift_moments_reset(struct drift_moments *m);
/* Absorbs rows [0,n) of the column-major matrix x (leading dimension ld), n <= max_rows. */
int drift_moments_update(struct drift_moments *m, const double *x, size_t ld, size_t n);
/* Merges src into dst (same d). */
int drift_moments_merge(struct drift_moments *dst, const struct drift_moments *src);
/* Sample covariance entry (i,j) (divisor n-1); NAN when n < 2. */
double drift_moments_cov(const struct drift_moments *m, int i, int j);
/* State (d, counts, mean, upper triangle of the scatter) to bytes: returns the size needed;
 * writes when buf is large enough. load needs the same d and checks every field (finite values,
 * a non-negative diagonal, zeros when n = 0) before changing m. */
size_t drift_moments_save(const struct drift_moments *m, void *buf, size_t len);
int drift_moments_load(struct drift_moments *m, const void *buf, size_t len);

/* ---------------------------------------------------------------------------------------------
 * Multivariate drift (operators/multivariate/)
 *
 * Tests on d features at once: drift that lives in the relations between features, which the
 * per-feature tests cannot see. They work from drift_moments (mean and scatter, BLAS-updated and
 * mergeable) and, where a test needs rows, from column-major row blocks (x[i + j*ld] is row i,
 * feature j). Each result names the features that contribute most, so an alert says where the
 * drift is. Scratch memory is the caller's (a *_work function gives the size in doubles): the
 * tests do not allocate, except the PCA fit.
 * -------------------------------------------------------------------------------------------*/
#define DRIFT_MV_TOP 8

struct drift_mv_result {
    double statistic;   /* T², mean reconstruction error, MMD², or the largest |Δρ| */
    double pvalue;      /* NAN when the test has none */
    double threshold;   /* what the rule compared with: alpha, or the upper bound */
    double lower;       /* pca: the lower bound; NAN otherwise */
    int drifted;        /* 1 when the rule fired */
    int ntop;           /* entries used in top, top2, contrib */
    int top[DRIFT_MV_TOP];  /* feature indices, largest contribution first */
    int top2[DRIFT_MV_TOP]; /* correlation: the pair's other feature; -1 otherwise */
    double contrib[DRIFT_MV_TOP]; /* the contributions, in the test's own units */
    double df1, df2;    /* hotelling: the F distribution's degrees of freedom */
    int components;     /* pca: principal components kept */
    double bandwidth;   /* mmd: the RBF kernel's bandwidth σ */
    char rule[96];      /* e.g. "p < 0.01" */
};

/* Regularised incomplete beta I_x(a, b), a, b > 0, x in [0, 1]; NAN outside. */
double drift_betainc(double a, double b, double x);
/* Survival function of the F distribution with (d1, d2) degrees of freedom at x (scipy's
 * stats.f.sf); 1 for x <= 0. */
double drift_f_sf(double x, double d1, double d2);

/* Two-sample Hotelling T² of the window w against the reference r:
 *   T² = n_r·n_w/(n_r+n_w) · δᵀ S_λ⁻¹ δ,   δ = mean_w − mean_r,
 * S the pooled covariance (scatter sum over n_r+n_w−2) shrunk toward its mean variance,
 * S_λ = (1−λ)·S + λ·(tr S / d)·I (λ = shrinkage in [0, 1]; 0 is the classical test), and
 *   F = (n−d−1) / (d·(n−2)) · T²  ~  F(d, n−d−1),   n = n_r + n_w,
 * whose survival is the p-value; drifted when p < alpha. Contributions c_j = scale·δ_j·(S_λ⁻¹δ)_j
 * sum to T² (one can be negative); top lists the largest. work: drift_hotelling_work(d) doubles.
 * DRIFT_EINVAL when n <= d + 1 or the dimensions differ; DRIFT_ERANGE when S_λ is not positive
 * definite (a constant feature with λ = 0). */
size_t drift_hotelling_work(int d);
int drift_hotelling(const struct drift_moments *r, const struct drift_moments *w, double shrinkage,
                    double alpha, double *work, struct drift_mv_result *out);

/* Correlation drift: the largest change |ρ_w − ρ_r| of a pairwise Pearson correlation between
 * the reference and the window (features with zero variance on either side are left out);
 * drifted when it reaches threshold. top/top2 are the pairs by |Δρ|, contrib the signed change
 * ρ_w − ρ_r. DRIFT_EINVAL when d < 2, the dimensions differ, or either side has n < 2. */
int drift_corr_drift(const struct drift_moments *r, const struct drift_moments *w,
                     double threshold, struct drift_mv_result *out);

/* PCA reconstruction error (as NannyML's data reconstruction drift defines it). The fit
 * standardises with the reference's mean and population std (StandardScaler), takes the
 * eigenvectors of the standardised covariance (LAPACKE_dsyevr) and keeps the fewest components
 * whose cumulative explained-variance ratio exceeds `variance` (sklearn's rule for a fractional
 * n_components; NannyML's default 0.65). A row's error is the Euclidean distance between its
 * standardised values and their reconstruction from the kept components; a chunk's value is the
 * mean over its complete rows (rows with a missing value are skipped; NannyML imputes). The
 * thresholds are mean ± k·std (population std) of the reference's chunk errors (NannyML: k = 3).
 * Features with zero reference variance are left out of the model. */
struct drift_pca;
struct drift_pca *drift_pca_fit(const struct drift_moments *ref, double variance, char *err,
                                size_t errlen);
void drift_pca_free(struct drift_pca *p);
int drift_pca_components(const struct drift_pca *p);
/* Doubles of scratch drift_pca_error needs for n rows. */
size_t drift_pca_work(const struct drift_pca *p, size_t n);
/* Mean reconstruction error of rows [0, n) of x (ld), through one dgemm. When feature_sq is
 * non-NULL it receives, per feature (d of them), the mean squared residual: how much of the
 * error each feature carries. *used gets the complete rows (may be NULL). NAN when none. */
double drift_pca_error(const struct drift_pca *p, const double *x, size_t ld, size_t n,
                       double *work, double *feature_sq, size_t *used);
/* Fills out from a chunk value and the reference chunks' values (nref of them): statistic,
 * lower = mean − k·std, threshold = mean + k·std, drifted when outside, and top from
 * feature_sq (may be NULL). */
void drift_pca_verdict(const struct drift_pca *p, double value, const double *ref_chunks,
                       size_t nref, double k, const double *feature_sq,
                       struct drift_mv_result *out);

/* Maximum mean discrepancy between a sample x (n rows) and y (m rows) of d features, RBF kernel
 * k(a, b) = exp(−‖a−b‖² / (2σ²)), σ = the median pairwise distance of the pooled sample (the
 * median heuristic) unless bandwidth > 0. Squared distances come from cblas_dgemm blocks. Below
 * linear_above pooled rows: the unbiased U-statistic MMD², and a permutation p-value from
 * `permutations` shuffles of a fixed seed, p = (1 + #{MMD²_perm >= MMD²}) / (1 + permutations);
 * above: Gretton's linear-time estimate over disjoint pairs with its normal p-value. Drifted
 * when p < alpha. Contributions: per feature, |Δmean|/pooled std (where the sample moved).
 * Rows with a missing value are skipped. */
struct drift_mmd_params {
    double bandwidth;    /* 0: median heuristic */
    int permutations;    /* default 100 */
    uint64_t seed;       /* default 1 */
    double alpha;        /* default 0.01 */
    size_t linear_above; /* pooled rows above which the linear-time estimate is used
                          * (default 4096) */
};
size_t drift_mmd_work(size_t n, size_t m, int d, const struct drift_mmd_params *p);
int drift_mmd(const double *x, size_t ldx, size_t n, const double *y, size_t ldy, size_t m,
              int d, const struct drift_mmd_params *p, double *work, struct drift_mv_result *out);

/* ---------------------------------------------------------------------------------------------
 * Sequential change detectors (operators/detectors/)
 *
 * Concept-drift detectors fed one value at a time (for binary detectors 1 = error), behaving as
 * River's released implementations do: the same parameter names and defaults, the same
 * detection index on the same input, the same warning zone, the same reset after a detection
 * (River keeps the flag at the index where it fired and rebuilds its state at the next update).
 * update never allocates. State saves to bytes (load validates before it changes anything).
 * -------------------------------------------------------------------------------------------*/
#define DRIFT_DETECT_WARNING 1 /* update result bits */
#define DRIFT_DETECT_DRIFT 2

struct drift_detector;

/* One KEY=VALUE parameter as given on the command line or in the config. */
struct drift_param {
    const char *key;
    const char *value;
};

struct drift_detector_ops {
    const char *name;         /* "adwin", "ddm", ... */
    const char *description;
    const char *params;       /* the accepted keys with defaults, for messages:
                               * "delta=0.002, clock=32, ..." */
    /* Creates a detector from np parameters (River's names; unknown keys and bad values are
     * errors that name the key, the value and what is allowed). NULL and err on failure. */
    struct drift_detector *(*create)(const struct drift_param *p, int np, char *err,
                                     size_t errlen);
    void (*destroy)(struct drift_detector *d);
    /* Feeds one value; returns DRIFT_DETECT_* bits: the state after this value. */
    int (*update)(struct drift_detector *d, double x);
    /* State to bytes: returns the size needed; writes when buf is large enough. */
    size_t (*save)(const struct drift_detector *d, void *buf, size_t len);
    int (*load)(struct drift_detector *d, const void *buf, size_t len);
};

const struct drift_detector_ops *drift_detector_find(const char *name);
/* NULL-terminated list of all detectors. */
extern const struct drift_detector_ops *const drift_detectors[];

/* Parameter parsing shared by the detectors. A spec lists one accepted key. */
enum drift_param_type { DRIFT_PARAM_NUM, DRIFT_PARAM_INT, DRIFT_PARAM_BOOL, DRIFT_PARAM_ENUM };
#define DRIFT_PARAM_LO_OPEN 1 /* lo is excluded */
#define DRIFT_PARAM_HI_OPEN 2 /* hi is excluded */
struct drift_param_spec {
    const char *key;
    enum drift_param_type type;
    const char *def;      /* default, as text */
    double lo, hi;        /* NUM/INT: allowed range */
    int flags;            /* DRIFT_PARAM_*_OPEN */
    const char *choices;  /* ENUM: "a|b|c"; the value stored is the index */
    size_t offset;        /* where the value goes in the detector's parameter struct: a double
                           * (NUM), long long (INT), int (BOOL 0/1, ENUM index) */
};
/* Fills out (at each spec's offset) from the defaults, then from p; every key must be in spec,
 * given once, with a valid value. Errors read "adwin: delta must be a number in (0, 1), got
 * '2'" or "adwin: unknown parameter 'foo' (allowed: delta, clock, ...)". */
int drift_params_parse(const char *detector, const struct drift_param_spec *spec, int nspec,
                       const struct drift_param *p, int np, void *out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Online learners (operators/learners/)
 * -------------------------------------------------------------------------------------------*/
struct drift_learner;

/* Optimizers of the linear learners (drift_learner_params.optimizer). */
enum drift_optimizer {
    DRIFT_OPT_SGD = 0, /* w ← w − η·g */
    DRIFT_OPT_ADAGRAD, /* per-coordinate η/√(ε + Σg²) */
    DRIFT_OPT_FTRL,    /* FTRL-proximal (McMahan et al. 2013) with L1 and L2 */
    DRIFT_OPT_RLS,     /* recursive least squares (linear task only; O(d²) per row) */
};

struct drift_learner_params {
    double learning_rate;  /* SGD/AdaGrad step size η (default 0.05) */
    double l2;             /* L2 penalty (default 0) */
    const double *center;  /* d values subtracted from features (reference mean), or NULL */
    const double *scale;   /* d values features are divided by (reference std), or NULL;
                            * with both NULL and `standardize`, running estimates are used */
    /* Zero-initialised fields keep the original behaviour (logistic SGD, one row at a time). */
    int optimizer;         /* enum drift_optimizer */
    double l1;             /* FTRL: L1 penalty λ1 (default 0) */
    double ftrl_alpha;     /* FTRL: α (default 0.1) */
    double ftrl_beta;      /* FTRL: β (default 1) */
    double rls_forget;     /* RLS: forgetting factor in (0, 1] (default 1: none) */
    double rls_delta;      /* RLS: P₀ = I/δ (default 1) */
    int batch;             /* rows per update: predictions for a mini-batch are made with the
                            * weights before it (one dgemv), then one averaged step (default 1) */
    int standardize;       /* with center and scale NULL: standardise with running mean/std
                            * of the rows seen before (Welford), 0 = raw features */
};

struct drift_learner_ops {
    const char *name;  /* "logistic", "linear", "rls" */
    const char *description;
    /* Creates a learner for d features; returns NULL and fills err on failure. Caller frees
     * with destroy. */
    struct drift_learner *(*create)(int d, const struct drift_learner_params *p, char *err,
                                    size_t errlen);
    void (*destroy)(struct drift_learner *l);
    /* Predicted probability/value for one row (x has stride incx; a missing feature, NaN or
     * ±inf, counts as the centre, i.e. contributes 0 after standardising). It writes the
     * learner's own scratch: const in meaning, not safe to call on one learner from two
     * threads at once. */
    double (*predict)(const struct drift_learner *l, const double *x, size_t incx);
    /* Prequential: for each row i of the column-major batch x (ld), predict then learn from
     * y[i] (rows whose y is NaN or ±inf are skipped). Returns rows learnt; adds the sum of
     * the losses (log-loss, or squared error for the linear task) of the predictions made
     * before learning to *loss_sum when non-NULL, one row at a time (*loss_sum += loss), so an
     * accumulator carried across calls gets the same sum however the rows are split. The
     * learner's state after a stream of rows (its saved bytes too) does not depend on how the
     * rows were split into calls either. */
    size_t (*learn)(struct drift_learner *l, const double *x, size_t ld, size_t n,
                    const double *y, double *loss_sum);
    /* Weights in the model's own feature space (de-standardised): w[0..d-1] and *bias. */
    void (*weights)(const struct drift_learner *l, double *w, double *bias);
    uint64_t (*updates)(const struct drift_learner *l);
    void (*reset)(struct drift_learner *l);
    /* State to bytes: returns the size needed; writes when buf is large enough. */
    size_t (*save)(const struct drift_learner *l, void *buf, size_t len);
    int (*load)(struct drift_learner *l, const void *buf, size_t len);
};

const struct drift_learner_ops *drift_learner_find(const char *name);

#endif
