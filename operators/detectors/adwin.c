/*
 * ADWIN (adaptive windowing, Bifet and Gavaldà 2007) as River releases it (river.drift.ADWIN,
 * River 0.22 and later: river/drift/adwin.py around the Cython core river/drift/adwin_c.pyx).
 * Written from a reading of that source; the same detections on the same values:
 *
 *  - The window is an exponential histogram: row r holds up to max_buckets buckets of 2^r
 *    values (sum and sum of squared deviations). A value enters row 0; a row that reaches
 *    max_buckets + 1 buckets merges its two oldest into one bucket of the next row, cascading.
 *    Merged variance: v1 + v2 + n*n*(mu1 - mu2)^2 / (n + n). Window variance on insert:
 *    += (w - 1) * (x - total/(w - 1))^2 / w with w the new width, then total += x.
 *  - A counter (River's tick) counts updates; the cut scan runs when tick % clock == 0 and
 *    width > grace_period. The scan walks the buckets from the oldest (last row, oldest bucket
 *    first) to the newest, moving each into W0; it stops at the newest bucket (W1 never empty)
 *    and, at every other split with n0 >= min_window_length and n1 >= min_window_length, tests
 *    |u0/n0 - u1/n1| > sqrt(2 m (variance/width) d') + (2/3) d' m with
 *    d' = ln(2 ln(width) / delta) and m = 1/(n0 - min_window_length + 1)
 *    + 1/(n1 - min_window_length + 1). A cut drops the oldest bucket (window variance
 *    -= v + n w (mu - mu_w)^2 / (n + w) with w and mu_w after the removal) and restarts the
 *    scan, until a scan finds no cut. Every bucket of a row is visited (River 0.22's fix "comply
 *    with MOA"; River 0.21 skipped the newest bucket of each row and detects differently).
 *  - The wrapper: drift is reported on the update whose scan cut; the next update first throws
 *    the whole window away (River re-creates its AdaptiveWindowing: empty window, tick 0), then
 *    adds its value. No warning zone.
 *
 * Differences from River, all outside what River can be fed or run for:
 *  - NaN and infinite values are ignored: update returns 0 and changes nothing (a pending
 *    reset after a detection waits for the next finite value). River would poison its sums.
 *  - max_buckets >= 2 (River does not check; with 1 a merge empties its row and River's scan
 *    divides by zero or pops an empty row). Parameters are range-checked (River takes anything).
 *  - The tick is 64-bit (River's is a C int that wraps after 2^31 - 1 updates).
 *
 * Memory: update never allocates. Rows live in one block of ROWS_MAX * (max_buckets + 1)
 * buckets allocated at create. A bucket of row r holds 2^r values, so row 63 exists only after
 * 2^63 values and it fills only after (max_buckets + 1) * 2^63 > 2^64: the fixed cap of 64 rows
 * cannot be reached with fewer than 2^64 updates (were it ever, the oldest bucket is dropped).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define ROWS_MAX 64
#define MAX_BUCKETS_HI 1024 /* our limit: a 64-row block of (1024 + 1) buckets is 1 MiB */

struct adwin_params {
    double delta;
    long long clock;
    long long max_buckets;
    long long min_window_length;
    long long grace_period;
};

struct drift_detector {
    struct adwin_params p;
    int cap;   /* slots per row: max_buckets + 1 (a full row is merged at once) */
    int nrows; /* rows in use, >= 1 */
    int count[ROWS_MAX];
    double *sum; /* row r, bucket k (0 = oldest): sum[r * cap + k] */
    double *var;
    double width, total, variance;
    uint64_t tick;
    int drift; /* the last update detected drift: the next one starts a fresh window */
};

