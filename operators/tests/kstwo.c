/*
 * The distribution of the one-sample two-sided Kolmogorov–Smirnov statistic D_n, survival
 * function P(D_n >= x): what scipy.stats.kstwo.sf computes, and what ks_2samp's asymptotic mode
 * evaluates at n = round(n1·n2/(n1+n2)). Agreeing with scipy there means using the same method
 * in each region, because two of them are approximations. The regions are Simard and
 * L'Ecuyer's (2011), with the cut-offs scipy uses:
 *
 *   n·x <= 1 or n·x >= n−1      closed forms (Ruben and Gambino)
 *   x >= 0.5                    2·P(D⁺_n >= x), exact (the two one-sided events are disjoint)
 *   n <= 140:  n·x² <= 0.754693 Durbin's matrix, Marsaglia–Tsang–Wang form (exact)
 *              n·x² <= 4        Pomeranz's recursion (exact)
 *              otherwise        2·P(D⁺_n >= x) (Miller's approximation)
 *   n > 140:   n·x² >= 370      0
 *              n·x² >= 2.2      2·P(D⁺_n >= x)
 *              n <= 100000 and n·x^1.5 <= 1.4: 1 − Durbin
 *              otherwise        1 − Pelz–Good's asymptotic series
 *
 * P(D⁺_n >= x) is Birnbaum and Tingey's exact sum, evaluated in logarithms. All of it is written
 * here from the published algorithms; scipy's source was read for the region boundaries only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drift_op.h"

#define SCALE_EXP 128 /* rescale intermediate values by 2^±128 to stay in range */

/* P(D⁺_n >= x): x Σ_{j=0}^{floor(n(1−x))} C(n,j) (x + j/n)^{j−1} (1 − x − j/n)^{n−j}. */
double drift_smirnov_sf(int n, double x)
{
    if (!(x > 0)) {
        return 1.0;
    }
    if (x >= 1) {
        return 0.0;
    }
    int jmax = (int)floor((double)n * (1.0 - x));
    double lgn1 = lgamma((double)n + 1.0), s = 0;
    for (int j = 0; j <= jmax; j++) {
        double a = x + (double)j / n, b = 1.0 - a;
        if (b <= 0) {
            /* Only j = n(1−x) exactly: (1 − x − j/n)^(n−j) is 0^(n−j). */
            if (n - j == 0) {
                s += exp(lgn1 - lgamma((double)j + 1.0) + (double)(j - 1) * log(a));
            }
            continue;
        }
        double t = lgn1 - lgamma((double)j + 1.0) - lgamma((double)(n - j) + 1.0) +
                   (double)(j - 1) * log(a) + (double)(n - j) * log(b);
        if (t > -745) {
            s += exp(t);
        }
    }
    double p = x * s;
    return p < 0 ? 0 : (p > 1 ? 1 : p);
}

/* ---------------------------------------------------------------------------------------------
 * Durbin's matrix method (Marsaglia, Tsang and Wang 2003): P(D_n < x) = n!/n^n · (H^n)_{k,k}
 * with k = ceil(n·x), h = k − n·x, H the (2k−1)×(2k−1) matrix below. O(m³ log n).
 * -------------------------------------------------------------------------------------------*/
static void matmul(const double *a, const double *b, double *c, int m)
{
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int k = 0; k < m; k++) {
                s += a[i * m + k] * b[k * m + j];
            }
            c[i * m + j] = s;
        }
    }
}

