/*
 * Two-sample Cramér–von Mises test, as scipy.stats.cramervonmises_2samp(x, y) reports it.
 *
 * Statistic (Anderson 1962, eq. 9–10): with r_i the midranks of the reference's values in the
 * pooled sample (ties share their average rank) and s_j those of the window's,
 *   U = n·Σ_i (r_i − i)² + m·Σ_j (s_j − j)²,   T = U/(n·m·N) − (4·n·m − 1)/(6·N),   N = n + m.
 * T equals (n·m/N)·∫(F_n − G_m)² dH_N, so T·N/(n·m), the mean squared distance between the two
 * empirical CDFs over the pooled sample, is the effect size: it does not grow with the sample.
 *
 * p-value, scipy's method='auto':
 * - exact while both samples have at most 20 values: U maps to an integer ζ on the lattice of
 *   Xiao, Gordon and Yakovlev (2006), and p is the share of the C(N, n) lattice paths from (0,0)
 *   to (m, n) whose sum of (a·v − b·u)² over the points they visit is ≥ ζ, with a = lcm/n and
 *   b = lcm/m. The distribution of that sum is built cell by cell as sparse (value, paths)
 *   lists, each cell the merge of its left and lower neighbours plus its own term.
 * - otherwise the statistic is normalised with its exact mean and variance (Anderson 1962,
 *   eq. 11, 14, 15) and referred to the limiting distribution of the one-sample statistic
 *   (Csörgő and Faraway 1996, eq. 1.2): a series whose terms hold K_{1/4}, the modified Bessel
 *   function of the second kind, summed until a term falls below 1e-7, as scipy sums it.
 *   K_{1/4}(q)·e^{−q} is ∫₀^∞ exp(−q(1 + cosh t))·cosh(t/4) dt, whose integrand is analytic in a
 *   strip around the real axis, so the trapezoid rule converges geometrically; a step of 1/8
 *   is below 1e-15 relative error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define CVM_EXACT_MAX_N 20 /* scipy's switch: exact while both samples are this small */

double drift_cvm_u(const double *a, size_t n, const double *b, size_t m);
double drift_cvm_exact_sf(double u, int n, int m);
double drift_cvm_inf_cdf(double x);

/* Adds (r − i)² for the sample positions i = first+1 .. first+count sharing midrank r; the sum
 * is compensated (Neumaier), so a million terms lose nothing to rounding. */
static void add_squares(double r, size_t first, size_t count, double *sum, double *comp)
{
    for (size_t t = 1; t <= count; t++) {
        double d = r - (double)(first + t);
        double v = d * d, s = *sum + v;
        *comp += fabs(*sum) >= v ? (*sum - s) + v : (v - s) + *sum;
        *sum = s;
    }
}

/* U of eq. 10 for sorted samples a (n) and b (m), midranks for ties. */
double drift_cvm_u(const double *a, size_t n, const double *b, size_t m)
{
    double sa = 0, ca = 0, sb = 0, cb = 0;
    size_t i = 0, j = 0;
    while (i < n || j < m) {
        double x = i == n ? b[j] : j == m ? a[i] : (a[i] < b[j] ? a[i] : b[j]);
        size_t i2 = i, j2 = j;
        while (i2 < n && a[i2] == x) {
            i2++;
        }
        while (j2 < m && b[j2] == x) {
            j2++;
        }
        /* The tied values occupy pooled ranks i+j+1 .. i2+j2: their midrank. */
        double r = (double)(i + j) + (double)(i2 - i + j2 - j + 1) / 2.0;
        add_squares(r, i, i2 - i, &sa, &ca);
        add_squares(r, j, j2 - j, &sb, &cb);
        i = i2;
        j = j2;
    }
    return (double)n * (sa + ca) + (double)m * (sb + cb);
}

/* ----------------------------------------------------------------------------------------------
 * Exact p-value
 * --------------------------------------------------------------------------------------------*/

