/*
 * KSWIN, Kolmogorov-Smirnov windowing (Raab et al. 2020), after River's river.drift.KSWIN
 * (river/drift/kswin.py, River 0.21/0.22). Written from a reading of that source:
 *
 *  - A sliding window of the last window_size values (oldest first). Each value is appended;
 *    once the window holds window_size values, every update runs the test:
 *      W = stat_size values drawn uniformly WITHOUT replacement from the older
 *          window_size - stat_size positions (River: rng.sample(range(window_size - stat_size),
 *          stat_size) with rng = random.Random(seed));
 *      R = the stat_size most recent values;
 *      (D, p) = two-sample two-sided KS test of W against R (River: scipy.stats.ks_2samp,
 *          method "auto", which is exact at these sizes: max(n, m) <= 10000).
 *    Drift when p <= alpha and D > 0.1. Before the window is full the flag is false.
 *  - After a drift the flag stays set for that update; the next update first resets: the window
 *    is emptied, the generator re-seeded with seed, the count zeroed; then the value is added,
 *    so the next test needs window_size new values. (River also trims the window to the most
 *    recent stat_size values at the drift itself, but the reset of the next update empties it
 *    before anyone can see that; we keep the window as it was.)
 *  - River's checks: alpha in [0, 1], stat_size <= window_size. rng.sample also needs
 *    window_size - stat_size >= stat_size (Python raises otherwise at the first test); ours
 *    checks that at create: window_size >= 2 * stat_size, stat_size >= 1.
 *
 * Differences, by choice:
 *  - The sample is drawn with our own generator (xoshiro256**, seeded through splitmix64 from
 *    seed; a partial Fisher-Yates shuffle of the older positions with unbiased bounded draws),
 *    not Python's Mersenne Twister, so individual detections differ from River's wherever the
 *    sample matters. seed defaults to 42: runs are reproducible (River's default None draws a
 *    fresh OS seed on every reset).
 *  - The p-value is our KS statistic's (drift_stat_find("ks"), scipy's rule: exact path count
 *    for these sizes); D is the exact sup distance, ties included, as scipy computes it.
 *  - River's `window` parameter (values to start with) is not offered: parameters are
 *    KEY=VALUE text.
 *  - NaN and ±inf are ignored: update returns 0 and changes nothing (a pending reset waits for
 *    the next finite value).
 *
 * Memory: the window, the index scratch and the two sorted samples are allocated at create;
 * update never allocates: the exact KS p-value (operators/tests/ks.c) keeps its stat_size + 1
 * doubles of scratch on the stack up to stat_size 1023 (larger ones malloc; should that fail,
 * the test counts as "no drift").
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

struct kswin_params {
    double alpha;
    long long window_size;
    long long stat_size;
    long long seed;
};

struct drift_detector {
    struct kswin_params p;
    const struct drift_stat_ops *ks;
    size_t w, s;     /* window_size, stat_size */
    double *win;     /* ring of w values; the oldest at head */
    size_t head, count;
    uint64_t n;      /* values since the last reset (River's self.n) */
    uint64_t rng[4]; /* xoshiro256** */
    double p_value, statistic; /* of the last test (River's self.p_value); 0 before any */
    int drift;
    /* scratch, allocated at create */
    uint32_t *idx;   /* w - s positions */
    double *a, *b;   /* s values each */
    uint64_t *k0, *k1;
};

#define MAX_WINDOW 1000000

static const struct drift_param_spec kswin_spec[] = {
    {"alpha", DRIFT_PARAM_NUM, "0.005", 0.0, 1.0, 0, NULL, offsetof(struct kswin_params, alpha)},
    {"window_size", DRIFT_PARAM_INT, "100", 2.0, MAX_WINDOW, 0, NULL,
     offsetof(struct kswin_params, window_size)},
    {"stat_size", DRIFT_PARAM_INT, "30", 1.0, MAX_WINDOW / 2, 0, NULL,
     offsetof(struct kswin_params, stat_size)},
    {"seed", DRIFT_PARAM_INT, "42", 0.0, 9007199254740992.0, 0, NULL,
     offsetof(struct kswin_params, seed)},
};
#define NSPEC ((int)(sizeof(kswin_spec) / sizeof(kswin_spec[0])))

