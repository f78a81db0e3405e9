/* libFuzzer target: the pipeline checkpoint loader (drift_pipeline_load, engine/pipeline_state.c)
 * on a pipeline with every operator on: categorical features, sliding windows, all four drift
 * statistics, the multivariate tests (mmd included), a learner with onehot categories and a
 * shadow on concept drift, the performance detector, dedup and lateness, a labels topic.
 *
 * A part ends with a checksum of its bytes, so random bytes would all stop there. The input is
 * turned into checkpoint parts with a correct checksum, by the mode in its first byte:
 *   0  the input is the live part's body (sections), the reference part a real one
 *   1  the input is the reference part's body, the live part a real one
 *   2  a real live part, with the input written over, into or instead of its bytes at an offset
 *   3  the same on a real reference part
 *   4  a real live part with one section's body spliced (its length kept right)
 *   5  the same on the reference section
 *   6  both bodies from the input, split where its next two bytes say
 *   7  the input as the live part as it is (the checksum's own test)
 * The "real" parts come from two pipelines fed once at start: one in its warm-up (the reference
 * half built), one well after it (windows, triggers, an open alert, a shadow learner on trial,
 * predictions waiting for labels); bit 3 of the first byte picks which, bit 4 passes no
 * reference part at all (or no live part in mode 1).
 *
 * Properties: no load crashes, leaks or meets undefined behaviour (ASan, UBSan); a refused load
 * says why and the pipeline is thrown away (as the API asks); an accepted load leaves a usable
 * pipeline: it takes more events and labels, its state saves, the saved parts load completely
 * into a fresh pipeline of the same config, and that one saves the very same bytes.
 *
 * FUZZ_PIPELINE_STATE_SEEDS=DIR writes seed inputs to DIR at start (how the committed seed
 * corpus tests/fuzz/corpus/fuzz_pipeline_state was made) and exits.
 */
#include <apr_general.h>
#include <apr_pools.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "join.h"
#include "stream.h"

void openblas_set_num_threads(int n);

/* As engine/pipeline_state.c writes them. */
#define STATE_MAGIC 0x53504644u /* "DFPS" */
#define STATE_VERSION 1u
#define HDR 16   /* magic, version, part, 0: four uint32 */
#define SECHDR 24 /* tag, 0 (uint32 each), fingerprint, length (uint64 each) */
#define TRAILER 8 /* FNV-1a 64 of everything before it */
enum { SEC_CORE = 1, SEC_DECODER, SEC_REFERENCE, SEC_WINDOWS, SEC_POLICY, SEC_LEARNER,
       SEC_PERFORMANCE, SEC_COUNT };

static const char yaml[] =
    "kafka: {brokers: embedded}\n"
    "streams:\n"
    "  - name: s\n"
    "    topic: t\n"
    "    features: {a: numeric, c: categorical, b: numeric, g: categorical, e: numeric}\n"
    "    label: y\n"
    "    prediction: p\n"
    "    id_field: id\n"
    "    time_field: ts\n"
    "    dedup: 40\n"
    "    max_lateness_s: 3600\n"
    "    window: {type: sliding, size: 40, slide: 10}\n"
    "    reference: {size: 60, bins: 5}\n"
    "    drift: {psi: 0.2, ks_alpha: 0.01, cvm_alpha: 0.01, anderson_alpha: 0.01,\n"
    "            correction: bh, share: 0.3}\n"
    "    trigger: {consecutive: 2, of_last: 3, cooldown_windows: 2, volume: 120,\n"
    "              critical_share: 0.6, resolve_after: 2}\n"
    "    multivariate: {tests: [hotelling, correlation, pca, mmd], correlation_threshold: 0.5,\n"
    "                   mmd_sample: 16, mmd_permutations: 8}\n"
    "    learner: {categorical: onehot, on_drift: shadow, shadow_window: 400,\n"
    "              publish_every: 40}\n"
    "    performance: {detector: adwin, cooldown_pairs: 40, window: 25}\n"
    "    labels: {topic: lab, time_field: lt, ttl_s: 900, max_pending: 48}\n";

#define BATCH 16
#ifndef REBASELINE_FEED
#define REBASELINE_FEED 20 /* events fed after a re-baseline, before the state is saved */
#endif