/* The distribution of the path sum at one lattice cell: values ascending, with path counts. */
struct cell {
    uint64_t *val;
    double *cnt; /* path counts; at most C(40, 20) ≈ 1.4e11, exact in a double */
    size_t len, cap;
};

static int cell_reserve(struct cell *c, size_t need)
{
    if (need <= c->cap) {
        return 0;
    }
    size_t cap = c->cap ? c->cap : 16;
    while (cap < need) {
        cap *= 2;
    }
    uint64_t *v = realloc(c->val, cap * sizeof(*v));
    if (v == NULL) {
        return DRIFT_ENOMEM;
    }
    c->val = v;
    double *n = realloc(c->cnt, cap * sizeof(*n));
    if (n == NULL) {
        return DRIFT_ENOMEM;
    }
    c->cnt = n;
    c->cap = cap;
    return 0;
}

/* out = merge of x and y (counts of equal values added), every value then raised by add. */
static int cell_merge(struct cell *out, const struct cell *x, const struct cell *y, uint64_t add)
{
    if (cell_reserve(out, x->len + y->len) != 0) {
        return DRIFT_ENOMEM;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < x->len || j < y->len) {
        if (j == y->len || (i < x->len && x->val[i] < y->val[j])) {
            out->val[k] = x->val[i];
            out->cnt[k++] = x->cnt[i++];
        } else if (i == x->len || y->val[j] < x->val[i]) {
            out->val[k] = y->val[j];
            out->cnt[k++] = y->cnt[j++];
        } else {
            out->val[k] = x->val[i];
            out->cnt[k++] = x->cnt[i++] + y->cnt[j++];
        }
    }
    for (size_t t = 0; t < k; t++) {
        out->val[t] += add;
    }
    out->len = k;
    return 0;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Python's float floor division (x // y), which is what scipy applies to the statistic. */
static double py_floordiv(double x, double y)
{
    double mod = fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) {
        div -= 1.0;
    }
    if (div == 0) {
        return copysign(0.0, x / y);
    }
    double fl = floor(div);
    if (div - fl > 0.5) {
        fl += 1.0;
    }
    return fl;
}

/* P(U' >= u) over all C(n+m, n) arrangements, for samples of sizes n (reference) and m. NAN
 * when scratch cannot be allocated. */
double drift_cvm_exact_sf(double u, int n, int m)
{
    uint64_t un = (uint64_t)n, um = (uint64_t)m;
    uint64_t lcm = un / gcd64(un, um) * um;
    uint64_t a = lcm / un, b = lcm / um;
    double mn = (double)n * (double)m;
    double zeta = py_floordiv((double)(lcm * lcm * (un + um)) * (6.0 * u - mn * (4.0 * mn - 1.0)),
                              6.0 * mn * mn);
    /* Row by row over the second sample's count (0..m), a row of n+1 cells over the first's;
     * cell v of the new row merges the new cell v−1 with the old cell v. */
    struct cell *row = calloc((size_t)n + 1, sizeof(*row));
    struct cell tmp = {0}, empty = {0}, start = {0};
    double p = NAN, total = 0, above = 0;
    if (row == NULL || cell_reserve(&start, 1) != 0) {
        goto out;
    }
    start.val[0] = 0;
    start.cnt[0] = 1;
    start.len = 1;
    for (int uu = 0; uu <= m; uu++) {
        for (int v = 0; v <= n; v++) {
            long long t = (long long)(a * (uint64_t)v) - (long long)(b * (uint64_t)uu);
            uint64_t term = (uint64_t)(t * t);
            const struct cell *left = v > 0 ? &row[v - 1] : &empty;
            const struct cell *below = uu == 0 ? (v == 0 ? &start : &empty) : &row[v];
            if (cell_merge(&tmp, left, below, term) != 0) {
                goto out;
            }
            struct cell swap = row[v];
            row[v] = tmp;
            tmp = swap;
        }
    }
    for (size_t k = 0; k < row[n].len; k++) {
        total += row[n].cnt[k];
        if ((double)row[n].val[k] >= zeta) {
            above += row[n].cnt[k];
        }
    }
    p = above / total;
out:
    if (row != NULL) {
        for (int v = 0; v <= n; v++) {
            free(row[v].val);
            free(row[v].cnt);
        }
    }
    free(row);
    free(tmp.val);
    free(tmp.cnt);
    free(start.val);
    free(start.cnt);
    return p;
}