/* ---- xoshiro256** (Blackman & Vigna), seeded by splitmix64 ---------------------------------- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        s[i] = splitmix64(&x);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, range), range >= 1, without modulo bias. */
static uint64_t rng_below(uint64_t s[4], uint64_t range)
{
    uint64_t t = (0 - range) % range; /* 2^64 mod range */
    for (;;) {
        uint64_t r = rng_next(s);
        if (r >= t) {
            return r % range;
        }
    }
}

static void fresh(struct drift_detector *d)
{
    d->head = d->count = 0;
    d->n = 0;
    rng_seed(d->rng, (uint64_t)d->p.seed);
    d->p_value = d->statistic = 0.0;
    d->drift = 0;
}

static void kswin_destroy(struct drift_detector *d)
{
    if (d != NULL) {
        free(d->win);
        free(d->idx);
        free(d->a);
        free(d->b);
        free(d->k0);
        free(d->k1);
        free(d);
    }
}

static struct drift_detector *kswin_create(const struct drift_param *p, int np, char *err,
                                           size_t errlen)
{
    struct kswin_params prm;
    if (drift_params_parse("kswin", kswin_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    if (prm.window_size < 2 * prm.stat_size) {
        drift_seterr(err, errlen, DRIFT_EINVAL,
                     "kswin: window_size must be at least 2 * stat_size (the sample of stat_size "
                     "is drawn from the window_size - stat_size older values), got "
                     "window_size=%lld, stat_size=%lld",
                     prm.window_size, prm.stat_size);
        return NULL;
    }
    const struct drift_stat_ops *ks = drift_stat_find("ks");
    if (ks == NULL) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "kswin: the ks statistic is not available");
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "kswin: out of memory");
        return NULL;
    }
    d->p = prm;
    d->ks = ks;
    d->w = (size_t)prm.window_size;
    d->s = (size_t)prm.stat_size;
    d->win = calloc(d->w, sizeof(double));
    d->idx = calloc(d->w - d->s, sizeof(uint32_t));
    d->a = calloc(d->s, sizeof(double));
    d->b = calloc(d->s, sizeof(double));
    d->k0 = calloc(d->s, sizeof(uint64_t));
    d->k1 = calloc(d->s, sizeof(uint64_t));
    if (!d->win || !d->idx || !d->a || !d->b || !d->k0 || !d->k1) {
        kswin_destroy(d);
        drift_seterr(err, errlen, DRIFT_ENOMEM, "kswin: out of memory");
        return NULL;
    }
    fresh(d);
    return d;
}

static inline double at(const struct drift_detector *d, size_t i) /* i-th oldest */
{
    size_t j = d->head + i;
    return d->win[j >= d->w ? j - d->w : j];
}

static int kswin_update(struct drift_detector *d, double x)
{
    if (!isfinite(x)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    d->n++;
    if (d->count < d->w) {
        size_t j = d->head + d->count;
        d->win[j >= d->w ? j - d->w : j] = x;
        d->count++;
    } else {
        d->win[d->head] = x;
        d->head = d->head + 1 == d->w ? 0 : d->head + 1;
    }
    if (d->count < d->w) {
        d->drift = 0;
        return 0;
    }
    size_t older = d->w - d->s;
    for (size_t i = 0; i < older; i++) {
        d->idx[i] = (uint32_t)i;
    }
    for (size_t j = 0; j < d->s; j++) { /* partial Fisher-Yates: idx[0..s) is the sample */
        size_t r = j + (size_t)rng_below(d->rng, (uint64_t)(older - j));
        uint32_t t = d->idx[j];
        d->idx[j] = d->idx[r];
        d->idx[r] = t;
        d->a[j] = at(d, d->idx[j]);
        d->b[j] = at(d, older + j);
    }
    drift_sort_doubles(d->a, d->s, d->k0, d->k1);
    drift_sort_doubles(d->b, d->s, d->k0, d->k1);
    struct drift_colsum ca = {0}, cb = {0};
    ca.sorted = d->a;
    ca.nsorted = d->s;
    cb.sorted = d->b;
    cb.nsorted = d->s;
    struct drift_stat_params sp = {0};
    sp.threshold = d->p.alpha > 0 ? d->p.alpha : 0.01;
    sp.ks_exact_cells = 0; /* scipy's rule */
    struct drift_stat_result res;
    memset(&res, 0, sizeof(res));
    if (d->ks->compare(&ca, &cb, &sp, &res) != 0) {
        d->drift = 0;
        return 0;
    }
    d->p_value = res.pvalue;
    d->statistic = res.statistic;
    d->drift = d->p_value <= d->p.alpha && d->statistic > 0.1;
    return d->drift ? DRIFT_DETECT_DRIFT : 0;
}

/* Saved state, native byte order:
 *   "KSW1" u32 version | f64 alpha | i64 window_size stat_size seed | u32 drift | u32 pad 0
 *   | u64 n count | u64 rng[4] | f64 p_value statistic | f64 window[window_size]: the count
 *   values oldest first, then zeros */
#define SAVE_MAGIC "KSW1"
#define SAVE_VERSION 1u
#define SAVE_HEAD (4 + 4 + 8 + 3 * 8 + 4 + 4 + 2 * 8 + 4 * 8 + 2 * 8)

static void put(unsigned char **o, const void *v, size_t n)
{
    memcpy(*o, v, n);
    *o += n;
}

static void get(const unsigned char **i, void *v, size_t n)
{
    memcpy(v, *i, n);
    *i += n;
}

static size_t kswin_save(const struct drift_detector *d, void *buf, size_t len)
{
    size_t need = SAVE_HEAD + d->w * 8;
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION, drift = d->drift ? 1u : 0u, pad = 0;
    int64_t ws = d->p.window_size, ss = d->p.stat_size, seed = d->p.seed;
    uint64_t count = d->count;
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &d->p.alpha, 8);
    put(&o, &ws, 8);
    put(&o, &ss, 8);
    put(&o, &seed, 8);
    put(&o, &drift, 4);
    put(&o, &pad, 4);
    put(&o, &d->n, 8);
    put(&o, &count, 8);
    put(&o, d->rng, 32);
    put(&o, &d->p_value, 8);
    put(&o, &d->statistic, 8);
    for (size_t i = 0; i < d->w; i++) {
        double v = i < d->count ? at(d, i) : 0.0;
        put(&o, &v, 8);
    }
    return need;
}

