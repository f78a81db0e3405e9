/*
 * A mergeable quantile sketch with a deterministic rank-error bound.
 *
 * The sketch is a stack of compactors in the manner of Manku–Rajagopalan–Lindsay and KLL: level
 * h holds fewer than k values, each standing for 2^h input values. When a level reaches k values
 * it is sorted and compacted: an odd one out (the largest) stays, and of each consecutive pair of
 * the rest one value goes up to level h+1 with twice the weight. Which one of the pair (offset 0
 * or 1) alternates per level, deterministically, so that a sketch is a function of its input and
 * errors tend to cancel.
 *
 * The bound. For any x, the pairs at or below x are a prefix of the sorted level; if that prefix
 * has an even number of values the compaction keeps exactly half of them and the weight at or
 * below x is unchanged; if odd, it moves by exactly 2^h. So every compaction changes every rank
 * by at most 2^h, and the sketch adds up 2^h over the compactions it performed (merges included:
 * the union inherits both sides' sums). That sum is a guaranteed bound on |estimated rank(x) -
 * true rank(x)| for every x at once, for this sketch's own history, not a probability. With n
 * values and capacity k it is about (n/k)·log2(n/k), i.e. a relative rank error of about
 * log2(n/k)/k (k = 1024, n = 1e6: below 1%); the error actually seen is far smaller, because the
 * alternating offsets cancel.
 *
 * Values that are NaN or ±inf are missing: counted, never sketched. drift_sketch_add allocates
 * only when the sketch grows a level (log2(n/k) times in all), and an allocation failure leaves
 * the sketch as it was; merge, weighted, quantiles and edges allocate scratch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define SKETCH_MAGIC 0x534b4431u /* "SKD1" */
#define SKETCH_VERSION 1u
#define MAX_LEVELS 64

struct drift_sketch {
    int k;                  /* capacity per level; even */
    int height;             /* levels in use */
    uint64_t n;             /* valid values absorbed */
    uint64_t missing;       /* NaN/±inf values */
    uint64_t rank_error;    /* sum of 2^h over compactions */
    double min, max;        /* exact extremes of the valid values */
    uint64_t offsets;       /* bit h: offset of level h's next compaction */
    int count[MAX_LEVELS];
    double *level[MAX_LEVELS]; /* k values each, allocated as the sketch grows */
    double *scratch;        /* 4k: a level being compacted */
    double *carry;          /* 2k: what the compaction sends up */
};

struct drift_sketch *drift_sketch_create(int k, char *err, size_t errlen)
{
    if (k < DRIFT_SKETCH_MIN_K || k > DRIFT_SKETCH_MAX_K || (k & 1)) {
        drift_seterr(err, errlen, DRIFT_EINVAL, "sketch capacity k must be an even number in "
                     "[%d, %d], got %d", DRIFT_SKETCH_MIN_K, DRIFT_SKETCH_MAX_K, k);
        return NULL;
    }
    struct drift_sketch *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->k = k;
        s->scratch = malloc((size_t)k * 4 * sizeof(double));
        s->carry = malloc((size_t)k * 2 * sizeof(double));
        s->level[0] = malloc((size_t)k * sizeof(double));
        s->height = 1;
    }
    if (s == NULL || s->scratch == NULL || s->carry == NULL || s->level[0] == NULL) {
        drift_sketch_destroy(s);
        drift_seterr(err, errlen, DRIFT_ENOMEM, "out of memory");
        return NULL;
    }
    drift_sketch_reset(s);
    return s;
}

void drift_sketch_destroy(struct drift_sketch *s)
{
    if (s == NULL) {
        return;
    }
    for (int h = 0; h < MAX_LEVELS; h++) {
        free(s->level[h]);
    }
    free(s->scratch);
    free(s->carry);
    free(s);
}

void drift_sketch_reset(struct drift_sketch *s)
{
    s->n = 0;
    s->missing = 0;
    s->rank_error = 0;
    s->offsets = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    memset(s->count, 0, sizeof(s->count));
}

int drift_sketch_k(const struct drift_sketch *s)
{
    return s->k;
}

uint64_t drift_sketch_count(const struct drift_sketch *s)
{
    return s->n;
}

uint64_t drift_sketch_missing(const struct drift_sketch *s)
{
    return s->missing;
}

uint64_t drift_sketch_rank_error(const struct drift_sketch *s)
{
    return s->rank_error;
}

