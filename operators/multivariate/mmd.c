/*
 * Maximum mean discrepancy (MMD): a kernel two-sample test between a sample x and a sample y of
 * d features.
 *
 * Why: the per-feature tests compare marginals. They cannot see drift that lives in how features
 * relate (a correlation that flips sign while every marginal stays the same). MMD with a Gaussian
 * (RBF) kernel compares whole distributions. It is zero only when the two are equal, and it needs
 * no density model. The price is O(N²) kernel values for N pooled rows, which is why large samples
 * switch to Gretton's linear-time estimate.
 *
 * How:
 * - Rows with a NaN or ±inf are skipped (listwise deletion, as drift_moments does). The first
 *   n + m doubles of work list the complete rows of x, then of y, as row numbers stored in doubles
 *   (exact below 2^53).
 * - Quadratic path (N = n' + m' complete rows <= linear_above): the complete rows are copied into
 *   Z = [x; y] (N × d, column-major) and centred on the pooled mean. Centring leaves distances
 *   unchanged, and it keeps the Gram trick ‖a‖² + ‖b‖² − 2aᵀb from cancelling badly when the data
 *   sit far from the origin. One cblas_dgemm gives −2ZZᵀ. The strict upper triangle then holds the
 *   squared distances (clamped at 0). The median heuristic picks σ exactly, by a radix select on
 *   those values' bit patterns (non-negative doubles order like their bits). This needs no copy
 *   and no allocation. The kernel matrix K replaces the distances in place (both triangles, with
 *   a zero diagonal: the U-statistic leaves i = j out) and is reused by every permutation.
 * - MMD²_u = S_xx/(n(n−1)) + S_yy/(m(m−1)) − 2·S_xy/(nm), with S the off-diagonal kernel sums
 *   within and between the groups. For a labelling w (1 on the rows taken as x), u = K·w gives
 *   S_xx = Σ_{w=1} u, S_xy = Σ_{w=0} u and S_yy = Σ_{w=0} (r − u), where r = K·1. So a block of up
 *   to MMD_PERM_BLOCK permutations costs one dgemm (K times the block's indicator columns) and
 *   O(N) per permutation, instead of O(N²) scattered reads each. The observed labelling takes the
 *   same route (a dgemv). Partitions with mathematically equal statistics still round
 *   differently (their sums run in other orders), hence the tie slack below.
 * - Permutations: the pooled order starts as the identity and is shuffled in place by
 *   Fisher–Yates once per permutation. The shuffles chain: each one permutes the previous order,
 *   never a fresh identity. Each shuffle runs i from N−1 down to 1, swapping positions i and
 *   j = draw % (i+1). One draw per swap comes from splitmix64, whose state starts at the seed:
 *       state += 0x9E3779B97F4A7C15; z = state;
 *       z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *       draw = z ^ (z >> 31)                                   (all arithmetic mod 2^64)
 *   After each shuffle, positions [0, n') are x and the rest are y. Then
 *   p = (1 + #{MMD²_perm >= MMD²_obs}) / (1 + permutations). "≥" allows a relative slack of
 *   MMD_TIE_RTOL of the statistic's scale. Discrete data (one-hot features) produce partitions
 *   whose statistics are mathematically equal to the observed one, and rounding must not decide
 *   whether they count (without the slack, half of a set of small two-level samples got a
 *   smaller p). tests/golden/gen_mv_mmd.py replays this sequence exactly.
 * - Linear path (N > linear_above): Gretton et al. (JMLR 2012) over L = min(n', m') / 2 disjoint
 *   pairs, h_i = k(x_2i, x_2i+1) + k(y_2i, y_2i+1) − k(x_2i, y_2i+1) − k(x_2i+1, y_2i) on the
 *   complete rows in order. The statistic is mean(h); p is the one-sided normal survival of
 *   mean / (sd(h, ddof 1) / √L), by erfc, so L >= 2 (4 complete rows a side) is needed. Squared
 *   distances there are plain sums of squared differences (O(L·d), no matrix). The median
 *   heuristic runs on a bounded subsample: the first a complete rows of x and the first b of y,
 *   with b = min(m', S − min(n', S/2)) and a = min(n', S − b) for S = MMD_LINEAR_SUBSAMPLE. That
 *   is half and half when both sides have enough rows, and the short side's shortfall comes from
 *   the other side.
 * - Contributions: per feature, |mean_y − mean_x| / s_p, with s_p the pooled within-sample
 *   standard deviation sqrt((Σ_x (x−x̄)² + Σ_y (y−ȳ)²) / (n'+m'−2)) (the Cohen's d scale), and 0
 *   when s_p is 0.
 *
 * No I/O, no globals, no allocation: all scratch is the caller's work (drift_mmd_work doubles).
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "drift_op.h"

#define MMD_DEFAULT_PERMUTATIONS 100
#define MMD_DEFAULT_SEED 1
#define MMD_DEFAULT_ALPHA 0.01
#define MMD_DEFAULT_LINEAR_ABOVE 4096
#define MMD_PERM_BLOCK 64         /* permutations per dgemm (2·64 doubles of scratch per row) */
#define MMD_LINEAR_SUBSAMPLE 500 /* rows for the linear path's median heuristic (2 MB matrix) */
#define MMD_TIE_RTOL 1e-10        /* ties: worst-case rounding of the sums is ~N·ε ≈ 5e-13 */
#define MMD_RADIX_BITS 11         /* radix select digit: 6 passes over 64 bits, 16 KB counters */
#define MMD_TILE 64               /* tile edge when mirroring the kernel matrix */

