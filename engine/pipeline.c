/*
 * The stream pipeline: reference profile, count windows, drift statistics, trigger policy and
 * the online learner, driven one decoded batch at a time.
 *
 * Windows are built from panes. A tumbling window of size W is one pane of W events; a sliding
 * window of size W evaluated every S events is W/S panes of S events each. A pane holds what the
 * statistics need in bounded memory (bin counts on the reference edges, category counts,
 * mean/covariance updated per batch through BLAS, event-time and offset bounds) and panes merge,
 * so closing a sliding window costs W/S merges rather than a rescan. Raw values of the last W
 * events live in a ring for the sample tests (KS). Nothing here allocates after creation.
 *
 * The reference is the first N events (warm-up) or a CSV file; it fixes the bin edges
 * (reference quantiles), the category dictionary and the standardisation of the learner.
 *
 * The policy counts consecutive windows with dataset drift; after `consecutive` of them, and
 * outside the cooldown, it fires a trigger whose idempotency key is derived from the stream, the
 * rule and the window's offset ranges only, so the same data gives the same key.
 */
#include <apr_strings.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pipeline_int.h"

static apr_status_t detector_cleanup(void *data);

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * -------------------------------------------------------------------------------------------*/
static void *zalloc(apr_pool_t *pool, size_t n)
{
    return apr_pcalloc(pool, n ? n : 1);
}