size_t drift_sketch_retained(const struct drift_sketch *s)
{
    size_t r = 0;
    for (int h = 0; h < s->height; h++) {
        r += (size_t)s->count[h];
    }
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Makes sure levels [0, upto) have storage, so that a compaction never has to allocate midway
 * and a failure leaves the sketch as it was. */
static int ensure(struct drift_sketch *s, int upto)
{
    if (upto > MAX_LEVELS) {
        return DRIFT_ERANGE; /* more than 2^60 values: not reachable with a uint64_t count */
    }
    for (int h = 0; h < upto; h++) {
        if (s->level[h] == NULL) {
            s->level[h] = malloc((size_t)s->k * sizeof(double));
            if (s->level[h] == NULL) {
                return DRIFT_ENOMEM;
            }
        }
    }
    return 0;
}

/* scratch[0..m) holds level h's values plus what came up; stores it back into level h, compacting
 * (and carrying up, level after level) while a level reaches k. */
static void settle(struct drift_sketch *s, int h, size_t m)
{
    for (;;) {
        if (m < (size_t)s->k) {
            memcpy(s->level[h], s->scratch, m * sizeof(double));
            s->count[h] = (int)m;
            return;
        }
        if (h + 1 == s->height) {
            s->count[s->height++] = 0; /* storage ensured by the caller */
        }
        qsort(s->scratch, m, sizeof(double), cmp_double);
        size_t pairs = m / 2;
        int off = (int)((s->offsets >> h) & 1u);
        s->offsets ^= (uint64_t)1 << h;
        for (size_t i = 0; i < pairs; i++) {
            s->carry[i] = s->scratch[2 * i + (size_t)off];
        }
        s->count[h] = (int)(m & 1);
        if (m & 1) {
            s->level[h][0] = s->scratch[m - 1];
        }
        s->rank_error += (uint64_t)1 << h;
        h++;
        /* Next level: its own values, then the carry. */
        memcpy(s->scratch, s->level[h], (size_t)s->count[h] * sizeof(double));
        memcpy(s->scratch + s->count[h], s->carry, pairs * sizeof(double));
        m = (size_t)s->count[h] + pairs;
    }
}

int drift_sketch_add(struct drift_sketch *s, double x)
{
    if (!isfinite(x)) {
        s->missing++;
        return 0;
    }
    /* A full bottom level may cascade one level above the top: have it before changing s. */
    if (s->count[0] == s->k - 1) {
        int rc = ensure(s, s->height + 1);
        if (rc != 0) {
            return rc;
        }
    }
    s->n++;
    if (x < s->min) {
        s->min = x;
    }
    if (x > s->max) {
        s->max = x;
    }
    s->level[0][s->count[0]++] = x;
    if (s->count[0] < s->k) {
        return 0;
    }
    memcpy(s->scratch, s->level[0], (size_t)s->k * sizeof(double));
    settle(s, 0, (size_t)s->k);
    return 0;
}

int drift_sketch_merge(struct drift_sketch *dst, const struct drift_sketch *src)
{
    if (dst == src || dst->k != src->k) {
        return DRIFT_EINVAL;
    }
    /* A level takes at most (k-1) + (k-1) + half of the level below (< 4k) and sends up less
     * than 2k; above the taller input's top that dies out within two levels. */
    int top = dst->height > src->height ? dst->height : src->height;
    int rc = ensure(dst, top + 2 < MAX_LEVELS ? top + 2 : MAX_LEVELS);
    if (rc != 0) {
        return rc;
    }
    while (dst->height < src->height) {
        dst->count[dst->height++] = 0;
    }
    dst->n += src->n;
    dst->missing += src->missing;
    dst->rank_error += src->rank_error;
    dst->offsets ^= src->offsets; /* so that merging into an empty sketch is a copy */
    if (src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
    /* Level by level from the bottom: dst's values, src's, and what the level below carried up
     * (settle leaves that in dst's level, below k, or compacts it further). Each level holds at
     * most (k-1) + (k-1) + a carry of at most half of the level below, which stays under 4k. */
    for (int h = 0; h < src->height; h++) {
        size_t m = (size_t)dst->count[h];
        memcpy(dst->scratch, dst->level[h], m * sizeof(double));
        memcpy(dst->scratch + m, src->level[h], (size_t)src->count[h] * sizeof(double));
        m += (size_t)src->count[h];
        settle(dst, h, m);
    }
    return 0;
}

struct pair {
    double v;
    uint64_t w;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return (x->w > y->w) - (x->w < y->w);
}

int drift_sketch_weighted(const struct drift_sketch *s, double *values, uint64_t *weights)
{
    size_t r = drift_sketch_retained(s), i = 0;
    struct pair *pp = malloc((r ? r : 1) * sizeof(*pp));
    if (pp == NULL) {
        return DRIFT_ENOMEM;
    }
    for (int h = 0; h < s->height; h++) {
        for (int j = 0; j < s->count[h]; j++, i++) {
            pp[i] = (struct pair){s->level[h][j], (uint64_t)1 << h};
        }
    }
    qsort(pp, r, sizeof(*pp), cmp_pair);
    for (i = 0; i < r; i++) {
        values[i] = pp[i].v;
        weights[i] = pp[i].w;
    }
    free(pp);
    return (int)r;
}

double drift_sketch_rank(const struct drift_sketch *s, double x)
{
    if (isnan(x)) {
        return NAN;
    }
    uint64_t r = 0;
    for (int h = 0; h < s->height; h++) {
        uint64_t c = 0;
        for (int i = 0; i < s->count[h]; i++) {
            c += s->level[h][i] <= x;
        }
        r += c << h;
    }
    return (double)r;
}

double drift_sketch_cdf(const struct drift_sketch *s, double x)
{
    return s->n ? drift_sketch_rank(s, x) / (double)s->n : NAN;
}

/* The value at 0-based rank r: the first value whose cumulative weight c[i] exceeds r. */
static double at_rank(const double *v, const uint64_t *c, size_t m, uint64_t r)
{
    size_t lo = 0, hi = m - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c[mid] > r) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return v[lo];
}

int drift_sketch_quantiles(const struct drift_sketch *s, const double *q, int nq, double *out)
{
    if (s->n == 0) {
        for (int i = 0; i < nq; i++) {
            out[i] = NAN;
        }
        return 0;
    }
    size_t cap = drift_sketch_retained(s);
    double *v = malloc(cap * sizeof(double));
    uint64_t *c = malloc(cap * sizeof(uint64_t));
    int m = v != NULL && c != NULL ? drift_sketch_weighted(s, v, c) : DRIFT_ENOMEM;
    if (m < 0) {
        free(v);
        free(c);
        return m;
    }
    for (int i = 1; i < m; i++) {
        c[i] += c[i - 1];
    }
    for (int i = 0; i < nq; i++) {
        double qi = q[i];
        if (isnan(qi)) {
            out[i] = NAN;
            continue;
        }
        if (qi <= 0) {
            out[i] = s->min;
            continue;
        }
        if (qi >= 1) {
            out[i] = s->max;
            continue;
        }
        /* numpy's linear method on the expanded values: position q·(n-1); the extremes are
         * exact. */
        double pos = qi * (double)(s->n - 1);
        uint64_t lo = (uint64_t)floor(pos);
        double frac = pos - (double)lo;
        double a = lo == 0 ? s->min : at_rank(v, c, (size_t)m, lo);
        double b = lo + 1 >= s->n - 1 ? s->max : at_rank(v, c, (size_t)m, lo + 1);
        double d = b - a;
        out[i] = a == b ? a : frac >= 0.5 ? b - d * (1.0 - frac) : a + d * frac;
    }
    free(v);
    free(c);
    return 0;
}

int drift_sketch_edges(const struct drift_sketch *s, int nbins, double *edges)
{
    if (nbins < 1 || nbins > 100000) {
        return DRIFT_EINVAL;
    }
    if (s->n == 0 || nbins == 1) {
        return 0;
    }
    double *q = malloc((size_t)(nbins - 1) * sizeof(double));
    if (q == NULL) {
        return DRIFT_ENOMEM;
    }
    for (int i = 1; i < nbins; i++) {
        q[i - 1] = (double)i / (double)nbins;
    }
    int rc = drift_sketch_quantiles(s, q, nbins - 1, edges);
    free(q);
    if (rc != 0) {
        return rc;
    }
    int ne = 0;
    for (int i = 0; i < nbins - 1; i++) {
        if (ne == 0 || edges[i] > edges[ne - 1]) {
            edges[ne++] = edges[i];
        }
    }
    return ne;
}

/* ---------------------------------------------------------------------------------------------
 * State. Layout (host byte order): magic u32, version u32, k u32, height u32, n u64, missing
 * u64, rank_error u64, offsets u64, min f64, max f64, count[height] u32 (padded to 8 bytes),
 * then each level's values f64.
 * -------------------------------------------------------------------------------------------*/
#define HDR 64

static size_t counts_size(int height)
{
    return ((size_t)height * 4 + 7) & ~(size_t)7;
}

size_t drift_sketch_save(const struct drift_sketch *s, void *buf, size_t len)
{
    size_t need = HDR + counts_size(s->height) + drift_sketch_retained(s) * 8;
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *p = buf;
    memset(p, 0, HDR + counts_size(s->height));
    uint32_t h32[4] = {SKETCH_MAGIC, SKETCH_VERSION, (uint32_t)s->k, (uint32_t)s->height};
    uint64_t h64[4] = {s->n, s->missing, s->rank_error, s->offsets};
    memcpy(p, h32, 16);
    memcpy(p + 16, h64, 32);
    memcpy(p + 48, &s->min, 8);
    memcpy(p + 56, &s->max, 8);
    for (int h = 0; h < s->height; h++) {
        uint32_t c = (uint32_t)s->count[h];
        memcpy(p + HDR + (size_t)h * 4, &c, 4);
    }
    size_t o = HDR + counts_size(s->height);
    for (int h = 0; h < s->height; h++) {
        memcpy(p + o, s->level[h], (size_t)s->count[h] * 8);
        o += (size_t)s->count[h] * 8;
    }
    return need;
}

int drift_sketch_load(struct drift_sketch *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (buf == NULL || len < HDR) {
        return DRIFT_ESTATE;
    }
    uint32_t h32[4];
    uint64_t h64[4];
    double mn, mx;
    memcpy(h32, p, 16);
    memcpy(h64, p + 16, 32);
    memcpy(&mn, p + 48, 8);
    memcpy(&mx, p + 56, 8);
    if (h32[0] != SKETCH_MAGIC || h32[1] != SKETCH_VERSION || h32[2] != (uint32_t)s->k ||
        h32[3] < 1 || h32[3] > MAX_LEVELS || len < HDR + counts_size((int)h32[3])) {
        return DRIFT_ESTATE;
    }
    int height = (int)h32[3];
    uint32_t cnt[MAX_LEVELS];
    size_t total = 0;
    for (int h = 0; h < height; h++) {
        memcpy(&cnt[h], p + HDR + (size_t)h * 4, 4);
        if (cnt[h] >= (uint32_t)s->k) {
            return DRIFT_ESTATE;
        }
        total += cnt[h];
    }
    size_t o = HDR + counts_size(height);
    if (len != o + total * 8) {
        return DRIFT_ESTATE;
    }
    /* Every value finite and within [min, max]; the weights add up to n; the error bound is no
     * larger than n; an empty sketch has no extremes. All checked before s changes. */
    uint64_t weight = 0;
    const unsigned char *vals = p + o;
    for (int h = 0, i = 0; h < height; h++) {
        for (uint32_t j = 0; j < cnt[h]; j++, i++) {
            double v;
            memcpy(&v, vals + (size_t)i * 8, 8);
            if (!isfinite(v) || v < mn || v > mx) {
                return DRIFT_ESTATE;
            }
        }
        if (h >= 63 && cnt[h] > 0) {
            return DRIFT_ESTATE;
        }
        uint64_t add = (uint64_t)cnt[h] << h;
        if (weight + add < weight) {
            return DRIFT_ESTATE;
        }
        weight += add;
    }
    if (weight != h64[0] || h64[2] > h64[0] ||
        (h64[0] > 0 && (!isfinite(mn) || !isfinite(mx) || mn > mx)) ||
        (h64[0] == 0 && (mn != INFINITY || mx != -INFINITY))) {
        return DRIFT_ESTATE;
    }
    int rc = ensure(s, height + 1 < MAX_LEVELS ? height + 1 : MAX_LEVELS);
    if (rc != 0) {
        return rc;
    }
    s->height = height;
    s->n = h64[0];
    s->missing = h64[1];
    s->rank_error = h64[2];
    s->offsets = h64[3];
    s->min = mn;
    s->max = mx;
    memset(s->count, 0, sizeof(s->count));
    for (int h = 0, i = 0; h < height; h++) {
        memcpy(s->level[h], vals + (size_t)i * 8, (size_t)cnt[h] * 8);
        s->count[h] = (int)cnt[h];
        i += (int)cnt[h];
    }
    return 0;
}