static apr_pool_t *root;
static const struct drift_stream_conf *sc;
static int verbose; /* FUZZ_PIPELINE_STATE_VERBOSE: what each load said */

/* ---------------------------------------------------------------------------------------------
 * Events
 * -------------------------------------------------------------------------------------------*/
struct gen {
    uint64_t rng;
    uint64_t i;                /* next event */
    struct {
        uint64_t id;
        int y;
        double ts;
        uint64_t due;
    } owed[32];                /* labels to send on the labels topic, when due */
    int nowed;
};

static double unif(struct gen *g)
{
    g->rng = g->rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((g->rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(struct gen *g)
{
    return sqrt(-2 * log(unif(g))) * cos(6.283185307179586 * unif(g));
}

static unsigned hooks_seen; /* touched so the hooks read what they get (wraps freely) */

static void on_ref(void *ctx, const char *s, uint64_t n)
{
    hooks_seen += (unsigned)strlen(s) + (unsigned)(n & 1);
}

static void on_window(void *ctx, const struct drift_window_report *w)
{
    for (int f = 0; f < w->nfeatures; f++) {
        hooks_seen += (unsigned)strlen(w->features[f].name) + (unsigned)w->features[f].drifted;
    }
    for (int q = 0; q < w->nparts; q++) {
        hooks_seen += (unsigned)w->parts[q] + (unsigned)w->first_off[q] + (unsigned)w->last_off[q];
    }
}

static void on_trigger(void *ctx, const struct drift_trigger *t)
{
    hooks_seen += (unsigned)strlen(t->payload) + (int)strlen(t->idem_key);
}

static void on_model(void *ctx, const char *s, const char *topic, const char *json)
{
    hooks_seen += (unsigned)strlen(json);
}

static void on_perf(void *ctx, const struct drift_perf_window *w)
{
    hooks_seen += (int)w->pairs;
}

static const struct drift_pipeline_hooks hooks = {NULL,       on_ref,   on_window, on_trigger,
                                                  on_model,   NULL,     on_perf};

/* One event into p's batch (a full batch is pushed); every few events a label event of the
 * labels topic. From event 250 on the features drift, from 400 the labels turn against the
 * model's predictions (concept drift). */
static void feed_one(struct drift_pipeline *p, struct gen *g)
{
    uint64_t i = g->i++;
    double a = gauss(g), b = gauss(g), e = gauss(g);
    if (i >= 250) {
        a += 1.5;
        b = 0.7 * a + 0.3 * b;
    }
    static const char *const cs[] = {"x", "y", "z"};
    const char *c = cs[(int)(unif(g) * (i >= 250 ? 3 : 2))];
    char gv[16];
    snprintf(gv, sizeof(gv), "g%d", (int)(unif(g) * (i >= 300 ? 12 : 8)));
    double served = 1.5 * a - b, truth = i >= 400 ? -served : served;
    int y = unif(g) < 1 / (1 + exp(-truth));
    /* every 23rd repeats an earlier id (a duplicate), every 37th is two hours late, every
     * 41st is a day ahead (bad_time unless confirmed) */
    uint64_t id = i % 23 == 22 ? i - 4 : i;
    double ts = 1.7e9 + (double)i;
    if (i % 37 == 36) {
        ts -= 7200;
    } else if (i % 41 == 40) {
        ts += 86400;
    }
    int labelled = unif(g) < 0.5;
    char ebuf[24], lbuf[16];
    if (i % 13 == 5) {
        snprintf(ebuf, sizeof(ebuf), "null");
    } else {
        snprintf(ebuf, sizeof(ebuf), "%.5f", e);
    }
    if (labelled) {
        snprintf(lbuf, sizeof(lbuf), ",\"y\":%d", y);
    } else {
        lbuf[0] = '\0';
    }
    char msg[300];
    int n = snprintf(msg, sizeof(msg),
                     "{\"id\":\"e%llu\",\"ts\":%.1f,\"a\":%.5f,\"b\":%.5f,\"e\":%s,\"c\":\"%s\","
                     "\"g\":\"%s\",\"p\":%.5f%s}",
                     (unsigned long long)id, ts, a, b, ebuf, c, gv, 1 / (1 + exp(-served)), lbuf);
    struct drift_batch *bt = drift_pipeline_batch(p);
    size_t row = bt->n;
    int bad;
    const char *detail;
    if (drift_decode(drift_pipeline_decoder(p), msg, (size_t)n, bt, &bad, &detail) != 0) {
        drift_pipeline_count_bad(p, bad);
    } else {
        bt->part[row] = (int32_t)(i % 3);
        bt->off[row] = (int64_t)(i / 3);
        if (bt->n == bt->cap) {
            drift_pipeline_push(p);
        }
        if (!labelled && g->nowed < 32) {
            g->owed[g->nowed].id = id;
            g->owed[g->nowed].y = y;
            g->owed[g->nowed].ts = ts + 3;
            g->owed[g->nowed].due = i + 3 + i % 7;
            g->nowed++;
        }
    }
    /* the labels that are due; now and then one for an id never seen, or a bad one */
    for (int k = 0; k < g->nowed;) {
        if (g->owed[k].due > i) {
            k++;
            continue;
        }
        char lab[160];
        int ln;
        if (i % 29 == 3) {
            ln = snprintf(lab, sizeof(lab), "{\"id\":\"never%llu\",\"y\":1}",
                          (unsigned long long)i);
        } else if (i % 31 == 7) {
            ln = snprintf(lab, sizeof(lab), "{\"id\":\"e%llu\",\"y\":7}",
                          (unsigned long long)g->owed[k].id);
        } else {
            ln = snprintf(lab, sizeof(lab), "{\"id\":\"e%llu\",\"y\":%d,\"lt\":%.1f}",
                          (unsigned long long)g->owed[k].id, g->owed[k].y, g->owed[k].ts);
        }
        const char *why;
        drift_pipeline_label(p, lab, (size_t)ln, 0, (int64_t)i, &why);
        g->owed[k] = g->owed[--g->nowed];
    }
}

static struct drift_pipeline *create(void)
{
    char err[256];
    struct drift_pipeline *p = drift_pipeline_create(root, sc, BATCH, ".", &hooks, err,
                                                     sizeof(err));
    if (p == NULL) {
        fprintf(stderr, "fuzz_pipeline_state: create: %s\n", err);
        abort();
    }
    return p;
}

static void destroy(struct drift_pipeline *p)
{
    apr_pool_destroy(drift_pipeline_pool(p));
}

/* ---------------------------------------------------------------------------------------------
 * Parts
 * -------------------------------------------------------------------------------------------*/
static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

/* Writes the trailer of a part of len bytes (trailer included). */
static void seal(unsigned char *b, size_t len)
{
    uint64_t sum = checksum(b, len - TRAILER);
    memcpy(b + len - TRAILER, &sum, 8);
}

/* A part of the given kind around body[0..n): malloc'd, exactly sized (so that ASan sees any
 * read past its end). */
static unsigned char *wrap(int part, const unsigned char *body, size_t n, size_t *len)
{
    *len = HDR + n + TRAILER;
    unsigned char *b = malloc(*len);
    uint32_t hdr[4] = {STATE_MAGIC, STATE_VERSION, (uint32_t)part, 0};
    memcpy(b, hdr, HDR);
    if (n > 0) {
        memcpy(b + HDR, body, n);
    }
    seal(b, *len);
    return b;
}

struct sec {
    size_t body, len; /* offset of the section's body in its part, and its length */
};

struct base {
    unsigned char *ref, *live;
    size_t reflen, livelen;
    struct sec secs[SEC_COUNT]; /* live sections by tag; [SEC_REFERENCE] in ref */
};
static struct base bases[2];

static void index_part(const unsigned char *b, size_t len, struct sec *secs)
{
    size_t off = HDR;
    while (off + SECHDR <= len - TRAILER) {
        uint32_t tag;
        uint64_t n;
        memcpy(&tag, b + off, 4);
        memcpy(&n, b + off + 16, 8);
        if (tag > 0 && tag < SEC_COUNT) {
            secs[tag] = (struct sec){off + SECHDR, (size_t)n};
        }
        off += SECHDR + (size_t)n;
    }
    if (off != len - TRAILER) {
        fprintf(stderr, "fuzz_pipeline_state: cannot index a saved part\n");
        abort();
    }
}

/* Pushes what waits in the batch, then saves both parts. */
static void save_both(struct drift_pipeline *p, unsigned char **ref, size_t *reflen,
                      unsigned char **live, size_t *livelen)
{
    if (drift_pipeline_batch(p)->n > 0) {
        drift_pipeline_push(p);
    }
    if (drift_pipeline_save(p, DRIFT_STATE_REFERENCE, ref, reflen) != 0 ||
        drift_pipeline_save(p, DRIFT_STATE_LIVE, live, livelen) != 0) {
        __builtin_trap();
    }
}

/* The shadow flag of a saved learner section (1: a shadow on trial). */
static int has_shadow(const unsigned char *live, const struct sec *s)
{
    const unsigned char *q = live + s->body;
    uint64_t has, ld, n, shadow;
    memcpy(&has, q, 8);
    if (!has) {
        return 0;
    }
    memcpy(&ld, q + 8, 8);
    q += 16 + 2 * ld * 8;
    memcpy(&n, q, 8);
    memcpy(&shadow, q + 8 + n, 8);
    return (int)shadow;
}

/* ---------------------------------------------------------------------------------------------
 * The property of an accepted load
 * -------------------------------------------------------------------------------------------*/
static const char full[] = "kept=counters,categories,reference,windows,policy,learner,"
                           "performance fresh=-";

static void check_usable(struct drift_pipeline *p, unsigned flags)
{
    struct gen g = {.rng = 99, .i = 900};
    for (int i = 0; i < 45; i++) {
        feed_one(p, &g);
    }
    if (flags & 1) {
        drift_pipeline_publish(p, "request");
    }
    if (flags & 2) {
        /* a model deployment: the next 60 events make a new reference, then the windows start
         * over; the state is saved in the middle of that warm-up (the panes are empty, the
         * learner is kept: a load must agree) */
        drift_pipeline_rebaseline(p, "v2");
        for (int i = 0; i < REBASELINE_FEED; i++) {
            feed_one(p, &g);
        }
    }
    drift_pipeline_expire(p);
    struct drift_join_stats js;
    drift_pipeline_join_stats(p, &js);
    struct drift_pipeline_stats st;
    drift_pipeline_stats(p, &st);

    unsigned char *ref, *live, *ref2, *live2;
    size_t reflen, livelen, reflen2, livelen2;
    save_both(p, &ref, &reflen, &live, &livelen);
    struct drift_pipeline *q = create();
    char what[256] = "";
    if (drift_pipeline_load(q, ref, reflen, live, livelen, what, sizeof(what)) != 0 ||
        strcmp(what, full) != 0) {
        fprintf(stderr, "fuzz_pipeline_state: a saved state does not load back: %s\n", what);
        __builtin_trap();
    }
    save_both(q, &ref2, &reflen2, &live2, &livelen2);
    if (reflen2 != reflen || memcmp(ref, ref2, reflen) != 0) {
        size_t at = 0;
        while (at < reflen && at < reflen2 && ref[at] == ref2[at]) {
            at++;
        }
        fprintf(stderr, "fuzz_pipeline_state: the reference part saves differently after a "
                        "load (%zu vs %zu bytes, first difference at %zu)\n", reflen, reflen2,
                at);
        __builtin_trap();
    }
    if (livelen2 != livelen || memcmp(live, live2, livelen) != 0) {
        size_t at = 0;
        while (at < livelen && at < livelen2 && live[at] == live2[at]) {
            at++;
        }
        fprintf(stderr, "fuzz_pipeline_state: the live part saves differently after a load "
                        "(%zu vs %zu bytes, first difference at %zu)\n", livelen, livelen2, at);
        __builtin_trap();
    }
    free(ref);
    free(live);
    free(ref2);
    free(live2);
    destroy(q);
}

/* ---------------------------------------------------------------------------------------------
 * Start
 * -------------------------------------------------------------------------------------------*/
static void config_error(void *ctx, const char *msg)
{
    fprintf(stderr, "fuzz_pipeline_state: config: %s\n", msg);
}

static void write_seed(const char *dir, const char *name, unsigned char mode,
                       const unsigned char *pre, size_t npre, const unsigned char *body,
                       size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fwrite(&mode, 1, 1, f);
    fwrite(pre, 1, npre, f);
    fwrite(body, 1, n, f);
    fclose(f);
}

static void write_seeds(const char *dir)
{
    static const char *const names[SEC_COUNT] = {
        [SEC_CORE] = "core", [SEC_DECODER] = "decoder", [SEC_REFERENCE] = "reference",
        [SEC_WINDOWS] = "windows", [SEC_POLICY] = "policy", [SEC_LEARNER] = "learner",
        [SEC_PERFORMANCE] = "performance"};
    for (int bi = 0; bi < 2; bi++) {
        const struct base *b = &bases[bi];
        unsigned char sel = (unsigned char)(bi << 3);
        char name[64];
        snprintf(name, sizeof(name), "%s_live_body", bi ? "running" : "warmup");
        write_seed(dir, name, 0 | sel, NULL, 0, b->live + HDR, b->livelen - HDR - TRAILER);
        snprintf(name, sizeof(name), "%s_ref_body", bi ? "running" : "warmup");
        write_seed(dir, name, 1 | sel, NULL, 0, b->ref + HDR, b->reflen - HDR - TRAILER);
        if (bi == 0) {
            continue;
        }
        /* one splice seed per section: the whole body replaced by itself */
        static const int idx[SEC_COUNT] = {[SEC_CORE] = 0,    [SEC_DECODER] = 1,
                                           [SEC_WINDOWS] = 2, [SEC_POLICY] = 3,
                                           [SEC_LEARNER] = 4, [SEC_PERFORMANCE] = 5};
        for (int t = 1; t < SEC_COUNT; t++) {
            const unsigned char *part = t == SEC_REFERENCE ? b->ref : b->live;
            const struct sec *s = &b->secs[t];
            unsigned char pre[5] = {(unsigned char)idx[t], 0, 0, (unsigned char)(s->len & 0xff),
                                    (unsigned char)(s->len >> 8)};
            snprintf(name, sizeof(name), "running_splice_%s", names[t]);
            write_seed(dir, name, (t == SEC_REFERENCE ? 5 : 4) | sel, pre, sizeof(pre),
                       part + s->body, s->len);
        }
        /* a few bytes over the policy section's streak of drift windows */
        unsigned char pre[5];
        uint32_t at = (uint32_t)b->secs[SEC_POLICY].body;
        memcpy(pre, &at, 4);
        pre[4] = 0;
        write_seed(dir, "running_overwrite_policy", 2 | sel, pre, sizeof(pre),
                   (const unsigned char *)"\x01\0\0\0\0\0\0\0", 8);
        /* both bodies: the reference's, then the live part's */
        size_t rn = b->reflen - HDR - TRAILER, ln = b->livelen - HDR - TRAILER;
        unsigned char *both = malloc(rn + ln);
        memcpy(both, b->ref + HDR, rn);
        memcpy(both + rn, b->live + HDR, ln);
        unsigned char cut[2] = {(unsigned char)(rn & 0xff), (unsigned char)(rn >> 8)};
        write_seed(dir, "running_both_bodies", 6 | sel, cut, 2, both, rn + ln);
        free(both);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    openblas_set_num_threads(1);
    apr_initialize();
    apr_pool_create(&root, NULL);
    apr_pool_t *cpool;
    apr_pool_create(&cpool, root);
    struct drift_config *cfg = NULL;
    if (drift_config_load_buffer(cpool, "fuzz_pipeline_state.yaml", yaml, sizeof(yaml) - 1, &cfg,
                                 config_error, NULL) != 0) {
        abort();
    }
    sc = &cfg->streams[0];

    /* base 0: in the warm-up; base 1: running, with a shadow learner on trial, an alert open and
     * predictions waiting for labels */
    struct gen g = {.rng = 7};
    struct drift_pipeline *p = create();
    for (int i = 0; i < 37; i++) {
        feed_one(p, &g);
    }
    save_both(p, &bases[0].ref, &bases[0].reflen, &bases[0].live, &bases[0].livelen);
    int found = 0;
    while (g.i < 5000 && !found) {
        for (int i = 0; i < 7; i++) {
            feed_one(p, &g);
        }
        unsigned char *ref, *live;
        size_t reflen, livelen;
        save_both(p, &ref, &reflen, &live, &livelen);
        struct sec secs[SEC_COUNT] = {{0}};
        index_part(live, livelen, secs);
        struct drift_pipeline_stats st;
        drift_pipeline_stats(p, &st);
        struct drift_join_stats js;
        drift_pipeline_join_stats(p, &js);
        if (has_shadow(live, &secs[SEC_LEARNER]) && st.triggers > 0 && js.pending > 0 &&
            st.performance_triggers > 0 && st.model_updates > 0) {
            bases[1] = (struct base){ref, live, reflen, livelen, {{0}}};
            found = 1;
        } else {
            free(ref);
            free(live);
        }
    }
    if (!found) {
        fprintf(stderr, "fuzz_pipeline_state: no state with a shadow learner after %llu events\n",
                (unsigned long long)g.i);
        abort();
    }
    struct drift_pipeline_stats st;
    drift_pipeline_stats(p, &st);
    destroy(p);
    for (int bi = 0; bi < 2; bi++) {
        struct base *b = &bases[bi];
        index_part(b->live, b->livelen, b->secs);
        struct sec rs[SEC_COUNT] = {{0}};
        index_part(b->ref, b->reflen, rs);
        b->secs[SEC_REFERENCE] = rs[SEC_REFERENCE];
        /* the real parts load completely and save the same bytes */
        p = create();
        char what[256] = "";
        if (drift_pipeline_load(p, b->ref, b->reflen, b->live, b->livelen, what, sizeof(what)) !=
                0 ||
            strcmp(what, full) != 0) {
            fprintf(stderr, "fuzz_pipeline_state: base %d does not load: %s\n", bi, what);
            abort();
        }
        unsigned char *ref, *live;
        size_t reflen, livelen;
        save_both(p, &ref, &reflen, &live, &livelen);
        if (reflen != b->reflen || livelen != b->livelen || memcmp(ref, b->ref, reflen) != 0 ||
            memcmp(live, b->live, livelen) != 0) {
            fprintf(stderr, "fuzz_pipeline_state: base %d saves differently after a load\n", bi);
            abort();
        }
        free(ref);
        free(live);
        destroy(p);
    }
    const char *seeds = getenv("FUZZ_PIPELINE_STATE_SEEDS");
    verbose = getenv("FUZZ_PIPELINE_STATE_VERBOSE") != NULL;
    if (verbose || seeds != NULL) {
        fprintf(stderr,
                "fuzz_pipeline_state: base 0: %zu + %zu bytes; base 1 after %llu events: %zu + "
                "%zu bytes (windows %llu, triggers %llu, performance triggers %llu, model updates "
                "%llu, swaps %llu)\n",
                bases[0].reflen, bases[0].livelen, (unsigned long long)g.i, bases[1].reflen,
                bases[1].livelen, (unsigned long long)st.windows, (unsigned long long)st.triggers,
                (unsigned long long)st.performance_triggers,
                (unsigned long long)st.model_updates, (unsigned long long)st.learner_swaps);
        for (int t = 1; t < SEC_COUNT; t++) {
            fprintf(stderr, "  section %d at %zu, %zu bytes\n", t, bases[1].secs[t].body,
                    bases[1].secs[t].len);
        }
    }
    if (seeds != NULL) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * One input
 * -------------------------------------------------------------------------------------------*/
static uint32_t le16(const uint8_t *d)
{
    return (uint32_t)d[0] | (uint32_t)d[1] << 8;
}

static uint32_t le32(const uint8_t *d)
{
    return le16(d) | le16(d + 2) << 16;
}

/* A copy of part (len bytes) with m bytes at at replaced by ins[0..n), resealed. */
static unsigned char *splice(const unsigned char *part, size_t len, size_t at, size_t m,
                             const uint8_t *ins, size_t n, size_t *outlen)
{
    *outlen = len - m + n;
    unsigned char *b = malloc(*outlen > 0 ? *outlen : 1);
    memcpy(b, part, at);
    if (n > 0) {
        memcpy(b + at, ins, n);
    }
    memcpy(b + at + n, part + at + m, len - at - m);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    unsigned mode = data[0] & 7, sel = data[0] >> 3 & 1, nopart = data[0] >> 4 & 1,
             flags = data[0] >> 5;
    data++;
    size--;
    const struct base *b = &bases[sel];
    const unsigned char *ref = nopart ? NULL : b->ref, *live = b->live;
    size_t reflen = nopart ? 0 : b->reflen, livelen = b->livelen;
    unsigned char *own_ref = NULL, *own_live = NULL;

    switch (mode) {
    case 0:
        live = own_live = wrap(DRIFT_STATE_LIVE, data, size, &livelen);
        break;
    case 1:
        ref = own_ref = wrap(DRIFT_STATE_REFERENCE, data, size, &reflen);
        if (nopart) {
            live = NULL;
            livelen = 0;
        }
        break;
    case 2:
    case 3: {
        /* offset (4 bytes), then how: 0-1 overwrite, 2 insert, 3 delete (2 bytes: how many)
         * and insert */
        if (size < 5) {
            return 0;
        }
        const unsigned char *part = mode == 2 ? b->live : b->ref;
        size_t len = mode == 2 ? b->livelen : b->reflen;
        size_t body = len - TRAILER;
        size_t at = le32(data) % body;
        unsigned how = data[4] & 3;
        data += 5;
        size -= 5;
        size_t m = 0;
        if (how <= 1) {
            m = size < body - at ? size : body - at;
        } else if (how == 3 && size >= 2) {
            m = le16(data) % (body - at + 1);
            data += 2;
            size -= 2;
        }
        size_t outlen;
        unsigned char *o = splice(part, len, at, m, data, size, &outlen);
        seal(o, outlen);
        if (mode == 2) {
            live = own_live = o;
            livelen = outlen;
        } else {
            ref = own_ref = o;
            reflen = outlen;
        }
        break;
    }
    case 4:
    case 5: {
        /* section tag (mode 4), where in its body (2 bytes), how many bytes are replaced (2
         * bytes), then the bytes that replace them; the section's length is patched */
        if (size < 5) {
            return 0;
        }
        int tag = SEC_REFERENCE;
        if (mode == 4) {
            static const int live_tags[] = {SEC_CORE, SEC_DECODER, SEC_WINDOWS, SEC_POLICY,
                                            SEC_LEARNER, SEC_PERFORMANCE};
            tag = live_tags[data[0] % 6];
        }
        const struct sec *s = &b->secs[tag];
        size_t at = le16(data + 1) % (s->len + 1);
        size_t m = le16(data + 3) % (s->len - at + 1);
        data += 5;
        size -= 5;
        const unsigned char *part = mode == 4 ? b->live : b->ref;
        size_t len = mode == 4 ? b->livelen : b->reflen;
        size_t outlen;
        unsigned char *o = splice(part, len, s->body + at, m, data, size, &outlen);
        uint64_t n = s->len - m + size;
        memcpy(o + s->body - 8, &n, 8);
        seal(o, outlen);
        if (mode == 4) {
            live = own_live = o;
            livelen = outlen;
        } else {
            ref = own_ref = o;
            reflen = outlen;
        }
        break;
    }
    case 6: {
        if (size < 2) {
            return 0;
        }
        size_t cut = le16(data) % (size - 1);
        ref = own_ref = wrap(DRIFT_STATE_REFERENCE, data + 2, cut, &reflen);
        live = own_live = wrap(DRIFT_STATE_LIVE, data + 2 + cut, size - 2 - cut, &livelen);
        break;
    }
    default: /* 7: the input as the live part, checksum and all (mostly refused there) */
        live = own_live = malloc(size > 0 ? size : 1);
        if (size > 0) {
            memcpy(own_live, data, size);
        }
        livelen = size;
        break;
    }

    struct drift_pipeline *p = create();
    char what[256];
    memset(what, 'x', sizeof(what));
    int rc = drift_pipeline_load(p, ref, reflen, live, livelen, what, sizeof(what));
    if (memchr(what, '\0', sizeof(what)) == NULL) {
        __builtin_trap();
    }
    if (verbose) {
        fprintf(stderr, "fuzz_pipeline_state: mode %u base %u: load %d: %s\n", mode, sel, rc,
                what);
    }
    if (rc == 0) {
        if (strncmp(what, "kept=", 5) != 0) {
            __builtin_trap();
        }
        check_usable(p, flags);
    } else if (rc != DRIFT_ESTATE || what[0] == '\0') {
        __builtin_trap();
    }
    destroy(p);
    free(own_ref);
    free(own_live);
    return 0;
}