static void pane_init(apr_pool_t *pool, struct pane *pn, int d, int k, int B, size_t max_rows)
{
    pn->hist = zalloc(pool, (size_t)d * (size_t)B * sizeof(uint64_t));
    pn->missing = zalloc(pool, (size_t)d * sizeof(uint64_t));
    pn->cat = zalloc(pool, (size_t)k * NCODES * sizeof(uint64_t));
    pn->cat_missing = zalloc(pool, (size_t)k * sizeof(uint64_t));
    drift_moments_init(&pn->mom, d, max_rows, zalloc(pool, drift_moments_size(d, max_rows)));
    pn->first_off = zalloc(pool, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
    pn->last_off = zalloc(pool, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
}

void drift_pl_pane_reset(struct pane *pn, int d, int k, int B)
{
    pn->events = 0;
    pn->mom_rows = 0;
    pn->ts_min = NAN;
    pn->ts_max = NAN;
    memset(pn->hist, 0, (size_t)d * (size_t)B * sizeof(uint64_t));
    memset(pn->missing, 0, (size_t)d * sizeof(uint64_t));
    memset(pn->cat, 0, (size_t)k * NCODES * sizeof(uint64_t));
    memset(pn->cat_missing, 0, (size_t)k * sizeof(uint64_t));
    drift_moments_reset(&pn->mom);
    for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
        pn->first_off[i] = -1;
        pn->last_off[i] = -1;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Creation
 * -------------------------------------------------------------------------------------------*/
static int load_reference_file(struct drift_pipeline *p, const char *path, char *err,
                               size_t errlen);
static uint64_t fnv64(uint64_t h, const void *data, size_t n);

static apr_status_t mv_cleanup(void *data)
{
    struct drift_pipeline *p = data;
    drift_pca_free(p->pca);
    p->pca = NULL;
    free(p->pca_work);
    free(p->mmd_work);
    p->pca_work = p->mmd_work = NULL;
    return APR_SUCCESS;
}

/* The learner's parameters from the config; center and scale are the reference's (once the
 * inputs exist), or NULL with learner.standardize online. */
void drift_pl_learner_params(const struct drift_pipeline *p, struct drift_learner_params *lp)
{
    const struct drift_stream_conf *sc = p->sc;
    memset(lp, 0, sizeof(*lp));
    if (sc->learner.standardize) {
        lp->standardize = 1;
    } else {
        lp->center = p->lcenter;
        lp->scale = p->lscale;
    }
    lp->learning_rate = sc->learner.learning_rate > 0 ? sc->learner.learning_rate : 0.05;
    lp->l2 = sc->learner.l2;
    lp->optimizer = sc->learner.optimizer;
    lp->l1 = sc->learner.l1;
    lp->ftrl_alpha = sc->learner.ftrl_alpha;
    lp->ftrl_beta = sc->learner.ftrl_beta;
    lp->rls_forget = sc->learner.rls_forget;
    lp->rls_delta = sc->learner.rls_delta;
    lp->batch = sc->learner.batch;
}

struct drift_pipeline *drift_pipeline_create(apr_pool_t *parent, const struct drift_stream_conf *sc,
                                             size_t batch_max, const char *base_dir,
                                             const struct drift_pipeline_hooks *hooks, char *err,
                                             size_t errlen)
{
    apr_pool_t *pool;
    if (apr_pool_create(&pool, parent) != APR_SUCCESS) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        return NULL;
    }
    struct drift_pipeline *p = apr_pcalloc(pool, sizeof(*p));
    p->pool = pool;
    p->sc = sc;
    if (hooks != NULL) {
        p->hooks = *hooks;
    }
    p->dec = drift_decoder_create(pool, sc);
    p->B = sc->reference.bins > 1 ? sc->reference.bins : 10;
    for (int i = 0; i < sc->nfeatures; i++) {
        if (sc->features[i].type == DRIFT_FEATURE_NUMERIC) {
            p->d++;
        } else {
            p->k++;
        }
    }
    int d = p->d, k = p->k, B = p->B;
    p->num_names = zalloc(pool, (size_t)d * sizeof(char *));
    p->cat_names = zalloc(pool, (size_t)k * sizeof(char *));
    p->num_feature = zalloc(pool, (size_t)d * sizeof(int));
    p->cat_feature = zalloc(pool, (size_t)k * sizeof(int));
    for (int i = 0, a = 0, c = 0; i < sc->nfeatures; i++) {
        if (sc->features[i].type == DRIFT_FEATURE_NUMERIC) {
            p->num_feature[a] = i;
            p->num_names[a++] = sc->features[i].name;
        } else {
            p->cat_feature[c] = i;
            p->cat_names[c++] = sc->features[i].name;
        }
    }

    /* Batch. */
    size_t cap = batch_max > 0 ? batch_max : 1024;
    p->b.cap = cap;
    p->b.d = d;
    p->b.k = k;
    p->b.x = zalloc(pool, cap * (size_t)d * sizeof(double));
    p->b.cat = zalloc(pool, cap * (size_t)k * sizeof(int32_t));
    p->b.label = zalloc(pool, cap * sizeof(double));
    p->b.pred = sc->prediction != NULL ? zalloc(pool, cap * sizeof(double)) : NULL;
    if (sc->labels.enabled || sc->dedup > 0) {
        p->b.id = zalloc(pool, cap * DRIFT_ID_MAX);
        p->b.idlen = zalloc(pool, cap);
    }
    p->b.ts = zalloc(pool, cap * sizeof(double));
    p->b.part = zalloc(pool, cap * sizeof(int32_t));
    p->b.off = zalloc(pool, cap * sizeof(int64_t));

    /* Reference storage. */
    p->ref_sorted = zalloc(pool, (size_t)d * sizeof(double *));
    p->ref_nvalid = zalloc(pool, (size_t)d * sizeof(size_t));
    p->edges = zalloc(pool, (size_t)d * (size_t)(B - 1) * sizeof(double));
    p->nedges = zalloc(pool, (size_t)d * sizeof(int));
    p->ref_hist = zalloc(pool, (size_t)d * (size_t)B * sizeof(uint64_t));
    p->ref_missing = zalloc(pool, (size_t)d * sizeof(uint64_t));
    p->ref_cat = zalloc(pool, (size_t)k * NCODES * sizeof(uint64_t));
    p->ref_cat_missing = zalloc(pool, (size_t)k * sizeof(uint64_t));
    p->ref_mean = zalloc(pool, (size_t)d * sizeof(double));
    p->ref_std = zalloc(pool, (size_t)d * sizeof(double));
    p->ref_rank_error = zalloc(pool, (size_t)d * sizeof(double));

    /* Windows. */
    p->W = (size_t)(sc->window.size > 0 ? sc->window.size : 1000);
    p->S = sc->window.type == DRIFT_WINDOW_SLIDING && sc->window.slide > 0
               ? (size_t)sc->window.slide
               : p->W;
    if (p->W % p->S != 0) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "stream %s: window.slide (%zu) must divide window.size (%zu)", sc->name, p->S,
                     p->W);
        apr_pool_destroy(pool);
        return NULL;
    }
    p->npanes = p->W / p->S;
    p->panes = zalloc(pool, p->npanes * sizeof(struct pane));
    for (size_t i = 0; i < p->npanes; i++) {
        pane_init(pool, &p->panes[i], d, k, B, p->S < MOM_BLOCK ? p->S : MOM_BLOCK);
        drift_pl_pane_reset(&p->panes[i], d, k, B);
    }
    p->ring = zalloc(pool, p->W * (size_t)d * sizeof(double));
    p->sorted = zalloc(pool, p->W * sizeof(double));
    p->keys0 = zalloc(pool, p->W * sizeof(uint64_t));
    p->keys1 = zalloc(pool, p->W * sizeof(uint64_t));
    p->sum_hist = zalloc(pool, (size_t)d * (size_t)B * sizeof(uint64_t));
    p->sum_missing = zalloc(pool, (size_t)d * sizeof(uint64_t));
    p->sum_cat = zalloc(pool, (size_t)k * NCODES * sizeof(uint64_t));
    p->sum_cat_missing = zalloc(pool, (size_t)k * sizeof(uint64_t));
    p->catbuf = zalloc(pool, NCODES * sizeof(uint64_t));
    p->refcatbuf = zalloc(pool, NCODES * sizeof(uint64_t));
    drift_moments_init(&p->sum_mom, d, 0, zalloc(pool, drift_moments_size(d, 0)));
    if (sc->multivariate.enabled) {
        drift_moments_init(&p->ref_mom, d, MV_REF_CHUNK,
                           zalloc(pool, drift_moments_size(d, MV_REF_CHUNK)));
        p->mv_work = zalloc(pool, drift_hotelling_work(d) * sizeof(double));
        p->pca_ref = zalloc(pool, PCA_MAX_CHUNKS * sizeof(double));
        p->pca_sq = zalloc(pool, (size_t)d * sizeof(double));
        size_t m = (size_t)(sc->multivariate.mmd_sample > 0 ? sc->multivariate.mmd_sample : 250);
        p->mmd_ref = zalloc(pool, m * (size_t)d * sizeof(double));
        p->mmd_win = zalloc(pool, m * (size_t)d * sizeof(double));
        apr_pool_cleanup_register(pool, p, mv_cleanup, apr_pool_cleanup_null);
    }
    p->rep_parts = zalloc(pool, DRIFT_MAX_PARTITIONS * sizeof(int32_t));
    p->rep_first = zalloc(pool, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
    p->rep_last = zalloc(pool, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
    p->rep = zalloc(pool, (size_t)sc->nfeatures * sizeof(struct drift_feature_report));

    p->psi = sc->drift.psi ? drift_stat_find("psi") : NULL;
    p->ks = sc->drift.ks ? drift_stat_find("ks") : NULL;
    p->cvm = sc->drift.cvm ? drift_stat_find("cvm") : NULL;
    p->ad = sc->drift.anderson ? drift_stat_find("anderson") : NULL;
    p->pbuf = zalloc(pool, ((size_t)d + 1) * sizeof(double));
    p->padj = zalloc(pool, ((size_t)d + 1) * sizeof(double));
    p->wbuf = zalloc(pool, ((size_t)d + 1) * sizeof(double));

    if (sc->learner.enabled) {
        p->lops = drift_learner_find(sc->learner.optimizer == DRIFT_OPT_RLS
                                         ? "rls"
                                         : sc->learner.kind ? sc->learner.kind : "logistic");
        if (p->lops == NULL) {
            drift_seterr(err, errlen, DRIFT_EINVAL, "stream %s: unknown learner.kind '%s'",
                         sc->name, sc->learner.kind);
            apr_pool_destroy(pool);
            return NULL;
        }
        /* the learner itself is made once the reference is known; its parameters are checked
         * now, so that a bad combination stops the start instead of silently learning nothing */
        struct drift_learner_params lp;
        drift_pl_learner_params(p, &lp);
        char lerr[160];
        struct drift_learner *probe = p->lops->create(d, &lp, lerr, sizeof(lerr));
        if (probe == NULL) {
            drift_seterr(err, errlen, DRIFT_EINVAL, "stream %s: learner: %s", sc->name, lerr);
            apr_pool_destroy(pool);
            return NULL;
        }
        p->lops->destroy(probe);
    }

    if (sc->performance.enabled) {
        p->cops = drift_detector_find(sc->performance.detector);
        struct drift_param pp[64];
        int np = sc->performance.nparams < 64 ? sc->performance.nparams : 64;
        for (int i = 0; i < np; i++) {
            pp[i] = (struct drift_param){sc->performance.params[i].key,
                                         sc->performance.params[i].value};
        }
        char derr[256] = "unknown detector";
        p->cdet = p->cops != NULL ? p->cops->create(pp, np, derr, sizeof(derr)) : NULL;
        if (p->cdet == NULL) {
            drift_seterr(err, errlen, DRIFT_EINVAL, "stream %s: performance: %s", sc->name, derr);
            apr_pool_destroy(pool);
            return NULL;
        }
        apr_pool_cleanup_register(pool, p, detector_cleanup, apr_pool_cleanup_null);
        p->recent = zalloc(pool, RECENT * sizeof(double));
        struct drift_preq_params qp = {.task = sc->performance.task,
                                       .threshold = sc->performance.threshold,
                                       .capacity = (size_t)sc->performance.window};
        p->preq = drift_preq_create(&qp, derr, sizeof(derr));
        if (p->preq == NULL) {
            drift_seterr(err, errlen, DRIFT_EINVAL, "stream %s: performance: %s", sc->name, derr);
            apr_pool_destroy(pool);
            return NULL;
        }
        p->last_pw.index = UINT64_MAX;
        if (sc->labels.enabled) {
            p->join = drift_join_create((size_t)sc->labels.max_pending,
                                        (int64_t)sc->labels.ttl_s * 1000);
            if (p->join == NULL) {
                drift_seterr(err, errlen, DRIFT_ENOMEM, "stream %s: labels: out of memory",
                             sc->name);
                apr_pool_destroy(pool);
                return NULL;
            }
            p->label_scratch = zalloc(pool, LABEL_SCRATCH);
        }
    }

    if (sc->reference.source == DRIFT_REF_FILE) {
        const char *path = sc->reference.path;
        if (path != NULL && path[0] != '/' && base_dir != NULL && base_dir[0] != '\0') {
            path = apr_pstrcat(pool, base_dir, "/", path, NULL);
        }
        if (load_reference_file(p, path, err, errlen) != 0) {
            apr_pool_destroy(pool);
            return NULL;
        }
    } else {
        p->warm_cap = (size_t)(sc->reference.size > 0 ? sc->reference.size : 5000);
        p->warm_x = zalloc(pool, p->warm_cap * (size_t)d * sizeof(double));
        p->warm_cat = zalloc(pool, p->warm_cap * (size_t)k * sizeof(int32_t));
    }
    return p;
}

struct drift_batch *drift_pipeline_batch(struct drift_pipeline *p)
{
    return &p->b;
}

struct drift_decoder *drift_pipeline_decoder(struct drift_pipeline *p)
{
    return p->dec;
}

apr_pool_t *drift_pipeline_pool(struct drift_pipeline *p)
{
    return p->pool;
}

const struct drift_stream_conf *drift_pipeline_conf(const struct drift_pipeline *p)
{
    return p->sc;
}

void drift_pipeline_count_bad(struct drift_pipeline *p, int bad)
{
    if (bad >= 0 && bad < DRIFT_BAD_COUNT) {
        p->st.bad[bad]++;
    }
}

void drift_pipeline_stats(const struct drift_pipeline *p, struct drift_pipeline_stats *out)
{
    *out = p->st;
    out->reference_ready = p->ref_ready;
    out->reference_events = p->ref_events;
}

/* ---------------------------------------------------------------------------------------------
 * Reference profile
 * -------------------------------------------------------------------------------------------*/

/* The detector is malloc'd by its operator; it joins the pipeline pool's lifetime. */
static apr_status_t detector_cleanup(void *data)
{
    struct drift_pipeline *p = data;
    if (p->cdet != NULL) {
        p->cops->destroy(p->cdet);
        p->cdet = NULL;
    }
    drift_join_destroy(p->join);
    p->join = NULL;
    drift_preq_destroy(p->preq);
    p->preq = NULL;
    return APR_SUCCESS;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The learner is malloc'd by its operator; it joins the pipeline pool's lifetime here. */
static apr_status_t learner_cleanup(void *data)
{
    struct drift_pipeline *p = data;
    if (p->learner != NULL) {
        p->lops->destroy(p->learner);
        p->learner = NULL;
    }
    if (p->shadow != NULL) {
        p->lops->destroy(p->shadow);
        p->shadow = NULL;
    }
    return APR_SUCCESS;
}


/* The multivariate models of the reference (n rows of x, column-major, leading dimension ld):
 * the PCA fit and its reference chunk errors, and the MMD reference sample (rows at an even
 * stride). Run at every (re)baseline; failures leave the test off, logged through its absence
 * from the evidence. */
static void mv_reference(struct drift_pipeline *p, const double *x, size_t ld, size_t n)
{
    const struct drift_stream_conf *sc = p->sc;
    int d = p->d;
    mv_cleanup(p);
    p->pca_nref = 0;
    p->mmd_n = 0;
    if (sc->multivariate.tests & (1 << DRIFT_MV_PCA)) {
        char err[160];
        p->pca = drift_pca_fit(&p->ref_mom, sc->multivariate.pca_variance, err, sizeof(err));
        /* chunks as long as a window, or finer when the reference holds few windows */
        size_t chunk = n / p->W >= PCA_MIN_CHUNKS ? p->W : n / PCA_MIN_CHUNKS;
        if (p->pca != NULL && chunk > (size_t)d) {
            size_t cap = chunk > p->W ? chunk : p->W;
            p->pca_work = malloc(drift_pca_work(p->pca, cap) * sizeof(double));
            for (size_t s0 = 0; p->pca_work != NULL && s0 + chunk <= n &&
                                p->pca_nref < PCA_MAX_CHUNKS;
                 s0 += chunk) {
                double e = drift_pca_error(p->pca, x + s0, ld, chunk, p->pca_work, NULL, NULL);
                if (!isnan(e)) {
                    p->pca_ref[p->pca_nref++] = e;
                }
            }
        }
        if (p->pca_nref < 2) {
            drift_pca_free(p->pca);
            p->pca = NULL;
        }
    }
    if (sc->multivariate.tests & (1 << DRIFT_MV_MMD) && n >= 2) {
        size_t m = (size_t)sc->multivariate.mmd_sample;
        p->mmd_n = n < m ? n : m;
        for (size_t i = 0; i < p->mmd_n; i++) {
            size_t row = i * n / p->mmd_n;
            for (int j = 0; j < d; j++) {
                p->mmd_ref[i + (size_t)j * p->mmd_n] = x[row + (size_t)j * ld];
            }
        }
        size_t wn = p->W < m ? p->W : m;
        struct drift_mmd_params mp = {.permutations = sc->multivariate.mmd_permutations,
                                      .alpha = sc->multivariate.alpha};
        p->mmd_work = malloc(drift_mmd_work(p->mmd_n, wn, d, &mp) * sizeof(double));
        if (p->mmd_work == NULL) {
            p->mmd_n = 0;
        }
    }
}

/* The reference's summaries from n rows of x (column-major, leading dimension ld) and cat. */
static void reference_stats(struct drift_pipeline *p, const double *x, size_t ld,
                            const int32_t *cat, size_t ldc, size_t n)
{
    int d = p->d, k = p->k, B = p->B;
    /* a re-baseline replaces the counts of the previous reference */
    memset(p->ref_hist, 0, (size_t)d * (size_t)B * sizeof(uint64_t));
    memset(p->ref_cat, 0, (size_t)k * NCODES * sizeof(uint64_t));
    memset(p->ref_cat_missing, 0, (size_t)k * sizeof(uint64_t));
    memset(p->ref_rank_error, 0, (size_t)d * sizeof(double)); /* rows: exact edges */
    for (int j = 0; j < d; j++) {
        const double *col = x + (size_t)j * ld;
        double *v = zalloc(p->pool, (n ? n : 1) * sizeof(double));
        size_t m = 0;
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isnan(col[i])) {
                v[m++] = col[i];
                sum += col[i];
            }
        }
        if (m > p->W) {
            /* Once: the reference is sorted with scratch of its own size. */
            uint64_t *k0 = malloc(m * sizeof(uint64_t)), *k1 = malloc(m * sizeof(uint64_t));
            if (k0 != NULL && k1 != NULL) {
                drift_sort_doubles(v, m, k0, k1);
            } else {
                qsort(v, m, sizeof(double), cmp_double);
            }
            free(k0);
            free(k1);
        } else {
            drift_sort_doubles(v, m, p->keys0, p->keys1);
        }
        p->ref_sorted[j] = v;
        p->ref_nvalid[j] = m;
        p->ref_missing[j] = n - m;
        double *e = p->edges + (size_t)j * (size_t)(B - 1);
        p->nedges[j] = m > 0 ? drift_hist_edges(v, m, B, e) : 0;
        uint64_t *h = p->ref_hist + (size_t)j * (size_t)B;
        for (size_t i = 0; i < m; i++) {
            h[drift_hist_bin(e, p->nedges[j], v[i])]++;
        }
        double mean = m ? sum / (double)m : NAN, ss = 0;
        for (size_t i = 0; i < m; i++) {
            ss += (v[i] - mean) * (v[i] - mean);
        }
        p->ref_mean[j] = mean;
        p->ref_std[j] = m > 1 ? sqrt(ss / (double)m) : NAN;
    }
    if (p->sc->multivariate.enabled) {
        /* the reference's mean and scatter for the multivariate tests, in BLAS chunks */
        drift_moments_reset(&p->ref_mom);
        for (size_t s0 = 0; s0 < n; s0 += MV_REF_CHUNK) {
            size_t c = n - s0 < MV_REF_CHUNK ? n - s0 : MV_REF_CHUNK;
            drift_moments_update(&p->ref_mom, x + s0, ld, c);
        }
        mv_reference(p, x, ld, n);
    }
    for (int j = 0; j < k; j++) {
        for (size_t i = 0; i < n; i++) {
            int32_t c = cat[(size_t)j * ldc + i];
            if (c < 0) {
                p->ref_cat_missing[j]++;
            } else {
                p->ref_cat[(size_t)j * NCODES + (size_t)c]++;
            }
        }
    }
}

/* The reference is fixed (n events): categories freeze, the learner starts from its moments. */
static apr_status_t preq_cleanup(void *data)
{
    drift_preq_destroy(data);
    return APR_SUCCESS;
}

/* The learner's inputs, fixed when the reference (and so the category dictionary) is: the d
 * numeric features standardised with the reference, then, with learner.categorical, each known
 * category of each categorical feature as a 0/1 column ("onehot": one per category; "hash":
 * hash_buckets shared columns, FNV-1a of "feature=value"). Unseen and missing categories give
 * all zeros. Allocated once, from the pipeline's pool. */
static void learner_inputs(struct drift_pipeline *p)
{
    const struct drift_stream_conf *sc = p->sc;
    int d = p->d, k = p->k;
    if (p->lcenter != NULL) {
        return; /* a re-baseline keeps the inputs with the learner */
    }
    int extra = 0;
    int mode = sc->learner.categorical;
    int H = sc->learner.hash_buckets > 0 ? sc->learner.hash_buckets : 64;
    if (mode == DRIFT_CAT_ONEHOT) {
        for (int j = 0; j < k; j++) {
            extra += drift_decoder_ncategories(p->dec, j);
        }
    } else if (mode == DRIFT_CAT_HASH && k > 0) {
        extra = H;
    }
    p->ld = d + extra;
    p->lcenter = zalloc(p->pool, (size_t)p->ld * sizeof(double));
    p->lscale = zalloc(p->pool, (size_t)p->ld * sizeof(double));
    p->lw = zalloc(p->pool, ((size_t)p->ld + 1) * sizeof(double));
    p->lnames = zalloc(p->pool, (size_t)p->ld * sizeof(char *));
    p->ltrained = zalloc(p->pool, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
    for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
        p->ltrained[i] = -1;
    }
    p->lts = NAN;
    for (int j = 0; j < d; j++) {
        p->lcenter[j] = p->ref_mean[j];
        p->lscale[j] = p->ref_std[j];
        p->lnames[j] = p->num_names[j];
    }
    for (int c = d; c < p->ld; c++) {
        p->lscale[c] = 1; /* 0/1 columns go in as they are */
        p->lnames[c] = apr_psprintf(p->pool, "#%d", c - d);
    }
    if (extra == 0) {
        return;
    }
    p->lcol = zalloc(p->pool, (size_t)k * NCODES * sizeof(int32_t));
    p->lx = zalloc(p->pool, p->b.cap * (size_t)p->ld * sizeof(double));
    int col = d;
    for (int j = 0; j < k; j++) {
        int nc = drift_decoder_ncategories(p->dec, j);
        for (int c = 0; c < NCODES; c++) {
            p->lcol[(size_t)j * NCODES + (size_t)c] = -1;
        }
        for (int c = 0; c < nc; c++) {
            const char *v = drift_decoder_category_name(p->dec, j, c);
            const char *name = apr_pstrcat(p->pool, p->cat_names[j], "=", v, NULL);
            if (mode == DRIFT_CAT_ONEHOT) {
                p->lnames[col] = name;
                p->lcol[(size_t)j * NCODES + (size_t)c] = col++;
            } else {
                uint64_t h = 1469598103934665603ull; /* FNV-1a, 64 bits */
                for (const char *q = name; *q; q++) {
                    h = (h ^ (uint8_t)*q) * 1099511628211ull;
                }
                int b = d + (int)(h % (uint64_t)H);
                p->lcol[(size_t)j * NCODES + (size_t)c] = b;
                p->lnames[b] = apr_psprintf(p->pool, "hash#%d", b - d);
            }
        }
    }
}

/* The learner's input block for batch rows [start, start+n): the numeric batch itself, or the
 * numeric columns and the encoded categories in p->lx (same rows, leading dimension cap). */
static const double *learner_encode(struct drift_pipeline *p, size_t start, size_t n)
{
    struct drift_batch *b = &p->b;
    if (p->lx == NULL) {
        return b->x;
    }
    size_t cap = b->cap;
    for (int j = 0; j < p->d; j++) {
        memcpy(p->lx + (size_t)j * cap + start, b->x + (size_t)j * cap + start,
               n * sizeof(double));
    }
    for (int c = p->d; c < p->ld; c++) {
        memset(p->lx + (size_t)c * cap + start, 0, n * sizeof(double));
    }
    for (int j = 0; j < p->k; j++) {
        const int32_t *codes = b->cat + (size_t)j * cap;
        const int32_t *map = p->lcol + (size_t)j * NCODES;
        for (size_t i = start; i < start + n; i++) {
            int32_t c = codes[i];
            if (c >= 0 && c < NCODES && map[c] >= 0) {
                p->lx[(size_t)map[c] * cap + i] = 1;
            }
        }
    }
    return p->lx;
}

/* The learner, its inputs and its metrics, made when the first reference is ready (a
 * re-baseline keeps them), or when a checkpoint taken during a re-baseline is loaded. */
void drift_pl_learner_make(struct drift_pipeline *p)
{
    if (p->lops == NULL || p->learner != NULL) {
        return;
    }
    learner_inputs(p);
    if (p->lpreq == NULL) {
        uint64_t every = p->sc->learner.publish_every > 0
                             ? (uint64_t)p->sc->learner.publish_every : 1000;
        struct drift_preq_params qp = {
            .task = p->lops == drift_learner_find("logistic") ? DRIFT_PREQ_CLASSIFICATION
                                                              : DRIFT_PREQ_REGRESSION,
            .threshold = DRIFT_PREQ_DEFAULT_THRESHOLD,
            .capacity = every < LEARNER_PREQ_MAX ? (size_t)every : LEARNER_PREQ_MAX};
        char qerr[160];
        p->lpreq = drift_preq_create(&qp, qerr, sizeof(qerr));
        if (p->lpreq != NULL) {
            apr_pool_cleanup_register(p->pool, p->lpreq, preq_cleanup,
                                      apr_pool_cleanup_null);
        }
    }
    struct drift_learner_params lp;
    drift_pl_learner_params(p, &lp);
    char lerr[160];
    p->learner = p->lops->create(p->ld, &lp, lerr, sizeof(lerr));
    if (p->learner != NULL) {
        apr_pool_cleanup_register(p->pool, p, learner_cleanup, apr_pool_cleanup_null);
    }
}

static void reference_finish(struct drift_pipeline *p, size_t n, int notify)
{
    p->ref_gen++;
    drift_decoder_freeze(p->dec);
    p->ref_ready = 1;
    p->ref_events = n;
    drift_pl_learner_make(p); /* a re-baseline keeps the learner */
    if (notify && p->hooks.reference_ready) {
        p->hooks.reference_ready(p->hooks.ctx, p->sc->name, n);
    }
}

static void reference_build(struct drift_pipeline *p, const double *x, size_t ld,
                            const int32_t *cat, size_t ldc, size_t n)
{
    reference_stats(p, x, ld, cat, ldc, n);
    p->ref_sample = n;
    reference_finish(p, n, 1);
}

void drift_pl_reference_restore(struct drift_pipeline *p, size_t n)
{
    reference_stats(p, p->warm_x, p->warm_cap, p->warm_cat, p->warm_cap, n);
    p->ref_sample = n;
    reference_finish(p, n, 0);
}

/* Splits one CSV line in place into at most max fields (quotes honoured, "" inside quotes is a
 * quote). Returns the field count. */
static int csv_split(char *line, char **fields, int max)
{
    int nf = 0;
    char *s = line;
    for (;;) {
        if (nf == max) {
            return nf;
        }
        char *out = s;
        fields[nf++] = out;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0') {
                    break;
                }
                if (*s == '"') {
                    if (s[1] == '"') {
                        *out++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *out++ = *s++;
            }
            while (*s && *s != ',') {
                s++;
            }
        } else {
            while (*s && *s != ',') {
                *out++ = *s++;
            }
        }
        int end = *s == '\0';
        *out = '\0';
        if (end) {
            return nf;
        }
        s++;
    }
}