static const struct drift_param_spec adwin_spec[] = {
    {"delta", DRIFT_PARAM_NUM, "0.002", 0.0, 1.0, DRIFT_PARAM_LO_OPEN | DRIFT_PARAM_HI_OPEN, NULL,
     offsetof(struct adwin_params, delta)},
    {"clock", DRIFT_PARAM_INT, "32", 1.0, 2147483647.0, 0, NULL,
     offsetof(struct adwin_params, clock)},
    {"max_buckets", DRIFT_PARAM_INT, "5", 2.0, (double)MAX_BUCKETS_HI, 0, NULL,
     offsetof(struct adwin_params, max_buckets)},
    {"min_window_length", DRIFT_PARAM_INT, "5", 1.0, 2147483647.0, 0, NULL,
     offsetof(struct adwin_params, min_window_length)},
    {"grace_period", DRIFT_PARAM_INT, "10", 0.0, 2147483647.0, 0, NULL,
     offsetof(struct adwin_params, grace_period)},
};
#define NSPEC ((int)(sizeof(adwin_spec) / sizeof(adwin_spec[0])))

static double *row_sum(const struct drift_detector *d, int r)
{
    return d->sum + (size_t)r * (size_t)d->cap;
}

static double *row_var(const struct drift_detector *d, int r)
{
    return d->var + (size_t)r * (size_t)d->cap;
}

/* The state of a new detector (and of River's re-created helper after a detection). */
static void fresh(struct drift_detector *d)
{
    memset(d->count, 0, sizeof(d->count));
    d->nrows = 1;
    d->width = 0.0;
    d->total = 0.0;
    d->variance = 0.0;
    d->tick = 0;
    d->drift = 0;
}

static struct drift_detector *adwin_create(const struct drift_param *p, int np, char *err,
                                           size_t errlen)
{
    struct adwin_params prm;
    if (drift_params_parse("adwin", adwin_spec, NSPEC, p, np, &prm, err, errlen) != 0) {
        return NULL;
    }
    struct drift_detector *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        drift_seterr(err, errlen, DRIFT_ENOMEM, "adwin: out of memory");
        return NULL;
    }
    d->p = prm;
    d->cap = (int)prm.max_buckets + 1;
    size_t n = (size_t)ROWS_MAX * (size_t)d->cap;
    d->sum = calloc(n, sizeof(double));
    d->var = calloc(n, sizeof(double));
    if (d->sum == NULL || d->var == NULL) {
        free(d->sum);
        free(d->var);
        free(d);
        drift_seterr(err, errlen, DRIFT_ENOMEM, "adwin: out of memory");
        return NULL;
    }
    fresh(d);
    return d;
}

static void adwin_destroy(struct drift_detector *d)
{
    if (d != NULL) {
        free(d->sum);
        free(d->var);
        free(d);
    }
}

/* Removes the oldest bucket (River's _delete_element). */
static void drop_oldest(struct drift_detector *d)
{
    int r = d->nrows - 1;
    double *s = row_sum(d, r), *v = row_var(d, r);
    double n = ldexp(1.0, r);
    double u = s[0];
    double mu = u / n;
    double bv = v[0];
    d->width -= n;
    d->total -= u;
    double mu_w = d->total / d->width;
    d->variance -= bv + n * d->width * (mu - mu_w) * (mu - mu_w) / (n + d->width);
    int c = --d->count[r];
    memmove(s, s + 1, (size_t)c * sizeof(double));
    memmove(v, v + 1, (size_t)c * sizeof(double));
    if (c == 0 && d->nrows > 1) {
        d->nrows--;
    }
}

/* Merges full rows upwards (River's _compress_buckets). */
static void compress(struct drift_detector *d)
{
    int mb = (int)d->p.max_buckets;
    for (int r = 0; r < d->nrows && d->count[r] == mb + 1; r++) {
        if (r + 1 == d->nrows) {
            if (d->nrows == ROWS_MAX) {
                drop_oldest(d); /* unreachable below 2^64 updates, see the top */
                return;
            }
            d->count[d->nrows++] = 0;
        }
        double *s = row_sum(d, r), *v = row_var(d, r);
        double n = ldexp(1.0, r);
        double mu1 = s[0] / n;
        double mu2 = s[1] / n;
        double extra = n * n * (mu1 - mu2) * (mu1 - mu2) / (n + n);
        int j = d->count[r + 1]++;
        row_sum(d, r + 1)[j] = s[0] + s[1];
        row_var(d, r + 1)[j] = v[0] + v[1] + extra;
        d->count[r] -= 2;
        memmove(s, s + 2, (size_t)d->count[r] * sizeof(double));
        memmove(v, v + 2, (size_t)d->count[r] * sizeof(double));
        if (d->count[r + 1] <= mb) {
            break;
        }
    }
}

