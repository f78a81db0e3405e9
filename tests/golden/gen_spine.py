#!/usr/bin/python3
"""Golden numbers for the spine's operators, from numpy and scipy (run with Debian's python3).

Writes, next to this script:
  spine_quantile.txt  n B v1..vn | e1..ek     numpy.quantile edges at k/B (linear), deduplicated
  spine_ks.txt        method n m a1..an | b1..bm | D p   scipy.stats.ks_2samp(a, b, method=...)
                      (exact: forced exact path; auto: scipy's default; asymp: the daemon's budget
                      of 10^6 cells, see below)
  spine_psi.txt       k r1..rk | c1..ck | psi   PSI on counts, epsilon 1e-4 (the formula, in numpy)
  spine_cov.txt       n d x(row-major) | mean | cov(upper, row-major)   numpy.cov(ddof=1)
Regenerate with: /usr/bin/python3 tests/golden/gen_spine.py
"""
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261123)


def fmt(v):
    return " ".join(repr(float(x)) for x in v)


def fmtc(v):
    """Shortest text that reads back as the same double (%.17g only where needed)."""
    out = []
    for x in v:
        t = "%.10g" % x
        out.append(t if float(t) == x else repr(float(x)))
    return " ".join(out)


with open(os.path.join(HERE, "spine_quantile.txt"), "w") as f:
    for n, B, kind in [(10, 4, "normal"), (101, 10, "normal"), (1000, 10, "int"), (57, 7, "int"),
                       (5000, 20, "lognormal"), (3, 10, "normal"), (200, 10, "const")]:
        if kind == "normal":
            v = rng.normal(size=n)
        elif kind == "lognormal":
            v = rng.lognormal(size=n)
        elif kind == "const":
            v = np.full(n, 2.5)
        else:
            v = rng.integers(0, 5, size=n).astype(float)
        v = np.sort(v)
        edges = np.quantile(v, np.arange(1, B) / B)
        dedup = [e for i, e in enumerate(edges) if i == 0 or e > edges[i - 1]]
        f.write(f"{n} {B} {fmt(v)} | {fmt(dedup)}\n")

with open(os.path.join(HERE, "spine_ks.txt"), "w") as f:
    cases = []
    for n, m in [(10, 10), (20, 15), (50, 80), (100, 100), (300, 200), (1000, 1000), (37, 1000)]:
        cases.append(("exact", rng.normal(size=n), rng.normal(0.3, 1, size=m)))
        cases.append(("exact", rng.integers(0, 6, n).astype(float),
                      rng.integers(0, 6, m).astype(float)))  # heavy ties
    same = rng.normal(size=40)
    cases.append(("exact", same, same.copy()))
    # scipy's default (auto) on both sides of its switch at 10000: exact below, kstwo above.
    # Data is rounded to 6 decimals first (scipy sees the rounded values), to keep the file small.
    r6 = lambda v: np.round(v, 6)
    for n, m in [(10000, 300), (2500, 10000), (10001, 200), (15000, 1500), (30000, 40)]:
        cases.append(("auto", r6(rng.normal(size=n)), r6(rng.normal(0.05, 1, size=m))))
    for n, m in [(10000, 400), (10001, 300), (16000, 900)]:
        cases.append(("auto", rng.integers(0, 40, n).astype(float),
                      rng.integers(0, 41, m).astype(float)))  # ties
    cases.append(("auto", r6(rng.standard_cauchy(11000)), r6(rng.standard_cauchy(2000) * 1.3)))
    cases.append(("auto", r6(rng.standard_t(2, 20000)), r6(rng.standard_t(2, 700) + 0.1)))
    # The daemon's budget (ks_exact_cells = 1e6): below scipy's switch but above 10^6 cells, where
    # driftd uses the asymptotic kstwo value, i.e. scipy's method='asymp'. The test sets the budget
    # for these lines and holds them to the same tolerance as the rest. Appended last so the lines
    # above keep their random draws.
    for n, m in [(1001, 1000), (2000, 1500), (10000, 200)]:
        cases.append(("asymp", r6(rng.normal(size=n)), r6(rng.normal(0.08, 1, size=m))))
    cases.append(("asymp", rng.integers(0, 30, 4000).astype(float),
                  rng.integers(0, 31, 600).astype(float)))  # ties
    for method, a, b in cases:
        r = stats.ks_2samp(a, b, method=method)
        f.write(f"{method} {len(a)} {len(b)} {fmtc(np.sort(a))} | {fmtc(np.sort(b))} | "
                f"{r.statistic!r} {r.pvalue!r}\n")

with open(os.path.join(HERE, "spine_psi.txt"), "w") as f:
    rng = np.random.default_rng(3)  # each section has its own stream
    for k in [2, 5, 10, 10, 30]:
        r = rng.integers(1, 200, k)
        c = rng.integers(1, 200, k)
        r[rng.integers(0, k)] = 0  # an empty bin on each side
        c[rng.integers(0, k)] = 0
        rs, cs = r / r.sum(), c / c.sum()
        rs = np.where(rs == 0, 1e-4, rs)
        cs = np.where(cs == 0, 1e-4, cs)
        psi = float(np.sum((cs - rs) * np.log(cs / rs)))
        f.write(f"{k} {fmt(r)} | {fmt(c)} | {psi!r}\n")

with open(os.path.join(HERE, "spine_cov.txt"), "w") as f:
    rng = np.random.default_rng(4)
    for n, d in [(5, 2), (100, 4), (1000, 16), (300, 8)]:
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 10
        cov = np.cov(x, rowvar=False, ddof=1)
        up = [cov[i, j] for i in range(d) for j in range(i, d)]
        f.write(f"{n} {d} {fmt(x.ravel())} | {fmt(x.mean(axis=0))} | {fmt(up)}\n")
print("goldens written to", HERE)
