/*
 * A pipeline's state as bytes: what a checkpoint stores and a restart or a reload restores.
 *
 * The state has two parts. The reference part is the rows the reference was built from (the
 * warm-up, or a re-baseline's events; nothing for a reference file, which is read again): the
 * reference's bins, sorted samples, moments, PCA fit and MMD sample are all computed from those
 * rows by the same code, so they come back bit for bit, and the part changes only during a
 * warm-up. The live part is everything that moves with each event: the decoder's category
 * dictionaries and admission memory, the window panes and the raw-value ring, the trigger
 * policy's streaks, the learner (and its shadow), the concept-drift detector with its metrics
 * window and pending predictions, and the counters.
 *
 * Each part is a list of sections: tag, fingerprint, length, bytes. The fingerprint combines the
 * config fingerprints (config.h, enum drift_fp) the section's meaning depends on; a section
 * whose fingerprint differs from the pipeline's is skipped and that operator starts fresh. That
 * is how a reload keeps the state of operators whose definition did not change. A section that
 * matches but does not parse makes the whole load fail: the caller then starts from a fresh
 * pipeline, never from a half-restored one.
 *
 * Every number is written in the machine's byte order (a checkpoint is for the host that wrote
 * it), each field on its own, so equal states give equal bytes. A part ends with a checksum of
 * its bytes (FNV-1a, 64 bits): a torn or altered part is refused as a whole.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "pipeline_int.h"

#define STATE_MAGIC 0x53504644u /* "DFPS" */
#define STATE_VERSION 1u

enum section_tag {
    SEC_CORE = 1,
    SEC_DECODER,
    SEC_REFERENCE,
    SEC_WINDOWS,
    SEC_POLICY,
    SEC_LEARNER,
    SEC_PERFORMANCE,
    SEC_COUNT
};
static const char *const section_names[SEC_COUNT] = {
    [SEC_CORE] = "counters",        [SEC_DECODER] = "categories", [SEC_REFERENCE] = "reference",
    [SEC_WINDOWS] = "windows",      [SEC_POLICY] = "policy",      [SEC_LEARNER] = "learner",
    [SEC_PERFORMANCE] = "performance"};

/* ---------------------------------------------------------------------------------------------
 * Writer and reader
 * -------------------------------------------------------------------------------------------*/
struct wr {
    unsigned char *p;
    size_t len, cap;
    int oom;
};

/* Appends n bytes and returns where they go (NULL once memory ran out). */
static unsigned char *put_space(struct wr *w, size_t n)
{
    if (w->oom) {
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n) {
            cap *= 2;
        }
        unsigned char *q = realloc(w->p, cap);
        if (q == NULL) {
            w->oom = 1;
            return NULL;
        }
        w->p = q;
        w->cap = cap;
    }
    w->len += n;
    return w->p + w->len - n;
}

static void put(struct wr *w, const void *v, size_t n)
{
    unsigned char *dst = n > 0 ? put_space(w, n) : NULL;
    if (dst != NULL) {
        memcpy(dst, v, n);
    }
}

static void put_u64(struct wr *w, uint64_t v)
{
    put(w, &v, 8);
}

static void put_f64(struct wr *w, double v)
{
    put(w, &v, 8);
}

static void put_str(struct wr *w, const char *s)
{
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}

/* Room for an operator's saved state of n bytes, after its length: the operator's own save
 * function writes there. */
static void *put_saved(struct wr *w, size_t n)
{
    put(w, &(uint64_t){n}, 8);
    return put_space(w, n);
}

/* Opens a section: tag, fingerprint and a length patched by section_end. */
static size_t section_begin(struct wr *w, uint32_t tag, uint64_t fp)
{
    uint32_t t[2] = {tag, 0};
    put(w, t, 8);
    put_u64(w, fp);
    put_u64(w, 0);
    return w->len;
}

static void section_end(struct wr *w, size_t start)
{
    if (!w->oom) {
        uint64_t n = w->len - start;
        memcpy(w->p + start - 8, &n, 8);
    }
}

/* An array whose length must be exactly n items of size sz. */
static void get_array(struct drift_rd *r, void *out, size_t n, size_t sz)
{
    if (n != 0 && sz > (SIZE_MAX / n)) {
        r->bad = 1;
        return;
    }
    drift_rd_into(r, out, n * sz);
}