static int is_missing_text(const char *s)
{
    return s[0] == '\0' || strcasecmp(s, "na") == 0 || strcasecmp(s, "nan") == 0 ||
           strcasecmp(s, "null") == 0 || strcasecmp(s, "none") == 0;
}

/* Exact totals over every row of a reference file and, once the file outgrows the sample, a
 * quantile sketch per numeric feature: what the bins and moments of a long file come from. */
struct ref_totals {
    struct drift_sketch **sk; /* d, NULL until the file outgrows reference.sample */
    double *mean, *m2;        /* d: Welford over the valid values */
    uint64_t *nvalid;         /* d */
    uint64_t *cat, *cat_missing; /* k * NCODES, k */
    double *row_x;            /* d: scratch for a row the sample does not keep */
    int32_t *row_cat;         /* k */
};

static int ref_totals_init(struct ref_totals *t, const struct drift_pipeline *p)
{
    size_t d = (size_t)p->d + 1, k = (size_t)p->k + 1;
    t->mean = calloc(d, sizeof(double));
    t->m2 = calloc(d, sizeof(double));
    t->nvalid = calloc(d, sizeof(uint64_t));
    t->cat = calloc(k * NCODES, sizeof(uint64_t));
    t->cat_missing = calloc(k, sizeof(uint64_t));
    t->row_x = calloc(d, sizeof(double));
    t->row_cat = calloc(k, sizeof(int32_t));
    return t->mean && t->m2 && t->nvalid && t->cat && t->cat_missing && t->row_x && t->row_cat
               ? 0
               : DRIFT_ENOMEM;
}

static void ref_totals_free(struct ref_totals *t, const struct drift_pipeline *p)
{
    for (int j = 0; t->sk != NULL && j < p->d; j++) {
        drift_sketch_destroy(t->sk[j]);
    }
    free(t->sk);
    free(t->mean);
    free(t->m2);
    free(t->nvalid);
    free(t->cat);
    free(t->cat_missing);
    free(t->row_x);
    free(t->row_cat);
}

/* The file has just outgrown the sample: the sketches start from the n rows read so far (all
 * still in the sample, row-major). */
static int ref_totals_sketch(struct ref_totals *t, const struct drift_pipeline *p,
                             const double *x, size_t n, char *err, size_t errlen)
{
    size_t dd = (size_t)(p->d ? p->d : 1);
    t->sk = calloc((size_t)p->d + 1, sizeof(*t->sk));
    if (t->sk == NULL) {
        return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
    }
    for (int j = 0; j < p->d; j++) {
        t->sk[j] = drift_sketch_create(p->sc->reference.sketch_k, err, errlen);
        if (t->sk[j] == NULL) {
            return DRIFT_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            if (drift_sketch_add(t->sk[j], x[i * dd + (size_t)j]) != 0) {
                return drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
            }
        }
    }
    return 0;
}

static int ref_totals_add(struct ref_totals *t, const struct drift_pipeline *p, const double *x,
                          const int32_t *cat)
{
    for (int j = 0; j < p->d; j++) {
        double v = x[j];
        if (t->sk != NULL) {
            int rc = drift_sketch_add(t->sk[j], v);
            if (rc != 0) {
                return rc;
            }
        }
        if (!isnan(v)) {
            double delta = v - t->mean[j];
            t->mean[j] += delta / (double)++t->nvalid[j];
            t->m2[j] += delta * (v - t->mean[j]);
        }
    }
    for (int j = 0; j < p->k; j++) {
        if (cat[j] < 0) {
            t->cat_missing[j]++;
        } else {
            t->cat[(size_t)j * NCODES + (size_t)cat[j]]++;
        }
    }
    return 0;
}

/* Parses one data row of a reference file into x (d numbers, NaN for missing) and cat (k codes,
 * -1 for missing). */
static int ref_parse_row(struct drift_pipeline *p, const char *path, long lineno, char *line,
                         char **fields, int ncols, const int *colmap, const int *colidx,
                         double *x, int32_t *cat, char *err, size_t errlen)
{
    int nf = csv_split(line, fields, ncols + 1);
    if (nf != ncols) {
        return drift_seterr(err, errlen, DRIFT_EPARSE, "%s:%ld: %d%s fields, header has %d", path,
                            lineno, nf, nf > ncols ? " or more" : "", ncols);
    }
    for (int c = 0; c < ncols; c++) {
        int fi = colmap[c];
        if (fi < 0) {
            continue;
        }
        const char *v = fields[c];
        if (p->sc->features[fi].type == DRIFT_FEATURE_NUMERIC) {
            double val = NAN;
            if (!is_missing_text(v)) {
                char *end;
                val = strtod(v, &end);
                if (*end != '\0') {
                    return drift_seterr(err, errlen, DRIFT_EPARSE,
                                        "%s:%ld: column '%s': expected a number, got \"%.40s\"",
                                        path, lineno, p->sc->features[fi].name, v);
                }
                if (!isfinite(val)) {
                    val = NAN;
                }
            }
            x[colidx[fi]] = val;
        } else {
            cat[colidx[fi]] = v[0] == '\0' ? -1
                                           : drift_decoder_category(p->dec, colidx[fi], v,
                                                                    strlen(v));
        }
    }
    return 0;
}

/* A file longer than the sample: bins from the sketches' quantiles, then the file read again to
 * count every row into them; missing counts, moments and category counts from the totals. */
static int ref_full_pass(struct drift_pipeline *p, struct ref_totals *t, FILE *f,
                         const char *path, char **fields, int ncols, const int *colmap,
                         const int *colidx, char *err, size_t errlen)
{
    int B = p->B;
    for (int j = 0; j < p->d; j++) {
        double *e = p->edges + (size_t)j * (size_t)(B - 1);
        int ne = drift_sketch_edges(t->sk[j], B, e);
        if (ne < 0) {
            return drift_seterr(err, errlen, ne, "out of memory");
        }
        p->nedges[j] = ne;
        memset(p->ref_hist + (size_t)j * (size_t)B, 0, (size_t)B * sizeof(uint64_t));
        p->ref_missing[j] = drift_sketch_missing(t->sk[j]);
        p->ref_mean[j] = t->nvalid[j] ? t->mean[j] : NAN;
        p->ref_std[j] = t->nvalid[j] > 1 ? sqrt(t->m2[j] / (double)t->nvalid[j]) : NAN;
        p->ref_rank_error[j] = drift_sketch_count(t->sk[j])
                                   ? (double)drift_sketch_rank_error(t->sk[j]) /
                                         (double)drift_sketch_count(t->sk[j])
                                   : 0;
    }
    memcpy(p->ref_cat, t->cat, (size_t)p->k * NCODES * sizeof(uint64_t));
    memcpy(p->ref_cat_missing, t->cat_missing, (size_t)p->k * sizeof(uint64_t));
    char *line = NULL;
    size_t linecap = 0;
    long lineno = 1;
    int rc = 0;
    rewind(f);
    if (getline(&line, &linecap, f) <= 0) {
        rc = drift_seterr(err, errlen, DRIFT_EIO, "%s: changed while being read", path);
    }
    while (rc == 0 && getline(&line, &linecap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        rc = ref_parse_row(p, path, lineno, line, fields, ncols, colmap, colidx, t->row_x,
                           t->row_cat, err, errlen);
        for (int j = 0; rc == 0 && j < p->d; j++) {
            double v = t->row_x[j];
            if (!isnan(v)) {
                const double *e = p->edges + (size_t)j * (size_t)(B - 1);
                p->ref_hist[(size_t)j * (size_t)B + (size_t)drift_hist_bin(e, p->nedges[j], v)]++;
            }
        }
    }
    free(line);
    return rc;
}

static int load_reference_file(struct drift_pipeline *p, const char *path, char *err,
                               size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return drift_seterr(err, errlen, DRIFT_EIO, "stream %s: reference.path %s: %s",
                            p->sc->name, path, strerror(errno));
    }
    /* what a checkpoint's reference part was made from: this file, as it is now */
    struct stat st;
    if (fstat(fileno(f), &st) == 0) {
        int64_t id[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                         (int64_t)st.st_mtim.tv_nsec};
        p->ref_file_id = fnv64(fnv64(1469598103934665603ull, path, strlen(path)), id,
                               sizeof(id));
    }
    int rc = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    char **fields = malloc(REF_MAX_FIELDS * sizeof(char *));
    int *colmap = NULL; /* csv column → feature index or -1 */
    int ncols = 0;
    size_t cap = 4096, n = 0;
    double *x = NULL;
    int32_t *cat = NULL;
    long lineno = 0;
    struct ref_totals tot = {0};
    if (fields == NULL) {
        rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        goto out;
    }
    /* Header. */
    if ((len = getline(&line, &linecap, f)) <= 0) {
        rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s: empty file, expected a header row", path);
        goto out;
    }
    lineno = 1;
    line[strcspn(line, "\r\n")] = '\0';
    ncols = csv_split(line, fields, REF_MAX_FIELDS - 1);
    colmap = malloc((size_t)ncols * sizeof(int));
    if (colmap == NULL) {
        rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        goto out;
    }
    int found = 0;
    for (int c = 0; c < ncols; c++) {
        colmap[c] = -1;
        for (int i = 0; i < p->sc->nfeatures; i++) {
            if (strcmp(fields[c], p->sc->features[i].name) == 0) {
                colmap[c] = i;
                found++;
            }
        }
    }
    for (int i = 0; i < p->sc->nfeatures; i++) {
        int have = 0;
        for (int c = 0; c < ncols; c++) {
            have |= colmap[c] == i;
        }
        if (!have) {
            rc = drift_seterr(err, errlen, DRIFT_EPARSE,
                              "%s:1: header has no column for feature '%s'", path,
                              p->sc->features[i].name);
            goto out;
        }
    }
    (void)found;
    /* Column index of each numeric/categorical column. */
    int *colidx = zalloc(p->pool, (size_t)p->sc->nfeatures * sizeof(int));
    for (int a = 0; a < p->d; a++) {
        colidx[p->num_feature[a]] = a;
    }
    for (int c = 0; c < p->k; c++) {
        colidx[p->cat_feature[c]] = c;
    }
    /* Pass 1. Rows go row-major into a sample of at most reference.sample rows (all of them
     * while they fit; then a uniform reservoir sample, Algorithm R, with a fixed seed so that a
     * restart builds the same reference). Every row also goes into the exact totals and, per
     * numeric feature, into a quantile sketch, used only when the file outgrows the sample. */
    size_t S = (size_t)p->sc->reference.sample, rows = 0;
    size_t dd = (size_t)(p->d ? p->d : 1), kk = (size_t)(p->k ? p->k : 1);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    cap = cap < S ? cap : S;
    x = malloc(cap * dd * sizeof(double));
    cat = malloc(cap * kk * sizeof(int32_t));
    if (x == NULL || cat == NULL || ref_totals_init(&tot, p) != 0) {
        rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        goto out;
    }
    while ((len = getline(&line, &linecap, f)) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        int append = rows < S;
        size_t slot = rows;
        if (!append) {
            if (rows == S && (rc = ref_totals_sketch(&tot, p, x, S, err, errlen)) != 0) {
                goto out;
            }
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            slot = (size_t)(rng % (uint64_t)(rows + 1));
        }
        if (append && n == cap) {
            cap = cap * 2 < S ? cap * 2 : S;
            double *nx = realloc(x, cap * dd * sizeof(double));
            if (nx == NULL) {
                rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
                goto out;
            }
            x = nx;
            int32_t *nc = realloc(cat, cap * kk * sizeof(int32_t));
            if (nc == NULL) {
                rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
                goto out;
            }
            cat = nc;
        }
        /* Parsed into the slot when it is kept, else into the scratch row. */
        double *rx = slot < S ? x + slot * dd : tot.row_x;
        int32_t *rcat = slot < S ? cat + slot * kk : tot.row_cat;
        rc = ref_parse_row(p, path, lineno, line, fields, ncols, colmap, colidx, rx, rcat, err,
                           errlen);
        if (rc != 0) {
            goto out;
        }
        if ((rc = ref_totals_add(&tot, p, rx, rcat)) != 0) {
            rc = drift_seterr(err, errlen, rc, "%s:%ld: out of memory", path, lineno);
            goto out;
        }
        n += append;
        rows++;
    }
    if (rows < 2) {
        rc = drift_seterr(err, errlen, DRIFT_EPARSE, "%s: needs at least 2 data rows, has %zu",
                          path, rows);
        goto out;
    }
    {
        double *xc = calloc(n * dd, sizeof(double));
        int32_t *cc = calloc(n * kk, sizeof(int32_t));
        if (xc == NULL || cc == NULL) {
            free(xc);
            free(cc);
            rc = drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            for (int j = 0; j < p->d; j++) {
                xc[(size_t)j * n + i] = x[i * dd + (size_t)j];
            }
            for (int j = 0; j < p->k; j++) {
                cc[(size_t)j * n + i] = cat[i * kk + (size_t)j];
            }
        }
        reference_stats(p, xc, n, cc, n, n);
        free(xc);
        free(cc);
    }
    if (rows > n) {
        /* Pass 2, only for a file longer than the sample: the rank tests keep the sample, but
         * the bins, their reference counts, the missing counts, the moments and the category
         * counts describe every row. */
        rc = ref_full_pass(p, &tot, f, path, fields, ncols, colmap, colidx, err, errlen);
        if (rc != 0) {
            goto out;
        }
    }
    p->ref_sample = n;
    reference_finish(p, rows, 1);
out:
    ref_totals_free(&tot, p);
    free(line);
    free(fields);
    free(colmap);
    free(x);
    free(cat);
    fclose(f);
    return rc;
}