/* ----------------------------------------------------------------------------------------------
 * Asymptotic p-value
 * --------------------------------------------------------------------------------------------*/

/* e^{−q}·K_{1/4}(q) for q > 0, by the trapezoid rule on ∫₀^∞ exp(−q(1 + cosh t))·cosh(t/4) dt. */
static double kv_quarter_scaled(double q)
{
    const double h = 0.125;
    double sum = 0.5 * exp(-2.0 * q);
    for (int k = 1; k < 100000; k++) {
        double t = k * h;
        double f = exp(-q * (1.0 + cosh(t))) * cosh(0.25 * t);
        sum += f;
        if (f < 1e-18 * sum || f == 0) {
            break;
        }
    }
    return sum * h;
}

/* The limiting CDF of the one-sample Cramér–von Mises statistic at x (Csörgő and Faraway 1996,
 * eq. 1.2–1.3), summed as scipy sums it: until a term is below 1e-7. */
double drift_cvm_inf_cdf(double x)
{
    if (!(x > 0)) {
        return 0;
    }
    double tot = 0;
    for (int k = 0; k < 1000; k++) {
        double y = 4.0 * k + 1.0, q = y * y / (16.0 * x);
        double u = exp(lgamma(k + 0.5) - lgamma(k + 1.0)) / (pow(M_PI, 1.5) * sqrt(x));
        double z = u * sqrt(y) * kv_quarter_scaled(q);
        tot += z;
        if (fabs(z) < 1e-7) {
            break;
        }
    }
    return tot;
}

static int cvm_compare(const struct drift_colsum *ref, const struct drift_colsum *cur,
                       const struct drift_stat_params *p, struct drift_stat_result *out)
{
    size_t n = ref->nsorted, m = cur->nsorted;
    if (ref->sorted == NULL || cur->sorted == NULL || n < 2 || m < 2) {
        return DRIFT_EINVAL; /* scipy refuses fewer than two values on either side */
    }
    double u = drift_cvm_u(ref->sorted, n, cur->sorted, m);
    double k = (double)n * (double)m, N = (double)n + (double)m;
    double t = u / (k * N) - (4.0 * k - 1.0) / (6.0 * N);
    double pv;
    if (n <= CVM_EXACT_MAX_N && m <= CVM_EXACT_MAX_N) {
        pv = drift_cvm_exact_sf(u, (int)n, (int)m);
        if (isnan(pv)) {
            return DRIFT_ENOMEM;
        }
    } else {
        double et = (1.0 + 1.0 / N) / 6.0;
        double vt = (N + 1.0) * (4.0 * k * N - 3.0 * ((double)n * (double)n + (double)m * (double)m)
                                 - 2.0 * k);
        vt /= 45.0 * N * N * 4.0 * k;
        double tn = 1.0 / 6.0 + (t - et) / sqrt(45.0 * vt);
        /* Below 0.003 the limiting CDF is < 1.3e-18; scipy returns 1 there. */
        pv = tn < 0.003 ? 1.0 : fmax(0.0, 1.0 - drift_cvm_inf_cdf(tn));
    }
    double alpha = p != NULL && p->threshold > 0 ? p->threshold : 0.01;
    out->statistic = t;
    out->pvalue = pv;
    out->effect = t * N / k;
    out->threshold = alpha;
    out->dof = 0;
    out->drifted = pv < alpha;
    snprintf(out->rule, sizeof(out->rule), "cvm p < %g", alpha);
    return 0;
}

const struct drift_stat_ops drift_stat_cvm = {
    .name = "cvm",
    .description = "two-sample Cramer-von Mises test on raw values",
    .numeric = 1,
    .categorical = 0,
    .default_threshold = 0.01,
    .compare = cvm_compare,
};