/* A string into out (cap bytes with the NUL). */
static void get_str(struct drift_rd *r, char *out, size_t cap)
{
    uint64_t n = drift_rd_u64(r);
    if (n >= cap) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    drift_rd_into(r, out, (size_t)n);
    out[n] = '\0';
}

/* An operator's saved bytes: *len and the pointer (into r), or NULL when absent or bad. */
static const void *get_obj(struct drift_rd *r, size_t *len)
{
    uint64_t n = drift_rd_u64(r);
    *len = 0;
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    *len = (size_t)n;
    return drift_rd_get(r, (size_t)n);
}

/* ---------------------------------------------------------------------------------------------
 * Fingerprints
 * -------------------------------------------------------------------------------------------*/
static uint64_t mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    }
    return h;
}

/* FNV-1a over the whole part, stored at its end: a torn or altered checkpoint is refused. */
static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

static uint64_t section_fp(const struct drift_pipeline *p, int tag)
{
    const uint64_t *fp = p->sc->fp;
    uint64_t h = mix(1469598103934665603ull, (uint64_t)tag);
    uint64_t ref = mix(mix(fp[DRIFT_FP_FEATURES], fp[DRIFT_FP_REFERENCE]), p->ref_file_id);
    switch (tag) {
    case SEC_DECODER:
    case SEC_REFERENCE:
        return mix(h, ref);
    case SEC_WINDOWS:
        return mix(mix(h, ref), fp[DRIFT_FP_WINDOW]);
    case SEC_POLICY:
        return mix(mix(mix(h, ref), fp[DRIFT_FP_WINDOW]), fp[DRIFT_FP_TRIGGER]);
    case SEC_LEARNER:
        return mix(mix(mix(h, ref), fp[DRIFT_FP_LEARNER]), fp[DRIFT_FP_FIELDS]);
    case SEC_PERFORMANCE:
        return mix(mix(mix(h, fp[DRIFT_FP_PERFORMANCE]), fp[DRIFT_FP_LABELS]),
                   fp[DRIFT_FP_FIELDS]);
    default:
        return h;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Sections: save
 * -------------------------------------------------------------------------------------------*/
static void save_core(struct wr *w, const struct drift_pipeline *p)
{
    const struct drift_pipeline_stats *s = &p->st;
    uint64_t c[] = {s->events,       s->windows,        s->drift_windows,
                    s->triggers,     s->model_updates,  s->labelled,
                    s->learner_resets, s->learner_swaps, s->performance_triggers,
                    s->performance_detections, s->performance_warnings, s->labels_in,
                    s->labels_bad,   s->rebaselines,    s->resolutions};
    put_u64(w, sizeof(c) / 8);
    put(w, c, sizeof(c));
    put_u64(w, DRIFT_BAD_COUNT);
    put(w, s->bad, sizeof(s->bad));
    put_f64(w, s->label_delay_ms_sum);
    put_u64(w, p->seq);
    put_str(w, p->model_version);
}

static void save_reference(struct wr *w, const struct drift_pipeline *p)
{
    put_u64(w, (uint64_t)p->ref_ready);
    put_u64(w, p->ref_events);
    put_u64(w, p->warm_x != NULL);
    if (p->warm_x == NULL) {
        return;
    }
    put_u64(w, p->warm_cap);
    put_u64(w, p->warm_n);
    for (int j = 0; j < p->d; j++) {
        put(w, p->warm_x + (size_t)j * p->warm_cap, p->warm_n * sizeof(double));
    }
    for (int j = 0; j < p->k; j++) {
        put(w, p->warm_cat + (size_t)j * p->warm_cap, p->warm_n * sizeof(int32_t));
    }
}

static void save_windows(struct wr *w, const struct drift_pipeline *p)
{
    int d = p->d, k = p->k, B = p->B;
    put_u64(w, p->win_events);
    put_u64(w, p->win_index);
    put(w, p->ring, p->W * (size_t)d * sizeof(double));
    for (size_t q = 0; q < p->npanes; q++) {
        const struct pane *pn = &p->panes[q];
        uint64_t h[4] = {pn->events, pn->first_seq, pn->last_seq, pn->mom_rows};
        put(w, h, sizeof(h));
        put_f64(w, pn->ts_min);
        put_f64(w, pn->ts_max);
        put(w, pn->hist, (size_t)d * (size_t)B * sizeof(uint64_t));
        put(w, pn->missing, (size_t)d * sizeof(uint64_t));
        put(w, pn->cat, (size_t)k * NCODES * sizeof(uint64_t));
        put(w, pn->cat_missing, (size_t)k * sizeof(uint64_t));
        size_t mn = drift_moments_save(&pn->mom, NULL, 0);
        void *md = put_saved(w, mn);
        if (md != NULL) {
            drift_moments_save(&pn->mom, md, mn);
        }
        uint64_t used = 0;
        for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
            used += pn->first_off[i] >= 0;
        }
        put_u64(w, used);
        for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
            if (pn->first_off[i] >= 0) {
                int64_t e[3] = {i, pn->first_off[i], pn->last_off[i]};
                put(w, e, sizeof(e));
            }
        }
    }
}