/* Adjusts one p-value test's p-values (the double at offset `from` of each numeric feature's
 * report) across the numeric features into the double at offset `to`, per drift.correction;
 * features the test did not run on stay NaN and do not count. */
static void adjust_pvalues(struct drift_pipeline *p, size_t from, size_t to)
{
    const char *c = p->sc->drift.correction;
    int method = c == NULL || strcmp(c, "none") == 0 ? 0
                 : strcmp(c, "bh") == 0              ? DRIFT_ADJUST_BH
                                                     : DRIFT_ADJUST_BONFERRONI;
    for (int j = 0; j < p->d; j++) {
        p->pbuf[j] = *(double *)((char *)&p->rep[p->num_feature[j]] + from);
    }
    if (method == 0 || drift_pvalue_adjust(p->pbuf, (size_t)p->d, method, p->padj) != 0) {
        memcpy(p->padj, p->pbuf, (size_t)p->d * sizeof(double));
    }
    for (int j = 0; j < p->d; j++) {
        *(double *)((char *)&p->rep[p->num_feature[j]] + to) = p->padj[j];
    }
}

/* ---------------------------------------------------------------------------------------------
 * Window close: statistics, policy, trigger
 * -------------------------------------------------------------------------------------------*/
static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static uint64_t fnv64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *c = data;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Event times the decoder admits lie in 1970..9999; anything else (a NaN, a corrupt value)
 * prints as the nearest end rather than overflowing the conversion. */
#define TIME_MAX_S 253402300799.0 /* 9999-12-31T23:59:59Z */

static int plausible_time(double s)
{
    return isfinite(s) && s >= 0 && s <= TIME_MAX_S;
}

static void iso8601(char *buf, size_t len, double epoch_s)
{
    if (!plausible_time(epoch_s)) {
        epoch_s = epoch_s > TIME_MAX_S ? TIME_MAX_S : 0;
    }
    time_t s = (time_t)floor(epoch_s);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)((epoch_s - floor(epoch_s)) * 1000.0));
}

/* The head every trigger payload shares: type, idempotency key, stream, rule, kind, action, and
 * detected_at (at_ms, or the hook's clock when at_ms < 0 and there is one: replays stay
 * deterministic without it). */
static json_t *payload_head(const struct drift_pipeline *p, const char *key, const char *rule,
                            const char *kind, int64_t at_ms)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "driftd.trigger",
                          "idempotency_key", key, "stream", p->sc->name, "trigger", rule,
                          "kind", kind, "action", "retrain");
    if (at_ms < 0 && p->hooks.now_ms != NULL) {
        at_ms = p->hooks.now_ms(p->hooks.ctx);
    }
    if (at_ms >= 0) {
        char t[40];
        iso8601(t, sizeof(t), (double)at_ms / 1000.0);
        json_object_set_new(o, "detected_at", json_string(t));
    }
    return o;
}

static json_t *feature_json(const struct drift_feature_report *r,
                            const struct drift_stream_conf *sc)
{
    json_t *o = json_object();
    json_object_set_new(o, "feature", json_string(r->name));
    json_object_set_new(o, "type", json_string(r->categorical ? "categorical" : "numeric"));
    json_object_set_new(o, "drifted", json_boolean(r->drifted));
    if (sc->drift.psi) {
        json_object_set_new(o, "psi", jnum(r->psi));
        json_object_set_new(o, "psi_threshold", json_real(sc->drift.psi_threshold));
    }
    int adj = sc->drift.correction != NULL && strcmp(sc->drift.correction, "none") != 0;
    if (sc->drift.ks && !r->categorical) {
        json_object_set_new(o, "ks", jnum(r->ks));
        json_object_set_new(o, "ks_pvalue", jnum(r->ks_p));
        if (adj) {
            json_object_set_new(o, "ks_pvalue_adjusted", jnum(r->ks_padj));
        }
        json_object_set_new(o, "ks_alpha", json_real(sc->drift.ks_alpha));
    }
    if (sc->drift.cvm && !r->categorical) {
        json_object_set_new(o, "cvm", jnum(r->cvm));
        json_object_set_new(o, "cvm_pvalue", jnum(r->cvm_p));
        if (adj) {
            json_object_set_new(o, "cvm_pvalue_adjusted", jnum(r->cvm_padj));
        }
        json_object_set_new(o, "cvm_alpha", json_real(sc->drift.cvm_alpha));
    }
    if (sc->drift.anderson && !r->categorical) {
        json_object_set_new(o, "anderson", jnum(r->ad));
        json_object_set_new(o, "anderson_pvalue", jnum(r->ad_p));
        if (adj) {
            json_object_set_new(o, "anderson_pvalue_adjusted", jnum(r->ad_padj));
        }
        json_object_set_new(o, "anderson_alpha", json_real(sc->drift.anderson_alpha));
    }
    if (adj && !r->categorical) {
        json_object_set_new(o, "correction", json_string(sc->drift.correction));
    }
    if (!r->categorical) {
        json_object_set_new(o, "window_mean", jnum(r->mean));
        json_object_set_new(o, "reference_mean", jnum(r->ref_mean));
        json_object_set_new(o, "window_std", jnum(r->std));
        json_object_set_new(o, "reference_std", jnum(r->ref_std));
        if (r->ref_edges_rank_error > 0) {
            json_object_set_new(o, "reference_edges_rank_error",
                                json_real(r->ref_edges_rank_error));
        }
    }
    json_object_set_new(o, "missing_share", jnum(r->missing_share));
    if (!r->counted) {
        json_object_set_new(o, "counted", json_false()); /* outside trigger.features */
    }
    return o;
}

/* A multivariate test's top list: [{feature, <what>}] or, for pairs, [{features: [a, b], ...}]. */
static json_t *mv_top(const struct drift_window_report *w, const struct drift_mv_result *r,
                      const char *what)
{
    json_t *top = json_array();
    for (int i = 0; i < r->ntop; i++) {
        json_t *e = r->top2[i] >= 0
                        ? json_pack("{s:[ss]}", "features", w->num_names[r->top[i]],
                                    w->num_names[r->top2[i]])
                        : json_pack("{s:s}", "feature", w->num_names[r->top[i]]);
        json_object_set_new(e, what, jnum(r->contrib[i]));
        json_array_append_new(top, e);
    }
    return top;
}

/* {"hotelling": {...}, "correlation": {...}, "pca": {...}, "mmd": {...}}: each test run on the
 * window with its statistic, p-value or bounds, verdict, and the features (or pairs) that
 * contribute most. */
static json_t *multivariate_json(const struct drift_window_report *w)
{
    json_t *o = json_object();
    const struct drift_mv_result *r;
    if (w->mv_tests & (1 << DRIFT_MV_HOTELLING)) {
        r = &w->mv[DRIFT_MV_HOTELLING];
        json_object_set_new(o, "hotelling",
                            json_pack("{s:o, s:o, s:[ff], s:o, s:b, s:o}", "t2",
                                      jnum(r->statistic), "pvalue", jnum(r->pvalue), "df",
                                      r->df1, r->df2, "alpha", jnum(r->threshold), "drifted",
                                      r->drifted, "top", mv_top(w, r, "contribution")));
    }
    if (w->mv_tests & (1 << DRIFT_MV_CORRELATION)) {
        r = &w->mv[DRIFT_MV_CORRELATION];
        json_object_set_new(o, "correlation",
                            json_pack("{s:o, s:o, s:b, s:o}", "max_delta", jnum(r->statistic),
                                      "threshold", jnum(r->threshold), "drifted", r->drifted,
                                      "top", mv_top(w, r, "delta")));
    }
    if (w->mv_tests & (1 << DRIFT_MV_PCA)) {
        r = &w->mv[DRIFT_MV_PCA];
        json_object_set_new(o, "pca",
                            json_pack("{s:o, s:o, s:o, s:i, s:b, s:o}", "error",
                                      jnum(r->statistic), "lower", jnum(r->lower), "upper",
                                      jnum(r->threshold), "components", r->components,
                                      "drifted", r->drifted, "top",
                                      mv_top(w, r, "mean_sq_residual")));
    }
    if (w->mv_tests & (1 << DRIFT_MV_MMD)) {
        r = &w->mv[DRIFT_MV_MMD];
        json_object_set_new(o, "mmd",
                            json_pack("{s:o, s:o, s:o, s:o, s:b, s:o}", "mmd2",
                                      jnum(r->statistic), "pvalue", jnum(r->pvalue),
                                      "bandwidth", jnum(r->bandwidth), "alpha",
                                      jnum(r->threshold), "drifted", r->drifted, "top",
                                      mv_top(w, r, "standardized_shift")));
    }
    return o;
}

static json_t *window_json(const struct drift_window_report *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)w->index));
    json_object_set_new(o, "events", json_integer((json_int_t)w->events));
    json_object_set_new(o, "first_event", json_integer((json_int_t)w->first_seq));
    json_object_set_new(o, "last_event", json_integer((json_int_t)w->last_seq));
    json_t *offs = json_array();
    for (int i = 0; i < w->nparts; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "partition", json_integer(w->parts[i]));
        json_object_set_new(r, "first", json_integer(w->first_off[i]));
        json_object_set_new(r, "last", json_integer(w->last_off[i]));
        json_array_append_new(offs, r);
    }
    json_object_set_new(o, "offsets", offs);
    if (isfinite(w->ts_min)) {
        char a[40], b[40];
        iso8601(a, sizeof(a), w->ts_min);
        iso8601(b, sizeof(b), w->ts_max);
        json_object_set_new(o, "event_time_start", json_string(a));
        json_object_set_new(o, "event_time_end", json_string(b));
    }
    return o;
}

/* A data_volume trigger: trigger.volume labelled events arrived since the last trigger. The key
 * is derived from the position of the event that completed the count. */
static void fire_volume(struct drift_pipeline *p, int32_t part, int64_t off, double ts)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->trigger.name ? sc->trigger.name : "retrain";
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    h = fnv64(h, "volume", 7);
    h = fnv64(h, &part, sizeof(part));
    h = fnv64(h, &off, sizeof(off));
    char key[256];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);
    json_t *o = payload_head(p, key, rule, "data_volume", -1);
    json_t *at = json_object();
    json_object_set_new(at, "partition", json_integer(part));
    json_object_set_new(at, "offset", json_integer(off));
    if (isfinite(ts)) {
        char t[40];
        iso8601(t, sizeof(t), ts);
        json_object_set_new(at, "event_time", json_string(t));
    }
    json_object_set_new(o, "at", at);
    json_object_set_new(o, "labelled_events", json_integer((json_int_t)p->labelled_since));
    json_object_set_new(o, "volume_threshold", json_integer(sc->trigger.volume));
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    p->labelled_since = 0;
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    if (p->hooks.trigger) {
        struct drift_trigger t = {.stream = sc->name, .rule = rule, .kind = "data_volume",
                                  .idem_key = key, .payload = payload};
        p->hooks.trigger(p->hooks.ctx, &t);
    }
    free(payload);
}

void drift_pipeline_fire_schedule(struct drift_pipeline *p, int64_t slot_s)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->schedule.name ? sc->schedule.name : "scheduled";
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    h = fnv64(h, &slot_s, sizeof(slot_s));
    char key[256], t[40];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);
    json_t *o = payload_head(p, key, rule, "schedule", -1);
    iso8601(t, sizeof(t), (double)slot_s);
    json_object_set_new(o, "scheduled_for", json_string(t));
    if (sc->schedule.cron != NULL) {
        json_object_set_new(o, "cron", json_string(sc->schedule.cron));
    } else {
        json_object_set_new(o, "every_s", json_integer(sc->schedule.every_s));
    }
    json_object_set_new(o, "labelled_events_since_last_trigger",
                        json_integer((json_int_t)p->labelled_since));
    json_object_set_new(o, "events_seen", json_integer((json_int_t)p->st.events));
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    p->labelled_since = 0;
    if (p->hooks.trigger) {
        struct drift_trigger tr = {.stream = sc->name, .rule = rule, .kind = "schedule",
                                   .idem_key = key, .payload = payload};
        p->hooks.trigger(p->hooks.ctx, &tr);
    }
    free(payload);
}

void drift_pipeline_fire_request(struct drift_pipeline *p, const char *reason,
                                 const char *request_id, int64_t now_ms, char *key_out,
                                 size_t key_len)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = "on_request";
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    if (request_id != NULL && request_id[0] != '\0') {
        h = fnv64(h, request_id, strlen(request_id)); /* the caller's retries are one trigger */
    } else {
        h = fnv64(h, &now_ms, sizeof(now_ms));
        h = fnv64(h, &p->st.triggers, sizeof(p->st.triggers));
    }
    char key[256];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);
    snprintf(key_out, key_len, "%s", key);
    json_t *o = payload_head(p, key, rule, "on_request", now_ms);
    if (reason != NULL) {
        json_object_set_new(o, "reason", json_string(reason));
    }
    if (request_id != NULL) {
        json_object_set_new(o, "request_id", json_string(request_id));
    }
    if (p->model_version[0] != '\0') {
        json_object_set_new(o, "model_version", json_string(p->model_version));
    }
    json_object_set_new(o, "labelled_events_since_last_trigger",
                        json_integer((json_int_t)p->labelled_since));
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    p->labelled_since = 0;
    if (p->hooks.trigger) {
        struct drift_trigger tr = {.stream = sc->name, .rule = rule, .kind = "on_request",
                                   .idem_key = key, .payload = payload};
        p->hooks.trigger(p->hooks.ctx, &tr);
    }
    free(payload);
}