struct mmd_cfg {
    double bandwidth;
    double alpha;
    size_t permutations;
    uint64_t seed;
    size_t linear_above;
};

/* Fills c from p (NULL: all defaults; a zero field: its default). DRIFT_EINVAL for a negative or
 * non-finite bandwidth, negative permutations, or alpha outside [0, 1]. */
static int cfg_resolve(const struct drift_mmd_params *p, struct mmd_cfg *c)
{
    c->bandwidth = 0;
    c->alpha = MMD_DEFAULT_ALPHA;
    c->permutations = MMD_DEFAULT_PERMUTATIONS;
    c->seed = MMD_DEFAULT_SEED;
    c->linear_above = MMD_DEFAULT_LINEAR_ABOVE;
    if (p == NULL) {
        return 0;
    }
    if (!(p->bandwidth >= 0) || isinf(p->bandwidth) || p->permutations < 0 ||
        !(p->alpha >= 0 && p->alpha <= 1)) {
        return DRIFT_EINVAL;
    }
    c->bandwidth = p->bandwidth;
    if (p->alpha > 0) {
        c->alpha = p->alpha;
    }
    if (p->permutations > 0) {
        c->permutations = (size_t)p->permutations;
    }
    if (p->seed != 0) {
        c->seed = p->seed;
    }
    if (p->linear_above > 0) {
        c->linear_above = p->linear_above;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Scratch sizes (saturating: a size that does not fit in size_t reads as SIZE_MAX)
 * -------------------------------------------------------------------------------------------*/
static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
    return (a != 0 && b > SIZE_MAX / a) ? SIZE_MAX : a * b;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Quadratic path on N pooled rows, after the n+m row list: Z (N·d), norms then row sums (N),
 * K (N²), the pooled order (N), indicator and product blocks (2·N·B). */
static size_t quad_size(size_t N, size_t d, size_t block)
{
    size_t s = mul_sat(N, d);
    s = add_sat(s, N);
    s = add_sat(s, mul_sat(N, N));
    s = add_sat(s, N);
    return add_sat(s, mul_sat(mul_sat(N, 2), block));
}

/* Linear path, after the row list: the subsample (S·d), its norms (S), its squared distances (S²),
 * and h (L). */
static size_t linear_size(size_t n, size_t m, size_t d)
{
    size_t S = min_size(add_sat(n, m), MMD_LINEAR_SUBSAMPLE);
    size_t s = mul_sat(S, d);
    s = add_sat(s, S);
    s = add_sat(s, S * S);
    return add_sat(s, min_size(n, m) / 2);
}

size_t drift_mmd_work(size_t n, size_t m, int d, const struct drift_mmd_params *p)
{
    struct mmd_cfg c;
    if (d < 1 || cfg_resolve(p, &c) != 0) {
        return 0;
    }
    size_t total = add_sat(n, m);
    size_t block = min_size(c.permutations, MMD_PERM_BLOCK);
    /* The path depends on the complete rows, known only at the call: a sample above linear_above
     * may still fall to the quadratic path once its missing rows are gone, on at most
     * linear_above rows. */
    size_t need = quad_size(min_size(total, c.linear_above), (size_t)d, block);
    if (total > c.linear_above) {
        size_t lin = linear_size(n, m, (size_t)d);
        need = need > lin ? need : lin;
    }
    return add_sat(total, need);
}

/* ---------------------------------------------------------------------------------------------
 * Pairwise squared distances and the median heuristic
 * -------------------------------------------------------------------------------------------*/

/* Centres the N × d column-major Z (ld N) on its column means, puts its squared row norms in sq,
 * and leaves in the strict upper triangle of D (N × N, ld N) the squared distances between rows,
 * by the Gram trick (one dgemm), clamped at +0. The rest of D is garbage. Returns 0, or
 * DRIFT_ERANGE when a norm overflows (values beyond ~1e154). */
static int sq_distances(double *Z, size_t N, int d, double *sq, double *D)
{
    for (int j = 0; j < d; j++) {
        double *col = Z + (size_t)j * N, mean = 0;
        for (size_t i = 0; i < N; i++) {
            mean += col[i];
        }
        mean /= (double)N;
        for (size_t i = 0; i < N; i++) {
            col[i] -= mean;
        }
    }
    memset(sq, 0, N * sizeof(double));
    for (int j = 0; j < d; j++) {
        const double *col = Z + (size_t)j * N;
        for (size_t i = 0; i < N; i++) {
            sq[i] += col[i] * col[i];
        }
    }
    for (size_t i = 0; i < N; i++) {
        if (!isfinite(sq[i])) {
            return DRIFT_ERANGE;
        }
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, d, -2.0, Z, (int)N, Z,
                (int)N, 0.0, D, (int)N);
    for (size_t j = 1; j < N; j++) {
        double *col = D + j * N;
        for (size_t i = 0; i < j; i++) {
            double v = col[i] + sq[i] + sq[j];
            col[i] = v > 0 ? v : 0.0; /* never -0.0: the select orders by bit pattern */
        }
    }
    return 0;
}

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* The k-th smallest (0-based) of the strict upper triangle of the N × N matrix D (ld N), whose
 * values are non-negative doubles: an MSD radix select on their bit patterns, one counting pass
 * per digit over the values that share the digits fixed so far. */
static double upper_select(const double *D, size_t N, uint64_t k)
{
    uint64_t count[1u << MMD_RADIX_BITS];
    uint64_t prefix = 0, mask = 0;
    for (int hi = 64; hi > 0;) {
        int width = hi < MMD_RADIX_BITS ? hi : MMD_RADIX_BITS, shift = hi - width;
        uint64_t dmask = ((uint64_t)1 << width) - 1;
        memset(count, 0, sizeof(count[0]) << width);
        for (size_t j = 1; j < N; j++) {
            const double *col = D + j * N;
            for (size_t i = 0; i < j; i++) {
                uint64_t u = bits_of(col[i]);
                if ((u & mask) == prefix) {
                    count[(u >> shift) & dmask]++;
                }
            }
        }
        uint64_t digit = 0;
        while (k >= count[digit]) {
            k -= count[digit];
            digit++;
        }
        prefix |= digit << shift;
        mask |= dmask << shift;
        hi = shift;
    }
    return double_of(prefix);
}

/* The median of the distances sqrt(D) over the strict upper triangle (as numpy.median: the mean of
 * the two middle values for an even count). */
static double upper_median_distance(const double *D, size_t N)
{
    uint64_t T = (uint64_t)N * (N - 1) / 2, k = (T - 1) / 2;
    double lo = upper_select(D, N, k);
    if (T % 2 == 1) {
        return sqrt(lo);
    }
    /* The next order statistic: lo again if it repeats, else the smallest value above it. */
    uint64_t at_most = 0;
    double above = INFINITY;
    for (size_t j = 1; j < N; j++) {
        const double *col = D + j * N;
        for (size_t i = 0; i < j; i++) {
            if (col[i] <= lo) {
                at_most++;
            } else if (col[i] < above) {
                above = col[i];
            }
        }
    }
    double hi = at_most > k + 1 ? lo : above;
    return (sqrt(lo) + sqrt(hi)) / 2;
}

/* σ from the strict upper triangle of squared distances D: the fixed bandwidth when given, else
 * the median distance; 1 when that is 0 (all rows equal). */
static double bandwidth_of(const struct mmd_cfg *c, const double *D, size_t N)
{
    double sigma = c->bandwidth > 0 ? c->bandwidth : upper_median_distance(D, N);
    return sigma > 0 ? sigma : 1.0;
}

/* ---------------------------------------------------------------------------------------------
 * Quadratic path: U-statistic and permutation p-value
 * -------------------------------------------------------------------------------------------*/

/* splitmix64 (Steele, Lea and Flood 2014), the generator named in the file comment. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* MMD²_u of the labelling w (1 = x) from u = K·w and the row sums r; *scale gets the sum of the
 * three terms' magnitudes (the size rounding errors are relative to). */
static double mmd_labelled(const double *w, const double *u, const double *r, size_t N, double nx,
                           double ny, double *scale)
{
    double sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < N; i++) {
        if (w[i] != 0) {
            sxx += u[i];
        } else {
            sxy += u[i];
            syy += r[i] - u[i];
        }
    }
    double a = sxx / (nx * (nx - 1)), b = syy / (ny * (ny - 1)), c = 2 * sxy / (nx * ny);
    if (scale != NULL) {
        *scale = fabs(a) + fabs(b) + fabs(c);
    }
    return a + b - c;
}

static int mmd_quadratic(const double *x, size_t ldx, const double *y, size_t ldy, int d,
                         const double *rows, size_t nx, size_t ny, const struct mmd_cfg *c,
                         double *work, double *stat, double *pvalue, double *sigma_out)
{
    size_t N = nx + ny;
    if (N > (size_t)INT32_MAX || N > SIZE_MAX / N) {
        return DRIFT_ERANGE; /* BLAS takes int dimensions */
    }
    size_t block = min_size(c->permutations, MMD_PERM_BLOCK);
    double *Z = work, *sq = Z + N * (size_t)d, *K = sq + N, *order = K + N * N;
    double *W = order + N, *U = W + N * block;

    for (int j = 0; j < d; j++) {
        const double *xc = x + (size_t)j * ldx, *yc = y + (size_t)j * ldy;
        double *zc = Z + (size_t)j * N;
        for (size_t i = 0; i < nx; i++) {
            zc[i] = xc[(size_t)rows[i]];
        }
        for (size_t i = 0; i < ny; i++) {
            zc[nx + i] = yc[(size_t)rows[nx + i]];
        }
    }
    int rc = sq_distances(Z, N, d, sq, K);
    if (rc != 0) {
        return rc;
    }
    double sigma = bandwidth_of(c, K, N), two_s2 = 2 * sigma * sigma;
    if (!(two_s2 > 0)) {
        return DRIFT_ERANGE; /* a given bandwidth so small that 2σ² underflows */
    }
    *sigma_out = sigma;

    /* Kernel values in place, tile by tile so the mirrored writes stay in cache. */
    for (size_t jb = 0; jb < N; jb += MMD_TILE) {
        size_t je = min_size(jb + MMD_TILE, N);
        for (size_t ib = 0; ib <= jb; ib += MMD_TILE) {
            for (size_t j = jb; j < je; j++) {
                size_t ie = min_size(ib + MMD_TILE, j);
                for (size_t i = ib; i < ie; i++) {
                    double v = exp(-K[i + j * N] / two_s2);
                    K[i + j * N] = v;
                    K[j + i * N] = v;
                }
            }
        }
    }
    double *r = sq; /* the norms are spent: reuse for the row sums (= column sums) */
    for (size_t j = 0; j < N; j++) {
        double *col = K + j * N, s = 0;
        col[j] = 0;
        for (size_t i = 0; i < N; i++) {
            s += col[i];
        }
        r[j] = s;
    }

    double fx = (double)nx, fy = (double)ny, scale;
    for (size_t i = 0; i < N; i++) {
        W[i] = i < nx ? 1.0 : 0.0;
    }
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)N, (int)N, 1.0, K, (int)N, W, 1, 0.0, U, 1);
    double obs = mmd_labelled(W, U, r, N, fx, fy, &scale);
    double bar = obs - MMD_TIE_RTOL * scale;

    for (size_t i = 0; i < N; i++) {
        order[i] = (double)i;
    }
    uint64_t state = c->seed;
    size_t at_least = 0;
    for (size_t done = 0; done < c->permutations;) {
        size_t nb = min_size(block, c->permutations - done);
        for (size_t b = 0; b < nb; b++) {
            for (size_t i = N - 1; i > 0; i--) {
                size_t j = (size_t)(splitmix64(&state) % (uint64_t)(i + 1));
                double t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            double *wc = W + b * N;
            memset(wc, 0, N * sizeof(double));
            for (size_t i = 0; i < nx; i++) {
                wc[(size_t)order[i]] = 1.0;
            }
        }
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)nb, (int)N, 1.0, K,
                    (int)N, W, (int)N, 0.0, U, (int)N);
        for (size_t b = 0; b < nb; b++) {
            if (mmd_labelled(W + b * N, U + b * N, r, N, fx, fy, NULL) >= bar) {
                at_least++;
            }
        }
        done += nb;
    }
    *stat = obs;
    *pvalue = (1.0 + (double)at_least) / (1.0 + (double)c->permutations);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Linear path: Gretton's linear-time estimate
 * -------------------------------------------------------------------------------------------*/