static void insert(struct drift_detector *d, double x)
{
    int j = d->count[0]++;
    row_sum(d, 0)[j] = x;
    row_var(d, 0)[j] = 0.0;
    d->width += 1.0;
    double inc = 0.0;
    if (d->width > 1.0) {
        double prev = d->width - 1.0;
        inc = prev * (x - d->total / prev) * (x - d->total / prev) / d->width;
    }
    d->variance += inc;
    d->total += x;
    compress(d);
}

/* River's _evaluate_cut, in its order of operations. */
static int cut(const struct drift_detector *d, double n0, double n1, double diff)
{
    double mwl = (double)d->p.min_window_length;
    double dprime = log(2 * log(d->width) / d->p.delta);
    double m = 1.0 / (n0 - mwl + 1) + 1.0 / (n1 - mwl + 1);
    double eps = sqrt(2 * m * (d->variance / d->width) * dprime) + 2.0 / 3.0 * dprime * m;
    return fabs(diff) > eps;
}

/* One pass over the splits, oldest to newest; 1 if it cut (and dropped the oldest bucket). */
static int scan_once(struct drift_detector *d)
{
    double mwl = (double)d->p.min_window_length;
    double n0 = 0.0, n1 = d->width, u0 = 0.0, u1 = d->total;
    for (int r = d->nrows - 1; r >= 0; r--) {
        const double *s = row_sum(d, r);
        double size = ldexp(1.0, r);
        int c = d->count[r];
        for (int k = 0; k < c; k++) {
            n0 += size;
            n1 -= size;
            u0 += s[k];
            u1 -= s[k];
            if (r == 0 && k == c - 1) {
                return 0;
            }
            double diff = u0 / n0 - u1 / n1; /* n1 > 0: the newest bucket is still in W1 */
            if (n1 >= mwl && n0 >= mwl && cut(d, n0, n1, diff)) {
                drop_oldest(d);
                return 1;
            }
        }
    }
    return 0;
}

static int adwin_update(struct drift_detector *d, double x)
{
    if (!isfinite(x)) {
        return 0;
    }
    if (d->drift) {
        fresh(d);
    }
    insert(d, x);
    d->tick++;
    int found = 0;
    if (d->tick % (uint64_t)d->p.clock == 0 && d->width > (double)d->p.grace_period) {
        while (scan_once(d)) {
            found = 1;
        }
    }
    d->drift = found;
    return found ? DRIFT_DETECT_DRIFT : 0;
}

/* Saved state, native byte order:
 *   "ADWN" u32 version | f64 delta | i64 clock max_buckets min_window_length grace_period
 *   | u32 drift nrows | u64 tick | f64 width total variance | u32 count[nrows]
 *   | rows 0..nrows-1: count x (f64 sum, f64 var), oldest first */
#define SAVE_MAGIC "ADWN"
#define SAVE_VERSION 1u
#define HEADER_SIZE (4 + 4 + 8 + 4 * 8 + 4 + 4 + 8 + 3 * 8)

static size_t state_size(int nrows, const int *count)
{
    size_t n = HEADER_SIZE + 4 * (size_t)nrows;
    for (int r = 0; r < nrows; r++) {
        n += 16 * (size_t)count[r];
    }
    return n;
}

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

static size_t adwin_save(const struct drift_detector *d, void *buf, size_t len)
{
    size_t need = state_size(d->nrows, d->count);
    if (buf == NULL || len < need) {
        return need;
    }
    unsigned char *o = buf;
    uint32_t ver = SAVE_VERSION, drift = (uint32_t)d->drift, nrows = (uint32_t)d->nrows;
    int64_t ints[4] = {d->p.clock, d->p.max_buckets, d->p.min_window_length, d->p.grace_period};
    put(&o, SAVE_MAGIC, 4);
    put(&o, &ver, 4);
    put(&o, &d->p.delta, 8);
    put(&o, ints, sizeof(ints));
    put(&o, &drift, 4);
    put(&o, &nrows, 4);
    put(&o, &d->tick, 8);
    put(&o, &d->width, 8);
    put(&o, &d->total, 8);
    put(&o, &d->variance, 8);
    for (int r = 0; r < d->nrows; r++) {
        uint32_t c = (uint32_t)d->count[r];
        put(&o, &c, 4);
    }
    for (int r = 0; r < d->nrows; r++) {
        for (int k = 0; k < d->count[r]; k++) {
            put(&o, &row_sum(d, r)[k], 8);
            put(&o, &row_var(d, r)[k], 8);
        }
    }
    return need;
}