/* Checks everything before touching d: magic, version, the same parameters bit for bit,
 * count = min(n, window_size), a drift flag only with a full window, a generator state that is
 * not all zero, p_value and statistic in [0, 1], finite window values and zeros past count. */
static int kswin_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len != SAVE_HEAD + d->w * 8) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, drift, pad;
    int64_t ws, ss, seed;
    uint64_t n, count, rng[4];
    double alpha, pv, st;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &alpha, 8);
    get(&i, &ws, 8);
    get(&i, &ss, 8);
    get(&i, &seed, 8);
    get(&i, &drift, 4);
    get(&i, &pad, 4);
    get(&i, &n, 8);
    get(&i, &count, 8);
    get(&i, rng, 32);
    get(&i, &pv, 8);
    get(&i, &st, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION || pad != 0) {
        return DRIFT_ESTATE;
    }
    if (memcmp(&alpha, &d->p.alpha, 8) != 0 || ws != d->p.window_size ||
        ss != d->p.stat_size || seed != d->p.seed) {
        return DRIFT_ESTATE;
    }
    if (drift > 1 || count != (n < d->w ? n : d->w) || (drift && count != d->w) ||
        (rng[0] | rng[1] | rng[2] | rng[3]) == 0 || !(pv >= 0.0 && pv <= 1.0) ||
        !(st >= 0.0 && st <= 1.0)) {
        return DRIFT_ESTATE;
    }
    const unsigned char *vals = i;
    for (size_t k = 0; k < d->w; k++) {
        double v;
        memcpy(&v, vals + 8 * k, 8);
        if (k < count ? !isfinite(v) : v != 0.0) {
            return DRIFT_ESTATE;
        }
    }
    for (size_t k = 0; k < d->w; k++) {
        memcpy(&d->win[k], vals + 8 * k, 8);
    }
    d->head = 0;
    d->count = (size_t)count;
    d->n = n;
    memcpy(d->rng, rng, sizeof(rng));
    d->p_value = pv;
    d->statistic = st;
    d->drift = (int)drift;
    return 0;
}

const struct drift_detector_ops drift_detector_kswin = {
    .name = "kswin",
    .description = "KSWIN (River's drift.KSWIN): KS test of the stat_size most recent values "
                   "against stat_size drawn from the older part of a sliding window; drift when "
                   "p <= alpha and D > 0.1 (seeded, reproducible sampling)",
    .params = "alpha=0.005, window_size=100, stat_size=30, seed=42",
    .create = kswin_create,
    .destroy = kswin_destroy,
    .update = kswin_update,
    .save = kswin_save,
    .load = kswin_load,
};