static double sq_dist_rows(const double *a, size_t lda, size_t ia, const double *b, size_t ldb,
                           size_t ib, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++) {
        double t = a[ia + (size_t)j * lda] - b[ib + (size_t)j * ldb];
        s += t * t;
    }
    return s;
}

static int mmd_linear(const double *x, size_t ldx, const double *y, size_t ldy, int d,
                      const double *rows, size_t nx, size_t ny, const struct mmd_cfg *c,
                      double *work, double *stat, double *pvalue, double *sigma_out)
{
    size_t L = min_size(nx, ny) / 2;
    if (L < 2) {
        return DRIFT_EINVAL; /* sd(h) needs two pairs: at least 4 complete rows a side */
    }
    const double *rx = rows, *ry = rows + nx;
    size_t S = min_size(nx + ny, MMD_LINEAR_SUBSAMPLE);
    size_t b = min_size(ny, S - min_size(nx, S / 2)), a = min_size(nx, S - b);
    S = a + b;
    double *Z = work, *sq = Z + S * (size_t)d, *D = sq + S, *h = D + S * S;

    double sigma = c->bandwidth;
    if (!(sigma > 0)) {
        for (int j = 0; j < d; j++) {
            const double *xc = x + (size_t)j * ldx, *yc = y + (size_t)j * ldy;
            double *zc = Z + (size_t)j * S;
            for (size_t i = 0; i < a; i++) {
                zc[i] = xc[(size_t)rx[i]];
            }
            for (size_t i = 0; i < b; i++) {
                zc[a + i] = yc[(size_t)ry[i]];
            }
        }
        int rc = sq_distances(Z, S, d, sq, D);
        if (rc != 0) {
            return rc;
        }
        sigma = bandwidth_of(c, D, S);
    }
    double two_s2 = 2 * sigma * sigma, sum = 0;
    if (!(two_s2 > 0)) {
        return DRIFT_ERANGE;
    }
    *sigma_out = sigma;

    for (size_t i = 0; i < L; i++) {
        size_t x0 = (size_t)rx[2 * i], x1 = (size_t)rx[2 * i + 1];
        size_t y0 = (size_t)ry[2 * i], y1 = (size_t)ry[2 * i + 1];
        h[i] = exp(-sq_dist_rows(x, ldx, x0, x, ldx, x1, d) / two_s2) +
               exp(-sq_dist_rows(y, ldy, y0, y, ldy, y1, d) / two_s2) -
               exp(-sq_dist_rows(x, ldx, x0, y, ldy, y1, d) / two_s2) -
               exp(-sq_dist_rows(x, ldx, x1, y, ldy, y0, d) / two_s2);
        sum += h[i];
    }
    double mean = sum / (double)L, ss = 0;
    for (size_t i = 0; i < L; i++) {
        ss += (h[i] - mean) * (h[i] - mean);
    }
    double se = sqrt(ss / (double)(L - 1)) / sqrt((double)L);
    /* No spread at all (every h equal, e.g. all rows identical): z is ±∞ by the sign of the mean,
     * and 0 (p = 1/2) when the mean is 0 too. */
    double z = se > 0 ? mean / se : (mean > 0 ? INFINITY : (mean < 0 ? -INFINITY : 0));
    *stat = mean;
    *pvalue = 0.5 * erfc(z / sqrt(2.0));
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Contributions and the verdict
 * -------------------------------------------------------------------------------------------*/

/* Per feature |ȳ − x̄| / s_p over the complete rows; out gets the DRIFT_MV_TOP largest, ties in
 * feature order. */
static void mmd_contrib(const double *x, size_t ldx, const double *y, size_t ldy, int d,
                        const double *rows, size_t nx, size_t ny, struct drift_mv_result *out)
{
    int nt = 0;
    for (int j = 0; j < d; j++) {
        const double *xc = x + (size_t)j * ldx, *yc = y + (size_t)j * ldy;
        double mx = 0, my = 0, ss = 0;
        for (size_t i = 0; i < nx; i++) {
            mx += xc[(size_t)rows[i]];
        }
        for (size_t i = 0; i < ny; i++) {
            my += yc[(size_t)rows[nx + i]];
        }
        mx /= (double)nx;
        my /= (double)ny;
        for (size_t i = 0; i < nx; i++) {
            double t = xc[(size_t)rows[i]] - mx;
            ss += t * t;
        }
        for (size_t i = 0; i < ny; i++) {
            double t = yc[(size_t)rows[nx + i]] - my;
            ss += t * t;
        }
        double sp = sqrt(ss / (double)(nx + ny - 2));
        double v = sp > 0 ? fabs(my - mx) / sp : 0.0;
        int pos = nt;
        while (pos > 0 && out->contrib[pos - 1] < v) {
            pos--;
        }
        if (pos < DRIFT_MV_TOP) {
            int last = nt < DRIFT_MV_TOP ? nt : DRIFT_MV_TOP - 1;
            for (int k = last; k > pos; k--) {
                out->contrib[k] = out->contrib[k - 1];
                out->top[k] = out->top[k - 1];
            }
            out->contrib[pos] = v;
            out->top[pos] = j;
            if (nt < DRIFT_MV_TOP) {
                nt++;
            }
        }
    }
    out->ntop = nt;
}

/* Writes v in decimal into s, zero-padded to min_digits, unterminated; returns the length. */
static size_t put_uint(char *s, uint64_t v, int min_digits)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || (int)n < min_digits);
    for (size_t i = 0; i < n; i++) {
        s[i] = tmp[n - 1 - i];
    }
    return n;
}