static double durbin_cdf(int n, double x)
{
    double nx = (double)n * x;
    if (x >= 1) {
        return 1;
    }
    if (nx <= 0.5) {
        return 0;
    }
    int k = (int)ceil(nx), m = 2 * k - 1;
    double h = (double)k - nx;
    size_t mm = (size_t)m * (size_t)m;
    double *mem = calloc(4 * mm, sizeof(double));
    if (mem == NULL) {
        return NAN;
    }
    double *H = mem, *P = mem + mm, *T = mem + 2 * mm, *fact_inv = mem + 3 * mm;
    /* fact_inv[j] = 1/j! for j = 0..m */
    fact_inv[0] = 1;
    for (int j = 1; j <= m; j++) {
        fact_inv[j] = fact_inv[j - 1] / j;
    }
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) {
            int d = i - j + 1;
            H[i * m + j] = d >= 0 ? fact_inv[d] : 0;
        }
    }
    for (int i = 0; i < m; i++) {
        H[i * m + 0] -= pow(h, i + 1) * fact_inv[i + 1];
        H[(m - 1) * m + i] -= pow(h, m - i) * fact_inv[m - i];
    }
    double corner = 2 * h - 1 > 0 ? pow(2 * h - 1, m) : 0;
    H[(m - 1) * m + 0] += corner * fact_inv[m];
    /* P = H^n by squaring, tracking a power-of-two exponent for each. */
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) {
            P[i * m + j] = i == j;
        }
    }
    int pexp = 0, hexp = 0;
    for (int e = n; e > 0; e >>= 1) {
        if (e & 1) {
            matmul(P, H, T, m);
            memcpy(P, T, mm * sizeof(double));
            pexp += hexp;
        }
        if (e > 1) {
            matmul(H, H, T, m);
            memcpy(H, T, mm * sizeof(double));
            hexp *= 2;
            if (fabs(H[(k - 1) * m + (k - 1)]) > ldexp(1.0, SCALE_EXP)) {
                for (size_t q = 0; q < mm; q++) {
                    H[q] = ldexp(H[q], -SCALE_EXP);
                }
                hexp += SCALE_EXP;
            }
        }
        if (fabs(P[(k - 1) * m + (k - 1)]) > ldexp(1.0, SCALE_EXP)) {
            for (size_t q = 0; q < mm; q++) {
                P[q] = ldexp(P[q], -SCALE_EXP);
            }
            pexp += SCALE_EXP;
        }
    }
    double p = P[(k - 1) * m + (k - 1)];
    free(mem);
    for (int i = 1; i <= n; i++) {
        p = p * i / n;
        if (fabs(p) < ldexp(1.0, -SCALE_EXP)) {
            p = ldexp(p, SCALE_EXP);
            pexp -= SCALE_EXP;
        }
    }
    return ldexp(p, pexp);
}

/* ---------------------------------------------------------------------------------------------
 * Pomeranz's recursion (1974): P(D_n <= x) as n!·V[2n+1][n], where each row of V is the
 * previous row convolved with (almost) Poisson probabilities of step g/n, 2g/n or (1−2g)/n,
 * restricted to the band the boundaries allow. Used for n <= 140 only.
 * -------------------------------------------------------------------------------------------*/
static void pomeranz_band(int i, int n, int ll, int ceilf, int roundf, int *j1, int *j2)
{
    int a, b;
    if (i == 0) {
        a = -ll - ceilf - 1;
        b = ll + ceilf - 1;
    } else {
        int half = (i + 1) / 2, odd_i = (i + 1) % 2 == 0;
        if (odd_i) {
            if (half == n + 1) {
                a = n - ll - ceilf - 1;
                b = n + ll + ceilf - 1;
            } else {
                a = half - 1 - ll - roundf - 1;
                b = half + ll - 1 + ceilf - 1;
            }
        } else {
            a = half - 1 - ll - 1;
            b = half + ll + roundf - 1;
        }
    }
    *j1 = a + 2 > 0 ? a + 2 : 0;
    *j2 = b < n ? b : n;
}

static double pomeranz_cdf(int n, double x)
{
    double t = (double)n * x;
    int ll = (int)floor(t);
    double f = t - ll, g = f < 1 - f ? f : 1 - f;
    int ceilf = f > 0, roundf = f > 0.5;
    int np = 2 * (ll + 1);
    double *mem = calloc((size_t)np * 5 + 2, sizeof(double));
    if (mem == NULL) {
        return NAN;
    }
    double *gp = mem, *g2p = gp + np, *g12p = g2p + np, *v0 = g12p + np, *v1 = v0 + np;
    gp[0] = g2p[0] = g12p[0] = 1;
    for (int q = 1; q < np; q++) {
        gp[q] = gp[q - 1] * (g / n) / q;
        g2p[q] = g2p[q - 1] * (2 * g / n) / q;
        g12p[q] = g12p[q - 1] * ((1 - 2 * g) / n) / q;
    }
    int expnt = 0, s0 = 0, s1 = 0, j1, j2;
    v1[0] = 1;
    pomeranz_band(0, n, ll, ceilf, roundf, &j1, &j2);
    for (int i = 1; i < 2 * n + 2; i++) {
        int k1 = j1;
        double *tmp = v0;
        v0 = v1;
        v1 = tmp;
        int ts = s0;
        s0 = s1;
        s1 = ts;
        memset(v1, 0, (size_t)np * sizeof(double));
        pomeranz_band(i, n, ll, ceilf, roundf, &j1, &j2);
        const double *pw = (i == 1 || i == 2 * n + 1) ? gp : (i % 2 ? g2p : g12p);
        int len = j2 - k1 + 1;
        if (len > 0) {
            /* v1[r] = (v0[k1-s0 ..] * pw)[j1-k1 + r], r = 0..j2-j1 */
            int start = j1 - k1, cnt = j2 - j1 + 1;
            double mx = 0;
            for (int r = 0; r < cnt; r++) {
                int c = start + r; /* index into the full convolution */
                double sum = 0;
                for (int a = 0; a <= c && a < len; a++) {
                    int b = c - a;
                    if (b < len) {
                        sum += v0[k1 - s0 + a] * pw[b];
                    }
                }
                v1[r] = sum;
                if (sum > mx) {
                    mx = sum;
                }
            }
            if (mx > 0 && mx < ldexp(1.0, -SCALE_EXP)) {
                for (int r = 0; r < cnt; r++) {
                    v1[r] = ldexp(v1[r], SCALE_EXP);
                }
                expnt -= SCALE_EXP;
            }
            s1 = s0 + j1 - k1;
        }
    }
    double ans = v1[n - s1];
    free(mem);
    for (int q = 1; q <= n; q++) {
        if (fabs(ans) > ldexp(1.0, SCALE_EXP)) {
            ans = ldexp(ans, -SCALE_EXP);
            expnt += SCALE_EXP;
        }
        ans *= q;
    }
    return ldexp(ans, expnt);
}