/* Checks everything before touching d: same parameters, a shape update() can produce (rows of
 * at most max_buckets buckets, only row 0 ever empty and then the window is empty), a width
 * equal to the buckets' sizes, finite sums, finite non-negative bucket variances. */
static int adwin_load(struct drift_detector *d, const void *buf, size_t len)
{
    if (buf == NULL || len < HEADER_SIZE) {
        return DRIFT_ESTATE;
    }
    const unsigned char *i = buf;
    char magic[4];
    uint32_t ver, drift, nrows;
    double delta, width, total, variance;
    int64_t ints[4];
    uint64_t tick;
    get(&i, magic, 4);
    get(&i, &ver, 4);
    get(&i, &delta, 8);
    get(&i, ints, sizeof(ints));
    get(&i, &drift, 4);
    get(&i, &nrows, 4);
    get(&i, &tick, 8);
    get(&i, &width, 8);
    get(&i, &total, 8);
    get(&i, &variance, 8);
    if (memcmp(magic, SAVE_MAGIC, 4) != 0 || ver != SAVE_VERSION) {
        return DRIFT_ESTATE;
    }
    if (memcmp(&delta, &d->p.delta, 8) != 0 || ints[0] != d->p.clock ||
        ints[1] != d->p.max_buckets || ints[2] != d->p.min_window_length ||
        ints[3] != d->p.grace_period) {
        return DRIFT_ESTATE;
    }
    if (drift > 1 || nrows < 1 || nrows > ROWS_MAX || !isfinite(width) || !isfinite(total) ||
        !isfinite(variance) || width < 0) {
        return DRIFT_ESTATE;
    }
    if (len - HEADER_SIZE < 4 * (size_t)nrows) {
        return DRIFT_ESTATE;
    }
    int count[ROWS_MAX];
    for (uint32_t r = 0; r < nrows; r++) {
        uint32_t c;
        get(&i, &c, 4);
        if (c > (uint32_t)d->p.max_buckets || (c == 0 && (r > 0 || nrows > 1))) {
            return DRIFT_ESTATE;
        }
        count[r] = (int)c;
    }
    if (state_size((int)nrows, count) != len) {
        return DRIFT_ESTATE;
    }
    double w = 0.0;
    const unsigned char *b = i;
    for (uint32_t r = 0; r < nrows; r++) {
        w += ldexp((double)count[r], (int)r);
        for (int k = 0; k < count[r]; k++) {
            double s, v;
            get(&b, &s, 8);
            get(&b, &v, 8);
            if (!isfinite(s) || !isfinite(v) || v < 0) {
                return DRIFT_ESTATE;
            }
        }
    }
    if (w != width || (width == 0 && (total != 0 || variance != 0))) {
        return DRIFT_ESTATE;
    }
    /* Valid: copy in. */
    memset(d->count, 0, sizeof(d->count));
    d->nrows = (int)nrows;
    for (int r = 0; r < d->nrows; r++) {
        d->count[r] = count[r];
        for (int k = 0; k < count[r]; k++) {
            get(&i, &row_sum(d, r)[k], 8);
            get(&i, &row_var(d, r)[k], 8);
        }
    }
    d->drift = (int)drift;
    d->tick = tick;
    d->width = width;
    d->total = total;
    d->variance = variance;
    return 0;
}

const struct drift_detector_ops drift_detector_adwin = {
    .name = "adwin",
    .description = "ADWIN adaptive windowing (River's drift.ADWIN): drift when two sub-windows "
                   "of the adaptive window have significantly different means; no warning zone",
    .params = "delta=0.002, clock=32, max_buckets=5, min_window_length=5, grace_period=10",
    .create = adwin_create,
    .destroy = adwin_destroy,
    .update = adwin_update,
    .save = adwin_save,
    .load = adwin_load,
};