/* One more labelled event (in the event, or joined from the labels topic). */
static void count_labelled(struct drift_pipeline *p, int32_t part, int64_t off, double ts)
{
    p->labelled_since++;
    if (p->sc->trigger.volume > 0 && p->sc->trigger.enabled &&
        p->labelled_since >= (uint64_t)p->sc->trigger.volume) {
        fire_volume(p, part, off, ts);
    }
}

/* Hysteresis: the dataset has stayed clear for trigger.resolve_after windows since the last
 * data-drift trigger, so its alert is resolved. The resolution goes through the same outbox
 * (alert formats close the alert; retraining targets skip it); its key is the trigger's plus
 * ":resolved". */
static void fire_resolution(struct drift_pipeline *p, const struct drift_window_report *w)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->trigger.name ? sc->trigger.name : "retrain";
    char key[300];
    snprintf(key, sizeof(key), "%s:resolved", p->open_key);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("driftd.resolved"));
    json_object_set_new(o, "idempotency_key", json_string(key));
    json_object_set_new(o, "resolves", json_string(p->open_key));
    json_object_set_new(o, "stream", json_string(sc->name));
    json_object_set_new(o, "trigger", json_string(rule));
    json_object_set_new(o, "kind", json_string("data_drift"));
    json_object_set_new(o, "status", json_string("resolved"));
    json_object_set_new(o, "severity", json_string(p->open_severity));
    if (p->hooks.now_ms != NULL) {
        char t[40];
        iso8601(t, sizeof(t), (double)p->hooks.now_ms(p->hooks.ctx) / 1000.0);
        json_object_set_new(o, "detected_at", json_string(t));
    }
    json_object_set_new(o, "clear_windows", json_integer(p->clear_streak));
    json_object_set_new(o, "window", window_json(w));
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    p->open_key[0] = '\0';
    p->clear_streak = 0;
    if (payload == NULL) {
        return;
    }
    p->st.resolutions++;
    if (p->hooks.trigger) {
        struct drift_trigger t = {.stream = sc->name, .rule = rule, .kind = "resolved",
                                  .idem_key = key, .payload = payload, .window = w};
        p->hooks.trigger(p->hooks.ctx, &t);
    }
    free(payload);
}

static void fire_trigger(struct drift_pipeline *p, const struct drift_window_report *w)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->trigger.name ? sc->trigger.name : "retrain";
    /* The key covers what identifies the data, never when it was processed. */
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    for (int i = 0; i < w->nparts; i++) {
        h = fnv64(h, &w->parts[i], sizeof(w->parts[i]));
        h = fnv64(h, &w->first_off[i], sizeof(w->first_off[i]));
        h = fnv64(h, &w->last_off[i], sizeof(w->last_off[i]));
    }
    char key[256];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);

    json_t *o = payload_head(p, key, rule, "data_drift", -1);
    const char *sev = sc->trigger.critical_share > 0 && w->share >= sc->trigger.critical_share
                          ? "critical"
                          : "warning";
    json_object_set_new(o, "severity", json_string(sev));
    snprintf(p->open_key, sizeof(p->open_key), "%s", key);
    snprintf(p->open_severity, sizeof(p->open_severity), "%s", sev);
    p->clear_streak = 0;
    json_object_set_new(o, "window", window_json(w));
    json_t *ref = json_object();
    json_object_set_new(ref, "source",
                        json_string(sc->reference.source == DRIFT_REF_FILE ? "file" : "warmup"));
    json_object_set_new(ref, "events", json_integer((json_int_t)p->ref_events));
    if (p->model_version[0] != '\0') {
        json_object_set_new(o, "model_version", json_string(p->model_version));
    }
    if (p->ref_sample < p->ref_events) {
        json_object_set_new(ref, "rank_test_sample", json_integer((json_int_t)p->ref_sample));
    }
    json_object_set_new(o, "reference", ref);
    json_t *ds = json_object();
    json_object_set_new(ds, "drifted_features", json_integer(w->ndrifted));
    json_object_set_new(ds, "features", json_integer(w->nfeatures));
    json_object_set_new(ds, "share", json_real(w->share));
    json_object_set_new(ds, "share_threshold", json_real(w->share_threshold));
    json_object_set_new(ds, "consecutive_windows", json_integer(w->consecutive));
    if (p->sc->trigger.of_last > 0) { /* then it counts drift windows among the last of_last */
        json_object_set_new(ds, "of_last_windows", json_integer(p->sc->trigger.of_last));
    }
    json_object_set_new(o, "dataset", ds);
    if (w->mv_tests) {
        json_object_set_new(o, "multivariate", multivariate_json(w));
    }
    json_t *drifted = json_array(), *all = json_array();
    for (int i = 0; i < w->nfeatures; i++) {
        if (w->features[i].drifted) {
            json_array_append_new(drifted, feature_json(&w->features[i], sc));
        }
        json_array_append_new(all, feature_json(&w->features[i], sc));
    }
    json_object_set_new(o, "drifted_features", drifted);
    json_object_set_new(o, "features", all);
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    p->labelled_since = 0; /* a retraining starts: the volume count starts over */
    if (p->hooks.trigger) {
        struct drift_trigger t = {
            .stream = sc->name,
            .rule = rule,
            .kind = "data_drift",
            .idem_key = key,
            .payload = payload,
            .window = w,
        };
        p->hooks.trigger(p->hooks.ctx, &t);
    }
    free(payload);
}

/* ---------------------------------------------------------------------------------------------
 * Concept drift: every row with a prediction and a label gives an error value (classification:
 * 1 when the predicted class, score >= threshold, is not the label; regression: the absolute or
 * squared difference), fed to the configured detector. A detection outside the cooldown fires a
 * "performance" trigger through the same hook as data drift; its key is derived from the
 * position of the event that completed the detection.
 * -------------------------------------------------------------------------------------------*/
/* Where a labelled prediction completed: the position and time of the event that did. */
struct perf_at {
    int32_t part;
    int64_t off;
    double ts;
};

static void fire_performance(struct drift_pipeline *p, const struct perf_at *pa, double recent)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->performance.name ? sc->performance.name : "performance";
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    h = fnv64(h, &pa->part, sizeof(pa->part));
    h = fnv64(h, &pa->off, sizeof(pa->off));
    char key[256];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);
    static const char *const errname[2][2] = {{"misclassification", "misclassification"},
                                              {"absolute", "squared"}};
    json_t *o = payload_head(p, key, rule, "performance", -1);
    json_t *det = json_object();
    json_object_set_new(det, "name", json_string(sc->performance.detector));
    json_t *params = json_object();
    for (int i = 0; i < sc->performance.nparams; i++) {
        json_object_set_new(params, sc->performance.params[i].key,
                            json_string(sc->performance.params[i].value));
    }
    json_object_set_new(det, "params", params);
    json_object_set_new(o, "detector", det);
    if (p->model_version[0] != '\0') {
        json_object_set_new(o, "model_version", json_string(p->model_version));
    }
    json_t *at = json_object();
    json_object_set_new(at, "pair", json_integer((json_int_t)(p->pairs - 1)));
    json_object_set_new(at, "partition", json_integer(pa->part));
    json_object_set_new(at, "offset", json_integer(pa->off));
    if (isfinite(pa->ts)) {
        char t[40];
        iso8601(t, sizeof(t), pa->ts);
        json_object_set_new(at, "event_time", json_string(t));
    }
    json_object_set_new(o, "at", at);
    json_t *e = json_object();
    json_object_set_new(e, "kind",
                        json_string(errname[sc->performance.task][sc->performance.error]));
    json_object_set_new(e, "mean_since_last_detection",
                        jnum(p->since_n ? p->since_sum / (double)p->since_n : NAN));
    json_object_set_new(e, "pairs_since_last_detection", json_integer((json_int_t)p->since_n));
    json_object_set_new(e, "mean_recent", jnum(recent));
    json_object_set_new(e, "recent_pairs", json_integer((json_int_t)p->recent_n));
    if (sc->performance.task == 0) {
        json_object_set_new(e, "threshold", json_real(sc->performance.threshold));
    }
    json_object_set_new(o, "error", e);
    if (p->last_pw.index != UINT64_MAX) {
        json_object_set_new(o, "last_metrics_window",
                            drift_perf_window_json(&p->last_pw, sc->performance.task));
    }
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    p->st.performance_triggers++;
    p->labelled_since = 0;
    if (p->hooks.trigger) {
        struct drift_trigger t = {
            .stream = sc->name,
            .rule = rule,
            .kind = "performance",
            .idem_key = key,
            .payload = payload,
            .window = NULL,
            .pair = p->pairs - 1,
            .error_recent = recent,
        };
        p->hooks.trigger(p->hooks.ctx, &t);
    }
    free(payload);
}

/* A metrics window broke a configured bound (performance.min_accuracy, ...): a performance
 * trigger whose evidence is the window, outside the performance cooldown. */
static void fire_metric(struct drift_pipeline *p, const struct drift_perf_window *w,
                        const char *metric, double value, const char *op, double bound)
{
    const struct drift_stream_conf *sc = p->sc;
    const char *rule = sc->performance.name ? sc->performance.name : "performance";
    uint64_t h = 1469598103934665603ull;
    h = fnv64(h, sc->name, strlen(sc->name) + 1);
    h = fnv64(h, rule, strlen(rule) + 1);
    h = fnv64(h, metric, strlen(metric) + 1);
    h = fnv64(h, &w->first_pair, sizeof(w->first_pair));
    char key[256], text[128];
    snprintf(key, sizeof(key), "%s:%s:%016llx", sc->name, rule, (unsigned long long)h);
    snprintf(text, sizeof(text), "%s %.6g %s %.6g", metric, value, op, bound);
    json_t *o = payload_head(p, key, rule, "performance", -1);
    json_object_set_new(o, "rule", json_string(text));
    json_object_set_new(o, "metric", json_pack("{s:s, s:f, s:s, s:f}", "name", metric, "value",
                                               value, "op", op, "bound", bound));
    json_object_set_new(o, "metrics_window", drift_perf_window_json(w, sc->performance.task));
    if (p->model_version[0] != '\0') {
        json_object_set_new(o, "model_version", json_string(p->model_version));
    }
    char *payload = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (payload == NULL) {
        return;
    }
    p->st.triggers++;
    p->st.performance_triggers++;
    p->labelled_since = 0;
    p->perf_quiet_until = p->pairs + (uint64_t)sc->performance.cooldown_pairs;
    if (p->hooks.trigger) {
        struct drift_trigger t = {.stream = sc->name, .rule = rule, .kind = "performance",
                                  .idem_key = key, .payload = payload, .pair = p->pairs - 1,
                                  .error_recent = value};
        p->hooks.trigger(p->hooks.ctx, &t);
    }
    free(payload);
}

/* Closes the metrics window: the report goes to the hook and stays as evidence. */
static void perf_window_close(struct drift_pipeline *p)
{
    struct drift_preq_metrics m;
    drift_preq_metrics(p->preq, &m);
    struct drift_perf_window *w = &p->last_pw;
    *w = (struct drift_perf_window){
        .stream = p->sc->name,
        .index = p->perf_windows++,
        .first_pair = p->pairs - m.n,
        .pairs = m.n,
        .invalid = m.invalid,
        .accuracy = m.accuracy,
        .precision = m.precision,
        .recall = m.recall,
        .f1 = m.f1,
        .log_loss = m.log_loss,
        .auc = m.auc,
        .mae = m.mae,
        .rmse = m.rmse,
        .delay_median_s = m.delay_median,
        .delay_p95_s = m.delay_p95,
    };
    if (p->hooks.performance_window) {
        p->hooks.performance_window(p->hooks.ctx, w);
    }
    drift_preq_reset(p->preq);
    const struct drift_stream_conf *sc = p->sc;
    if (!sc->trigger.enabled || p->pairs <= p->perf_quiet_until) {
        return;
    }
    /* The first bound broken, in this order; a window fires at most one trigger. */
    const struct {
        const char *name;
        double value, bound;
        int below;
    } b[] = {
        {"accuracy", w->accuracy, sc->performance.min_accuracy, 1},
        {"auc", w->auc, sc->performance.min_auc, 1},
        {"log_loss", w->log_loss, sc->performance.max_log_loss, 0},
        {"mae", w->mae, sc->performance.max_mae, 0},
        {"rmse", w->rmse, sc->performance.max_rmse, 0},
    };
    for (int i = 0; i < 5; i++) {
        if (!isnan(b[i].bound) && !isnan(b[i].value) &&
            (b[i].below ? b[i].value < b[i].bound : b[i].value > b[i].bound)) {
            fire_metric(p, w, b[i].name, b[i].value, b[i].below ? "<" : ">", b[i].bound);
            break;
        }
    }
}

/* The metrics of a closed window as JSON (NAN as null); the task decides which are shown. */
json_t *drift_perf_window_json(const struct drift_perf_window *w, int task)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)w->index));
    json_object_set_new(o, "first_pair", json_integer((json_int_t)w->first_pair));
    json_object_set_new(o, "pairs", json_integer((json_int_t)w->pairs));
    if (task == 0) {
        json_object_set_new(o, "accuracy", jnum(w->accuracy));
        json_object_set_new(o, "precision", jnum(w->precision));
        json_object_set_new(o, "recall", jnum(w->recall));
        json_object_set_new(o, "f1", jnum(w->f1));
        json_object_set_new(o, "log_loss", jnum(w->log_loss));
        json_object_set_new(o, "auc", jnum(w->auc));
    } else {
        json_object_set_new(o, "mae", jnum(w->mae));
        json_object_set_new(o, "rmse", jnum(w->rmse));
    }
    json_object_set_new(o, "label_delay_median_s", jnum(w->delay_median_s));
    json_object_set_new(o, "label_delay_p95_s", jnum(w->delay_p95_s));
    return o;
}