static void save_policy(struct wr *w, const struct drift_pipeline *p)
{
    int64_t v[4] = {p->consecutive, p->cooldown, p->clear_streak, 0};
    put(w, v, sizeof(v));
    put_u64(w, p->history);
    put_u64(w, p->labelled_since);
    put_str(w, p->open_key);
    put_str(w, p->open_severity);
}

static void put_preq(struct wr *w, const struct drift_preq *q)
{
    size_t n = drift_preq_save(q, NULL, 0);
    void *dst = put_saved(w, n);
    if (dst != NULL) {
        drift_preq_save(q, dst, n);
    }
}

static void save_learner(struct wr *w, const struct drift_pipeline *p)
{
    put_u64(w, p->learner != NULL);
    if (p->learner == NULL) {
        return;
    }
    put_u64(w, (uint64_t)p->ld);
    put(w, p->lcenter, (size_t)p->ld * sizeof(double));
    put(w, p->lscale, (size_t)p->ld * sizeof(double));
    const struct drift_learner *ls[2] = {p->learner, p->shadow};
    for (int i = 0; i < 2; i++) {
        if (i == 1) {
            put_u64(w, p->shadow != NULL);
        }
        if (ls[i] != NULL) {
            size_t n = p->lops->save(ls[i], NULL, 0);
            void *dst = put_saved(w, n);
            if (dst != NULL) {
                p->lops->save(ls[i], dst, n);
            }
        }
    }
    put_u64(w, p->lpreq != NULL);
    if (p->lpreq != NULL) {
        put_preq(w, p->lpreq);
    }
    put(w, p->ltrained, DRIFT_MAX_PARTITIONS * sizeof(int64_t));
    uint64_t u[8] = {p->last_published, (uint64_t)p->learner_signal, p->shadow_rows, p->loss_n,
                     p->lseen, p->step_learnt, p->trial_learnt0, p->lthrough};
    double f[7] = {p->lts, p->shadow_loss, p->main_loss, p->loss_sum,
                   p->step_loss, p->step_shadow_loss, p->trial_loss0};
    put(w, u, sizeof(u));
    put(w, f, sizeof(f));
}

static void save_performance(struct wr *w, const struct drift_pipeline *p)
{
    put_u64(w, p->cdet != NULL);
    if (p->cdet == NULL) {
        return;
    }
    size_t n = p->cops->save(p->cdet, NULL, 0);
    void *dst = put_saved(w, n);
    if (dst != NULL) {
        p->cops->save(p->cdet, dst, n);
    }
    put_preq(w, p->preq);
    put_u64(w, p->join != NULL);
    if (p->join != NULL) {
        n = drift_join_save(p->join, NULL, 0);
        dst = put_saved(w, n);
        if (dst != NULL) {
            drift_join_save(p->join, dst, n);
        }
    }
    uint64_t u[7] = {p->pairs, p->perf_quiet_until, p->since_n, p->recent_n, p->recent_head,
                     p->perf_windows, p->preq_n};
    put(w, u, sizeof(u));
    put_f64(w, p->since_sum);
    put(w, p->recent, RECENT * sizeof(double));
    put_u64(w, (uint64_t)p->join_clock_ms);
    const struct drift_perf_window *pw = &p->last_pw;
    uint64_t pu[4] = {pw->index, pw->first_pair, pw->pairs, pw->invalid};
    double pf[10] = {pw->accuracy, pw->precision, pw->recall, pw->f1,           pw->log_loss,
                     pw->auc,      pw->mae,       pw->rmse,   pw->delay_median_s, pw->delay_p95_s};
    put(w, pu, sizeof(pu));
    put(w, pf, sizeof(pf));
}

uint64_t drift_pipeline_ref_gen(const struct drift_pipeline *p)
{
    return p->ref_gen;
}