/* rule = "mmd p < " followed by alpha as printf's %g would print it (6 significant digits, no
 * trailing zeros, an exponent below 1e-4). Formatted by hand because this file does no I/O. */
static void mmd_rule(char *rule, double alpha)
{
    static const char head[] = "mmd p < ";
    char *s = rule;
    memcpy(s, head, sizeof(head) - 1);
    s += sizeof(head) - 1;
    int e = (int)floor(log10(alpha));
    uint64_t digits = (uint64_t)llround(alpha * pow(10, 5 - e));
    if (digits >= 1000000) {
        digits = (digits + 5) / 10;
        e++;
    } else if (digits < 100000) {
        e--;
        digits = (uint64_t)llround(alpha * pow(10, 5 - e));
    }
    int nd = 6;
    while (nd > 1 && digits % 10 == 0) {
        digits /= 10;
        nd--;
    }
    char dig[8];
    put_uint(dig, digits, nd);
    if (e < -4 || e >= 6) {
        *s++ = dig[0];
        if (nd > 1) {
            *s++ = '.';
            memcpy(s, dig + 1, (size_t)nd - 1);
            s += nd - 1;
        }
        *s++ = 'e';
        *s++ = e < 0 ? '-' : '+';
        s += put_uint(s, (uint64_t)(e < 0 ? -e : e), 2);
    } else if (e < 0) {
        *s++ = '0';
        *s++ = '.';
        for (int i = 0; i < -e - 1; i++) {
            *s++ = '0';
        }
        memcpy(s, dig, (size_t)nd);
        s += nd;
    } else {
        for (int i = 0; i <= e; i++) {
            *s++ = i < nd ? dig[i] : '0';
        }
        if (nd > e + 1) {
            *s++ = '.';
            memcpy(s, dig + e + 1, (size_t)(nd - e - 1));
            s += nd - e - 1;
        }
    }
    *s = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Entry point
 * -------------------------------------------------------------------------------------------*/

/* Lists the complete rows of the column-major a (n rows, ld) into rows; returns how many. */
static size_t complete_rows(const double *a, size_t ld, size_t n, int d, double *rows)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < d && ok; j++) {
            ok = isfinite(a[i + (size_t)j * ld]);
        }
        if (ok) {
            rows[k++] = (double)i;
        }
    }
    return k;
}