/* One labelled prediction: its error, the metrics window, the detector, perhaps a trigger. */
static void perf_pair(struct drift_pipeline *p, double pr, double y, double delay_s,
                      const struct perf_at *pa)
{
    const struct drift_stream_conf *sc = p->sc;
    double e;
    if (sc->performance.task == 0) {
        e = (pr >= sc->performance.threshold) != (y >= 0.5);
    } else {
        double dlt = pr - y;
        e = sc->performance.error == 0 ? fabs(dlt) : dlt * dlt;
    }
    p->pairs++;
    if (drift_preq_add(p->preq, pr, y, delay_s, NULL) == 0 &&
        ++p->preq_n == (uint64_t)sc->performance.window) {
        perf_window_close(p);
        p->preq_n = 0;
    }
    p->since_sum += e;
    p->since_n++;
    if (p->recent_n < RECENT) {
        p->recent[p->recent_n++] = e;
    } else {
        p->recent[p->recent_head] = e;
        p->recent_head = (p->recent_head + 1) % RECENT;
    }
    int bits = p->cops->update(p->cdet, e);
    if (bits & DRIFT_DETECT_WARNING) {
        p->st.performance_warnings++;
    }
    if (bits & DRIFT_DETECT_DRIFT) {
        p->st.performance_detections++;
        if (p->pairs > p->perf_quiet_until) {
            double s = 0;
            for (size_t i = 0; i < p->recent_n; i++) {
                s += p->recent[i];
            }
            fire_performance(p, pa, s / (double)p->recent_n);
            p->perf_quiet_until = p->pairs + (uint64_t)sc->performance.cooldown_pairs;
            p->learner_signal = 1; /* the learner's drift policy acts before this row */
            p->signal_row = p->cur_row;
        }
        p->since_sum = 0;
        p->since_n = 0;
    }
}

/* The join's clock in ms: the daemon's wall clock, or (replay) the latest event time seen. */
static int64_t join_now_ms(struct drift_pipeline *p, double ts)
{
    if (p->hooks.now_ms != NULL) {
        return (int64_t)p->hooks.now_ms(p->hooks.ctx);
    }
    if (plausible_time(ts) && (int64_t)(ts * 1000.0) > p->join_clock_ms) {
        p->join_clock_ms = (int64_t)(ts * 1000.0);
    }
    return p->join_clock_ms;
}

static void performance_step(struct drift_pipeline *p, size_t r0, size_t r1)
{
    const struct drift_batch *b = &p->b;
    for (size_t r = r0; r < r1; r++) {
        double y = b->label[r], pr = b->pred[r];
        if (!isfinite(pr)) {
            if (isfinite(y)) {
                count_labelled(p, b->part[r], b->off[r], b->ts[r]);
            }
            continue;
        }
        if (isfinite(y)) { /* labelled in the event itself */
            struct perf_at pa = {b->part[r], b->off[r], b->ts[r]};
            count_labelled(p, b->part[r], b->off[r], b->ts[r]);
            p->cur_row = r;
            perf_pair(p, pr, y, NAN, &pa);
        } else if (p->join != NULL && b->idlen[r] > 0) {
            /* Waits for its label; a label time minus this time is the label delay. */
            drift_join_put(p->join, b->id + r * DRIFT_ID_MAX, b->idlen[r], pr,
                           join_now_ms(p, b->ts[r]));
        }
    }
}

/* Rows [r0, r1) of the batch through the performance detector and the volume count. It runs
 * pane by pane, just before the rows enter the windows, so that every policy sees the events
 * in stream order whatever the batches were (a window closing mid-batch resets the volume count
 * at its own row). */
static void labelled_rows(struct drift_pipeline *p, size_t r0, size_t r1)
{
    const struct drift_batch *b = &p->b;
    if (p->cdet != NULL) {
        performance_step(p, r0, r1);
    } else if (p->sc->trigger.volume > 0) {
        for (size_t i = r0; i < r1; i++) {
            if (isfinite(b->label[i])) {
                count_labelled(p, b->part[i], b->off[i], b->ts[i]);
            }
        }
    }
}

/* A label event of the stream's labels topic: {id_field: ..., field: 0/1 or value,
 * time_field: ...}. */
struct label_msg {
    const struct drift_stream_conf *sc;
    char id[DRIFT_ID_MAX + 1];
    size_t idlen;
    double label, ts;
    int bad;
    const char *why;
};

static void label_member(void *arg, const char *key, size_t klen, enum drift_json_kind kind,
                         const char *val, size_t vlen)
{
    struct label_msg *m = arg;
    const struct drift_stream_conf *sc = m->sc;
    if (strlen(sc->labels.id_field) == klen && memcmp(key, sc->labels.id_field, klen) == 0) {
        if (kind != DRIFT_JSON_STRING && kind != DRIFT_JSON_NUMBER) {
            m->bad = 1;
            m->why = "the id must be a string or a number";
        } else if (vlen > DRIFT_ID_MAX || vlen == 0) {
            m->bad = 1;
            m->why = vlen ? "the id is longer than 64 bytes" : "the id is empty";
        } else {
            memcpy(m->id, val, vlen);
            m->idlen = vlen;
        }
    } else if (strlen(sc->labels.field) == klen && memcmp(key, sc->labels.field, klen) == 0) {
        double v = NAN;
        if (kind == DRIFT_JSON_BOOL) {
            v = val[0] == 't';
        } else if (kind == DRIFT_JSON_NUMBER) {
            drift_parse_number(val, vlen, &v);
        }
        if (!isfinite(v) || (sc->performance.task == 0 && v != 0 && v != 1)) {
            m->bad = 1;
            m->why = sc->performance.task == 0 ? "the label must be 0, 1, true or false"
                                               : "the label must be a finite number";
        } else {
            m->label = v;
        }
    } else if (sc->labels.time_field != NULL && strlen(sc->labels.time_field) == klen &&
               memcmp(key, sc->labels.time_field, klen) == 0 && kind == DRIFT_JSON_NUMBER) {
        double t = NAN;
        drift_parse_number(val, vlen, &t);
        t = t > 1e11 ? t / 1000.0 : t;
        m->ts = plausible_time(t) ? t : NAN; /* else as if absent: the arrival time counts */
    }
}

int drift_pipeline_label(struct drift_pipeline *p, const char *buf, size_t len, int32_t part,
                         int64_t off, const char **why)
{
    if (p->join == NULL) {
        *why = "the stream has no labels topic";
        return DRIFT_EINVAL;
    }
    /* Predictions decoded but not pushed yet must be waiting before their labels look. */
    if (p->b.n > 0) {
        drift_pipeline_push(p);
    }
    struct label_msg m = {.sc = p->sc, .label = NAN, .ts = NAN};
    size_t errpos;
    const char *what;
    p->st.labels_in++;
    if (drift_json_each(buf, len, p->label_scratch, LABEL_SCRATCH, label_member, &m, &errpos,
                        &what) != 0) {
        p->st.labels_bad++;
        *why = what;
        return DRIFT_EPARSE;
    }
    if (m.bad || m.idlen == 0 || isnan(m.label)) {
        p->st.labels_bad++;
        *why = m.bad ? m.why : m.idlen == 0 ? "no id field" : "no label field";
        return DRIFT_EPARSE;
    }
    double pr;
    int64_t t_pred;
    int64_t now = join_now_ms(p, m.ts);
    drift_join_expire(p->join, now);
    if (drift_join_take(p->join, m.id, m.idlen, &pr, &t_pred) != 0) {
        return 0; /* counted by the join: unmatched */
    }
    double t_label = isfinite(m.ts) ? m.ts * 1000.0 : (double)now;
    p->st.label_delay_ms_sum += t_label - (double)t_pred;
    struct perf_at pa = {part, off, m.ts};
    count_labelled(p, part, off, m.ts);
    p->cur_row = 0; /* a label event: the signal acts at the learner's next row */
    perf_pair(p, pr, m.label, (t_label - (double)t_pred) / 1000.0, &pa);
    return 0;
}

int drift_pipeline_rebaseline(struct drift_pipeline *p, const char *model_version)
{
    const struct drift_stream_conf *sc = p->sc;
    if (p->warm_x == NULL) { /* a file reference: warm-up storage on first re-baseline */
        p->warm_cap = (size_t)(sc->reference.size > 0 ? sc->reference.size : 5000);
        p->warm_x = zalloc(p->pool, p->warm_cap * (size_t)(p->d ? p->d : 1) * sizeof(double));
        p->warm_cat = zalloc(p->pool, p->warm_cap * (size_t)(p->k ? p->k : 1) * sizeof(int32_t));
    }
    p->ref_ready = 0;
    p->warm_n = 0;
    p->ref_gen++;
    p->win_events = 0; /* the panes start over after the new reference */
    for (size_t q = 0; q < p->npanes; q++) {
        drift_pl_pane_reset(&p->panes[q], p->d, p->k, p->B);
    }
    p->consecutive = 0;
    p->history = 0;
    p->cooldown = sc->trigger.cooldown_windows;
    p->labelled_since = 0;
    if (p->cdet != NULL) {
        /* A fresh detector, and fresh error and metrics windows: the new model's errors. */
        struct drift_param pp[64];
        int np = sc->performance.nparams < 64 ? sc->performance.nparams : 64;
        for (int i = 0; i < np; i++) {
            pp[i] = (struct drift_param){sc->performance.params[i].key,
                                         sc->performance.params[i].value};
        }
        char derr[256];
        struct drift_detector *nd = p->cops->create(pp, np, derr, sizeof(derr));
        if (nd == NULL) {
            return DRIFT_ENOMEM;
        }
        p->cops->destroy(p->cdet);
        p->cdet = nd;
        p->since_sum = 0;
        p->since_n = 0;
        p->recent_n = 0;
        p->recent_head = 0;
        drift_preq_reset(p->preq);
        p->preq_n = 0;
        p->perf_quiet_until = p->pairs + (uint64_t)sc->performance.cooldown_pairs;
    }
    snprintf(p->model_version, sizeof(p->model_version), "%s",
             model_version != NULL ? model_version : "");
    p->st.rebaselines++;
    return 0;
}

void drift_pipeline_expire(struct drift_pipeline *p)
{
    if (p->join != NULL) {
        drift_join_expire(p->join, join_now_ms(p, NAN));
    }
}

void drift_pipeline_join_stats(const struct drift_pipeline *p, struct drift_join_stats *out)
{
    if (p->join != NULL) {
        drift_join_stats(p->join, out);
    } else {
        memset(out, 0, sizeof(*out));
    }
}

/* 1 when a feature's verdict counts toward the drifted share: trigger.features lists it, or
 * lists nothing. */
static int counts_toward_share(const struct drift_stream_conf *sc, const char *name)
{
    for (int i = 0; i < sc->trigger.nfeatures; i++) {
        if (strcmp(sc->trigger.features[i], name) == 0) {
            return 1;
        }
    }
    return sc->trigger.nfeatures == 0;
}

/* The multivariate tests of a closed window against the reference, from the window's merged
 * moments (rows with every numeric feature present); a test that cannot run (too few rows, a
 * singular covariance) reports nothing and does not vote. Any test that fires gives the window
 * dataset drift, whatever the share of drifted features. */
static void multivariate(struct drift_pipeline *p, struct drift_window_report *w)
{
    const struct drift_stream_conf *sc = p->sc;
    w->num_names = (const char *const *)p->num_names;
    if (!sc->multivariate.enabled || p->d < 2) {
        return;
    }
    if (sc->multivariate.tests & (1 << DRIFT_MV_HOTELLING) &&
        drift_hotelling(&p->ref_mom, &p->sum_mom, sc->multivariate.shrinkage,
                        sc->multivariate.alpha, p->mv_work, &w->mv[DRIFT_MV_HOTELLING]) == 0) {
        w->mv_tests |= 1 << DRIFT_MV_HOTELLING;
        w->mv_drift |= w->mv[DRIFT_MV_HOTELLING].drifted;
    }
    if (sc->multivariate.tests & (1 << DRIFT_MV_CORRELATION) &&
        drift_corr_drift(&p->ref_mom, &p->sum_mom, sc->multivariate.correlation_threshold,
                         &w->mv[DRIFT_MV_CORRELATION]) == 0) {
        w->mv_tests |= 1 << DRIFT_MV_CORRELATION;
        w->mv_drift |= w->mv[DRIFT_MV_CORRELATION].drifted;
    }
    if (p->pca != NULL) {
        size_t used = 0;
        double e = drift_pca_error(p->pca, p->ring, p->W, p->W, p->pca_work, p->pca_sq, &used);
        if (!isnan(e)) {
            drift_pca_verdict(p->pca, e, p->pca_ref, p->pca_nref, sc->multivariate.pca_std,
                              p->pca_sq, &w->mv[DRIFT_MV_PCA]);
            w->mv_tests |= 1 << DRIFT_MV_PCA;
            w->mv_drift |= w->mv[DRIFT_MV_PCA].drifted;
        }
    }
    if (p->mmd_n > 0) {
        /* the window's rows at an even stride, as many as the reference sample at most */
        size_t m = (size_t)sc->multivariate.mmd_sample, wn = p->W < m ? p->W : m;
        for (size_t i = 0; i < wn; i++) {
            size_t row = i * p->W / wn;
            for (int j = 0; j < p->d; j++) {
                p->mmd_win[i + (size_t)j * wn] = p->ring[row + (size_t)j * p->W];
            }
        }
        struct drift_mmd_params mp = {.permutations = sc->multivariate.mmd_permutations,
                                      .alpha = sc->multivariate.alpha};
        if (drift_mmd(p->mmd_ref, p->mmd_n, p->mmd_n, p->mmd_win, wn, wn, p->d, &mp,
                      p->mmd_work, &w->mv[DRIFT_MV_MMD]) == 0) {
            w->mv_tests |= 1 << DRIFT_MV_MMD;
            w->mv_drift |= w->mv[DRIFT_MV_MMD].drifted;
        }
    }
}