/* ---------------------------------------------------------------------------------------------
 * Pelz and Good (1976): P(D_n <= x) ≈ K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5, z = x√n, with
 * the K's in their theta-function form for small z.
 * -------------------------------------------------------------------------------------------*/
static double pelz_good_cdf(int n, double x)
{
    const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double sqrt2pi = sqrt(2 * M_PI);
    if (x <= 0) {
        return 0;
    }
    if (x >= 1) {
        return 1;
    }
    double z = sqrt((double)n) * x, z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -pi2 / 8 / z2;
    if (qlog < -708) {
        return 0;
    }
    double q = exp(qlog);
    double k1a = -z2, k1b = pi2 / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
    double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
    double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z4 * z4;
    double K[4] = {0, 0, 0, 0};
    int maxk = (int)ceil(16 * z / M_PI);
    /* Σ over odd m = 2k−1 of c(m) q^(m²), by Horner in q^(8k) from the largest k down. */
    for (int k = maxk; k >= 1; k--) {
        double m = 2.0 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, 8.0 * k);
        double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                       k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; i++) {
            K[i] = K[i] * qp + c[i];
        }
    }
    double div[4] = {z, 6 * z4, 72 * z4 * z3, 6480 * z4 * z6};
    for (int i = 0; i < 4; i++) {
        K[i] = K[i] * q * sqrt2pi / div[i];
    }
    /* The sums over all integers k for K2 and K3. */
    double q2 = exp(-pi2 / 2 / z2), e2 = 0, e3 = 0, sz = sqrt(3.0) * z;
    for (int k = maxk; k >= 1; k--) {
        double k2 = (double)k * k, qk = pow(q2, k2), kp = M_PI * k;
        e2 += k2 * qk;
        e3 += (sz + kp) * (sz - kp) * k2 * qk;
    }
    K[2] += e2 * pi2 * sqrt2pi / (-36 * z3);
    K[3] += e3 * pi2 * sqrt2pi / (216 * z6);
    double sq = sqrt((double)n);
    return K[0] + K[1] / sq + K[2] / n + K[3] / (n * sq);
}

static double clip01(double p)
{
    return p < 0 ? 0 : (p > 1 ? 1 : p);
}

double drift_kstwo_sf(int n, double x)
{
    if (n <= 0 || isnan(x)) {
        return NAN;
    }
    if (x >= 1) {
        return 0;
    }
    if (x <= 0) {
        return 1;
    }
    double t = (double)n * x;
    if (t <= 1) {
        if (t <= 0.5) {
            return 1;
        }
        /* P(D_n < x) = n!/n^n (2t − 1)^n */
        double lp = lgamma((double)n + 1.0) - (double)n * log((double)n) + n * log(2 * t - 1);
        return clip01(1 - exp(lp));
    }
    if (t >= n - 1) {
        return clip01(2 * pow(1 - x, n));
    }
    if (x >= 0.5) {
        return clip01(2 * drift_smirnov_sf(n, x));
    }
    double nx2 = t * x;
    if (n <= 140) {
        if (nx2 <= 0.754693) {
            return clip01(1 - durbin_cdf(n, x));
        }
        if (nx2 <= 4) {
            return clip01(1 - pomeranz_cdf(n, x));
        }
        return clip01(2 * drift_smirnov_sf(n, x));
    }
    if (nx2 >= 370) {
        return 0;
    }
    if (nx2 >= 2.2) {
        return clip01(2 * drift_smirnov_sf(n, x));
    }
    double cdf;
    if (nx2 >= 18) {
        cdf = 1;
    } else if (n <= 100000 && (double)n * pow(x, 1.5) <= 1.4) {
        cdf = durbin_cdf(n, x);
    } else {
        cdf = pelz_good_cdf(n, x);
    }
    return clip01(1 - cdf);
}
