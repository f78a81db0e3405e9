#!/usr/bin/python3
"""Goldens for operators/multivariate/hotelling.c: the F survival function and the regularised
incomplete beta (scipy.stats.f.sf, scipy.special.betainc), the two-sample Hotelling T² with a
shrunk pooled covariance (numpy.linalg.solve + scipy.stats.f.sf), and correlation drift
(numpy.corrcoef).

The F and beta values are mpmath's at 40 digits; scipy's (1.10) are checked against them and
agree to 1e-12 except for very large d2 (1e6), where scipy's f.sf is off by up to ~2e-10
relative; the generator prints the largest deviation.

Run with Debian's python3 (numpy, scipy, mpmath): /usr/bin/python3 tests/golden/gen_mv_hotelling.py
Writes tests/golden/mv_hotelling.txt. Line formats (numbers, groups separated by " | "):
  f X D1 D2 | SF
  beta A B X | I
  case D NR NW LAMBDA | ref rows, row-major | window rows, row-major | T2 F P | contributions
       | MAXDELTA I J DELTA
"""
import os

import mpmath
import numpy as np
from scipy import special, stats

mpmath.mp.dps = 40
out = []
worst = 0.0


def f_sf(x, d1, d2):
    x, d1, d2 = mpmath.mpf(x), mpmath.mpf(d1), mpmath.mpf(d2)
    return float(mpmath.betainc(d2 / 2, d1 / 2, 0, d2 / (d2 + d1 * x), regularized=True))


for x in (1e-3, 0.01, 0.5, 1.0, 2.5, 10.0, 50.0, 200.0):
    for d1, d2 in ((1, 1), (2, 10), (5, 100), (16, 2000), (128, 1919), (3, 1e6), (0.5, 7.5)):
        want = f_sf(x, d1, d2)
        worst = max(worst, abs(stats.f.sf(x, d1, d2) - want) / want)
        out.append(f"f {x!r} {d1!r} {d2!r} | {want!r}")
for a, b, x in ((0.5, 0.5, 0.3), (2, 3, 0.999), (50, 60, 0.45), (1000, 2, 0.999),
                (0.1, 10, 1e-5), (8, 959.5, 0.001), (3, 3, 0.5)):
    want = float(mpmath.betainc(a, b, 0, x, regularized=True))
    worst = max(worst, abs(special.betainc(a, b, x) - want) / want)
    out.append(f"beta {a!r} {b!r} {x!r} | {want!r}")
print(f"scipy against mpmath: largest relative difference {worst:.2g}")


def case(name, ref, win, lam):
    nr, d = ref.shape
    nw = win.shape[0]
    n = nr + nw
    s = ((nr - 1) * np.cov(ref, rowvar=False) + (nw - 1) * np.cov(win, rowvar=False)) / (n - 2)
    s = np.atleast_2d(s)
    s = (1 - lam) * s + lam * np.trace(s) / d * np.eye(d)
    delta = win.mean(0) - ref.mean(0)
    v = np.linalg.solve(s, delta)
    scale = nr * nw / n
    contrib = scale * delta * v
    t2 = contrib.sum()
    f = (n - d - 1) / (d * (n - 2)) * t2
    p = stats.f.sf(f, d, n - d - 1)
    cr, cw = np.corrcoef(ref, rowvar=False), np.corrcoef(win, rowvar=False)
    best, bi, bj, bd = 0.0, -1, -1, 0.0
    for j in range(1, d):
        for i in range(j):
            dl = cw[i, j] - cr[i, j]
            if np.isfinite(dl) and abs(dl) > best:
                best, bi, bj, bd = abs(dl), i, j, dl
    fmt = lambda a: " ".join(repr(float(v)) for v in np.ravel(a))
    out.append(f"case {d} {nr} {nw} {lam!r} | {fmt(ref)} | {fmt(win)} | {t2!r} {f!r} {p!r} | "
               f"{fmt(contrib)} | {best!r} {bi} {bj} {bd!r}")
    print(f"{name}: d={d} T2={t2:.6g} p={p:.6g} max|dcorr|={best:.4f} ({bi},{bj})")


rng = np.random.default_rng(20261123)
# 1. no drift
case("same", rng.normal(size=(200, 3)), rng.normal(size=(100, 3)), 0.0)
# 2. a small mean shift in feature 1
w = rng.normal(size=(100, 3))
w[:, 1] += 0.4
case("shift", rng.normal(size=(200, 3)), w, 0.0)
# 3. marginals fixed, a correlation flipped: Hotelling (means) sees little, the pair moves
def corr_pair(n, rho, d):
    z = rng.normal(size=(n, d))
    z[:, 1] = rho * z[:, 0] + np.sqrt(1 - rho * rho) * z[:, 1]
    return z
case("flip", corr_pair(400, 0.8, 5), corr_pair(300, -0.8, 5), 0.0)
# 4. shrinkage, correlated features, a large shift: a tiny p-value
a = rng.normal(size=(8, 8))
ref = rng.normal(size=(300, 8)) @ a
win = rng.normal(size=(150, 8)) @ a + 1.5
case("big", ref, win, 0.1)
# 5. a constant feature needs shrinkage
ref = rng.normal(size=(60, 4))
win = rng.normal(size=(40, 4)) + 0.3
ref[:, 2] = 7.0
win[:, 2] = 7.0
case("constant", ref, win, 0.2)
# 6. d = 1 (T² is the squared two-sample t statistic)
case("one", rng.normal(size=(30, 1)), rng.normal(size=(25, 1)) + 0.5, 0.0)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mv_hotelling.txt")
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