static void window_close(struct drift_pipeline *p)
{
    const struct drift_stream_conf *sc = p->sc;
    int d = p->d, k = p->k, B = p->B;
    /* Merge the panes. */
    memset(p->sum_hist, 0, (size_t)d * (size_t)B * sizeof(uint64_t));
    memset(p->sum_missing, 0, (size_t)d * sizeof(uint64_t));
    memset(p->sum_cat, 0, (size_t)k * NCODES * sizeof(uint64_t));
    memset(p->sum_cat_missing, 0, (size_t)k * sizeof(uint64_t));
    drift_moments_reset(&p->sum_mom);
    struct drift_window_report w = {0};
    w.stream = sc->name;
    w.index = p->win_index++;
    w.first_seq = UINT64_MAX;
    w.ts_min = NAN;
    w.ts_max = NAN;
    int nparts = 0;
    for (size_t q = 0; q < p->npanes; q++) {
        struct pane *pn = &p->panes[q];
        for (size_t i = 0; i < (size_t)d * (size_t)B; i++) {
            p->sum_hist[i] += pn->hist[i];
        }
        for (int j = 0; j < d; j++) {
            p->sum_missing[j] += pn->missing[j];
        }
        for (size_t i = 0; i < (size_t)k * NCODES; i++) {
            p->sum_cat[i] += pn->cat[i];
        }
        for (int j = 0; j < k; j++) {
            p->sum_cat_missing[j] += pn->cat_missing[j];
        }
        drift_moments_merge(&p->sum_mom, &pn->mom);
        w.events += pn->events;
        if (pn->first_seq < w.first_seq) {
            w.first_seq = pn->first_seq;
        }
        if (pn->last_seq > w.last_seq) {
            w.last_seq = pn->last_seq;
        }
        if (!isnan(pn->ts_min) && (isnan(w.ts_min) || pn->ts_min < w.ts_min)) {
            w.ts_min = pn->ts_min;
        }
        if (!isnan(pn->ts_max) && (isnan(w.ts_max) || pn->ts_max > w.ts_max)) {
            w.ts_max = pn->ts_max;
        }
    }
    for (int part = 0; part < DRIFT_MAX_PARTITIONS; part++) {
        int64_t lo = -1, hi = -1;
        for (size_t q = 0; q < p->npanes; q++) {
            struct pane *pn = &p->panes[q];
            if (pn->first_off[part] >= 0) {
                if (lo < 0 || pn->first_off[part] < lo) {
                    lo = pn->first_off[part];
                }
                if (pn->last_off[part] > hi) {
                    hi = pn->last_off[part];
                }
            }
        }
        if (lo >= 0) {
            /* Slot 0 holds file input (partition -1) and partition 0; tell them apart by the
             * stream's source, recorded in rep_parts as -1 for files. */
            p->rep_parts[nparts] = part == DRIFT_MAX_PARTITIONS - 1 ? -1 : part;
            p->rep_first[nparts] = lo;
            p->rep_last[nparts] = hi;
            nparts++;
        }
    }
    w.nparts = nparts;
    w.parts = p->rep_parts;
    w.first_off = p->rep_first;
    w.last_off = p->rep_last;

    /* The exact KS p-value costs O(n·m); a window close keeps it to 10⁶ cells and uses scipy's
     * asymptotic (kstwo) beyond that. */
    struct drift_stat_params sp = {.threshold = 0, .epsilon = 1e-4, .ks_exact_cells = 1e6};
    int ndrift = 0, nf = 0;
    int all_rule = sc->drift.rule != NULL && strcmp(sc->drift.rule, "all") == 0;
    for (int j = 0; j < d; j++) {
        struct drift_feature_report *r = &p->rep[p->num_feature[j]];
        memset(r, 0, sizeof(*r));
        r->name = p->num_names[j];
        r->counted = counts_toward_share(sc, r->name);
        r->psi = r->ks = r->ks_p = r->cvm = r->cvm_p = r->ad = r->ad_p = NAN;
        r->ks_padj = r->cvm_padj = r->ad_padj = NAN;
        r->ref_mean = p->ref_mean[j];
        r->missing_share = w.events ? (double)p->sum_missing[j] / (double)w.events : NAN;
        /* Window mean from the valid values in the ring. */
        size_t m = 0;
        const double *col = p->ring + (size_t)j * p->W;
        size_t have = w.events < p->W ? (size_t)w.events : p->W;
        double sum = 0;
        for (size_t i = 0; i < have; i++) {
            if (!isnan(col[i])) {
                p->sorted[m++] = col[i];
                sum += col[i];
            }
        }
        r->mean = m ? sum / (double)m : NAN;
        double var = drift_moments_cov(&p->sum_mom, j, j);
        r->std = var >= 0 ? sqrt(var) : NAN;
        r->ref_std = p->ref_std[j];
        r->ref_edges_rank_error = p->ref_rank_error[j];
        struct drift_colsum ref = {
            .nbins = p->nedges[j] + 1,
            .edges = p->edges + (size_t)j * (size_t)(B - 1),
            .counts = p->ref_hist + (size_t)j * (size_t)B,
            .missing = p->ref_missing[j],
            .sorted = p->ref_sorted[j],
            .nsorted = p->ref_nvalid[j],
        };
        struct drift_colsum cur = {
            .nbins = p->nedges[j] + 1,
            .edges = ref.edges,
            .counts = p->sum_hist + (size_t)j * (size_t)B,
            .missing = p->sum_missing[j],
            .sorted = p->sorted,
            .nsorted = m,
        };
        struct drift_stat_result res;
        if (p->psi != NULL) {
            sp.threshold = sc->drift.psi_threshold;
            if (p->psi->compare(&ref, &cur, &sp, &res) == 0) {
                r->psi = res.statistic;
                r->psi_drift = res.drifted;
            }
        }
        /* The p-value tests; their verdicts wait for the correction across features. */
        if ((p->ks != NULL || p->cvm != NULL || p->ad != NULL) && m > 0) {
            drift_sort_doubles(p->sorted, m, p->keys0, p->keys1);
        }
        if (p->ks != NULL && m > 0 && p->ks->compare(&ref, &cur, &sp, &res) == 0) {
            r->ks = res.statistic;
            r->ks_p = res.pvalue;
        }
        if (p->cvm != NULL && m > 0 && p->cvm->compare(&ref, &cur, &sp, &res) == 0) {
            r->cvm = res.statistic;
            r->cvm_p = res.pvalue;
        }
        if (p->ad != NULL && m > 0 && p->ad->compare(&ref, &cur, &sp, &res) == 0) {
            r->ad = res.statistic;
            r->ad_p = res.pvalue;
        }
    }
    adjust_pvalues(p, offsetof(struct drift_feature_report, ks_p),
                   offsetof(struct drift_feature_report, ks_padj));
    adjust_pvalues(p, offsetof(struct drift_feature_report, cvm_p),
                   offsetof(struct drift_feature_report, cvm_padj));
    adjust_pvalues(p, offsetof(struct drift_feature_report, ad_p),
                   offsetof(struct drift_feature_report, ad_padj));
    for (int j = 0; j < d; j++) {
        struct drift_feature_report *r = &p->rep[p->num_feature[j]];
        int votes = 0, tests = 0;
        /* With large windows every trivial shift is significant: p-value tests also need the
         * CDF gap (KS D) to reach min_effect. */
        int big = sc->drift.min_effect <= 0 || (!isnan(r->ks) && r->ks >= sc->drift.min_effect);
        /* every enabled test reports its verdict; trigger.statistics picks those that vote */
        int vote = sc->trigger.statistics ? sc->trigger.statistics : ~0;
        if (!isnan(r->psi) && (vote & DRIFT_STAT_PSI)) {
            votes += r->psi_drift;
            tests++;
        }
        if (!isnan(r->ks_padj)) {
            r->ks_drift = big && r->ks_padj < sc->drift.ks_alpha;
            if (vote & DRIFT_STAT_KS) {
                votes += r->ks_drift;
                tests++;
            }
        }
        if (!isnan(r->cvm_padj)) {
            r->cvm_drift = big && r->cvm_padj < sc->drift.cvm_alpha;
            if (vote & DRIFT_STAT_CVM) {
                votes += r->cvm_drift;
                tests++;
            }
        }
        if (!isnan(r->ad_padj)) {
            r->ad_drift = big && r->ad_padj < sc->drift.anderson_alpha;
            if (vote & DRIFT_STAT_ANDERSON) {
                votes += r->ad_drift;
                tests++;
            }
        }
        r->drifted = tests > 0 && (all_rule ? votes == tests : votes > 0);
        ndrift += r->counted && r->drifted;
        nf += r->counted;
    }
    for (int j = 0; j < k; j++) {
        struct drift_feature_report *r = &p->rep[p->cat_feature[j]];
        memset(r, 0, sizeof(*r));
        r->name = p->cat_names[j];
        r->counted = counts_toward_share(sc, r->name);
        r->categorical = 1;
        r->psi = r->ks = r->ks_p = r->mean = r->ref_mean = r->std = r->ref_std = NAN;
        r->cvm = r->cvm_p = r->ad = r->ad_p = r->ks_padj = r->cvm_padj = r->ad_padj = NAN;
        r->missing_share = w.events ? (double)p->sum_cat_missing[j] / (double)w.events : NAN;
        int nc = drift_decoder_ncategories(p->dec, j);
        const uint64_t *cc = p->sum_cat + (size_t)j * NCODES;
        const uint64_t *rc = p->ref_cat + (size_t)j * NCODES;
        for (int c = 0; c < nc; c++) {
            p->catbuf[c] = cc[c];
            p->refcatbuf[c] = rc[c];
        }
        p->catbuf[nc] = cc[DRIFT_MAX_CATEGORIES];
        p->refcatbuf[nc] = rc[DRIFT_MAX_CATEGORIES];
        struct drift_colsum ref = {.nbins = nc + 1, .counts = p->refcatbuf,
                                   .missing = p->ref_cat_missing[j]};
        struct drift_colsum cur = {.nbins = nc + 1, .counts = p->catbuf,
                                   .missing = p->sum_cat_missing[j]};
        struct drift_stat_result res;
        if (p->psi != NULL) {
            sp.threshold = sc->drift.psi_threshold;
            if (p->psi->compare(&ref, &cur, &sp, &res) == 0) {
                r->psi = res.statistic;
                r->psi_drift = res.drifted;
                r->drifted = res.drifted && (!sc->trigger.statistics ||
                                             (sc->trigger.statistics & DRIFT_STAT_PSI));
            }
        }
        ndrift += r->counted && r->drifted;
        nf += r->counted;
    }
    w.nfeatures = nf;
    w.ndrifted = ndrift;
    w.share = nf ? (double)ndrift / (double)nf : 0;
    w.share_threshold = sc->drift.share;
    w.dataset_drift = nf > 0 && w.share >= sc->drift.share;
    multivariate(p, &w);
    w.dataset_drift |= w.mv_drift;
    w.features = p->rep;

    p->st.windows++;
    p->history = (p->history << 1) | (uint64_t)w.dataset_drift;
    if (w.dataset_drift) {
        p->st.drift_windows++;
        p->consecutive++;
    } else {
        p->consecutive = 0;
    }
    int n_of = sc->trigger.of_last;
    uint64_t mask = n_of >= 64 ? ~0ull : (1ull << n_of) - 1;
    /* k of the last n windows (of_last), or k in a row: what the rule counts. */
    int counted = n_of > 0 ? __builtin_popcountll(p->history & mask) : p->consecutive;
    w.consecutive = counted;
    if (p->hooks.window) {
        p->hooks.window(p->hooks.ctx, &w);
    }
    if (p->open_key[0] != '\0' && sc->trigger.resolve_after > 0) {
        p->clear_streak = w.dataset_drift ? 0 : p->clear_streak + 1;
        if (p->clear_streak >= sc->trigger.resolve_after) {
            fire_resolution(p, &w);
        }
    }
    if (p->cooldown > 0) {
        p->cooldown--;
    } else if (sc->trigger.enabled && w.dataset_drift &&
               counted >= (sc->trigger.consecutive > 0 ? sc->trigger.consecutive : 1) &&
               (sc->trigger.min_severity == 0 || w.share >= sc->trigger.critical_share)) {
        fire_trigger(p, &w);
        p->cooldown = sc->trigger.cooldown_windows;
        p->consecutive = 0;
        p->history = 0; /* the windows that fired are spent */
    }
}

/* ---------------------------------------------------------------------------------------------
 * Learner
 * -------------------------------------------------------------------------------------------*/
/* Publishes the learner's model as the next version: to the hook (Kafka, the registry), with
 * why: "periodic" (every publish_every updates), "reset" or "swap" (the drift policy). */
