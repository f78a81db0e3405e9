#!/usr/bin/python3
"""Golden numbers for the MMD drift test (operators/multivariate/mmd.c), from numpy and scipy.

Everything is computed with plain dense formulas: every pairwise difference is taken
explicitly, and block sums of the kernel matrix are indexed per permutation. The C file instead
uses the Gram trick, a radix select and dgemm over indicator columns. The permutation p-value
replays the C file's documented sequence exactly: splitmix64 from the seed, one draw per swap,
Fisher-Yates with j = draw % (i+1) for i from N-1 down to 1, permutations chained (each shuffles
the previous order). After each shuffle, positions [0, n') are x. So the golden p-values are exact
counts. A permuted statistic counts when it is >= the observed one less 1e-10 of the statistic's
scale (|a| + |b| + |c| of its three terms), as in the C file: mathematically equal statistics
(discrete data) are ties whichever way rounding falls. The script checks that every permuted
value is either such a tie (within 1e-12) or at least 1e-6 away, so neither its rounding nor the
C file's can change a count.

Writes mv_mmd.txt next to this script, one case per line, groups separated by " | ":
  kind n m d permutations seed linear_above bandwidth alpha
  | x (n*d, column-major; rows with nan/inf are part of the input)
  | y (m*d, column-major)
  | statistic sigma pvalue count drifted      (count = #{perm >= obs}; -1 on the linear path)
  | top features (descending contribution)
  | contributions |mean_y - mean_x| / pooled within-sample std
kind: 0 no drift, 1 mean shift, 2 correlation flip with equal marginals, 3 NaN/inf rows, 4 linear
path, 5 scale change, 6 discrete values (exact ties among the permutations). A params field of 0
means the default (permutations 100, seed 1, linear_above 4096, alpha 0.01, bandwidth by the
median heuristic).
Regenerate with: /usr/bin/python3 tests/golden/gen_mv_mmd.py
"""
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261207)
MASK = (1 << 64) - 1
SUBSAMPLE = 500  # the linear path's median-heuristic rows (MMD_LINEAR_SUBSAMPLE)


def splitmix64(seed):
    state = seed & MASK
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def sq_dists(a, b):
    """All squared Euclidean distances between the rows of a and of b, by explicit differences."""
    diff = a[:, None, :] - b[None, :, :]
    return np.sum(diff * diff, axis=2)


def median_heuristic(z):
    d2 = sq_dists(z, z)
    iu = np.triu_indices(len(z), 1)
    sigma = float(np.median(np.sqrt(d2[iu])))
    return sigma if sigma > 0 else 1.0


def mmd_u(K, xi, yi):
    n, m = len(xi), len(yi)
    kxx = K[np.ix_(xi, xi)]
    kyy = K[np.ix_(yi, yi)]
    kxy = K[np.ix_(xi, yi)]
    a = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    b = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    c = 2 * kxy.sum() / (n * m)
    return a + b - c, abs(a) + abs(b) + abs(c)


def contributions(x, y):
    n, m = len(x), len(y)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    ss = ((x - mx) ** 2).sum(axis=0) + ((y - my) ** 2).sum(axis=0)
    sp = np.sqrt(ss / (n + m - 2))
    c = np.where(sp > 0, np.abs(my - mx) / np.where(sp > 0, sp, 1), 0.0)
    order = sorted(range(len(c)), key=lambda j: (-c[j], j))[:8]
    return order, [c[j] for j in order]


def complete(a):
    return a[np.all(np.isfinite(a), axis=1)]