int drift_pipeline_save(const struct drift_pipeline *p, int part, unsigned char **out,
                        size_t *outlen)
{
    struct wr w = {0};
    uint32_t hdr[4] = {STATE_MAGIC, STATE_VERSION, (uint32_t)part, 0};
    put(&w, hdr, sizeof(hdr));
    size_t s;
    if (part == DRIFT_STATE_REFERENCE) {
        s = section_begin(&w, SEC_REFERENCE, section_fp(p, SEC_REFERENCE));
        save_reference(&w, p);
        section_end(&w, s);
    } else {
        s = section_begin(&w, SEC_CORE, section_fp(p, SEC_CORE));
        save_core(&w, p);
        section_end(&w, s);
        s = section_begin(&w, SEC_DECODER, section_fp(p, SEC_DECODER));
        size_t n = drift_decoder_save(p->dec, NULL, 0);
        void *dst = put_saved(&w, n);
        if (dst != NULL) {
            drift_decoder_save(p->dec, dst, n);
        }
        section_end(&w, s);
        s = section_begin(&w, SEC_WINDOWS, section_fp(p, SEC_WINDOWS));
        save_windows(&w, p);
        section_end(&w, s);
        s = section_begin(&w, SEC_POLICY, section_fp(p, SEC_POLICY));
        save_policy(&w, p);
        section_end(&w, s);
        s = section_begin(&w, SEC_LEARNER, section_fp(p, SEC_LEARNER));
        save_learner(&w, p);
        section_end(&w, s);
        s = section_begin(&w, SEC_PERFORMANCE, section_fp(p, SEC_PERFORMANCE));
        save_performance(&w, p);
        section_end(&w, s);
    }
    put_u64(&w, w.oom ? 0 : checksum(w.p, w.len));
    if (w.oom) {
        free(w.p);
        return DRIFT_ENOMEM;
    }
    *out = w.p;
    *outlen = w.len;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Sections: load. Each returns 0 or DRIFT_ESTATE; the reader must end exactly at the end.
 * -------------------------------------------------------------------------------------------*/
static int load_core(struct drift_rd *r, struct drift_pipeline *p)
{
    struct drift_pipeline_stats *s = &p->st;
    uint64_t *c[] = {&s->events,       &s->windows,        &s->drift_windows,
                     &s->triggers,     &s->model_updates,  &s->labelled,
                     &s->learner_resets, &s->learner_swaps, &s->performance_triggers,
                     &s->performance_detections, &s->performance_warnings, &s->labels_in,
                     &s->labels_bad,   &s->rebaselines,    &s->resolutions};
    size_t nc = sizeof(c) / sizeof(c[0]);
    if (drift_rd_u64(r) != nc) {
        return DRIFT_ESTATE;
    }
    for (size_t i = 0; i < nc; i++) {
        *c[i] = drift_rd_u64(r);
    }
    /* reasons are only ever added at the end: an older checkpoint has fewer, the new ones
     * start at 0 */
    uint64_t nbad = drift_rd_u64(r);
    if (nbad > DRIFT_BAD_COUNT) {
        return DRIFT_ESTATE;
    }
    memset(s->bad, 0, sizeof(s->bad));
    get_array(r, s->bad, (size_t)nbad, sizeof(uint64_t));
    s->label_delay_ms_sum = drift_rd_f64(r);
    p->seq = drift_rd_u64(r);
    get_str(r, p->model_version, sizeof(p->model_version));
    return r->bad ? DRIFT_ESTATE : 0;
}

static int load_reference(struct drift_rd *r, struct drift_pipeline *p)
{
    uint64_t ready = drift_rd_u64(r), events = drift_rd_u64(r), rows = drift_rd_u64(r);
    if (r->bad || ready > 1) {
        return DRIFT_ESTATE;
    }
    if (!rows) {
        /* a reference file, read again at creation: it must be ready, as saved */
        return ready && p->ref_ready && p->warm_x == NULL && events == p->ref_events
                   ? 0 : DRIFT_ESTATE;
    }
    uint64_t cap = drift_rd_u64(r), n = drift_rd_u64(r);
    size_t want = (size_t)(p->sc->reference.size > 0 ? p->sc->reference.size : 5000);
    if (r->bad || cap != want || n > cap || (ready && (n != cap || events != n))) {
        return DRIFT_ESTATE;
    }
    if (p->warm_x == NULL) { /* a file reference that was re-baselined */
        p->warm_cap = want;
        p->warm_x = apr_pcalloc(p->pool, want * (size_t)(p->d ? p->d : 1) * sizeof(double));
        p->warm_cat = apr_pcalloc(p->pool, want * (size_t)(p->k ? p->k : 1) * sizeof(int32_t));
    }
    for (int j = 0; j < p->d; j++) {
        get_array(r, p->warm_x + (size_t)j * p->warm_cap, (size_t)n, sizeof(double));
    }
    for (int j = 0; j < p->k; j++) {
        int32_t *col = p->warm_cat + (size_t)j * p->warm_cap;
        get_array(r, col, (size_t)n, sizeof(int32_t));
        for (size_t i = 0; i < n && !r->bad; i++) {
            /* a code is missing (-1), a category of the dictionary, or the unseen code */
            if (col[i] < -1 || (col[i] >= drift_decoder_ncategories(p->dec, j) &&
                                col[i] != DRIFT_MAX_CATEGORIES)) {
                r->bad = 1;
            }
        }
    }
    if (r->bad || r->off != r->len) {
        return DRIFT_ESTATE;
    }
    p->warm_n = (size_t)n;
    p->ref_ready = 0;
    p->ref_events = events; /* during a re-baseline: the size of the reference before */
    if (ready) {
        drift_pl_reference_restore(p, (size_t)n);
    }
    return 0;
}

static int load_windows(struct drift_rd *r, struct drift_pipeline *p)
{
    int d = p->d, k = p->k, B = p->B;
    p->win_events = drift_rd_u64(r);
    p->win_index = drift_rd_u64(r);
    get_array(r, p->ring, p->W * (size_t)d, sizeof(double));
    for (size_t q = 0; q < p->npanes && !r->bad; q++) {
        struct pane *pn = &p->panes[q];
        uint64_t h[4];
        get_array(r, h, 4, sizeof(uint64_t));
        if (h[0] > p->S || h[3] > h[0]) {
            return DRIFT_ESTATE;
        }
        pn->events = h[0];
        pn->first_seq = h[1];
        pn->last_seq = h[2];
        pn->mom_rows = h[3];
        pn->ts_min = drift_rd_f64(r);
        pn->ts_max = drift_rd_f64(r);
        get_array(r, pn->hist, (size_t)d * (size_t)B, sizeof(uint64_t));
        get_array(r, pn->missing, (size_t)d, sizeof(uint64_t));
        get_array(r, pn->cat, (size_t)k * NCODES, sizeof(uint64_t));
        get_array(r, pn->cat_missing, (size_t)k, sizeof(uint64_t));
        size_t ml;
        const void *mb = get_obj(r, &ml);
        if (mb == NULL || drift_moments_load(&pn->mom, mb, ml) != 0) {
            return DRIFT_ESTATE;
        }
        uint64_t used = drift_rd_u64(r);
        if (used > DRIFT_MAX_PARTITIONS) {
            return DRIFT_ESTATE;
        }
        for (int i = 0; i < DRIFT_MAX_PARTITIONS; i++) {
            pn->first_off[i] = pn->last_off[i] = -1;
        }
        for (uint64_t i = 0; i < used && !r->bad; i++) {
            int64_t e[3];
            get_array(r, e, 3, sizeof(int64_t));
            if (e[0] < 0 || e[0] >= DRIFT_MAX_PARTITIONS || e[1] < 0 || e[2] < e[1]) {
                return DRIFT_ESTATE;
            }
            pn->first_off[e[0]] = e[1];
            pn->last_off[e[0]] = e[2];
        }
    }
    if (r->bad) {
        return DRIFT_ESTATE;
    }
    /* The panes must agree with the event count: the open one holds the events since its
     * start, the others are full or empty, and a pane's rows sit inside the ring. */
    uint64_t we = p->win_events;
    size_t open = we > 0 ? (size_t)(((we - 1) / p->S) % p->npanes) : 0;
    for (size_t q = 0; q < p->npanes; q++) {
        const struct pane *pn = &p->panes[q];
        uint64_t want = q == open && we > 0 ? (we - 1) % p->S + 1 : pn->events;
        if (pn->events != want || (q != open && pn->events != 0 && pn->events != p->S) ||
            (we < p->W && q > open && pn->events != 0) ||
            (d > 0 && pn->events == p->S && pn->mom_rows != p->S) || (d == 0 && pn->mom_rows)) {
            return DRIFT_ESTATE;
        }
    }
    return 0;
}

static int load_policy(struct drift_rd *r, struct drift_pipeline *p)
{
    int64_t v[4];
    get_array(r, v, 4, sizeof(int64_t));
    if (r->bad || v[0] < 0 || v[0] > INT32_MAX || v[1] < 0 || v[1] > INT32_MAX || v[2] < 0 ||
        v[2] > INT32_MAX) {
        return DRIFT_ESTATE;
    }
    p->consecutive = (int)v[0];
    p->cooldown = (int)v[1];
    p->clear_streak = (int)v[2];
    p->history = drift_rd_u64(r);
    p->labelled_since = drift_rd_u64(r);
    get_str(r, p->open_key, sizeof(p->open_key));
    get_str(r, p->open_severity, sizeof(p->open_severity));
    return r->bad ? DRIFT_ESTATE : 0;
}

/* A learner made the way the pipeline makes its shadow, then loaded. */
static struct drift_learner *learner_from(struct drift_pipeline *p, const void *b, size_t n)
{
    struct drift_learner_params lp;
    drift_pl_learner_params(p, &lp);
    char err[160];
    struct drift_learner *l = p->lops->create(p->ld, &lp, err, sizeof(err));
    if (l != NULL && p->lops->load(l, b, n) != 0) {
        p->lops->destroy(l);
        l = NULL;
    }
    return l;
}

static int load_learner(struct drift_rd *r, struct drift_pipeline *p)
{
    uint64_t has = drift_rd_u64(r);
    if (has == 1 && p->learner == NULL) {
        drift_pl_learner_make(p); /* saved during a re-baseline, which keeps the learner */
    }
    if (r->bad || has > 1 || has != (p->learner != NULL)) {
        return DRIFT_ESTATE;
    }
    if (!has) {
        return 0;
    }
    if (drift_rd_u64(r) != (uint64_t)p->ld) {
        return DRIFT_ESTATE;
    }
    get_array(r, p->lcenter, (size_t)p->ld, sizeof(double));
    get_array(r, p->lscale, (size_t)p->ld, sizeof(double));
    size_t n;
    const void *b = get_obj(r, &n);
    if (b == NULL || p->lops->load(p->learner, b, n) != 0) {
        return DRIFT_ESTATE;
    }
    uint64_t shadow = drift_rd_u64(r);
    if (shadow > 1) {
        return DRIFT_ESTATE;
    }
    if (shadow) {
        b = get_obj(r, &n);
        struct drift_learner *l = b != NULL ? learner_from(p, b, n) : NULL;
        if (l == NULL) {
            return DRIFT_ESTATE;
        }
        if (p->shadow != NULL) {
            p->lops->destroy(p->shadow);
        }
        p->shadow = l;
    }
    uint64_t lpreq = drift_rd_u64(r);
    if (lpreq != (p->lpreq != NULL)) {
        return DRIFT_ESTATE;
    }
    if (lpreq) {
        b = get_obj(r, &n);
        if (b == NULL || drift_preq_load(p->lpreq, b, n) != 0) {
            return DRIFT_ESTATE;
        }
    }
    get_array(r, p->ltrained, DRIFT_MAX_PARTITIONS, sizeof(int64_t));
    uint64_t u[8];
    double f[7];
    get_array(r, u, 8, sizeof(uint64_t));
    get_array(r, f, 7, sizeof(double));
    if (r->bad || u[1] > 1) {
        return DRIFT_ESTATE;
    }
    p->last_published = u[0];
    p->learner_signal = (int)u[1];
    p->signal_row = 0;
    p->shadow_rows = u[2];
    p->loss_n = u[3];
    p->lseen = u[4];
    p->step_learnt = u[5];
    p->trial_learnt0 = u[6];
    p->lthrough = u[7];
    p->lts = f[0];
    p->shadow_loss = f[1];
    p->main_loss = f[2];
    p->loss_sum = f[3];
    p->step_loss = f[4];
    p->step_shadow_loss = f[5];
    p->trial_loss0 = f[6];
    return 0;
}

static int load_performance(struct drift_rd *r, struct drift_pipeline *p)
{
    uint64_t has = drift_rd_u64(r);
    if (r->bad || has > 1 || has != (p->cdet != NULL)) {
        return DRIFT_ESTATE;
    }
    if (!has) {
        return 0;
    }
    size_t n;
    const void *b = get_obj(r, &n);
    if (b == NULL || p->cops->load(p->cdet, b, n) != 0) {
        return DRIFT_ESTATE;
    }
    b = get_obj(r, &n);
    if (b == NULL || drift_preq_load(p->preq, b, n) != 0) {
        return DRIFT_ESTATE;
    }
    uint64_t join = drift_rd_u64(r);
    if (r->bad || join > 1) {
        return DRIFT_ESTATE;
    }
    if (join) {
        b = get_obj(r, &n);
        /* pending predictions: kept when labels still come from a topic */
        if (b == NULL || (p->join != NULL && drift_join_load(p->join, b, n) != 0)) {
            return DRIFT_ESTATE;
        }
    }
    uint64_t u[7];
    get_array(r, u, 7, sizeof(uint64_t));
    if (r->bad || u[3] > RECENT || u[4] >= RECENT ||
        u[6] >= (uint64_t)(p->sc->performance.window > 0 ? p->sc->performance.window : 1)) {
        return DRIFT_ESTATE;
    }
    p->pairs = u[0];
    p->perf_quiet_until = u[1];
    p->since_n = u[2];
    p->recent_n = (size_t)u[3];
    p->recent_head = (size_t)u[4];
    p->perf_windows = u[5];
    p->preq_n = u[6];
    p->since_sum = drift_rd_f64(r);
    get_array(r, p->recent, RECENT, sizeof(double));
    p->join_clock_ms = (int64_t)drift_rd_u64(r);
    struct drift_perf_window *pw = &p->last_pw;
    uint64_t pu[4];
    double pf[10];
    get_array(r, pu, 4, sizeof(uint64_t));
    get_array(r, pf, 10, sizeof(double));
    pw->index = pu[0];
    pw->first_pair = pu[1];
    pw->pairs = pu[2];
    pw->invalid = pu[3];
    double *dst[10] = {&pw->accuracy, &pw->precision, &pw->recall, &pw->f1, &pw->log_loss,
                       &pw->auc,      &pw->mae,       &pw->rmse,   &pw->delay_median_s,
                       &pw->delay_p95_s};
    for (int i = 0; i < 10; i++) {
        *dst[i] = pf[i];
    }
    return r->bad ? DRIFT_ESTATE : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Load
 * -------------------------------------------------------------------------------------------*/
struct found_sec {
    uint64_t fp;
    const unsigned char *p;
    size_t len;
    int present;
};

/* Splits one part into its sections. */
static int split(const void *buf, size_t len, int part, struct found_sec *secs)
{
    uint64_t sum;
    if (len < 24) {
        return DRIFT_ESTATE;
    }
    len -= 8;
    memcpy(&sum, (const unsigned char *)buf + len, 8);
    if (sum != checksum(buf, len)) {
        return DRIFT_ESTATE;
    }
    struct drift_rd r = {buf, len, 0, 0};
    uint32_t hdr[4];
    drift_rd_into(&r, hdr, sizeof(hdr));
    if (r.bad || hdr[0] != STATE_MAGIC || hdr[1] != STATE_VERSION || hdr[2] != (uint32_t)part ||
        hdr[3] != 0) {
        return DRIFT_ESTATE;
    }
    while (r.off < r.len) {
        uint32_t t[2];
        drift_rd_into(&r, t, 8);
        uint64_t fp = drift_rd_u64(&r);
        size_t n;
        const void *body = get_obj(&r, &n);
        if (r.bad || t[1] != 0) {
            return DRIFT_ESTATE;
        }
        if (t[0] > 0 && t[0] < SEC_COUNT) { /* unknown tags: a later version's, skipped */
            if (secs[t[0]].present) {
                return DRIFT_ESTATE;
            }
            secs[t[0]] = (struct found_sec){fp, body, n, 1};
        }
    }
    return 0;
}

/* Runs one section's loader when its fingerprint matches: 1 loaded, 0 skipped, or an error. */
static int section(struct drift_pipeline *p, const struct found_sec *secs, int tag,
                   int (*fn)(struct drift_rd *, struct drift_pipeline *))
{
    if (!secs[tag].present || secs[tag].fp != section_fp(p, tag)) {
        return 0;
    }
    struct drift_rd r = {secs[tag].p, secs[tag].len, 0, 0};
    int rc = fn(&r, p);
    if (rc == 0 && (r.bad || r.off != r.len)) {
        rc = DRIFT_ESTATE;
    }
    return rc == 0 ? 1 : rc;
}

static int load_decoder(struct drift_rd *r, struct drift_pipeline *p)
{
    size_t n;
    const void *b = get_obj(r, &n);
    return b != NULL && drift_decoder_load(p->dec, b, n) == 0 ? 0 : DRIFT_ESTATE;
}

int drift_pipeline_load(struct drift_pipeline *p, const void *ref, size_t reflen,
                        const void *live, size_t livelen, char *what, size_t whatlen)
{
    struct found_sec secs[SEC_COUNT] = {{0}};
    struct found_sec rsecs[SEC_COUNT] = {{0}};
    if ((ref != NULL && split(ref, reflen, DRIFT_STATE_REFERENCE, rsecs) != 0) ||
        (live != NULL && split(live, livelen, DRIFT_STATE_LIVE, secs) != 0)) {
        snprintf(what, whatlen, "corrupt checkpoint");
        return DRIFT_ESTATE;
    }
    secs[SEC_REFERENCE] = rsecs[SEC_REFERENCE];
    int got[SEC_COUNT] = {0};
    int rc = 0;
    /* the dictionary first (the reference's codes refer to it), then the reference (what the
     * windows and the learner were built on), then the rest; without the reference, nothing
     * that depends on it is kept */
    if ((got[SEC_DECODER] = rc = section(p, secs, SEC_DECODER, load_decoder)) < 0 ||
        (got[SEC_DECODER] &&
         (got[SEC_REFERENCE] = rc = section(p, secs, SEC_REFERENCE, load_reference)) < 0)) {
        goto bad;
    }
    int tags[] = {SEC_WINDOWS, SEC_POLICY, SEC_LEARNER};
    int (*fns[])(struct drift_rd *, struct drift_pipeline *) = {load_windows, load_policy,
                                                          load_learner};
    for (int i = 0; i < 3 && got[SEC_REFERENCE]; i++) {
        if ((got[tags[i]] = rc = section(p, secs, tags[i], fns[i])) < 0) {
            goto bad;
        }
    }
    if ((got[SEC_PERFORMANCE] = rc = section(p, secs, SEC_PERFORMANCE, load_performance)) < 0 ||
        (got[SEC_CORE] = rc = section(p, secs, SEC_CORE, load_core)) < 0) {
        goto bad;
    }
    char list[2][160] = {"", ""};
    for (int t = 1; t < SEC_COUNT; t++) {
        char *l = list[got[t] ? 0 : 1];
        size_t o = strlen(l);
        snprintf(l + o, sizeof(list[0]) - o, "%s%s", o ? "," : "", section_names[t]);
    }
    snprintf(what, whatlen, "kept=%s fresh=%s", list[0][0] ? list[0] : "-",
             list[1][0] ? list[1] : "-");
    return 0;
bad:
    for (int t = 1; t < SEC_COUNT; t++) {
        if (got[t] < 0) { /* the section that failed */
            snprintf(what, whatlen, "checkpoint does not load: section %s refused (%s)",
                     section_names[t], drift_strerror(rc));
            return DRIFT_ESTATE;
        }
    }
    snprintf(what, whatlen, "checkpoint does not load (%s)", drift_strerror(rc));
    return DRIFT_ESTATE;
}

int drift_pipeline_adopt_reference(struct drift_pipeline *p, const void *ref, size_t reflen,
                                   const void *live, size_t livelen)
{
    struct found_sec secs[SEC_COUNT] = {{0}};
    struct found_sec rsecs[SEC_COUNT] = {{0}};
    if (ref == NULL || live == NULL || split(ref, reflen, DRIFT_STATE_REFERENCE, rsecs) != 0 ||
        split(live, livelen, DRIFT_STATE_LIVE, secs) != 0) {
        return DRIFT_ESTATE;
    }
    secs[SEC_REFERENCE] = rsecs[SEC_REFERENCE];
    /* the dictionary the reference's codes refer to, then the reference; both must be there and
     * of this config, and the reference complete */
    if (section(p, secs, SEC_DECODER, load_decoder) != 1 ||
        section(p, secs, SEC_REFERENCE, load_reference) != 1 || !p->ref_ready) {
        return DRIFT_ESTATE;
    }
    /* what belongs to the other instance's partitions: its latest event time, its ids */
    drift_decoder_forget_stream(p->dec);
    return 0;
}