static void publish_model(struct drift_pipeline *p, const char *reason)
{
    uint64_t updates = p->lops->updates(p->learner);
    p->last_published = updates;
    p->st.model_updates++;
    p->lops->weights(p->learner, p->lw, &p->lw[p->ld]);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("driftd.model_update"));
    json_object_set_new(o, "stream", json_string(p->sc->name));
    json_object_set_new(o, "model", json_string(p->lops->name));
    static const char *const opt_names[] = {"sgd", "adagrad", "ftrl", "rls"};
    json_object_set_new(o, "optimizer", json_string(opt_names[p->sc->learner.optimizer & 3]));
    json_object_set_new(o, "version", json_integer((json_int_t)p->st.model_updates));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "updates", json_integer((json_int_t)updates));
    json_t *names = json_array(), *wt = json_array();
    for (int j = 0; j < p->ld; j++) {
        json_array_append_new(names, json_string(p->lnames[j]));
        json_array_append_new(wt, jnum(p->lw[j]));
    }
    json_object_set_new(o, "features", names);
    json_object_set_new(o, "weights", wt);
    json_object_set_new(o, "bias", jnum(p->lw[p->ld]));
    /* what the learner divided by; the weights above already have it folded back in */
    json_t *sd = json_object();
    json_object_set_new(sd, "mode", json_string(p->sc->learner.standardize ? "online"
                                                                           : "reference"));
    if (!p->sc->learner.standardize) {
        json_t *c = json_array(), *sc2 = json_array();
        for (int j = 0; j < p->ld; j++) {
            json_array_append_new(c, jnum(p->lcenter[j]));
            json_array_append_new(sc2, jnum(p->lscale[j]));
        }
        json_object_set_new(sd, "center", c);
        json_object_set_new(sd, "scale", sc2);
    }
    json_object_set_new(o, "standardization", sd);
    json_t *offs = json_object();
    for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
        if (p->ltrained[i] >= 0) {
            char key[16];
            snprintf(key, sizeof(key), "%d", i);
            json_object_set_new(offs, key, json_integer((json_int_t)p->ltrained[i]));
        }
    }
    json_object_set_new(o, "trained_through_offsets", offs);
    if (!isnan(p->lts)) {
        char t[40];
        iso8601(t, sizeof(t), p->lts);
        json_object_set_new(o, "trained_through_time", json_string(t));
    }
    if (p->hooks.now_ms != NULL) { /* the daemon's clock; replays stay deterministic */
        char at[40];
        iso8601(at, sizeof(at), (double)p->hooks.now_ms(p->hooks.ctx) / 1000.0);
        json_object_set_new(o, "published_at", json_string(at));
    }
    json_t *met = json_object();
    json_object_set_new(met, p->lops == drift_learner_find("logistic") ? "prequential_log_loss"
                                                                       : "prequential_mse",
                        jnum(p->loss_n ? p->loss_sum / (double)p->loss_n : NAN));
    json_object_set_new(met, "examples", json_integer((json_int_t)p->loss_n));
    struct drift_preq_metrics pm;
    if (p->lpreq != NULL && drift_preq_metrics(p->lpreq, &pm) == 0 && pm.n > 0) {
        static const char *const cls[] = {"accuracy", "precision", "recall", "f1", "auc",
                                          "log_loss"};
        double cv[] = {pm.accuracy, pm.precision, pm.recall, pm.f1, pm.auc, pm.log_loss};
        int classification = p->lops == drift_learner_find("logistic");
        for (int i = 0; classification && i < 6; i++) {
            json_object_set_new(met, cls[i], jnum(cv[i]));
        }
        if (!classification) {
            json_object_set_new(met, "mae", jnum(pm.mae));
            json_object_set_new(met, "rmse", jnum(pm.rmse));
        }
        json_object_set_new(met, "pairs", json_integer((json_int_t)pm.n));
        drift_preq_reset(p->lpreq);
    }
    json_object_set_new(o, "metrics", met);
    json_object_set_new(o, "trained_through_event", json_integer((json_int_t)p->lthrough));
    p->loss_sum = 0;
    p->loss_n = 0;
    char *js = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (js != NULL && p->hooks.model_update) {
        p->hooks.model_update(p->hooks.ctx, p->sc->name, p->sc->learner.topic, js);
    }
    free(js);
}

int drift_pipeline_publish(struct drift_pipeline *p, const char *reason)
{
    if (p->learner == NULL) {
        return DRIFT_ENOENT;
    }
    publish_model(p, reason);
    return 0;
}

int drift_pipeline_publish_if_new(struct drift_pipeline *p, const char *reason)
{
    if (p->learner == NULL) {
        return DRIFT_ENOENT;
    }
    if (p->lops->updates(p->learner) == p->last_published) {
        return DRIFT_EAGAIN;
    }
    publish_model(p, reason);
    return 0;
}

/* The drift policy, on a concept-drift signal (the performance detector fired): "reset" starts
 * the learner over; "shadow" trains a fresh learner beside it on the same rows, and swaps it in
 * (publishing the swap) as soon as its prequential loss since the signal is the lower one,
 * after at least SHADOW_MIN_ROWS rows; a shadow that has not won after shadow_window rows is
 * dropped, and the old learner stays. */
static void learner_signal(struct drift_pipeline *p)
{
    const struct drift_stream_conf *sc = p->sc;
    p->learner_signal = 0;
    if (sc->learner.on_drift == DRIFT_ON_DRIFT_RESET) {
        p->lops->reset(p->learner);
        p->st.learner_resets++;
        publish_model(p, "reset");
    } else if (sc->learner.on_drift == DRIFT_ON_DRIFT_SHADOW && p->shadow == NULL) {
        struct drift_learner_params lp;
        drift_pl_learner_params(p, &lp);
        char lerr[160];
        p->shadow = p->lops->create(p->ld, &lp, lerr, sizeof(lerr));
        p->shadow_rows = 0;
        p->shadow_loss = p->main_loss = 0;
        p->step_shadow_loss = 0;
        p->trial_loss0 = p->step_loss; /* the trial starts mid-step: compare from here */
        p->trial_learnt0 = p->step_learnt;
    }
}

/* The end of a learner step (LEARN_STEP_ROWS rows, counted from the learner's first row, so
 * that a step ends at the same row however the stream was cut into batches: a restored
 * checkpoint replays to the very same state). The step's loss joins the published metrics;
 * during a trial the shadow takes over as soon as its loss since the trial began is lower
 * (after SHADOW_MIN_ROWS rows), and is dropped if it has not won after shadow_window rows;
 * otherwise a periodic update is published when `publish_every` updates were crossed. */
static void learner_step_end(struct drift_pipeline *p)
{
    p->loss_sum += p->step_loss;
    p->loss_n += p->step_learnt;
    if (p->shadow != NULL) {
        p->shadow_loss += p->step_shadow_loss;
        p->main_loss += p->step_loss - p->trial_loss0;
        p->shadow_rows += p->step_learnt - p->trial_learnt0;
    }
    p->step_loss = p->step_shadow_loss = p->trial_loss0 = 0;
    p->step_learnt = p->trial_learnt0 = 0;
    if (p->shadow != NULL) {
        uint64_t win = p->sc->learner.shadow_window > 0 ? (uint64_t)p->sc->learner.shadow_window
                                                        : 500;
        if (p->shadow_rows >= SHADOW_MIN_ROWS && p->shadow_loss < p->main_loss) {
            p->lops->destroy(p->learner);
            p->learner = p->shadow;
            p->shadow = NULL;
            p->st.learner_swaps++;
            publish_model(p, "swap");
            return;
        }
        if (p->shadow_rows >= win) {
            p->lops->destroy(p->shadow);
            p->shadow = NULL;
        }
    }
    uint64_t updates = p->lops->updates(p->learner);
    uint64_t every = p->sc->learner.publish_every > 0 ? (uint64_t)p->sc->learner.publish_every
                                                      : 1000;
    if (updates / every != p->last_published / every) {
        publish_model(p, "periodic");
    }
}

/* Batch rows [start, end) through the learner (and its shadow), in pieces that end at step
 * boundaries; a concept-drift signal raised by row signal_row of this batch acts just before
 * that row. */
static void learner_step(struct drift_pipeline *p, size_t start, size_t n)
{
    if (p->learner == NULL || n == 0) {
        return;
    }
    struct drift_batch *b = &p->b;
    const double *x = learner_encode(p, start, n);
    size_t end = start + n;
    for (size_t at = start; at < end;) {
        if (p->learner_signal && (p->signal_row <= at || p->signal_row >= end)) {
            learner_signal(p);
        }
        size_t m = LEARN_STEP_ROWS - (size_t)(p->lseen % LEARN_STEP_ROWS);
        if (m > end - at) {
            m = end - at;
        }
        if (p->learner_signal && p->signal_row > at && p->signal_row - at < m) {
            m = p->signal_row - at;
        }
        for (size_t i = at; i < at + m; i++) { /* what the model is trained through */
            if (isfinite(b->label[i])) {
                int32_t part = b->part[i];
                if (part >= 0 && part < DRIFT_MAX_PARTITIONS && b->off[i] > p->ltrained[part]) {
                    p->ltrained[part] = b->off[i];
                }
                if (!isnan(b->ts[i])) {
                    p->lts = b->ts[i];
                }
            }
        }
        size_t learnt = 0;
        if (p->lpreq != NULL) {
            /* the learner's own metrics: each labelled row predicted, then learnt, row by row,
             * so that the prediction is the one learn() scores (a mini-batch's rows see the
             * weights before their block either way) */
            for (size_t i = at; i < at + m; i++) {
                double y = b->label[i];
                if (isfinite(y)) {
                    double pr = p->lops->predict(p->learner, x + i, b->cap);
                    drift_preq_add(p->lpreq, pr, y, NAN, NULL); /* full: the rest wait */
                }
                learnt += p->lops->learn(p->learner, x + i, b->cap, 1, b->label + i,
                                         &p->step_loss);
            }
        } else {
            learnt = p->lops->learn(p->learner, x + at, b->cap, m, b->label + at, &p->step_loss);
        }
        if (p->shadow != NULL) {
            p->lops->learn(p->shadow, x + at, b->cap, m, b->label + at, &p->step_shadow_loss);
        }
        p->st.labelled += learnt;
        p->step_learnt += learnt;
        p->lseen += m;
        at += m;
        p->lthrough = p->batch_seq0 + at - 1;
        if (p->lseen % LEARN_STEP_ROWS == 0) {
            learner_step_end(p);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Push
 * -------------------------------------------------------------------------------------------*/

/* Absorbs rows [r0, r1) of the batch into the current pane; they all belong to one pane. */
static void pane_absorb(struct drift_pipeline *p, struct pane *pn, size_t r0, size_t r1)
{
    struct drift_batch *b = &p->b;
    int d = p->d, k = p->k, B = p->B;
    size_t cap = b->cap;
    size_t pos = (size_t)(p->win_events % p->W);
    for (int j = 0; j < d; j++) {
        const double *col = b->x + (size_t)j * cap;
        const double *e = p->edges + (size_t)j * (size_t)(B - 1);
        int ne = p->nedges[j];
        uint64_t *h = pn->hist + (size_t)j * (size_t)B;
        double *ring = p->ring + (size_t)j * p->W;
        uint64_t miss = 0;
        if (ne <= 16) {
            /* Few edges (the usual case): the bin is the count of edges <= v, computed without
             * branches; NaN compares false everywhere and is counted apart. */
            for (size_t i = r0, q = pos; i < r1; i++, q++) {
                double v = col[i];
                ring[q] = v;
                int bin = 0;
                for (int t = 0; t < ne; t++) {
                    bin += e[t] <= v;
                }
                int nan = v != v;
                miss += (uint64_t)nan;
                h[bin] += (uint64_t)!nan;
            }
        } else {
            for (size_t i = r0, q = pos; i < r1; i++, q++) {
                double v = col[i];
                ring[q] = v;
                if (isnan(v)) {
                    miss++;
                } else {
                    h[drift_hist_bin(e, ne, v)]++;
                }
            }
        }
        pn->missing[j] += miss;
    }
    for (int j = 0; j < k; j++) {
        const int32_t *col = b->cat + (size_t)j * cap;
        uint64_t *h = pn->cat + (size_t)j * NCODES;
        for (size_t i = r0; i < r1; i++) {
            if (col[i] < 0) {
                pn->cat_missing[j]++;
            } else {
                h[col[i]]++;
            }
        }
    }
    for (size_t i = r0; i < r1; i++) {
        double t = b->ts[i];
        if (!isnan(t)) {
            if (isnan(pn->ts_min) || t < pn->ts_min) {
                pn->ts_min = t;
            }
            if (isnan(pn->ts_max) || t > pn->ts_max) {
                pn->ts_max = t;
            }
        }
        int32_t part = b->part[i];
        int slot = part < 0 ? DRIFT_MAX_PARTITIONS - 1
                            : (part < DRIFT_MAX_PARTITIONS - 1 ? part : -1);
        if (slot >= 0) {
            if (pn->first_off[slot] < 0 || b->off[i] < pn->first_off[slot]) {
                pn->first_off[slot] = b->off[i];
            }
            if (b->off[i] > pn->last_off[slot]) {
                pn->last_off[slot] = b->off[i];
            }
        }
    }
    if (pn->events == 0) {
        pn->first_seq = p->seq;
    }
    pn->events += r1 - r0;
    pn->last_seq = p->seq + (r1 - r0) - 1;
    p->seq += r1 - r0;
    p->win_events += r1 - r0;
    /* The pane's mean and scatter, from its rows in the ring (contiguous: S divides W), in
     * whole blocks, and the rest once the pane is full. */
    size_t blk = pn->mom.max_rows, first = (size_t)((p->win_events - pn->events) % p->W);
    while (d > 0 && pn->mom_rows < pn->events &&
           (pn->events - pn->mom_rows >= blk || pn->events == p->S)) {
        size_t m = pn->events - pn->mom_rows < blk ? (size_t)(pn->events - pn->mom_rows) : blk;
        drift_moments_update(&pn->mom, p->ring + first + pn->mom_rows, p->W, m);
        pn->mom_rows += m;
    }
}

void drift_pipeline_push(struct drift_pipeline *p)
{
    struct drift_batch *b = &p->b;
    size_t n = b->n, r = 0;
    p->st.events += n;
    p->batch_seq0 = p->seq;
    if (!p->ref_ready) {
        size_t take = p->warm_cap - p->warm_n;
        if (take > n) {
            take = n;
        }
        labelled_rows(p, 0, take);
        for (int j = 0; j < p->d; j++) {
            memcpy(p->warm_x + (size_t)j * p->warm_cap + p->warm_n, b->x + (size_t)j * b->cap,
                   take * sizeof(double));
        }
        for (int j = 0; j < p->k; j++) {
            memcpy(p->warm_cat + (size_t)j * p->warm_cap + p->warm_n,
                   b->cat + (size_t)j * b->cap, take * sizeof(int32_t));
        }
        p->warm_n += take;
        p->ref_gen += take > 0;
        p->seq += take;
        r = take;
        if (p->warm_n == p->warm_cap) {
            reference_build(p, p->warm_x, p->warm_cap, p->warm_cat, p->warm_cap, p->warm_n);
        }
    }
    if (p->ref_ready && r < n) {
        size_t start = r;
        while (r < n) {
            size_t in_pane = (size_t)(p->win_events % p->S);
            struct pane *pn = &p->panes[(p->win_events / p->S) % p->npanes];
            if (in_pane == 0) {
                drift_pl_pane_reset(pn, p->d, p->k, p->B);
            }
            size_t chunk = p->S - in_pane;
            if (chunk > n - r) {
                chunk = n - r;
            }
            labelled_rows(p, r, r + chunk);
            pane_absorb(p, pn, r, r + chunk);
            r += chunk;
            if (p->win_events % p->S == 0 && p->win_events >= p->W) {
                window_close(p);
            }
        }
        learner_step(p, start, n - start);
    }
    if (p->join != NULL) {
        drift_join_expire(p->join, join_now_ms(p, NAN));
    }
    p->signal_row = 0; /* a signal still waiting acts at the learner's next row */
    b->n = 0;
}