def mmd_case(x_in, y_in, perms=0, seed=0, linear_above=0, bandwidth=0.0, alpha=0.0):
    P = perms or 100
    s = seed or 1
    lin = linear_above or 4096
    a_ = alpha or 0.01
    x, y = complete(x_in), complete(y_in)
    n, m = len(x), len(y)
    N = n + m
    if N <= lin:
        z = np.vstack([x, y])
        sigma = bandwidth if bandwidth > 0 else median_heuristic(z)
        K = np.exp(-sq_dists(z, z) / (2 * sigma * sigma))
        obs, scale = mmd_u(K, np.arange(n), np.arange(n, N))
        order = list(range(N))
        draws = splitmix64(s)
        count = ties = 0
        for _ in range(P):
            for i in range(N - 1, 0, -1):
                j = next(draws) % (i + 1)
                order[i], order[j] = order[j], order[i]
            v, _ = mmd_u(K, np.array(order[:n]), np.array(order[n:]))
            # Keep the counts exact: a permuted value is a tie or clearly apart from obs.
            gap = abs(v - obs) / scale
            assert gap <= 1e-12 or gap >= 1e-6, (v, obs, gap)
            ties += gap <= 1e-12
            count += v >= obs - 1e-10 * scale
        p = (1 + count) / (1 + P)
    else:
        S = min(N, SUBSAMPLE)
        b = min(m, S - min(n, S // 2))
        a = min(n, S - b)
        sigma = bandwidth if bandwidth > 0 else median_heuristic(np.vstack([x[:a], y[:b]]))
        L = min(n, m) // 2

        def k(u, v):
            return np.exp(-np.sum((u - v) ** 2, axis=1) / (2 * sigma * sigma))

        x0, x1 = x[0:2 * L:2], x[1:2 * L:2]
        y0, y1 = y[0:2 * L:2], y[1:2 * L:2]
        h = k(x0, x1) + k(y0, y1) - k(x0, y1) - k(x1, y0)
        obs = float(h.mean())
        p = float(stats.norm.sf(obs / (h.std(ddof=1) / np.sqrt(L))))
        count = -1
        ties = 0
    top, contrib = contributions(x, y)
    return dict(params=(P if perms else 0, seed, linear_above, bandwidth, alpha), stat=obs,
                sigma=sigma, p=p, count=count, ties=ties, drifted=int(p < a_), top=top,
                contrib=contrib)


def rounded(a):
    """Six decimals, as the text will hold them: the script computes on what the C test reads."""
    return np.array([[float("%.6f" % v) for v in row] for row in a])


def fmt(v):
    return " ".join(repr(float(t)) for t in v)


def corr_pair(n, d, rho):
    z = rng.normal(size=(n, d))
    z[:, 1] = rho * z[:, 0] + np.sqrt(1 - rho * rho) * z[:, 1]
    return z


def zscore(a):
    return (a - a.mean(axis=0)) / a.std(axis=0, ddof=1)


cases = []  # (kind, x, y, kwargs, expectation check)


def add(kind, x, y, check, **kw):
    cases.append((kind, rounded(x), rounded(y), kw, check))


def nodrift(r):
    return r["p"] > 0.05


def strong(r):
    return r["count"] == 0 if r["count"] >= 0 else r["p"] < 1e-3


# No drift: d = 1 with 20 v 20 (default params), d = 3 with 50 v 200, d = 8 with 200 v 200 and a
# fixed bandwidth, other seed, permutations and alpha.
add(0, rng.normal(size=(20, 1)), rng.normal(size=(20, 1)), nodrift)
add(0, rng.normal(size=(50, 3)), rng.normal(size=(200, 3)), nodrift)
add(0, rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), nodrift, perms=50, seed=12345,
    bandwidth=3.0, alpha=0.05)
# Mean shifts.
sh = np.zeros(3)
sh[2] = 1.0
add(1, rng.normal(size=(50, 3)), rng.normal(size=(50, 3)) + sh, strong)
sh = np.zeros(8)
sh[5] = 0.8
add(1, rng.normal(size=(200, 8)), rng.normal(size=(50, 8)) + sh, lambda r: r["p"] < 0.05, perms=200,
    seed=7)
add(1, rng.normal(size=(20, 8)), rng.normal(size=(200, 8)) + 0.3, lambda r: True)
# Correlation flip, marginals standardised to the same mean and std in both samples.
add(2, zscore(corr_pair(200, 3, 0.8)), zscore(corr_pair(200, 3, -0.8)), strong)
# Scale change in one dimension.
add(5, rng.normal(size=(20, 1)), 3 * rng.normal(size=(50, 1)), lambda r: r["p"] < 0.05)
# NaN and ±inf rows (skipped), around a mean shift.
x = rng.normal(size=(56, 3))
y = rng.normal(size=(53, 3)) + np.array([0.8, 0, 0])
x[[0, 9, 17, 30, 55], [0, 1, 2, 1, 0]] = [np.nan, np.inf, np.nan, -np.inf, np.nan]
x[17, 0] = np.nan  # two missing values in one row
y[[4, 20, 52], [2, 0, 1]] = [np.nan, np.inf, np.nan]
add(3, x, y, lambda r: r["p"] < 0.05)
# Discrete values (two levels per feature): many permutations reproduce the observed statistic
# exactly, and must count whichever way rounding falls (without the slack, C counted fewer).
add(6, rng.integers(0, 2, size=(16, 1)) * 0.37 + 0.1, rng.integers(0, 2, size=(15, 1)) * 0.37 + 0.1,
    lambda r: r["ties"] >= 5, perms=500, seed=3)
add(6, rng.integers(0, 2, size=(30, 2)) * 0.37 + 0.1, rng.integers(0, 2, size=(22, 2)) * 0.37 + 0.1,
    lambda r: r["ties"] >= 1, perms=500, seed=4)
# Linear path: a shift above a small linear_above; no drift with the subsample rule taking 700
# rows of x and 300 of y; and NaN rows on the linear path.
add(4, rng.normal(size=(300, 3)), rng.normal(size=(250, 3)) + np.array([0, 1.5, 0]), strong,
    linear_above=100)
add(4, rng.normal(size=(1200, 2)), rng.normal(size=(300, 2)), nodrift, linear_above=1000)
x = rng.normal(size=(700, 2))
y = rng.normal(size=(600, 2)) + 0.3
x[[3, 100, 650], 1] = np.nan
y[[0, 599], 0] = np.inf
add(4, x, y, lambda r: True, linear_above=1000, seed=99)

with open(os.path.join(HERE, "mv_mmd.txt"), "w") as f:
    for kind, x, y, kw, check in cases:
        r = mmd_case(x, y, **kw)
        assert check(r), (kind, r)
        P, seed, lin, bw, alpha = r["params"]
        n, d = x.shape
        m = y.shape[0]
        head = f"{kind} {n} {m} {d} {P} {seed} {lin} {bw!r} {alpha!r}"
        res = f"{r['stat']!r} {r['sigma']!r} {r['p']!r} {r['count']} {r['drifted']}"
        f.write(f"{head} | {fmt(x.T.ravel())} | {fmt(y.T.ravel())} | {res} | "
                f"{' '.join(map(str, r['top']))} | {fmt(r['contrib'])}\n")