/* Returns 0, DRIFT_EINVAL (bad arguments or parameters, fewer than 2 complete rows a side, fewer
 * than 4 a side on the linear path) or DRIFT_ERANGE (too many rows for BLAS, or distances that
 * overflow). work holds drift_mmd_work(n, m, d, p) doubles; out is written only on success. */
int drift_mmd(const double *x, size_t ldx, size_t n, const double *y, size_t ldy, size_t m, int d,
              const struct drift_mmd_params *p, double *work, struct drift_mv_result *out)
{
    struct mmd_cfg c;
    if (d < 1 || out == NULL || work == NULL || x == NULL || y == NULL || ldx < n || ldy < m ||
        cfg_resolve(p, &c) != 0) {
        return DRIFT_EINVAL;
    }
    /* The row list: x's complete rows, then y's right after them. The path's scratch starts
     * after n + m doubles whatever the counts, so its size does not depend on the data. */
    size_t nx = complete_rows(x, ldx, n, d, work);
    size_t ny = complete_rows(y, ldy, m, d, work + nx);
    if (nx < 2 || ny < 2) {
        return DRIFT_EINVAL;
    }
    const double *rows = work;
    double *scratch = work + n + m;
    double stat, pvalue, sigma;
    int rc =
        nx + ny <= c.linear_above
            ? mmd_quadratic(x, ldx, y, ldy, d, rows, nx, ny, &c, scratch, &stat, &pvalue, &sigma)
            : mmd_linear(x, ldx, y, ldy, d, rows, nx, ny, &c, scratch, &stat, &pvalue, &sigma);
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->statistic = stat;
    out->pvalue = pvalue;
    out->threshold = c.alpha;
    out->lower = NAN;
    out->drifted = pvalue < c.alpha;
    out->bandwidth = sigma;
    for (int k = 0; k < DRIFT_MV_TOP; k++) {
        out->top[k] = -1;
        out->top2[k] = -1;
    }
    mmd_contrib(x, ldx, y, ldy, d, rows, nx, ny, out);
    mmd_rule(out->rule, c.alpha);
    return 0;
}
